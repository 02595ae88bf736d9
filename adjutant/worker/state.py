"""What the worker keeps of a task it opened, under <state_dir>/worker/<id>/:
the method, parameters and weight (task.json), and the handler's memo of steps
done (memo.json, see tasks/base.py).  With it, a restarted adjutant resumes a
task the hub still lists as OPEN on this host instead of freeing it."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

from adjutant.atomic import write_atomically


@dataclass(frozen=True)
class OpenedTask:
    task_id: int
    method: str
    params: list[Any]
    weight: float


def task_state_dir(state_dir: Path, task_id: int) -> Path:
    return state_dir / "worker" / str(task_id)


def save(state_dir: Path, task: OpenedTask) -> None:
    directory = task_state_dir(state_dir, task.task_id)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomically(directory / "task.json", json.dumps(asdict(task)))


def load(state_dir: Path, task_id: int) -> Optional[OpenedTask]:
    try:
        data = json.loads((task_state_dir(state_dir, task_id) / "task.json").read_text())
        return OpenedTask(**data)
    except (OSError, ValueError, TypeError):
        return None


def remove(state_dir: Path, task_id: int) -> None:
    shutil.rmtree(task_state_dir(state_dir, task_id), ignore_errors=True)


# Failed tasks' work directories kept for an admin (failed_buildroot_lifetime):
# <state_dir>/kept/<id>.json = {"workdir": path, "until": unix time}


def kept_record(state_dir: Path, task_id: int) -> Path:
    return state_dir / "kept" / f"{task_id}.json"


def keep_workdir(state_dir: Path, task_id: int, workdir: Path, lifetime: float) -> float:
    """Record that the task's work directory stays until now + lifetime."""
    until = time.time() + lifetime
    directory = state_dir / "kept"
    directory.mkdir(parents=True, exist_ok=True)
    write_atomically(kept_record(state_dir, task_id),
                     json.dumps({"workdir": str(workdir), "until": until}))
    return until


def expired_workdirs(state_dir: Path, now: float) -> list[tuple[int, Path]]:
    found: list[tuple[int, Path]] = []
    directory = state_dir / "kept"
    if not directory.is_dir():
        return found
    for entry in sorted(directory.glob("*.json")):
        try:
            kept = json.loads(entry.read_text())
            task_id = int(entry.name[:-len(".json")])
        except (OSError, ValueError):
            continue
        if float(kept.get("until", 0)) <= now:
            found.append((task_id, Path(kept["workdir"])))
    return found


def forget_kept(state_dir: Path, task_id: int) -> None:
    kept_record(state_dir, task_id).unlink(missing_ok=True)
