"""Prepared buildroots, kept as directories, and each task's view of one.

Koji's mock configs turn mock's root cache off, so kojid installs every
buildroot from scratch.  adjutant installs the tag's build group once into an
empty root and keeps it, one per (bootstrap image, tag, repo, arch, group):

    <buildroot_dir>/roots/<tag>-<repo>-<arch>-<group>-<hash>/
        root/        the installed tree (its files belong to the build_ids range)
        group.tsv    the group's package list (rpm -qa), the daemon's copy
    <buildroot_dir>/views/<task id>/
        upper/ work/ root/   the task's overlay: root/ is the prepared root with
                             the task's own changes (its BuildRequires) in upper/

The first task that needs a root prepares it under its own unit into
<name>.partial-<task id>/ and renames it when complete (an unfinished one
goes with its task); later tasks against the same
repo mount a view of it and install only their own BuildRequires.  A view is
copy-on-write: the prepared root is never changed, and a task's changes go
with its view.  A new repo is a new key, so a changed repo never reuses a
stale root.  At most `buildroot_cache_roots` roots are kept; the least
recently used are removed first, never one a view is mounted on.  One lock
per key: tasks wanting the same root at once wait for the one preparing it.

What a container wrote (every root, every upper/) is untrusted: the daemon
mounts and removes these trees (adjutant.untrusted.remove_tree, no link
followed) and never reads a file in them.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from adjutant.atomic import write_atomically
from adjutant.config import Config
from adjutant.errors import AdjutantError
from adjutant.process import run_async
from adjutant.untrusted import remove_tree

log = logging.getLogger(__name__)

# characters overlayfs' mount options cannot carry in a path
UNSAFE_IN_OPTIONS = re.compile(r"[,:\\\s=]")


@dataclass(frozen=True)
class RootKey:
    bootstrap_image_id: str
    tag: str
    repo_id: int
    arch: str
    group: str

    @property
    def name(self) -> str:
        digest = hashlib.sha256(
            f"{self.bootstrap_image_id}\0{self.tag}\0{self.repo_id}\0{self.arch}\0{self.group}"
            .encode()).hexdigest()[:12]
        readable = re.sub(r"[^A-Za-z0-9_.-]", "_",
                          f"{self.tag}-{self.repo_id}-{self.arch}-{self.group}")
        return f"{readable[:100]}-{digest}"


def overlay_mounts(mountinfo: str) -> dict[str, str]:
    """Mount point -> lowerdir of each overlay in a /proc/self/mountinfo text."""
    found = {}
    for line in mountinfo.splitlines():
        before, sep, after = line.partition(" - ")
        fields, rest = before.split(), after.split()
        if not sep or len(fields) < 5 or len(rest) < 3 or rest[0] != "overlay":
            continue
        options = dict(o.partition("=")[::2] for o in rest[2].split(","))
        if "lowerdir" in options:
            found[unescape_mountinfo(fields[4])] = unescape_mountinfo(options["lowerdir"])
    return found


def unescape_mountinfo(text: str) -> str:
    """mountinfo writes space, tab, newline and backslash as \\ooo."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def mounted_overlays() -> dict[str, str]:
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as handle:
            return overlay_mounts(handle.read())
    except OSError:
        return {}


def overlay_mount_argv(*, lower: Path, upper: Path, work: Path, target: Path) -> list[str]:
    for path in (lower, upper, work, target):
        if UNSAFE_IN_OPTIONS.search(str(path)):
            raise AdjutantError(f"buildroot_dir: {path} has a character overlayfs options "
                                "cannot carry (',', ':', '=', '\\\\' or a space)")
    return ["mount", "-t", "overlay", "overlay", "-o",
            f"lowerdir={lower},upperdir={upper},workdir={work}", str(target)]


def umount_argv(target: Path) -> list[str]:
    return ["umount", str(target)]


class TaskView:
    """A task's copy-on-write view of a prepared root (an overlay mount)."""

    def __init__(self, buildroot_dir: Path, task_id: int) -> None:
        self.path = buildroot_dir / "views" / str(task_id)
        self.root = self.path / "root"
        self.upper = self.path / "upper"
        self.work = self.path / "work"

    def lower(self) -> Optional[str]:
        """The prepared root this view is mounted on, if it is mounted."""
        return mounted_overlays().get(str(self.root))

    async def mount(self, lower: Path, owner: tuple[int, int]) -> None:
        """Mount the view on `lower` (again after a restart: the task's changes
        in upper/ are kept).  The root directory of the view is upper/'s, so it
        is given to the buildroot's root (`owner`, host uid and gid)."""
        current = self.lower()
        if current == str(lower):
            return
        if current is not None:
            await self.unmount()
        self.path.parent.mkdir(mode=0o711, parents=True, exist_ok=True)
        for directory in (self.path, self.upper, self.work, self.root):
            directory.mkdir(mode=0o755, exist_ok=True)
        # Searchable, not listable, by others: an older crun (1.8.1, Debian
        # 12's, tested as the EL9-like host) reaches the --rootfs from inside
        # the buildroot's user namespace, whose root is an "other" here
        # ("make ... private: Permission denied").  Only the host's
        # processes ever see this path.
        os.chmod(self.path, 0o711)
        # upper/ is the daemon's directory; what is under it is not looked at
        fd = os.open(self.upper, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            os.fchown(fd, *owner)
        finally:
            os.close(fd)
        await run_async(overlay_mount_argv(lower=lower, upper=self.upper, work=self.work,
                                           target=self.root), timeout=60)

    async def unmount(self) -> None:
        if self.lower() is not None:
            await run_async(umount_argv(self.root), timeout=60)

    async def remove(self) -> None:
        """Unmount the view and remove what the task changed in it."""
        await self.unmount()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, lambda: remove_tree(self.path, missing_ok=True))


