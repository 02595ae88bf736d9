"""The worker's pure parts: readiness, result encoding, the outbox, the memo,
handler parameter checks.  The loop itself is tested against the hub
emulator (tests/integration/test_daemon.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from adjutant.worker.readiness import readiness

koji = pytest.importorskip("koji")

HOST = {"enabled": True, "capacity": 4.0}
OK = {"host": HOST, "task_load": 1.0, "running": 1, "maxjobs": 10, "free_mib": 10_000.0,
      "minspace": 8192, "loadavg": 0.5, "cpus": 2}


def test_ready_when_nothing_stands_in_the_way():
    verdict = readiness(**OK)
    assert verdict.ready and verdict.reason == "ready"


@pytest.mark.parametrize("change,reason", [
    ({"host": {"enabled": False, "capacity": 4.0}}, "host is disabled on the hub"),
    ({"task_load": 4.5}, "over capacity (load 4.50 > 4.00)"),
    ({"running": 10}, "full (10 tasks, maxjobs 10)"),
    ({"free_mib": 100.0}, "low on space (100 MiB free < minspace 8192)"),
    ({"loadavg": 9.0}, "load average 9.0 above 8"),
    ({"stopping": True}, "stopping"),
])
def test_not_ready(change, reason):
    verdict = readiness(**{**OK, **change})
    assert not verdict.ready
    assert verdict.reason == reason


def test_load_equal_to_capacity_is_still_ready():
    # kojid: "task_load > capacity" is the test, not >=
    assert readiness(**{**OK, "task_load": 4.0}).ready


def test_results_are_encoded_as_kojid_does():
    from adjutant.hub.results import encode_failure, encode_result

    assert koji.xmlrpcplus.loads(encode_result({"a": 1}))[0] == ({"a": 1},)
    assert koji.xmlrpcplus.loads(encode_result(None))[0] == (None,)
    with pytest.raises(koji.xmlrpcplus.Fault) as caught:
        koji.xmlrpcplus.loads(encode_failure(koji.BuildError("rpmbuild failed")))
    assert caught.value.faultCode == koji.BuildError.faultCode
    assert caught.value.faultString == "rpmbuild failed"


def test_unexpected_errors_become_one_line_not_a_traceback():
    from adjutant.hub.results import encode_failure

    with pytest.raises(koji.xmlrpcplus.Fault) as caught:
        koji.xmlrpcplus.loads(encode_failure(KeyError("repo")))
    assert caught.value.faultCode == 1
    assert caught.value.faultString == "adjutant internal error: KeyError: 'repo'"


def test_outbox_keeps_results_until_done(tmp_path: Path):
    from adjutant.hub.results import CLOSE, Outbox

    outbox = Outbox(tmp_path / "outbox")
    outbox.put(12, CLOSE, "<xml/>", "closed")
    again = Outbox(tmp_path / "outbox")  # a restarted daemon
    [entry] = again.pending()
    assert (entry.task_id, entry.method, entry.response) == (12, CLOSE, "<xml/>")
    again.done(12)
    assert again.pending() == [] and again.get(12) is None


def test_memo_runs_a_step_once_across_restarts(tmp_path: Path):
    from adjutant.tasks.base import Memo

    calls = []

    async def make():
        calls.append(1)
        return {"brootid": 7}

    async def scenario():
        first = await Memo(tmp_path / "memo.json").once("buildroot", make)
        second = await Memo(tmp_path / "memo.json").once("buildroot", make)
        return first, second

    assert asyncio.run(scenario()) == ({"brootid": 7}, {"brootid": 7})
    assert calls == [1]


def test_bad_parameters_fail_with_a_parameter_error(tmp_path: Path):
    from adjutant.tasks.sleep import SleepHandler

    class Context:
        method = "sleep"

    handler = SleepHandler(Context())  # type: ignore[arg-type]
    with pytest.raises(koji.ParameterError, match="sleep: bad parameters"):
        asyncio.run(handler.run([1, 2, 3]))
    with pytest.raises(koji.ParameterError, match="'BAD_ARG' is not a number of seconds"):
        asyncio.run(handler.run(["BAD_ARG"]))


def test_every_method_has_one_handler():
    """Each Koji method is served by exactly one handler class, and the table
    holds the build methods too, each handler under the methods it declares."""
    from adjutant.tasks import handler_table

    table = handler_table()
    assert {"sleep", "fork", "waittest", "subtask", "default", "buildArch", "rebuildSRPM",
            "buildSRPMFromSCM"} <= set(table)
    for method, handler in table.items():
        assert method in handler.methods, (method, handler)
    declared = [m for handler in set(table.values()) for m in handler.methods]
    assert sorted(declared) == sorted(table)  # no method claimed twice


def test_adjutants_own_errors_are_reported_as_written():
    from adjutant.errors import AdjutantError
    from adjutant.hub.results import encode_failure

    with pytest.raises(koji.xmlrpcplus.Fault) as caught:
        koji.xmlrpcplus.loads(encode_failure(AdjutantError("tag t: no image")))
    assert caught.value.faultString == "tag t: no image"


def test_kept_work_directories_expire(tmp_path):
    from adjutant.worker import state

    until = state.keep_workdir(tmp_path, 42, tmp_path / "work" / "42", 100)
    assert state.expired_workdirs(tmp_path, until - 1) == []
    assert state.expired_workdirs(tmp_path, until) == [(42, tmp_path / "work" / "42")]
    state.forget_kept(tmp_path, 42)
    assert state.expired_workdirs(tmp_path, until + 1000) == []


def test_a_call_that_died_in_flight_is_asked_about_not_made_again(tmp_path):
    import asyncio

    from adjutant.tasks.base import Memo

    calls: list[str] = []

    async def make() -> str:
        calls.append("make")
        raise ConnectionError("the daemon died here")  # the answer never came back

    async def made() -> object:
        calls.append("made")
        return {"state": "COMPLETE"}

    memo = Memo(tmp_path / "memo.json")
    with pytest.raises(ConnectionError):
        asyncio.run(memo.once_checked("imported", make, made))
    # the next run (a new memo from the same file) asks instead of calling again
    again = Memo(tmp_path / "memo.json")
    assert asyncio.run(again.once_checked("imported", make, made)) == {"state": "COMPLETE"}
    assert calls == ["make", "made"]
    assert asyncio.run(again.once_checked("imported", make, made)) == {"state": "COMPLETE"}
    assert calls == ["make", "made"]


def test_the_readme_lists_every_handled_method_as_handled_and_nothing_else():
    """README's Koji methods table says handled for exactly the handler table's
    methods; every other row says refused."""
    import re
    from pathlib import Path

    from adjutant.tasks import handler_table

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("### Koji methods", 1)[1].split("\n\n", 2)[1]
    handled, refused = set(), set()
    for row in table.splitlines()[2:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        methods = {m.strip() for m in cells[0].split(",")}
        if cells[1].startswith("handled"):
            handled |= methods
        else:
            assert cells[1].startswith("refused"), row
            refused |= methods
    assert handled == set(handler_table())
    assert not handled & refused
    assert re.search(r"\| any other", table)
