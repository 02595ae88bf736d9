"""Whether this host should take another task: kojid's rules, as a pure function.

kojid (koji/daemon.py readyForTask) is not ready when the host is disabled,
when the load of its running tasks exceeds its capacity, when it runs maxjobs
tasks already, when the work directory has less than minspace MiB free, or
when the 1-minute load average exceeds 4 per CPU.  The hub's scheduler has
its own rules on top (capacity with overcommit); both must agree to start a
task.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

LOAD_PER_CPU = 4.0


@dataclass(frozen=True)
class Readiness:
    ready: bool
    reason: str  # why not, or "ready"


def readiness(
    *,
    host: Mapping[str, Any],
    task_load: float,
    running: int,
    maxjobs: int,
    free_mib: float,
    minspace: int,
    loadavg: float,
    cpus: int,
    stopping: bool = False,
) -> Readiness:
    if stopping:
        return Readiness(False, "stopping")
    if not host.get("enabled", False):
        return Readiness(False, "host is disabled on the hub")
    capacity = float(host.get("capacity", 0.0))
    if task_load > capacity:
        return Readiness(False, f"over capacity (load {task_load:.2f} > {capacity:.2f})")
    if running >= maxjobs:
        return Readiness(False, f"full ({running} tasks, maxjobs {maxjobs})")
    if free_mib < minspace:
        return Readiness(False, f"low on space ({free_mib:.0f} MiB free < minspace {minspace})")
    if loadavg > LOAD_PER_CPU * cpus:
        return Readiness(False, f"load average {loadavg:.1f} above {LOAD_PER_CPU * cpus:.0f}")
    return Readiness(True, "ready")
