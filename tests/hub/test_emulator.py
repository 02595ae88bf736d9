"""Tests of the Koji hub emulator, driven by koji's own ClientSession.

Each test starts the emulator as a subprocess (HubProcess) on a fresh state
file and talks to it as kojid does.
"""

from __future__ import annotations

import os
import re
import xmlrpc.client

import koji
import koji.util
import koji.xmlrpcplus
import pytest
import requests

from tests.hub.admin import HubAdmin, HubProcess
from tests.hub.state import ASSIGNED, CANCELED, CLOSED, FAILED, FREE, OPEN
from tests.hub.tls import make_tls

# no 20-second retry sleeps when a test stops the server
CLIENT_OPTS = {"max_retries": 3, "retry_interval": 0.2, "timeout": 60}


def response(value):
    """What kojid passes to host.closeTask."""
    return koji.xmlrpcplus.dumps((value,), methodresponse=1, allow_none=1)


def fault_response(code, text):
    """What kojid passes to host.failTask."""
    return koji.xmlrpcplus.dumps(xmlrpc.client.Fault(code, text))


@pytest.fixture
def hub(tmp_path):
    with HubProcess(tmp_path / "hub.db", tmp_path / "koji") as proc:
        yield proc


@pytest.fixture
def manual_hub(tmp_path):
    """Scheduler off: the test assigns tasks."""
    with HubProcess(tmp_path / "hub.db", tmp_path / "koji", scheduler=False) as proc:
        yield proc


@pytest.fixture
def admin(request, tmp_path):
    with HubAdmin(tmp_path / "hub.db") as a:
        yield a


def session(hub, user=None, password=None, **opts):
    options = dict(CLIENT_OPTS, **opts)
    if user is not None:
        options.update(user=user, password=password)
    s = koji.ClientSession(hub.url, options)
    if user is not None:
        s.login()
    return s


def builder(hub, admin, name, **host_opts):
    """A logged-in host with its exclusive session, as kojid starts."""
    admin.add_host(name, password="pw-" + name, **host_opts)
    s = session(hub, name, "pw-" + name)
    s.exclusiveSession()
    return s


def open_task(admin, s, host_name, method="sleep", args=(1,), **task_opts):
    task_id = admin.create_task(method, list(args), **task_opts)
    admin.assign(task_id, host_name)
    assert s.host.openTask(task_id)["state"] == OPEN
    return task_id


# -- login ---------------------------------------------------------------------

def test_password_login_session_info_and_version(hub, admin):
    admin.add_user("alice", password="secret")
    with pytest.raises(koji.AuthError, match="invalid username or password"):
        session(hub, "alice", "wrong")
    s = session(hub, "alice", "secret")
    assert s.echo(1, "two", {"three": 3}) == [1, "two", {"three": 3}]
    # 1.35+ hubs send Koji-Version with every answer: no getKojiVersion call needed
    assert s.hub_version_str == "1.36.1"
    assert admin.count_calls("getKojiVersion") == 0
    assert s.getKojiVersion() == "1.36.1"
    assert s.getAPIVersion() == 1
    me = s.getLoggedInUser()
    assert (me["name"], me["authtype"]) == ("alice", koji.AUTHTYPES["NORMAL"])
    info = s.getSessionInfo()
    assert info["user_id"] == me["id"] and info["master"] is None and info["exclusive"] is None
    sid = s.sinfo["session-id"]
    assert s.getSessionInfo(details=True)["id"] == sid
    s.logout()
    assert admin.sessions("alice")[0]["closed"] == 1
    # the old key is dead
    again = session(hub)
    again.setSession({"session-id": sid, "session-key": "nope", "header-auth": True})
    with pytest.raises(koji.AuthError, match="Invalid session or bad credentials"):
        again.echo()


def test_ssl_login_with_a_client_certificate(tmp_path):
    tls = make_tls(tmp_path / "tls", "builder1.example.com")
    with HubProcess(tmp_path / "hub.db", tmp_path / "koji", tls=tls) as hub, \
            HubAdmin(tmp_path / "hub.db") as admin:
        assert hub.url.startswith("https://127.0.0.1:")
        host_id = admin.add_host("builder1.example.com")
        s = koji.ClientSession(hub.url, dict(CLIENT_OPTS, serverca=tls.ca))
        assert s.ssl_login(cert=tls.client_pem, serverca=tls.ca)
        assert admin.calls("sslLogin")[0]["ok"]
        me = s.getLoggedInUser()
        assert (me["name"], me["authtype"]) == ("builder1.example.com", koji.AUTHTYPES["SSL"])
        s.exclusiveSession()
        assert s.host.getID() == host_id

        # password login works over HTTPS too
        admin.add_user("alice", password="secret")
        s2 = koji.ClientSession(hub.url, dict(CLIENT_OPTS, serverca=tls.ca, user="alice",
                                              password="secret"))
        assert s2.login()
        assert s2.getLoggedInUser()["name"] == "alice"

        # /kojihub/ssllogin requires a verified certificate (SSLVerifyClient require)
        body = koji.xmlrpcplus.dumps((), methodname="sslLogin")
        r = requests.post(hub.url + "/ssllogin", data=body, verify=tls.ca,
                          headers={"Content-Type": "text/xml"})
        assert r.status_code == 403
        # elsewhere mod_ssl gives the hub no certificate details
        r = requests.post(hub.url, data=body, verify=tls.ca, cert=tls.client_pem,
                          headers={"Content-Type": "text/xml"})
        with pytest.raises(xmlrpc.client.Fault) as e:
            xmlrpc.client.loads(r.content)
        assert e.value.faultCode == koji.AuthError.faultCode
        assert "could not verify client" in e.value.faultString


