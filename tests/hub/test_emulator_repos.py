"""Tests of the emulator's repo life cycle (tests/hub/repos.py): newRepo and
kojira's repo.checkQueue make newRepo tasks, the task's host.repoInit writes
the repo directory from the tag's content (inheritance, blocked packages,
groups), host.repoDone moves the uploaded repodata in and makes the repo
READY, and the read calls kojid's newRepo uses (getFullInheritance,
getExternalRepoList, getRepo, repoInfo), driven by koji's ClientSession.
The rpms are rows without files (HubAdmin.add_rpm_info): no rpmbuild."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from xml.etree import ElementTree

import koji
import pytest

from tests.hub.test_emulator_builds import CLIENT_OPTS, builder

REPO_OPTS = {"src": False, "debuginfo": False, "separate_src": False, "maven": False}


def user_session(hub, admin, name, *perms):
    admin.add_user(name, password="pw-" + name)
    for perm in perms:
        admin.grant_permission(name, perm)
    s = koji.ClientSession(hub.url, dict(CLIENT_OPTS, user=name, password="pw-" + name))
    s.login()
    return s


def open_new_repo_task(admin, s, host_name, args=("f40-build",)):
    """A newRepo task in createrepo, OPEN on the host."""
    task_id = admin.create_task("newRepo", list(args), channel="createrepo", priority=15)
    admin.assign(task_id, host_name)
    assert s.host.openTask(task_id)["state"] == koji.TASK_STATES["OPEN"]
    return task_id


def tagged_build(admin, tag, nvr, *arches):
    """A build tagged in the tag, with an rpm row per arch ("name.arch" for a
    subpackage).  Returns {arch or name.arch: rpm id}."""
    build_id = admin.add_build(nvr)
    rpms = {}
    for arch in arches:
        name, _, rpm_arch = arch.rpartition(".")
        rpms[arch] = admin.add_rpm_info(build_id, rpm_arch, name=name or None)
    admin.tag_build(tag, build_id)
    return rpms


def lines(path: Path) -> list:
    return path.read_text().splitlines()


def rpm_path(nvr, arch, name=None):
    """The pkglist line of an rpm of the build (toplink/<build dir>/<rpm path>)."""
    b = koji.parse_NVR(nvr)
    return (f"toplink/packages/{b['name']}/{b['version']}/{b['release']}/{arch}/"
            f"{name or b['name']}-{b['version']}-{b['release']}.{arch}.rpm")


def request_of(admin, task_id) -> list:
    """The task's arguments as the hub stored them (getTaskRequest)."""
    return list(admin.task(task_id)["request"])


@pytest.fixture
def inherited_tag(admin):
    """f40-build (x86_64, aarch64) inheriting from f40-base:

    - alpha: 1.0-1 then 1.1-1 in f40-base, 0.9-1 in f40-build (the nearer tag wins)
    - beta 2.0-1 in f40-base (x86_64, aarch64, src, and a debuginfo)
    - gamma 1-1 in f40-base, blocked in f40-build
    - delta 3-1 in f40-build (x86_64, and ppc64le the tag does not have)
    - groups: build (bash from f40-base, make added in f40-build), srpm-build
      blocked in f40-build
    """
    admin.add_tag("f40-base", arches=("x86_64",))
    admin.add_tag("f40-build", arches=("x86_64", "aarch64"))
    admin.add_tag_inheritance("f40-build", "f40-base", priority=10)
    for name in ("alpha", "beta", "gamma"):
        admin.add_package("f40-base", name)
    admin.add_package("f40-build", "delta")
    admin.add_package("f40-build", "gamma", block=True)
    rpms = {}
    rpms["alpha-1.0-1"] = tagged_build(admin, "f40-base", "alpha-1.0-1", "noarch")
    rpms["alpha-1.1-1"] = tagged_build(admin, "f40-base", "alpha-1.1-1", "noarch")
    rpms["beta-2.0-1"] = tagged_build(admin, "f40-base", "beta-2.0-1", "x86_64", "aarch64",
                                      "src", "beta-debuginfo.x86_64")
    rpms["gamma-1-1"] = tagged_build(admin, "f40-base", "gamma-1-1", "noarch")
    rpms["alpha-0.9-1"] = tagged_build(admin, "f40-build", "alpha-0.9-1", "src", "noarch")
    before_delta = admin.last_event()
    rpms["delta-3-1"] = tagged_build(admin, "f40-build", "delta-3-1", "x86_64", "ppc64le")
    admin.add_group("f40-base", "build", ["bash"])
    admin.add_group("f40-base", "srpm-build", ["rpm-build"])
    admin.add_group_package("f40-build", "build", "make")
    admin.add_group("f40-build", "srpm-build", block=True)
    return {"rpms": rpms, "before_delta": before_delta}


