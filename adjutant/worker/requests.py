"""Cancel requests from `adjutant cancel` to the running daemon.

While the daemon holds the host's exclusive session, the hub locks every
other session of the host (kojihub's Session: "User locked by another
session"), so a root operator on the build host cannot cancel through the
hub with the host's own login.  The daemon can: kojihub's cancelTask lets
the host that runs a task cancel it (Task.verifyHost).  So `adjutant cancel`
leaves the task id in <state_dir>/cancel/ and wakes the daemon (SIGUSR1),
which asks the hub at its next poll; the hub's CANCELED then stops the unit
as any cancel does.  A request made while the daemon is down is taken at
its next start.

The directory is root's (state_dir is 0700, no container mounts it): the
files are only names, never read.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from adjutant.atomic import write_atomically


class CancelRequests:
    def __init__(self, state_dir: Path) -> None:
        self.directory = state_dir / "cancel"

    def ask(self, task_id: int) -> Path:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.directory / str(task_id)
        write_atomically(path, "", mode=0o600)
        return path

    def pending(self) -> list[int]:
        """The task ids asked for, oldest name order; anything else there
        (a temporary file, a stray name) is not a request."""
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        return sorted(int(name) for name in names if name.isdigit())

    def asked(self, task_id: int) -> bool:
        return os.path.lexists(self.directory / str(task_id))

    def done(self, task_id: int) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.directory / str(task_id))
