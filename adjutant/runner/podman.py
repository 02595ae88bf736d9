"""podman command lines, built by small pure functions and tested as lists.

A task's container runs in the foreground of its systemd unit, so the unit's
main process is `podman run` and the unit's exit status is the container's.
The reasons for each option are next to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Optional

from adjutant.runner.spec import Mount

TASK_LABEL = "io.adjutant.task"


def container_name(task_id: int) -> str:
    return f"adjutant-task-{task_id}"


def mount_options(mounts: Sequence[Mount]) -> list[str]:
    options = []
    for mount in mounts:
        mode = "ro" if mount.read_only else "rw"
        if mount.selinux:
            mode += f",{mount.selinux}"
        options += ["--volume", f"{mount.source}:{mount.target}:{mode}"]
    return options


def idmap_options(idmap: Optional[str]) -> list[str]:
    """uids and gids 0..size-1 of the container are host_start.. on the host:
    one fixed range, so files a step leaves in a shared root belong to the
    same ids in the next step ("host_start:size")."""
    if idmap is None:
        return []
    start, size = idmap.split(":")
    return ["--uidmap", f"0:{start}:{size}", "--gidmap", f"0:{start}:{size}"]


def network_options(*, network: bool) -> list[str]:
    # No network unless a task needs it (SCM checkout); builds run offline.
    return [] if network else ["--network=none"]


def task_run_argv(
    *,
    podman: Path,
    task_id: int,
    image: str,
    command: Sequence[str],
    mounts: Sequence[Mount] = (),
    env_file: Optional[Path] = None,
    workdir: Optional[str] = None,
    user: Optional[str] = None,
    network: bool = False,
    pull: str = "never",
    personality: Optional[str] = None,
    rootfs: Optional[str] = None,
    idmap: Optional[str] = None,
    drop_caps: bool = False,
) -> list[str]:
    """The `podman run` argv a task unit executes."""
    argv = [
        str(podman), "run",
        "--rm",
        # A leftover container of an earlier run of this task must not block this one.
        "--replace",
        "--name", container_name(task_id),
        "--label", f"{TASK_LABEL}={task_id}",
        # Signals reach the payload's processes and zombies are reaped.
        "--init",
        # podman, conmon and the payload all live in the unit's cgroup, so the
        # unit's limits bound the build and stopping the unit ends all of it.
        "--cgroups=split",
        # Output goes straight to the unit's stdout, so journald has each line
        # once, tagged with the unit (the journald driver would log it twice).
        "--log-driver=passthrough",
        # The unit's TasksMax= is the limit; podman's own default of 2048 is too
        # low for a parallel build.
        "--pids-limit=-1",
        f"--pull={pull}",
        # Nothing in the container gains privileges through a setuid or file-
        # capability binary (a build's own %install output among them), and
        # root inside keeps only podman's default set less what no build needs.
        "--security-opt=no-new-privileges",
        "--cap-drop=NET_BIND_SERVICE",
    ]
    if drop_caps:
        argv.append("--cap-drop=all")
    argv += idmap_options(idmap)
    if personality:
        argv.append(f"--personality={personality}")
    argv += network_options(network=network)
    argv += mount_options(mounts)
    if env_file is not None:
        argv += ["--env-file", str(env_file)]
    if workdir is not None:
        argv += ["--workdir", workdir]
    if user is not None:
        argv += ["--user", user]
    # a directory as the root filesystem (its owners are the idmap's range)
    argv += ["--rootfs", rootfs] if rootfs is not None else [image]
    argv += list(command)
    return argv


def pull_argv(*, podman: Path, image: str) -> list[str]:
    return [str(podman), "pull", image]


def image_id_argv(*, podman: Path, image: str) -> list[str]:
    return [str(podman), "image", "inspect", "--format", "{{.Id}}", image]


def remove_image_argv(*, podman: Path, image: str) -> list[str]:
    return [str(podman), "rmi", image]


def remove_container_argv(*, podman: Path, task_id: int) -> list[str]:
    """Remove a task's container if it is still there, killing it at once."""
    return [str(podman), "rm", "--force", "--ignore", "--volumes", "--time", "0",
            container_name(task_id)]


def task_containers_argv(*, podman: Path) -> list[str]:
    """List every container adjutant started, running or not, as JSON."""
    return [str(podman), "ps", "--all", "--format", "json", "--filter", f"label={TASK_LABEL}"]