def partial_path(entry: Path, task_id: int) -> Path:
    return entry.with_name(f"{entry.name}.partial-{task_id}")


def partial_task_ids(config: Config) -> dict[int, list[Path]]:
    """Task id -> the preparations it left unfinished (<name>.partial-<id>)."""
    found: dict[int, list[Path]] = {}
    for path in (config.buildroot_dir / "roots").glob("*.partial-*"):
        number = path.name.rsplit("-", 1)[1]
        if number.isdigit():
            found.setdefault(int(number), []).append(path)
    return found


async def remove_partials(config: Config, task_id: int) -> None:
    """What a task's unfinished preparations left (it was cancelled or failed)."""
    loop = asyncio.get_running_loop()
    for path in partial_task_ids(config).get(task_id, []):
        await loop.run_in_executor(None, functools.partial(remove_tree, path, missing_ok=True))


def views_dir(config: Config) -> Path:
    return config.buildroot_dir / "views"


async def remove_view(config: Config, task_id: int) -> None:
    """The end of a task's view (its buildroot changes), if it has one."""
    view = TaskView(config.buildroot_dir, task_id)
    if view.path.exists():
        await view.remove()


def view_task_ids(config: Config) -> list[int]:
    try:
        return sorted(int(p.name) for p in views_dir(config).iterdir() if p.name.isdigit())
    except OSError:
        return []


class RootCache:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.directory = config.buildroot_dir / "roots"
        self._locks: dict[str, asyncio.Lock] = {}
        self._in_use: dict[str, int] = {}

    # ---- the index: name -> last use ---------------------------------------------

    def _index_path(self) -> Path:
        return self.directory / "index.json"

    def _index(self) -> dict[str, dict[str, float]]:
        try:
            return json.loads(self._index_path().read_text())
        except (OSError, ValueError):
            return {}

    def _save_index(self, index: dict[str, dict[str, float]]) -> None:
        write_atomically(self._index_path(), json.dumps(index, sort_keys=True))

    def root_of(self, name: str) -> Path:
        return self.directory / name / "root"

    # ---- use ---------------------------------------------------------------------------

    async def ensure(self, key: RootKey, prepare: Callable[[Path], Awaitable[Path]], *,
                     task_id: int) -> tuple[Path, str, bool]:
        """The prepared root for `key`, its group package list (rpm -qa text)
        and whether it was there already.  `prepare(directory)` installs the
        root into `directory` (empty, made here) under the calling task's unit
        and returns the package list file."""
        name = key.name
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            entry = self.directory / name
            listing = entry / "group.tsv"
            hit = listing.is_file() and (entry / "root").is_dir()
            if not hit:
                await self._make(entry, prepare, task_id)
            index = self._index()
            index.setdefault(name, {"created": time.time()})["last_used"] = time.time()
            self._save_index(index)
            self._in_use[name] = self._in_use.get(name, 0) + 1
        if not hit:
            await self.prune()
        return entry / "root", listing.read_text(), hit

    async def _make(self, entry: Path, prepare: Callable[[Path], Awaitable[Path]],
                    task_id: int) -> None:
        """Prepare into <name>.partial-<task id> (the task's own: a task resumed
        after a restart finds its preparation there, still running or done),
        then rename it to <name>."""
        loop = asyncio.get_running_loop()
        partial = partial_path(entry, task_id)
        await loop.run_in_executor(None, lambda: remove_tree(entry, missing_ok=True))
        partial.mkdir(mode=0o755, parents=True, exist_ok=True)
        made = await prepare(partial / "root")
        shutil.copyfile(made, partial / "group.tsv")
        os.rename(partial, entry)

    def done_with(self, root: Path) -> None:
        name = root.parent.name
        count = self._in_use.get(name, 0) - 1
        if count > 0:
            self._in_use[name] = count
        else:
            self._in_use.pop(name, None)

    async def prune(self, keep: Optional[int] = None) -> list[str]:
        """Remove the least recently used roots beyond the limit; returns their names."""
        limit = self.config.buildroot_cache_roots if keep is None else keep
        index = self._index()
        lowers = set(mounted_overlays().values())
        by_age = sorted(index, key=lambda name: index[name].get("last_used", 0), reverse=True)
        removed = []
        loop = asyncio.get_running_loop()
        for name in by_age[limit:]:
            if self._in_use.get(name) or str(self.root_of(name)) in lowers:
                continue
            entry = self.directory / name
            try:
                await loop.run_in_executor(None, functools.partial(remove_tree, entry,
                                                                   missing_ok=True))
            except OSError as exc:
                log.warning("could not remove prepared buildroot %s: %s", entry, exc)
                continue
            index.pop(name, None)
            removed.append(name)
        if removed:
            self._save_index(index)
            log.info("removed prepared buildroots: %s", ", ".join(removed))
        return removed