def test_ssl_login_of_an_unknown_cn_makes_an_ordinary_user(tmp_path):
    tls = make_tls(tmp_path / "tls", "stranger")
    with HubProcess(tmp_path / "hub.db", tmp_path / "koji", tls=tls) as hub, \
            HubAdmin(tmp_path / "hub.db") as admin:
        s = koji.ClientSession(hub.url, dict(CLIENT_OPTS, serverca=tls.ca))
        s.ssl_login(cert=tls.client_pem, serverca=tls.ca)  # LoginCreatesUser
        s.exclusiveSession()
        with pytest.raises(koji.AuthError, match="is not a host"):
            s.host.getID()
        assert [x["user_name"] for x in admin.sessions("stranger")] == ["stranger"]


# -- callnum -------------------------------------------------------------------

def test_callnum_sequence_and_retry_rules(hub, admin):
    s = builder(hub, admin, "b1")            # login, exclusiveSession (callnum 0, stored)
    sid = s.sinfo["session-id"]
    s.host.updateHost(0.0, False)            # callnum 1, a change: stored
    assert admin.sessions("b1")[0]["callnum"] == 1

    # a lower callnum
    s.callnum = 0
    with pytest.raises(koji.SequenceError, match="1 > 0"):
        s.echo("late")
    # a repeat of a call that changed something, not whitelisted
    s.callnum = 1
    with pytest.raises(koji.RetryError, match=re.escape("unable to retry call 1 (method echo)")):
        s.echo("again")
    # a whitelisted repeat runs again (auth.py RetryWhitelist)
    s.callnum = 1
    s.host.updateHost(1.5, False)
    assert admin.host("b1")["task_load"] == 1.5
    assert [c["ok"] for c in admin.calls("host.updateHost")] == [True, True]
    assert [c["callnum"] for c in admin.calls("host.updateHost")] == [1, 1]

    # a call that changes nothing does not store its callnum, so it may repeat
    s.callnum = 5
    s.echo("read only")
    assert admin.sessions("b1")[0]["callnum"] == 1
    s.callnum = 5
    assert s.echo("same callnum") == ["same callnum"]
    # failed calls do not store it either
    s.callnum = 7
    with pytest.raises(koji.GenericError):
        s.host.openTask(999)
    s.callnum = 7
    assert s.host.getID() == admin.host("b1")["id"]
    assert admin.sessions("b1")[0]["id"] == sid


def test_expired_session_is_renewed_by_the_client(hub, admin):
    s = builder(hub, admin, "b1")
    s.host.updateHost(0.0, False)
    sid, key = s.sinfo["session-id"], s.sinfo["session-key"]
    sub = s.subsession()
    admin.expire_session(sid)          # as SessionRenewalTimeout does
    # the client sees AuthExpired and logs in again with renew=True
    assert s.host.getID() == admin.host("b1")["id"]
    assert s.sinfo["session-id"] == sid and s.sinfo["session-key"] != key
    assert [c["method"] for c in admin.calls(ok=False)] == ["host.getID"]
    assert admin.calls(ok=False)[0]["fault_code"] == koji.AuthExpired.faultCode
    # the subsession was expired with it, and renews itself too
    assert sub.host.getID() == admin.host("b1")["id"]


def test_concurrent_sessions(hub, admin, tmp_path):
    """kojid's task processes each have a subsession and call at the same time."""
    import concurrent.futures

    s = builder(hub, admin, "b1")
    task_ids = [open_task(admin, s, "b1", args=(i,)) for i in range(6)]
    local = _file(tmp_path, "out.log", 200000)

    # one subsession per task, made by the main session (which is not shared
    # between threads: its calls would arrive out of callnum order)
    subs = {task_id: s.subsession() for task_id in task_ids}

    def work(task_id):
        sub = subs[task_id]
        relpath = koji.pathinfo.taskrelpath(task_id)
        for _ in range(5):
            assert sub.getTaskInfo(task_id)["state"] == OPEN
        sub.fastUpload(local, relpath, blocksize=65536, overwrite=True)
        sub.host.closeTask(task_id, response(task_id))
        return task_id

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        assert sorted(pool.map(work, task_ids)) == task_ids
    for sub in subs.values():
        s.logoutChild(sub.sinfo["session-id"])
    assert [admin.decoded_result(t) for t in task_ids] == task_ids
    assert admin.count_calls(ok=False) == 0


