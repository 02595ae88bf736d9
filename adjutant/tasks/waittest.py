"""waittest(count, seconds=10): count sleep subtasks and one that fails,
waited for with failany and canfail (koji.tasks WaitTestTask)."""

from __future__ import annotations

from typing import Any

from adjutant.tasks.base import TaskHandler


class WaitTestHandler(TaskHandler):
    methods = ("waittest",)
    weight = 0.1

    async def handle(self, count: int, seconds: Any = 10) -> dict[str, Any]:
        children = [await self.ctx.subtask("sleep", [seconds], label=str(i)) for i in range(count)]
        bad = await self.ctx.subtask("sleep", ["BAD_ARG"], label="bad")
        results = await self.ctx.wait([*children, bad], all=True, failany=True, canfail=[bad])
        # XML-RPC dicts need string keys
        return {str(task_id): result for task_id, result in results.items()}
