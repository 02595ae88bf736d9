"""`adjutant status`: the host as the hub sees it, and each task unit as
systemd sees it (state, age, CPU, memory against its limit, log).

The hub part is what the daemon saw at its last poll (<state_dir>/host.json):
while the daemon holds the host's exclusive session, the hub refuses the
host's other sessions, so status never logs in.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from adjutant.config import Config
from adjutant.errors import AdjutantError
from adjutant.process import CommandError, run
from adjutant.runner.properties import TASK_UNIT_PATTERN, task_id_of_unit
from adjutant.runner.state import container_log_path

PROPERTIES = ("Id", "ActiveState", "SubState", "Description", "ActiveEnterTimestampMonotonic",
              "CPUUsageNSec", "MemoryCurrent", "MemoryMax", "MemoryLimit")
UNSET = ("", "[not set]", "infinity", "18446744073709551615")


@dataclass
class TaskUnit:
    task_id: int
    unit: str
    state: str
    description: str
    age_seconds: Optional[float]
    cpu_seconds: Optional[float]
    memory_bytes: Optional[int]
    memory_limit_bytes: Optional[int]
    log: str


@dataclass
class HostView:
    name: Optional[str] = None
    enabled: Optional[bool] = None
    ready: Optional[bool] = None
    task_load: Optional[float] = None
    capacity: Optional[float] = None
    channels: list[str] = field(default_factory=list)
    error: Optional[str] = None
    polled: Optional[float] = None  # when the daemon asked the hub (epoch seconds)
    reason: Optional[str] = None  # why the daemon is not ready, if it is not
    id: Optional[int] = None  # the host's id on the hub
    pid: Optional[int] = None  # the daemon's process


def parse_show(text: str) -> list[dict[str, str]]:
    """`systemctl show` of several units: blank-line separated KEY=VALUE blocks."""
    units: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                units.append(current)
            current = {}
            continue
        key, _, value = line.partition("=")
        current[key] = value
    if current:
        units.append(current)
    return units


def _number(value: str) -> Optional[int]:
    return None if value in UNSET or not value.isdigit() else int(value)


def task_units(properties: list[dict[str, str]], config: Config,
               now_monotonic: float) -> list[TaskUnit]:
    units = []
    for props in properties:
        task_id = task_id_of_unit(props.get("Id", ""))
        if task_id is None:
            continue
        entered = _number(props.get("ActiveEnterTimestampMonotonic", ""))
        cpu = _number(props.get("CPUUsageNSec", ""))
        limit = _number(props.get("MemoryMax", "")) or _number(props.get("MemoryLimit", ""))
        units.append(TaskUnit(
            task_id=task_id, unit=props["Id"],
            state=f"{props.get('ActiveState', '?')}/{props.get('SubState', '?')}",
            description=props.get("Description", ""),
            age_seconds=now_monotonic - entered / 1e6 if entered else None,
            cpu_seconds=cpu / 1e9 if cpu is not None else None,
            memory_bytes=_number(props.get("MemoryCurrent", "")), memory_limit_bytes=limit,
            log=str(container_log_path(config.log_dir, task_id))))
    return sorted(units, key=lambda u: u.task_id)


def read_units(config: Config) -> list[TaskUnit]:
    argv = ["systemctl", "show", TASK_UNIT_PATTERN, *(f"--property={p}" for p in PROPERTIES)]
    try:
        text = run(argv, timeout=60).stdout
    except CommandError as exc:
        raise AdjutantError(f"cannot read the task units: {exc}") from None
    return task_units(parse_show(text), config, time.monotonic())


def host_file(config: Config) -> Path:
    """Where the daemon leaves the hub's view of the host at each poll."""
    return config.state_dir / "host.json"


def read_host(config: Config) -> HostView:
    """The hub's view of the host at the daemon's last poll: a second login
    of the host would be refused while the daemon holds its exclusive
    session, so the daemon writes it down (worker's poll)."""
    path = host_file(config)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return HostView(error=f"the daemon has not polled the hub (no {path}): is "
                              "adjutant.service running?")
    except (OSError, ValueError) as exc:
        return HostView(error=f"cannot read {path}: {exc}")
    return HostView(name=data.get("name"), enabled=data.get("enabled"), ready=data.get("ready"),
                    task_load=data.get("task_load"), capacity=data.get("capacity"),
                    channels=list(data.get("channels") or []), polled=data.get("polled"),
                    reason=data.get("reason"), id=data.get("id"), pid=data.get("pid"))


def _size(value: Optional[int]) -> str:
    if value is None:
        return "-"
    for unit, scale in (("G", 2**30), ("M", 2**20), ("K", 2**10)):
        if value >= scale:
            return f"{value / scale:.1f}{unit}"
    return f"{value}B"


def _age(seconds: Optional[float]) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def render(host: HostView, units: list[TaskUnit]) -> str:
    if host.error:
        lines = [f"hub: {host.error}"]
    else:
        flags = ", ".join([("enabled" if host.enabled else "disabled"),
                           ("ready" if host.ready else f"not ready ({host.reason})")])
        lines = [f"host {host.name}: {flags}, load {host.task_load}/{host.capacity}, "
                 f"channels {', '.join(host.channels) or '-'}"]
        if host.polled is not None:
            lines[0] += f" (hub asked {max(0, int(time.time() - host.polled))} s ago)"
    if not units:
        return "\n".join([*lines, "no task units"])
    lines.append(f"{'task':<10} {'state':<20} {'age':>7} {'CPU':>9} {'memory':>15}  description")
    for unit in units:
        cpu = f"{unit.cpu_seconds:.1f} s" if unit.cpu_seconds is not None else "-"
        memory = f"{_size(unit.memory_bytes)}/{_size(unit.memory_limit_bytes)}"
        lines.append(f"{unit.task_id:<10} {unit.state:<20} {_age(unit.age_seconds):>7} "
                     f"{cpu:>9} {memory:>15}  {unit.description}")
        lines.append(f"{'':<10} log: {unit.log}")
    return "\n".join(lines)


def main(config: Config, *, as_json: bool = False) -> tuple[int, str]:
    host, units = read_host(config), read_units(config)
    if as_json:
        data: dict[str, Any] = {"host": asdict(host), "tasks": [asdict(u) for u in units]}
        return 0, json.dumps(data, indent=2)
    return 0, render(host, units)