# -- exclusive sessions and host calls ------------------------------------------

def test_exclusive_session_with_and_without_force(hub, admin):
    admin.add_host("b1", password="pw")
    s1 = session(hub, "b1", "pw")
    s2 = session(hub, "b1", "pw")
    s1.exclusiveSession()
    with pytest.raises(koji.GenericError, match="already exclusive"):
        s1.exclusiveSession()
    with pytest.raises(koji.AuthLockError, match="Cannot get exclusive session"):
        s2.exclusiveSession()
    # the user is locked by s1: s2 can do nothing else
    with pytest.raises(koji.AuthLockError, match="User locked by another session"):
        s2.echo()
    # subsessions inherit the lock
    sub = s1.subsession()
    assert sub.host.getID() == s1.host.getID()
    with pytest.raises(koji.GenericError, match="subsessions cannot become exclusive"):
        sub.exclusiveSession()

    # force takes the lock and closes the other session; its subsessions are locked out
    s2.exclusiveSession(force=True)
    assert s2.host.getID() == admin.host("b1")["id"]
    with pytest.raises(koji.AuthError, match="Invalid session"):
        s1.echo()
    with pytest.raises(koji.AuthLockError):
        sub.echo()
    # sharedSession gives the lock up
    s2.sharedSession()
    with pytest.raises(koji.AuthError, match="requires an exclusive session"):
        s2.host.getID()


def test_host_calls_need_a_host_with_an_exclusive_session(hub, admin):
    admin.add_host("b1", password="pw")
    with pytest.raises(koji.AuthError, match="Not logged-in"):
        session(hub).host.getID()
    s = session(hub, "b1", "pw")
    with pytest.raises(koji.AuthError, match="requires an exclusive session"):
        s.host.getID()
    with pytest.raises(koji.AuthError, match="requires an exclusive session"):
        s.host.updateHost(0.0, True)
    user = session(hub, "kojiadmin", "kojiadmin")
    user.exclusiveSession()
    with pytest.raises(koji.AuthError, match="is not a host"):
        user.host.getTasks()
    s.exclusiveSession()
    assert s.host.getHost()["name"] == "b1"


def test_subsession_and_logout_child(hub, admin):
    s = builder(hub, admin, "b1")
    sub = s.subsession()
    assert sub.sinfo["session-id"] != s.sinfo["session-id"]
    assert sub.getSessionInfo()["master"] == s.sinfo["session-id"]
    s.logoutChild(sub.sinfo["session-id"])
    with pytest.raises(koji.AuthError, match="Invalid session"):
        sub.echo()
    sub2 = s.subsession()
    s.logout()          # closes its subsessions too
    with pytest.raises(koji.AuthError):
        sub2.echo()


# -- tasks ---------------------------------------------------------------------

def test_task_life_cycle_and_its_refusals(manual_hub, admin):
    hub = manual_hub
    b1 = builder(hub, admin, "b1")
    b2 = builder(hub, admin, "b2")
    task_id = admin.create_task("sleep", [5], arch="noarch")
    admin.assign(task_id, "b1")

    assigned = b1.host.getTasks()
    assert [t["id"] for t in assigned] == [task_id]
    assert set(assigned[0]) == {"id", "state", "channel_id", "host_id", "arch", "method",
                                "priority", "create_ts"}
    assert b2.host.getTasks() == []
    # another host cannot open it: openTask says None
    assert b2.host.openTask(task_id) is None
    info = b1.getTaskInfo(task_id, request=True)
    assert info["request"] == [5] and info["state"] == ASSIGNED
    assert b1.getTaskRequest(task_id) == [5]

    opened = b1.host.openTask(task_id)
    assert opened["state"] == OPEN and opened["host_id"] == admin.host("b1")["id"]
    assert opened["request"].startswith("<?xml")        # the raw request, as the hub gives it
    assert b1.host.openTask(task_id) is None            # already open
    b1.host.setTaskWeight(task_id, 1.5)
    assert b1.host.getHostTasks() == [{"id": task_id, "waiting": None, "weight": 1.5}]

    # only the host that has the task OPEN may finish it
    with pytest.raises(koji.ActionNotAllowed, match="does not own task"):
        b2.host.closeTask(task_id, response("nope"))
    with pytest.raises(koji.ActionNotAllowed):
        b2.host.failTask(task_id, fault_response(1000, "nope"))
    with pytest.raises(koji.ActionNotAllowed):
        b2.host.setTaskWeight(task_id, 1.0)
    # the emulator checks the response is what kojid sends
    with pytest.raises(koji.GenericError, match="must not be a Fault"):
        b1.host.closeTask(task_id, fault_response(1000, "x"))
    with pytest.raises(koji.GenericError, match="not an XML-RPC methodResponse"):
        b1.host.closeTask(task_id, "<junk")
    with pytest.raises(koji.GenericError, match="not an XML-RPC methodResponse"):
        b1.host.closeTask(task_id, koji.xmlrpcplus.dumps((1,), methodname="sleep"))
    b1.host.closeTask(task_id, response({"ok": True}))
    with pytest.raises(koji.ActionNotAllowed):
        b1.host.closeTask(task_id, response({"ok": True}))     # not OPEN any more
    with pytest.raises(koji.ActionNotAllowed):
        b1.host.failTask(task_id, fault_response(1000, "late"))

    assert b1.getTaskResult(task_id) == {"ok": True}
    assert admin.decoded_result(task_id) == {"ok": True}
    assert admin.task(task_id)["state"] == CLOSED
    assert b1.taskFinished(task_id)
    assert admin.count_calls("host.closeTask", task_id) == 6
    assert admin.count_calls("host.closeTask", task_id, ok=True) == 1

    # a failed task: its Fault is the result
    failing = open_task(admin, b1, "b1")
    b1.host.failTask(failing, fault_response(koji.BuildError.faultCode, "mock failed"))
    with pytest.raises(koji.BuildError, match="mock failed"):
        b1.getTaskResult(failing)
    assert b1.getTaskResult(failing, raise_fault=False) == {
        "faultCode": koji.BuildError.faultCode, "faultString": "mock failed"}
    fault = admin.decoded_result(failing)
    assert isinstance(fault, xmlrpc.client.Fault) and fault.faultString == "mock failed"
    assert admin.task(failing)["state"] == FAILED


