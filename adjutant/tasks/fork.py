"""fork(n=5, m=37): n processes sleeping m seconds (koji.tasks ForkTask).

kojid starts them and returns at once, leaving them behind; here they are
started inside the task's unit, which ends when they do, so nothing is left.
"""

from __future__ import annotations

from typing import Any

from adjutant.tasks.base import TaskHandler, failed_outcome_error
from adjutant.tasks.sleep import seconds_argument


class ForkHandler(TaskHandler):
    methods = ("fork",)

    async def handle(self, n: Any = 5, m: Any = 37) -> None:
        import koji

        if not isinstance(n, int) or n < 0:
            raise koji.ParameterError(f"fork: {n!r} is not a number of processes")
        seconds = seconds_argument("fork", m)
        # positional parameters of sh, so nothing from the task is parsed as shell
        script = 'i=0; while [ "$i" -lt "$1" ]; do sleep "$2" & i=$((i+1)); done; wait'
        spec = self.ctx.container_spec(["sh", "-c", script, "fork", str(n), f"{seconds:g}"])
        outcome = await self.ctx.run_container("fork", spec)
        if not outcome.ok:
            raise failed_outcome_error("fork", outcome)
