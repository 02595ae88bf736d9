"""The daemon against the hub emulator, in the test host: real systemd units,
real podman, the hub's real wire protocol through koji's client library.

The daemon runs as a Type=notify transient service (as adjutant.service
would), so READY=1, STATUS= and being killed are real too.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest

from tests.integration.conftest import containers_of, sh, unit_active
from tests.integration.daemon_support import (
    HOST,
    PASSWORD,
    SLEEPTIME,
    Daemon,
    stop_task_units,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.integration

@pytest.fixture
def hub(tmp_path: Path) -> Iterator[object]:
    from tests.hub.admin import HubAdmin, HubProcess

    topdir = tmp_path / "koji"
    topdir.mkdir()
    db = tmp_path / "hub.sqlite"
    admin = HubAdmin(db)
    admin.add_host(HOST, arches=("x86_64", "noarch"), capacity=10.0, password=PASSWORD)
    with HubProcess(db, topdir) as process:
        process.admin = admin
        yield process


@pytest.fixture
def daemon_factory(tmp_path: Path, hub) -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []

    def make(**kojid: object) -> Daemon:
        daemon = Daemon(write_config(tmp_path, hub, **kojid))
        started.append(daemon)
        return daemon

    yield make
    for daemon in started:
        daemon.stop()
    stop_task_units()  # no task unit of this test may outlive it


def state_name(hub, task_id: int) -> str:
    import koji

    return koji.TASK_STATES[hub.admin.task(task_id)["state"]]


def count_calls(hub, method: str, task_id: int) -> int:
    """The calls the hub took.  A koji client's retry of a call whose answer
    was lost (same callnum) is refused by the hub, as kojihub's session
    callnum check refuses it, and is not a second call."""
    return len(hub.admin.calls(method=method, task_id=task_id, ok=True))


# ---- the tests ------------------------------------------------------------------


def test_sleep_tasks_run_as_units_and_close_unknown_methods_are_refused(hub, daemon_factory):
    daemon = daemon_factory()
    sleeps = [hub.admin.create_task("sleep", [1]) for _ in range(3)]
    unknown = hub.admin.create_task("frobnicate", [])
    daemon.start()
    for task_id in sleeps:
        wait_for(lambda t=task_id: state_name(hub, t) == "CLOSED", 60, f"task {task_id} to close")
        assert count_calls(hub, "host.closeTask", task_id) == 1
        assert hub.admin.decoded_result(task_id) is None
        journal = sh("journalctl", "-u", f"adjutant-task-{task_id}", "--no-pager").stdout
        assert f"Koji task {task_id}: sleep 1" in journal
    wait_for(lambda: count_calls(hub, "host.refuseTask", unknown) >= 1, 30, "the refusal")
    assert state_name(hub, unknown) == "FREE"
    assert count_calls(hub, "host.openTask", unknown) == 0
    assert "task(s) running" in daemon.status_text()


def test_no_more_tasks_run_than_maxjobs_allows(hub, daemon_factory):
    daemon = daemon_factory(maxjobs=2)
    tasks = [hub.admin.create_task("sleep", [2]) for _ in range(5)]
    daemon.start()
    most = 0
    deadline = time.monotonic() + 120
    while not all(state_name(hub, t) == "CLOSED" for t in tasks):
        assert time.monotonic() < deadline, "the tasks did not all close in 120 s"
        running = [t for t in tasks if state_name(hub, t) == "OPEN"]
        units = [t for t in tasks if unit_active(t)]
        most = max(most, len(running), len(units))
        time.sleep(0.1)
    assert most == 2


def test_a_task_cancelled_on_the_hub_is_stopped(hub, daemon_factory):
    daemon = daemon_factory()
    task_id = hub.admin.create_task("sleep", [300])
    daemon.start()
    wait_for(lambda: containers_of(task_id) == [f"adjutant-task-{task_id}"], 60,
             "the task's container")
    hub.admin.cancel(task_id)
    took = wait_for(lambda: containers_of(task_id) == [] and not unit_active(task_id),
                    SLEEPTIME + 5, "the container and unit to be gone")
    print(f"cancel to container gone: {took:.2f} s")
    assert count_calls(hub, "host.closeTask", task_id) == 0
    assert count_calls(hub, "host.failTask", task_id) == 0


@pytest.mark.parametrize("how,ends_while_down", [
    ("SIGKILL", False), ("SIGKILL", True), ("SIGTERM", False),
], ids=["killed-mid-task", "killed-task-ends-while-down", "stopped-mid-task"])
def test_daemon_killed_mid_task_finishes_it_once(hub, daemon_factory, how, ends_while_down):
    daemon = daemon_factory()
    task_id = hub.admin.create_task("sleep", [6])
    daemon.start()
    wait_for(lambda: unit_active(task_id), 60, "the task's unit")
    if how == "SIGKILL":
        daemon.kill()
    else:
        daemon.terminate()
    assert unit_active(task_id), "the task's unit must outlive the daemon"
    if ends_while_down:
        wait_for(lambda: not unit_active(task_id), 30, "the task to end with no daemon")
    daemon.start()
    wait_for(lambda: state_name(hub, task_id) == "CLOSED", 60, "the task to close")
    assert count_calls(hub, "host.closeTask", task_id) == 1
    assert count_calls(hub, "host.freeTasks", task_id) == 0
    assert count_calls(hub, "host.openTask", task_id) == 1


def end_a_task_during_an_outage(hub, daemon, seconds: int, sleep: int) -> int:
    """A `sleep` task that ends while the hub is down for `seconds`; returns
    once the hub is back, the task still OPEN on it."""
    task_id = hub.admin.create_task("sleep", [sleep])
    daemon.start()
    wait_for(lambda: unit_active(task_id), 60, "the task's unit")
    hub.stop()
    down_since = time.monotonic()
    wait_for(lambda: not unit_active(task_id), 30, "the task to end while the hub is down")
    assert state_name(hub, task_id) == "OPEN"
    wait_for(lambda: time.monotonic() - down_since >= seconds, seconds + 1,
             f"{seconds} s of outage")
    hub.start()
    return task_id


def test_a_result_survives_the_hub_being_down_for_30_seconds(hub, daemon_factory):
    daemon = daemon_factory()
    task_id = end_a_task_during_an_outage(hub, daemon, 30, sleep=4)
    took = wait_for(lambda: state_name(hub, task_id) == "CLOSED", 60,
                    "the result to reach the hub")
    print(f"result delivered {took:.2f} s after the hub returned")
    assert count_calls(hub, "host.closeTask", task_id) == 1
    assert daemon.active()


def test_a_result_reaches_the_hub_within_a_poll_of_its_return(hub, daemon_factory):
    """kojid's retry_interval of 60 s, the hub down for 60 s while the task
    ends: the result is delivered within a poll (+ 2 s) of the hub's return,
    not when koji's next retry comes round."""
    daemon = daemon_factory(retry_interval=60, max_retries=120)
    task_id = end_a_task_during_an_outage(hub, daemon, 60, sleep=3)
    took = wait_for(lambda: state_name(hub, task_id) == "CLOSED", SLEEPTIME + 2,
                    "the result to reach the hub within a poll + 2 s")
    print(f"result delivered {took:.2f} s after the hub returned (retry_interval 60)")
    assert count_calls(hub, "host.closeTask", task_id) == 1


