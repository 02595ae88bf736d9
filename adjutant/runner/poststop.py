"""The ExecStopPost= of every task unit: record how the task ended and what it
consumed, then make sure its container is gone.

It runs inside the unit's cgroup after the main process (podman run) ended and
before systemd removes the cgroup, which is the last moment the peak memory
and, on cgroup v1, the memory limit's fail counter can be read.  systemd gives
it the end in $SERVICE_RESULT, $EXIT_CODE and $EXIT_STATUS.  The record,
`exit.json` in the task's state directory, is what the runner reads to name
the outcome, also when adjutant was not running when the task ended.

    python3 -I -S .../adjutant/runner/poststop.py STATE_DIR TASK_ID PODMAN ACTION

It runs at the end of every task, so it starts as a plain script without
site-packages (-I -S) and imports only os, sys, json and time: 12 ms instead
of 30 ms with argparse, pathlib and typing (measured in the test host).  It
prints nothing unless something goes wrong: its output lands in the task's
log.
"""

from __future__ import annotations

import json
import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional, Union

    PathLike = Union[str, "os.PathLike[str]"]

EXIT_RECORD = "exit.json"
CGROUP_ROOT = "/sys/fs/cgroup"
# Values cgroup v1 uses for "no limit" are near 2**63.
V1_UNLIMITED = 2**62
REMOVE_ATTEMPTS = 3


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """{controller: path} from /proc/<pid>/cgroup; '' is the unified hierarchy.

    The path is the unit's own cgroup: systemd runs a delegated unit's control
    processes (this one) in a '.control' child, which is stripped.
    """
    paths: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if path.endswith("/.control"):
            path = path[: -len("/.control")]
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths


def _read_text(path: PathLike) -> Optional[str]:
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def _read_int(path: PathLike) -> Optional[int]:
    text = (_read_text(path) or "").strip()
    if not text or text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _read_keyed(path: PathLike) -> dict[str, int]:
    """'key value' lines (cpu.stat, memory.events, memory.oom_control)."""
    values: dict[str, int] = {}
    for line in (_read_text(path) or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            values[parts[0]] = int(parts[1])
    return values


def _sum_v1_oom_kills(memcg: str) -> int:
    """cgroup v1 counts an OOM kill in the victim's own memcg, which may be a
    child (podman's payload cgroup); add them all up."""
    total = 0
    for directory, _, files in os.walk(memcg):
        if "memory.oom_control" in files:
            total += _read_keyed(os.path.join(directory, "memory.oom_control")).get("oom_kill", 0)
    return total


def read_usage(paths: dict[str, str], root: PathLike = CGROUP_ROOT) -> dict[str, Optional[int]]:
    """CPU time, peak memory, memory limit and OOM evidence of the cgroup `paths` name."""
    root = os.fspath(root)
    usage: dict[str, Optional[int]] = {
        "cgroup_version": None, "cpu_usage_nsec": None, "memory_peak_bytes": None,
        "memory_limit_bytes": None, "memory_limit_hits": None, "oom_kills": None,
    }
    unified = paths.get("", "/").lstrip("/")
    if os.path.exists(os.path.join(root, "cgroup.controllers")):
        usage["cgroup_version"] = 2
        base = os.path.join(root, unified)
        usec = _read_keyed(os.path.join(base, "cpu.stat")).get("usage_usec")
        usage["cpu_usage_nsec"] = None if usec is None else usec * 1000
        usage["memory_peak_bytes"] = _read_int(os.path.join(base, "memory.peak"))
        usage["memory_limit_bytes"] = _read_int(os.path.join(base, "memory.max"))
        events = _read_keyed(os.path.join(base, "memory.events"))
        usage["memory_limit_hits"] = events.get("max")
        usage["oom_kills"] = events.get("oom_kill")
        return usage

    usage["cgroup_version"] = 1
    # Hybrid hosts keep cpu.stat in the unified tree even without controllers.
    usec = _read_keyed(os.path.join(root, "unified", unified, "cpu.stat")).get("usage_usec")
    if usec is not None:
        usage["cpu_usage_nsec"] = usec * 1000
    elif "cpuacct" in paths:
        usage["cpu_usage_nsec"] = _read_int(
            os.path.join(root, "cpuacct", paths["cpuacct"].lstrip("/"), "cpuacct.usage"))
    if "memory" in paths:
        memcg = os.path.join(root, "memory", paths["memory"].lstrip("/"))
        usage["memory_peak_bytes"] = _read_int(os.path.join(memcg, "memory.max_usage_in_bytes"))
        limit = _read_int(os.path.join(memcg, "memory.limit_in_bytes"))
        usage["memory_limit_bytes"] = limit if limit is not None and limit < V1_UNLIMITED else None
        usage["memory_limit_hits"] = _read_int(os.path.join(memcg, "memory.failcnt"))
        usage["oom_kills"] = _sum_v1_oom_kills(memcg)
    return usage


def container_to_remove(action: str, service_result: str, exit_code: str,
                        exit_status: str) -> bool:
    """Whether the task's container must be removed now.

    run: when `podman run --rm` exits by itself, it has already removed the
    container; only when podman itself was killed (stop, cancel, time-out) or
    failed (125-127) can one remain.  Skipping `podman rm` otherwise saves a
    podman start-up at the end of every task.
    pull: none.
    """
    if action == "pull":
        return False
    if service_result in ("success", "exit-code") and exit_code == "exited":
        return exit_status in ("125", "126", "127")
    return True


def write_record(state_dir: PathLike, record: dict[str, object]) -> str:
    state_dir = os.fspath(state_dir)
    os.makedirs(state_dir, exist_ok=True)
    target = os.path.join(state_dir, EXIT_RECORD)
    temporary = target + ".tmp"
    with open(temporary, "w") as handle:
        handle.write(json.dumps(record, sort_keys=True))
    os.replace(temporary, target)
    return target


def remove_container(podman: str, task_id: int) -> int:
    """`podman rm --force` the task's container, twice if need be: when conmon
    was killed with the rest of the unit, the first attempt only marks the
    container stopped ("conmon exited prematurely") and the second removes it."""
    # Run as a script without site-packages: find the adjutant package by path.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))
    from pathlib import Path  # here: the common path of this script imports little

    from adjutant.errors import AdjutantError
    from adjutant.process import run
    from adjutant.runner.podman import remove_container_argv

    error: Optional[AdjutantError] = None
    for _ in range(REMOVE_ATTEMPTS):
        try:
            run(remove_container_argv(podman=Path(podman), task_id=task_id), timeout=60)
            return 0
        except AdjutantError as exc:
            error = exc
    print(f"adjutant: could not remove the task's container: {error}", file=sys.stderr)
    return 1


def main(argv: list[str]) -> int:
    if len(argv) not in (3, 4) or not argv[1].isdigit():
        print("usage: poststop.py STATE_DIR TASK_ID PODMAN [ACTION]", file=sys.stderr)
        return 2
    state_dir, task_id, podman = argv[0], int(argv[1]), argv[2]
    action = argv[3] if len(argv) == 4 else "run"
    result = os.environ.get("SERVICE_RESULT", "")
    exit_code = os.environ.get("EXIT_CODE", "")
    exit_status = os.environ.get("EXIT_STATUS", "")
    cgroups = _read_text("/proc/self/cgroup")
    if cgroups is None:
        print("adjutant: could not read the task's resource usage", file=sys.stderr)
        usage: dict[str, Optional[int]] = {}
    else:
        usage = read_usage(parse_proc_cgroup(cgroups))
    record = {
        "task_id": task_id,
        "invocation_id": os.environ.get("INVOCATION_ID", ""),
        "service_result": result,
        "exit_code": exit_code,
        "exit_status": exit_status,
        "usage": usage,
        "recorded_at": time.time(),
    }
    write_record(state_dir, record)
    if container_to_remove(action, result, exit_code, exit_status):
        return remove_container(podman, task_id)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
