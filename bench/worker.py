#!/usr/bin/env python3
"""The worker against the hub emulator: a benchmark, not a test.

Run inside the test host:

    tests/host/testhost run python3 bench/worker.py [--runs 10]

Measures, with adjutant's daemon running as a Type=notify service:
  open      time from the hub handing a task out (the host.getTasks that
            returned it) to host.openTask, from the hub's own call log
  sleep 1   openTask -> closeTask of a `sleep 1` task, minus the second; and
            the same minus a plain `podman run --rm IMAGE sleep 1` (the
            container's own cost), i.e. what the daemon and its unit add
  cancel    cancel on the hub -> the task's container gone, and the part of
            it after the daemon's first poll that could see the cancel
  memory    the daemon's resident memory idle, and with 8 tasks running
kojid's figures for comparison (koji-builder-protocol.md, issue 3): open
0.02-0.05 s, sleep task +0.06 s, cancel one poll + 3 s.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.hub.admin import HubAdmin, HubProcess
from tests.integration.conftest import IMAGE, containers_of
from tests.integration.daemon_support import (
    HOST,
    PASSWORD,
    Daemon,
    main_pid,
    rss_bytes,
    wait_for,
    write_config,
)

SLEEPTIME = 2


def state(admin: HubAdmin, task_id: int) -> str:
    return admin.task(task_id)["state_name"]


def call_times(admin: HubAdmin, method: str, task_id: int) -> list[float]:
    return [c["ts"] for c in admin.calls(method=method, task_id=task_id) if c["ok"]]


def handed_out_at(admin: HubAdmin, task_id: int, opened: float) -> float:
    """The last successful host.getTasks before openTask whose answer held the task."""
    marker = f"'id': {task_id},"
    times = [c["ts"] for c in admin.calls(method="host.getTasks", ok=True)
             if marker in (c["result"] or "") and c["ts"] <= opened]
    return max(times)


def median(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} s (min {min(values):.3f}, max {max(values):.3f})"


def podman_sleep_one() -> float:
    start = time.perf_counter()
    subprocess.run(["podman", "run", "--rm", "--network=none", IMAGE, "sleep", "1"], check=True)
    return time.perf_counter() - start - 1.0


def main(runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "koji").mkdir()
        admin = HubAdmin(tmp / "hub.sqlite")
        admin.add_host(HOST, capacity=20.0, password=PASSWORD)
        with HubProcess(tmp / "hub.sqlite", tmp / "koji") as hub:
            daemon = Daemon(write_config(tmp, hub, sleeptime=SLEEPTIME, maxjobs=10))
            daemon.start()
            try:
                time.sleep(3 * SLEEPTIME)  # let it settle into its idle polling
                idle_rss = rss_bytes(main_pid(daemon.unit))

                opens, sleeps, floors = [], [], []
                for _ in range(runs):
                    task_id = admin.create_task("sleep", [1])
                    wait_for(lambda t=task_id: state(admin, t) == "CLOSED", 60, "sleep 1")
                    # the emulator logs a call after answering it
                    wait_for(lambda t=task_id: call_times(admin, "host.closeTask", t), 10,
                             "the closeTask in the hub's call log")
                    [opened] = call_times(admin, "host.openTask", task_id)
                    [closed] = call_times(admin, "host.closeTask", task_id)
                    opens.append(opened - handed_out_at(admin, task_id, opened))
                    sleeps.append(closed - opened - 1.0)
                    floors.append(podman_sleep_one())

                cancels, after_poll = [], []
                for _ in range(runs):
                    task_id = admin.create_task("sleep", [300])
                    wait_for(lambda t=task_id: containers_of(t) != [], 60, "the container")
                    cancelled = time.time()
                    admin.cancel(task_id)
                    wait_for(lambda t=task_id: containers_of(t) == [], 60, "it to be gone")
                    gone = time.time()
                    polls = [c["ts"] for c in admin.calls(method="host.getHostTasks")
                             if c["ts"] >= cancelled]
                    cancels.append(gone - cancelled)
                    after_poll.append(gone - min(polls))

                busy = [admin.create_task("sleep", [60]) for _ in range(8)]
                wait_for(lambda: all(containers_of(t) for t in busy), 120, "8 running tasks")
                busy_rss = rss_bytes(main_pid(daemon.unit))
                for task_id in busy:
                    admin.cancel(task_id)
            finally:
                daemon.stop()

    print(f"runs: {runs}; daemon sleeptime {SLEEPTIME} s; image {IMAGE}")
    print(f"open (getTasks -> openTask):            {median(opens)}")
    print(f"sleep 1 task, openTask -> closeTask - 1 s: {median(sleeps)}")
    print(f"  plain podman run --rm sleep 1, - 1 s:   {median(floors)}")
    extra = [s - f for s, f in zip(sleeps, floors)]
    print(f"  so the daemon and its unit add:         {median(extra)}")
    print(f"cancel on hub -> container gone:         {median(cancels)}")
    print(f"  of which after the poll that saw it:    {median(after_poll)}")
    print(f"daemon RSS idle: {idle_rss / 2**20:.1f} MiB; with 8 tasks: {busy_rss / 2**20:.1f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    main(parser.parse_args().runs)
