"""Tests of the emulator's RPM-build calls (tests/hub/builds.py), driven by koji's
ClientSession as a builder drives a hub: repos and tags, buildroots and their
rpm lists, external rpms, build import.

Real (tiny, noarch) rpms are built with rpmbuild; they need the rpm module and
rpmbuild (the test host has both).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import xmlrpc.client
from pathlib import Path

import koji
import pytest
import requests

from tests.hub.admin import HubAdmin, HubProcess

INIT, BUILDING, EXPIRED = (koji.BR_STATES[s] for s in ("INIT", "BUILDING", "EXPIRED"))
CLIENT_OPTS = {"max_retries": 3, "retry_interval": 0.2, "timeout": 60}

SPEC = """\
Name: {name}
Version: {version}
Release: {release}
Summary: emulator test package {name}
License: MIT
BuildArch: noarch
AutoReqProv: no

%description
A file and nothing else.

%install
mkdir -p %{{buildroot}}/usr/share/{name}
echo {name} > %{{buildroot}}/usr/share/{name}/README

%files
/usr/share/{name}/README
"""


def _need_rpm_tools() -> None:
    missing = [tool for tool in ("rpmbuild", "createrepo_c") if shutil.which(tool) is None]
    try:
        import rpm  # noqa: F401
    except ImportError:
        missing.append("python3-rpm")
    if missing:
        message = f"needs {', '.join(missing)} (run in the test host)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def packages(tmp_path_factory) -> dict:
    """{name: {"src": path, "noarch": path}} for alpha, beta, gamma 1.0-1."""
    _need_rpm_tools()
    top = tmp_path_factory.mktemp("rpmbuild")
    out = {}
    for name in ("alpha", "beta", "gamma"):
        spec = top / f"{name}.spec"
        spec.write_text(SPEC.format(name=name, version="1.0", release="1"))
        subprocess.run(["rpmbuild", "--quiet", "--define", f"_topdir {top}", "-ba", str(spec)],
                       check=True, stdout=subprocess.DEVNULL)
        out[name] = {"src": top / "SRPMS" / f"{name}-1.0-1.src.rpm",
                     "noarch": top / "RPMS" / "noarch" / f"{name}-1.0-1.noarch.rpm"}
    return out


def installed_entry(path: Path) -> dict:
    """An rpm as a builder reports it from the buildroot's rpmdb (kojid
    getPackageList: SIGMD5 as payloadhash, SIZE the installed size)."""
    import rpm

    ts = rpm.TransactionSet()
    ts.setVSFlags(rpm._RPMVSF_NOSIGNATURES | rpm._RPMVSF_NODIGESTS)
    with open(path, "rb") as fo:
        hdr = ts.hdrFromFdno(fo.fileno())
    return {"name": hdr[rpm.RPMTAG_NAME], "version": hdr[rpm.RPMTAG_VERSION],
            "release": hdr[rpm.RPMTAG_RELEASE], "epoch": hdr[rpm.RPMTAG_EPOCH],
            "arch": hdr[rpm.RPMTAG_ARCH], "payloadhash": hdr[rpm.RPMTAG_SIGMD5].hex(),
            "size": hdr[rpm.RPMTAG_SIZE], "buildtime": hdr[rpm.RPMTAG_BUILDTIME]}


@pytest.fixture
def hub(tmp_path):
    with HubProcess(tmp_path / "hub.db", tmp_path / "koji", scheduler=False) as proc:
        yield proc


@pytest.fixture
def admin(hub, tmp_path):
    with HubAdmin(hub.db) as a:
        yield a


def builder(hub, admin, name):
    admin.add_host(name, password="pw-" + name)
    s = koji.ClientSession(hub.url, dict(CLIENT_OPTS, user=name, password="pw-" + name))
    s.login()
    s.exclusiveSession()
    return s


def open_task(admin, s, host_name, method="buildArch", args=("pkg.src.rpm", "f40-build",
                                                              "x86_64", True, {})):
    task_id = admin.create_task(method, list(args), arch="x86_64")
    admin.assign(task_id, host_name)
    assert s.host.openTask(task_id)["state"] == koji.TASK_STATES["OPEN"]
    return task_id


def make_repo(admin, packages, names=("alpha", "beta"), tag="f40-build"):
    """The tag with its noarch rpms in a READY repo, with repodata."""
    admin.add_tag(tag, arches=("x86_64",), extra={"rpm.macro.dist": ".fc40"})
    ids = {}
    for name in names:
        admin.import_rpm(packages[name]["src"])
        ids[name] = admin.import_rpm(packages[name]["noarch"])
    repo_id = admin.add_repo(tag, rpms=list(ids.values()))
    admin.createrepo(repo_id)
    return repo_id, ids


# -- buildroots -------------------------------------------------------------------

def test_buildroot_life_cycle(hub, admin, packages):
    repo_id, ids = make_repo(admin, packages)
    b1 = builder(hub, admin, "b1")
    task_id = open_task(admin, b1, "b1")
    host_id = b1.host.getID()

    br = b1.host.newBuildRoot(repo_id, "x86_64", task_id=task_id)
    info = b1.getBuildroot(br)
    assert (info["state"], info["host_id"], info["task_id"], info["repo_id"]) == (
        INIT, host_id, task_id, repo_id)
    assert (info["arch"], info["container_arch"], info["container_type"], info["tag_name"]) == (
        "x86_64", "x86_64", "chroot", "f40-build")
    assert info["retire_event_id"] is None and info["create_event_id"] > 0
    assert info["repo_create_event_id"] == b1.repoInfo(repo_id)["create_event"]
    assert admin.buildroot(br) == info

    # the prepared group: alpha with the id from rpmlist.jsonl, beta by NVRA
    rpmlist = admin.repo_dir("f40-build", repo_id, "x86_64") / "rpmlist.jsonl"
    alpha_id = {json.loads(line)["name"]: json.loads(line)["id"]
                for line in rpmlist.read_text().splitlines()}["alpha"]
    alpha = dict(installed_entry(packages["alpha"]["noarch"]), id=alpha_id)
    beta = installed_entry(packages["beta"]["noarch"])
    with pytest.raises(koji.GenericError, match=f"buildroot {br} in wrong state {INIT}"):
        b1.host.updateBuildRootList(br, [beta])
    b1.host.setBuildRootList(br, [alpha, beta])
    listing = b1.getBuildrootListing(br)
    assert [(r["rpm_id"], r["name"], r["is_update"], r["external_repo_name"]) for r in listing] == [
        (ids["alpha"], "alpha", False, "INTERNAL"), (ids["beta"], "beta", False, "INTERNAL")]

    b1.host.setBuildRootState(br, "BUILDING")
    assert b1.getBuildroot(br)["state"] == BUILDING
    with pytest.raises(koji.GenericError, match=f"buildroot {br} in wrong state {BUILDING}"):
        b1.host.setBuildRootList(br, [alpha])
    # everything installed: alpha is already listed (skipped), gamma is new
    admin.import_rpm(packages["gamma"]["src"])
    gamma_id = admin.import_rpm(packages["gamma"]["noarch"])
    b1.host.updateBuildRootList(br, [alpha, installed_entry(packages["gamma"]["noarch"])],
                                task_id=task_id)
    assert [(r["name"], r["is_update"]) for r in admin.buildroot_rpms(br)] == [
        ("alpha", False), ("beta", False), ("gamma", True)]
    component = b1.listRPMs(componentBuildrootID=br)
    assert {r["id"]: r["is_update"] for r in component} == {
        ids["alpha"]: False, ids["beta"]: False, gamma_id: True}
    assert b1.listBuildroots(rpmID=gamma_id)[0]["id"] == br

    # kojid's updateBuildroots asks for its live buildroots
    live = [koji.BR_STATES[s] for s in ("INIT", "WAITING", "BUILDING")]
    assert [r["id"] for r in b1.listBuildroots(hostID=host_id, state=live)] == [br]
    b1.host.setBuildRootState(br, "EXPIRED")
    expired = b1.getBuildroot(br)
    assert expired["state"] == EXPIRED and expired["retire_event_id"] > info["create_event_id"]
    assert expired["retire_ts"] is not None
    assert b1.listBuildroots(hostID=host_id, state=live) == []
    assert [r["id"] for r in b1.listBuildroots(taskID=task_id)] == [br]
    assert b1.listBuildroots(taskID=task_id, queryOpts={"countOnly": True}) == 1
    # EXPIRED is final; expiring again is quietly accepted (a whitelisted retry)
    b1.host.setBuildRootState(br, "EXPIRED")
    with pytest.raises(koji.GenericError, match=f"buildroot {br} is EXPIRED"):
        b1.host.setBuildRootState(br, "BUILDING")
    with pytest.raises(koji.GenericError, match="Cannot change buildroot state to INIT"):
        b1.host.setBuildRootState(br, "INIT")
    with pytest.raises(koji.GenericError, match="no buildroot with ID: 999"):
        b1.host.setBuildRootState(999, "EXPIRED")
    assert b1.getBuildroot(999) is None
    with pytest.raises(koji.GenericError, match="No such buildroot: 999"):
        b1.getBuildroot(999, strict=True)


def test_unknown_internal_rpm_is_refused_and_nothing_recorded(hub, admin, packages):
    repo_id, ids = make_repo(admin, packages)
    b1 = builder(hub, admin, "b1")
    task_id = open_task(admin, b1, "b1")
    br = b1.host.newBuildRoot(repo_id, "x86_64", task_id=task_id)
    alpha = installed_entry(packages["alpha"]["noarch"])
    gamma = installed_entry(packages["gamma"]["noarch"])   # never imported
    with pytest.raises(koji.GenericError) as e:
        b1.host.setBuildRootList(br, [alpha, gamma])
    assert str(e.value) == f"No such rpm: {gamma!r}"
    # the call is one transaction: alpha was not recorded either
    assert admin.buildroot_rpms(br) == []
    # an id is trusted as given (no NVRA check), and must exist
    with pytest.raises(koji.GenericError, match=r"No such rpm: \{.*'id': 999"):
        b1.host.setBuildRootList(br, [dict(alpha, id=999)])
    # a missing NVRA field is the hub's KeyError; a non-dict entry its AttributeError
    with pytest.raises(xmlrpc.client.Fault, match=r"KeyError.*'arch'"):
        b1.host.setBuildRootList(br, [{"name": "alpha", "version": "1.0", "release": "1"}])
    with pytest.raises(xmlrpc.client.Fault, match="AttributeError"):
        b1.host.setBuildRootList(br, ["alpha-1.0-1.noarch"])
    # listing the same rpm twice violates buildroot_listing's unique key
    with pytest.raises(xmlrpc.client.Fault, match="UniqueViolation"):
        b1.host.setBuildRootList(br, [alpha, dict(alpha, id=ids["alpha"])])
    b1.host.setBuildRootList(br, [alpha])
    assert [r["rpm_id"] for r in admin.buildroot_rpms(br)] == [ids["alpha"]]


def test_external_rpms_with_a_location(hub, admin, packages):
    repo_id, _ = make_repo(admin, packages, names=("alpha",))
    erepo = admin.add_external_repo("fedora-40", "https://mirror.invalid/fedora/40/$arch")
    admin.add_tag_external_repo("f40-build", "fedora-40", priority=5)
    b1 = builder(hub, admin, "b1")
    repo = b1.repoInfo(repo_id)
    [ext] = b1.getExternalRepoList(repo["tag_id"], event=repo["create_event"] + 1)
    assert ext == {"external_repo_id": erepo, "external_repo_name": "fedora-40", "priority": 5,
                   "tag_id": repo["tag_id"], "tag_name": "f40-build",
                   "url": "https://mirror.invalid/fedora/40/$arch/", "merge_mode": "koji",
                   "arches": None}
    # at the repo's event the external repo was not there yet (tag_external_repos
    # is versioned)
    assert b1.getExternalRepoList("f40-build", event=repo["create_event"]) == []

    task_id = open_task(admin, b1, "b1")
    br = b1.host.newBuildRoot(repo_id, "x86_64", task_id=task_id)
    gamma = installed_entry(packages["gamma"]["noarch"])
    # kojid's markExternalRPMs: location = the external repo's id
    marked = dict(gamma, external_repo=ext, location=ext["external_repo_id"])
    b1.host.setBuildRootList(br, [installed_entry(packages["alpha"]["noarch"]), marked])
    [_, row] = admin.buildroot_rpms(br)
    assert (row["name"], row["external_repo_id"], row["external_repo_name"], row["build_id"]) == (
        "gamma", erepo, "fedora-40", None)
    stored = admin.rpm(row["rpm_id"])
    assert (stored["size"], stored["payloadhash"]) == (gamma["size"], gamma["payloadhash"])
    assert b1.getRPM("gamma-1.0-1.noarch@fedora-40")["id"] == row["rpm_id"]

    # the same external rpm in another buildroot is matched (by name too)
    br2 = b1.host.newBuildRoot(repo_id, "x86_64", task_id=task_id)
    b1.host.setBuildRootList(br2, [dict(gamma, location="fedora-40")])
    assert [r["rpm_id"] for r in admin.buildroot_rpms(br2)] == [row["rpm_id"]]
    br3 = b1.host.newBuildRoot(repo_id, "x86_64", task_id=task_id)
    changed = dict(gamma, payloadhash="0" * 32, location=erepo)
    with pytest.raises(koji.GenericError, match=(
            r"hash changed for external rpm: gamma-1.0-1.noarch@fedora-40 \("
            + gamma["payloadhash"] + " -> " + "0" * 32)):
        b1.host.setBuildRootList(br3, [changed])
    with pytest.raises(koji.GenericError, match="No such entry in table external_repo: nosuch"):
        b1.host.setBuildRootList(br3, [dict(gamma, location="nosuch")])
    missing = {k: v for k, v in gamma.items() if k != "size"}
    with pytest.raises(koji.GenericError, match="size field missing"):
        b1.host.setBuildRootList(br3, [dict(missing, location=erepo)])
    with pytest.raises(koji.GenericError, match="Invalid value for epoch: '1'"):
        b1.host.setBuildRootList(br3, [dict(gamma, epoch="1", location=erepo)])
    assert admin.buildroot_rpms(br3) == []


def test_only_the_owning_host_and_task_touch_a_buildroot(hub, admin, packages):
    repo_id, _ = make_repo(admin, packages, names=("alpha",))
    b1 = builder(hub, admin, "b1")
    b2 = builder(hub, admin, "b2")
    task_id = open_task(admin, b1, "b1")
    other_task = open_task(admin, b1, "b1")
    br = b1.host.newBuildRoot(repo_id, "x86_64", task_id=task_id)
    b1_id = b1.host.getID()
    alpha = installed_entry(packages["alpha"]["noarch"])
    for call in (lambda: b2.host.setBuildRootState(br, "BUILDING"),
                 lambda: b2.host.setBuildRootList(br, [alpha]),
                 lambda: b2.host.updateBuildRootList(br, [alpha])):
        with pytest.raises(koji.ActionNotAllowed,
                           match=f"Host {b2.host.getID()} not owner of buildroot {br}"):
            call()
    # with task_id, the task must be the buildroot's (and this host's, OPEN)
    with pytest.raises(koji.ActionNotAllowed,
                       match=f"Task {other_task} does not have lock on buildroot {br}"):
        b1.host.setBuildRootState(br, "BUILDING", task_id=other_task)
    b2_task = open_task(admin, b2, "b2")
    with pytest.raises(koji.ActionNotAllowed, match=f"host {b1_id} does not own task {b2_task}"):
        b1.host.setBuildRootList(br, [alpha], task_id=b2_task)
    assert b1.getBuildroot(br)["state"] == INIT and admin.buildroot_rpms(br) == []
    # a user that is not a host cannot call host.* at all
    user = koji.ClientSession(hub.url, dict(CLIENT_OPTS, user="kojiadmin", password="kojiadmin"))
    user.login()
    user.exclusiveSession()
    with pytest.raises(koji.AuthError, match="is not a host"):
        user.host.setBuildRootState(br, "EXPIRED")


def test_new_buildroot_checks(hub, admin, packages):
    repo_id, _ = make_repo(admin, packages, names=("alpha",))
    b1 = builder(hub, admin, "b1")
    b2 = builder(hub, admin, "b2")
    b1_id = b1.host.getID()
    # the task must be OPEN on this host: not just assigned, not another host's,
    # not finished
    assigned = admin.create_task("buildArch", [], arch="x86_64")
    admin.assign(assigned, "b1")
    with pytest.raises(koji.ActionNotAllowed, match=f"host {b1_id} does not own task {assigned}"):
        b1.host.newBuildRoot(repo_id, "x86_64", task_id=assigned)
    theirs = open_task(admin, b2, "b2")
    with pytest.raises(koji.ActionNotAllowed, match=f"does not own task {theirs}"):
        b1.host.newBuildRoot(repo_id, "x86_64", task_id=theirs)
    mine = open_task(admin, b1, "b1")
    b1.host.closeTask(mine, koji.xmlrpcplus.dumps((None,), methodresponse=1, allow_none=1))
    with pytest.raises(koji.ActionNotAllowed, match=f"does not own task {mine}"):
        b1.host.newBuildRoot(repo_id, "x86_64", task_id=mine)
    with pytest.raises(koji.GenericError, match="No such task: 424242"):
        b1.host.newBuildRoot(repo_id, "x86_64", task_id=424242)
    # the repo is only a foreign key; its state is not checked by the hub
    with pytest.raises(xmlrpc.client.Fault, match="ForeignKeyViolation") as e:
        b1.host.newBuildRoot(9999, "x86_64")
    assert e.value.faultCode == 1
    admin.set_repo_state(repo_id, "EXPIRED")
    br = b1.host.newBuildRoot(repo_id, "noarch")   # no task: allowed
    assert b1.getBuildroot(br)["task_id"] is None
    with pytest.raises(koji.GenericError, match=r"Architecture can be only \[a-zA-Z0-9_-\]"):
        b1.host.newBuildRoot(repo_id, "x86_64;rm")
    # the hub's signature: there is no ctype argument
    with pytest.raises(koji.ParameterError):
        b1.host.newBuildRoot(repo_id, "x86_64", ctype="rpm")
    assert [c["method"] for c in admin.calls("host.newBuildRoot", ok=True)] == [
        "host.newBuildRoot"]


# -- tags, repos, events ------------------------------------------------------------

def test_repo_info_tag_and_build_config(hub, admin, packages):
    repo_id, _ = make_repo(admin, packages, names=("alpha",))
    admin.add_target("f40", "f40-build")
    s = koji.ClientSession(hub.url, CLIENT_OPTS)   # read calls need no login
    repo = s.repoInfo(repo_id)
    assert {"id", "tag_id", "tag_name", "state", "create_event", "create_ts", "creation_time",
            "dist", "task_id"} <= set(repo)
    assert (repo["id"], repo["tag_name"], repo["state"], repo["dist"], repo["task_id"]) == (
        repo_id, "f40-build", koji.REPO_STATES["READY"], False, None)
    assert repo["opts"] == {"src": False, "debuginfo": False, "separate_src": False,
                            "maven": False} and repo["custom_opts"] == {}
    assert s.repoInfo(999) is None
    with pytest.raises(koji.GenericError, match="query returned no rows"):
        s.repoInfo(999, strict=True)

    tag = s.getTag("f40-build")
    assert tag == {"id": repo["tag_id"], "name": "f40-build", "perm_id": None, "perm": None,
                   "arches": "x86_64", "locked": False, "maven_support": False,
                   "maven_include_all": False, "extra": {"rpm.macro.dist": ".fc40"}}
    assert s.getTag(repo["tag_id"]) == tag
    assert s.getTag("nosuch") is None
    with pytest.raises(koji.GenericError, match="No such tagInfo: 'nosuch'"):
        s.getTag("nosuch", strict=True)

    # extra changed after the repo: the builder asks at the repo's event
    admin.set_tag_extra("f40-build", **{"rpm.macro.dist": ".fc40.1", "mock.new_chroot": 0})
    at_repo = s.getBuildConfig("f40-build", event=repo["create_event"])
    assert at_repo["extra"] == {"rpm.macro.dist": ".fc40"}
    assert at_repo["query_event"] == repo["create_event"]
    assert at_repo["config_inheritance"] == {"extra": {}, "arches": None}
    now = s.getBuildConfig(repo["tag_id"])
    assert now["extra"] == {"rpm.macro.dist": ".fc40.1", "mock.new_chroot": 0}
    assert "query_event" not in now
    admin.remove_tag_extra("f40-build", "mock.new_chroot")
    assert s.getTag("f40-build")["extra"] == {"rpm.macro.dist": ".fc40.1"}
    assert s.getTag("f40-build", event=1) is None  # the first event: no tag yet

    last = s.getLastEvent()
    assert last["id"] > repo["create_event"] and isinstance(last["ts"], float)
    assert s.getLastEvent(before=0, strict=False) is None
    assert s.getBuildTarget("f40") == {
        "id": 1, "name": "f40", "build_tag": repo["tag_id"], "dest_tag": repo["tag_id"],
        "build_tag_name": "f40-build", "dest_tag_name": "f40-build"}
    assert s.getChannel("default")["enabled"] is True
    with pytest.raises(koji.GenericError, match="No such build target: nope"):
        s.getBuildTarget("nope", strict=True)


def test_add_repo_layout_and_repodata(hub, admin, packages):
    admin.add_tag("el9-build", arches=("x86_64", "aarch64"))
    src_id = admin.import_rpm(packages["alpha"]["src"])
    alpha_id = admin.import_rpm(packages["alpha"]["noarch"])
    repo_id = admin.add_repo("el9-build", rpms=[alpha_id, src_id],
                             groups={"build": ["alpha"]})
    repodir = admin.repo_dir("el9-build", repo_id)
    topdir = Path(hub.topdir)
    assert repodir == topdir / "repos" / "el9-build" / str(repo_id)
    assert sorted(p.name for p in repodir.iterdir()) == [
        "aarch64", "groups", "repo.json", "x86_64"]
    info = json.loads((repodir / "repo.json").read_text())
    assert (info["id"], info["tag"], info["task_id"], info["event_id"]) == (
        repo_id, "el9-build", None, admin.repo(repo_id)["create_event"])
    assert (topdir / "repos" / "el9-build" / "latest").resolve() == repodir
    for arch in ("x86_64", "aarch64"):
        archdir = repodir / arch
        assert sorted(p.name for p in archdir.iterdir()) == [
            "blocklist", "pkglist", "rpmlist.jsonl", "toplink"]
        assert os.path.samefile(archdir / "toplink", topdir)
        # the srpm is left out (opts src is off)
        assert (archdir / "pkglist").read_text() == (
            "toplink/packages/alpha/1.0/1/noarch/alpha-1.0-1.noarch.rpm\n")
        [entry] = [json.loads(line) for line in (archdir / "rpmlist.jsonl").read_text()
                   .splitlines()]
        assert entry == {k: v for k, v in admin.rpm(alpha_id).items()
                         if k not in ("external_repo_id", "external_repo_name")}
        assert (archdir / "toplink" / "packages" / "alpha").is_dir()

    # the stored rpm: payloadhash is SIGMD5, size the file's size (import_rpm)
    stored = admin.rpm(alpha_id)
    sigmd5 = subprocess.run(["rpm", "-qp", "--qf", "%{SIGMD5}",
                             str(packages["alpha"]["noarch"])],
                            check=True, capture_output=True, text=True).stdout
    assert stored["payloadhash"] == sigmd5
    assert stored["size"] == packages["alpha"]["noarch"].stat().st_size
    assert admin.rpm(src_id)["arch"] == "src"
    build = admin.build("alpha-1.0-1")
    assert (build["state"], build["nvr"], build["owner_name"]) == (
        koji.BUILD_STATES["COMPLETE"], "alpha-1.0-1", "kojiadmin")
    # a binary rpm needs its build (its srpm imported first), as on the hub
    with pytest.raises(koji.GenericError, match="No such build"):
        admin.import_rpm(packages["beta"]["noarch"])

    # repodata as kojid's createrepo makes it; served through toplink
    admin.createrepo(repo_id)
    base = f"{hub.topurl}/repos/el9-build/{repo_id}/x86_64"
    assert requests.get(f"{base}/repodata/repomd.xml").status_code == 200
    rpm_file = requests.get(f"{base}/toplink/packages/alpha/1.0/1/noarch/alpha-1.0-1.noarch.rpm")
    assert rpm_file.content == packages["alpha"]["noarch"].read_bytes()
    # an EXPIRED or INIT repo is recorded as such
    expired = admin.add_repo("el9-build", state="EXPIRED", arches=["x86_64"])
    assert admin.repo(expired)["state"] == koji.REPO_STATES["EXPIRED"]
    assert (topdir / "repos" / "el9-build" / "latest").resolve() == repodir


# -- build import --------------------------------------------------------------------

def test_init_complete_and_fail_build(hub, admin, packages, tmp_path):
    repo_id, _ = make_repo(admin, packages, names=("beta",))
    b1 = builder(hub, admin, "b1")
    parent = open_task(admin, b1, "b1", method="build", args=("git://x#1", "f40", {}))
    child = open_task(admin, b1, "b1")
    br = b1.host.newBuildRoot(repo_id, "noarch", task_id=child)
    relpath = koji.pathinfo.taskrelpath(child)
    log = tmp_path / "build.log"
    log.write_text("built\n")
    for path in (packages["alpha"]["src"], packages["alpha"]["noarch"], log):
        b1.uploadWrapper(str(path), relpath)
    assert [p.name for p in admin.uploads(child)] == [
        "alpha-1.0-1.noarch.rpm", "alpha-1.0-1.src.rpm", "build.log"]

    data = {"name": "alpha", "version": "1.0", "release": "1", "epoch": None,
            "task_id": parent, "source": "git://x#abc", "extra": {"source": {"original_url":
                                                                           "git://x#1"}}}
    build_id = b1.host.initBuild(data)
    assert b1.host.initBuild(data) == build_id      # the same task again: the same build
    info = b1.getBuild(build_id)
    assert (info["state"], info["task_id"], info["owner_name"], info["extra"]) == (
        koji.BUILD_STATES["BUILDING"], parent, "kojiadmin", data["extra"])
    srpm = f"{relpath}/alpha-1.0-1.src.rpm"
    rpms = [f"{relpath}/alpha-1.0-1.noarch.rpm"]
    with pytest.raises(koji.GenericError, match=r"No such file: .*/work/tasks/.*/missing\.rpm"):
        b1.host.completeBuild(parent, build_id, srpm, [f"{relpath}/missing.rpm"])
    with pytest.raises(koji.GenericError, match="no buildroot with ID: 77"):
        b1.host.completeBuild(parent, build_id, srpm, rpms, {srpm: 77})
    done = b1.host.completeBuild(parent, build_id, srpm, rpms,
                                 {srpm: br, rpms[0]: br}, {"noarch": [f"{relpath}/build.log"]})
    assert done["state"] == koji.BUILD_STATES["COMPLETE"] and done["id"] == build_id
    built = b1.listRPMs(buildID=build_id)
    assert sorted((r["arch"], r["buildroot_id"]) for r in built) == [("noarch", br), ("src", br)]
    assert [r["arch"] for r in b1.listRPMs(buildrootID=br, queryOpts={"order": "arch"})] == [
        "noarch", "src"]
    topdir = Path(hub.topdir)
    builddir = topdir / "packages" / "alpha" / "1.0" / "1"
    assert (builddir / "noarch" / "alpha-1.0-1.noarch.rpm").is_file()
    assert (builddir / "data" / "logs" / "noarch" / "build.log").read_text() == "built\n"
    # the uploads became links to where they went
    assert (topdir / "work" / rpms[0]).is_symlink()
    with pytest.raises(koji.GenericError, match="Unable to complete build: state is COMPLETE"):
        b1.host.completeBuild(parent, build_id, srpm, rpms)
    with pytest.raises(koji.GenericError, match=f"cannot update build {build_id}, state: COMPLETE"):
        b1.host.failBuild(parent, build_id)

    # a second build fails; a third is scratch
    gamma = b1.host.initBuild(dict(data, name="gamma"))
    b1.host.failBuild(parent, gamma)
    assert b1.getBuild(gamma)["state"] == koji.BUILD_STATES["FAILED"]
    scratch_task = open_task(admin, b1, "b1")
    scratch_rel = koji.pathinfo.taskrelpath(scratch_task)
    for path in (packages["gamma"]["src"], packages["gamma"]["noarch"]):
        b1.uploadWrapper(str(path), scratch_rel)
    b1.host.moveBuildToScratch(parent, f"{scratch_rel}/gamma-1.0-1.src.rpm",
                               [f"{scratch_rel}/gamma-1.0-1.noarch.rpm"])
    assert sorted(p.name for p in (topdir / "scratch" / "kojiadmin" / f"task_{parent}")
                  .iterdir()) == ["gamma-1.0-1.noarch.rpm", "gamma-1.0-1.src.rpm"]
    # only the host that has the task OPEN
    b2 = builder(hub, admin, "b2")
    with pytest.raises(koji.ActionNotAllowed):
        b2.host.initBuild(dict(data, name="beta", task_id=parent))
    assert admin.count_calls("host.completeBuild", task_id=parent, ok=True) == 1
