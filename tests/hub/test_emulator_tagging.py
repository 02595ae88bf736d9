"""Tests of the emulator's package lists, tagging, policies and repo requests
(tests/hub/tagging.py, policy.py, repos.py), driven by koji's ClientSession
as a builder drives a hub.  The builds are empty (HubAdmin.add_build, as
createEmptyBuild makes them): no rpmbuild needed."""

from __future__ import annotations

import xmlrpc.client

import koji
import pytest

from tests.hub.test_emulator_builds import CLIENT_OPTS, builder


def tag_task(admin, s, host_name, *, owner="kojiadmin", args=(1, 1, False, None, False)):
    """A tagBuild task (as RootExports.tagBuild makes it), OPEN on the host."""
    task_id = admin.create_task("tagBuild", list(args), owner=owner, priority=10)
    admin.assign(task_id, host_name)
    assert s.host.openTask(task_id)["state"] == koji.TASK_STATES["OPEN"]
    return task_id


# -- package lists ------------------------------------------------------------------

def test_package_list_entries_are_versioned(hub, admin):
    tag_id = admin.add_tag("f40")
    admin.add_user("alice")
    before = admin.last_event()
    pkg_id = admin.add_package("f40", "alpha", owner="alice", extra_arches="x86_64 aarch64")
    s = koji.ClientSession(hub.url, CLIENT_OPTS)   # read calls need no login
    config = s.getPackageConfig("f40", "alpha")
    assert config == {"package_id": pkg_id, "package_name": "alpha", "tag_id": tag_id,
                      "tag_name": "f40", "extra_arches": "x86_64 aarch64", "blocked": False,
                      "owner_id": admin._user_id("alice"), "owner_name": "alice"}
    assert s.getPackageConfig(tag_id, pkg_id) == config
    # not listed, no such package, no such tag: None
    admin.add_package("f40", "beta")
    admin.remove_package("f40", "beta")
    assert s.getPackageConfig("f40", "beta") is None
    assert s.getPackageConfig("f40", "nosuch") is None
    assert s.getPackageConfig("nosuch", "alpha") is None
    # as of an event before the entry
    assert s.getPackageConfig("f40", "alpha", event=before) is None
    assert s.checkTagPackage("f40", "alpha") is True
    assert s.checkTagPackage("f40", "beta") is False

    # blocking is a new entry; the old one stays visible at its event
    listed = admin.last_event()
    admin.add_package("f40", "alpha", owner="alice", block=True)
    assert s.getPackageConfig("f40", "alpha")["blocked"] is True
    assert s.getPackageConfig("f40", "alpha", event=listed)["blocked"] is False
    assert s.checkTagPackage("f40", "alpha") is False
    # unblocking by adding again is refused (pkglist_add without force)
    with pytest.raises(koji.GenericError, match="package alpha is blocked in tag f40"):
        admin.add_package("f40", "alpha", owner="alice")
    # the same data again changes nothing
    last = admin.last_event()
    admin.add_package("f40", "alpha", owner="alice", block=True)
    assert admin.last_event() == last

    assert [p["package_name"] for p in s.listPackages(tagID="f40")] == ["alpha"]
    assert [p["package_name"] for p in s.listPackages(tagID="f40", with_blocked=False)] == []
    assert {p["package_name"] for p in s.listPackages()} == {"alpha", "beta"}
    assert s.listPackages(tagID="f40", queryOpts={"countOnly": True}) == 1
    with pytest.raises(koji.GenericError, match="No such entry in table tag: nosuch"):
        s.listPackages(tagID="nosuch")
    with pytest.raises(koji.GenericError, match="userID and with_owners=False"):
        s.listPackages(userID="alice", with_owners=False)
    with pytest.raises(koji.GenericError, match=r"Invalid architecture|Architecture can be"):
        admin.add_package("f40", "gamma", extra_arches="x86_64;rm")


# -- host.tagBuild ------------------------------------------------------------------