def test_refuse_free_and_scheduler_skips_the_refusing_host(hub, admin):
    b1 = builder(hub, admin, "b1")
    b1.host.updateHost(0.0, True)
    task_id = admin.create_task("sleep", [1])
    assert [t["id"] for t in b1.host.getTasks()] == [task_id]

    b1.host.refuseTask(task_id, soft=True, msg="not now")
    assert admin.task(task_id)["state"] == FREE and admin.task(task_id)["host_id"] is None
    [refusal] = admin.refusals(task_id)
    assert (refusal["host_name"], refusal["soft"], refusal["msg"]) == ("b1", 1, "not now")
    # not assigned to the refusing host again (until the soft refusal expires)
    b1.host.updateHost(0.0, True)
    assert b1.host.getTasks() == []
    assert admin.task(task_id)["state"] == FREE

    b2 = builder(hub, admin, "b2")
    b2.host.updateHost(0.0, True)
    assert [t["id"] for t in b2.host.getTasks()] == [task_id]
    # refusing a task assigned to someone else does nothing
    assert b1.host.refuseTask(task_id) is None
    assert admin.task(task_id)["host_id"] == admin.host("b2")["id"]

    # freeTasks: only the host's OPEN tasks are freed, others skipped silently
    b1.host.freeTasks([task_id])
    assert admin.task(task_id)["state"] == ASSIGNED
    b2.host.openTask(task_id)
    b2.host.freeTasks([task_id])
    assert admin.task(task_id)["state"] == FREE

    # the refusal lapses after the soft refusal timeout (900 s)
    admin.conn.execute("UPDATE refusals SET ts = ts - 901")
    b2.host.updateHost(0.0, False)
    assert [t["id"] for t in b1.host.getTasks()] == [task_id]


def test_subtask_is_idempotent_per_parent_and_label(manual_hub, admin):
    b1 = builder(manual_hub, admin, "b1")
    b2 = builder(manual_hub, admin, "b2")
    parent = open_task(admin, b1, "b1", method="build", args=("git://x", "target", {}),
                       priority=20, arch="x86_64")
    child = b1.host.subtask("buildArch", ["srpm", "tag", "x86_64"], parent, label="x86_64",
                            arch="x86_64")
    again = b1.host.subtask("buildArch", ["srpm", "tag", "x86_64"], parent, label="x86_64",
                            arch="x86_64")
    assert again == child
    info = b1.getTaskInfo(child, request=True)
    assert (info["parent"], info["label"], info["priority"], info["state"]) == (
        parent, "x86_64", 19, FREE)
    assert info["owner"] == admin.task(parent)["owner"]
    assert info["request"] == ["srpm", "tag", "x86_64"]
    # no label: a new task every time
    one = b1.host.subtask("tagBuild", [1, 2], parent)
    two = b1.host.subtask("tagBuild", [1, 2], parent)
    assert one != two and admin.task(one)["arch"] == "x86_64"     # arch inherited
    # subtask2 encodes the keyword arguments into the request
    three = b1.host.subtask2(parent, {"label": "srpm", "channel": "createrepo"},
                             "buildSRPMFromSCM", "git://x", build_tag=3)
    assert b1.getTaskRequest(three) == ["git://x", {"build_tag": 3, "__starstar": True}]
    assert admin.task(three)["channel_id"] == 2
    assert b1.host.subtask2(parent, {"label": "srpm"}, "buildSRPMFromSCM", "git://y") == three
    with pytest.raises(koji.GenericError, match="No such channel"):
        b1.host.subtask("x", [], parent, channel="nosuch")
    assert [c["id"] for c in b1.getTaskChildren(parent)] == [child, one, two, three]
    # make_task's assign option creates the task ASSIGNED
    four = b1.host.subtask("createrepo", [], parent, label="repo", assign="b2")
    assert [t["id"] for t in b2.host.getTasks()] == [four]
    # only the host that has the parent OPEN may add children
    with pytest.raises(koji.ActionNotAllowed):
        b2.host.subtask("buildArch", [], parent, label="other")


