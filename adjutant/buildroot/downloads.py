"""The host's cache of packages fetched over topurl: each RPM of a repo is
downloaded once per host, not once per build.

The package manager of each installing step keeps its cache (dnf's cachedir,
keepcache on) in the task's own directory, `views/<task>/dnf`, which its
container writes.  Around each step the daemon:

    seed      links every package the host already has for the repo into it
              (hard links of the daemon's files, root's and read-only: the
              container may remove one, never change it), so dnf finds them
              in its cache and does not download them again
    harvest   copies what the step downloaded (the files there with one link:
              not seeded) into the host's cache, a new file of the daemon's
              per package, never following a link or opening anything but
              a regular file

The host's cache is `<buildroot_dir>/downloads/<key>/`, one directory per repo
URL, laid out as dnf lays out its cachedir (`<repo dir>/packages/<file>.rpm`)
so that a seeded file is where dnf looks.  Nothing a container wrote is
trusted for what it claims to be: dnf checks every cached package against the
checksum of the repo's metadata (fetched from the hub by that task) before it
installs one, and downloads again any that does not match, so a file planted
in a task's cache cannot reach another task's buildroot.  Metadata is not
shared for that reason: each task's dnf fetches the repo's own.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from adjutant.untrusted import UntrustedDir, UntrustedFileError, remove_tree

PACKAGES = "packages"
# the largest RPM taken into the host's cache (a debuginfo RPM can be large)
MAX_PACKAGE = 16 * 1024**3


def repo_key(url: str) -> str:
    """The host cache's directory name for the repo at `url`."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def _cache_name(name: str) -> bool:
    """A name dnf gives a repo's cache directory or a package file: no path,
    nothing hidden, nothing unprintable."""
    return bool(name) and name.isprintable() and "/" not in name and not name.startswith(".")


class PackageCache:
    def __init__(self, directory: Path, keep: int) -> None:
        self.directory = directory
        self.keep = keep

    def seed(self, url: str, task_cache: Path, owner: tuple[int, int]) -> int:
        """Link the host's packages of the repo at `url` into `task_cache`
        (made for `owner`, the installing root, if it is not there); returns
        how many were linked.  Called before the step's container runs."""
        task_cache.mkdir(mode=0o755, exist_ok=True)
        os.chown(task_cache, *owner, follow_symlinks=False)
        shared = self.directory / repo_key(url)
        if not shared.is_dir():
            return 0
        os.utime(shared)  # last use, for prune()
        linked = 0
        with UntrustedDir(task_cache) as target:
            for repo_dir in sorted(os.listdir(shared)):
                source = shared / repo_dir / PACKAGES
                if not _cache_name(repo_dir) or not source.is_dir():
                    continue
                try:
                    target.make_dir(repo_dir, owner=owner)
                    target.make_dir(f"{repo_dir}/{PACKAGES}", owner=owner)
                    fd = target.open_dir(f"{repo_dir}/{PACKAGES}")
                except UntrustedFileError:
                    continue  # made something else by an earlier step: not seeded
                try:
                    for name in os.listdir(source):
                        try:
                            os.link(source / name, name, dst_dir_fd=fd, follow_symlinks=False)
                            linked += 1
                        except FileExistsError:
                            pass  # seeded before this step, or downloaded by an earlier one
                finally:
                    os.close(fd)
        return linked

    def harvest(self, url: str, task_cache: Path) -> list[str]:
        """Copy the packages a step downloaded into `task_cache` to the host's
        cache of the repo at `url`; returns their names.  A file that is not
        a plain file of one link is left where it is."""
        shared = self.directory / repo_key(url)
        taken: list[str] = []
        if not task_cache.is_dir():
            return taken
        with UntrustedDir(task_cache) as source:
            for repo_dir in source.list_regular().directories:
                if not _cache_name(repo_dir) or not source.exists(f"{repo_dir}/{PACKAGES}"):
                    continue
                try:
                    listing = source.list_regular(f"{repo_dir}/{PACKAGES}", "*.rpm")
                except UntrustedFileError:
                    continue  # packages/ is not a directory
                destination = shared / repo_dir / PACKAGES
                for name in listing.files:
                    if not _cache_name(name) or (destination / name).exists():
                        continue
                    partial = destination / f".{name}.{os.getpid()}-{threading.get_ident()}.part"
                    try:
                        destination.mkdir(mode=0o755, parents=True, exist_ok=True)
                        partial.unlink(missing_ok=True)
                        source.copy_out(f"{repo_dir}/{PACKAGES}/{name}", partial,
                                        max_size=MAX_PACKAGE)
                        partial.replace(destination / name)
                    except (UntrustedFileError, OSError):
                        # changed under us, or the cache pruned meanwhile: not
                        # taken; a cache is only ever short of a package
                        partial.unlink(missing_ok=True)
                        continue
                    taken.append(name)
        return taken

    def prune(self) -> list[str]:
        """Remove the caches of all but the `keep` repos used last; returns their keys."""
        if not self.directory.is_dir():
            return []
        entries = []
        for entry in os.scandir(self.directory):
            if entry.is_dir(follow_symlinks=False):
                entries.append((entry.stat(follow_symlinks=False).st_mtime, entry.name))
        removed = []
        for _, name in sorted(entries, reverse=True)[self.keep:]:
            remove_tree(self.directory / name, missing_ok=True)
            removed.append(name)
        return removed