def test_cancel_of_a_parent_waiting_for_its_children(hub, daemon_factory):
    daemon = daemon_factory()
    parent = hub.admin.create_task("subtask", [1])
    daemon.start()
    leaf = {}

    def sleeping_leaf() -> bool:
        for task in hub.admin.tasks():
            if task["method"] == "sleep" and containers_of(task["id"]):
                leaf["id"] = task["id"]
                return True
        return False

    wait_for(sleeping_leaf, 60, "the chain's sleep task to run")
    hub.admin.cancel(parent)
    took = wait_for(lambda: not containers_of(leaf["id"]) and not unit_active(leaf["id"]),
                    SLEEPTIME + 2, "the leaf's container to go")
    print(f"cancel of the waiting parent to the leaf's container gone: {took:.2f} s")
    assert all(state_name(hub, t["id"]) == "CANCELED" for t in hub.admin.tasks())
    wait_for(lambda: "0 task(s) running" in daemon.status_text(), 10,
             "the daemon to let go of every task")
    for task in hub.admin.tasks():
        assert count_calls(hub, "host.closeTask", task["id"]) == 0
        assert count_calls(hub, "host.failTask", task["id"]) == 0


def test_parent_tasks_wait_for_their_subtasks(hub, daemon_factory):
    daemon = daemon_factory()
    waittest = hub.admin.create_task("waittest", [2, 1])
    chain = hub.admin.create_task("subtask", [1])
    daemon.start()
    for task_id in (waittest, chain):
        wait_for(lambda t=task_id: state_name(hub, t) in ("CLOSED", "FAILED"), 120,
                 f"task {task_id} to finish")
        assert state_name(hub, task_id) == "CLOSED", hub.admin.decoded_result(task_id)
    children = [t for t in hub.admin.tasks() if t["parent"] == waittest]
    assert sorted(t["label"] for t in children) == ["0", "1", "bad"]
    bad = next(t for t in children if t["label"] == "bad")
    assert state_name(hub, bad["id"]) == "FAILED"