def test_host_tag_build(hub, admin):
    tag_id = admin.add_tag("f40")
    b1 = builder(hub, admin, "b1")
    build_id = admin.add_build("alpha-1.0-1")
    task_id = tag_task(admin, b1, "b1", args=(tag_id, build_id, False, None, False))

    # the package must be in the tag's list: the text names the tag as given
    with pytest.raises(koji.TagError, match=r"^Package alpha not in list for f40$"):
        b1.host.tagBuild(task_id, "f40", build_id)
    with pytest.raises(koji.TagError, match=rf"^Package alpha not in list for {tag_id}$"):
        b1.host.tagBuild(task_id, tag_id, build_id)
    # force needs an admin session (the host is not one): still refused
    with pytest.raises(koji.TagError, match="not in list"):
        b1.host.tagBuild(task_id, tag_id, build_id, force=True)
    admin.add_package("f40", "alpha")
    before = admin.last_event()
    b1.host.tagBuild(task_id, tag_id, build_id)
    [tagged] = b1.listTagged("f40")
    assert {"build_id", "id", "name", "version", "release", "epoch", "nvr", "package_name",
            "tag_id", "tag_name", "state", "task_id", "owner_name", "create_event",
            "creation_event_id", "volume_name", "draft"} <= set(tagged)
    assert (tagged["build_id"], tagged["nvr"], tagged["tag_name"], tagged["state"],
            tagged["owner_name"]) == (build_id, "alpha-1.0-1", "f40",
                                      koji.BUILD_STATES["COMPLETE"], "kojiadmin")
    event = tagged["create_event"]
    assert event > before and b1.tagLastChangeEvent("f40") == event
    assert b1.listTagged("f40", event=before) == []
    assert admin.tagged("f40") == b1.listTagged(tag_id)
    # tagged as the task's owner (kojiadmin), not the host
    [row] = admin.tag_listing("f40")
    assert row["creator_id"] == admin._admin_id()

    with pytest.raises(koji.TagError, match=r"^build alpha-1.0-1 already tagged \(f40\)$"):
        b1.host.tagBuild(task_id, "f40", build_id)
    # force retags: the old entry revoked, a new one at a new event
    b1.host.tagBuild(task_id, "f40", build_id, force=True)
    old, new = admin.tag_listing("f40")
    assert old["revoke_event"] == new["create_event"] > event

    # a build that is not COMPLETE may not be tagged, not even with force
    admin.add_package("f40", "beta")
    building = admin.add_build("beta-1.0-1", state="BUILDING")
    with pytest.raises(koji.TagError, match=r"^build beta-1.0-1 not complete: state BUILDING$"):
        b1.host.tagBuild(task_id, "f40", building, force=True)
    # a blocked package
    admin.add_package("f40", "gamma", block=True)
    gamma = admin.add_build("gamma-1.0-1")
    with pytest.raises(koji.TagError, match=r"^Package gamma blocked in f40$"):
        b1.host.tagBuild(task_id, "f40", gamma)
    with pytest.raises(koji.GenericError, match="No such build: 'nosuch-1-1'"):
        b1.host.tagBuild(task_id, "f40", "nosuch-1-1")
    with pytest.raises(koji.GenericError, match="No such tagInfo: 'nosuch'"):
        b1.host.tagBuild(task_id, "nosuch", build_id)

    # only the host that has the task OPEN
    b2 = builder(hub, admin, "b2")
    with pytest.raises(koji.ActionNotAllowed,
                       match=f"host {b2.host.getID()} does not own task {task_id}"):
        b2.host.tagBuild(task_id, "f40", build_id)
    assert admin.count_calls("host.tagBuild", task_id=task_id, ok=True) == 2


