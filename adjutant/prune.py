"""`adjutant prune`: what the daemon keeps on disk, trimmed now rather than
at its next task: prepared buildroots beyond buildroot_cache_roots (least
recently used first; never one a task's view is mounted on), the host's
package cache beyond as many repos, and failed tasks' kept work
directories (and views) whose failed_buildroot_lifetime is over.  With
`--all`, every prepared root not in use and every kept work directory go.
Safe beside a running daemon: what a running task uses is never removed."""

from __future__ import annotations

import asyncio
import functools
import time
from dataclasses import dataclass, field

from adjutant.buildroot.downloads import PackageCache
from adjutant.buildroot.roots import RootCache, remove_view
from adjutant.config import Config
from adjutant.untrusted import remove_tree
from adjutant.worker import state as task_state


@dataclass
class Pruned:
    roots: list[str] = field(default_factory=list)
    downloads: list[str] = field(default_factory=list)
    kept_tasks: list[int] = field(default_factory=list)

    def render(self) -> str:
        return "\n".join([
            f"prepared buildroots removed: {len(self.roots)}"
            + (f" ({', '.join(self.roots)})" if self.roots else ""),
            f"package caches removed: {len(self.downloads)}",
            f"kept work directories removed: {len(self.kept_tasks)}"
            + (f" (tasks {', '.join(map(str, self.kept_tasks))})" if self.kept_tasks else ""),
        ])


async def prune(config: Config, *, everything: bool = False) -> Pruned:
    pruned = Pruned()
    pruned.roots = await RootCache(config).prune(keep=0 if everything else None)
    keep = 0 if everything else config.buildroot_cache_roots
    downloads = PackageCache(config.buildroot_dir / "downloads", keep=keep)
    pruned.downloads = await asyncio.get_running_loop().run_in_executor(None, downloads.prune)
    until = float("inf") if everything else time.time()
    for task_id, workdir in task_state.expired_workdirs(config.state_dir, until):
        await remove_view(config, task_id)
        await asyncio.get_running_loop().run_in_executor(
            None, functools.partial(remove_tree, workdir, missing_ok=True))
        task_state.forget_kept(config.state_dir, task_id)
        pruned.kept_tasks.append(task_id)
    return pruned
