"""`adjutant cancel TASK`: cancel a task this host runs, through the hub, so
the hub's state stays right (the task and its subtasks CANCELED, a build's
BUILDING record canceled with them), then wait for its unit to go.

The running daemon does the hub call (worker/requests.py says why): this
command checks the task, leaves the request, wakes the daemon, and follows
the hub and systemd until the task is CANCELED and its unit is gone.

Exit status: 0 the task is cancelled (or was already); 1 nothing was done
(no such task, an ended task, another host's task); 3 the request is left
but not done yet (the daemon is not running, or did not finish in time):
the daemon takes it at its next poll or start.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from typing import Callable, Optional

from adjutant.config import Config
from adjutant.errors import AdjutantError
from adjutant.hub.session import Hub, HubError, anonymous
from adjutant.process import CommandError, run
from adjutant.runner.properties import task_unit_name
from adjutant.status import read_host
from adjutant.worker.requests import CancelRequests

WAITING = 3
ENDED = ("CLOSED", "FAILED")


@dataclass(frozen=True)
class Task:
    task_id: int
    state: str
    host_id: Optional[int]
    method: str


def task_state(hub: Hub, task_id: int, where: str) -> Task:
    import koji

    try:
        info = hub.probe_blocking("getTaskInfo", task_id)
    except HubError as exc:
        raise AdjutantError(f"task {task_id}: cannot ask {where}: {exc}") from None
    if not info:
        raise AdjutantError(f"task {task_id}: no such task on {where}")
    return Task(task_id, koji.TASK_STATES[info["state"]], info.get("host_id"),
                str(info.get("method")))


def refusal(task: Task, host_id: Optional[int]) -> Optional[str]:
    """Why this host cannot cancel the task (None: it can ask)."""
    if task.state in ENDED:
        return f"task {task.task_id} is {task.state}: it has ended, nothing to cancel"
    if host_id is None:
        return (f"task {task.task_id}: this host's daemon has never polled the hub, so it "
                f"runs no task; cancel it with koji cancel {task.task_id}")
    if task.state != "OPEN" or task.host_id != host_id:
        where = "no host" if task.host_id is None else f"host {task.host_id}"
        return (f"task {task.task_id} is {task.state} on {where}, not on this host "
                f"({host_id}); cancel it with koji cancel {task.task_id}")
    return None


def daemon_pid(pid: Optional[int]) -> Optional[int]:
    """The daemon's process, if it still runs (the pid it wrote at its last
    poll, still an `adjutant daemon`: a pid can be reused)."""
    if not pid:
        return None
    try:
        with open(f"/proc/{int(pid)}/cmdline", "rb") as handle:
            argv = handle.read().split(b"\0")
    except (OSError, ValueError):
        return None
    if b"daemon" in argv and any(b"adjutant" in part for part in argv):
        return int(pid)
    return None


def unit_loaded(task_id: int) -> bool:
    argv = ["systemctl", "show", "--property=LoadState", "--value", task_unit_name(task_id)]
    try:
        return run(argv, timeout=30).stdout.strip() not in ("not-found", "")
    except CommandError:
        return False


def main(config: Config, task_id: int, *, timeout: float,
         out: Callable[[str], None]) -> int:
    hub = anonymous(config)
    task = task_state(hub, task_id, str(config.server))
    if task.state == "CANCELED" and not unit_loaded(task_id):
        out(f"task {task_id} is CANCELED already")
        return 0
    host = read_host(config)
    if task.state != "CANCELED":
        why = refusal(task, host.id)
        if why:
            raise AdjutantError(why)
        CancelRequests(config.state_dir).ask(task_id)
        pid = daemon_pid(host.pid)
        if pid is None:
            out(f"task {task_id}: the daemon is not running; it cancels the task on the hub "
                f"at its next start (to cancel now: koji cancel {task_id})")
            return WAITING
        os.kill(pid, signal.SIGUSR1)
        out(f"task {task_id} ({task.method}): asked the daemon (pid {pid}) to cancel it")
    deadline = time.monotonic() + timeout
    said_canceled = False
    while time.monotonic() < deadline:
        if not said_canceled and task_state(hub, task_id, str(config.server)).state == "CANCELED":
            out(f"task {task_id} is CANCELED on the hub")
            said_canceled = True
        if said_canceled and not unit_loaded(task_id):
            out(f"{task_unit_name(task_id)} is stopped and gone")
            return 0
        time.sleep(0.5)
    what = "its unit to go" if said_canceled else "the hub to say CANCELED"
    out(f"task {task_id}: waited {timeout:g} s for {what}; see journalctl -u adjutant")
    return WAITING
