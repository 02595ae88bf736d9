import json
from pathlib import Path

from adjutant.runner.poststop import (
    container_to_remove,
    parse_proc_cgroup,
    read_usage,
    write_record,
)

# /proc/self/cgroup of an ExecStopPost in the test host (cgroup v1, hybrid)
HYBRID = """9:name=systemd:/adjutant.slice/adjutant-task-2.service/.control
8:pids:/adjutant.slice/adjutant-task-2.service
4:memory:/adjutant.slice/adjutant-task-2.service
3:cpuset:/
2:cpuacct:/
1:cpu:/adjutant.slice/adjutant-task-2.service
0::/adjutant.slice/adjutant-task-2.service/.control
"""
UNIT = "adjutant.slice/adjutant-task-2.service"


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_parse_proc_cgroup_strips_the_control_child():
    paths = parse_proc_cgroup(HYBRID)
    assert paths[""] == "/" + UNIT
    assert paths["memory"] == "/" + UNIT
    assert paths["name=systemd"] == "/" + UNIT
    assert paths["cpuacct"] == "/"


def test_read_usage_cgroup_v1_hybrid(tmp_path: Path):
    memcg = tmp_path / "memory" / UNIT
    write(memcg / "memory.max_usage_in_bytes", "134217728\n")
    write(memcg / "memory.limit_in_bytes", "134217728\n")
    write(memcg / "memory.failcnt", "728\n")
    write(memcg / "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n")
    write(memcg / "libpod-payload-x" / "memory.oom_control", "oom_kill_disable 0\noom_kill 1\n")
    write(tmp_path / "unified" / UNIT / "cpu.stat", "usage_usec 207712\nuser_usec 1\n")
    usage = read_usage(parse_proc_cgroup(HYBRID), root=tmp_path)
    assert usage == {"cgroup_version": 1, "cpu_usage_nsec": 207712000,
                     "memory_peak_bytes": 134217728, "memory_limit_bytes": 134217728,
                     "memory_limit_hits": 728, "oom_kills": 1}


def test_read_usage_cgroup_v1_without_limit(tmp_path: Path):
    memcg = tmp_path / "memory" / UNIT
    write(memcg / "memory.limit_in_bytes", "9223372036854771712\n")
    usage = read_usage(parse_proc_cgroup(HYBRID), root=tmp_path)
    assert usage["memory_limit_bytes"] is None


def test_read_usage_cgroup_v2(tmp_path: Path):
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    base = tmp_path / UNIT
    write(base / "cpu.stat", "usage_usec 1500000\n")
    write(base / "memory.peak", "52428800\n")
    write(base / "memory.max", "max\n")
    write(base / "memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    paths = parse_proc_cgroup(f"0::/{UNIT}/.control\n")
    usage = read_usage(paths, root=tmp_path)
    assert usage == {"cgroup_version": 2, "cpu_usage_nsec": 1_500_000_000,
                     "memory_peak_bytes": 52428800, "memory_limit_bytes": None,
                     "memory_limit_hits": 3, "oom_kills": 1}


def test_podman_cleans_up_after_itself_unless_killed():
    assert not container_to_remove("run", "success", "exited", "0")
    assert not container_to_remove("run", "exit-code", "exited", "1")
    assert not container_to_remove("run", "exit-code", "exited", "137")  # payload killed
    assert container_to_remove("run", "exit-code", "exited", "125")
    assert container_to_remove("run", "timeout", "exited", "143")
    assert container_to_remove("run", "signal", "killed", "KILL")


def test_a_pull_leaves_no_container():
    assert not container_to_remove("pull", "exit-code", "exited", "125")


def test_write_record_is_atomic_json(tmp_path: Path):
    target = Path(write_record(tmp_path / "t", {"service_result": "success"}))
    assert json.loads(target.read_text()) == {"service_result": "success"}
    assert [p.name for p in target.parent.iterdir()] == ["exit.json"]


def test_the_script_records_the_end_it_is_given(tmp_path: Path):
    """Run as the unit's ExecStopPost runs it: a script, without site-packages."""
    import subprocess
    import sys

    from adjutant.runner import poststop

    env = {"SERVICE_RESULT": "exit-code", "EXIT_CODE": "exited", "EXIT_STATUS": "3",
           "INVOCATION_ID": "abc", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-I", "-S", poststop.__file__, str(tmp_path), "7",
                             "/bin/false"], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "exit.json").read_text())
    assert record["service_result"] == "exit-code" and record["exit_status"] == "3"
    assert record["invocation_id"] == "abc" and record["task_id"] == 7


def test_a_killed_podman_leaves_a_container_to_remove(tmp_path: Path):
    import subprocess
    import sys

    from adjutant.runner import poststop

    env = {"SERVICE_RESULT": "signal", "EXIT_CODE": "killed", "EXIT_STATUS": "KILL",
           "PATH": "/usr/bin:/bin"}
    # /bin/false stands in for podman: every removal fails, and says so
    result = subprocess.run([sys.executable, "-I", "-S", poststop.__file__, str(tmp_path), "7",
                             "/bin/false"], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "could not remove the task's container" in result.stderr
    assert (tmp_path / "exit.json").exists()
