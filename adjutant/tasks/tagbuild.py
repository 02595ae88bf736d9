"""tagBuild(tag_id, build_id, force, fromtag, ignore_success): tag a build,
as kojid's TagBuildTask: the hub checks the tag policy and the package list
(host.tagBuild), and is told the outcome for its notifications
(host.tagNotification), which say why when tagging failed."""

from __future__ import annotations

from typing import Any, Optional

from adjutant.tasks.base import TaskHandler


class TagBuildHandler(TaskHandler):
    methods = ("tagBuild",)
    weight = 1.0

    async def handle(self, tag_id: Any, build_id: Any, force: bool = False,
                     fromtag: Optional[Any] = None,
                     ignore_success: bool = False) -> None:
        ctx, hub = self.ctx, self.ctx.hub
        user_id = (await hub.call("getTaskInfo", ctx.task_id))["owner"]
        try:
            await hub.call("getBuild", build_id, strict=True)
            await hub.call("getTag", tag_id, strict=True)
            await ctx.memo.once_checked("tag:tagged", lambda: hub.call(
                "host.tagBuild", ctx.task_id, tag_id, build_id, force=force, fromtag=fromtag),
                lambda: self.tagged(tag_id, build_id))
            await ctx.memo.once("tag:notified", lambda: hub.call(
                "host.tagNotification", True, tag_id, fromtag, build_id, user_id,
                ignore_success))
        except Exception as exc:
            cause = getattr(exc, "cause", exc)  # a hub fault: the hub's own words
            await ctx.memo.once("tag:notified", lambda: hub.call(
                "host.tagNotification", False, tag_id, fromtag, build_id, user_id,
                ignore_success, f"{type(cause).__name__}: {cause}"))
            if cause is not exc:
                raise cause from None
            raise

    async def tagged(self, tag_id: Any, build_id: Any) -> Optional[bool]:
        """True if an earlier run's host.tagBuild reached the hub (which
        refuses a second: "already tagged"), else None."""
        build = await self.ctx.hub.call("getBuild", build_id, strict=True)
        listed = await self.ctx.hub.call("listTagged", tag_id, package=build["name"])
        return True if any(b["build_id"] == build["id"] for b in listed) else None