# -- host.repoInit ------------------------------------------------------------------

def test_repo_init_writes_the_tags_content_with_inheritance(hub, admin, inherited_tag):
    rpms = inherited_tag["rpms"]
    b1 = builder(hub, admin, "b1")
    tag_id = admin.tag("f40-build")["id"]
    task_id = open_new_repo_task(admin, b1, "b1")
    last_change = b1.tagLastChangeEvent("f40-build")
    # kojid NewRepoTask: host.repoInit(tinfo['id'], opts=None, task_id=<its task>)
    repo_id, event_id = b1.host.repoInit(tag_id, opts=None, task_id=task_id)
    assert event_id > last_change   # a new event for the repo

    info = b1.repoInfo(repo_id)
    assert (info["state"], info["tag_id"], info["tag_name"], info["task_id"],
            info["create_event"], info["dist"]) == (
        koji.REPO_INIT, tag_id, "f40-build", task_id, event_id, False)
    assert info["opts"] == REPO_OPTS and info["custom_opts"] == {}
    assert (info["begin_event"], info["end_event"]) == (last_change, None)
    assert info["task_state"] == koji.TASK_STATES["OPEN"]
    # an INIT repo is not what getRepo or repo.get give
    assert b1.getRepo("f40-build") is None
    assert b1.getRepo("f40-build", state=koji.REPO_INIT)["id"] == repo_id
    assert b1.repo.get("f40-build") is None

    repodir = admin.repo_dir("f40-build", repo_id)
    assert repodir == Path(hub.topdir) / "repos" / "f40-build" / str(repo_id)
    assert sorted(p.name for p in repodir.iterdir()) == [
        "aarch64", "groups", "repo.json", "x86_64"]
    assert json.loads((repodir / "repo.json").read_text()) == {
        "id": repo_id, "tag": "f40-build", "tag_id": tag_id, "task_id": task_id,
        "event_id": event_id, "opts": REPO_OPTS, "custom_opts": {}, "with_src": False,
        "with_separate_src": False, "with_debuginfo": False}
    # f40-build's builds first (alpha 0.9 hides f40-base's alpha 1.1), then f40-base's;
    # gamma is blocked, delta's ppc64le is not an arch of the tag, no src, no debuginfo
    assert lines(repodir / "x86_64" / "pkglist") == [
        rpm_path("alpha-0.9-1", "noarch"), rpm_path("delta-3-1", "x86_64"),
        rpm_path("beta-2.0-1", "x86_64")]
    assert lines(repodir / "aarch64" / "pkglist") == [
        rpm_path("alpha-0.9-1", "noarch"), rpm_path("beta-2.0-1", "aarch64")]
    entries = [json.loads(line) for line in lines(repodir / "x86_64" / "rpmlist.jsonl")]
    assert [e["id"] for e in entries] == [
        rpms["alpha-0.9-1"]["noarch"], rpms["delta-3-1"]["x86_64"], rpms["beta-2.0-1"]["x86_64"]]
    expected = {k: v for k, v in admin.rpm(rpms["beta-2.0-1"]["x86_64"]).items()
                if k not in ("external_repo_id", "external_repo_name")}
    assert entries[2] == expected
    for arch in ("x86_64", "aarch64"):
        archdir = repodir / arch
        assert sorted(p.name for p in archdir.iterdir()) == [
            "blocklist", "pkglist", "rpmlist.jsonl", "toplink"]
        assert lines(archdir / "blocklist") == ["gamma"]
        assert os.path.samefile(archdir / "toplink", hub.topdir)

    # groups with inheritance: build has f40-base's bash and f40-build's make,
    # srpm-build is blocked in f40-build
    comps = ElementTree.parse(repodir / "groups" / "comps.xml").getroot()
    groups = {g.findtext("id"): [p.text for p in g.iter("packagereq")]
              for g in comps.findall("group")}
    assert groups == {"build": ["bash", "make"]}

    # at an earlier event, with other options: delta not yet tagged; src in its own
    # directory (and only there), debuginfo included; the custom options recorded
    task2 = open_new_repo_task(admin, b1, "b1")
    early, early_event = b1.host.repoInit(
        "f40-build", task_id=task2, event=inherited_tag["before_delta"],
        opts={"separate_src": True, "debuginfo": True, "src": None})
    assert early_event == inherited_tag["before_delta"]
    rinfo = admin.repo(early)
    assert rinfo["create_event"] == early_event
    assert rinfo["custom_opts"] == {"separate_src": True, "debuginfo": True}
    assert rinfo["opts"] == dict(REPO_OPTS, separate_src=True, debuginfo=True)
    earlydir = admin.repo_dir("f40-build", early)
    assert sorted(p.name for p in earlydir.iterdir()) == [
        "aarch64", "groups", "repo.json", "src", "x86_64"]
    assert lines(earlydir / "src" / "pkglist") == [
        rpm_path("alpha-0.9-1", "src"), rpm_path("beta-2.0-1", "src")]
    assert lines(earlydir / "x86_64" / "pkglist") == [
        rpm_path("alpha-0.9-1", "noarch"), rpm_path("beta-2.0-1", "x86_64"),
        rpm_path("beta-2.0-1", "x86_64", name="beta-debuginfo")]
    repo_json = json.loads((earlydir / "repo.json").read_text())
    assert (repo_json["with_separate_src"], repo_json["with_debuginfo"],
            repo_json["with_src"]) == (True, True, False)
    assert admin.count_calls("host.repoInit", task_id=task2) == 1


