from pathlib import Path

import pytest

from adjutant.runner.properties import (
    CgroupLayout,
    escape_exec_argument,
    exec_command,
    limit_properties,
    task_id_of_unit,
    task_unit_name,
    task_unit_properties,
    unit_object_path,
)
from adjutant.runner.spec import ResourceLimits

V1, V2 = CgroupLayout(1), CgroupLayout(2)
LIMITS = ResourceLimits(memory_max=512 * 1024**2, cpus=1.5, tasks_max=4096, io_weight=200,
                        runtime_max=3600)


def test_unit_names_round_trip():
    assert task_unit_name(12345) == "adjutant-task-12345.service"
    assert task_id_of_unit("adjutant-task-12345.service") == 12345
    for other in ("adjutant-task-x.service", "adjutant-task-12.scope", "sshd.service",
                  "adjutant-task-.service", "adjutant-task-012.service"):
        assert task_id_of_unit(other) is None


def test_object_path_escaping_matches_systemd():
    # verified against systemd: busctl tree org.freedesktop.systemd1
    assert unit_object_path("adjutant-task-12345.service") == (
        "/org/freedesktop/systemd1/unit/adjutant_2dtask_2d12345_2eservice")
    assert unit_object_path("1.service").endswith("/_31_2eservice")


def test_dollar_signs_survive_systemd_expansion():
    assert escape_exec_argument("echo $HOME ${X} $$") == "echo $$HOME $${X} $$$$"
    assert exec_command(["/bin/sh", "-c", "echo $i"]) == ("/bin/sh", ["/bin/sh", "-c", "echo $$i"],
                                                          False)


def test_memory_limit_name_depends_on_cgroup_version():
    v1 = dict((n, v) for n, _, v in limit_properties(LIMITS, V1))
    v2 = dict((n, v) for n, _, v in limit_properties(LIMITS, V2))
    assert v1["MemoryLimit"] == 512 * 1024**2 and "MemoryMax" not in v1
    assert v2["MemoryMax"] == 512 * 1024**2 and "MemoryLimit" not in v2
    assert v1["BlockIOWeight"] == 1000 and "IOWeight" not in v1
    assert v2["IOWeight"] == 200 and "BlockIOWeight" not in v2
    for props in (v1, v2):
        assert props["CPUQuotaPerSecUSec"] == 1_500_000
        assert props["TasksMax"] == 4096
        assert props["RuntimeMaxUSec"] == 3_600_000_000


def test_no_limits_means_no_limit_properties():
    names = [n for n, _, _ in limit_properties(ResourceLimits(), V2)]
    assert names == ["CPUAccounting", "MemoryAccounting", "TasksAccounting"]


def test_task_unit_properties():
    props = task_unit_properties(
        task_id=42, description="Koji task 42: sleep", exec_start=["/usr/bin/podman", "run", "x"],
        exec_stop_post=["/usr/bin/python3", "-m", "adjutant.runner.poststop"], limits=LIMITS,
        layout=V1, slice_name="adjutant.slice", stop_timeout=30,
        environment=["PODMAN_IGNORE_CGROUPSV1_WARNING=1"],
    )
    by_name = {n: (s, v) for n, s, v in props}
    assert len(by_name) == len(props), "a property is set twice"
    assert by_name["Type"] == ("s", "exec")
    assert by_name["Slice"] == ("s", "adjutant.slice")
    assert by_name["Delegate"] == ("b", True)
    assert by_name["KillMode"] == ("s", "mixed")
    assert by_name["TimeoutStopUSec"] == ("t", 30_000_000)
    assert by_name["SyslogIdentifier"] == ("s", "adjutant-task-42")
    assert by_name["LogExtraFields"] == ("aay", [b"ADJUTANT_TASK_ID=42"])
    assert by_name["LogRateLimitIntervalUSec"] == ("t", 0)
    assert by_name["ExecStart"] == ("a(sasb)", [("/usr/bin/podman", ["/usr/bin/podman", "run", "x"],
                                                 False)])
    assert by_name["ExecStopPost"][1][0][2] is True, "a failing ExecStopPost must not fail the task"
    assert "RemainAfterExit" not in by_name
    assert by_name["Environment"] == ("as", ["PODMAN_IGNORE_CGROUPSV1_WARNING=1"])


@pytest.mark.parametrize("files,version", [(["cgroup.controllers"], 2), (["memory"], 1)])
def test_cgroup_layout_detection(tmp_path: Path, files, version):
    for name in files:
        (tmp_path / name).touch()
    assert CgroupLayout.detect(tmp_path).version == version


def test_rlimits_become_limit_properties():
    from adjutant.runner.properties import rlimit_properties

    assert rlimit_properties([("RLIMIT_NOFILE", "4096 8192"), ("RLIMIT_CORE", "0")]) == [
        ("LimitNOFILE", "t", 8192), ("LimitNOFILESoft", "t", 4096),
        ("LimitCORE", "t", 0), ("LimitCORESoft", "t", 0)]