def test_move_build_and_locked_tags(hub, admin):
    admin.add_tag("f40-candidate")
    dest = admin.add_tag("f40")
    admin.add_user("alice")
    for tag in ("f40-candidate", "f40"):
        admin.add_package(tag, "alpha")
    build_id = admin.add_build("alpha-1.0-1", owner="alice")
    admin.tag_build("f40-candidate", build_id)
    b1 = builder(hub, admin, "b1")
    task_id = tag_task(admin, b1, "b1", owner="alice")
    # a move: fromtag by id becomes its name; untag and tag at one event
    b1.host.tagBuild(task_id, "f40", build_id, fromtag=admin.tag("f40-candidate")["id"])
    assert b1.listTagged("f40-candidate") == []
    [tagged] = b1.listTagged(dest)
    [old] = admin.tag_listing("f40-candidate")
    assert old["revoke_event"] == tagged["create_event"]
    assert old["revoker_id"] == admin._user_id("alice")
    # moving again: the build is no longer in the source tag
    with pytest.raises(koji.TagError, match=r"^build alpha-1.0-1 not in tag f40-candidate$"):
        b1.host.tagBuild(task_id, "f40", build_id, fromtag="f40-candidate")

    # a locked tag: only an admin owner with force
    admin.add_tag("f40-locked", locked=True)
    admin.add_package("f40-locked", "alpha")
    with pytest.raises(koji.ActionNotAllowed, match=r"^tag is locked$"):
        b1.host.tagBuild(task_id, "f40-locked", build_id, force=True)
    admin_task = tag_task(admin, b1, "b1", owner="kojiadmin")
    with pytest.raises(koji.ActionNotAllowed, match=r"^tag is locked$"):
        b1.host.tagBuild(admin_task, "f40-locked", build_id)
    b1.host.tagBuild(admin_task, "f40-locked", build_id, force=True)
    assert [b["nvr"] for b in b1.listTagged("f40-locked")] == ["alpha-1.0-1"]


def test_list_tagged_follows_the_package_list(hub, admin):
    admin.add_tag("f40")
    admin.add_package("f40", "alpha")
    first = admin.add_build("alpha-1.0-1")
    second = admin.add_build("alpha-1.0-2")
    other = admin.add_build("beta-1.0-1")
    for build in (first, second, other):
        admin.tag_build("f40", build)   # tagBuildBypass: no package list check
    s = koji.ClientSession(hub.url, CLIENT_OPTS)
    # beta is tagged but not listed: hidden (readTaggedBuilds)
    assert [b["nvr"] for b in s.listTagged("f40")] == ["alpha-1.0-2", "alpha-1.0-1"]
    assert [b["nvr"] for b in s.listTagged("f40", latest=True)] == ["alpha-1.0-2"]
    assert s.listTagged("f40", package="beta") == []
    admin.add_package("f40", "beta")
    assert [b["nvr"] for b in s.listTagged("f40", latest=True)] == ["beta-1.0-1", "alpha-1.0-2"]
    assert [b["nvr"] for b in s.listTagged("f40", prefix="BE")] == ["beta-1.0-1"]
    assert [b["nvr"] for b in s.listTagged("f40", owner="kojiadmin", package="beta")] == [
        "beta-1.0-1"]
    assert s.listTagged("f40", type="maven") == []
    assert len(s.listTagged("f40", type="rpm", inherit=True)) == 3
    with pytest.raises(koji.GenericError, match="unsupported build type: nosuch"):
        s.listTagged("f40", type="nosuch")
    assert s.listTagged("nosuch", strict=False) == []
    with pytest.raises(koji.GenericError, match="No such tagInfo: 'nosuch'"):
        s.listTagged("nosuch")
    assert s.listTagged("f40", extra=True)[0]["extra"] is None
    # blocking hides the package's builds again
    admin.add_package("f40", "alpha", block=True)
    assert [b["nvr"] for b in s.listTagged("f40")] == ["beta-1.0-1"]
    last = s.tagLastChangeEvent("f40")
    assert last == admin.last_event()
    assert s.tagLastChangeEvent("f40", before=last) < last
    with pytest.raises(koji.GenericError, match="No such tagInfo"):
        s.tagLastChangeEvent("nosuch")


def test_tag_notifications_are_recorded(hub, admin):
    b1 = builder(hub, admin, "b1")
    b1.host.tagNotification(True, 1, None, 7, 1)
    b1.host.tagNotification(False, "f40", "f39", "alpha-1-1", "alice", False, "TagError: nope")
    notes = admin.tag_notifications()
    assert [(n["is_successful"], n["tag_id"], n["from_id"], n["build_id"], n["user_id"],
             n["ignore_success"], n["failure_msg"]) for n in notes] == [
        (True, 1, None, 7, 1, False, ""),
        (False, "f40", "f39", "alpha-1-1", "alice", False, "TagError: nope")]
    assert notes[0]["host_id"] == b1.host.getID()
    # DisableNotifications: no tagNotification task
    assert admin.tasks(method="tagNotification") == []
    user = koji.ClientSession(hub.url, dict(CLIENT_OPTS, user="kojiadmin", password="kojiadmin"))
    user.login()
    user.exclusiveSession()
    with pytest.raises(koji.AuthError, match="is not a host"):
        user.host.tagNotification(True, 1, None, 7, 1)


