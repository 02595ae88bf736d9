"""A task's logs reach the hub while the task runs, so `koji watch-logs`
follows a build live (kojid's incremental log uploads, koji's rawUpload).

`LogStreamer` looks at the task's log files every second and sends what is
new with rawUpload (64 KiB chunks at their offsets, adler32 checked against
the hub's answer), to the task's upload directory work/tasks/<id%10000>/<id>/.
A chunk the hub got wrong is sent again at the next look.  After a restart
the logs are sent again from the start (offset 0 overwrites), which the hub
takes as kojid's incremental uploads are taken.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from pathlib import Path
from typing import Callable, Optional

from adjutant.hub.session import Hub, HubError
from adjutant.runner.journal import log_cap_note
from adjutant.untrusted import MissingFileError, UntrustedDir, UntrustedFileError

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
INTERVAL_SECONDS = 1.0


def upload_path(task_id: int) -> str:
    """koji.pathinfo.taskrelpath: where a task's uploads go, under work/."""
    return f"tasks/{task_id % 10000}/{task_id}"


def read_chunk(path: Path, offset: int) -> bytes:
    """Up to CHUNK bytes of a log from `offset`, through adjutant.untrusted (the
    logs are in a directory the task's container could write)."""
    try:
        directory = UntrustedDir(path.parent)
    except MissingFileError:
        return b""  # result/ is made by the first container step
    with directory:
        return directory.read_from(path.name, offset, CHUNK, missing_ok=True)


def adler32_hex(data: bytes) -> str:
    return f"{zlib.adler32(data) & 0xFFFFFFFF:08x}"


class LogStreamer:
    def __init__(self, hub: Hub, task_id: int, files: Callable[[], dict[str, Path]], *,
                 on_refusal: Optional[Callable[[], None]] = None,
                 max_bytes: Optional[int] = None) -> None:
        """`files()` gives {name on the hub: local path} of the logs to follow;
        `on_refusal()` is called when the hub refuses an upload (the task may
        have been cancelled)."""
        self.hub = hub
        self.path = upload_path(task_id)
        self.files = files
        self.on_refusal = on_refusal
        self.max_bytes = max_bytes
        self.sent: dict[str, int] = {}
        self.capped: set[str] = set()
        self.refused: dict[str, str] = {}

    async def send_new(self) -> None:
        loop = asyncio.get_running_loop()
        for name, local in sorted(self.files().items()):
            if name in self.refused or name in self.capped:
                continue
            while True:
                offset = self.sent.get(name, 0)
                if self.max_bytes is not None and offset >= self.max_bytes:
                    await self._send_cap_note(name, offset)
                    break
                try:
                    chunk = await loop.run_in_executor(None, read_chunk, local, offset)
                except UntrustedFileError as exc:
                    # a link, FIFO or device the container put there: never read
                    log.warning("task log %s: %s", name, exc)
                    self.refused[name] = f"result/{name}: {exc.reason}"
                    break
                if not chunk:
                    break
                if self.max_bytes is not None:
                    chunk = chunk[:self.max_bytes - offset]
                answer = await self.hub.call("rawUpload", chunk, offset, self.path, name,
                                             overwrite=True)
                if answer.get("hexdigest") != adler32_hex(chunk):
                    log.warning("log %s: the hub got a different chunk at %d; again "
                                "next time", name, offset)
                    break
                self.sent[name] = offset + len(chunk)

    async def _send_cap_note(self, name: str, offset: int) -> None:
        """The log reached task_log_max_size: its end on the hub says so, once."""
        note = log_cap_note(offset, "the rest was not sent to the hub")
        await self.hub.call("rawUpload", note, offset, self.path, name, overwrite=True)
        self.sent[name] = offset + len(note)
        self.capped.add(name)
        log.warning("task log %s reached its limit of %d bytes; the rest is not sent",
                    name, offset)

    def check(self) -> None:
        """Fail the task if a log was refused (it was not what it claimed to be)."""
        if self.refused:
            import koji

            raise koji.BuildError("; ".join(sorted(self.refused.values())))

    async def follow(self, stop: asyncio.Event) -> None:
        """Send new log text every second until `stop`, then everything left."""
        while not stop.is_set():
            try:
                await self.send_new()
            except HubError as exc:
                log.warning("live log upload: %s", exc)
                if not exc.unreachable and self.on_refusal is not None:
                    self.on_refusal()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), INTERVAL_SECONDS)
        await self.send_new()

    def uploaded(self) -> list[str]:
        """Paths of the uploaded logs, relative to work/ (for the task's result)."""
        return [f"{self.path}/{name}" for name in sorted(self.sent)]