def test_repo_init_refusals(hub, admin, inherited_tag):
    b1 = builder(hub, admin, "b1")
    b2 = builder(hub, admin, "b2")
    task_id = open_new_repo_task(admin, b2, "b2")
    # the task is b2's: b1 may not make a repo for it (the emulator's check)
    with pytest.raises(koji.ActionNotAllowed,
                       match=rf"^emulator: host \d+ does not own task {task_id} "):
        b1.host.repoInit("f40-build", task_id=task_id)
    # nor for a task nobody opened yet
    free = admin.create_task("newRepo", ["f40-build"], channel="createrepo")
    with pytest.raises(koji.ActionNotAllowed, match=f"does not own task {free} "):
        b2.host.repoInit("f40-build", task_id=free)
    with pytest.raises(koji.ParameterError, match="Invalid type for value 'x'"):
        b2.host.repoInit("f40-build", task_id="x")
    with pytest.raises(koji.GenericError, match="No such tagInfo: 'nosuch'"):
        b2.host.repoInit("nosuch", task_id=task_id)
    with pytest.raises(koji.GenericError, match="query returned no rows"):
        b2.host.repoInit("f40-build", task_id=task_id, event=99999)
    with pytest.raises(koji.GenericError, match="Maven support not enabled"):
        b2.host.repoInit("f40-build", task_id=task_id, opts={"maven": True})
    # a user is not a host
    alice = user_session(hub, admin, "alice", "repo")
    with pytest.raises(koji.AuthError, match="is not a host"):
        alice.host.repoInit("f40-build")
    # nothing was made by the refused calls
    assert admin.conn.execute("SELECT COUNT(*) FROM repos").fetchone()[0] == 0
    assert not (Path(hub.topdir) / "repos" / "f40-build").exists()
    # unknown options are ignored (get_repo_opts converts the override leniently)
    repo_id, _ = b2.host.repoInit("f40-build", task_id=task_id, opts={"bogus": True})
    assert admin.repo(repo_id)["custom_opts"] == {}


# -- host.repoDone ------------------------------------------------------------------

