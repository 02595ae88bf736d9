import pytest

from adjutant.runner.outcome import OutcomeKind, Termination, classify

MIB = 1024**2


def record(result="success", code="exited", status="0", **usage):
    return {"service_result": result, "exit_code": code, "exit_status": status,
            "invocation_id": "abc", "usage": usage}


def test_success():
    outcome = classify(task_id=1, record=record(cpu_usage_nsec=2_500_000_000,
                                                memory_peak_bytes=30 * MIB),
                       properties=None, cancelled=False)
    assert outcome.kind is OutcomeKind.SUCCEEDED and outcome.ok
    assert outcome.exit_status == 0
    assert outcome.usage.cpu_seconds == 2.5
    assert outcome.usage.memory_peak_bytes == 30 * MIB
    assert outcome.summary() == "task 1 succeeded (CPU 2.50 s, peak memory 30.0 MiB)"


def test_exit_status_is_named():
    outcome = classify(task_id=2, record=record("exit-code", "exited", "2"), properties=None,
                       cancelled=False)
    assert outcome.kind is OutcomeKind.FAILED
    assert outcome.exit_status == 2
    assert outcome.message == "failed: its command exited with status 2"


@pytest.mark.parametrize("status,words", [
    ("125", "podman could not run the container"),
    ("127", "not found in the container"),
    ("139", "killed by SIGSEGV (exit status 139)"),
    ("203", "systemd could not execute podman"),
])
def test_special_exit_statuses(status, words):
    outcome = classify(task_id=3, record=record("exit-code", "exited", status), properties=None,
                       cancelled=False)
    assert outcome.kind is OutcomeKind.FAILED
    assert words in outcome.message


def test_oom_on_cgroup_v1_from_sigkill_and_limit_hits():
    # What the test host showed: exit 137, peak == limit, failcnt > 0, no oom_kill at unit level.
    rec = record("exit-code", "exited", "137", memory_peak_bytes=128 * MIB,
                 memory_limit_bytes=128 * MIB, memory_limit_hits=728, oom_kills=0)
    outcome = classify(task_id=4, record=rec, properties=None, cancelled=False)
    assert outcome.kind is OutcomeKind.OUT_OF_MEMORY
    assert "memory limit of 128 MiB" in outcome.message


def test_sigkill_without_memory_pressure_is_not_oom():
    rec = record("exit-code", "exited", "137", memory_peak_bytes=10 * MIB,
                 memory_limit_bytes=128 * MIB, memory_limit_hits=0, oom_kills=0)
    outcome = classify(task_id=5, record=rec, properties=None, cancelled=False)
    assert outcome.kind is OutcomeKind.FAILED
    assert "SIGKILL" in outcome.message


def test_oom_on_cgroup_v2_from_systemd_result():
    outcome = classify(task_id=6, record=record("oom-kill", "killed", "KILL"), properties=None,
                       cancelled=False)
    assert outcome.kind is OutcomeKind.OUT_OF_MEMORY


def test_timeout():
    outcome = classify(task_id=7, record=record("timeout", "exited", "143"), properties=None,
                       cancelled=False, runtime_max=60)
    assert outcome.kind is OutcomeKind.TIMED_OUT
    assert "run-time limit of 60 s" in outcome.message


def test_cancel_wins_over_the_way_it_died_but_not_over_a_clean_success():
    stopped = classify(task_id=8, record=record("exit-code", "exited", "143"), properties=None,
                       cancelled=True)
    assert stopped.kind is OutcomeKind.CANCELLED
    finished_first = classify(task_id=8, record=record(), properties=None, cancelled=True)
    assert finished_first.kind is OutcomeKind.SUCCEEDED


def test_lost_when_nothing_is_known():
    outcome = classify(task_id=9, record=None, properties=None, cancelled=False)
    assert outcome.kind is OutcomeKind.LOST
    assert "vanished" in outcome.message


def test_properties_stand_in_for_a_missing_record():
    props = {"Result": "exit-code", "ExecMainCode": 1, "ExecMainStatus": 203,
             "CPUUsageNSec": 5_000_000}
    outcome = classify(task_id=10, record=None, properties=props, cancelled=False)
    assert outcome.kind is OutcomeKind.FAILED and "203/EXEC" in outcome.message
    assert outcome.usage.cpu_seconds == 0.005


def test_unknown_cpu_usage_is_not_a_number():
    props = {"Result": "success", "ExecMainCode": 1, "ExecMainStatus": 0,
             "CPUUsageNSec": 2**64 - 1}
    assert classify(task_id=11, record=None, properties=props,
                    cancelled=False).usage.cpu_seconds is None


def test_signal_names_from_the_record():
    assert Termination.from_record(record("signal", "killed", "TERM")).status == 15
    outcome = classify(task_id=12, record=record("signal", "killed", "SEGV"), properties=None,
                       cancelled=False)
    assert outcome.message == "failed: podman was killed by SIGSEGV"


def test_outcome_dict_round_trip():
    rec = record("exit-code", "exited", "137", memory_peak_bytes=128 * MIB,
                 memory_limit_bytes=128 * MIB, memory_limit_hits=3, cpu_usage_nsec=10**9)
    outcome = classify(task_id=13, record=rec, properties=None, cancelled=False)
    from adjutant.runner.outcome import Outcome
    assert Outcome.from_dict(outcome.to_dict()) == outcome