def test_an_expired_session_is_renewed_and_work_goes_on(tmp_path: Path):
    from tests.hub.admin import HubAdmin, HubProcess

    (tmp_path / "koji").mkdir()
    admin = HubAdmin(tmp_path / "hub.sqlite")
    admin.add_host(HOST, capacity=4.0, password=PASSWORD)
    # the hub's SessionRenewalTimeout, in minutes: sessions expire after 3 s
    with HubProcess(tmp_path / "hub.sqlite", tmp_path / "koji",
                    session_renewal_timeout=0.05) as hub:
        daemon = Daemon(write_config(tmp_path, hub))
        try:
            daemon.start()
            first = admin.create_task("sleep", [4])  # its subsession expires mid-task
            wait_for(lambda: admin.task(first)["state_name"] == "CLOSED", 60, "the first task")
            second = admin.create_task("sleep", [1])
            wait_for(lambda: admin.task(second)["state_name"] == "CLOSED", 60, "the second task")
            assert daemon.active()
            assert admin.count_calls("login") >= 2, "the session was never renewed"
        finally:
            daemon.stop()


def test_login_with_a_client_certificate(tmp_path: Path):
    from tests.hub.admin import HubAdmin, HubProcess
    from tests.hub.tls import make_tls

    tls = make_tls(tmp_path / "tls", HOST)
    (tmp_path / "koji").mkdir()
    admin = HubAdmin(tmp_path / "hub.sqlite")
    admin.add_host(HOST, capacity=4.0)  # no password: the certificate is the login
    with HubProcess(tmp_path / "hub.sqlite", tmp_path / "koji", tls=tls) as hub:
        daemon = Daemon(write_config(tmp_path, hub, user=None, password=None,
                                     cert=tls.client_pem, serverca=tls.ca))
        try:
            task_id = admin.create_task("sleep", [1])
            daemon.start()
            wait_for(lambda: admin.task(task_id)["state_name"] == "CLOSED", 60, "the task")
            assert admin.count_calls("sslLogin") == 1
            assert admin.count_calls("login") == 0
        finally:
            daemon.stop()


