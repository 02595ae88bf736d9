"""The admin's commands (check, status, quadlets, prune, shell) against fake
hosts; each of check's checks says what it found and, when not OK, the fix."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from adjutant import check
from adjutant.config import Config


def fake_podman(tmp_path: Path, version: str, image_exists: bool = True) -> Path:
    script = tmp_path / "podman"
    script.write_text("#!/bin/sh\n"
                      f'[ "$1" = version ] && {{ echo "{version}"; exit 0; }}\n'
                      f'[ "$1" = image ] && exit {0 if image_exists else 1}\n'
                      "exit 2\n")
    script.chmod(0o755)
    return script


def test_version_tuple():
    assert check.version_tuple("5.4.2") == (5, 4, 2)
    assert check.version_tuple("4.9.4-rhel") == (4, 9, 4)
    assert check.version_tuple("") == ()


def test_an_old_podman_fails_with_the_fix(tmp_path):
    config = Config(podman=fake_podman(tmp_path, "3.4.4"))
    result = check.check_podman(config)
    assert (result.state, result.found) == (check.FAIL, "podman 3.4.4 is older than 4.0")
    assert check.check_podman(Config(podman=fake_podman(tmp_path, "5.4.2"))).state == check.OK


def test_a_missing_podman_names_the_setting(tmp_path):
    result = check.check_podman(Config(podman=tmp_path / "no-podman"))
    assert result.state == check.FAIL and "[adjutant] podman" in result.fix


def test_a_missing_image_fails_only_when_it_cannot_be_pulled(tmp_path):
    podman = fake_podman(tmp_path, "5.4.2", image_exists=False)
    never = check.check_image(Config(podman=podman, image_pull="never"), "img:1", "task image")
    assert never.state == check.FAIL
    assert never.found == "img:1 is not here and image_pull is never"
    assert never.fix.startswith("podman pull img:1")
    later = check.check_image(Config(podman=podman), "img:1", "task image")
    assert later.state == check.WARN


def test_cgroup_versions(tmp_path):
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    assert check.check_cgroups(v2).state == check.OK
    (v2 / "cgroup.controllers").write_text("cpu pids\n")
    partial = check.check_cgroups(v2)
    assert partial.state == check.WARN and partial.found == "cgroup v2 without io, memory"
    v1 = tmp_path / "v1"
    (v1 / "memory").mkdir(parents=True)
    assert check.check_cgroups(v1).state == check.WARN
    assert check.check_cgroups(tmp_path / "none").state == check.FAIL


def test_too_little_space_fails_naming_minspace(tmp_path):
    config = Config(minspace=2**40)
    result = check.check_space(config, tmp_path / "not" / "made", "space (workdir)")
    assert result.state == check.FAIL
    assert f"less than minspace {2**40} MB" in result.found
    assert check.check_space(Config(minspace=1), tmp_path, "space").state == check.OK


def test_an_unwritable_workdir_fails(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = check.check_workdir(Config(workdir=blocker / "work"))
    assert result.state == check.FAIL and str(blocker / "work") in result.found


def test_no_server_fails_without_trying_to_connect():
    result = check.check_hub(Config(server=None))
    assert (result.state, result.found) == (check.FAIL, "no [kojid] server")


def test_the_report_shows_the_fix_of_what_is_not_ok():
    results = [check.Check("podman", check.OK, "podman 5.4.2"),
               check.Check("hub", check.FAIL, "cannot log in", "check the certificate")]
    assert check.report(results) == ("OK   podman: podman 5.4.2\n"
                                     "FAIL hub: cannot log in\n"
                                     "     fix: check the certificate")
    assert json.loads(check.report(results, as_json=True))[1] == dataclasses.asdict(results[1])


def test_status_reads_systemctl_show_and_shows_each_task():
    from adjutant import status

    shown = ("Id=adjutant-task-12.service\nActiveState=active\nSubState=running\n"
             "Description=Koji task 12: buildArch foo-1-1.src.rpm x86_64\n"
             "ActiveEnterTimestampMonotonic=100000000\nCPUUsageNSec=2500000000\n"
             "MemoryCurrent=1073741824\nMemoryMax=8589934592\nMemoryLimit=infinity\n\n"
             "Id=adjutant.slice\nActiveState=active\nSubState=active\n\n"
             "Id=adjutant-task-3.service\nActiveState=deactivating\nSubState=stop-sigterm\n"
             "Description=Koji task 3: sleep 300\nActiveEnterTimestampMonotonic=0\n"
             "CPUUsageNSec=[not set]\nMemoryCurrent=[not set]\nMemoryMax=infinity\n"
             "MemoryLimit=infinity\n")
    units = status.task_units(status.parse_show(shown), Config(), now_monotonic=160.0)
    assert [u.task_id for u in units] == [3, 12]
    twelve = units[1]
    assert (twelve.age_seconds, twelve.cpu_seconds) == (60.0, 2.5)
    assert (twelve.memory_bytes, twelve.memory_limit_bytes) == (2**30, 8 * 2**30)
    assert twelve.log == "/mnt/koji/logs/12/container.log"
    assert units[0].memory_limit_bytes is None and units[0].age_seconds is None
    host = status.HostView(name="b1.example.com", enabled=True, ready=True, task_load=1.5,
                           capacity=20.0, channels=["createrepo", "default"])
    text = status.render(host, units)
    assert text.splitlines()[0] == ("host b1.example.com: enabled, ready, load 1.5/20.0, "
                                    "channels createrepo, default")
    assert "1.0G/8.0G" in text and "1m00s" in text and "Koji task 12: buildArch" in text
    assert status.render(status.HostView(error="login failed"), []) == (
        "hub: login failed\nno task units")


def test_quadlets_for_the_registry_images_the_settings_name(tmp_path):
    from adjutant import quadlets

    config = Config(task_image="registry.fedoraproject.org/fedora:41",
                    createrepo_image="localhost/adjutant-createrepo:latest")
    assert quadlets.images(config) == ["registry.fedoraproject.org/fedora:41"]
    assert quadlets.unit_stem("registry.fedoraproject.org/fedora:41") == "adjutant-fedora-41"
    written = quadlets.write(config, tmp_path / "quadlets", tmp_path / "units")
    assert sorted(p.name for p in written) == ["adjutant-fedora-41-refresh.timer",
                                               "adjutant-fedora-41.image"]
    image = (tmp_path / "quadlets" / "adjutant-fedora-41.image").read_text()
    assert "[Image]\nImage=registry.fedoraproject.org/fedora:41\n" in image
    timer = (tmp_path / "units" / "adjutant-fedora-41-refresh.timer").read_text()
    assert "Unit=adjutant-fedora-41-image.service\n" in timer


def test_prune_removes_expired_kept_work_directories_and_keeps_the_rest(tmp_path):
    import asyncio

    from adjutant.prune import prune
    from adjutant.worker import state as task_state

    config = Config(state_dir=tmp_path / "state", buildroot_dir=tmp_path / "roots",
                    workdir=tmp_path / "work")
    old, young = tmp_path / "work" / "old", tmp_path / "work" / "young"
    for workdir in (old, young):
        (workdir / "result").mkdir(parents=True)
        (workdir / "result" / "build.log").write_text("x")
    task_state.keep_workdir(config.state_dir, 7, old, -1)  # its lifetime is over
    task_state.keep_workdir(config.state_dir, 8, young, 3600)
    pruned = asyncio.run(prune(config))
    assert pruned.kept_tasks == [7]
    assert not old.exists() and young.exists()
    assert asyncio.run(prune(config, everything=True)).kept_tasks == [8]
    assert not young.exists()
    assert asyncio.run(prune(config)).render().splitlines()[-1] == (
        "kept work directories removed: 0")


def test_shell_command_lines():
    from adjutant import shell

    assert shell.exec_argv(Path("/usr/bin/podman"), 12, ["id", "-u"], tty=False) == [
        "/usr/bin/podman", "exec", "-i", "adjutant-task-12", "id", "-u"]
    assert shell.kept_argv(podman=Path("/usr/bin/podman"), view_root=Path("/v/12/root"),
                           workdir=Path("/var/tmp/koji/tasks/12/12"), idmap="1879048192:65536",
                           command=["/bin/bash", "-l"], tty=True) == [
        "/usr/bin/podman", "run", "--rm", "-it", "--network=none",
        "--uidmap", "0:1879048192:65536", "--gidmap", "0:1879048192:65536",
        "--user", "1000:135", "--volume", "/var/tmp/koji/tasks/12/12:/builddir",
        "--workdir", "/builddir", "--rootfs", "/v/12/root", "/bin/bash", "-l"]
