"""The worker's checks of the hub's answers: a malformed one is one line, never a crash."""

from __future__ import annotations

import pytest

from adjutant.hub import answers
from adjutant.hub.answers import MalformedAnswer


@pytest.mark.parametrize("answer", [None, "12", {"id": 1}, [None], [{"id": "12", "weight": 1}],
                                    [{"id": 12}], [{"id": True, "weight": 1}]])
def test_a_malformed_task_list_is_one_line_naming_the_call(answer):
    with pytest.raises(MalformedAnswer) as raised:
        answers.task_list("host.getHostTasks", answer, ("weight",))
    text = str(raised.value)
    assert text.startswith("the hub answered host.getHostTasks with ")
    assert "\n" not in text and text.endswith("not a list of tasks with id, weight")


def test_a_good_task_list_is_returned_as_it_is():
    good = [{"id": 12, "weight": 1.5, "waiting": False}]
    assert answers.task_list("host.getHostTasks", good, ("weight",)) is good


def test_mappings():
    assert answers.optional_mapping("getTaskInfo", None, ("state",)) is None
    assert answers.mapping("host.getHost", {"id": 1}) == {"id": 1}
    with pytest.raises(MalformedAnswer, match="getTaskInfo with 'x', not a dict with state"):
        answers.optional_mapping("getTaskInfo", "x", ("state",))
    long = "y" * 500
    with pytest.raises(MalformedAnswer) as raised:
        answers.mapping("host.getHost", long)
    assert len(str(raised.value)) < 200
