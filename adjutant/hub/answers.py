"""Checks of the hub's answers that the worker's loop relies on.

A hub (or a proxy in front of it) may answer with something else than Koji's
shapes: None, a string where an id belongs, a task without its keys.  The
worker must not crash on that, nor act on half of it: each check turns a
malformed answer into one `MalformedAnswer` line naming the call, and the
loop logs it and polls again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from adjutant.errors import AdjutantError


class MalformedAnswer(AdjutantError):
    def __init__(self, method: str, answer: Any, wanted: str) -> None:
        shown = repr(answer)
        if len(shown) > 120:
            shown = shown[:117] + "..."
        super().__init__(f"the hub answered {method} with {shown}, not {wanted}")


def _task_id(method: str, item: Any, wanted: str) -> int:
    value = item.get("id")
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedAnswer(method, item, wanted)
    return value


def task_list(method: str, answer: Any, keys: Sequence[str]) -> list[dict[str, Any]]:
    """A list of task dicts, each with an integer `id` and `keys`."""
    wanted = f"a list of tasks with {', '.join(('id', *keys))}"
    if not isinstance(answer, list):
        raise MalformedAnswer(method, answer, wanted)
    for item in answer:
        if not isinstance(item, dict) or any(key not in item for key in keys):
            raise MalformedAnswer(method, item, wanted)
        _task_id(method, item, wanted)
    return answer


def mapping(method: str, answer: Any, keys: Sequence[str] = ()) -> dict[str, Any]:
    """A dict with `keys`."""
    if not isinstance(answer, dict) or any(key not in answer for key in keys):
        raise MalformedAnswer(method, answer, f"a dict with {', '.join(keys) or 'fields'}")
    return answer


def optional_mapping(method: str, answer: Any, keys: Sequence[str] = ()) -> Any:
    """None, or a dict with `keys` (getTaskInfo of a task the hub does not know)."""
    return None if answer is None else mapping(method, answer, keys)