# -- policies -----------------------------------------------------------------------

def test_tag_policy(hub, admin):
    admin.add_tag("f40")
    admin.add_package("f40", "alpha")
    admin.add_user("alice")
    build_id = admin.add_build("alpha-1.0-1")
    b1 = builder(hub, admin, "b1")
    task_id = tag_task(admin, b1, "b1", owner="alice")
    admin.set_policy("tag", "deny the freeze is on")
    with pytest.raises(koji.ActionNotAllowed,
                       match=r"^policy violation \(tag\): the freeze is on$"):
        b1.host.tagBuild(task_id, "f40", build_id)
    # force lets only an admin owner through
    with pytest.raises(koji.ActionNotAllowed, match=r"policy violation \(tag\)"):
        b1.host.tagBuild(task_id, "f40", build_id, force=True)
    admin_task = tag_task(admin, b1, "b1", owner="kojiadmin")
    b1.host.tagBuild(admin_task, "f40", build_id, force=True)
    # the policy data: operation, tag, user (the task's owner)
    admin.set_policy("tag", "operation move :: deny no moves\n"
                            "tag f40* && user alice :: allow\n"
                            "all :: deny")
    admin.untag_build("f40", build_id)
    b1.host.tagBuild(task_id, "f40", build_id)
    with pytest.raises(koji.ActionNotAllowed, match=r"^policy violation \(tag\): no moves$"):
        b1.host.tagBuild(task_id, "f40", build_id, fromtag="f40")
    with pytest.raises(koji.ActionNotAllowed, match=r"^policy violation \(tag\)$"):
        b1.host.tagBuild(admin_task, "f40", build_id)
    # back to the default: no tag policy at all, which MissingPolicyOk allows
    admin.set_policy("tag", None)
    b1.host.tagBuild(task_id, "f40", build_id, force=True)
    with pytest.raises(ValueError):
        admin.set_policy("channel", "allow")


def test_assert_policy_and_the_default_policies(hub, admin):
    admin.add_user("alice")
    b1 = builder(hub, admin, "b1")
    alice = admin._user_id("alice")
    # build_from_srpm: has_perm admin :: allow, else deny (the user: user_id)
    b1.host.assertPolicy("build_from_srpm", {"user_id": admin._admin_id()})
    b1.host.assertPolicy("build_from_srpm", {"user_id": "kojiadmin"})
    for data in ({"user_id": alice}, {"user_id": 999}, {}):
        # {}: the session's user, the host, is no admin either
        with pytest.raises(koji.ActionNotAllowed, match=(
                r"^policy violation \(build_from_srpm\): Only admin can do this via default"
                r" policy$")):
            b1.host.assertPolicy("build_from_srpm", data)
    with pytest.raises(koji.ActionNotAllowed, match=r"^policy violation \(build_from_repo_id\)"):
        b1.host.assertPolicy("build_from_repo_id", {"user_id": alice})
    with pytest.raises(koji.ActionNotAllowed, match=(
            r"^policy violation \(package_list\): Only admin/tag can do this via default"
            r" policy$")):
        b1.host.assertPolicy("package_list", {"user_id": alice})
    b1.host.assertPolicy("build_rpm", {"user_id": alice})
    # a policy the hub does not have: allowed (MissingPolicyOk)
    b1.host.assertPolicy("no_such_policy", {})
    assert b1.host.checkPolicy("no_such_policy", {}) == [True, "missing policy"]
    assert b1.host.checkPolicy("build_from_srpm", {"user_id": alice}) == [
        False, "Only admin can do this via default policy"]
    # a test's policy; nothing matched: the default
    admin.set_policy("build_rpm", "has_perm admin :: allow")
    with pytest.raises(koji.ActionNotAllowed,
                       match=r"^policy violation \(build_rpm\): not covered by policy$"):
        b1.host.assertPolicy("build_rpm", {"user_id": alice})
    b1.host.assertPolicy("build_rpm", {"user_id": alice}, "allow")
    admin.set_admin("alice")
    b1.host.assertPolicy("build_rpm", {"user_id": alice})
    # an action that is neither allow nor deny
    admin.set_policy("build_rpm", "all :: maybe")
    with pytest.raises(koji.ActionNotAllowed, match=r"\(build_rpm\): error in policy$"):
        b1.host.assertPolicy("build_rpm", {})
    assert b1.host.evalPolicy("build_rpm", {}) == "maybe"
    with pytest.raises(koji.GenericError, match="no such policy: no_such_policy"):
        b1.host.evalPolicy("no_such_policy", {})
    # a hub test the emulator cannot answer fails loudly
    admin.set_policy("build_rpm", "buildtag f40-build :: allow")
    with pytest.raises(koji.GenericError, match="emulator: policy test buildtag"):
        b1.host.assertPolicy("build_rpm", {"build_tag": 1})
    # the hub's RuleChecker copies the data: a string has no copy()
    with pytest.raises(xmlrpc.client.Fault, match="AttributeError"):
        b1.host.assertPolicy("build_rpm", "not a dict")
    with pytest.raises(koji.AuthError, match="is not a host"):
        s = koji.ClientSession(hub.url, dict(CLIENT_OPTS, user="kojiadmin", password="kojiadmin"))
        s.login()
        s.host.assertPolicy("build_rpm", {})