def test_task_wait_and_results_with_a_failed_child(manual_hub, admin):
    b1 = builder(manual_hub, admin, "b1")
    parent = open_task(admin, b1, "b1", method="build")
    c1 = b1.host.subtask("buildArch", ["a"], parent, label="a")
    c2 = b1.host.subtask("buildArch", ["b"], parent, label="b")
    b1.host.taskSetWait(parent, None)
    assert b1.host.taskWait(parent) == [[], [c1, c2]]
    [ptask] = b1.host.getHostTasks()
    assert ptask["waiting"] is True and "alert" not in ptask

    for child in (c1, c2):
        admin.assign(child, "b1")
        b1.host.openTask(child)
    b1.host.closeTask(c1, response({"rpms": ["a.rpm"]}))
    alerts = {t["id"]: t.get("alert") for t in b1.host.getHostTasks()}
    assert alerts[parent] is True
    assert b1.host.taskWait(parent) == [[c1], [c2]]
    b1.host.failTask(c2, fault_response(koji.BuildError.faultCode, "c2 broke"))
    # c1 was returned already, so only c2 is new
    assert b1.host.taskWait(parent) == [[c2], []]

    with pytest.raises(koji.BuildError, match="c2 broke"):
        b1.host.taskWaitResults(parent, [c1, c2])
    results = b1.host.taskWaitResults(parent, [c1, c2], canfail=[c2])
    assert results == [[c1, {"rpms": ["a.rpm"]}],
                       [c2, {"faultCode": koji.BuildError.faultCode, "faultString": "c2 broke"}]]
    assert admin.task(parent)["waiting"] is False
    # tasks=None: all finished children
    assert [r[0] for r in b1.host.taskWaitResults(parent, None, canfail=[c2])] == [c1, c2]
    # a child that is not finished is an error
    c3 = b1.host.subtask("buildArch", ["c"], parent, label="c")
    with pytest.raises(koji.GenericError, match="is not finished"):
        b1.host.taskWaitResults(parent, [c3])


def test_cancel_with_children(manual_hub, admin):
    b1 = builder(manual_hub, admin, "b1")
    parent = open_task(admin, b1, "b1", method="build")
    done = b1.host.subtask("buildArch", ["a"], parent, label="done")
    running = b1.host.subtask("buildArch", ["b"], parent, label="running")
    waiting = b1.host.subtask("buildArch", ["c"], parent, label="waiting")
    for child in (done, running):
        admin.assign(child, "b1")
        b1.host.openTask(child)
    grandchild = b1.host.subtask("createrepo", [], running, label="g")
    b1.host.closeTask(done, response(None))

    assert admin.cancel(parent) is True
    states = {t: admin.task(t)["state"] for t in (parent, done, running, waiting, grandchild)}
    assert states == {parent: CANCELED, done: CLOSED, running: CANCELED, waiting: CANCELED,
                      grandchild: CANCELED}
    # what kojid sees, and what it may no longer do
    assert b1.getTaskInfo(running)["state"] == CANCELED
    assert b1.getTaskInfo(running)["host_id"] == admin.host("b1")["id"]
    assert [t["id"] for t in b1.host.getHostTasks()] == []
    with pytest.raises(koji.ActionNotAllowed):
        b1.host.closeTask(running, response(None))
    with pytest.raises(koji.GenericError, match="is canceled"):
        b1.getTaskResult(running)
    assert admin.cancel(done) is False

    # cancelTaskChildren, as kojid's wait(failany=True) calls it
    parent2 = open_task(admin, b1, "b1", method="build")
    kids = [b1.host.subtask("buildArch", [i], parent2, label=str(i)) for i in range(2)]
    b1.cancelTaskChildren(parent2)
    assert [admin.task(k)["state"] for k in kids] == [CANCELED, CANCELED]
    assert admin.task(parent2)["state"] == OPEN
    other = builder(manual_hub, admin, "b2")
    with pytest.raises(koji.ActionNotAllowed, match="not owner"):
        other.cancelTaskChildren(parent2)


# -- scheduler -----------------------------------------------------------------

