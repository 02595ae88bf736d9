"""Repo regeneration with adjutant as the only builder: newRepo and its
createrepo subtasks (createrepo_c, mergerepo_c in containers), taken by
adjutant's daemon from the hub emulator, as kojid's NewRepoTask and
CreaterepoTask run them; a later build installs from the repo they made."""

from __future__ import annotations

import bz2
import contextlib
import gzip
import json
import re
import shutil
import sqlite3
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import koji
import pytest

from tests.integration.build_site import Site
from tests.integration.conftest import IMAGE
from tests.integration.daemon_support import HOST, wait_for
from tests.integration.rpmrepo import Package, rpmbuild
from tests.integration.served import served_repo

pytestmark = pytest.mark.integration

REPO_TAG = "adj-repos"
TIMEOUT = 300


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    from tests.conftest import require
    from tests.integration.conftest import in_test_host

    require(in_test_host(), "needs the test host")
    with tempfile.TemporaryDirectory(prefix="adjutant-repos-") as tmp:
        site = Site(Path(tmp))
        try:
            admin = site.admin
            # the createrepo channel, where newRepo and createrepo tasks go
            admin.set_host(HOST, channels=("default", "createrepo"))
            admin.add_tag(REPO_TAG, arches=("x86_64",), extra={"rpm.macro.dist": ".adjr"})
            for group, packages in site.groups.items():
                admin.add_group(REPO_TAG, group, packages)
            # the distribution's builds, tagged as a site's base tag has them
            for srpm in site.distro.srpms:
                nvr = srpm.name[:-len(".src.rpm")]
                admin.add_package(REPO_TAG, nvr.rsplit("-", 2)[0])
                admin.tag_build(REPO_TAG, nvr)
            yield site
        finally:
            site.close()


def nvr_of(srpm: Path) -> str:
    return srpm.name[:-len(".src.rpm")]


def primary_names(repodata: Path) -> list[str]:
    """The package names of a repodata: its primary database, made by
    sqliterepo_c in a copy when the repodata has none (mergerepo_c's; the
    XML is zstd, which Python's stdlib cannot read).  The buildroot image's
    sqliterepo_c, which made the repodata's createrepo_c: Debian 12's 0.20
    cannot read what Debian 13's writes."""
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        copy = Path(tmp) / "repodata"
        shutil.copytree(repodata, copy)
        if not list(copy.glob("*-primary.sqlite.bz2")):
            subprocess.run(["podman", "run", "--rm", "--network=none", "-v", f"{tmp}:/repo",
                            IMAGE, "sqliterepo_c", "--quiet", "--compress-type", "bz2", "/repo"],
                           check=True)
        [database] = copy.glob("*-primary.sqlite.bz2")
        plain = Path(tmp) / "primary.sqlite"
        plain.write_bytes(bz2.decompress(database.read_bytes()))
        with contextlib.closing(sqlite3.connect(plain)) as conn:
            return sorted({row[0] for row in conn.execute("SELECT name FROM packages")})


def children(site: Site, task_id: int) -> dict[str, dict]:
    return {t["label"]: t for t in site.admin.tasks(parent=task_id)}


def regen(site: Site, **opts) -> tuple[int, dict]:
    """A newRepo task of the tag, run to its end: (repo id, its createrepo task)."""
    task_id = site.admin.new_repo_task(REPO_TAG, **opts)
    assert site.wait_done(task_id, TIMEOUT) == "CLOSED", site.result(task_id)
    repo_id, event_id = site.result(task_id)
    assert site.admin.repo(repo_id)["create_event"] == event_id
    subtasks = children(site, task_id)
    assert set(subtasks) == {"x86_64"}
    return repo_id, subtasks["x86_64"]


def test_new_repo_makes_the_tags_repodata_with_createrepo_per_arch(site: Site):
    repo_id, createrepo = regen(site)
    assert site.admin.repo(repo_id)["state"] == koji.REPO_READY
    assert site.admin.latest_repo(REPO_TAG) == repo_id
    assert createrepo["method"] == "createrepo"
    assert createrepo["arch"] == "noarch"
    assert createrepo["channel_id"] == site.admin._channel_id("createrepo")
    assert createrepo["state_name"] == "CLOSED"
    repodata = site.admin.repo_dir(REPO_TAG, repo_id, "x86_64") / "repodata"
    assert (repodata / "repomd.xml").is_file()
    expected = sorted({rpm.name.rsplit("-", 2)[0] for rpm in site.distro.rpms})
    assert primary_names(repodata) == expected
    # the groups went in: dnf reads comps from the repodata
    assert "<data type=\"group\">" in (repodata / "repomd.xml").read_text()
    # createrepo's log reached the hub
    log = site.upload(createrepo["id"], "createrepo.log").read_text()
    assert "createrepo_c" in log or "Pool started" in log, log[-2000:]


