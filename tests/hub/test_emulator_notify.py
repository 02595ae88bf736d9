"""Tests of the emulator's notifications (tests/hub/notify.py) and of the read
calls the builder's notification, chainbuild and restartHosts tasks make
(tests/hub/readcalls.py), driven by koji's ClientSession as a builder drives
a hub.  The SRPMs are written in pure Python (tests/hub/rpmfile.py), so no
rpmbuild is needed."""

from __future__ import annotations

import datetime

import koji
import pytest

from tests.hub.rpmfile import write_rpm
from tests.hub.test_emulator_builds import CLIENT_OPTS, builder

WEBURL = "http://koji.example/koji"
# (time, author, text), newest first as in an rpm header
CHANGELOG = [
    (1704196800, "Alice Example <alice@example.com> - 1.0-1", "- third change"),
    (1704110400, "Bob Example <bob@example.com> - 0.9-1", "- second change"),
    (1704024000, "Alice Example <alice@example.com> - 0.8-1", "- first change"),
]


def user_session(hub, name):
    s = koji.ClientSession(hub.url, dict(CLIENT_OPTS, user=name, password="pw-" + name))
    s.login()
    return s


def site(admin):
    """f40-build -> f40 (target f40); alpha listed in f40, owned by bob."""
    admin.add_tag("f40-build")
    admin.add_tag("f40")
    admin.add_tag("f39")
    admin.add_target("f40", "f40-build", "f40")
    for name in ("alice", "bob", "carol", "dave", "erin"):
        admin.add_user(name, password="pw-" + name)
    admin.add_package("f40", "alpha", owner="bob")


def build_task(admin, b1, host="b1", owner="alice"):
    """A build task of the owner for target f40, OPEN on the host."""
    task_id = admin.create_task("build", ["git://x#1", "f40", {}], owner=owner)
    admin.assign(task_id, host)
    assert b1.host.openTask(task_id)["state"] == koji.TASK_STATES["OPEN"]
    return task_id


def start_build(admin, b1, tmp_path, task_id=None, release="1"):
    """initBuild of alpha-1.0-<release> for the task, its SRPM uploaded to the
    task's directory; returns (task_id, build_id, srpm path under work/)."""
    if task_id is None:
        task_id = build_task(admin, b1)
    relpath = koji.pathinfo.taskrelpath(task_id)
    srpm = write_rpm(tmp_path, "alpha", "1.0", release, source=True, changelog=CHANGELOG)
    b1.uploadWrapper(str(srpm), relpath)
    build_id = b1.host.initBuild({"name": "alpha", "version": "1.0", "release": release,
                                  "epoch": None, "task_id": task_id, "source": "git://x#abc"})
    return task_id, build_id, f"{relpath}/{srpm.name}"


def notification_tasks(admin, method="buildNotification"):
    return admin.tasks(method=method)


# -- buildNotification ----------------------------------------------------------------

def test_complete_build_makes_a_build_notification(hub, admin, tmp_path):
    site(admin)
    admin.set_hub_options(DisableNotifications=False, EmailDomain="example.com")
    admin.add_user("devs", usertype="GROUP")
    admin.add_user("mallory", status="BLOCKED")
    admin.add_notification("carol")                           # everything
    admin.add_notification("dave", package="alpha", success_only=True)
    admin.add_notification("erin", tag="f39")                 # another tag
    admin.add_notification("devs", tag="f40")                 # a group counts
    admin.add_notification("mallory")                         # blocked users do not
    b1 = builder(hub, admin, "b1")
    admin.add_notification("b1")                              # nor host users
    task_id, build_id, srpm = start_build(admin, b1, tmp_path)
    assert notification_tasks(admin) == []

    b1.host.completeBuild(task_id, build_id, srpm, [])
    [note] = notification_tasks(admin)
    recipients = ["alice@example.com", "bob@example.com", "carol@example.com",
                  "dave@example.com", "devs@example.com"]
    build = b1.getBuild(build_id)
    assert build["state"] == koji.BUILD_STATES["COMPLETE"]
    target = b1.getBuildTarget("f40")
    assert list(note["request"]) == [recipients, build, target, WEBURL]
    # make_task as the caller (the host's user), top level, default channel
    assert (note["owner"], note["parent"], note["priority"], note["arch"], note["state"],
            note["channel_id"]) == (b1.getLoggedInUser()["id"], None, koji.PRIO_DEFAULT,
                                    "noarch", koji.TASK_STATES["FREE"],
                                    b1.getChannel("default")["id"])
    # the kojid task reads the request back
    assert b1.getTaskRequest(note["id"]) == [recipients, build, target, WEBURL]
    assert admin.notification_recipients(build_id, "f40", "COMPLETE") == recipients
    # createNotification's rule: one subscription once
    with pytest.raises(koji.GenericError, match="notification already exists"):
        admin.add_notification("carol")