def upload_repodata(s, tmp_path, task_id, names=("repomd.xml", "primary.xml.gz")) -> str:
    """Files uploaded to the task's directory, as kojid's createrepo does."""
    uploadpath = koji.pathinfo.taskrelpath(task_id)
    for name in names:
        local = tmp_path / f"up-{task_id}" / name
        local.parent.mkdir(exist_ok=True)
        local.write_text(f"{name} of task {task_id}\n")
        s.uploadWrapper(str(local), uploadpath, name)
    return uploadpath


def test_repo_done_makes_the_repo_ready_and_latest(hub, admin, tmp_path):
    admin.add_tag("f40-build", arches=("x86_64",))
    old = admin.add_repo("f40-build")
    assert admin.latest_repo("f40-build") == old
    admin.add_package("f40-build", "alpha")   # the tag changed since the old repo
    b1 = builder(hub, admin, "b1")
    request = b1.repo.request("f40-build", min_event="last")
    assert request["repo"] is None and request["request"]["active"] is True
    req_id = request["request"]["id"]

    task_id = open_new_repo_task(admin, b1, "b1")
    repo_id, _ = b1.host.repoInit("f40-build", task_id=task_id)
    uploadpath = upload_repodata(b1, tmp_path, task_id)
    b1.host.repoDone(repo_id, {"x86_64": [uploadpath, ["repomd.xml", "primary.xml.gz"]]},
                     repo_json_updates={"cloned_archs": [], "note": "emulator test"})

    repodata = admin.repo_dir("f40-build", repo_id, "x86_64") / "repodata"
    assert sorted(p.name for p in repodata.iterdir()) == ["primary.xml.gz", "repomd.xml"]
    assert (repodata / "repomd.xml").read_text() == f"repomd.xml of task {task_id}\n"
    workdir = Path(hub.topdir) / "work" / uploadpath
    assert not (workdir / "repomd.xml").exists() and not (workdir / "primary.xml.gz").exists()
    repo_json = json.loads((admin.repo_dir("f40-build", repo_id) / "repo.json").read_text())
    assert (repo_json["cloned_archs"], repo_json["note"], repo_json["id"]) == (
        [], "emulator test", repo_id)

    assert admin.repo(repo_id)["state"] == koji.REPO_READY
    assert admin.latest_repo("f40-build") == repo_id
    assert b1.getRepo("f40-build")["id"] == repo_id
    # 1.35+ repoDone no longer expires the older repos (kojira does)
    assert admin.repo(old)["state"] == koji.REPO_READY
    # the request has its repo (repo_done_hook)
    check = b1.repo.checkRequest(req_id)
    assert check["repo"]["id"] == repo_id
    assert (check["request"]["active"], check["request"]["repo_id"]) == (False, repo_id)

    # a repo with custom options is READY but not the latest (symlink_if_latest)
    task2 = open_new_repo_task(admin, b1, "b1")
    custom, _ = b1.host.repoInit("f40-build", task_id=task2, opts={"src": True})
    b1.host.repoDone(custom, {"x86_64": [upload_repodata(b1, tmp_path, task2), ["repomd.xml"]]})
    assert admin.repo(custom)["state"] == koji.REPO_READY
    assert admin.latest_repo("f40-build") == repo_id
    # expire (legacy): EXPIRED, the latest link unchanged
    task3 = open_new_repo_task(admin, b1, "b1")
    expired, _ = b1.host.repoInit("f40-build", task_id=task3)
    b1.host.repoDone(expired, {}, expire=True)
    assert admin.repo(expired)["state"] == koji.REPO_EXPIRED
    assert admin.latest_repo("f40-build") == repo_id


