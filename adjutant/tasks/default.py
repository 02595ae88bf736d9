"""default: the method kojid registers for itself; it always fails."""

from __future__ import annotations

from typing import Any

from adjutant.tasks.base import TaskHandler


class DefaultHandler(TaskHandler):
    methods = ("default",)
    weight = 0.1

    async def handle(self, *args: Any, **kwargs: Any) -> None:
        import koji

        raise koji.GenericError(f"Invalid method: {self.ctx.method}")