def test_fail_build_opt_outs_and_success_only(hub, admin, tmp_path):
    site(admin)
    admin.set_hub_options(DisableNotifications=False, NotifyOnSuccess=False)
    admin.add_notification("carol")
    admin.add_notification("dave", package="alpha", success_only=True)
    admin.add_notification("erin", package="alpha", tag="f40")
    admin.block_notification("bob", package="alpha")      # the package owner opts out
    admin.block_notification("erin", tag="f40")
    admin.block_notification("carol", tag="f39")          # another tag: no effect
    b1 = builder(hub, admin, "b1")
    task_id, build_id, _srpm = start_build(admin, b1, tmp_path)

    b1.host.failBuild(task_id, build_id)
    [note] = notification_tasks(admin)
    recipients, build, target, weburl = note["request"]
    # FAILED: no success_only subscribers; the owner even without NotifyOnSuccess
    assert recipients == ["alice@koji.example", "carol@koji.example"]
    assert (build["id"], build["state"], target["name"], weburl) == (
        build_id, koji.BUILD_STATES["FAILED"], "f40", WEBURL)
    assert "bob@koji.example" not in admin.notification_recipients(build_id, "f40", "FAILED")
    with pytest.raises(koji.GenericError, match="notification already exists"):
        admin.block_notification("bob", package="alpha")
    with pytest.raises(koji.GenericError, match="No such entry in table package: nosuch"):
        admin.add_notification("carol", package="nosuch")


def test_a_package_owner_who_opted_out_gets_nothing(hub, admin, tmp_path):
    site(admin)
    admin.set_hub_options(DisableNotifications=False)
    b1 = builder(hub, admin, "b1")
    task_id = build_task(admin, b1, owner="bob")             # bob owns build and package
    task_id, build_id, srpm = start_build(admin, b1, tmp_path, task_id=task_id)
    admin.block_notification("bob")
    b1.host.completeBuild(task_id, build_id, srpm, [])
    assert notification_tasks(admin) == []                  # nobody left to tell


def test_disable_notifications_makes_no_tasks(hub, admin, tmp_path):
    site(admin)
    admin.add_notification("carol")
    assert admin.hub_options()["DisableNotifications"] is True  # the emulator's hub.conf
    b1 = builder(hub, admin, "b1")
    task_id, build_id, srpm = start_build(admin, b1, tmp_path)
    b1.host.completeBuild(task_id, build_id, srpm, [])
    b1.host.tagNotification(True, "f40", None, build_id, "alice")
    assert notification_tasks(admin) == [] and notification_tasks(admin, "tagNotification") == []
    # the call is still recorded
    assert admin.tag_notifications()[-1]["build_id"] == build_id
    with pytest.raises(KeyError, match="not a hub option"):
        admin.set_hub_options(DisableNotification=False)


def test_cancel_build_notifies_as_the_canceler(hub, admin, tmp_path):
    site(admin)
    admin.set_hub_options(DisableNotifications=False)
    b1 = builder(hub, admin, "b1")
    task_id, build_id, _srpm = start_build(admin, b1, tmp_path)
    child = b1.host.subtask("buildArch", ["x.src.rpm", "f40-build", "noarch", True, {}],
                            task_id, label="noarch")
    alice = user_session(hub, "alice")
    erin = user_session(hub, "erin")
    with pytest.raises(koji.ActionNotAllowed, match="Cannot cancel build, not owner"):
        erin.cancelBuild(build_id)
    assert alice.cancelBuild(build_id) is True
    assert alice.getBuild(build_id)["state"] == koji.BUILD_STATES["CANCELED"]
    # cancelFull: the build task and its children
    assert [admin.task(t)["state_name"] for t in (task_id, child)] == ["CANCELED", "CANCELED"]
    [note] = notification_tasks(admin)
    assert note["owner"] == alice.getLoggedInUser()["id"]
    assert note["request"][0] == ["alice@koji.example", "bob@koji.example"]
    assert note["request"][1]["state"] == koji.BUILD_STATES["CANCELED"]
    assert alice.cancelBuild(build_id) is False              # not BUILDING any more

    # canceling a build task cancels its BUILDING build (Task.cancel)
    task2, build2, _srpm = start_build(admin, b1, tmp_path, release="2")
    alice.cancelTask(task2)
    assert alice.getBuild(build2)["state"] == koji.BUILD_STATES["CANCELED"]
    assert [t["request"][1]["id"] for t in notification_tasks(admin)] == [build_id, build2]


