"""Running adjutant's daemon against the hub emulator: shared by the daemon's
integration tests and the worker benchmark (bench/worker.py)."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Callable, Optional

from tests.integration.conftest import IMAGE, TIME_SCALE, sh

HOST = "builder.example.com"
PASSWORD = "builder-secret"
SLEEPTIME = 1


class Timeout(AssertionError):
    pass


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    """Wait for a condition (checked every 50 ms); returns the seconds it took."""
    timeout *= TIME_SCALE
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise Timeout(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - start


# The shipped units (units/), in systemd's runtime directory while a test
# runs a daemon: they go with the last Daemon.stop, so that the installed
# package's (test_package.py) are not shadowed.
SHIPPED_UNITS = Path(__file__).resolve().parents[2] / "units"
RUNTIME_UNITS = Path("/run/systemd/system")
UNIT = "adjutant.service"


def test_drop_in(config_file: Path) -> str:
    """What the tests change of the shipped adjutant.service: the daemon
    from this checkout (its ExecStart is the package's /usr/bin/adjutant),
    the test's kojid.conf, and no Restart=: tests kill it on purpose and
    start it again themselves (test_package.py tests Restart=on-failure)."""
    return ("[Service]\n"
            "ExecStart=\n"
            f"ExecStart={sys.executable} -m adjutant daemon --config {config_file}\n"
            f"Environment=PYTHONPATH={SHIPPED_UNITS.parent}\n"
            "Restart=no\n")


def install_units(config_file: Path) -> None:
    for name in ("adjutant.service", "adjutant.slice"):
        (RUNTIME_UNITS / name).write_text((SHIPPED_UNITS / name).read_text())
    drop_ins = RUNTIME_UNITS / f"{UNIT}.d"
    drop_ins.mkdir(exist_ok=True)
    (drop_ins / "test.conf").write_text(test_drop_in(config_file))
    sh("systemctl", "daemon-reload")


def remove_units() -> None:
    shutil.rmtree(RUNTIME_UNITS / f"{UNIT}.d", ignore_errors=True)
    for name in ("adjutant.service", "adjutant.slice"):
        (RUNTIME_UNITS / name).unlink(missing_ok=True)
    sh("systemctl", "daemon-reload")


class Daemon:
    """adjutant's daemon as the shipped adjutant.service (Type=notify, its
    watchdog, hardening and slice), with the test's config (test_drop_in)."""

    unit = UNIT

    def __init__(self, config_file: Path) -> None:
        self.config_file = config_file
        self.invocation = ""

    def start(self) -> None:
        # one adjutant.service at a time: one left by an interrupted run would
        # make this start a no-op, and the test would talk to a stranger
        sh("systemctl", "stop", self.unit, check=False)
        install_units(self.config_file)
        # systemctl start returns once the daemon said READY=1 (or failed)
        result = sh("systemctl", "start", self.unit, check=False)
        self.invocation = sh("systemctl", "show", self.unit, "-p", "InvocationID",
                             "--value").stdout.strip()
        assert result.returncode == 0, result.stderr + self.journal()

    def terminate(self) -> None:
        """systemctl stop: SIGTERM, as on a service restart."""
        sh("systemctl", "stop", self.unit)

    def kill(self) -> None:
        sh("systemctl", "kill", "--signal=SIGKILL", self.unit)
        wait_for(lambda: not self.active(), 10, "the daemon to die")

    def stop(self) -> None:
        if self.invocation:
            sh("systemctl", "stop", self.unit, check=False)
            sh("systemctl", "reset-failed", self.unit, check=False)
            remove_units()

    def active(self) -> bool:
        return sh("systemctl", "is-active", self.unit, check=False).stdout.strip() in (
            "active", "activating", "deactivating")

    def status_text(self) -> str:
        return sh("systemctl", "show", self.unit, "-p", "StatusText", "--value").stdout.strip()

    def journal(self, *, output: str = "cat") -> str:
        """This start's lines, the daemon's and systemd's about it (the unit's
        name is every test's)."""
        if not self.invocation:
            return ""
        return sh("journalctl", f"_SYSTEMD_INVOCATION_ID={self.invocation}", "+",
                  f"INVOCATION_ID={self.invocation}", "--no-pager", "-o", output,
                  check=False).stdout


# Prepared buildroots and the overlays of tasks need a real filesystem: the
# test host's root is an overlay itself, /tmp a tmpfs too small for them.
BUILDROOTS = Path("/var/lib/containers/adjutant-test")


def buildroot_dir(tmp_path: Path) -> Path:
    """A test's buildroot_dir (pytest's temporary directories are numbered anew
    in each run, so the run's number is in the name)."""
    return BUILDROOTS / f"{tmp_path.parent.name}-{tmp_path.name}"


def write_config(tmp_path: Path, hub, adjutant: Optional[dict] = None, **kojid: object) -> Path:
    values = {
        "server": hub.url, "topurl": hub.topurl, "topdir": tmp_path / "koji",
        "workdir": tmp_path / "work", "user": HOST, "password": PASSWORD,
        "sleeptime": SLEEPTIME, "minspace": 1, "retry_interval": 1, "max_retries": 300,
        "offline_retry_interval": 1,
    }
    values.update(kojid)
    lines = ["[kojid]"] + [f"{k} = {v}" for k, v in values.items() if v is not None]
    ours: dict[str, object] = {
        "log_dir": tmp_path / "logs", "state_dir": tmp_path / "state", "task_image": IMAGE,
        "task_stop_timeout": 10, "cancel_grace": 1, "buildroot_dir": buildroot_dir(tmp_path),
    }
    ours.update(adjutant or {})
    lines += ["[adjutant]"] + [f"{k} = {v}" for k, v in ours.items()]
    path = tmp_path / "kojid.conf"
    path.write_text("\n".join(lines) + "\n")
    return path




def main_pid(unit: str) -> int:
    return int(sh("systemctl", "show", unit, "-p", "MainPID", "--value").stdout.strip() or 0)


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def stop_task_units() -> None:
    """Stop every adjutant-task-* unit and remove its container (test clean-up)."""
    for line in sh("systemctl", "list-units", "--all", "--plain", "--no-legend",
                   "adjutant-task-*").stdout.splitlines():
        unit = line.split()[0]
        sh("systemctl", "stop", unit, check=False)
        sh("systemctl", "reset-failed", unit, check=False)
    names = sh("podman", "ps", "--all", "--format", "{{.Names}}").stdout.split()
    for name in names:
        if name.startswith("adjutant-task-"):
            sh("podman", "rm", "--force", name, check=False)