def test_a_regen_updates_the_old_repodata_and_a_build_installs_from_it(site: Site):
    first, _ = regen(site)
    # libgreet (libgreet-devel) into the tag: hello-docs BuildRequires it
    [libgreet] = [p for p in site.packages.repo_srpms if p.name.startswith("libgreet-")]
    site.admin.add_package(REPO_TAG, "libgreet")
    site.admin.tag_build(REPO_TAG, nvr_of(libgreet))
    second, createrepo = regen(site)
    assert second != first
    assert site.admin.latest_repo(REPO_TAG) == second
    request = site.admin.task(createrepo["id"])["request"]
    assert list(request[:2]) == [second, "x86_64"]
    assert request[2]["id"] == first  # the old repo, for --update
    # createrepo_c --update read the old repodata and took its packages from it
    log = site.upload(createrepo["id"], "createrepo.log").read_text()
    assert "Loaded information about 122 packages" in log, log[-3000:]
    assert "CACHE HIT bash-" in log
    repodata = site.admin.repo_dir(REPO_TAG, second, "x86_64") / "repodata"
    assert {"libgreet", "libgreet-devel"} <= set(primary_names(repodata))

    task_id = site.admin.create_task("buildArch", [
        f"srpms/{site.srpm_of('hello-docs')}", REPO_TAG, "x86_64", False,
        {"repo_id": second}], arch="x86_64")
    assert site.wait_done(task_id, TIMEOUT) == "CLOSED", site.result(task_id)
    brootid = site.result(task_id)["brootid"]
    installed = {r["name"] for r in site.admin.buildroot_rpms(brootid)}
    assert "libgreet-devel" in installed


def test_a_tag_with_an_external_repo_is_merged(site: Site, test_address: str):
    """An inheriting tag (the parent's builds and groups) with an external
    repo: createrepo, then mergerepo_c --koji with the external repo's URL."""
    [extra] = [p for p in rpmbuild(Package(name="from-outside").spec(), site.tmp / "outside")
               if p.name.endswith(".noarch.rpm")]
    tag = "adj-repos-ext"
    site.admin.add_tag(tag, arches=("x86_64",))
    site.admin.add_tag_inheritance(tag, REPO_TAG)
    with served_repo(site.tmp / "outside-www", [extra], test_address) as url:
        site.admin.add_external_repo("outside", url)
        site.admin.add_tag_external_repo(tag, "outside", 5)
        task_id = site.admin.new_repo_task(tag)
        assert site.wait_done(task_id, TIMEOUT) == "CLOSED", site.result(task_id)
    repo_id = site.result(task_id)[0]
    [createrepo] = site.admin.tasks(parent=task_id)
    repodata = site.admin.repo_dir(tag, repo_id, "x86_64") / "repodata"
    names = primary_names(repodata)
    assert "from-outside" in names
    assert "bash" in names  # the parent tag's
    [origins_file] = repodata.glob("*pkgorigins.gz")
    origins = gzip.decompress(origins_file.read_bytes()).decode()
    external = url.replace("$arch", "x86_64")
    assert re.search(rf"^from-outside-1\.0-1\S*\.noarch\s+{re.escape(external)}", origins,
                     re.M), origins
    assert site.upload(createrepo["id"], "mergerepos.log").is_file()


def test_a_host_without_the_repos_directory_refuses_new_repo(site: Site):
    """kojid's NewRepoTask: no <topdir>/repos (no /mnt/koji mount) refuses, so
    another host takes it."""
    elsewhere = site.tmp / "no-koji-here"
    elsewhere.mkdir()
    site.daemon.stop()
    site.write_config(topdir=elsewhere)
    site.daemon.start()
    task_id = site.admin.new_repo_task(REPO_TAG)
    try:
        wait_for(lambda: site.admin.refusals(task_id), 120, "the newRepo task to be refused")
        [refusal] = site.admin.refusals(task_id)
        assert refusal["msg"] == f"No access to repos dir {elsewhere / 'repos'}"
        assert refusal["host_name"] == HOST
        assert site.state(task_id) == "FREE"
    finally:
        site.admin.cancel(task_id)
        site.daemon.stop()
        site.write_config()
        site.daemon.start()