# -- tagNotification ------------------------------------------------------------------

def test_tag_notification_makes_a_task(hub, admin):
    site(admin)
    admin.set_hub_options(DisableNotifications=False)
    admin.add_notification("carol", tag="f40")
    admin.add_notification("dave", tag="f39")
    build_id = admin.add_build("alpha-1.0-1", owner="alice")
    b1 = builder(hub, admin, "b1")
    f40 = admin.tag("f40")["id"]
    alice_id = admin._user_id("alice")

    assert b1.host.tagNotification(True, f40, None, build_id, "alice") is None
    [note] = notification_tasks(admin, "tagNotification")
    assert list(note["request"]) == [
        ["alice@koji.example", "bob@koji.example", "carol@koji.example"], True, f40, None,
        build_id, alice_id, False, ""]
    assert note["owner"] == b1.getLoggedInUser()["id"]
    # a failed move: both tags' recipients, the message, the arguments as given
    b1.host.tagNotification(False, "f40", "f39", build_id, alice_id, False, "TagError: no")
    note = notification_tasks(admin, "tagNotification")[-1]
    assert list(note["request"]) == [
        ["alice@koji.example", "bob@koji.example", "carol@koji.example", "dave@koji.example"],
        False, "f40", "f39", build_id, alice_id, False, "TagError: no"]
    # ignore_success: no task for a success
    b1.host.tagNotification(True, f40, None, build_id, alice_id, True)
    assert len(notification_tasks(admin, "tagNotification")) == 2
    with pytest.raises(koji.GenericError, match="No such user: 'nosuch'"):
        b1.host.tagNotification(True, f40, None, build_id, "nosuch")
    # no such build: nothing, no error
    b1.host.tagNotification(True, f40, None, 999, alice_id)
    assert len(notification_tasks(admin, "tagNotification")) == 2


def test_tag_notification_without_recipients_makes_no_task(hub, admin):
    site(admin)
    admin.set_hub_options(DisableNotifications=False, NotifyOnSuccess=False)
    build_id = admin.add_build("alpha-1.0-1", owner="alice")
    b1 = builder(hub, admin, "b1")
    # a success with no subscribers: the owners are not told (NotifyOnSuccess off)
    b1.host.tagNotification(True, "f40", None, build_id, "alice")
    assert notification_tasks(admin, "tagNotification") == []
    # a failure tells the owners
    b1.host.tagNotification(False, "f40", None, build_id, "alice", False, "denied")
    [note] = notification_tasks(admin, "tagNotification")
    assert note["request"][0] == ["alice@koji.example", "bob@koji.example"]
    assert len(admin.tag_notifications()) == 2


# -- read calls -----------------------------------------------------------------------

def test_list_builds_finds_the_build_of_a_task(hub, admin, tmp_path):
    site(admin)
    b1 = builder(hub, admin, "b1")
    task_id, build_id, _srpm = start_build(admin, b1, tmp_path)
    other = admin.add_build("beta-2.0-1", owner="carol")
    [made] = b1.listBuilds(taskID=task_id)
    assert (made["build_id"], made["nvr"], made["owner_name"], made["task_id"],
            made["state"]) == (build_id, "alpha-1.0-1", "alice", task_id,
                               koji.BUILD_STATES["BUILDING"])
    assert "id" not in made and made["promoter_name"] is None and made["volume_name"] == "DEFAULT"
    assert [b["build_id"] for b in b1.listBuilds(taskID=-1)] == [build_id]
    assert [b["build_id"] for b in b1.listBuilds(packageID="beta")] == [other]
    assert b1.listBuilds(packageID="nosuch") == [] and b1.listBuilds(userID="nosuch") == []
    assert [b["build_id"] for b in b1.listBuilds(userID="carol")] == [other]
    assert [b["build_id"] for b in b1.listBuilds(state=koji.BUILD_STATES["COMPLETE"])] == [
        other]
    assert [b["nvr"] for b in b1.listBuilds(prefix="AL")] == ["alpha-1.0-1"]  # ILIKE
    assert [b["nvr"] for b in b1.listBuilds(pattern="*-2.0-?")] == ["beta-2.0-1"]
    assert [b["build_id"] for b in b1.listBuilds(queryOpts={"order": "-build_id",
                                                            "limit": 1})] == [other]
    assert b1.listBuilds(queryOpts={"countOnly": True}) == 2
    assert b1.listBuilds(type="maven") == []
    with pytest.raises(koji.GenericError, match="unsupported build type: bogus"):
        b1.listBuilds(type="bogus")


