"""Hostile builds: what a packager could submit, against the root daemon, the
host and the other builds.  Each ends FAILED or CLOSED with a clear reason,
the host's secret never reaches the hub, the daemon never stalls, nothing is
left running."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration import hostile
from tests.integration.build_site import TAG, Site
from tests.integration.conftest import containers_of, sh
from tests.integration.daemon_support import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    from tests.conftest import require
    from tests.integration.conftest import in_test_host

    require(in_test_host(), "needs the test host")
    with tempfile.TemporaryDirectory(prefix="adjutant-hostile-") as tmp:
        site = Site(Path(tmp), hostile=True)
        try:
            yield site
        finally:
            site.close()


def hub_files(site: Site, task_id: int) -> dict[str, bytes]:
    """Everything the hub received for the task."""
    where = site.upload(task_id, "x").parent
    return {p.name: p.read_bytes() for p in where.glob("*") if p.is_file()} \
        if where.is_dir() else {}


def assert_nothing_leaked(site: Site, task_id: int) -> None:
    secret = hostile.SECRET_TEXT.encode()
    for name, data in hub_files(site, task_id).items():
        assert secret not in data, f"the host's secret reached the hub as {name}"
    assert Path(hostile.HOST_SECRET).read_text().strip() == hostile.SECRET_TEXT
    assert site.daemon.active()
    assert not containers_of(task_id)


def reason(site: Site, task_id: int) -> str:
    return str(site.result(task_id))


def test_links_fifos_and_hard_links_in_the_results_are_refused(site: Site):
    task_id = site.build_arch(site.srpm_of("hostile-links"), arch="noarch")
    assert site.wait_done(task_id, timeout=240) == "FAILED"
    text = reason(site, task_id)
    assert "hostile-links-1.0-1.adj1.noarch.rpm is a symbolic link; refused" in text, text
    files = hub_files(site, task_id)
    # each planted file was refused by name, not read; the plain logs were sent
    journal = site.daemon.journal()
    assert "installed_pkgs.log is a symbolic link; refused" in journal
    assert "checkout.log is a FIFO; refused" in journal
    assert "hw_info.log has 2 hard links; refused" in journal
    assert "checkout.log" not in files
    assert "build.log" in files and "state.log" in files
    assert_nothing_leaked(site, task_id)
    # the daemon did not stall on the FIFO: it still takes and closes work
    again = site.build_arch(site.srpm_of("plain-build"), arch="noarch")
    assert site.wait_done(again) == "CLOSED", site.result(again)


def test_the_build_user_is_unprivileged_and_a_setuid_root_shell_gives_it_nothing(site: Site):
    task_id = site.build_arch(site.srpm_of("hostile-suid"), arch="noarch")
    assert site.wait_done(task_id) == "CLOSED", site.result(task_id)
    build_log = site.upload(task_id, "build.log").read_text()
    assert "PARSE UID 1000" in build_log and "BUILD UID 1000" in build_log
    assert "-rwsr-xr-x 1 root root" in build_log  # root's %post did make it
    assert "SETUID SHELL EUID 1000" in build_log
    assert "NoNewPrivs:\t1" in build_log
    assert "CapEff:\t0000000000000000" in build_log
    # a user namespace: uid 0 inside is a subordinate uid outside, never root,
    # and the build user's 1000 is that plus 1000, no host account
    [uid_map] = [line for line in build_log.splitlines() if line.startswith("UID MAP ")]
    inside, outside, count = (int(n) for n in uid_map.split()[2:5])
    assert inside == 0 and outside >= 100_000 and count >= 1001, uid_map
    assert_nothing_leaked(site, task_id)


@pytest.mark.parametrize("name,missing", [
    ("path-requires", "/mnt/koji/packages/evil/1.0/1/noarch/evil-1.0-1.noarch.rpm"),
    ("generated-path", "/builddir/build/SOURCES/evil-payload-1.0-1.noarch.rpm"),
    ("url-requires", "file:///adjutant/input.src.rpm"),
])
def test_a_requirement_is_a_dependency_never_a_file_to_install(site: Site, name, missing):
    task_id = site.build_arch(site.srpm_of(name), arch="noarch")
    assert site.wait_done(task_id) == "FAILED"
    text = reason(site, task_id)
    assert "could not install the" in text and missing in text, text
    root_log = site.upload(task_id, "root.log").read_text()
    assert "evil-payload" not in root_log.split("No matching package")[0]
    assert "@commandline" not in root_log
    assert_nothing_leaked(site, task_id)


def test_the_tags_environment_and_macros_reach_rpmbuild_only(site: Site):
    for key, value in hostile.PRELOAD_ENV.items():
        site.admin.set_tag_extra(TAG, **{key: value})
    try:
        repo_id = site.new_repo()  # its event sees the extras
    finally:
        site.admin.remove_tag_extra(TAG, *hostile.PRELOAD_ENV)
    task_id = site.build_arch(site.srpm_of("plain-build"), arch="noarch", repo_id=repo_id)
    assert site.wait_done(task_id) == "CLOSED", site.result(task_id)
    root_log = site.upload(task_id, "root.log").read_text()
    build_log = site.upload(task_id, "build.log").read_text()
    assert "adjutant-preload.so" not in root_log  # root's dnf never had it
    assert "LD_PRELOAD=/nonexistent/adjutant-preload.so" in build_log  # rpmbuild did
    # root's rpm read its own database, not the tag's %_dbpath
    listed = {r["name"] for r in site.admin.buildroot_rpms(site.result(task_id)["brootid"])}
    assert "bash" in listed


@pytest.mark.parametrize("url,words", [
    ("git+ext::sh -c touch% /tmp/pwned#main", "git"),
    ("git+https://10.88.0.1/rpms/../forks/x.git#main", "not in the list of allowed SCMs"),
])
def test_scm_urls_refused_as_kojid_refuses_them(site: Site, url, words):
    task_id = site.admin.create_task("buildSRPMFromSCM", [url, TAG, {"repo_id": site.repo_id}])
    assert site.wait_done(task_id) == "FAILED"
    assert words in reason(site, task_id)
    assert not Path("/tmp/pwned").exists()


def test_the_daemon_survives_malformed_hub_answers(site: Site):
    for method, answer in [("host.getHostTasks", None), ("host.getTasks", "12"),
                           ("host.getHost", {"id": 1}), ("host.getTasks", [{"id": "12"}])]:
        site.admin.mangle(method, answer, times=2)
        wait_for(lambda m=method: site.admin.mangled_left(m) == 0, 30,
                 f"the daemon to meet a mangled {method}")
        assert site.daemon.active()
    assert sh("systemctl", "show", "-p", "NRestarts", "--value",
              site.daemon.unit).stdout.strip() in ("", "0")
    journal = site.daemon.journal()
    assert "the hub answered host.getHostTasks with None" in journal
    assert "Traceback" not in journal
    task_id = site.build_arch(site.srpm_of("plain-build"), arch="noarch")
    assert site.wait_done(task_id) == "CLOSED", site.result(task_id)
