"""sleep(n): sleep n seconds, as the task's unit (koji.tasks SleepTask).

The test task of Koji; here it proves the whole path: a unit, a container,
a log, an outcome.
"""

from __future__ import annotations

from typing import Any

from adjutant.tasks.base import TaskHandler, failed_outcome_error


def seconds_argument(method: str, value: Any) -> float:
    import koji

    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise koji.ParameterError(f"{method}: {value!r} is not a number of seconds") from None
    if seconds < 0:
        raise koji.ParameterError(f"{method}: {value!r} is negative")
    return seconds


class SleepHandler(TaskHandler):
    methods = ("sleep",)
    weight = 0.25

    async def handle(self, n: Any) -> None:
        seconds = seconds_argument("sleep", n)
        spec = self.ctx.container_spec(["sleep", f"{seconds:g}"])
        outcome = await self.ctx.run_container("sleep", spec)
        if not outcome.ok:
            raise failed_outcome_error("sleep", outcome)
