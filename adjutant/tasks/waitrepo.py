"""waitrepo(tag, newer_than, nvrs, min_event): wait until the tag has a repo
that will do, as kojid's WaitrepoTask (koji.util's RepoWatcher): a READY repo
of the tag (made after min_event; holding the builds `nvrs` when given),
which the hub makes when asked (repo.request).  It is checked at every poll
of the daemon, and the wait ends after kojid's two hours, naming what it
waited for.  The result is the repo's info, as kojid's."""

from __future__ import annotations

import time
from typing import Any, Optional

from adjutant.buildroot.failure import build_error
from adjutant.tasks.base import TaskHandler

TIMEOUT = 120 * 60  # kojid's WaitrepoTask.TIMEOUT


class WaitrepoHandler(TaskHandler):
    methods = ("waitrepo",)
    weight = 0.2

    async def handle(self, tag: Any, newer_than: Optional[Any] = None,
                     nvrs: Optional[list[str]] = None,
                     min_event: Optional[Any] = None) -> dict[str, Any]:
        import koji

        ctx, hub = self.ctx, self.ctx.hub
        info = await hub.call("getTag", tag, strict=True)
        if newer_than is not None and min_event is None:
            # newer_than: a time (old clients); the first event after it
            min_event = (await hub.call("getLastEvent", before=newer_than))["id"]
        if min_event == "last":
            min_event = await hub.call("tagLastChangeEvent", info["id"])
        wanted = [koji.parse_NVR(nvr) for nvr in nvrs or []]
        started = float(await ctx.memo.once("waitrepo:started", self._now))
        while True:
            # koji.util.RepoWatcher: no repo is asked for before the builds are
            # tagged, and then one newer than the tag's last change
            if not wanted or await self._has_builds(info["id"], None, wanted):
                if wanted and min_event is None:
                    min_event = await hub.call("tagLastChangeEvent", info["id"])
                repo = (await hub.call("repo.request", info["id"],
                                       min_event=min_event)).get("repo")
                if repo and await self._has_builds(info["id"], repo["create_event"], wanted):
                    return dict(repo)
            if time.time() - started > TIMEOUT:
                what = (f"{', '.join(nvrs or [])} to appear in the {info['name']} repo"
                        if wanted else f"a new {info['name']} repo")
                raise build_error(f"Unsuccessfully waited {TIMEOUT // 60} minutes for {what}")
            ctx.wakeup.clear()
            await ctx.wakeup.wait()

    async def _now(self) -> float:
        return time.time()

    async def _has_builds(self, tag_id: int, event: Optional[int],
                          wanted: list[dict[str, Any]]) -> bool:
        """Whether every wanted build is tagged as of `event` (None: now)."""
        for build in wanted:
            tagged = await self.ctx.hub.call("listTagged", tag_id, event=event,
                                             package=build["name"], inherit=True)
            nvrs = {(b["name"], b["version"], b["release"]) for b in tagged}
            if (build["name"], build["version"], build["release"]) not in nvrs:
                return False
        return True