def test_scheduler_respects_arch_and_channel(hub, admin):
    bx = builder(hub, admin, "bx", arches=("x86_64",))
    ba = builder(hub, admin, "ba", arches=("aarch64",))
    bc = builder(hub, admin, "bc", arches=("x86_64",), channels=("createrepo",))
    for s in (bx, ba, bc):
        s.host.updateHost(0.0, True)
    t_x86 = admin.create_task("buildArch", [], arch="x86_64")
    t_arm = admin.create_task("buildArch", [], arch="aarch64")
    t_repo = admin.create_task("createrepo", [], channel="createrepo", priority=15)
    t_noarch = admin.create_task("tagBuild", [])
    t_ppc = admin.create_task("buildArch", [], arch="ppc64le")
    bx.host.getTasks()      # runs the scheduler for every ready host
    host_of = {t["id"]: t["host_id"] for t in admin.tasks()}
    ids = {name: admin.host(name)["id"] for name in ("bx", "ba", "bc")}
    assert host_of[t_x86] == ids["bx"]
    assert host_of[t_arm] == ids["ba"]
    assert host_of[t_repo] == ids["bc"]
    assert host_of[t_noarch] in (ids["bx"], ids["ba"])
    assert host_of[t_ppc] is None and admin.task(t_ppc)["state"] == FREE
    assert [t["id"] for t in bc.host.getTasks()] == [t_repo]
    # by priority, then creation
    assert [t["priority"] for t in ba.host.getTasks()] == sorted(
        t["priority"] for t in ba.host.getTasks())


def test_scheduler_respects_readiness_capacity_and_maxjobs(hub, admin):
    b1 = builder(hub, admin, "b1", capacity=2.0)
    heavy = [admin.create_task("buildArch", [], weight=w) for w in (6.0, 6.0, 8.0)]
    # not ready: nothing
    b1.host.updateHost(0.0, False)
    assert b1.host.getTasks() == []
    # disabled: nothing
    b1.host.updateHost(0.0, True)
    admin.set_host("b1", enabled=False)
    assert b1.host.getTasks() == []
    admin.set_host("b1", enabled=True)
    # capacity - load > weight - CapacityOvercommit(5): one 6.0 fits a 2.0 host, the
    # next does not (load 6), and 8.0 never does
    assert [t["id"] for t in b1.host.getTasks()] == [heavy[0]]
    assert [admin.task(t)["state"] for t in heavy] == [ASSIGNED, FREE, FREE]
    for t in heavy:
        admin.cancel(t)

    # maxjobs from updateHost(data=) limits the number of tasks
    light = [admin.create_task("sleep", [i], weight=0.1) for i in range(4)]
    b1.host.updateHost(0.0, True, data={"methods": ["sleep"], "maxjobs": 2})
    assert [t["id"] for t in b1.host.getTasks()] == light[:2]
    assert admin.host("b1")["data"] == {"methods": ["sleep"], "maxjobs": 2}
    # a host silent for more than 180 s is marked not ready
    for t in light[:2]:
        b1.host.openTask(t)
        b1.host.closeTask(t, response(None))
    admin.set_host("b1", last_update=admin.host("b1")["update_ts"] - 181)
    # any caller runs the scheduler (b2 is in another channel: it takes none of them)
    b2 = builder(hub, admin, "b2", channels=("createrepo",))
    b2.host.updateHost(0.0, True)
    b2.host.getTasks()
    assert admin.host("b1")["ready"] is False
    assert [admin.task(t)["state"] for t in light[2:]] == [FREE, FREE]


def test_scheduler_frees_a_task_not_opened_in_time(hub, admin):
    b1 = builder(hub, admin, "b1")
    b1.host.updateHost(0.0, True)
    task_id = admin.create_task("sleep", [1])
    assert [t["id"] for t in b1.host.getTasks()] == [task_id]
    # more than AssignTimeout (300 s) later, b1 has checked in but not opened it
    admin.conn.execute("UPDATE task_runs SET create_ts = create_ts - 301")
    b1.host.updateHost(0.0, True)
    b2 = builder(hub, admin, "b2")
    b2.host.updateHost(0.0, True)
    assert b2.host.getTasks() == []          # this run frees it (after scheduling)
    assert admin.task(task_id)["state"] == FREE
    # an implicit refusal by b1, so the next run gives it to b2
    assert [r["msg"] for r in admin.refusals(task_id)] == ["assignment timeout"]
    assert [t["id"] for t in b2.host.getTasks()] == [task_id]


# -- uploads -------------------------------------------------------------------

def _file(tmp_path, name, size):
    path = tmp_path / name
    path.write_bytes(os.urandom(size))
    return str(path)


