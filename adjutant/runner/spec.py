"""What the runner is asked to run: a `TaskSpec` (image, command, mounts,
environment, limits) for one task.  Specs are plain data, saved as JSON in the
task's state directory so that a restarted runner can finish the task."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass(frozen=True)
class Mount:
    """A host path bound into the container; read-only unless said otherwise."""

    source: str
    target: str
    read_only: bool = True
    # SELinux relabel, podman's z (shared: the container type, any container)
    # or Z (private: this container's categories only); None: as it is
    selinux: Optional[str] = None

    def __post_init__(self) -> None:
        if self.selinux not in (None, "z", "Z"):
            raise ValueError(f"mount {self.target}: SELinux relabel must be z or Z")


@dataclass(frozen=True)
class ResourceLimits:
    """Limits of one task's unit.  None means no limit."""

    memory_max: Optional[int] = None  # bytes
    cpus: Optional[float] = None  # 1.5 = one and a half CPUs
    tasks_max: Optional[int] = None
    io_weight: Optional[int] = None  # 1..10000
    runtime_max: Optional[float] = None  # seconds



# What a task unit's podman does (see runner/podman.py):
#   run      podman run --rm IMAGE COMMAND
#   pull     podman pull IMAGE
ACTIONS = ("run", "pull")


@dataclass(frozen=True)
class TaskSpec:
    task_id: int
    image: str
    command: tuple[str, ...]
    # Shown by `systemctl status`: say which Koji task this is, e.g.
    # "Koji task 12345: buildArch foo-1.0-1.src.rpm x86_64".
    description: str
    mounts: tuple[Mount, ...] = ()
    # The container's environment; written to a root-only file, never into the
    # unit's properties, which every local user can read.
    environment: Mapping[str, str] = field(default_factory=dict)
    workdir: Optional[str] = None
    user: Optional[str] = None
    network: bool = False
    limits: ResourceLimits = ResourceLimits()
    # Where the unit's journal is copied; None means the configured default,
    # <log_dir>/<task_id>/container.log.
    log_path: Optional[str] = None
    # Add this run's output to the log instead of starting it afresh: for the
    # second and later steps of one task (prepare, build, ...).
    log_append: bool = False
    action: str = "run"
    # podman --personality (LINUX32: uname -m says i686 on an x86_64 host)
    personality: Optional[str] = None
    # A directory to run as the container's root filesystem instead of `image`
    # (podman --rootfs): a task's view of a prepared buildroot.
    rootfs: Optional[str] = None
    # A user namespace mapping uids and gids 0..size-1 inside to
    # host_start..host_start+size-1 ("host_start:size"; podman --uidmap/--gidmap)
    idmap: Optional[str] = None
    # Drop every capability (podman --cap-drop=all): for a build user's steps
    drop_caps: bool = False

    def __post_init__(self) -> None:
        if self.task_id < 1:
            raise ValueError(f"task id {self.task_id} is not a Koji task id")
        if self.action not in ACTIONS:
            raise ValueError(f"task {self.task_id}: unknown action {self.action!r}")
        if self.action == "run" and not self.command:
            raise ValueError(f"task {self.task_id}: empty command")
        for mount in self.mounts:
            if not (mount.source.startswith("/") and mount.target.startswith("/")):
                raise ValueError(f"task {self.task_id}: mount {mount} needs absolute paths")
            if ":" in mount.source or ":" in mount.target:
                raise ValueError(f"task {self.task_id}: mount {mount} has a ':' in a path")
        if self.rootfs is not None and (not self.rootfs.startswith("/") or ":" in self.rootfs):
            raise ValueError(f"task {self.task_id}: rootfs {self.rootfs!r} must be an absolute "
                             "path without ':'")
        if self.idmap is not None:
            start, _, size = self.idmap.partition(":")
            if not (start.isdigit() and size.isdigit() and int(size) > 0):
                raise ValueError(f"task {self.task_id}: idmap {self.idmap!r} is not START:SIZE")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TaskSpec:
        data: dict[str, Any] = json.loads(text)
        data["command"] = tuple(data["command"])
        data["mounts"] = tuple(Mount(**m) for m in data["mounts"])
        data["limits"] = ResourceLimits(**data["limits"])
        return cls(**data)
