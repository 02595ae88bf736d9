"""What a buildroot's containers see of the host: the mounts of every one
(the task's work directory, the daemon's inputs) and of the installing ones
(the root, the package cache, a repo under topdir), with their SELinux labels."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from adjutant.buildroot.script import BUILDDIR, DNF_CACHE, INPUTS, INSTALLROOT
from adjutant.runner.spec import Mount


def selinux_enabled() -> bool:
    """Whether this host has SELinux on (its filesystem is mounted)."""
    return os.path.exists("/sys/fs/selinux/enforce")


def build_mounts(*, workdir: Path, inputs: Path, selinux: bool) -> list[Mount]:
    """What every container of a buildroot sees of the host: the task's work
    directory (read-write, its own) and the daemon's scripts and inputs
    (read-only).  With SELinux on, both are relabelled private to the task's
    containers (Z)."""
    label = "Z" if selinux else None
    return [Mount(str(workdir), BUILDDIR, read_only=False, selinux=label),
            Mount(str(inputs), INPUTS, selinux=label)]


def install_mounts(*, root: Path, dnf_cache: Path, repo_dir: Optional[Path],
                   packages: Optional[Path], selinux: bool) -> list[Mount]:
    """What a bootstrap container installing into `root` sees besides: the
    root at /buildroot and the task's package cache (read-write, relabelled
    private, Z); a repo under topdir, and the packages its toplink points
    into, read-only at their own paths (the repo relabelled shared, z).
    packages/ is far too big to relabel on every build: label it once for
    containers (container_ro_file_t; virt_use_nfs on an NFS /mnt/koji), see
    the README.  A repo over topurl has neither."""
    private = "Z" if selinux else None
    mounts = [Mount(str(root), INSTALLROOT, read_only=False),
              Mount(str(dnf_cache), DNF_CACHE, read_only=False, selinux=private)]
    if repo_dir is not None:
        mounts.append(Mount(str(repo_dir), str(repo_dir), selinux="z" if selinux else None))
    if repo_dir is not None and packages is not None:
        mounts.append(Mount(str(packages), str(packages)))
    return mounts