def test_drain_stops_and_frees_every_task(hub, daemon_factory, tmp_path: Path):
    daemon = daemon_factory()
    tasks = [hub.admin.create_task("sleep", [300]) for _ in range(2)]
    daemon.start()
    wait_for(lambda: all(unit_active(t) for t in tasks), 60, "both units")
    daemon.terminate()
    assert all(unit_active(t) for t in tasks), "stopping the daemon must leave the units"
    result = subprocess.run([sys.executable, "-m", "adjutant", "drain", "--config",
                             str(tmp_path / "kojid.conf")], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("drained: 2 task(s) freed")
    for task_id in tasks:
        assert not unit_active(task_id)
        assert containers_of(task_id) == []
        assert state_name(hub, task_id) in ("FREE", "ASSIGNED")  # back in the queue
        assert count_calls(hub, "host.closeTask", task_id) == 0


def test_a_bad_configuration_stops_the_start_with_one_line(tmp_path: Path):
    bad = tmp_path / "kojid.conf"
    bad.write_text("[kojid]\nserver = http://127.0.0.1:1/kojihub\ntopurl = http://x/\n"
                   "maxjobs = plenty\n")
    result = subprocess.run([sys.executable, "-m", "adjutant", "daemon", "--config", str(bad)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert result.stderr == (f"adjutant: {bad}: [kojid] maxjobs = 'plenty': 'plenty' is not "
                             "a whole number\n")


def main_pid(daemon: Daemon) -> int:
    return int(sh("systemctl", "show", daemon.unit, "-p", "MainPID", "--value").stdout)


def test_restart_hosts_re_executes_the_daemon_and_no_task_stops(hub, daemon_factory):
    """koji restart-hosts: this host's restart task re-executes the daemon in
    place (its unit's main PID stays) while a task runs on; restartVerify
    passes in the new process, and the task is opened and closed once."""
    daemon = daemon_factory()
    sleeper = hub.admin.create_task("sleep", [15])
    daemon.start()
    wait_for(lambda: unit_active(sleeper), 60, "the sleep task's unit")
    pid = main_pid(daemon)
    host_id = hub.admin.host(HOST)["id"]
    # kojihub's restartHosts(priority=5, options=None): the task, at priority 5
    restart = hub.admin.create_task("restartHosts", [{}], priority=5)
    wait_for(lambda: state_name(hub, restart) in ("CLOSED", "FAILED"), 120,
             "the restartHosts task to end")
    assert state_name(hub, restart) == "CLOSED", hub.admin.decoded_result(restart)
    children = {t["label"]: t for t in hub.admin.tasks(parent=restart)}
    assert {label: t["method"] for label, t in children.items()} == {
        f"restart {host_id}": "restart", f"sleep {host_id}": "restartVerify"}
    assert all(t["state_name"] == "CLOSED" for t in children.values())
    assert hub.admin.decoded_result(children[f"restart {host_id}"]["id"]) == \
        "graceful restart initiated"
    assert main_pid(daemon) == pid
    assert "re-executing for a restart task" in daemon.journal()
    wait_for(lambda: state_name(hub, sleeper) == "CLOSED", 60, "the sleep task to close")
    assert count_calls(hub, "host.openTask", sleeper) == 1
    assert count_calls(hub, "host.closeTask", sleeper) == 1


def test_a_dependant_task_waits_for_its_tasks_then_makes_its_subtasks(hub, daemon_factory):
    """koji.tasks' DependantTask: the tasks it waits for are not its children;
    once they are done, its task_list becomes its subtasks."""
    daemon = daemon_factory()
    first = hub.admin.create_task("sleep", [3])
    dependant = hub.admin.create_task("dependantTask", [[first], [["sleep", [1]]]])
    daemon.start()
    wait_for(lambda: state_name(hub, dependant) in ("CLOSED", "FAILED"), 120,
             "the dependant task to end")
    assert state_name(hub, dependant) == "CLOSED", hub.admin.decoded_result(dependant)
    [child] = hub.admin.tasks(parent=dependant)
    assert child["method"] == "sleep" and child["state_name"] == "CLOSED"
    # it was made only once the task it waited for had closed
    assert child["create_ts"] >= hub.admin.task(first)["completion_ts"]


def test_a_dependant_task_fails_when_a_task_it_waits_for_fails(hub, daemon_factory):
    daemon = daemon_factory()
    failing = hub.admin.create_task("default", [])  # koji.tasks DefaultTask: always fails
    dependant = hub.admin.create_task("dependantTask", [[failing], [["sleep", [1]]]])
    daemon.start()
    wait_for(lambda: state_name(hub, dependant) in ("CLOSED", "FAILED"), 120,
             "the dependant task to end")
    assert state_name(hub, dependant) == "FAILED"
    assert hub.admin.decoded_result(dependant).faultString == (
        f"Dependency {failing} failed to complete.")
    assert hub.admin.tasks(parent=dependant) == []


def adjutant_command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "adjutant", *args], capture_output=True,
                          text=True, check=False)


def test_status_and_check_beside_a_running_daemon(hub, daemon_factory, tmp_path):
    import json

    daemon = daemon_factory()
    sleeper = hub.admin.create_task("sleep", [60])
    daemon.start()
    wait_for(lambda: unit_active(sleeper), 60, "the sleep task's unit")
    shown = adjutant_command("status", "--config", str(daemon.config_file), "--json")
    assert shown.returncode == 0, shown.stderr
    status = json.loads(shown.stdout)
    assert status["host"]["name"] == HOST and status["host"]["enabled"] is True, status["host"]
    assert status["host"]["error"] is None
    assert status["host"]["channels"] == ["default"]
    [task] = [t for t in status["tasks"] if t["task_id"] == sleeper]
    assert task["state"] == "active/running"
    assert task["log"].endswith(f"/{sleeper}/container.log")
    assert f"Koji task {sleeper}: sleep" in task["description"]

    checked = adjutant_command("check", "--config", str(daemon.config_file))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    lines = checked.stdout.splitlines()
    assert not [line for line in lines if line.startswith("FAIL")], checked.stdout
    # the daemon holds the host's exclusive session: the hub locks the check's out
    assert f"OK   hub: logged in to {hub.url}; the host's exclusive session is held (by the " \
        "running daemon)" in lines, checked.stdout
    # the daemon kept its exclusive session: it still takes tasks
    after = hub.admin.create_task("sleep", [1])
    wait_for(lambda: state_name(hub, after) == "CLOSED", 60, "a task after the check")


@pytest.mark.parametrize("case", [
    ({}, {"task_image": "localhost/no-such-image:1", "image_pull": "never"}, "task image",
     "localhost/no-such-image:1 is not here and image_pull is never"),
    ({"server": "http://127.0.0.1:9/kojihub"}, {}, "hub", "login to http://127.0.0.1:9/kojihub"),
    ({"minspace": 10**9}, {}, "space (workdir)", "less than minspace 1000000000 MB"),
], ids=["missing-image", "unreachable-hub", "too-little-space"])
def test_check_names_what_is_wrong_with_its_fix(hub, tmp_path, case):
    kojid, adjutant, name, words = case
    (tmp_path / "case").mkdir()
    config = write_config(tmp_path / "case", hub, adjutant=adjutant, **kojid)
    checked = adjutant_command("check", "--config", str(config))
    assert checked.returncode == 1, checked.stdout
    lines = checked.stdout.splitlines()
    [failed] = [i for i, line in enumerate(lines) if line.startswith(f"FAIL {name}:")]
    assert words in lines[failed], checked.stdout
    assert lines[failed + 1].startswith("     fix: "), checked.stdout


def test_the_daemons_lines_about_a_task_carry_its_journal_fields(hub, daemon_factory):
    """journalctl ADJUTANT_TASK_ID=N: the daemon's lines about task N (with
    its method and state) beside its unit's."""
    import json

    daemon = daemon_factory()
    task_id = hub.admin.create_task("sleep", [1])
    daemon.start()
    wait_for(lambda: state_name(hub, task_id) == "CLOSED", 60, "the task to close")

    def entries() -> list[dict]:
        out = sh("journalctl", f"ADJUTANT_TASK_ID={task_id}", "-o", "json", "--no-pager",
                 check=False).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    wait_for(lambda: any(e.get("KOJI_TASK_STATE") == "CLOSED" for e in entries()), 30,
             "the daemon's closing line in the journal")
    mine = [e for e in entries() if e.get("_SYSTEMD_INVOCATION_ID") == daemon.invocation]
    assert {e.get("KOJI_METHOD") for e in mine} == {"sleep"}
    assert [e["KOJI_TASK_STATE"] for e in mine] == ["OPEN", "CLOSED"]
    assert any(e["MESSAGE"].startswith(f"took task {task_id}") for e in mine)


def test_adjutant_logs_shows_a_tasks_journal_then_its_copy(hub, daemon_factory, tmp_path):
    daemon = daemon_factory()
    task_id = hub.admin.create_task("sleep", [1])
    daemon.start()
    wait_for(lambda: state_name(hub, task_id) == "CLOSED", 60, "the task to close")
    shown = adjutant_command("logs", str(task_id), "--config", str(daemon.config_file))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip(), "the unit's journal is empty"
    missing = adjutant_command("logs", "999999", "--config", str(daemon.config_file))
    assert missing.returncode == 1
    assert missing.stderr.startswith("adjutant: task 999999: nothing in the journal"), \
        missing.stderr


def test_check_names_a_client_certificate_the_hub_does_not_accept(tmp_path: Path):
    """A certificate from another CA: the hub refuses the TLS login, and
    check says so with the certificate options to look at."""
    from tests.hub.admin import HubAdmin, HubProcess
    from tests.hub.tls import make_tls

    tls = make_tls(tmp_path / "tls", HOST)
    stranger = make_tls(tmp_path / "other-ca", HOST)
    (tmp_path / "koji").mkdir()
    admin = HubAdmin(tmp_path / "hub.sqlite")
    admin.add_host(HOST, capacity=4.0)
    with HubProcess(tmp_path / "hub.sqlite", tmp_path / "koji", tls=tls) as hub:
        good = write_config(tmp_path, hub, user=None, password=None, cert=tls.client_pem,
                            serverca=tls.ca)
        checked = adjutant_command("check", "--config", str(good))
        assert any(line.startswith(f"OK   hub: logged in to {hub.url} as host {HOST}")
                   for line in checked.stdout.splitlines()), checked.stdout
        (tmp_path / "bad").mkdir()
        bad = write_config(tmp_path / "bad", hub, user=None, password=None,
                           cert=stranger.client_pem, serverca=tls.ca)
        checked = adjutant_command("check", "--config", str(bad))
    assert checked.returncode == 1, checked.stdout
    lines = checked.stdout.splitlines()
    [failed] = [i for i, line in enumerate(lines) if line.startswith("FAIL hub:")]
    assert f"login to {hub.url} (ssl) failed" in lines[failed], checked.stdout
    assert "certificate" in lines[failed + 1], checked.stdout


def test_adjutant_cancel_cancels_through_the_hub_and_waits_for_the_unit(hub, daemon_factory):
    """`adjutant cancel` beside the running daemon: the daemon (woken by
    SIGUSR1: its sleeptime here is longer than the command waits) asks the
    hub, the task is CANCELED, and its unit and container are gone."""
    daemon = daemon_factory(sleeptime=60)
    sleeper = hub.admin.create_task("sleep", [300])
    daemon.start()
    wait_for(lambda: unit_active(sleeper), 60, "the sleep task's unit")
    done = adjutant_command("cancel", str(sleeper), "--timeout", "30",
                            "--config", str(daemon.config_file))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        f"task {sleeper} (sleep): asked the daemon (pid {main_pid(daemon)}) to cancel it",
        f"task {sleeper} is CANCELED on the hub",
        f"adjutant-task-{sleeper}.service is stopped and gone"], done.stdout
    assert state_name(hub, sleeper) == "CANCELED"
    assert hub.admin.count_calls("cancelTask") == 1  # by the host's own session
    assert f"adjutant-task-{sleeper}" not in sh("podman", "ps", "--all", "--format",
                                                "{{.Names}}").stdout
    assert f"cancelled task {sleeper} on the hub, as adjutant cancel asked" in daemon.journal()

    again = adjutant_command("cancel", str(sleeper), "--config", str(daemon.config_file))
    assert (again.returncode, again.stdout) == (0, f"task {sleeper} is CANCELED already\n")
    missing = adjutant_command("cancel", "999999", "--config", str(daemon.config_file))
    assert missing.returncode == 1
    assert missing.stderr == f"adjutant: task 999999: no such task on {hub.url}\n"


def test_adjutant_cancel_refuses_an_ended_task_and_another_hosts(hub, daemon_factory):
    daemon = daemon_factory()
    closed = hub.admin.create_task("sleep", [0])
    daemon.start()
    wait_for(lambda: state_name(hub, closed) == "CLOSED", 60, "the task to close")
    ended = adjutant_command("cancel", str(closed), "--config", str(daemon.config_file))
    assert (ended.returncode, ended.stderr) == (
        1, f"adjutant: task {closed} is CLOSED: it has ended, nothing to cancel\n")
    elsewhere = hub.admin.create_task("sleep", [300], arch="s390x")  # never this host's
    refused = adjutant_command("cancel", str(elsewhere), "--config", str(daemon.config_file))
    assert refused.returncode == 1, refused.stdout
    assert refused.stderr.startswith(f"adjutant: task {elsewhere} is FREE on no host, not "
                                     "on this host"), refused.stderr
    assert state_name(hub, elsewhere) == "FREE"