def test_repo_done_refusals(hub, admin, tmp_path):
    admin.add_tag("f40-build", arches=("x86_64",))
    b1 = builder(hub, admin, "b1")
    task_id = open_new_repo_task(admin, b1, "b1")
    repo_id, _ = b1.host.repoInit("f40-build", task_id=task_id)
    uploadpath = upload_repodata(b1, tmp_path, task_id)
    workdir = Path(hub.topdir) / "work" / uploadpath

    # an upload that is not there; the listed file that is there is not moved
    with pytest.raises(koji.GenericError,
                       match=f"^uploaded file missing: {re.escape(str(workdir))}/nosuch.xml$"):
        b1.host.repoDone(repo_id, {"x86_64": [uploadpath, ["repomd.xml", "nosuch.xml"]]})
    assert (workdir / "repomd.xml").exists()
    # a file name with a directory, or a parent
    for name in ("sub/repomd.xml", "..", "../repomd.xml"):
        with pytest.raises(koji.GenericError, match=r"^emulator: invalid repo file name"):
            b1.host.repoDone(repo_id, {"x86_64": [uploadpath, [name]]})
    with pytest.raises(koji.GenericError, match=r"^emulator: upload path outside work/"):
        b1.host.repoDone(repo_id, {"x86_64": ["../../etc", ["passwd"]]})
    # an arch the repo does not have
    with pytest.raises(koji.GenericError, match=r"^Repo arch directory missing: .*/ppc64le$"):
        b1.host.repoDone(repo_id, {"ppc64le": [uploadpath, ["repomd.xml"]]})
    with pytest.raises(koji.ParameterError, match="Invalid type for value"):
        b1.host.repoDone(repo_id, [uploadpath, ["repomd.xml"]])
    with pytest.raises(koji.GenericError, match="query returned no rows"):
        b1.host.repoDone(9999, {})
    assert admin.repo(repo_id)["state"] == koji.REPO_INIT
    assert not (admin.repo_dir("f40-build", repo_id, "x86_64") / "repodata").exists()

    b1.host.repoDone(repo_id, {"x86_64": [uploadpath, ["repomd.xml"]]})
    # only an INIT repo is finished (the state named as a number, as kojihub's text)
    with pytest.raises(koji.GenericError,
                       match=rf"^Repo {repo_id} not in INIT state \(got 1\)$"):
        b1.host.repoDone(repo_id, {})
    # a user is not a host
    alice = user_session(hub, admin, "alice", "repo")
    with pytest.raises(koji.AuthError, match="is not a host"):
        alice.host.repoDone(repo_id, {})


# -- newRepo and repo.checkQueue ------------------------------------------------------

def test_new_repo_makes_the_task(hub, admin):
    admin.add_tag("f40-build", arches=("x86_64",))
    createrepo = admin.conn.execute("SELECT id FROM channels WHERE name = 'createrepo'"
                                    ).fetchone()["id"]
    alice = user_session(hub, admin, "alice")
    with pytest.raises(koji.ActionNotAllowed,
                       match=r"^regen-repo permission required \(logged in as alice\)$"):
        alice.newRepo("f40-build")
    admin.grant_permission("alice", "regen-repo")
    task_id = alice.newRepo("f40-build")
    task = admin.task(task_id)
    assert (task["method"], task["channel_id"], task["priority"], task["arch"],
            task["state"], task["owner"], task["parent"]) == (
        "newRepo", createrepo, 15, "noarch", koji.TASK_STATES["FREE"],
        admin._user_id("alice"), None)
    assert request_of(admin, task_id) == ["f40-build"]
    assert (Path(hub.topdir) / "repos").is_dir()

    # the options given (legacy parameters of the task), the tag as given
    event = admin.last_event()
    tag_id = admin.tag("f40-build")["id"]
    task2 = alice.newRepo(tag_id, event=event, src=True, debuginfo=True, separate_src=True)
    assert request_of(admin, task2) == [
        tag_id, {"__starstar": True, "event": event, "src": True, "separate_src": True,
                 "debuginfo": True}]
    # false options are left out
    task3 = alice.newRepo("f40-build", src=False, debuginfo=0)
    assert request_of(admin, task3) == ["f40-build"]
    # the task handler's signature takes them (kojid NewRepoTask.handler)
    params = koji.tasks.parse_task_params("newRepo", request_of(admin, task2))
    assert params == {"tag": tag_id, "event": event, "src": True, "debuginfo": True,
                      "separate_src": True}

    with pytest.raises(koji.GenericError, match="No such tagInfo: 'nosuch'"):
        alice.newRepo("nosuch")
    # repo permission, or admin, do too
    bob = user_session(hub, admin, "bob", "repo")
    assert admin.task(bob.newRepo("f40-build"))["owner"] == admin._user_id("bob")
    made = admin.new_repo_task("f40-build", debuginfo=True)
    assert request_of(admin, made) == ["f40-build", {"__starstar": True, "debuginfo": True}]
    assert admin.task(made)["owner"] == admin._admin_id()
    anonymous = koji.ClientSession(hub.url, CLIENT_OPTS)
    with pytest.raises(koji.ActionNotAllowed, match=r"\(user not logged in\)"):
        anonymous.newRepo("f40-build")


