"""Copy a task unit's journal to its log file, exactly once per line.

The copier reads the entries of one unit invocation that came from the unit's
own stdout and stderr (the container's output, via podman's passthrough log
driver); systemd's and podman's event messages about the unit stay in the
journal only.  Each line is written as it was printed: no prefixes.

Exactly once across restarts: after every batch the copier saves, atomically,
the journal cursor of the last entry it wrote together with the log file's
size at that point.  A restarted copier cuts the file back to that size and
goes on after that cursor, so a batch interrupted half-way is neither lost nor
written twice.

No line lost at the end: once the unit has ended, `finish()` asks journald to
store everything it received (`journalctl --sync`), then reads to the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from pathlib import Path
from typing import IO, Any, Optional

from adjutant.atomic import write_atomically
from adjutant.process import run_async

log = logging.getLogger(__name__)

# Entries read between two saves of the cursor.
BATCH_ENTRIES = 2000
# When journal files live where inotify cannot see changes, sd_journal says its
# fd is not reliable; then look again this often.
UNRELIABLE_FD_RECHECK_SECONDS = 1.0


# journald's varlink socket (systemd 254 and later); `journalctl --sync` talks
# to the same method, but a process costs 7 ms against 0.4 ms (test host).
JOURNAL_VARLINK = "/run/systemd/journal/io.systemd.journal"
SYNCHRONIZE = b'{"method":"io.systemd.Journal.Synchronize","parameters":{}}\0'


async def journal_sync() -> None:
    """Make journald process and store every message it has received so far."""
    try:
        reader, writer = await asyncio.open_unix_connection(JOURNAL_VARLINK)
    except OSError:
        # older systemd: no varlink socket
        await run_async(["journalctl", "--sync"], timeout=60)
        return
    try:
        writer.write(SYNCHRONIZE)
        reply = await asyncio.wait_for(reader.readuntil(b"\0"), 60)
    finally:
        writer.close()
    if b'"error"' in reply:
        log.warning("journald could not synchronize: %s", reply[:200].decode(errors="replace"))


# How far from where seek_cursor lands to look for the entry itself.
CURSOR_SEARCH_ENTRIES = 3


def _is_at(reader: Any, cursor: str) -> bool:
    """The reader's current entry is the one `cursor` names."""
    return bool(reader.test_cursor(cursor)) or reader._get_cursor() == cursor


def _found_stepping(reader: Any, cursor: str, step: Any) -> bool:
    """Up to CURSOR_SEARCH_ENTRIES steps (reader._next or reader._previous),
    stopping on the entry `cursor` names; True if it was reached."""
    for _ in range(CURSOR_SEARCH_ENTRIES):
        if not step():
            return False
        if _is_at(reader, cursor):
            return True
    return False


def place_on_written(reader: Any, cursor: str) -> bool:
    """Leave `reader` on the entry `cursor` names (written already), so that
    its next entry is the first one still to copy; True if found.

    seek_cursor alone is not enough: with interleaved journal files, systemd
    255 to 257 may land on a neighbour of the entry or say the entry is not
    the current one when it is (systemd issue 31516; a cgroup v2 VM's copier
    wrote one line twice).  So the entry is looked for around the landing
    place.  If it is gone (vacuumed), the reader is left before the closest
    later entry: nothing is lost, as seek_cursor promises."""

    def land() -> bool:
        reader.seek_cursor(cursor)
        return bool(reader._next())

    if not land():
        return False  # nothing at or after it: the next entry is the first to copy
    if _is_at(reader, cursor) or _found_stepping(reader, cursor, reader._previous):
        return True
    land()
    if _found_stepping(reader, cursor, reader._next):
        return True
    # not found: before the entry seek_cursor chose, as the closest later one
    land()
    reader._previous()
    return False


