"""Files in a directory a container could write: links, FIFOs, devices, hard
links, oversize files and bad names are refused, named, and never read."""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import stat
import threading
from pathlib import Path
from typing import Callable

import pytest

from adjutant import untrusted
from adjutant.errors import AdjutantError
from adjutant.untrusted import MissingFileError, UntrustedDir, UntrustedFileError, remove_tree

SECRET = b"root:$6$host-secret-hash:19000:0:99999:7:::\n"
LOG = b"line one\nline two\n"


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A host file outside the untrusted directory."""
    host = tmp_path / "host"
    host.mkdir()
    path = host / "shadow"
    path.write_bytes(SECRET)
    return path


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """The untrusted directory, with result/build.log in it."""
    path = tmp_path / "work"
    (path / "result").mkdir(parents=True)
    (path / "result" / "build.log").write_bytes(LOG)
    return path


def refused(call: Callable[[], object]) -> str:
    """The message of the UntrustedFileError `call` raises."""
    with pytest.raises(UntrustedFileError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    assert SECRET.decode() not in message
    return message


def within(seconds: float, call: Callable[[], object]) -> BaseException:
    """Run `call` in a thread; it must raise within `seconds` (a blocked open fails the test)."""
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as error:  # handed to the test
            outcome.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"blocked for more than {seconds}s"
    assert len(outcome) == 1, "returned instead of raising"
    return outcome[0]


def test_reads_a_regular_file(work: Path):
    with UntrustedDir(work) as directory:
        assert directory.read_bytes("result/build.log", max_size=100) == LOG
        assert directory.read_text("result/build.log", max_size=len(LOG)) == LOG.decode()
        assert directory.read_from("result/build.log", 5, 3) == b"one"
        assert directory.read_from("result/build.log", 9, 1000) == b"line two\n"
        assert directory.read_from("result/build.log", 1000, 10) == b""
        assert directory.exists("result/build.log") is True
        assert directory.exists("result/missing.log") is False
        assert directory.exists("missing/build.log") is False


def test_open_regular_returns_a_blocking_fd(work: Path):
    with UntrustedDir(work) as directory:
        fd = directory.open_regular("result/build.log", max_size=100)
        try:
            assert fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK == 0
            assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
            assert os.read(fd, 100) == LOG
        finally:
            os.close(fd)


def test_read_text_replaces_bad_utf8(work: Path):
    (work / "bad.log").write_bytes(b"ok \xff end")
    with UntrustedDir(work) as directory:
        assert directory.read_text("bad.log", max_size=100) == "ok \ufffd end"
        with pytest.raises(UnicodeDecodeError):
            directory.read_text("bad.log", max_size=100, errors="strict")


def test_error_is_an_adjutant_error():
    assert issubclass(UntrustedFileError, AdjutantError)
    assert issubclass(MissingFileError, UntrustedFileError)


def test_symlink_leaf_to_host_secret_refused(work: Path, secret: Path, tmp_path: Path):
    (work / "result" / "build.log").unlink()
    (work / "result" / "build.log").symlink_to(secret)
    expected = "result/build.log is a symbolic link; refused"
    with UntrustedDir(work) as directory:
        assert refused(lambda: directory.read_bytes("result/build.log", max_size=1000)) == expected
        assert refused(lambda: directory.read_text("result/build.log", max_size=1000)) == expected
        assert refused(lambda: directory.read_from("result/build.log", 0, 1000)) == expected
        assert refused(lambda: directory.read_from("result/build.log", 0, 1000,
                                                   missing_ok=True)) == expected
        assert refused(lambda: directory.open_regular("result/build.log")) == expected
        destination = tmp_path / "copied.log"
        assert refused(lambda: directory.copy_out("result/build.log", destination,
                                                  max_size=1000)) == expected
        assert not destination.exists()
        assert directory.exists("result/build.log") is True  # lstat semantics
    assert secret.read_bytes() == SECRET


def test_dangling_symlink_is_refused_not_missing(work: Path):
    (work / "gone.log").symlink_to(work / "nowhere")
    with UntrustedDir(work) as directory:
        message = refused(lambda: directory.read_from("gone.log", 0, 10, missing_ok=True))
        assert message == "gone.log is a symbolic link; refused"
        assert directory.exists("gone.log") is True


def test_symlinked_parent_directory_refused(work: Path, secret: Path):
    shutil.rmtree(work / "result")
    (secret.parent / "build.log").write_bytes(SECRET)
    (work / "result").symlink_to(secret.parent)
    expected = "result/build.log is inside result, which is a symbolic link; refused"
    with UntrustedDir(work) as directory:
        assert refused(lambda: directory.read_bytes("result/build.log", max_size=1000)) == expected
        assert refused(lambda: directory.read_from("result/build.log", 0, 1000,
                                                   missing_ok=True)) == expected
        assert refused(lambda: directory.exists("result/build.log")) == expected
        assert refused(lambda: directory.append("result/build.log", "x")) == expected
        assert refused(lambda: directory.write_new("result/new", "x")) == (
            "result/new is inside result, which is a symbolic link; refused")
        assert refused(lambda: directory.subdir("result")) == "result is a symbolic link; refused"
        assert refused(lambda: directory.list_regular("result")) == (
            "result is a symbolic link; refused")
    assert (secret.parent / "build.log").read_bytes() == SECRET
    assert sorted(os.listdir(secret.parent)) == ["build.log", "shadow"]


def test_deeper_symlinked_parent_is_named(work: Path, secret: Path):
    (work / "result" / "logs").symlink_to(secret.parent)
    with UntrustedDir(work) as directory:
        assert refused(lambda: directory.read_bytes("result/logs/shadow", max_size=1000)) == (
            "result/logs/shadow is inside result/logs, which is a symbolic link; refused")


def test_parent_that_is_a_file_refused(work: Path):
    with UntrustedDir(work) as directory:
        assert refused(lambda: directory.read_bytes("result/build.log/x", max_size=10)) == (
            "result/build.log/x is inside result/build.log, which is a regular file; refused")


def test_untrusted_dir_itself_a_symlink_refused(tmp_path: Path, work: Path):
    link = tmp_path / "link"
    link.symlink_to(work)
    with pytest.raises(UntrustedFileError) as info:
        UntrustedDir(link)
    assert str(info.value) == f"{link} is a symbolic link; refused"
    with pytest.raises(MissingFileError):
        UntrustedDir(tmp_path / "missing")


def test_fifo_refused_without_blocking(work: Path):
    os.mkfifo(work / "result" / "build.log.fifo")
    with UntrustedDir(work) as directory:
        for call in (
            lambda: directory.read_bytes("result/build.log.fifo", max_size=10),
            lambda: directory.read_from("result/build.log.fifo", 0, 10),
            lambda: directory.append("result/build.log.fifo", b"note\n"),
        ):
            error = within(5, call)
            assert isinstance(error, UntrustedFileError)
            assert str(error) == "result/build.log.fifo is a FIFO; refused"


def lstat_lies_once(monkeypatch, regular: Path) -> None:
    """The early lstat sees a regular file the first time, as if the container
    swapped the entry just after it: then only the open's flags and the fstat
    stand between the daemon and the swapped-in entry."""
    real = untrusted._lstat
    calls = []

    def lying(dir_fd, name):
        calls.append(name)
        return os.stat(regular) if len(calls) == 1 else real(dir_fd, name)

    monkeypatch.setattr(untrusted, "_lstat", lying)


def test_fifo_swapped_in_after_lstat_refused_by_fstat(work: Path, monkeypatch):
    """The O_NONBLOCK open of a FIFO returns at once and the fstat refuses it."""
    os.mkfifo(work / "pipe")
    lstat_lies_once(monkeypatch, work / "result" / "build.log")
    with UntrustedDir(work) as directory:
        error = within(5, lambda: directory.read_bytes("pipe", max_size=100))
    assert isinstance(error, UntrustedFileError)
    assert str(error) == "pipe is a FIFO; refused"


def test_symlink_swapped_in_after_lstat_refused_by_open(work: Path, secret: Path,
                                                        monkeypatch):
    """O_NOFOLLOW refuses the link even when the early lstat was fooled."""
    (work / "link").symlink_to(secret)
    lstat_lies_once(monkeypatch, work / "result" / "build.log")
    with UntrustedDir(work) as directory:
        assert refused(lambda: directory.read_bytes("link", max_size=1000)) == (
            "link is a symbolic link; refused")


def test_append_to_symlink_swapped_in_after_lstat_refused(work: Path, secret: Path,
                                                           monkeypatch):
    (work / "state").symlink_to(secret)
    lstat_lies_once(monkeypatch, work / "result" / "build.log")
    with UntrustedDir(work) as directory:
        assert refused(lambda: directory.append("state", "pwned\n")) == (
            "state is a symbolic link; refused")
    assert secret.read_bytes() == SECRET


def test_socket_refused(work: Path, monkeypatch):
    monkeypatch.chdir(work)  # a socket's path is limited to 108 bytes
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind("control.sock")
        with UntrustedDir(work) as directory:
            error = within(5, lambda: directory.read_bytes("control.sock", max_size=10))
            assert str(error) == "control.sock is a socket; refused"
            assert refused(lambda: directory.append("control.sock", "x")) == (
                "control.sock is a socket; refused")
    finally:
        server.close()


def test_hard_link_to_outside_file_refused(work: Path, secret: Path, tmp_path: Path):
    os.link(secret, work / "result" / "root.log")
    expected = "result/root.log has 2 hard links; refused"
    with UntrustedDir(work) as directory:
        assert refused(lambda: directory.read_bytes("result/root.log", max_size=1000)) == expected
        assert refused(lambda: directory.copy_out("result/root.log", tmp_path / "out",
                                                  max_size=1000)) == expected
        assert refused(lambda: directory.append("result/root.log", "appended\n")) == expected
    assert secret.read_bytes() == SECRET
    assert not (tmp_path / "out").exists()


def test_device_node_refused(work: Path):
    if os.geteuid() != 0:
        pytest.skip("creating a character device (os.mknod) needs root")
    node = work / "result" / "null"
    try:
        os.mknod(node, stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("this root lacks CAP_MKNOD")
    with UntrustedDir(work) as directory:
        expected = "result/null is a character device; refused"
        assert refused(lambda: directory.read_bytes("result/null", max_size=10)) == expected
        assert refused(lambda: directory.append("result/null", "x")) == expected
        listing = directory.list_regular("result")
    assert listing.files == ["build.log"]
    assert listing.refused == {"null": expected}


def test_oversize_file_refused(work: Path, tmp_path: Path):
    size = len(LOG)
    expected = f"result/build.log is larger than {size - 1} bytes; refused"
    with UntrustedDir(work) as directory:
        assert directory.read_bytes("result/build.log", max_size=size) == LOG
        assert refused(lambda: directory.read_bytes("result/build.log",
                                                    max_size=size - 1)) == expected
        assert refused(lambda: directory.read_text("result/build.log",
                                                   max_size=size - 1)) == expected
        assert refused(lambda: directory.open_regular("result/build.log", size - 1)) == expected
        assert refused(lambda: directory.copy_out("result/build.log", tmp_path / "out",
                                                  max_size=size - 1)) == expected
    assert not (tmp_path / "out").exists()


def test_file_growing_after_fstat_is_refused(work: Path, tmp_path: Path, monkeypatch):
    """The reads are bounded even if the size checked by fstat was smaller."""
    monkeypatch.setattr(untrusted, "_check", lambda st, shown, max_size: None)
    expected = "result/build.log is larger than 4 bytes; refused"
    with UntrustedDir(work) as directory:
        assert refused(lambda: directory.read_bytes("result/build.log", max_size=4)) == expected
        assert refused(lambda: directory.copy_out("result/build.log", tmp_path / "out",
                                                  max_size=4)) == expected
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name,why", [
    ("../host/shadow", "has '..' component"),
    ("result/../../host/shadow", "has '..' component"),
    ("/etc/shadow", "is an absolute name"),
    ("result//build.log", "has an empty component"),
    ("result/", "has an empty component"),
    ("./result/build.log", "has '.' component"),
    ("", "is an empty name"),
])
def test_bad_names_refused(work: Path, name: str, why: str, tmp_path: Path):
    shown = name or "''"
    expected = f"{shown} {why}; refused"
    with UntrustedDir(work) as directory:
        assert refused(lambda: directory.read_bytes(name, max_size=1000)) == expected
        assert refused(lambda: directory.exists(name)) == expected
        assert refused(lambda: directory.write_new(name, "x")) == expected
        assert refused(lambda: directory.copy_out(name, tmp_path / "out", max_size=10)) == expected
    assert not (tmp_path / "out").exists()
    assert sorted(os.listdir(work)) == ["result"]


def test_directory_itself_is_no_file_name(work: Path):
    with UntrustedDir(work) as directory:
        assert refused(lambda: directory.read_bytes(".", max_size=10)) == (
            ". is not a file name; refused")
        assert refused(lambda: directory.read_bytes("result", max_size=10)) == (
            "result is a directory; refused")


def test_missing_file(work: Path):
    with UntrustedDir(work) as directory:
        with pytest.raises(MissingFileError) as info:
            directory.read_from("result/missing.log", 0, 10)
        assert str(info.value) == "result/missing.log does not exist"
        assert directory.read_from("result/missing.log", 0, 10, missing_ok=True) == b""
        assert directory.read_from("nodir/missing.log", 0, 10, missing_ok=True) == b""


def test_append(work: Path):
    with UntrustedDir(work) as directory:
        directory.append("result/build.log", "line three\n")
        directory.append("result/build.log", b"line four\n")
    assert (work / "result" / "build.log").read_bytes() == LOG + b"line three\nline four\n"


def test_append_to_symlink_refused_and_target_unchanged(work: Path, secret: Path):
    (work / "state").symlink_to(secret)
    with UntrustedDir(work) as directory:
        assert refused(lambda: directory.append("state", "pwned::0:0::/:/bin/sh\n")) == (
            "state is a symbolic link; refused")
    assert secret.read_bytes() == SECRET


def test_write_new(work: Path, secret: Path):
    (work / "script.sh").symlink_to(secret)
    (work / "dangling").symlink_to(work / "nowhere")
    with UntrustedDir(work) as directory:
        directory.write_new("result/prepare.sh", "#!/bin/sh\n", mode=0o755)
        assert refused(lambda: directory.write_new("script.sh", "x")) == (
            "script.sh already exists as a symbolic link; refused")
        assert refused(lambda: directory.write_new("dangling", "x")) == (
            "dangling already exists as a symbolic link; refused")
        assert refused(lambda: directory.write_new("result/build.log", "x")) == (
            "result/build.log already exists as a regular file; refused")
    made = work / "result" / "prepare.sh"
    assert made.read_bytes() == b"#!/bin/sh\n"
    assert stat.S_IMODE(made.stat().st_mode) == 0o755
    assert secret.read_bytes() == SECRET
    assert not (work / "nowhere").exists()
    assert (work / "result" / "build.log").read_bytes() == LOG


def test_copy_out(work: Path, tmp_path: Path):
    destination = tmp_path / "upload" / "build.log"
    destination.parent.mkdir()
    with UntrustedDir(work) as directory:
        assert directory.copy_out("result/build.log", destination, max_size=100) == len(LOG)
    assert destination.read_bytes() == LOG
    assert stat.S_IMODE(destination.stat().st_mode) == 0o644


def test_copy_out_refuses_existing_destination(work: Path, tmp_path: Path, secret: Path):
    existing = tmp_path / "existing"
    existing.write_bytes(b"keep me")
    link = tmp_path / "link"
    link.symlink_to(secret)
    with UntrustedDir(work) as directory:
        assert refused(lambda: directory.copy_out("result/build.log", existing,
                                                  max_size=100)) == (
            f"result/build.log cannot be copied: {existing} exists; refused")
        assert refused(lambda: directory.copy_out("result/build.log", link, max_size=100)) == (
            f"result/build.log cannot be copied: {link} exists; refused")
    assert existing.read_bytes() == b"keep me"
    assert secret.read_bytes() == SECRET


def test_list_regular_names_the_refused(work: Path, secret: Path):
    result = work / "result"
    (result / "a.rpm").write_bytes(b"a")
    (result / "b.rpm").write_bytes(b"b")
    (result / "link.rpm").symlink_to(secret)
    os.link(secret, result / "hard.rpm")
    os.mkfifo(result / "fifo.rpm")
    (result / "dir.rpm").mkdir()
    (result / "evil\nname.rpm").write_bytes(b"e")
    with UntrustedDir(work) as directory:
        listing = directory.list_regular("result", "*.rpm")
        everything = directory.list_regular("result")
        top = directory.list_regular()
    assert listing.files == ["a.rpm", "b.rpm"]
    assert listing.directories == ["dir.rpm"]
    assert listing.refused == {
        "evil\nname.rpm": "'result/evil\\nname.rpm' has an unprintable name; refused",
        "fifo.rpm": "result/fifo.rpm is a FIFO; refused",
        "hard.rpm": "result/hard.rpm has 2 hard links; refused",
        "link.rpm": "result/link.rpm is a symbolic link; refused",
    }
    assert all("\n" not in message for message in listing.refused.values())
    assert everything.files == ["a.rpm", "b.rpm", "build.log"]
    assert top.files == [] and top.directories == ["result"] and top.refused == {}


def test_subdir_keeps_the_prefix_in_messages(work: Path, secret: Path):
    (work / "result" / "logs").mkdir()
    (work / "result" / "logs" / "root.log").symlink_to(secret)
    with UntrustedDir(work) as directory, directory.subdir("result") as result:
        assert result.read_bytes("build.log", max_size=100) == LOG
        assert refused(lambda: result.read_bytes("logs/root.log", max_size=100)) == (
            "result/logs/root.log is a symbolic link; refused")
        with result.subdir("logs") as logs:
            assert logs.list_regular().refused == {
                "root.log": "result/logs/root.log is a symbolic link; refused"}


def test_close(work: Path):
    with UntrustedDir(work) as directory:
        fd = directory.fd
        os.fstat(fd)
    with pytest.raises(OSError):
        os.fstat(fd)
    with pytest.raises(ValueError):
        directory.fd  # noqa: B018
    directory.close()  # twice is fine


def _hostile_tree(work: Path, secret: Path) -> None:
    (work / "result" / "to-host-dir").symlink_to(secret.parent)
    (work / "result" / "to-host-file").symlink_to(secret)
    os.link(secret, work / "result" / "hard")
    os.mkfifo(work / "result" / "fifo")
    (work / "deep" / "er").mkdir(parents=True)
    (work / "deep" / "er" / "link").symlink_to(secret.parent)


def unsafe_rmtree(path: object) -> None:
    raise AssertionError("an rmtree that follows links must not be called")


unsafe_rmtree.avoids_symlink_attacks = False  # type: ignore[attr-defined]


@pytest.mark.parametrize("safe_rmtree", [True, False], ids=["shutil", "fd-walk"])
def test_remove_tree_does_not_follow_links(work: Path, secret: Path, monkeypatch,
                                           safe_rmtree: bool):
    assert shutil.rmtree.avoids_symlink_attacks  # on Linux CPython; else the fd walk runs
    if not safe_rmtree:
        monkeypatch.setattr(shutil, "rmtree", unsafe_rmtree)
    _hostile_tree(work, secret)
    remove_tree(work)
    assert not os.path.lexists(work)
    assert secret.read_bytes() == SECRET
    assert os.listdir(secret.parent) == ["shadow"]
    assert os.stat(secret).st_nlink == 1
    remove_tree(work, missing_ok=True)
    with pytest.raises(FileNotFoundError):
        remove_tree(work)


def test_remove_tree_refuses_a_link_itself(tmp_path: Path, work: Path, monkeypatch):
    link = tmp_path / "link"
    link.symlink_to(work)
    with pytest.raises(OSError):
        remove_tree(link)
    monkeypatch.setattr(shutil, "rmtree", unsafe_rmtree)
    with pytest.raises(OSError):
        remove_tree(link)
    assert (work / "result" / "build.log").read_bytes() == LOG


def test_a_log_streamer_reads_nothing_until_result_exists_and_refuses_links(tmp_path):
    from adjutant.buildroot.logs import read_chunk

    assert read_chunk(tmp_path / "result" / "build.log", 0) == b""
    (tmp_path / "result").mkdir()
    (tmp_path / "result" / "build.log").write_text("line\n")
    assert read_chunk(tmp_path / "result" / "build.log", 2) == b"ne\n"
    (tmp_path / "result" / "root.log").symlink_to("/etc/hostname")
    with pytest.raises(UntrustedFileError, match=r"root\.log is a symbolic link"):
        read_chunk(tmp_path / "result" / "root.log", 0)


def test_make_dir_and_owners(work: Path, secret: Path):
    """What the daemon makes for the build user: a directory (once; a link or
    file there refused), a note's file created for an owner, the dir itself given."""
    if os.geteuid() != 0:
        pytest.skip("giving files to another owner needs root")
    owner = (12345, 12346)  # as a build user's host ids are no account's
    (work / "linked").symlink_to(secret.parent)
    with UntrustedDir(work) as directory:
        directory.make_dir("logs", owner=owner)
        directory.make_dir("logs", owner=owner)  # there already: nothing to do
        assert refused(lambda: directory.make_dir("linked")) == "linked is not a directory; refused"
        assert refused(lambda: directory.make_dir("result/build.log")) == (
            "result/build.log is not a directory; refused")
        directory.note("logs/state.log", "one\n", owner=owner)
        directory.note("logs/state.log", "two\n", owner=owner)
        directory.give_to(owner)
    made = work / "logs" / "state.log"
    assert made.read_bytes() == b"one\ntwo\n"
    assert (made.stat().st_uid, made.stat().st_gid) == owner
    logs = (work / "logs").stat()
    assert (logs.st_uid, logs.st_gid) == owner == (work.stat().st_uid, work.stat().st_gid)
    assert secret.read_bytes() == SECRET
