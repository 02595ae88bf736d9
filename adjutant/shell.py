"""`adjutant shell TASK [-- COMMAND]`: a shell (or a command) in a task's
buildroot, to see what a build sees: in its running container
(podman exec, as the step's own user), or, for a failed task whose work
directory is kept (failed_buildroot_lifetime), in a new container on the
kept view of its buildroot, as the build user, with its work directory at
/builddir and no network, in the buildroots' user namespace."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Optional

from adjutant.buildroot.roots import TaskView
from adjutant.buildroot.script import BUILD_GID, BUILD_UID, BUILDDIR
from adjutant.config import Config, build_id_range
from adjutant.errors import AdjutantError
from adjutant.process import run
from adjutant.runner.podman import container_name, idmap_options
from adjutant.tasks.base import task_workdir

DEFAULT_COMMAND = ("/bin/bash", "-l")


def exec_argv(podman: Path, task_id: int, command: Sequence[str], *, tty: bool) -> list[str]:
    return [str(podman), "exec", *(["-it"] if tty else ["-i"]), container_name(task_id),
            *command]


def kept_argv(*, podman: Path, view_root: Path, workdir: Path, idmap: Optional[str],
              command: Sequence[str], tty: bool) -> list[str]:
    return [str(podman), "run", "--rm", *(["-it"] if tty else ["-i"]), "--network=none",
            *idmap_options(idmap), "--user", f"{BUILD_UID}:{BUILD_GID}",
            "--volume", f"{workdir}:{BUILDDIR}", "--workdir", BUILDDIR,
            "--rootfs", str(view_root), *command]


def running(podman: Path, task_id: int) -> bool:
    found = run([str(podman), "container", "inspect", "--format", "{{.State.Running}}",
                 container_name(task_id)], accept=(0, 125), timeout=60)
    return found.returncode == 0 and found.stdout.strip() == "true"


def shell_argv(config: Config, task_id: int, command: Sequence[str], *, tty: bool) -> list[str]:
    command = list(command) or list(DEFAULT_COMMAND)
    if running(config.podman, task_id):
        return exec_argv(config.podman, task_id, command, tty=tty)
    view = TaskView(config.buildroot_dir, task_id)
    if view.lower() is None:
        raise AdjutantError(f"task {task_id} has no running container and no kept buildroot "
                            "here (a failed task's is kept failed_buildroot_lifetime)")
    ids = build_id_range(config, "kojid.conf")
    return kept_argv(podman=config.podman, view_root=view.root,
                     workdir=task_workdir(config, task_id),
                     idmap=f"{ids[0]}:{ids[1]}" if ids else None, command=command, tty=tty)
