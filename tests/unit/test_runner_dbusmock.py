"""TaskRunner's bookkeeping against the mock systemd: the paths real systemd
rarely takes (a unit that vanishes, a failed unit found after a restart, a
unit name still loaded from an earlier run).  pystemd talks to the mock bus
too; it is not packaged for every Python, so this runs where it is installed
(the test host's run of the unit tests, in CI too).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from adjutant.config import Config, runner_settings
from adjutant.runner.outcome import OutcomeKind
from adjutant.runner.properties import CgroupLayout, task_unit_name
from adjutant.runner.spec import ResourceLimits, TaskSpec

pytest.importorskip("pystemd", reason="pystemd is not installed for this Python")
pytest.importorskip("systemd.journal", reason="systemd-python is not installed for this Python")


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config(log_dir=tmp_path / "logs", state_dir=tmp_path / "state", task_image="img")


def make_spec(task_id: int) -> TaskSpec:
    return TaskSpec(task_id=task_id, image="img", command=("true",), description="mock task",
                    limits=ResourceLimits(memory_max=1 << 30, runtime_max=60))


def write_record(config: Config, task_id: int, invocation: str, **fields) -> None:
    record = {"invocation_id": invocation, "service_result": "success", "exit_code": "exited",
              "exit_status": "0", "usage": {"cpu_usage_nsec": 10**9}}
    record.update(fields)
    path = config.state_dir / "tasks" / str(task_id) / "exit.json"
    path.write_text(json.dumps(record))


@pytest.fixture
def no_journal(monkeypatch):
    """The mock has no journald: the copier reads nothing and syncs nothing."""
    async def nothing() -> None:
        return None

    monkeypatch.setattr("adjutant.runner.journal.journal_sync", nothing)


def test_launch_sends_the_unit_and_names_the_outcome(config, systemd_mock, no_journal):
    from adjutant.runner.runner import TaskRunner

    async def scenario():
        runner = TaskRunner(runner_settings(config), layout=CgroupLayout(1))
        await runner.open(reattach=False)
        await runner.launch(make_spec(11))
        sent = systemd_mock.StartedProperties(task_unit_name(11))
        assert str(sent["MemoryLimit"]) == str(1 << 30)
        assert str(sent["Slice"]) == "adjutant.slice"
        assert bool(sent["AddRef"]) is True
        invocation = "%032x" % (1 + 0xABC0)
        await asyncio.sleep(0.1)
        write_record(config, 11, invocation, service_result="exit-code", exit_status="4")
        systemd_mock.FinishUnit(task_unit_name(11), "exit-code", "exited", "4")
        outcome = await asyncio.wait_for(runner.wait(11), 10)
        assert (config.state_dir / "tasks" / "11" / "invocation").read_text().strip() == invocation
        await runner.release(11)
        assert not (config.state_dir / "tasks" / "11").exists()
        await runner.close()
        return outcome

    outcome = asyncio.run(scenario())
    assert outcome.kind is OutcomeKind.FAILED
    assert outcome.exit_status == 4
    assert outcome.usage.cpu_seconds == 1.0


def test_a_unit_that_vanishes_without_a_record_is_lost(config, systemd_mock, no_journal):
    from adjutant.runner.runner import TaskRunner

    async def scenario():
        runner = TaskRunner(runner_settings(config), layout=CgroupLayout(2))
        await runner.open(reattach=False)
        await runner.launch(make_spec(12))
        systemd_mock.RemoveUnit(task_unit_name(12))
        outcome = await asyncio.wait_for(runner.wait(12), 10)
        await runner.close()
        return outcome

    assert asyncio.run(scenario()).kind is OutcomeKind.LOST


def test_restart_finds_a_failed_unit_and_a_finished_task_without_unit(config, systemd_mock,
                                                                      no_journal):
    from adjutant.runner.runner import TaskRunner

    async def first_life():
        runner = TaskRunner(runner_settings(config), layout=CgroupLayout(2))
        await runner.open(reattach=False)
        await runner.launch(make_spec(13))
        await runner.launch(make_spec(14))
        await asyncio.sleep(0.1)
        await runner.close()  # the daemon goes away; the units do not

    async def second_life():
        runner = TaskRunner(runner_settings(config), layout=CgroupLayout(2))
        # while no runner watched: 13 failed (unit kept), 14 ended and was collected
        systemd_mock.FinishUnit(task_unit_name(13), "exit-code", "exited", "1")
        write_record(config, 14, "%032x" % (2 + 0xABC0))
        systemd_mock.RemoveUnit(task_unit_name(14))
        found = await runner.open()
        assert found == [13, 14]
        outcomes = [await asyncio.wait_for(runner.wait(t), 10) for t in found]
        await runner.close()
        return outcomes

    asyncio.run(first_life())
    failed, succeeded = asyncio.run(second_life())
    assert failed.kind is OutcomeKind.FAILED and failed.exit_status == 1
    assert succeeded.kind is OutcomeKind.SUCCEEDED


def test_a_finished_unit_of_the_same_name_is_replaced(config, systemd_mock, no_journal):
    from adjutant.runner.runner import TaskRunner

    async def scenario():
        runner = TaskRunner(runner_settings(config), layout=CgroupLayout(2))
        await runner.open(reattach=False)
        await runner.launch(make_spec(15))
        systemd_mock.FinishUnit(task_unit_name(15), "exit-code", "exited", "2")
        first = await asyncio.wait_for(runner.wait(15), 10)
        # Koji hands the task back (freed and reassigned): the failed unit is reset
        await runner.launch(make_spec(15))
        assert 15 in runner.running()
        await runner.close()
        return first

    assert asyncio.run(scenario()).exit_status == 2
