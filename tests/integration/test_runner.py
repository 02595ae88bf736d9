"""The task runner against real systemd, podman and journald (test host only)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import Callable, Optional

import pytest

from adjutant.config import Config, runner_settings
from adjutant.runner.outcome import Outcome, OutcomeKind
from adjutant.runner.podman import container_name
from adjutant.runner.runner import TaskRunner
from adjutant.runner.spec import Mount, ResourceLimits, TaskSpec
from tests.integration.conftest import (
    TIME_SCALE,
    async_wait_until,
    containers_of,
    sh,
    unit_active,
    unit_property,
    wait_until,
)

pytestmark = pytest.mark.integration
MIB = 1024**2


def spec(config: Config, task_id: int, script: str, **kwargs) -> TaskSpec:
    return TaskSpec(task_id=task_id, image=config.task_image, command=("sh", "-c", script),
                    description=f"Koji task {task_id}: test", **kwargs)


async def run_to_end(config: Config, task: TaskSpec,
                     during: Optional[Callable[[TaskRunner], Awaitable[None]]] = None) -> Outcome:
    """Run one task through a fresh runner: launch, `during` (if any), wait, release."""
    runner = TaskRunner(runner_settings(config))
    await runner.open(reattach=False)
    try:
        await runner.launch(task)
        if during is not None:
            await during(runner)
        outcome = await runner.wait(task.task_id)
        await runner.release(task.task_id)
        return outcome
    finally:
        await runner.close()


def cgroup_version() -> int:
    """2 on the unified hierarchy (the VM test host), 1 on hybrid or legacy."""
    return 2 if Path("/sys/fs/cgroup/cgroup.controllers").exists() else 1


def log_lines(config: Config, task_id: int) -> list[str]:
    path = config.log_dir / str(task_id) / "container.log"
    return path.read_text().splitlines() if path.exists() else []


def test_ten_thousand_lines_reach_the_log_and_the_journal(config, new_task_id, tmp_path):
    task_id = new_task_id()
    gate = tmp_path / "gate"
    gate.mkdir()
    # Print 10,000 numbered lines, then wait for the test to look at the unit.
    script = ("seq -f 'line %g' 1 10000; printf '%s\\n' '$NOT_EXPANDED'; "
              "while [ ! -e /gate/open ]; do sleep 0.05; done")

    async def during(runner: TaskRunner) -> None:
        status = sh("systemctl", "status", "--no-pager", f"adjutant-task-{task_id}",
                    check=False).stdout
        assert "Active: active (running)" in status
        assert f"Koji task {task_id}: test" in status
        assert "adjutant.slice" in status
        await async_wait_until(lambda: len(log_lines(config, task_id)) >= 10001, 30,
                               "the log to fill while the task runs")
        (gate / "open").touch()

    task = spec(config, task_id, script, mounts=(Mount(str(gate), "/gate"),))
    outcome = asyncio.run(run_to_end(config, task, during))
    assert outcome.kind is OutcomeKind.SUCCEEDED, outcome.message
    expected = [f"line {n}" for n in range(1, 10001)] + ["$NOT_EXPANDED"]
    assert log_lines(config, task_id) == expected
    journal = sh("journalctl", "-u", f"adjutant-task-{task_id}", "-o", "cat", "--no-pager").stdout
    numbered = [line for line in journal.splitlines() if line.startswith("line ")]
    assert numbered == expected[:-1]
    assert outcome.usage.cpu_seconds is not None and outcome.usage.cpu_seconds > 0
    assert outcome.usage.memory_peak_bytes is not None and outcome.usage.memory_peak_bytes > 0


def test_memory_hog_is_killed_for_memory(config, new_task_id):
    task_id = new_task_id()
    limits = ResourceLimits(memory_max=64 * MIB, tasks_max=100)
    hog = "x=$(head -c 300000000 /dev/zero | tr '\\0' a); echo survived"

    outcome = asyncio.run(run_to_end(config, spec(config, task_id, hog, limits=limits)))
    assert outcome.kind is OutcomeKind.OUT_OF_MEMORY, outcome.message
    assert "memory limit of 64.0 MiB" in outcome.message
    assert outcome.usage.memory_limit_bytes == 64 * MIB
    assert outcome.usage.cgroup_version == cgroup_version()
    if cgroup_version() == 2:
        # the kernel's own count (memory.events oom_kill, hierarchical), not a
        # guess from the signal; v1's count is per cgroup and went with the
        # container's own, so there the verdict rests on failcnt and the peak
        assert outcome.usage.oom_kills is not None and outcome.usage.oom_kills >= 1, \
            outcome.usage
    assert "survived" not in log_lines(config, task_id)
    assert containers_of(task_id) == []


def test_task_past_its_runtime_limit_times_out(config, new_task_id):
    task_id = new_task_id()

    task = spec(config, task_id, "echo started; sleep 300", limits=ResourceLimits(runtime_max=2))
    outcome = asyncio.run(run_to_end(config, task))
    assert outcome.kind is OutcomeKind.TIMED_OUT, outcome.message
    assert "run-time limit of 2 s" in outcome.message
    # podman, stopped by systemd, may say so itself when the container went
    # first (podman 4.3's conmon: "open pidfd: No such process")
    lines = [line for line in log_lines(config, task_id)
             if not line.startswith(("container not running", "open pidfd: No such process"))]
    assert lines == ["started"]
    assert containers_of(task_id) == []


@pytest.mark.parametrize("script", [
    "echo started; sleep 300",
    # a payload that ignores SIGTERM still goes, killed after cancel_grace
    "trap '' TERM; echo started; while true; do sleep 1; done",
], ids=["polite", "ignores-sigterm"])
def test_cancel_stops_the_unit_and_leaves_no_container(config, new_task_id, script):
    task_id = new_task_id()

    async def during(runner: TaskRunner) -> None:
        await async_wait_until(lambda: log_lines(config, task_id) == ["started"], 20,
                               "the task to start")
        assert containers_of(task_id) == [f"adjutant-task-{task_id}"]
        await runner.cancel(task_id)
        wait_until(lambda: containers_of(task_id) == [], 5, "the container to be gone")

    outcome = asyncio.run(run_to_end(config, spec(config, task_id, script), during))
    assert outcome.kind is OutcomeKind.CANCELLED, outcome.message
    conmon = sh("pgrep", "-f", f"conmon.*adjutant-task-{task_id}", check=False)
    assert conmon.stdout == ""


def run_task_in_a_process(config: Config, config_file: Path, task_id: int, script: str):
    config_file.write_text(f"[adjutant]\nlog_dir = {config.log_dir}\n"
                           f"state_dir = {config.state_dir}\n"
                           f"task_image = {config.task_image}\n")
    return subprocess.Popen(
        [sys.executable, "-m", "adjutant", "run-task", "--keep", "--config", str(config_file),
         "--task-id", str(task_id), "--", "sh", "-c", script],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


# 3000 lines, held after line 1500 until the test opens the gate (/tmp/go in the
# container), or for 20 s (scaled) at most: the task is still running when its
# runner is killed, however slow the host (a TCG VM copied 300 lines after a
# version timed by sleeps had ended)
GATE_POLLS = int(200 * TIME_SCALE)
GATED_LINES = ("i=1; while [ $i -le 3000 ]; do echo \"line $i\"; "
               "if [ $i = 1500 ]; then n=0; "
               f"while [ ! -e /tmp/go ] && [ $n -lt {GATE_POLLS} ]; do sleep 0.1; n=$((n+1)); "
               "done; fi; i=$((i+1)); done")


def open_the_gate(task_id: int) -> None:
    # podman 5.4 once answered "no container with ID ... found in database" for
    # the running container (a clean-clone run): then the gate's own bound lets
    # the task go on, and the test's checks of the log and outcome still hold
    sh("podman", "exec", container_name(task_id), "touch", "/tmp/go", check=False)


@pytest.mark.parametrize("finish_while_down", [False, True], ids=["running", "ended-while-down"])
def test_runner_killed_mid_task_reattaches(config, new_task_id, tmp_path, finish_while_down):
    task_id = new_task_id()
    first = run_task_in_a_process(config, tmp_path / "kojid.conf", task_id, GATED_LINES)
    log = config.log_dir / str(task_id) / "container.log"
    wait_until(lambda: log.exists() and len(log.read_text().splitlines()) >= 300, 30,
               "the first runner to copy some of the log")
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert unit_property(task_id, "ActiveState") == "active"
    open_the_gate(task_id)
    if finish_while_down:
        wait_until(lambda: unit_property(task_id, "ActiveState") in ("inactive", "failed", ""),
                   30, "the task to end while no runner follows it")

    async def scenario():
        runner = TaskRunner(runner_settings(config))
        found = await runner.open()
        assert task_id in found
        outcome = await runner.wait(task_id)
        await runner.release(task_id)
        await runner.close()
        return outcome

    outcome = asyncio.run(scenario())
    assert outcome.kind is OutcomeKind.SUCCEEDED, outcome.message
    assert log.read_text().splitlines() == [f"line {n}" for n in range(1, 3001)]
    assert not (config.state_dir / "tasks" / str(task_id)).exists()


def test_eight_tasks_at_once_each_with_its_own_limits_outcome_and_log(config, new_task_id):
    ids = [new_task_id() for _ in range(8)]
    specs = [
        spec(config, task_id, f"for n in $(seq 1 200); do echo task {task_id} line $n; done; "
             f"exit {index}",
             limits=ResourceLimits(memory_max=(64 + 16 * index) * MIB, tasks_max=50 + index))
        for index, task_id in enumerate(ids)
    ]

    async def scenario():
        runner = TaskRunner(runner_settings(config))
        await runner.open(reattach=False)
        await asyncio.gather(*(runner.launch(s) for s in specs))
        limits_seen = {tid: unit_property(tid, "TasksMax") for tid in ids}
        outcomes = await asyncio.gather(*(runner.wait(tid) for tid in ids))
        for tid in ids:
            await runner.release(tid)
        await runner.close()
        return limits_seen, outcomes

    limits_seen, outcomes = asyncio.run(scenario())
    loaded = sh("systemctl", "list-units", "--all", "--no-legend", "--plain",
                *(f"adjutant-task-{t}.service" for t in ids)).stdout
    assert loaded == "", f"released units must be unloaded:\n{loaded}"
    for index, (task_id, outcome) in enumerate(zip(ids, outcomes)):
        assert limits_seen[task_id] == str(50 + index)
        assert outcome.task_id == task_id
        assert outcome.exit_status == index
        assert outcome.kind is (OutcomeKind.SUCCEEDED if index == 0 else OutcomeKind.FAILED)
        assert outcome.usage.memory_limit_bytes == (64 + 16 * index) * MIB
        assert log_lines(config, task_id) == [f"task {task_id} line {n}" for n in range(1, 201)]


def test_mounts_and_environment_reach_the_container(config, new_task_id, tmp_path):
    task_id = new_task_id()
    writable, readonly = tmp_path / "rw", tmp_path / "ro"
    writable.mkdir()
    readonly.mkdir()
    script = ('echo "$GREETING"; echo made > /out/file; '
              'if touch /in/file 2>/dev/null; then echo ro-was-writable; fi; '
              'ls /sys/class/net')

    async def during(runner: TaskRunner) -> None:
        env_file = config.state_dir / "tasks" / str(task_id) / "container.env"
        assert env_file.stat().st_mode & 0o777 == 0o600

    task = spec(config, task_id, script,
                mounts=(Mount(str(writable), "/out", read_only=False), Mount(str(readonly), "/in")),
                environment={"GREETING": "hello $USER"})
    outcome = asyncio.run(run_to_end(config, task, during))
    assert outcome.kind is OutcomeKind.SUCCEEDED, outcome.message
    # the environment arrived unexpanded; the only network interface is loopback
    assert log_lines(config, task_id) == ["hello $USER", "lo"]
    assert (writable / "file").read_text() == "made\n"
    assert not (readonly / "file").exists()
    unit_env = sh("systemctl", "show", f"adjutant-task-{task_id}", "-p", "Environment").stdout
    assert "GREETING" not in unit_env


def test_a_missing_image_fails_with_podmans_reason(config, new_task_id):
    task_id = new_task_id()

    task = TaskSpec(task_id=task_id, image="localhost/no-such-image:1", command=("true",),
                    description="missing image")
    outcome = asyncio.run(run_to_end(config, task))
    assert outcome.kind is OutcomeKind.FAILED
    assert outcome.exit_status == 125
    assert "podman could not run the container" in outcome.message
    assert any("no-such-image" in line for line in outcome.log_tail)


def cgroup_file(task_id: int, controller: str, name: str) -> str:
    """A file of the task unit's cgroup: the unified tree on v2, the
    controller's own hierarchy on v1."""
    path = unit_property(task_id, "ControlGroup").lstrip("/")
    root = Path("/sys/fs/cgroup")
    if cgroup_version() == 1:  # cpu and cpuacct are one hierarchy on some hosts, two on others
        [root] = [d for d in root.iterdir() if controller in d.name.split(",")]
    return (root / path / name).read_text().strip()


