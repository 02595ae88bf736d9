from pathlib import Path

import pytest

from adjutant.runner.podman import remove_container_argv, task_containers_argv, task_run_argv
from adjutant.runner.spec import Mount

PODMAN = Path("/usr/bin/podman")


def test_task_run_argv_is_exact_and_ordered():
    argv = task_run_argv(
        podman=PODMAN, task_id=12345, image="localhost/br:1", command=["rpmbuild", "-ba", "x.spec"],
        mounts=[Mount("/var/tmp/koji/tasks/5/12345", "/builddir", read_only=False),
                Mount("/mnt/koji/repos", "/repos")],
        env_file=Path("/var/lib/adjutant/tasks/12345/container.env"), workdir="/builddir",
        user="1000:1000",
    )
    assert argv == [
        "/usr/bin/podman", "run", "--rm", "--replace", "--name", "adjutant-task-12345",
        "--label", "io.adjutant.task=12345", "--init", "--cgroups=split",
        "--log-driver=passthrough", "--pids-limit=-1", "--pull=never",
        "--security-opt=no-new-privileges", "--cap-drop=NET_BIND_SERVICE", "--network=none",
        "--volume", "/var/tmp/koji/tasks/5/12345:/builddir:rw",
        "--volume", "/mnt/koji/repos:/repos:ro",
        "--env-file", "/var/lib/adjutant/tasks/12345/container.env",
        "--workdir", "/builddir", "--user", "1000:1000",
        "localhost/br:1", "rpmbuild", "-ba", "x.spec",
    ]


def test_network_is_off_unless_asked_for():
    offline = task_run_argv(podman=PODMAN, task_id=1, image="i", command=["true"])
    online = task_run_argv(podman=PODMAN, task_id=1, image="i", command=["true"], network=True)
    assert "--network=none" in offline
    assert not any(a.startswith("--network") for a in online)


def test_the_command_follows_the_image_untouched():
    argv = task_run_argv(podman=PODMAN, task_id=7, image="img", command=["sh", "-c", "echo $HOME"])
    assert argv[-4:] == ["img", "sh", "-c", "echo $HOME"]


def test_remove_and_list_argv():
    assert remove_container_argv(podman=PODMAN, task_id=9) == [
        "/usr/bin/podman", "rm", "--force", "--ignore", "--volumes", "--time", "0",
        "adjutant-task-9"]
    assert task_containers_argv(podman=PODMAN) == [
        "/usr/bin/podman", "ps", "--all", "--format", "json", "--filter", "label=io.adjutant.task"]


def test_a_build_step_runs_its_buildroot_as_root_fs_in_the_fixed_range():
    from adjutant.runner.podman import task_run_argv

    argv = task_run_argv(podman=Path("/usr/bin/podman"), task_id=7, image="bootstrap",
                         command=["/bin/bash", "/adjutant/build.sh"],
                         rootfs="/var/lib/adjutant/buildroots/views/7/root",
                         idmap="1879048192:65536", user="1000:135",
                         drop_caps=True)
    assert "bootstrap" not in argv  # the root filesystem is the buildroot, not the image
    tail = argv[argv.index("--rootfs"):]
    assert tail == ["--rootfs", "/var/lib/adjutant/buildroots/views/7/root",
                    "/bin/bash", "/adjutant/build.sh"]
    assert argv[argv.index("--uidmap") + 1] == "0:1879048192:65536"
    assert argv[argv.index("--gidmap") + 1] == "0:1879048192:65536"
    assert argv[argv.index("--user") + 1] == "1000:135"
    assert "--cap-drop=all" in argv and "--security-opt=no-new-privileges" in argv


def test_a_spec_refuses_a_bad_rootfs_or_idmap():
    from adjutant.runner.spec import TaskSpec

    with pytest.raises(ValueError, match="rootfs"):
        TaskSpec(task_id=7, image="i", command=("true",), description="d", rootfs="rel/root")
    with pytest.raises(ValueError, match="START:SIZE"):
        TaskSpec(task_id=7, image="i", command=("true",), description="d", idmap="0:-1")