@contextlib.contextmanager
def kojira(site: Site) -> Iterator[None]:
    """kojira's part, while the body runs: the hub's queued repo requests
    become newRepo tasks (repo.checkQueue), as kojira asks every few seconds."""
    from tests.hub.admin import HubAdmin

    done = threading.Event()

    def loop() -> None:
        with HubAdmin(site.tmp / "hub.sqlite", topdir=site.topdir) as admin:
            while not done.wait(1.0):
                admin.check_repo_queue()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(30)


def test_a_chain_build_builds_its_second_level_against_the_first(site: Site, tmp_path: Path):
    """koji chain-build: level 0 built and tagged, a waitrepo until the build
    tag's repo (regenerated by newRepo, kojira asking) holds it, then level 1,
    whose BuildRequires is level 0's package."""
    import koji

    from tests.integration.gitrepo import served_git_package

    admin = site.admin
    dest, build_tag, target = "adj-chain", "adj-chain-build", "adj-chain-target"
    admin.add_tag(dest, arches=("x86_64",))
    admin.add_tag(build_tag, arches=("x86_64",), extra={"rpm.macro.dist": ".adjc"})
    admin.add_tag_inheritance(build_tag, dest, priority=0)
    admin.add_tag_inheritance(build_tag, REPO_TAG, priority=10)
    admin.add_target(target, build_tag, dest)
    for package in ("chain-base", "chain-user"):
        admin.add_package(dest, package)
    with served_git_package(tmp_path, "chain-base") as base, \
            served_git_package(tmp_path, "chain-user", build_requires=("chain-base",)) as user, \
            kojira(site):
        task_id = admin.create_task("chainbuild", [[[base], [user]], target, {}])
        assert site.wait_done(task_id, 900) == "CLOSED", site.result(task_id)
    subtasks = children(site, task_id)
    assert {label: t["method"] for label, t in subtasks.items()} == {
        "build 0,0": "build", "wait 1": "waitrepo", "build 1,0": "build"}
    assert all(t["state_name"] == "CLOSED" for t in subtasks.values())
    tagged = {b["name"]: b for b in admin.tagged(dest)}
    assert set(tagged) == {"chain-base", "chain-user"}
    user_build = admin.build(tagged["chain-user"]["build_id"])
    assert user_build["state"] == koji.BUILD_STATES["COMPLETE"]
    # chain-user was built in a buildroot holding chain-base, from the new repo
    [arch_task] = [t for t in admin.tasks(parent=subtasks["build 1,0"]["id"])
                   if t["method"] == "buildArch"]
    installed = {r["name"] for r in admin.buildroot_rpms(site.result(arch_task["id"])["brootid"])}
    assert "chain-base" in installed


def test_copy_old_repodata_takes_an_unchanged_arch_without_createrepo(site: Site):
    """kojid's copy_old_repodata: the tag's content, comps and options are
    those of its last repo, so newRepo copies its repodata, with no
    createrepo subtask, and repo.json says so."""
    first, _ = regen(site)
    site.daemon.stop()
    site.write_config(copy_old_repodata=True)
    site.daemon.start()
    try:
        task_id = site.admin.new_repo_task(REPO_TAG)
        assert site.wait_done(task_id, TIMEOUT) == "CLOSED", site.result(task_id)
    finally:
        site.daemon.stop()
        site.write_config()
        site.daemon.start()
    second = site.result(task_id)[0]
    assert site.admin.tasks(parent=task_id) == []
    old = site.admin.repo_dir(REPO_TAG, first, "x86_64") / "repodata"
    new = site.admin.repo_dir(REPO_TAG, second, "x86_64") / "repodata"
    assert sorted(p.name for p in new.iterdir()) == sorted(p.name for p in old.iterdir())
    assert (new / "repomd.xml").read_bytes() == (old / "repomd.xml").read_bytes()
    repo_json = json.loads((new.parent.parent / "repo.json").read_text())
    assert repo_json["cloned_from_repo_id"] == first
    assert repo_json["cloned_archs"] == ["x86_64"]


def test_a_repo_with_separate_src_has_its_src_arch(site: Site):
    """newRepo's opts reach repoInit; the hub writes a src arch, createrepo
    makes it too."""
    task_id = site.admin.new_repo_task(REPO_TAG, src=True, separate_src=True)
    assert site.wait_done(task_id, TIMEOUT) == "CLOSED", site.result(task_id)
    repo_id = site.result(task_id)[0]
    assert sorted(children(site, task_id)) == ["src", "x86_64"]
    src_names = primary_names(site.admin.repo_dir(REPO_TAG, repo_id, "src") / "repodata")
    assert {p.name.rsplit("-", 2)[0] for p in site.distro.srpms} <= set(src_names)
