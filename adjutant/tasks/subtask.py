"""subtask(n=4): a chain of n subtasks ending in a sleep, each waiting for its
child (koji.tasks SubtaskTask)."""

from __future__ import annotations

from adjutant.tasks.base import TaskHandler


class SubtaskHandler(TaskHandler):
    methods = ("subtask",)
    weight = 0.1

    async def handle(self, n: int = 4) -> None:
        if n > 0:
            child = await self.ctx.subtask("subtask", [n - 1], label="foo")
        else:
            child = await self.ctx.subtask("sleep", [15], label="bar")
        await self.ctx.wait([child])