# -- repo requests (repo.request, repo.checkRequest, getRepo) --------------------------

def test_repo_request_and_check_request(hub, admin):
    tag_id = admin.add_tag("f40-build")
    b1 = builder(hub, admin, "b1")
    assert b1.getRepo("f40-build") is None
    check = b1.repo.request(tag_id)
    assert check["repo"] is None and check["duplicate"] is False
    req = check["request"]
    assert {"id", "tag_id", "tag_name", "min_event", "at_event", "opts", "priority", "active",
            "owner", "owner_name", "task_id", "tries", "repo_id", "create_ts"} <= set(req)
    assert (req["tag_id"], req["at_event"], req["opts"], req["priority"], req["active"],
            req["owner_name"], req["repo_id"]) == (tag_id, None, {}, koji.PRIO_DEFAULT, True,
                                                   "b1", None)
    # the same request again: the queued one (a duplicate)
    again = b1.repo.request("f40-build")
    assert again["duplicate"] is True and again["request"]["id"] == req["id"]
    assert b1.repo.checkRequest(req["id"]) == {"repo": None, "request": again["request"]}

    # a READY repo made now satisfies the request (repo_done_hook)
    repo_id = admin.add_repo("f40-build", arches=["x86_64"])
    done = b1.repo.checkRequest(req["id"])
    assert done["repo"] == b1.repoInfo(repo_id)
    assert done["request"]["repo_id"] == repo_id and done["request"]["active"] is False
    assert b1.repo.request(tag_id) == {"repo": b1.repoInfo(repo_id), "request": None,
                                       "duplicate": False}
    assert b1.getRepo(tag_id)["id"] == repo_id
    assert b1.repo.get(tag_id)["id"] == repo_id

    # "last": the tag changed after the repo, so a new request
    admin.add_package("f40-build", "alpha")
    last = b1.tagLastChangeEvent(tag_id)
    newer = b1.repo.request(tag_id, min_event="last")
    assert newer["repo"] is None and newer["request"]["min_event"] == last
    assert b1.repo.request(tag_id, min_event=last)["duplicate"] is True
    assert b1.getRepo(tag_id, min_event=last) is None
    # at an event: only a repo made at that event
    at_repo = b1.repo.request(tag_id, at_event=b1.repoInfo(repo_id)["create_event"])
    assert at_repo["repo"]["id"] == repo_id
    # force: a request even though a repo exists
    forced = b1.repo.request(tag_id, force=True, opts={"src": True})
    assert forced["request"]["opts"] == {"src": True}
    assert [r["id"] for r in admin.repo_requests("f40-build")] == [
        req["id"], newer["request"]["id"], forced["request"]["id"]]
    # a repo with custom opts is not one without them
    admin.add_repo("f40-build", arches=["x86_64"], opts={"src": True})
    assert b1.repo.checkRequest(forced["request"]["id"])["repo"] is not None
    assert b1.repo.checkRequest(newer["request"]["id"])["request"]["active"] is True
    assert b1.repo.request(tag_id)["repo"]["id"] == repo_id


