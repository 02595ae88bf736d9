"""What the runner is told of the host's setup: a `RunnerSettings`, made by
the caller (adjutant.config.runner_settings from kojid.conf, or a test by
hand).  The runner reads nothing else: it knows nothing of Koji."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional


@dataclass(frozen=True)
class RunnerSettings:
    podman: Path = Path("/usr/bin/podman")
    # <log_dir>/<task id>/container.log: the copy of a task unit's journal
    log_dir: Path = Path("/var/log/adjutant")
    # <state_dir>/tasks/<task id>/: a unit's spec, cursor, exit record
    state_dir: Path = Path("/var/lib/adjutant")
    # the slice of every task unit, with host-wide limits
    task_slice: str = "adjutant.slice"
    # systemd's TimeoutStopSec= of a unit; after it, SIGKILL to all of it
    task_stop_timeout: float = 30.0
    # after a cancel's SIGTERM, how long before SIGKILL
    cancel_grace: float = 2.0
    # RLIMIT_* names and "soft [hard]" values, as LimitXXX= properties
    rlimits: tuple[tuple[str, str], ...] = ()
    # where the copy of a unit's journal stops (with a note); None: no cap
    log_max_bytes: Optional[int] = None
    # [start, end) of the task ids this runner owns: the units of others (a
    # second runner on the host, as `adjutant build-local`) are never followed
    task_ids: tuple[int, int] = (0, 2**31)
