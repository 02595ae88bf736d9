"""The whole `koji build`, with adjutant as the only builder: the parent task
(build), its SRPM, buildArch and tagBuild subtasks, all taken by adjutant's
daemon from the hub emulator, as kojid's BuildTask runs them."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.build_site import DIST, TAG, Site
from tests.integration.daemon_support import wait_for
from tests.integration.gitrepo import served_git_package

pytestmark = pytest.mark.integration

TARGET = "adj-target"
DEST = "adj-dest"
BUILD_TIMEOUT = 600


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    from tests.conftest import require
    from tests.integration.conftest import in_test_host

    require(in_test_host(), "needs the test host")
    with tempfile.TemporaryDirectory(prefix="adjutant-kojibuild-") as tmp:
        site = Site(Path(tmp))
        try:
            site.admin.add_tag(DEST, arches=("x86_64",))
            site.admin.add_target(TARGET, TAG, DEST)
            for package in ("greeter", "hello-docs", "pkgfromgit", "broken-build",
                            "slow-build"):
                site.admin.add_package(DEST, package)
            yield site
        finally:
            site.close()


def uploaded(site: Site, srpm: str) -> str:
    """An SRPM where `koji build` uploads it (work/cli-build/<unique>/)."""
    unique = f"{time.time():.6f}.{srpm}"
    directory = site.topdir / "work" / "cli-build" / unique
    directory.mkdir(parents=True)
    shutil.copy(site.topdir / "work" / "srpms" / srpm, directory / srpm)
    return f"cli-build/{unique}/{srpm}"


def children(site: Site, task_id: int) -> dict[str, dict]:
    """The subtasks of a task by label."""
    return {t["label"]: t for t in site.admin.tasks(parent=task_id)}


def test_a_scratch_build_of_an_uploaded_srpm(site: Site):
    src = uploaded(site, site.srpm_of("greeter"))
    task_id = site.admin.create_task("build", [src, TARGET, {"scratch": True}])
    assert site.wait_done(task_id, BUILD_TIMEOUT) == "CLOSED", site.result(task_id)
    assert site.result(task_id) is None  # kojid's BuildTask returns nothing
    subtasks = children(site, task_id)
    assert {label: t["method"] for label, t in subtasks.items()} == {
        "srpm": "rebuildSRPM", "x86_64": "buildArch"}
    assert all(t["state_name"] == "CLOSED" for t in subtasks.values())
    assert subtasks["x86_64"]["arch"] == "x86_64"
    # the first arch kept the SRPM it rebuilt: the build's SRPM
    arch_result = site.result(subtasks["x86_64"]["id"])
    assert [Path(p).name for p in arch_result["srpms"]] == [f"greeter-1.0-1{DIST}.src.rpm"]
    scratch = site.topdir / "scratch" / "kojiadmin" / f"task_{task_id}"
    assert sorted(p.name for p in scratch.iterdir() if p.is_file()) == [
        f"greeter-1.0-1{DIST}.src.rpm", f"greeter-1.0-1{DIST}.x86_64.rpm"]
    assert site.admin.count_calls("host.moveBuildToScratch", task_id, ok=True) == 1
    assert site.admin.count_calls("host.initBuild", task_id) == 0


def test_a_noarch_scratch_build_runs_one_buildarch_on_this_hosts_arch(site: Site):
    src = uploaded(site, site.srpm_of("hello-docs"))
    task_id = site.admin.create_task("build", [src, TARGET, {"scratch": True}])
    assert site.wait_done(task_id, BUILD_TIMEOUT) == "CLOSED", site.result(task_id)
    subtasks = children(site, task_id)
    assert set(subtasks) == {"srpm", "noarch"}
    assert subtasks["noarch"]["arch"] == "noarch"
    scratch = site.topdir / "scratch" / "kojiadmin" / f"task_{task_id}"
    assert f"hello-docs-1.0-1{DIST}.noarch.rpm" in {p.name for p in scratch.iterdir()}


def test_a_build_from_git_is_imported_and_tagged(site: Site, tmp_path: Path):
    import koji

    with served_git_package(tmp_path) as url:
        task_id = site.admin.create_task("build", [url, TARGET, {}])
        assert site.wait_done(task_id, BUILD_TIMEOUT) == "CLOSED", site.result(task_id)
    subtasks = children(site, task_id)
    assert {label: t["method"] for label, t in subtasks.items()} == {
        "srpm": "buildSRPMFromSCM", "noarch": "buildArch", "tag": "tagBuild"}
    assert all(t["state_name"] == "CLOSED" for t in subtasks.values())
    [build] = [b for b in site.admin.tagged(DEST) if b["name"] == "pkgfromgit"]
    info = site.admin.build(build["build_id"])
    assert info["state"] == koji.BUILD_STATES["COMPLETE"] and info["task_id"] == task_id
    assert info["source"].startswith(url.split("#")[0] + "#")  # the commit that was built
    assert info["extra"]["source"]["original_url"] == url
    assert (site.topdir / "packages" / "pkgfromgit" / "1.0" / f"1{DIST}" / "noarch"
            / f"pkgfromgit-1.0-1{DIST}.noarch.rpm").is_file()
    assert site.admin.count_calls("host.completeBuild", task_id, ok=True) == 1
    assert site.admin.count_calls("host.tagBuild", subtasks["tag"]["id"], ok=True) == 1


def test_a_package_not_in_the_destination_tag_fails_before_building(site: Site):
    src = uploaded(site, site.srpm_of("needs-missing"))
    task_id = site.admin.create_task("build", [src, TARGET, {}])
    assert site.wait_done(task_id, BUILD_TIMEOUT) == "FAILED"
    assert site.result(task_id).faultString == f"package needs-missing not in list for tag {DEST}"
    assert site.admin.count_calls("host.initBuild", task_id) == 0


def test_a_failed_arch_fails_the_build_with_its_reason(site: Site):
    import koji

    src = uploaded(site, site.srpm_of("broken-build"))
    task_id = site.admin.create_task("build", [src, TARGET, {}])
    assert site.wait_done(task_id, BUILD_TIMEOUT) == "FAILED"
    subtasks = children(site, task_id)
    assert set(subtasks) == {"srpm", "noarch"}  # no tagBuild
    assert subtasks["noarch"]["state_name"] == "FAILED"
    # the build's fault is its failed arch's own, as kojid's
    fault = site.result(task_id).faultString
    assert fault == site.result(subtasks["noarch"]["id"]).faultString
    assert fault.startswith("rpmbuild failed")
    assert site.admin.count_calls("host.failBuild", task_id, ok=True) == 1
    build = site.admin.build(f"broken-build-1.0-1{DIST}")
    assert build["state"] == koji.BUILD_STATES["FAILED"] and build["task_id"] == task_id
    assert [b for b in site.admin.tagged(DEST) if b["name"] == "broken-build"] == []


def test_one_arch_failing_cancels_the_others_and_fails_the_build(site: Site):
    """x86_64 and i686 from a tag whose i386 repo has no i686 packages (the test
    distribution is x86_64 only): i686 fails setting up its buildroot, and
    its failure cancels x86_64 (kojid's failany), whose reason is the build's."""
    tag, target = "adj-build-two", "adj-target-two"
    site.admin.add_tag(tag, arches=("x86_64", "i686"), extra={"rpm.macro.dist": DIST})
    site.admin.add_target(target, tag, DEST)
    repo_id = site.admin.add_repo(tag, rpms=site.repo_rpm_names(), groups=site.groups)
    site.admin.createrepo(repo_id)
    src = uploaded(site, site.srpm_of("greeter"))
    task_id = site.admin.create_task("build", [src, target, {"scratch": True}])
    assert site.wait_done(task_id, BUILD_TIMEOUT) == "FAILED"
    subtasks = children(site, task_id)
    assert subtasks["i686"]["arch"] == "i386"  # the canonical arch, for the scheduler
    assert subtasks["i686"]["state_name"] == "FAILED"
    assert subtasks["x86_64"]["state_name"] == "CANCELED"
    fault = site.result(task_id).faultString
    assert fault == site.result(subtasks["i686"]["id"]).faultString
    assert fault.startswith("could not set up the buildroot"), fault
    assert site.admin.count_calls("host.moveBuildToScratch", task_id) == 0


def test_a_build_survives_the_daemon_killed_while_its_arches_build(site: Site):
    import koji

    src = uploaded(site, site.slow_srpm.name)
    task_id = site.admin.create_task("build", [src, TARGET, {}])

    def arch_log() -> str:
        arch = children(site, task_id).get("noarch")
        log = site.upload(arch["id"], "build.log") if arch else None
        return log.read_text() if log and log.exists() else ""

    wait_for(lambda: "HALFWAY THERE" in arch_log(), BUILD_TIMEOUT, "the noarch build to run")
    site.daemon.kill()
    site.daemon.start()
    assert site.wait_done(task_id, BUILD_TIMEOUT) == "CLOSED", site.result(task_id)
    labels = [t["label"] for t in site.admin.tasks(parent=task_id)]
    assert sorted(labels) == ["noarch", "srpm", "tag"]  # no subtask twice
    for method in ("host.initBuild", "host.completeBuild"):
        assert site.admin.count_calls(method, task_id, ok=True) == 1, method
    build = site.admin.build(f"slow-build-1.0-1{DIST}")
    assert build["state"] == koji.BUILD_STATES["COMPLETE"]
    assert [b["nvr"] for b in site.admin.tagged(DEST) if b["name"] == "slow-build"] == [
        f"slow-build-1.0-1{DIST}"]


def test_a_tag_policy_refusal_fails_the_build_and_tells_the_hub_why(site: Site):
    import koji

    site.admin.set_policy("tag", "deny no tagging today")
    try:
        src = uploaded(site, site.srpm_of("hello-docs"))
        task_id = site.admin.create_task("build", [src, TARGET, {}])
        assert site.wait_done(task_id, BUILD_TIMEOUT) == "FAILED"
    finally:
        site.admin.set_policy("tag", None)
    tag_task = children(site, task_id)["tag"]
    assert tag_task["state_name"] == "FAILED"
    fault = site.result(task_id).faultString
    assert fault == site.result(tag_task["id"]).faultString
    assert "policy violation (tag)" in fault and "no tagging today" in fault, fault
    # the build itself was imported (tagging is after completeBuild, as kojid's)
    build = site.admin.build(f"hello-docs-1.0-1{DIST}")
    assert build["state"] == koji.BUILD_STATES["COMPLETE"]
    [note] = [n for n in site.admin.tag_notifications() if n["build_id"] == build["id"]]
    assert note["is_successful"] is False and "no tagging today" in note["failure_msg"]



def srpm_for_kill_test(site: Site, name: str) -> str:
    from tests.integration.rpmrepo import Package, rpmbuild

    [srpm] = rpmbuild(Package(name=name).spec(), site.tmp / "kill-tests", binary=False)
    shutil.copy(srpm, site.topdir / "work" / "srpms" / srpm.name)
    site.admin.add_package(DEST, name)
    return uploaded(site, srpm.name)


@pytest.mark.parametrize("call", ["host.initBuild", "host.completeBuild"])
def test_a_build_survives_the_daemon_killed_while_the_hub_takes_a_call(site: Site, call: str):
    """The daemon dies while the hub is answering initBuild (or completeBuild):
    the call takes effect on the hub, and the next daemon finds it there
    instead of calling again (which the hub refuses), and the build ends
    once, COMPLETE and tagged."""
    import koji

    name = "killed-at-" + call.split(".")[1].lower()
    src = srpm_for_kill_test(site, name)
    site.admin.slow_down(call, 8)
    task_id = site.admin.create_task("build", [src, TARGET, {}])
    # ended early (a failed build) or reached the slowed call; ASSIGNED, between
    # FREE and OPEN, is neither
    wait_for(lambda: site.admin.slowed_left(call) == 0
             or site.state(task_id) in ("CLOSED", "FAILED", "CANCELED"),
             BUILD_TIMEOUT, f"{call} to be called")
    assert site.admin.slowed_left(call) == 0, site.result(task_id)
    site.daemon.kill()
    wait_for(lambda: site.admin.count_calls(call, task_id, ok=True) == 1, 60,
             f"the hub to finish {call}")
    site.daemon.start()
    assert site.wait_done(task_id, BUILD_TIMEOUT) == "CLOSED", site.result(task_id)
    assert sorted(t["label"] for t in site.admin.tasks(parent=task_id)) == [
        "noarch", "srpm", "tag"]
    for method in ("host.initBuild", "host.completeBuild"):
        assert site.admin.count_calls(method, task_id, ok=True) == 1, method
    build = site.admin.build(f"{name}-1.0-1{DIST}")
    assert build["state"] == koji.BUILD_STATES["COMPLETE"]
    assert [b["nvr"] for b in site.admin.tagged(DEST) if b["name"] == name] == [
        f"{name}-1.0-1{DIST}"]


@contextlib.contextmanager
def mail_through(site: Site, smtphost: str) -> Iterator[None]:
    """The hub notifying (DisableNotifications off) and the daemon mailing
    through `smtphost`; both as before afterwards."""
    site.admin.set_hub_options(DisableNotifications=False)
    site.daemon.stop()
    site.write_config(smtphost=smtphost, from_addr="Koji <koji@koji.example>")
    site.daemon.start()
    try:
        yield
    finally:
        site.admin.set_hub_options(DisableNotifications=True)
        site.daemon.stop()
        site.write_config()
        site.daemon.start()


def notification_task(site: Site, method: str, after: int) -> dict:
    wait_for(lambda: [t for t in site.admin.tasks(method=method) if t["id"] > after], 120,
             f"the hub's {method} task")
    [task] = [t for t in site.admin.tasks(method=method) if t["id"] > after]
    return task


def test_the_build_and_tag_mails_reach_the_smtp_server(site: Site):
    from tests.smtpsink import SmtpSink

    name = "mail-ok"
    src = srpm_for_kill_test(site, name)
    site.admin.add_user("watcher")
    site.admin.add_notification("watcher", package=name)
    with SmtpSink() as smtp, mail_through(site, smtp.address):
        build_task = site.admin.create_task("build", [src, TARGET, {}])
        assert site.wait_done(build_task, BUILD_TIMEOUT) == "CLOSED", site.result(build_task)
        mail_task = notification_task(site, "buildNotification", build_task)
        assert site.wait_done(mail_task["id"], 120) == "CLOSED", site.result(mail_task["id"])
        # koji tag-build: a tagBuild task that mails on success too
        build = site.admin.build(f"{name}-1.0-1{DIST}")
        other = site.admin.add_tag("adj-mail-dest", arches=("x86_64",))
        site.admin.add_package("adj-mail-dest", name)
        tag_task = site.admin.create_task("tagBuild", [other, build["id"], False, None, False])
        assert site.wait_done(tag_task, 120) == "CLOSED", site.result(tag_task)
        tag_mail = notification_task(site, "tagNotification", tag_task)
        assert site.wait_done(tag_mail["id"], 120) == "CLOSED", site.result(tag_mail["id"])
        mails = smtp.sink.wait_for(2, timeout=30)
    by_subject = {m.data.split("Subject: ", 1)[1].split("\r\n", 1)[0]: m for m in mails}
    nvr = f"{name}-1.0-1{DIST}"
    build_mail = by_subject[f"Package: {nvr} Tag: {DEST} Status: complete Built by: kojiadmin"]
    assert "watcher@koji.example" in build_mail.recipients
    assert f"Task Info: http://koji.example/koji/taskinfo?taskID={build_task}" in build_mail.data
    assert "Closed tasks:" in build_mail.data and "buildArch" in build_mail.data
    tag_mail_text = by_subject[f"{nvr} successfully tagged into adj-mail-dest by kojiadmin"]
    assert "X-Koji-Tag: adj-mail-dest" in tag_mail_text.data
    assert build_mail.sender == "koji@koji.example"


def test_a_dead_smtp_server_fails_the_mail_and_never_the_build(site: Site):
    import socket

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{unused.getsockname()[1]}"
    name = "mail-dead"
    src = srpm_for_kill_test(site, name)
    site.admin.add_notification("kojiadmin", package=name)
    with mail_through(site, dead):
        build_task = site.admin.create_task("build", [src, TARGET, {}])
        assert site.wait_done(build_task, BUILD_TIMEOUT) == "CLOSED", site.result(build_task)
        mail_task = notification_task(site, "buildNotification", build_task)
        assert site.wait_done(mail_task["id"], 120) == "FAILED"
    fault = site.result(mail_task["id"]).faultString
    assert f"cannot send mail through smtphost {dead}" in fault, fault
    assert site.admin.build(f"{name}-1.0-1{DIST}")["state"] == 1  # koji.BUILD_STATES COMPLETE