class JournalCopier:
    """Follows one unit invocation's output in the journal into `log_path`."""

    def __init__(self, *, invocation_id: str, log_path: Path, cursor_path: Path,
                 append: bool = False, max_bytes: Optional[int] = None) -> None:
        self.invocation_id = invocation_id
        # past this size the copy stops, with a note; the journal has the rest
        self.max_bytes = max_bytes
        self.append = append
        self.log_path = log_path
        self.cursor_path = cursor_path
        self.lines_written = 0
        self._reader = None  # systemd.journal.Reader, opened in start()
        self._out: Optional[IO[bytes]] = None
        self._wakeup = asyncio.Event()
        self._lock = asyncio.Lock()

    # ---- cursor -------------------------------------------------------------

    def _load_position(self) -> tuple[Optional[str], int, int]:
        """(cursor, log size, lines) saved for this invocation, if any."""
        try:
            saved = json.loads(self.cursor_path.read_text())
        except (OSError, ValueError):
            return None, 0, 0
        if saved.get("invocation_id") != self.invocation_id:
            return None, 0, 0
        return saved.get("cursor"), int(saved.get("offset", 0)), int(saved.get("lines", 0))

    def _save_position(self, cursor: str, offset: int) -> None:
        write_atomically(self.cursor_path, json.dumps(
            {"invocation_id": self.invocation_id, "cursor": cursor, "offset": offset,
             "lines": self.lines_written}))

    # ---- reading ------------------------------------------------------------

    def _open(self) -> None:
        from systemd import journal  # imported here: poststop and unit tests need no journal

        cursor, offset, lines = self._load_position()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log_path, "ab")  # noqa: SIM115 - kept open while following
        size = out.seek(0, os.SEEK_END)
        if cursor is None and self.append:
            pass  # a later step of the task: after what the earlier ones wrote
        elif cursor is None or size < offset:
            # First start, or the file lost what the cursor says was written:
            # copy this invocation from its beginning.
            out.truncate(0)
            cursor = None
        else:
            out.truncate(offset)
            self.lines_written = lines
        out.seek(0, os.SEEK_END)
        reader = journal.Reader()
        reader.add_match(_SYSTEMD_INVOCATION_ID=self.invocation_id, _TRANSPORT="stdout")
        if cursor is None:
            reader.seek_head()
        else:
            place_on_written(reader, cursor)
        self._reader, self._out = reader, out

    def _copy_available(self) -> int:
        """Copy every entry available now; returns how many (blocking)."""
        reader, out = self._reader, self._out
        assert reader is not None and out is not None
        reader.process()  # consume the inotify events that woke us
        copied = 0
        while True:
            batch = 0
            cursor = None
            while batch < BATCH_ENTRIES and reader._next():
                message = reader._get("MESSAGE")
                try:
                    # journald splits lines longer than LineMax= into several entries
                    partial = reader._get("_LINE_BREAK") == b"line-max"
                except KeyError:
                    partial = False
                self._write(out, message if partial else message + b"\n")
                batch += 1
            if batch == 0:
                return copied
            cursor = reader._get_cursor()
            out.flush()
            self.lines_written += batch
            self._save_position(cursor, out.tell())
            copied += batch

    def _write(self, out: IO[bytes], data: bytes) -> None:
        if self.max_bytes is None:
            out.write(data)
            return
        size = out.tell()
        if size >= self.max_bytes:
            return  # noted already
        if size + len(data) < self.max_bytes:
            out.write(data)
            return
        out.write(log_cap_note(self.max_bytes, "the rest is in the journal: journalctl "
                               f"_SYSTEMD_INVOCATION_ID={self.invocation_id}"))
        out.flush()

    # ---- the asyncio side ---------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._open)
        assert self._reader is not None
        loop.add_reader(self._reader.fileno(), self._wakeup.set)

    async def follow(self, ended: asyncio.Event) -> None:
        """Copy new entries as journald stores them, until `ended` is set."""
        loop = asyncio.get_running_loop()
        reliable = self._reader is not None and self._reader.reliable_fd()
        while not ended.is_set():
            async with self._lock:
                await loop.run_in_executor(None, self._copy_available)
            self._wakeup.clear()
            waiters = [asyncio.ensure_future(self._wakeup.wait()),
                       asyncio.ensure_future(ended.wait())]
            timeout = None if reliable else UNRELIABLE_FD_RECHECK_SECONDS
            _, pending = await asyncio.wait(waiters, timeout=timeout,
                                            return_when=asyncio.FIRST_COMPLETED)
            for waiter in pending:
                waiter.cancel()

    async def finish(self) -> int:
        """After the unit ended: copy everything that is left, then close."""
        loop = asyncio.get_running_loop()
        await journal_sync()
        async with self._lock:
            await loop.run_in_executor(None, self._copy_available)
        self.close()
        return self.lines_written

    def close(self) -> None:
        if self._reader is not None:
            with contextlib.suppress(RuntimeError):  # no loop: nothing to remove
                asyncio.get_running_loop().remove_reader(self._reader.fileno())
            self._reader.close()
            self._reader = None
        if self._out is not None:
            self._out.close()
            self._out = None


def log_cap_note(max_bytes: int, where: str) -> bytes:
    """The closing line of a log cut at its cap (task_log_max_size)."""
    return (f"\nadjutant: this log reached its limit of {max_bytes} bytes "
            f"(task_log_max_size); {where}\n").encode()


def read_tail(path: Path, lines: int = 20, max_bytes: int = 64 * 1024) -> tuple[str, ...]:
    """The last `lines` lines of a log file, for a failure message."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - max_bytes))
            data = handle.read()
    except OSError:
        return ()
    text = data.decode("utf-8", errors="replace")
    return tuple(text.splitlines()[-lines:])
