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


def test_without_image_quadlets_the_image_unit_is_a_plain_service(tmp_path):
    """podman before 4.8 has no .image quadlets: the unit quadlet would make is
    written as it is, under the name the timer starts."""
    from adjutant import quadlets

    assert not quadlets.has_image_quadlets((4, 3, 1))
    assert quadlets.has_image_quadlets((4, 8)) and quadlets.has_image_quadlets((5, 4, 2))
    config = Config(task_image="registry.fedoraproject.org/fedora:41")
    written = quadlets.write(config, tmp_path / "quadlets", tmp_path / "units",
                             image_quadlets=False)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == [
        "units/adjutant-fedora-41-image.service", "units/adjutant-fedora-41-refresh.timer"]
    service = (tmp_path / "units" / "adjutant-fedora-41-image.service").read_text()
    assert ("[Service]\nType=oneshot\nRemainAfterExit=yes\n"
            "ExecStart=/usr/bin/podman image pull registry.fedoraproject.org/fedora:41\n"
            in service)
    assert "Before=adjutant.service\n" in service and "WantedBy=multi-user.target" in service


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


def test_cancel_asks_only_for_an_open_task_of_this_host():
    from adjutant.cancel import Task, refusal

    assert refusal(Task(7, "OPEN", 3, "buildArch"), host_id=3) is None
    assert refusal(Task(7, "CLOSED", 3, "buildArch"), host_id=3) == \
        "task 7 is CLOSED: it has ended, nothing to cancel"
    assert refusal(Task(7, "OPEN", 4, "buildArch"), host_id=3) == \
        "task 7 is OPEN on host 4, not on this host (3); cancel it with koji cancel 7"
    assert refusal(Task(7, "FREE", None, "build"), host_id=3) == \
        "task 7 is FREE on no host, not on this host (3); cancel it with koji cancel 7"
    assert "has never polled the hub" in str(refusal(Task(7, "OPEN", 3, "x"), host_id=None))


def test_cancel_requests_are_task_ids_in_the_state_dir(tmp_path):
    import os

    from adjutant.worker.requests import CancelRequests

    requests = CancelRequests(tmp_path)
    assert requests.pending() == []
    requests.ask(12)
    requests.ask(9)
    (tmp_path / "cancel" / ".12.tmp").write_text("")  # not a request
    assert requests.pending() == [9, 12]
    assert os.stat(tmp_path / "cancel").st_mode & 0o777 == 0o700
    requests.done(12)
    requests.done(12)  # twice: nothing to remove the second time
    assert requests.pending() == [9] and requests.asked(9) and not requests.asked(12)


def test_cancel_signals_only_a_running_adjutant_daemon(tmp_path):
    import subprocess
    import sys
    import time

    from adjutant.cancel import daemon_pid

    assert daemon_pid(None) is None
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert daemon_pid(stranger.pid) is None  # a reused pid: not an adjutant daemon
    finally:
        stranger.kill()
        stranger.wait()
    assert daemon_pid(stranger.pid) is None  # gone
    fake = tmp_path / "adjutant"
    fake.write_text("import time; time.sleep(30)\n")
    ours = subprocess.Popen([sys.executable, str(fake), "daemon"])
    try:
        # Popen (vfork) may return before the kernel has set the new
        # program's argv: wait for it, as for any process just started
        cmdline = Path(f"/proc/{ours.pid}/cmdline")
        deadline = time.monotonic() + 10
        while b"daemon" not in cmdline.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert daemon_pid(ours.pid) == ours.pid
    finally:
        ours.kill()
        ours.wait()


def test_build_local_only_reads_the_hub():
    import pytest

    from adjutant.errors import AdjutantError
    from adjutant.local import LocalHub

    class Session:
        calls: list = []

        def callMethod(self, name, *args, **kwargs):  # koji's ClientSession.callMethod
            self.calls.append(name)
            return {"id": 5}

    hub = LocalHub(Session())
    assert hub.call_blocking("getRepo", "f40-build") == {"id": 5}
    assert hub.call_blocking("host.newBuildRoot", 5, "x86_64", task_id=2**31) == 0
    assert hub.call_blocking("host.setBuildRootState", 0, "BUILDING") is None
    for refused in ("host.closeTask", "rawUpload", "host.subtask"):
        with pytest.raises(AdjutantError, match=f"build-local makes no hub call {refused}"):
            hub.call_blocking(refused)
    assert Session.calls == ["getRepo"]


def test_build_local_keeps_every_directory_of_its_build_in_its_scratch(tmp_path):
    from adjutant.local import local_task_id, scratch_config
    from adjutant.tasks.base import LOCAL_TASK_IDS

    local = scratch_config(Config(), tmp_path)
    for key in ("workdir", "state_dir", "log_dir", "buildroot_dir"):
        assert getattr(local, key).parent == tmp_path, key
    assert local.failed_buildroot_lifetime == 0
    assert local_task_id() >= LOCAL_TASK_IDS > 2**31 - 1  # never a Koji (int4) task id


def test_build_local_takes_the_hub_from_the_koji_profile(tmp_path, monkeypatch):
    from adjutant.local import with_hub

    (tmp_path / ".koji").mkdir()
    (tmp_path / ".koji" / "config").write_text(
        "[koji]\nserver = https://koji.example.org/kojihub\n"
        "topurl = https://koji.example.org/kojifiles\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    chosen = with_hub(Config(), hub=None, topurl=None, profile="koji")
    assert (chosen.server, chosen.topurl) == ("https://koji.example.org/kojihub",
                                              "https://koji.example.org/kojifiles")
    given = with_hub(Config(), hub="http://127.0.0.1:1/kojihub", topurl="http://127.0.0.1:1/f",
                     profile="koji")
    assert (given.server, given.topurl) == ("http://127.0.0.1:1/kojihub", "http://127.0.0.1:1/f")
