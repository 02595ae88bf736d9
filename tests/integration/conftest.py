"""Integration tests: real systemd, podman and journald, in the test host.

    tests/host/testhost up
    tests/host/testhost run python3 -m pytest tests/integration

Outside the test host these skip (or fail, in CI).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Callable, Optional

import pytest

from adjutant.config import Config
from tests.conftest import require

IMAGE = "localhost/adjutant-buildroot:trixie"
_ids = itertools.count(int(time.time()) % 100_000 * 1000 + os.getpid() % 1000)


def in_test_host() -> bool:
    return (
        Path("/run/systemd/system").is_dir()
        and shutil.which("podman") is not None
        and os.geteuid() == 0
        and subprocess.run(["podman", "image", "exists", IMAGE], check=False).returncode == 0
    )


@pytest.fixture(autouse=True)
def _need_test_host() -> None:
    require(in_test_host(), "needs the test host (real systemd, podman, journald, the buildroot "
            "image): tests/host/testhost up && tests/host/testhost run python3 -m pytest "
            "tests/integration")


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config(
        log_dir=tmp_path / "logs",
        state_dir=tmp_path / "state",
        task_image=IMAGE,
        task_stop_timeout=10.0,
        cancel_grace=2.0,
    )


def sh(*argv: str, check: bool = True,
       cwd: Optional[Path] = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check, cwd=cwd)


@pytest.fixture
def new_task_id() -> Iterator[Callable[[], int]]:
    """Unique task ids; every unit and container they name is gone after the test."""
    used: list[int] = []

    def make() -> int:
        task_id = next(_ids)
        used.append(task_id)
        return task_id

    yield make
    for task_id in used:
        unit = f"adjutant-task-{task_id}.service"
        sh("systemctl", "stop", unit, check=False)
        sh("systemctl", "reset-failed", unit, check=False)
        sh("podman", "rm", "-f", "-i", f"adjutant-task-{task_id}", check=False)


# A slow test host's factor on every wait's timeout: the cgroup v2 VM runs under
# TCG, several times slower (tests/host/vm.py sets it); a wait still ends as
# soon as its condition holds.
TIME_SCALE = float(os.environ.get("ADJUTANT_TEST_TIME_SCALE", "1"))


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Wait for a condition to hold, checking every 50 ms; fail after `timeout`."""
    timeout *= TIME_SCALE
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


async def async_wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    timeout *= TIME_SCALE
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


def containers_of(task_id: int) -> list[str]:
    out = sh("podman", "ps", "--all", "--format", "{{.Names}}",
             "--filter", f"label=io.adjutant.task={task_id}").stdout
    return out.split()


def unit_active(task_id: int) -> bool:
    return sh("systemctl", "is-active", f"adjutant-task-{task_id}", check=False).stdout.strip() \
        in ("active", "activating")


def unit_property(task_id: int, name: str) -> str:
    return sh("systemctl", "show", f"adjutant-task-{task_id}.service", "-p", name,
              "--value").stdout.strip()


# An address of the test host's own (on its lo, in its own network namespace):
# the daemon and a build's containers both reach the hub there, as builders
# reach a real hub by its name.
TOPURL_ADDRESS = "10.77.0.1"


@pytest.fixture
def test_address() -> Iterator[str]:
    """TOPURL_ADDRESS on the test host's lo while the test runs."""
    sh("ip", "address", "add", f"{TOPURL_ADDRESS}/32", "dev", "lo")
    try:
        yield TOPURL_ADDRESS
    finally:
        sh("ip", "address", "del", f"{TOPURL_ADDRESS}/32", "dev", "lo")
