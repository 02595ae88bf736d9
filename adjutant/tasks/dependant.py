"""dependantTask(wait_list, task_list): wait for other tasks, then make
subtasks, as koji.tasks' DependantTask.  The tasks waited for are not its
children, so each poll asks the hub whether they are done."""

from __future__ import annotations

from typing import Any

from adjutant.tasks.base import TaskHandler


class DependantTaskHandler(TaskHandler):
    methods = ("dependantTask",)
    weight = 0.2

    async def handle(self, wait_list: list[Any], task_list: list[list[Any]]) -> None:
        import koji

        ctx, hub = self.ctx, self.ctx.hub
        waiting = [task for task in wait_list
                   if isinstance(task, int) and await hub.call("getTaskInfo", task)]
        while waiting:
            for task in list(waiting):
                if await hub.call("taskFinished", task):
                    info = await hub.call("getTaskInfo", task)
                    if info and koji.TASK_STATES[info["state"]] in ("CANCELED", "FAILED"):
                        raise koji.GenericError(f"Dependency {info['id']} failed to complete.")
                    waiting.remove(task)
            if waiting:
                # the daemon's poll (or the hub's alert) sets it
                ctx.wakeup.clear()
                await ctx.wakeup.wait()
        subtasks = []
        for index, entry in enumerate(task_list):
            opts = dict(entry[2]) if len(entry) > 2 and entry[2] else {}
            # a label of our own, so a restarted daemon finds the subtask it made
            opts.setdefault("label", f"dependant {index}")
            task_id = await ctx.subtask(entry[0], list(entry[1]), **opts)
            if task_id:
                subtasks.append(task_id)
        if subtasks:
            await ctx.wait(subtasks, all=True)