def test_check_queue_makes_new_repo_tasks_for_requests(hub, admin, tmp_path):
    admin.add_tag("f40-build", arches=("x86_64",))
    tag_id = admin.tag("f40-build")["id"]
    createrepo = admin.conn.execute("SELECT id FROM channels WHERE name = 'createrepo'"
                                    ).fetchone()["id"]
    b1 = builder(hub, admin, "b1")
    req = b1.repo.request("f40-build")["request"]
    event = admin.last_event()
    at_req = b1.repo.request("f40-build", at_event=event, opts={"debuginfo": True})["request"]
    assert req["task_id"] is None and at_req["task_id"] is None

    alice = user_session(hub, admin, "alice")
    with pytest.raises(koji.ActionNotAllowed,
                       match=r"^repo permission required \(logged in as alice\)$"):
        alice.repo.checkQueue()
    kojira = user_session(hub, admin, "kojira", "repo")
    kojira.repo.checkQueue()

    first, second = admin.repo_requests("f40-build")
    assert (first["id"], second["id"]) == (req["id"], at_req["id"])
    assert first["task_id"] and second["task_id"] and first["tries"] == second["tries"] == 1
    task = admin.task(first["task_id"])
    assert (task["method"], task["channel_id"], task["priority"], task["owner"],
            task["state"]) == ("newRepo", createrepo, 15, admin._user_id("kojira"),
                               koji.TASK_STATES["FREE"])
    assert request_of(admin, task["id"]) == [{"id": tag_id, "name": "f40-build"},
                                             {"__starstar": True, "opts": {}}]
    assert request_of(admin, second["task_id"]) == [
        {"id": tag_id, "name": "f40-build"},
        {"__starstar": True, "opts": {"debuginfo": True}, "event": event}]
    # the handler's newer signature (tag, event, src, debuginfo, separate_src, opts)
    assert koji.tasks.parse_task_params("newRepo", request_of(admin, task["id"])) == {
        "tag": {"id": tag_id, "name": "f40-build"}, "opts": {}, "event": None, "src": None,
        "debuginfo": None, "separate_src": None}
    assert b1.repo.checkRequest(req["id"])["task"]["id"] == first["task_id"]
    # the tasks are active: no more tasks
    kojira.repo.checkQueue()
    assert [r["task_id"] for r in admin.repo_requests("f40-build")] == [
        first["task_id"], second["task_id"]]

    # a canceled task is retried with a new one
    admin.cancel(second["task_id"])
    admin.check_repo_queue()
    retried = admin.repo_requests("f40-build")[1]
    assert retried["task_id"] not in (None, second["task_id"]) and retried["tries"] == 2
    # checked by kojiadmin: the task is still RepoQueueUser's (kojira)
    assert admin.task(retried["task_id"])["owner"] == admin._user_id("kojira")

    # the first task run as kojid runs it: the request gets its repo
    admin.assign(first["task_id"], "b1")
    b1.host.openTask(first["task_id"])
    repo_id, _ = b1.host.repoInit(tag_id, opts={}, task_id=first["task_id"])
    uploadpath = upload_repodata(b1, tmp_path, first["task_id"], names=("repomd.xml",))
    b1.host.repoDone(repo_id, {"x86_64": [uploadpath, ["repomd.xml"]]})
    check = b1.repo.checkRequest(req["id"])
    assert check["repo"]["id"] == repo_id and check["request"]["active"] is False
    # the debuginfo request at its event is not satisfied by that repo
    assert b1.repo.checkRequest(at_req["id"])["repo"] is None


# -- the read calls kojid's newRepo and createrepo use ---------------------------------

