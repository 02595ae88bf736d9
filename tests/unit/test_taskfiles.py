"""`adjutant files TASK`: one table of a task's files, the paths the code uses."""

from __future__ import annotations

from pathlib import Path

from adjutant.config import Config
from adjutant.runner.state import TaskState
from adjutant.tasks.base import task_workdir
from adjutant.worker import state as worker_state
from adjutant.worker.taskfiles import describe_files, task_files


def test_the_table_names_the_paths_the_code_writes(tmp_path: Path):
    config = Config(workdir=tmp_path / "work", state_dir=tmp_path / "state",
                    log_dir=tmp_path / "logs")
    paths = {item.what: item.path for item in task_files(config, 12345)}
    assert paths["work directory (the containers')"] == task_workdir(config, 12345)
    assert str(task_workdir(config, 12345)).endswith("work/tasks/2345/12345")
    assert paths["unit state (spec, cursor, exit record)"] == TaskState(config.state_dir,
                                                                        12345).path
    assert paths["worker state (task, steps done)"] == worker_state.task_state_dir(
        config.state_dir, 12345)
    assert paths["journal copy (container.log)"] == tmp_path / "logs" / "12345" / "container.log"
    until = worker_state.keep_workdir(config.state_dir, 12345, task_workdir(config, 12345), 60)
    assert until > 0
    assert paths["kept failed work directory record"].is_file()
    text = describe_files(config, 12345)
    assert "adjutant-task-12345.service" in text
    assert f"{paths['kept failed work directory record']}  [present]" in text
    assert f"{task_workdir(config, 12345)}  [absent]" in text
