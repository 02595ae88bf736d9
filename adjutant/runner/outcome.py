"""How a task ended, named, with what it consumed.

`classify()` is a pure function from what systemd and the unit's ExecStopPost
record say (plus whether we asked for a cancel) to an `Outcome` whose message
a packager can read: "killed for memory: ...", "timed out: ...".
"""

from __future__ import annotations

import enum
import signal
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from adjutant.quantities import format_size

# A container killed by SIGKILL makes podman exit with 128 + 9.
SIGKILL_EXIT_STATUS = 128 + signal.SIGKILL
# On cgroup v1 systemd never says "oom-kill"; a SIGKILL death with the memory
# limit reached is taken as one.  Peak usage this close to the limit counts.
LIMIT_REACHED_FRACTION = 0.98
EXIT_MEANINGS = {
    # podman run's own failures (podman-run(1))
    125: "podman could not run the container",
    126: "the command could not be executed in the container",
    127: "the command was not found in the container",
    # systemd's, when it could not start podman (systemd.exec(5))
    200: "systemd could not change to the working directory (200/CHDIR)",
    203: "systemd could not execute podman (203/EXEC)",
}


class OutcomeKind(enum.Enum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed out"
    OUT_OF_MEMORY = "killed for memory"
    CANCELLED = "cancelled"
    LOST = "lost"


@dataclass(frozen=True)
class Usage:
    cpu_seconds: Optional[float] = None
    memory_peak_bytes: Optional[int] = None
    memory_limit_bytes: Optional[int] = None
    # the kernel's own count (memory.events oom_kill on v2, memory.oom_control on v1)
    oom_kills: Optional[int] = None
    cgroup_version: Optional[int] = None  # of the hierarchy these were read from

    def describe(self) -> str:
        parts = []
        if self.cpu_seconds is not None:
            parts.append(f"CPU {self.cpu_seconds:.2f} s")
        if self.memory_peak_bytes is not None:
            parts.append(f"peak memory {format_size(self.memory_peak_bytes)}")
        return ", ".join(parts) if parts else "usage unknown"


@dataclass(frozen=True)
class Termination:
    """The end of the unit's main process, from the exit record or from systemd.

    `exit_kind` is systemd's "exited", "killed" or "dumped"; `status` the exit
    status, or the signal number when killed.
    """

    service_result: str
    exit_kind: str
    status: Optional[int]

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Termination:
        raw = str(record.get("exit_status", ""))
        status: Optional[int]
        if raw.isdigit():
            status = int(raw)
        else:
            try:
                status = int(signal.Signals["SIG" + raw])
            except KeyError:
                status = None
        return cls(str(record.get("service_result", "")), str(record.get("exit_code", "")), status)

    @classmethod
    def from_properties(cls, props: Mapping[str, Any]) -> Termination:
        kinds = {1: "exited", 2: "killed", 3: "dumped"}
        code = int(props.get("ExecMainCode", 0))
        status = props.get("ExecMainStatus")
        return cls(str(props.get("Result", "")), kinds.get(code, ""),
                   None if status is None or code == 0 else int(status))


@dataclass(frozen=True)
class Outcome:
    task_id: int
    kind: OutcomeKind
    message: str
    exit_status: Optional[int] = None
    usage: Usage = Usage()
    log_path: Optional[str] = None
    # The last lines of the task's log, for a failure message.
    log_tail: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.kind is OutcomeKind.SUCCEEDED

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = self.kind.value
        data["log_tail"] = list(self.log_tail)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Outcome:
        values = dict(data)
        values["kind"] = OutcomeKind(values["kind"])
        values["usage"] = Usage(**values["usage"])
        values["log_tail"] = tuple(values.get("log_tail") or ())
        return cls(**values)

    def summary(self) -> str:
        """One line: the message and what the task consumed."""
        return f"task {self.task_id} {self.message} ({self.usage.describe()})"


def usage_from_record(record: Optional[Mapping[str, Any]],
                      props: Optional[Mapping[str, Any]]) -> Usage:
    values = dict((record or {}).get("usage") or {})
    nsec = values.get("cpu_usage_nsec")
    if nsec is None and props:
        # systemd keeps the CPU time after the cgroup is gone; 2**64-1 means unknown
        cpu = props.get("CPUUsageNSec")
        nsec = cpu if isinstance(cpu, int) and cpu < 2**63 else None
    return Usage(
        cpu_seconds=None if nsec is None else nsec / 1e9,
        memory_peak_bytes=values.get("memory_peak_bytes"),
        memory_limit_bytes=values.get("memory_limit_bytes"),
        oom_kills=values.get("oom_kills"),
        cgroup_version=values.get("cgroup_version"),
    )


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _killed_by_sigkill(end: Termination) -> bool:
    if end.exit_kind == "exited":
        return end.status == SIGKILL_EXIT_STATUS
    return end.exit_kind in ("killed", "dumped") and end.status == signal.SIGKILL


def _out_of_memory(end: Termination, record: Optional[Mapping[str, Any]], usage: Usage) -> bool:
    if end.service_result == "oom-kill":
        return True
    values = (record or {}).get("usage") or {}
    if values.get("oom_kills"):
        return True
    if not _killed_by_sigkill(end) or usage.memory_limit_bytes is None:
        return False
    hits = values.get("memory_limit_hits") or 0
    peak = usage.memory_peak_bytes or 0
    return hits > 0 or peak >= usage.memory_limit_bytes * LIMIT_REACHED_FRACTION


def _failure_message(end: Termination) -> str:
    if end.exit_kind == "exited" and end.status is not None:
        if end.status in EXIT_MEANINGS:
            return f"failed: {EXIT_MEANINGS[end.status]} (exit status {end.status})"
        if end.status > 128:
            name = _signal_name(end.status - 128)
            return f"failed: its command was killed by {name} (exit status {end.status})"
        return f"failed: its command exited with status {end.status}"
    if end.exit_kind in ("killed", "dumped") and end.status is not None:
        dumped = " and dumped core" if end.exit_kind == "dumped" else ""
        return f"failed: podman was killed by {_signal_name(end.status)}{dumped}"
    return f"failed: systemd reports result '{end.service_result or 'unknown'}'"


def classify(
    *,
    task_id: int,
    record: Optional[Mapping[str, Any]],
    properties: Optional[Mapping[str, Any]],
    cancelled: bool,
    runtime_max: Optional[float] = None,
) -> Outcome:
    """Name how a task ended.

    `record` is the unit's exit record (poststop.py), `properties` systemd's
    Service properties if the unit was still loaded; either may be missing.
    """
    usage = usage_from_record(record, properties)
    if record is not None:
        end = Termination.from_record(record)
    elif properties is not None and properties.get("Result"):
        end = Termination.from_properties(properties)
    else:
        if cancelled:
            return Outcome(task_id, OutcomeKind.CANCELLED, "cancelled before it started",
                           usage=usage)
        return Outcome(task_id, OutcomeKind.LOST,
                       "lost: its unit vanished before adjutant saw how it ended",
                       usage=usage)

    status = end.status if end.exit_kind == "exited" else None
    clean = end.service_result == "success" and end.exit_kind == "exited" and end.status == 0
    if cancelled and not clean:
        return Outcome(task_id, OutcomeKind.CANCELLED, "cancelled: its unit was stopped on request",
                       status, usage)
    if end.service_result == "timeout":
        limit = f" of {runtime_max:.0f} s" if runtime_max else ""
        return Outcome(task_id, OutcomeKind.TIMED_OUT,
                       f"timed out: it ran past its run-time limit{limit} and was stopped",
                       status, usage)
    if _out_of_memory(end, record, usage):
        memory_limit = usage.memory_limit_bytes
        detail = f" of {format_size(memory_limit)}" if memory_limit else ""
        return Outcome(task_id, OutcomeKind.OUT_OF_MEMORY,
                       f"killed for memory: it used up its memory limit{detail} "
                       "and the kernel killed it",
                       status, usage)
    if clean:
        return Outcome(task_id, OutcomeKind.SUCCEEDED, "succeeded", 0, usage)
    return Outcome(task_id, OutcomeKind.FAILED, _failure_message(end), status, usage)