def test_list_task_output_lists_the_uploads(hub, admin, tmp_path):
    site(admin)
    b1 = builder(hub, admin, "b1")
    task_id, build_id, srpm = start_build(admin, b1, tmp_path)
    log = tmp_path / "build.log"
    log.write_text("built\n")
    b1.uploadWrapper(str(log), koji.pathinfo.taskrelpath(task_id))
    assert b1.listTaskOutput(task_id) == ["alpha-1.0-1.src.rpm", "build.log"]
    stats = b1.listTaskOutput(task_id, stat=True)
    assert stats["build.log"]["st_size"] == "6" and set(stats["build.log"]) == {
        "st_size", "st_atime", "st_mtime", "st_ctime"}
    assert b1.listTaskOutput(task_id, all_volumes=True) == {
        "alpha-1.0-1.src.rpm": ["DEFAULT"], "build.log": ["DEFAULT"]}
    # after completeBuild the SRPM is a link to the build directory: still listed
    b1.host.completeBuild(task_id, build_id, srpm, [])
    assert b1.listTaskOutput(task_id) == ["alpha-1.0-1.src.rpm", "build.log"]
    assert b1.listTaskOutput(99999) == []
    with pytest.raises(koji.GenericError, match="Task doesn't exist"):
        b1.listTaskOutput(99999, strict=True)
    assert b1.getTaskRequest(task_id) == ["git://x#1", "f40", {}]
    with pytest.raises(koji.GenericError, match="query returned no rows"):
        b1.getTaskRequest(99999)


def test_changelog_entries_of_a_build(hub, admin, tmp_path):
    site(admin)
    b1 = builder(hub, admin, "b1")
    task_id, build_id, srpm = start_build(admin, b1, tmp_path)
    # a task's file, before the import
    from_task = b1.getChangelogEntries(taskID=task_id, filepath="alpha-1.0-1.src.rpm")
    assert [e["text"] for e in from_task] == ["- third change", "- second change",
                                              "- first change"]
    # no SRPM imported yet
    assert b1.getChangelogEntries(build_id) == []
    with pytest.raises(koji.GenericError, match="doesn't have srpms"):
        b1.getChangelogEntries(build_id, strict=True)
    b1.host.completeBuild(task_id, build_id, srpm, [])

    entries = b1.getChangelogEntries(build_id, queryOpts={"limit": 2})
    assert entries == [{"date": datetime.datetime.fromtimestamp(t).isoformat(" "),
                        "date_ts": t, "author": a, "text": x} for t, a, x in CHANGELOG[:2]]
    assert [e["date_ts"] for e in b1.getChangelogEntries(build_id, queryOpts={
        "order": "date"})] == sorted(t for t, _, _ in CHANGELOG)
    assert b1.getChangelogEntries(build_id, queryOpts={"countOnly": True}) == 3
    # the author is the whole changelog name line
    assert [e["text"] for e in b1.getChangelogEntries(build_id, author=CHANGELOG[1][1])] == [
        "- second change"]
    assert [e["text"] for e in b1.getChangelogEntries(build_id, before=1704110400)] == [
        "- first change"]
    assert [e["text"] for e in b1.getChangelogEntries(build_id, after="2024-01-02")] == [
        "- third change"]
    with pytest.raises(koji.GenericError, match="No such build: 999"):
        b1.getChangelogEntries(999, strict=True)
    with pytest.raises(koji.GenericError, match="either buildID or taskID"):
        b1.getChangelogEntries()
    with pytest.raises(koji.GenericError, match="Invalid filepath"):
        b1.getChangelogEntries(taskID=task_id, filepath="../x.src.rpm")


