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
                     ignore_success: bool = False) -> None:  # fmt: skip
        ctx, hub = self.ctx, self.ctx.hub
        user_id = (await hub.call("getTaskInfo", ctx.task_id))["owner"]
        try:
            await hub.call("getBuild", build_id, strict=True)
            await hub.call("getTag", tag_id, strict=True)
            await ctx.memo.once("tag:tagged", lambda: hub.call(
                "host.tagBuild", ctx.task_id, tag_id, build_id, force=force, fromtag=fromtag))
            await ctx.memo.once("tag:notified", lambda: hub.call(
                "host.tagNotification", True, tag_id, fromtag, build_id, user_id,
                ignore_success))  # fmt: skip
        except Exception as exc:
            cause = getattr(exc, "cause", exc)  # a hub fault: the hub's own words
            await ctx.memo.once("tag:notified", lambda: hub.call(
                "host.tagNotification", False, tag_id, fromtag, build_id, user_id,
                ignore_success, f"{type(cause).__name__}: {cause}"))  # fmt: skip
            if cause is not exc:
                raise cause from None
            raise