def test_inheritance_read_calls(hub, admin, inherited_tag):
    admin.add_tag("f40-top", arches=None)
    admin.add_tag_inheritance("f40-base", "f40-top", priority=5, maxdepth=None)
    s = koji.ClientSession(hub.url, CLIENT_OPTS)
    ids = {name: admin.tag(name)["id"] for name in ("f40-build", "f40-base", "f40-top")}
    full = s.getFullInheritance("f40-build")
    assert [(link["parent_id"], link["child_id"], link["currdepth"], link["name"])
            for link in full] == [(ids["f40-base"], ids["f40-build"], 1, "f40-base"),
                                  (ids["f40-top"], ids["f40-base"], 2, "f40-top")]
    assert full[0] == {"parent_id": ids["f40-base"], "name": "f40-base", "priority": 10,
                       "maxdepth": None, "intransitive": False, "noconfig": False,
                       "pkg_filter": "", "child_id": ids["f40-build"], "nextdepth": None,
                       "currdepth": 1, "filter": []}
    assert s.getFullInheritance(ids["f40-build"]) == full
    reverse = s.getFullInheritance("f40-top", reverse=True)
    assert [(link["tag_id"], link["currdepth"]) for link in reverse] == [
        (ids["f40-base"], 1), (ids["f40-build"], 2)]
    assert s.getInheritanceData("f40-build") == [
        {k: full[0][k] for k in ("parent_id", "name", "priority", "maxdepth", "intransitive",
                                 "noconfig", "pkg_filter", "child_id")}]
    with pytest.raises(koji.ParameterError, match="stops option has been removed"):
        s.getFullInheritance("f40-build", stops={"1": 1})
    with pytest.raises(koji.GenericError, match="No such entry in table tag: nosuch"):
        s.getFullInheritance("nosuch")
    # at an event before the link: no parents
    assert s.getFullInheritance("f40-build", event=1) == []

    # listTagged / listPackages with inheritance, the package filter of a link
    assert [b["nvr"] for b in s.listTagged("f40-build", inherit=True, latest=True)] == [
        "delta-3-1", "alpha-0.9-1", "beta-2.0-1"]
    assert [b["nvr"] for b in s.listTagged("f40-build", latest=True)] == [
        "delta-3-1", "alpha-0.9-1"]
    assert s.checkTagPackage("f40-build", "beta") is True
    assert s.checkTagPackage("f40-build", "gamma") is False
    assert s.getPackageConfig("f40-build", "beta")["tag_name"] == "f40-base"
    admin.add_tag_inheritance("f40-build", "f40-base", priority=10, pkg_filter="^al")
    assert s.checkTagPackage("f40-build", "beta") is False
    assert {p["package_name"] for p in s.listPackages(tagID="f40-build", inherited=True)} == {
        "alpha", "delta", "gamma"}
    assert s.getFullInheritance("f40-build")[1]["filter"] == ["^al"]

    # getBuildConfig: arches and extra from the ancestors; external repos in order
    admin.set_tag_extra("f40-top", **{"rpm.macro.dist": ".fc40"})
    config = s.getBuildConfig("f40-build")
    assert config["extra"] == {"rpm.macro.dist": ".fc40"}
    assert config["config_inheritance"] == {
        "extra": {"rpm.macro.dist": {"id": ids["f40-top"], "name": "f40-top"}}, "arches": None}
    assert s.getBuildConfig("f40-top")["arches"] is None
    admin.add_external_repo("fedora", "https://example.com/fedora/$arch")
    admin.add_external_repo("updates", "https://example.com/updates/$arch")
    admin.add_tag_external_repo("f40-top", "fedora", 20, merge_mode="bare", arches="x86_64")
    admin.add_tag_external_repo("f40-build", "updates", 10)
    repos = s.getExternalRepoList("f40-build")
    assert [(r["external_repo_name"], r["tag_name"], r["priority"], r["merge_mode"],
             r["arches"]) for r in repos] == [
        ("updates", "f40-build", 10, "koji", None), ("fedora", "f40-top", 20, "bare", "x86_64")]
    assert repos[1]["url"] == "https://example.com/fedora/$arch/"

    groups = s.getTagGroups("f40-build")
    assert [(g["name"], g["tag_id"], sorted(p["package"] for p in g["packagelist"]))
            for g in groups] == [("build", ids["f40-base"], ["bash", "make"])]
    blocked = s.getTagGroups("f40-build", incl_blocked=True)
    assert {g["name"]: g["blocked"] for g in blocked} == {"build": False, "srpm-build": True}
