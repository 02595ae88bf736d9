"""Every file of one task on this host, in one table: where it is, who
writes it, and when it goes.  `adjutant files TASK` prints them.

    work directory       <workdir>/tasks/<id%10000>/<id>/ (kojid's layout)
        the task's containers write it; the daemon reads and writes it only
        through adjutant.untrusted; removed when the task ends (a failed one's
        after failed_buildroot_lifetime)
    daemon's copies      <state_dir>/worker/<id>/files/
        the daemon: the fetched SRPM, results copied out for upload
    worker state         <state_dir>/worker/<id>/task.json, memo.json
        the worker: method, parameters, steps done; removed when the task ends
    unit state           <state_dir>/tasks/<id>/ spec.json, container.env,
                         cursor.json, invocation, exit.json, cancelled
        the runner (exit.json: the unit's ExecStopPost); removed on release
    journal copy         <log_dir>/<id>/container.log
        the runner, the journal of every step; kept (the admin's rotation)
    result to deliver    <state_dir>/outbox/<id>.json
        the worker; removed once the hub has it
    buildroot view       <buildroot_dir>/views/<id>/ (upper/, work/, root/: an overlay)
        the daemon mounts it, the task's containers write it; unmounted and
        removed with the work directory
    kept failed workdir  <state_dir>/kept/<id>.json
        the worker; removed with the directory after its lifetime
    shared by all tasks  <buildroot_dir>/roots/
        the prepared buildroots; pruned to buildroot_cache_roots

Every state file is written by adjutant.atomic.write_atomically (a temporary
file, then rename; the outbox also fsynced); the unit's ExecStopPost
(poststop.py) has its own dependency-free copy, as it must start without the
package.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from adjutant.buildroot.roots import TaskView
from adjutant.config import Config
from adjutant.runner.state import TaskState, container_log_path
from adjutant.tasks.base import task_workdir
from adjutant.worker import state as worker_state


@dataclass(frozen=True)
class TaskFile:
    what: str
    path: Path


def task_files(config: Config, task_id: int) -> list[TaskFile]:
    worker_dir = worker_state.task_state_dir(config.state_dir, task_id)
    return [
        TaskFile("work directory (the containers')", task_workdir(config, task_id)),
        TaskFile("daemon's copies (fetched SRPM, results)", worker_dir / "files"),
        TaskFile("worker state (task, steps done)", worker_dir),
        TaskFile("unit state (spec, cursor, exit record)", TaskState(config.state_dir,
                                                                     task_id).path),
        TaskFile("journal copy (container.log)", container_log_path(config.log_dir, task_id)),
        TaskFile("result waiting for the hub", config.state_dir / "outbox" / f"{task_id}.json"),
        TaskFile("buildroot view (overlay of a prepared root)",
                 TaskView(config.buildroot_dir, task_id).path),
        TaskFile("kept failed work directory record",
                 worker_state.kept_record(config.state_dir, task_id)),
    ]


def describe_files(config: Config, task_id: int) -> str:
    """What `adjutant files TASK` prints: each file and whether it is there."""
    lines = [f"task {task_id}: unit adjutant-task-{task_id}.service "
             f"(systemctl status, journalctl -u)"]
    for item in task_files(config, task_id):
        there = "present" if item.path.exists() else "absent"
        lines.append(f"  {item.what:42} {item.path}  [{there}]")
    return "\n".join(lines)
