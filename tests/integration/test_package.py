"""The RPM: packaging/make-dist's tarball built by rpmbuild with
packaging/adjutant.spec (Fedora's packaging macros stood in for by
fedora-compat.macros: the test host is Debian), its file list, and the
installed package running: adjutant.service as shipped, started by systemd,
takes a task from the hub emulator; `rpm -e` leaves no unit behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import sh
from tests.integration.daemon_support import (
    HOST,
    PASSWORD,
    main_pid,
    stop_task_units,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CONFIG = Path("/etc/kojid/kojid.conf")
UNITS = Path("/usr/lib/systemd/system")


@pytest.fixture(scope="module")
def built_rpm() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="adjutant-rpm-") as tmp:
        top = Path(tmp)
        made = sh(str(REPO / "packaging" / "make-dist"), str(top / "SOURCES"))
        assert Path(made.stdout.strip()).is_file(), made.stderr
        # the stand-in macros as the build's ~/.rpmmacros: rpmbuild reads its
        # macro files again for the build target, and would drop a --load
        home = top / "home"
        home.mkdir()
        shutil.copy(HERE / "fedora-compat.macros", home / ".rpmmacros")
        result = subprocess.run(
            ["rpmbuild", "-ba", "--nodeps", "--define", f"_compat_dir {HERE}",
             "--define", f"_topdir {top}", str(REPO / "packaging" / "adjutant.spec")],
            capture_output=True, text=True, check=False,
            env={**os.environ, "HOME": str(home)})
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        [rpm] = (top / "RPMS" / "noarch").glob("adjutant-*.noarch.rpm")
        assert list((top / "SRPMS").glob("adjutant-*.src.rpm"))
        yield rpm


def test_the_rpm_holds_every_module_the_units_and_the_docs(built_rpm: Path):
    listed = set(sh("rpm", "-qlp", str(built_rpm)).stdout.split())
    for path in ("/usr/bin/adjutant", f"{UNITS}/adjutant.service", f"{UNITS}/adjutant.slice",
                 "/usr/lib/tmpfiles.d/adjutant.conf"):
        assert path in listed, path
    [init] = [p for p in listed if p.endswith("/adjutant/__init__.py")]
    sitelib = Path(init).parent.parent
    tracked = sh("git", "-c", f"safe.directory={REPO}", "-C", str(REPO), "ls-files",
                 "adjutant").stdout.split()
    modules = [m for m in tracked if m.endswith(".py")]
    assert modules, "no module is tracked"
    missing = [m for m in modules if str(sitelib / m) not in listed]
    assert missing == []
    docs = {Path(p).name for p in listed if "/doc/" in p}
    assert {"README.md", "settings.md", "design.md", "kojid.conf.example"} <= docs
    scripts = sh("rpm", "-qp", "--scripts", str(built_rpm)).stdout
    assert "adjutant:1879048192:65536" in scripts  # the buildroots' id range, %post


def test_the_installed_package_serves_the_hub_and_leaves_no_unit_when_removed(
        built_rpm: Path, tmp_path: Path):
    from tests.hub.admin import HubAdmin, HubProcess

    assert not CONFIG.exists(), f"{CONFIG} is the test's to write"
    topdir = tmp_path / "koji"
    topdir.mkdir()
    admin = HubAdmin(tmp_path / "hub.sqlite")
    admin.add_host(HOST, arches=("x86_64", "noarch"), capacity=10.0, password=PASSWORD)
    with HubProcess(tmp_path / "hub.sqlite", topdir) as hub:
        CONFIG.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(write_config(tmp_path, hub), CONFIG)
        sh("rpm", "-i", "--nodeps", str(built_rpm))
        try:
            # what the other integration tests run (daemon_support.Daemon)
            for unit in ("adjutant.service", "adjutant.slice"):
                assert (UNITS / unit).read_text() == (REPO / "units" / unit).read_text()
            assert oct(Path("/var/lib/adjutant").stat().st_mode & 0o777) == "0o700"
            # the shipped unit, as systemd reads it: Type=notify, so start
            # returns once the daemon said READY=1
            sh("systemctl", "start", "adjutant.service")
            shown = sh("systemctl", "show", "adjutant.service", "-p", "Type", "-p",
                       "Conflicts", "-p", "ExecStart").stdout
            assert "Type=notify" in shown and "kojid.service" in shown
            assert "path=/usr/bin/adjutant" in shown
            task_id = admin.create_task("sleep", [1])
            wait_for(lambda: admin.task(task_id)["state_name"] in ("CLOSED", "FAILED"), 120,
                     "the installed daemon to run a task")
            assert admin.task(task_id)["state_name"] == "CLOSED", admin.decoded_result(task_id)
            # Restart=on-failure as shipped: a killed daemon comes back by
            # itself (RestartSec=10) and finishes the task it had running
            long_task = admin.create_task("sleep", [20])
            wait_for(lambda: admin.task(long_task)["state_name"] == "OPEN", 60,
                     "the installed daemon to open a task")
            pid = main_pid("adjutant.service")
            sh("systemctl", "kill", "--signal=SIGKILL", "adjutant.service")
            wait_for(lambda: main_pid("adjutant.service") not in (0, pid), 60,
                     "systemd to restart the killed daemon")
            wait_for(lambda: admin.task(long_task)["state_name"] in ("CLOSED", "FAILED"), 120,
                     "the restarted daemon to finish the task")
            assert admin.task(long_task)["state_name"] == "CLOSED", \
                admin.decoded_result(long_task)
            assert sh("systemctl", "show", "adjutant.service", "-p", "NRestarts",
                      "--value").stdout.strip() == "1"
        finally:
            sh("systemctl", "stop", "adjutant.service", check=False)
            sh("rpm", "-e", "adjutant", check=False)
            CONFIG.unlink()
            stop_task_units()
    assert not (UNITS / "adjutant.service").exists()
    assert not Path("/usr/bin/adjutant").exists()
    sh("systemctl", "daemon-reload")
    assert sh("systemctl", "cat", "adjutant.service", check=False).returncode != 0
    assert sh("rpm", "-q", "adjutant", check=False).returncode != 0


def test_adjutant_quadlets_become_units_by_podmans_generator(tmp_path: Path):
    """`adjutant quadlets` writes an .image quadlet per registry image the
    settings name; systemd's daemon-reload runs podman's generator, which
    makes it a unit that pulls the image (not started here: no registry).
    With a podman before 4.8 (no .image quadlets) the unit is written as a
    plain service of the same name."""
    import sys

    from adjutant.check import version_tuple

    podman = sh("podman", "version", "--format", "{{.Client.Version}}").stdout.strip()
    config = tmp_path / "kojid.conf"
    config.write_text("[kojid]\nserver = http://hub.invalid/kojihub\n"
                      "[adjutant]\ntask_image = registry.example.invalid/fedora:41\n")
    made = sh(sys.executable, "-m", "adjutant", "quadlets", "--config", str(config))
    written = [Path(p) for p in made.stdout.split()]
    try:
        if version_tuple(podman) >= (4, 8):
            assert Path("/etc/containers/systemd/adjutant-fedora-41.image") in written
        else:
            assert Path("/etc/systemd/system/adjutant-fedora-41-image.service") in written
            assert "no .image quadlets" in made.stderr
        sh("systemctl", "daemon-reload")
        unit = sh("systemctl", "cat", "adjutant-fedora-41-image.service").stdout
        assert "registry.example.invalid/fedora:41" in unit and "image pull" in unit
        timer = sh("systemctl", "cat", "adjutant-fedora-41-refresh.timer").stdout
        assert "Unit=adjutant-fedora-41-image.service" in timer
    finally:
        for path in written:
            path.unlink()
        sh("systemctl", "daemon-reload")
    assert sh("systemctl", "cat", "adjutant-fedora-41-image.service",
              check=False).returncode != 0