def test_limits_are_the_units_cgroup_files(config, new_task_id, tmp_path):
    """What the kernel enforces, read from the unit's cgroup while it runs."""
    task_id = new_task_id()
    gate = tmp_path / "gate"
    gate.mkdir()
    limits = ResourceLimits(memory_max=96 * MIB, cpus=0.5, tasks_max=40, io_weight=200)
    files: dict[str, str] = {}

    async def during(runner: TaskRunner) -> None:
        await async_wait_until(lambda: log_lines(config, task_id) == ["started"], 60,
                               "the task to start")
        if cgroup_version() == 2:
            files["memory"] = cgroup_file(task_id, "", "memory.max")
            files["cpu"] = cgroup_file(task_id, "", "cpu.max")
            files["pids"] = cgroup_file(task_id, "", "pids.max")
            files["io"] = cgroup_file(task_id, "", "io.weight")
        else:
            files["memory"] = cgroup_file(task_id, "memory", "memory.limit_in_bytes")
            files["cpu"] = cgroup_file(task_id, "cpu", "cpu.cfs_quota_us") + " " + \
                cgroup_file(task_id, "cpu", "cpu.cfs_period_us")
            files["pids"] = cgroup_file(task_id, "pids", "pids.max")
        (gate / "open").touch()

    task = spec(config, task_id, "echo started; while [ ! -e /gate/open ]; do sleep 0.1; done",
                limits=limits, mounts=(Mount(str(gate), "/gate"),))
    outcome = asyncio.run(run_to_end(config, task, during))
    assert outcome.kind is OutcomeKind.SUCCEEDED, outcome.message
    assert files["memory"] == str(96 * MIB)
    assert files["cpu"] == "50000 100000"  # half of each 100 ms period
    assert files["pids"] == "40"
    if cgroup_version() == 2:
        assert files["io"] == "default 200"
    assert outcome.usage.cgroup_version == cgroup_version()


