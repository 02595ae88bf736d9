"""Prepared buildroots, kept as local images.

Koji's mock configs turn mock's root cache off, so kojid installs every
buildroot from scratch.  adjutant keeps the tag's build group installed in an
image, one per (base image, tag, repo, arch, group):

    localhost/adjutant-buildroot-cache:<tag>-<repo id>-<arch>-<group>-<hash>

The first task that needs one prepares it under its own unit (a `keep` run of
the base image installing the group, then a `commit` step) and records the
group's package list beside it; later tasks against the same repo start from
it and install only their own BuildRequires.  A new repo is a new key, so a
changed repo never reuses a stale buildroot.  At most `buildroot_cache_images`
images are kept; the least recently used are removed first, never one a
running task uses.  One lock per key: tasks wanting the same buildroot at
once wait for the one that prepares it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import shutil
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from adjutant.atomic import write_atomically
from adjutant.config import Config
from adjutant.process import CommandError, run_async
from adjutant.runner.podman import image_exists_argv, remove_image_argv

log = logging.getLogger(__name__)

CACHE_REPOSITORY = "localhost/adjutant-buildroot-cache"


@dataclass(frozen=True)
class BuildrootKey:
    base_image_id: str
    tag: str
    repo_id: int
    arch: str
    group: str

    @property
    def image(self) -> str:
        digest = hashlib.sha256(
            f"{self.base_image_id}\0{self.tag}\0{self.repo_id}\0{self.arch}\0{self.group}".encode()
        ).hexdigest()[:12]
        # image tags allow [A-Za-z0-9_.-], at most 128 characters
        tag = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{self.tag}-{self.repo_id}-{self.arch}-{self.group}")
        return f"{CACHE_REPOSITORY}:{tag[:100]}-{digest}"


class BuildrootCache:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.directory = config.state_dir / "buildroot-cache"
        self._locks: dict[str, asyncio.Lock] = {}
        self._in_use: dict[str, int] = {}

    # ---- the index: image -> last use, group package list -----------------------

    def _index_path(self) -> Path:
        return self.directory / "index.json"

    def _index(self) -> dict[str, dict[str, float]]:
        try:
            return json.loads(self._index_path().read_text())
        except (OSError, ValueError):
            return {}

    def _save_index(self, index: dict[str, dict[str, float]]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        write_atomically(self._index_path(), json.dumps(index, sort_keys=True))

    def rpm_list_path(self, image: str) -> Path:
        return self.directory / (hashlib.sha256(image.encode()).hexdigest()[:24] + ".tsv")

    # ---- podman on the host (no container work) ------------------------------------

    async def _podman(self, argv: list[str], accept: tuple[int, ...] = (0,)) -> int:
        return (await run_async(argv, accept=accept, timeout=300)).returncode

    async def image_exists(self, image: str) -> bool:
        return await self._podman(image_exists_argv(podman=self.config.podman, image=image),
                                  accept=(0, 1)) == 0  # fmt: skip

    # ---- use ---------------------------------------------------------------------------

    async def ensure(self, key: BuildrootKey, prepare: Callable[[str], Awaitable[Path]]) -> \
            tuple[str, str, bool]:  # fmt: skip
        """The cached image for `key` and its group package list (rpm -qa text),
        and whether it was there already.  `prepare(image)` makes the image
        (under the calling task's unit) and returns its package list file."""
        image = key.image
        lock = self._locks.setdefault(image, asyncio.Lock())
        async with lock:
            listing = self.rpm_list_path(image)
            hit = listing.exists() and await self.image_exists(image)
            if not hit:
                made = await prepare(image)
                self.directory.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(made, listing)
            index = self._index()
            entry = index.setdefault(image, {"created": time.time()})
            entry["last_used"] = time.time()
            self._save_index(index)
            self._in_use[image] = self._in_use.get(image, 0) + 1
        if not hit:
            await self.prune()
        return image, listing.read_text(), hit

    def done_with(self, image: str) -> None:
        count = self._in_use.get(image, 0) - 1
        if count > 0:
            self._in_use[image] = count
        else:
            self._in_use.pop(image, None)

    async def prune(self, keep: Optional[int] = None) -> list[str]:
        """Remove the least recently used images beyond the limit; returns them."""
        limit = self.config.buildroot_cache_images if keep is None else keep
        index = self._index()
        by_age = sorted(index, key=lambda image: index[image].get("last_used", 0), reverse=True)
        removed = []
        for image in by_age[limit:]:
            if self._in_use.get(image):
                continue
            try:
                await self._podman(remove_image_argv(podman=self.config.podman, image=image),
                                   accept=(0, 1))  # fmt: skip
            except CommandError as exc:
                log.warning("could not remove cached buildroot %s: %s", image, exc)
                continue
            index.pop(image, None)
            self.rpm_list_path(image).unlink(missing_ok=True)
            removed.append(image)
        if removed:
            self._save_index(index)
            log.info("removed cached buildroots: %s", ", ".join(removed))
        return removed
