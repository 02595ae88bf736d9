"""The notification mails, as kojid's TagNotificationTask and
BuildNotificationTask write them, and their sending."""

from __future__ import annotations

import socket

import koji
import pytest

from adjutant.config import Config
from adjutant.tasks.notification import build_message, send_mail, tag_message
from tests.smtpsink import SmtpSink

BUILD = {"id": 7, "package_name": "greeter", "name": "greeter", "version": "1.0",
         "release": "1.adj1", "epoch": None, "state": koji.BUILD_STATES["COMPLETE"],
         "owner_name": "alice", "task_id": 40, "creation_ts": 1764633600.0,
         "completion_ts": 1764633660.0, "volume_name": "DEFAULT"}


def headers(message: str) -> dict[str, str]:
    head = message.split("\r\n\r\n", 1)[0]
    return dict(line.split(": ", 1) for line in head.split("\r\n") if ": " in line)


def test_a_successful_tagging():
    text = tag_message(from_addr="Koji <koji@example.com>", recipients=["a@x", "b@x"],
                       build=BUILD, user_name="alice", tag_name="f40", from_tag_name=None,
                       is_successful=True)
    assert headers(text) == {
        "From": "Koji <koji@example.com>",
        "Subject": "greeter-1.0-1.adj1 successfully tagged into f40 by alice",
        "To": "a@x, b@x", "X-Koji-Package": "greeter", "X-Koji-NVR": "greeter-1.0-1.adj1",
        "X-Koji-Draft": "False", "X-Koji-User": "alice", "X-Koji-Status": "complete",
        "X-Koji-Tag": "f40"}
    assert "Tag Operation: tagged\r\nInto Tag: f40\r\n" in text
    assert "failed with the error" not in text


def test_a_failed_move_says_why():
    text = tag_message(from_addr="k@x", recipients=["a@x"], build=BUILD, user_name="bob",
                       tag_name="f40", from_tag_name="f40-candidate", is_successful=False,
                       failure_msg="ActionNotAllowed: policy violation")
    assert headers(text)["Subject"] == (
        "greeter-1.0-1.adj1 unsuccessfully moved from f40-candidate into f40 by bob")
    assert headers(text)["X-Koji-Status"] == "failed"
    assert "X-Koji-Tag: f40-candidate\r\nX-Koji-Tag: f40\r\n" in text
    assert ("Operation failed with the error:\r\n    ActionNotAllowed: policy violation"
            in text)


def test_a_build_mail_lists_its_tasks_by_state_with_links():
    tasks = {
        40: {"id": 40, "method": "build", "arch": "noarch", "build_arch": "", "host": None,
             "state": "closed", "result": None, "request": ["git://x/greeter", "f40", {}],
             "logs": [], "rpms": [], "srpms": [], "misc": []},
        41: {"id": 41, "method": "buildArch", "arch": "x86_64", "build_arch": "x86_64",
             "host": "b1.example.com", "state": "closed", "result": {},
             "request": ["work/x/greeter-1.0-1.adj1.src.rpm", 3, "x86_64", True, {}],
             "logs": [("build.log", "DEFAULT")], "rpms": ["greeter-1.0-1.adj1.x86_64.rpm"],
             "srpms": ["greeter-1.0-1.adj1.src.rpm"], "misc": []},
    }
    text = build_message(from_addr="k@x", recipients=["alice@x"], build=BUILD,
                         target={"dest_tag_name": "f40"}, weburl="https://koji.example/koji",
                         topurl="https://koji.example/kojifiles", tasks=tasks, failure="",
                         cancel_info="", changelog="")
    assert headers(text)["Subject"] == (
        "Package: greeter-1.0-1.adj1 Tag: f40 Status: complete Built by: alice")
    assert "SRPMS:\r\n  greeter-1.0-1.adj1.src.rpm\r\n\r\n" in text
    assert "Closed tasks:\r\n-------------\r\n\r\n" in text
    assert "Task 41 on b1.example.com\r\n" in text
    assert (" https://koji.example/koji/getfile?taskID=41&name=build.log&volume=DEFAULT\r\n"
            in text)
    assert (" https://koji.example/kojifiles/packages/greeter/1.0/1.adj1/x86_64/"
            "greeter-1.0-1.adj1.x86_64.rpm\r\n") in text
    assert "Task Info: https://koji.example/koji/taskinfo?taskID=40\r\n" in text
    assert "Build Info: https://koji.example/koji/buildinfo?buildID=7\r\n" in text


def test_a_mail_goes_through_smtphost_with_its_login():
    with SmtpSink() as smtp:
        config = Config(smtphost=smtp.address, smtp_user="koji", smtp_pass="s3cret")
        send_mail(config, "Koji <koji@example.com>", ["a@x", "b@x"], "Subject: hi\r\n\r\nbody\r\n")
        [mail] = smtp.sink.wait_for(1, timeout=10)
    assert mail.sender == "koji@example.com"
    assert mail.recipients == ["a@x", "b@x"]
    assert mail.login == ("koji", "s3cret")
    assert "Subject: hi" in mail.data


def test_a_dead_smtp_server_is_named_and_the_password_is_not():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    config = Config(smtphost=f"127.0.0.1:{port}", smtp_user="koji", smtp_pass="s3cret")
    with pytest.raises(koji.GenericError, match=f"smtphost 127.0.0.1:{port}") as raised:
        send_mail(config, "k@x", ["a@x"], "Subject: hi\r\n\r\n")
    assert "s3cret" not in str(raised.value)
