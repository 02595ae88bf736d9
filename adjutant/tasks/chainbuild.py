"""chainbuild(srcs, target, opts): builds in levels, as kojid's
ChainBuildTask.  `srcs` is a list of levels, each a list of SCM URLs (built
by a `build` subtask with the target and opts) and N-V-Rs (builds that
already exist); a level starts once the builds of the one before are in
the build tag's repo (a `waitrepo` subtask holding them).  Nothing here is
made twice after a restart: each subtask has its own label."""

from __future__ import annotations

from typing import Any, Optional

from adjutant.buildroot.failure import build_error
from adjutant.tasks.base import TaskHandler
from adjutant.tasks.build import is_scm_url


class ChainBuildHandler(TaskHandler):
    methods = ("chainbuild",)
    weight = 0.1  # mostly waiting on other tasks

    async def handle(self, srcs: list[list[str]], target: Any,
                     opts: Optional[dict[str, Any]] = None) -> None:
        import koji

        ctx, hub = self.ctx, self.ctx.hub
        opts = opts or {}
        if opts.get("scratch"):
            raise build_error("--scratch is not allowed with chain-builds")
        target_info = await hub.call("getBuildTarget", target)
        if not target_info:
            raise koji.GenericError(f"unknown build target: {target}")
        nvrs: list[str] = []
        for n_level, level in enumerate(srcs):
            if nvrs:
                waiting = await ctx.subtask("waitrepo", [target_info["build_tag_name"], None, nvrs],
                                            label=f"wait {n_level}")
                await ctx.wait([waiting], all=True, failany=True)
            nvrs = []
            builds = []
            for n_src, src in enumerate(level):
                if is_scm_url(src):
                    builds.append(await ctx.subtask("build", [src, target, opts],
                                                    label=f"build {n_level},{n_src}"))
                else:
                    nvrs.append(src)  # the next level waits for it too
            if builds:
                await ctx.wait(builds, all=True, failany=True)
            # the builds this level made, for the next level's wait
            for task_id in builds:
                made = await hub.call("listBuilds", taskID=task_id)
                if made:
                    nvrs.append(made[0]["nvr"])
