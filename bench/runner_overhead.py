#!/usr/bin/env python3
"""What the task runner adds to a container: a benchmark, not a test.

Run inside the test host:

    tests/host/testhost run python3 bench/runner_overhead.py [--runs 15]

Times, interleaved so that drift in the machine hits all alike:
  podman      `podman run --rm --network=none IMAGE true`            (the floor)
  systemd-run the same under `systemd-run --wait` with limits        (reference)
  runner      TaskRunner.launch() -> wait() -> release() of `true`   (adjutant)
and prints the median, min and max of each and the runner's added cost
(median runner - median podman).  The runner is opened once, as the daemon
would be; each run is one whole task.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adjutant.config import Config, runner_settings
from adjutant.runner.runner import TaskRunner
from adjutant.runner.spec import ResourceLimits, TaskSpec

IMAGE = "localhost/adjutant-buildroot:trixie"
BASE_TASK_ID = 900_000_000


def time_command(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


async def main(runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = Config(log_dir=Path(tmp) / "logs", state_dir=Path(tmp) / "state",
                        task_image=IMAGE)
        runner = TaskRunner(runner_settings(config))
        await runner.open(reattach=False)
        limits = ResourceLimits(memory_max=1 << 30, tasks_max=1000, runtime_max=600)
        times: dict[str, list[float]] = {"podman": [], "systemd-run": [], "runner": []}
        loop = asyncio.get_running_loop()

        async def one_task(task_id: int) -> float:
            spec = TaskSpec(task_id=task_id, image=IMAGE, command=("true",),
                            description="benchmark", limits=limits)
            start = time.perf_counter()
            await runner.launch(spec)
            outcome = await runner.wait(task_id)
            await runner.release(task_id)
            elapsed = time.perf_counter() - start
            assert outcome.ok, outcome.message
            return elapsed

        await one_task(BASE_TASK_ID)  # warm caches: image layers, python imports
        for index in range(runs):
            times["podman"].append(await loop.run_in_executor(None, time_command, [
                "podman", "run", "--rm", "--network=none", IMAGE, "true"]))
            times["systemd-run"].append(await loop.run_in_executor(None, time_command, [
                "systemd-run", "--quiet", "--wait", f"--unit=adjutant-bench-{index}",
                "-p", "MemoryLimit=1G", "-p", "TasksMax=1000", "-p", "Delegate=yes",
                "podman", "run", "--rm", "--network=none", "--cgroups=split", IMAGE, "true"]))
            times["runner"].append(await one_task(BASE_TASK_ID + 1 + index))
        await runner.close()

    print(f"runs: {runs} each, interleaved; image {IMAGE}; command `true`")
    print(f"{'':12} {'median':>8} {'min':>8} {'max':>8}")
    for name, values in times.items():
        print(f"{name:12} {statistics.median(values):8.3f} {min(values):8.3f} {max(values):8.3f}")
    added = statistics.median(times["runner"]) - statistics.median(times["podman"])
    print(f"runner adds {added:.3f} s per task to plain podman (median; aim: at most 0.150 s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    asyncio.run(main(parser.parse_args().runs))