def test_list_hosts_by_channel_and_arch(hub, admin):
    admin.add_channel("special")
    b1 = builder(hub, admin, "b1")
    admin.add_host("b2", channels=("default", "special"))
    admin.add_host("b3", arches=("aarch64",), channels=("special",))
    admin.add_host("b4", enabled=False)
    assert [h["name"] for h in b1.listHosts()] == ["b1", "b2", "b3", "b4"]
    special = b1.listHosts(channelID="special")
    assert [h["name"] for h in special] == ["b2", "b3"]
    assert set(special[0]) == {"id", "user_id", "name", "update_ts", "ready", "task_load",
                               "arches", "capacity", "description", "comment", "enabled"}
    special_id = b1.getChannel("special")["id"]
    assert [h["name"] for h in b1.listHosts(channelID=special_id, arches=["aarch64"])] == ["b3"]
    assert b1.listHosts(arches=["x86"]) == []                # whole arch names only
    assert [h["name"] for h in b1.listHosts(arches="x86_64", enabled=True)] == ["b1", "b2"]
    assert [h["name"] for h in b1.listHosts(enabled=False)] == ["b4"]
    assert [h["name"] for h in b1.listHosts(userID="b3")] == ["b3"]
    with pytest.raises(koji.GenericError, match="No such entry in table channels: nosuch"):
        b1.listHosts(channelID="nosuch")
    with pytest.raises(koji.GenericError, match="arches option cannot be empty"):
        b1.listHosts(arches=[])


def test_a_subtask_assigned_to_a_host_goes_to_that_host(hub, admin):
    admin.add_channel("special")
    b1 = builder(hub, admin, "b1")
    b2 = builder(hub, admin, "b2")
    b3 = builder(hub, admin, "b3")
    admin.set_host("b3", channels=["special"], arches=["aarch64"])
    parent = admin.create_task("restartHosts", [{}])
    admin.assign(parent, "b1")
    b1.host.openTask(parent)
    b3_id = b3.host.getID()
    host = b1.getHost(b3_id)
    first = b1.host.subtask("restart", [host], parent, label=f"restart {b3_id}", assign=b3_id)
    second = b1.host.subtask("restartVerify", [first, host], parent,
                             label=f"sleep {b3_id}", assign="b3")
    info = admin.task(first)
    # ASSIGNED to b3, in the parent's channel (default), which b3 is not in
    assert (info["state"], info["host_id"], info["channel_id"], info["parent"]) == (
        koji.TASK_STATES["ASSIGNED"], b3_id, b1.getChannel("default")["id"], parent)
    assert [t["id"] for t in b2.host.getTasks()] == []
    assert [t["id"] for t in b3.host.getTasks()] == [first, second]
    assert b2.host.openTask(first) is None
    assert b3.host.openTask(first)["state"] == koji.TASK_STATES["OPEN"]
    # the same label again: the same task
    assert b1.host.subtask("restart", [host], parent, label=f"restart {b3_id}",
                           assign=b3_id) == first
    with pytest.raises(koji.GenericError, match="Invalid hostInfo: nosuch"):
        b1.host.subtask("restart", [host], parent, assign="nosuch")
    with pytest.raises(koji.ActionNotAllowed, match="The owner option is not allowed here"):
        b1.host.subtask("restart", [host], parent, owner="kojiadmin")


def test_get_user_and_latest_builds(hub, admin):
    site(admin)
    alice = user_session(hub, "alice")
    alice_id = admin._user_id("alice")
    me = {"id": alice_id, "name": "alice", "status": 0, "usertype": 0, "krb_principals": []}
    assert alice.getUser("alice") == me
    assert alice.getUser() == me                             # the logged-in user
    assert alice.getUser(alice_id, krb_princs=False) == {
        k: v for k, v in me.items() if k != "krb_principals"}
    assert alice.getUser({"name": "alice"}, groups=True) == dict(me, groups=[])
    assert alice.getUser("nosuch") is None
    with pytest.raises(koji.GenericError, match="No such user: 'nosuch'"):
        alice.getUser("nosuch", strict=True)
    anonymous = koji.ClientSession(hub.url, CLIENT_OPTS)
    with pytest.raises(koji.GenericError, match="No user provided"):
        anonymous.getUser()
    assert alice.getLoggedInUser()["krb_principal"] is None

    first = admin.add_build("alpha-1.0-1")
    second = admin.add_build("alpha-1.0-2")
    admin.add_tag_inheritance("f40-build", "f40")
    admin.tag_build("f40", first)
    admin.tag_build("f40", second)
    assert [b["build_id"] for b in alice.getLatestBuilds("f40-build")] == [second]
    assert [b["build_id"] for b in alice.getLatestBuilds(admin.tag("f40")["id"],
                                                         package="alpha")] == [second]
    with pytest.raises(koji.GenericError, match="No such entry in table tag: nosuch"):
        alice.getLatestBuilds("nosuch")