def test_the_slices_cap_holds_all_task_units_together(config, new_task_id, tmp_path):
    """An admin's cap on adjutant.slice binds the task units together: two tasks
    with no limits of their own, each within the cap alone, cannot both hold
    their memory at once; the kernel kills one, and it is reported killed for
    memory from its own cgroup's count."""
    ids = [new_task_id(), new_task_id()]
    gate = tmp_path / "gate"
    gate.mkdir()
    limit = "MemoryMax" if cgroup_version() == 2 else "MemoryLimit"
    # each unit holds about 125 MiB (podman and conmon, Python, 100 MB of bytes,
    # every page touched); the cap is 200 MiB
    hold = ("python3 -c \"import os, time; x = b'a' * 100_000_000; "
            "open('/gate/' + os.environ['ID'], 'w').close(); "
            "[time.sleep(0.1) for _ in iter(lambda: os.path.exists('/gate/open'), True)]; "
            "print('held', len(x))\"")
    sh("systemctl", "set-property", "--runtime", "adjutant.slice", f"{limit}=200M",
       "MemoryAccounting=yes")
    try:
        async def scenario():
            runner = TaskRunner(runner_settings(config))
            await runner.open(reattach=False)
            try:
                for task_id in ids:
                    await runner.launch(spec(config, task_id, hold,
                                             mounts=(Mount(str(gate), "/gate", read_only=False),),
                                             environment={"ID": str(task_id)}))
                await async_wait_until(
                    lambda: all((gate / str(t)).exists() or not unit_active(t) for t in ids),
                    120, "both tasks to hold their memory, or one to be killed")
                (gate / "open").touch()
                outcomes = [await runner.wait(t) for t in ids]
                for task_id in ids:
                    await runner.release(task_id)
                return outcomes
            finally:
                await runner.close()

        outcomes = asyncio.run(scenario())
    finally:
        sh("systemctl", "revert", "adjutant.slice")
    [held] = [o for o in outcomes if o.kind is OutcomeKind.SUCCEEDED]
    [killed] = [o for o in outcomes if o is not held]
    if cgroup_version() == 2:
        # the victim's own memory.events counts the kill the slice's cap made
        assert killed.kind is OutcomeKind.OUT_OF_MEMORY, (killed.message, killed.usage)
        assert killed.usage.oom_kills is not None and killed.usage.oom_kills >= 1, killed.usage
    else:
        # v1 leaves the victim's own cgroup no trace of a kill its parent's
        # limit made: the kernel's SIGKILL is all there is to report
        assert killed.kind in (OutcomeKind.OUT_OF_MEMORY, OutcomeKind.FAILED), killed.message
        assert "SIGKILL" in killed.message or killed.kind is OutcomeKind.OUT_OF_MEMORY, \
            killed.message