def test_fast_upload_of_a_multi_chunk_file(hub, admin, tmp_path):
    b1 = builder(hub, admin, "b1")
    task_id = open_task(admin, b1, "b1")
    relpath = koji.pathinfo.taskrelpath(task_id)
    local = _file(tmp_path, "build.log", 2 * 1048576 + 12345)
    b1.fastUpload(local, relpath, blocksize=1048576, overwrite=True)
    stored = tmp_path / "koji" / "work" / relpath / "build.log"
    with open(local, "rb") as fo:
        data = fo.read()
    assert stored.read_bytes() == data
    assert admin.count_calls("rawUpload", task_id) == 3
    assert admin.count_calls("checkUpload", task_id) == 1
    digest = koji.util.adler32_constructor(data).hexdigest()
    check = b1.checkUpload(relpath, "build.log", verify="adler32")
    assert (check["size"], check["hexdigest"]) == (len(data), digest)

    # uploadWrapper (kojid's path for final files) with use_fast_upload
    b1.opts["use_fast_upload"] = True
    b1.uploadWrapper(local, relpath, "copy.log")
    assert (stored.parent / "copy.log").read_bytes() == data

    # one raw chunk, answered as the hub does
    answer = b1.rawUpload(b"abc", 0, relpath, "tiny", overwrite=True)
    assert answer == {"size": 3, "fileverify": "adler32", "offset": 0,
                      "hexdigest": koji.util.adler32_constructor(b"abc").hexdigest()}
    # offset -1 appends
    assert b1.rawUpload(b"def", -1, relpath, "tiny")["offset"] == 3
    assert (stored.parent / "tiny").read_bytes() == b"abcdef"


def test_upload_rejects_corrupt_and_misplaced_chunks(hub, admin, tmp_path):
    b1 = builder(hub, admin, "b1")
    task_id = open_task(admin, b1, "b1")
    relpath = koji.pathinfo.taskrelpath(task_id)
    local = _file(tmp_path, "rpm.rpm", 3 * 65536)

    # a chunk damaged on the way: the hub answers the digest of what it got, and the
    # client sees it differs
    original = b1._prepUpload

    def damaged(chunk, offset, path, name, **kw):
        handler, headers, body = original(chunk, offset, path, name, **kw)
        if offset == 65536:
            body = bytes([body[0] ^ 0xFF]) + body[1:]
        return handler, headers, body

    b1._prepUpload = damaged
    with pytest.raises(koji.GenericError, match="upload checksum failed"):
        b1.fastUpload(local, relpath, blocksize=65536, overwrite=True)
    b1._prepUpload = original
    with open(local, "rb") as fo:
        good = koji.util.adler32_constructor(fo.read()).hexdigest()
    assert b1.checkUpload(relpath, "rpm.rpm", verify="adler32")["hexdigest"] != good

    # a chunk past the end of the file (a hole) is refused
    with pytest.raises(koji.GenericError, match="past the end"):
        b1.rawUpload(b"x" * 10, 5000, relpath, "gap.bin", overwrite=True)
    # offset 0 onto an existing file needs overwrite
    with pytest.raises(koji.GenericError, match="upload path exists"):
        b1.rawUpload(b"again", 0, relpath, "rpm.rpm")
    # paths stay under work/
    with pytest.raises(koji.GenericError, match="Invalid upload directory"):
        b1.rawUpload(b"x", 0, "tasks/../../etc", "passwd")
    with pytest.raises(xmlrpc.client.Fault, match="Invalid path segment"):
        b1.rawUpload(b"x", 0, "/etc", "passwd")
    with pytest.raises(koji.GenericError, match="Invalid upload filename"):
        b1.rawUpload(b"x", 0, relpath, ".hidden")

    # another host's task directory
    b2 = builder(hub, admin, "b2")
    with pytest.raises(koji.ActionNotAllowed, match=f"does not own task {task_id}"):
        b2.fastUpload(local, relpath, "intruder.rpm")
    # nor a task that is not OPEN any more
    b1.host.closeTask(task_id, response(None))
    with pytest.raises(koji.ActionNotAllowed):
        b1.rawUpload(b"late", 0, relpath, "late.log", overwrite=True)
    # a user (not a host) cannot write there at all
    user = session(hub, "kojiadmin", "kojiadmin")
    with pytest.raises(koji.AuthError, match="is not a host"):
        user.rawUpload(b"x", 0, relpath, "x.log")
    # other directories belong to their first uploader
    user.rawUpload(b"srpm", 0, "cli-build/1234.abc", "x.src.rpm")
    with pytest.raises(koji.GenericError, match="not owner"):
        b1.rawUpload(b"x", 0, "cli-build/1234.abc", "y.src.rpm")
    assert not os.path.exists(tmp_path / "koji" / "work" / relpath / "intruder.rpm")


