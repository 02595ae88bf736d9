"""A task's state directory, <state_dir>/tasks/<task id>/: what a restarted
runner needs to finish a task it did not start.

    spec.json         the TaskSpec it was started with
    invocation        the unit invocation's ID (journal entries carry it)
    container.env     the container's environment (mode 0600, root only)
    exit.json         how the unit ended (written by its ExecStopPost)
    journal.cursor    how far the log file copy has got
    cancelled         present when adjutant asked for the task to stop
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

from adjutant.atomic import write_atomically
from adjutant.runner.poststop import EXIT_RECORD
from adjutant.runner.spec import TaskSpec


def container_log_path(log_dir: Path, task_id: int) -> Path:
    """Where a task unit's journal is copied: <log_dir>/<id>/container.log."""
    return log_dir / str(task_id) / "container.log"


class TaskState:
    def __init__(self, state_dir: Path, task_id: int) -> None:
        self.task_id = task_id
        self.path = state_dir / "tasks" / str(task_id)

    @property
    def spec_file(self) -> Path:
        return self.path / "spec.json"

    @property
    def env_file(self) -> Path:
        return self.path / "container.env"

    @property
    def cursor_file(self) -> Path:
        return self.path / "journal.cursor"

    def begin(self, spec: TaskSpec) -> None:
        """Start afresh for a new run of the task: forget any earlier run."""
        if self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, mode=0o700)
        write_atomically(self.spec_file, spec.to_json())
        lines = []
        for key, value in spec.environment.items():
            if "\n" in value or "\n" in key or "=" in key:
                raise ValueError(f"task {self.task_id}: environment entry {key!r} cannot be "
                                 "passed to a container (newline or '=' in it)")
            lines.append(f"{key}={value}\n")
        write_atomically(self.env_file, "".join(lines), mode=0o600)

    def load_spec(self) -> Optional[TaskSpec]:
        try:
            return TaskSpec.from_json(self.spec_file.read_text())
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save_invocation(self, invocation_id: str) -> None:
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomically(self.path / "invocation", invocation_id + "\n")

    def invocation(self) -> Optional[str]:
        try:
            return (self.path / "invocation").read_text().strip() or None
        except OSError:
            return None

    def mark_cancelled(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "cancelled").touch()

    def cancelled(self) -> bool:
        return (self.path / "cancelled").exists()

    def exit_record(self, invocation_id: Optional[str]) -> Optional[Mapping[str, Any]]:
        """The unit's exit record, if it belongs to this invocation."""
        try:
            record = json.loads((self.path / EXIT_RECORD).read_text())
        except (OSError, ValueError):
            return None
        if invocation_id and record.get("invocation_id") not in (invocation_id, ""):
            return None
        return record

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
