import json
import stat
from pathlib import Path

import pytest

from adjutant.runner.spec import Mount, ResourceLimits, TaskSpec
from adjutant.runner.state import TaskState

SPEC = TaskSpec(task_id=77, image="img", command=("make", "-j4"), description="Koji task 77",
                mounts=(Mount("/a", "/b", read_only=False),), environment={"LANG": "C.UTF-8"},
                limits=ResourceLimits(memory_max=1 << 30, runtime_max=60.0), workdir="/builddir")


def test_spec_json_round_trip():
    assert TaskSpec.from_json(SPEC.to_json()) == SPEC


@pytest.mark.parametrize("kwargs,words", [
    ({"task_id": 0}, "not a Koji task id"),
    ({"command": ()}, "empty command"),
    ({"mounts": (Mount("rel", "/b"),)}, "absolute paths"),
    ({"mounts": (Mount("/a:b", "/b"),)}, "':'"),
])
def test_bad_specs_are_refused(kwargs, words):
    base = {"task_id": 1, "image": "i", "command": ("true",), "description": "d"}
    base.update(kwargs)
    with pytest.raises(ValueError, match=words):
        TaskSpec(**base)


def test_state_keeps_what_a_restart_needs(tmp_path: Path):
    state = TaskState(tmp_path, 77)
    state.begin(SPEC)
    assert state.load_spec() == SPEC
    assert stat.S_IMODE(state.env_file.stat().st_mode) == 0o600
    assert state.env_file.read_text() == "LANG=C.UTF-8\n"
    state.save_invocation("abc")
    assert TaskState(tmp_path, 77).invocation() == "abc"
    assert not state.cancelled()
    state.mark_cancelled()
    assert state.cancelled()


def test_exit_record_of_another_invocation_is_ignored(tmp_path: Path):
    state = TaskState(tmp_path, 5)
    state.begin(SPEC)
    (state.path / "exit.json").write_text(json.dumps({"invocation_id": "old"}))
    assert state.exit_record("new") is None
    assert state.exit_record("old") == {"invocation_id": "old"}


def test_begin_forgets_an_earlier_run(tmp_path: Path):
    state = TaskState(tmp_path, 5)
    state.begin(SPEC)
    state.mark_cancelled()
    state.begin(SPEC)
    assert not state.cancelled()


def test_environment_that_cannot_be_passed_is_refused(tmp_path: Path):
    spec = TaskSpec(task_id=3, image="i", command=("true",), description="d",
                    environment={"A": "two\nlines"})
    with pytest.raises(ValueError, match="task 3: environment entry 'A'"):
        TaskState(tmp_path, 3).begin(spec)