def test_repo_request_refusals(hub, admin):
    tag_id = admin.add_tag("f40-build")
    b1 = builder(hub, admin, "b1")
    with pytest.raises(koji.ParameterError, match="The min_event and at_event options conflict"):
        b1.repo.request(tag_id, min_event=1, at_event=1)
    with pytest.raises(koji.ParameterError, match="Invalid event: 99999"):
        b1.repo.request(tag_id, min_event=99999)
    with pytest.raises(koji.ParameterError, match="Invalid repo option: nosuch"):
        b1.repo.request(tag_id, opts={"nosuch": True})
    with pytest.raises(koji.ParameterError, match="Repo opts must be a dictionary"):
        b1.repo.request(tag_id, opts=["src"])
    with pytest.raises(koji.GenericError, match="Maven support not enabled"):
        b1.repo.request(tag_id, opts={"maven": True})
    with pytest.raises(koji.ActionNotAllowed, match="only admins may create high-priority"):
        b1.repo.request(tag_id, priority=-1)
    with pytest.raises(koji.GenericError, match="No such request"):
        b1.repo.checkRequest(99999)
    with pytest.raises(koji.GenericError, match="No such tagInfo: 'nosuch'"):
        b1.repo.request("nosuch")
    anonymous = koji.ClientSession(hub.url, CLIENT_OPTS)
    with pytest.raises(koji.ActionNotAllowed, match="you must be logged in"):
        anonymous.repo.request(tag_id)
    with pytest.raises(koji.GenericError, match=r"Invalid method: repo\.nosuch"):
        anonymous.repo.nosuch()


def test_get_repo(hub, admin):
    admin.add_tag("f40-build")
    s = koji.ClientSession(hub.url, CLIENT_OPTS)
    first = admin.add_repo("f40-build", arches=["x86_64"])
    event = admin.repo(first)["create_event"]
    second = admin.add_repo("f40-build", arches=["x86_64"])
    assert s.getRepo("f40-build")["id"] == second
    admin.set_repo_state(second, "EXPIRED")
    assert s.getRepo("f40-build")["id"] == first
    assert s.getRepo("f40-build", state=koji.REPO_EXPIRED)["id"] == second
    # event: the newest made by then, in any state
    assert s.getRepo("f40-build", event=event)["id"] == first
    assert s.getRepo("f40-build", min_event=event + 1) is None
    assert s.getRepo("f40-build", dist=True) is None
    with pytest.raises(koji.GenericError, match="No such entry in table tag: nosuch"):
        s.getRepo("nosuch")
    with pytest.raises(koji.ParameterError):
        s.getRepo("f40-build", state="READY")


def test_forced_tag_by_an_admin_host_adds_the_package(hub, admin):
    admin.add_tag("f40")
    build_id = admin.add_build("alpha-1.0-1")
    b1 = builder(hub, admin, "b1")
    admin.set_admin("b1")   # the host's session has admin: force adds the package
    task_id = tag_task(admin, b1, "b1")
    with pytest.raises(koji.TagError, match="not in list"):
        b1.host.tagBuild(task_id, "f40", build_id)
    b1.host.tagBuild(task_id, "f40", build_id, force=True)
    config = b1.getPackageConfig("f40", "alpha")
    assert (config["blocked"], config["owner_name"]) == (False, "b1")
    [tagged] = b1.listTagged("f40")
    # the package entry and the tag entry: one event (the call's)
    assert b1.tagLastChangeEvent("f40") == tagged["create_event"]
    assert admin.package_config("f40", "alpha", event=tagged["create_event"] - 1) is None
