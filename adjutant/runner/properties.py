"""The properties of a task's transient unit, built as plain data.

`task_unit_properties()` returns (name, D-Bus signature, value) triples; the
systemd adapter hands them to StartTransientUnit.  Keeping the signature with
each property means no library's table of known properties limits what we
can set.

Why the unit looks as it does:
- Type=exec: the start job completes once podman has been executed, so a
  missing binary fails the start instead of a later exit status.
- Delegate=yes: podman --cgroups=split creates its sub-cgroups in the unit.
- KillMode=mixed: a stop sends SIGTERM to podman alone, which forwards it to
  the container; whatever is left at the end is killed with SIGKILL.
- ExecStopPost: records how the task ended and what it consumed while the
  unit's cgroup still exists (see poststop.py), then removes the container
  if podman could not.
- No RemainAfterExit: with it, systemd prunes the cgroup as soon as the unit
  is `exited` and its peak memory is gone before anyone read it.  The exit
  record written by ExecStopPost is what keeps a task's outcome across a
  restart of adjutant instead.
- Memory: MemoryMax= on cgroup v2; on cgroup v1 (EL8, these test machines)
  systemd ignores MemoryMax= and applies MemoryLimit=.  Likewise IOWeight=
  (v2) and BlockIOWeight= (v1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from adjutant.runner.spec import ResourceLimits

TASK_UNIT_PREFIX = "adjutant-task-"
# The journal field of a task's lines, its unit's and the daemon's about it:
# journalctl ADJUTANT_TASK_ID=12345 tells one task's story.
TASK_ID_FIELD = "ADJUTANT_TASK_ID"
TASK_UNIT_PATTERN = TASK_UNIT_PREFIX + "*.service"

Property = tuple[str, str, Any]


def task_unit_name(task_id: int) -> str:
    return f"{TASK_UNIT_PREFIX}{task_id}.service"


def task_id_of_unit(unit_name: str) -> Optional[int]:
    """12345 for 'adjutant-task-12345.service'; None for any other name."""
    if not (unit_name.startswith(TASK_UNIT_PREFIX) and unit_name.endswith(".service")):
        return None
    number = unit_name[len(TASK_UNIT_PREFIX) : -len(".service")]
    return int(number) if number.isdigit() and not number.startswith("0") else None


def unit_object_path(unit_name: str) -> str:
    """systemd's D-Bus object path of a unit (sd_bus_path_encode): every byte
    outside [A-Za-z0-9], and a leading digit, becomes _xx in lowercase hex."""
    escaped = []
    for index, byte in enumerate(unit_name.encode()):
        char = chr(byte)
        if char.isascii() and char.isalnum() and not (index == 0 and char.isdigit()):
            escaped.append(char)
        else:
            escaped.append(f"_{byte:02x}")
    return "/org/freedesktop/systemd1/unit/" + "".join(escaped)


def escape_exec_argument(argument: str) -> str:
    """systemd expands $VAR and ${VAR} in Exec arguments, also in transient
    units; a literal '$' must reach it as '$$'."""
    return argument.replace("$", "$$")


def exec_command(
    argv: Sequence[str], *, ignore_failure: bool = False
) -> tuple[str, list[str], bool]:
    """One entry of ExecStart=/ExecStopPost= (signature (sasb))."""
    escaped = [escape_exec_argument(a) for a in argv]
    return (argv[0], escaped, ignore_failure)


@dataclass(frozen=True)
class CgroupLayout:
    """Which cgroup hierarchy the host has; decides the names of some limits."""

    version: int  # 1 (legacy or hybrid) or 2 (unified)

    @classmethod
    def detect(cls, root: Path = Path("/sys/fs/cgroup")) -> CgroupLayout:
        # cgroup.controllers exists only at the root of a unified (v2) hierarchy.
        return cls(version=2 if (root / "cgroup.controllers").exists() else 1)


def limit_properties(limits: ResourceLimits, layout: CgroupLayout) -> list[Property]:
    props: list[Property] = [("CPUAccounting", "b", True), ("MemoryAccounting", "b", True),
                             ("TasksAccounting", "b", True)]
    if limits.memory_max is not None:
        name = "MemoryMax" if layout.version == 2 else "MemoryLimit"
        props.append((name, "t", limits.memory_max))
    if limits.cpus is not None:
        props.append(("CPUQuotaPerSecUSec", "t", round(limits.cpus * 1_000_000)))
    if limits.tasks_max is not None:
        props.append(("TasksMax", "t", limits.tasks_max))
    if limits.io_weight is not None:
        if layout.version == 2:
            props.append(("IOWeight", "t", limits.io_weight))
        else:
            # blkio.weight's range is 10..1000; IOWeight's default 100 maps to 500.
            weight = max(10, min(1000, round(limits.io_weight * 5)))
            props.append(("BlockIOWeight", "t", weight))
    if limits.runtime_max is not None:
        props.append(("RuntimeMaxUSec", "t", round(limits.runtime_max * 1_000_000)))
    return props


# RLIMIT_* names and the unit property each becomes (systemd.exec(5))
RLIMIT_PROPERTIES = {
    "RLIMIT_AS": "LimitAS", "RLIMIT_CORE": "LimitCORE", "RLIMIT_CPU": "LimitCPU",
    "RLIMIT_DATA": "LimitDATA", "RLIMIT_FSIZE": "LimitFSIZE", "RLIMIT_MEMLOCK": "LimitMEMLOCK",
    "RLIMIT_NOFILE": "LimitNOFILE", "RLIMIT_NPROC": "LimitNPROC", "RLIMIT_RSS": "LimitRSS",
    "RLIMIT_STACK": "LimitSTACK",
}


def rlimit_properties(rlimits: Sequence[tuple[str, str]]) -> list[Property]:
    """RLIMIT_* limits ("soft [hard]") as LimitXXX= (hard) and LimitXXXSoft= (soft)."""
    props: list[Property] = []
    for name, value in rlimits:
        numbers = [int(n) for n in value.split()]
        soft, hard = numbers[0], numbers[-1]
        prop = RLIMIT_PROPERTIES[name]
        props += [(prop, "t", hard), (prop + "Soft", "t", soft)]
    return props


def task_unit_properties(
    *,
    task_id: int,
    description: str,
    exec_start: Sequence[str],
    exec_stop_post: Sequence[str],
    limits: ResourceLimits,
    layout: CgroupLayout,
    slice_name: str,
    stop_timeout: float,
    environment: Sequence[str] = (),
    rlimits: Sequence[tuple[str, str]] = (),
) -> list[Property]:
    """Every property of the task unit, in the order they are sent."""
    props: list[Property] = [
        ("Description", "s", description),
        ("Type", "s", "exec"),
        ("ExecStart", "a(sasb)", [exec_command(exec_start)]),
        ("ExecStopPost", "a(sasb)", [exec_command(exec_stop_post, ignore_failure=True)]),
        ("Slice", "s", slice_name),
        ("Delegate", "b", True),
        ("KillMode", "s", "mixed"),
        ("TimeoutStopUSec", "t", round(stop_timeout * 1_000_000)),
        ("StandardInput", "s", "null"),
        ("StandardOutput", "s", "journal"),
        ("StandardError", "s", "journal"),
        ("SyslogIdentifier", "s", f"{TASK_UNIT_PREFIX}{task_id}"),
        ("LogExtraFields", "aay", [f"{TASK_ID_FIELD}={task_id}".encode()]),
        # A build may print far more than journald's default 10000 lines per 30 s.
        ("LogRateLimitIntervalUSec", "t", 0),
    ]
    props += limit_properties(limits, layout)
    props += rlimit_properties(rlimits)
    if environment:
        props.append(("Environment", "as", list(environment)))
    return props