def test_legacy_upload_file(hub, admin, tmp_path):
    import base64
    import hashlib

    b1 = builder(hub, admin, "b1")
    task_id = open_task(admin, b1, "b1")
    relpath = koji.pathinfo.taskrelpath(task_id)
    one, two = b"first chunk ", b"second chunk"

    def sha(data):
        return ("sha256", hashlib.sha256(data).hexdigest())

    b64 = koji.util.base64encode
    assert b1.uploadFile(relpath, "legacy.log", len(one), sha(one), 0, b64(one))
    assert b1.uploadFile(relpath, "legacy.log", len(two), sha(two), len(one), b64(two))
    # a chunk whose digest does not match is refused (False)
    assert b1.uploadFile(relpath, "bad.log", 3, sha(b"abc"), 0, b64(b"abd")) is False
    # the final call checks the whole file
    assert b1.uploadFile(relpath, "legacy.log", len(one + two), sha(one + two), -1, "")
    assert (tmp_path / "koji" / "work" / relpath / "legacy.log").read_bytes() == one + two
    assert base64.b64decode(b64(one)) == one


# -- the rest ------------------------------------------------------------------

def test_kojifiles_serves_topdir(hub, tmp_path):
    repo = tmp_path / "koji" / "repos" / "f40-build" / "7" / "x86_64"
    repo.mkdir(parents=True)
    (repo / "pkglist").write_text("bash\n")
    r = requests.get(hub.topurl + "/repos/f40-build/7/x86_64/pkglist")
    assert (r.status_code, r.text) == (200, "bash\n")
    assert requests.get(hub.topurl + "/repos/f40-build/7/x86_64/missing").status_code == 404
    assert requests.get(hub.topurl + "/repos/f40-build").status_code == 404
    assert requests.get(hub.topurl + "/../hub.db").status_code == 404
    assert requests.get(hub.topurl + "/%2e%2e/hub.db").status_code == 404
    r = requests.get(hub.url)
    assert r.status_code == 405 and r.headers["Allow"] == "POST"


def test_unknown_calls_fail_loudly(hub, admin):
    s = builder(hub, admin, "b1")
    with pytest.raises(koji.GenericError, match="Invalid method: notAHubCall"):
        s.notAHubCall(1)
    with pytest.raises(koji.GenericError, match=re.escape("Invalid method: host.getLoadData")):
        s.host.getLoadData()
    # unknown methods fail before the session is looked at (kojixmlrpc._dispatch)
    with pytest.raises(koji.GenericError, match="Invalid method: alsoUnknown"):
        session(hub).alsoUnknown()
    failed = admin.calls(ok=False)
    assert [c["method"] for c in failed] == ["notAHubCall", "host.getLoadData", "alsoUnknown"]
    assert failed[0]["fault_code"] == 1000 and failed[0]["args"] == "((1,), {})"
    assert "EMULATOR DOES NOT KNOW METHOD 'notAHubCall'" in hub.log()
    # wrong arguments are the hub's ParameterError
    with pytest.raises(koji.ParameterError):
        s.host.openTask()
    with pytest.raises(koji.ParameterError):
        s.getTaskInfo("seven")
    with pytest.raises(koji.ParameterError):
        s.getTaskInfo(1, nosuchoption=True)


def test_multicall(hub, admin):
    s = builder(hub, admin, "b1")
    task_id = admin.create_task("sleep", [3])
    with s.multicall() as m:
        info = m.getTaskInfo(task_id)
        echo = m.echo("x")
        bad = m.noSuchCall()
    assert info.result["id"] == task_id and echo.result == ["x"]
    with pytest.raises(koji.GenericError, match="Invalid method"):
        bad.result  # noqa: B018 (raises)
    assert [c["method"] for c in admin.calls()][-4:] == [
        "multiCall", "getTaskInfo", "echo", "noSuchCall"]


def test_state_survives_a_restart(hub, admin, tmp_path):
    b1 = builder(hub, admin, "b1")
    task_id = open_task(admin, b1, "b1")
    url = hub.url
    assert hub.stop() == 0
    # the state file is usable while the server is down
    second = admin.create_task("sleep", [2])
    assert admin.task(task_id)["state"] == OPEN
    hub.start()
    assert hub.url == url
    # the same session, callnum and task carry on
    assert b1.host.getID() == admin.host("b1")["id"]
    assert [t["id"] for t in b1.host.getHostTasks()] == [task_id]
    b1.host.closeTask(task_id, response("done"))
    assert b1.getTaskResult(task_id) == "done"
    assert b1.getTaskInfo(second)["state"] == FREE
    # and a restart on a killed server too (only committed state survives)
    hub.kill()
    hub.start()
    assert b1.getTaskInfo(task_id)["state"] == CLOSED
    assert len(admin.calls("host.closeTask")) == 1


def test_list_channels_of_a_host(hub, tmp_path):
    session = koji.ClientSession(hub.url)
    with HubAdmin(tmp_path / "hub.db") as admin:
        admin.add_channel("createrepo-extra")
        host = admin.add_host("channels.example.com", channels=("default", "createrepo-extra"))
    names = [c["name"] for c in session.listChannels(hostID=host)]
    assert names == ["createrepo-extra", "default"]
    assert [c["name"] for c in session.listChannels(hostID="channels.example.com")] == names
    with pytest.raises(koji.GenericError, match="No such host"):
        session.listChannels(hostID="nobody.example.com")
