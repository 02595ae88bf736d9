"""task_log_max_size: a log stops at its cap with a note, on disk and on the hub."""

from __future__ import annotations

import asyncio
import io
import zlib
from pathlib import Path

from adjutant.buildroot.logs import LogStreamer
from adjutant.runner.journal import JournalCopier


class FakeHub:
    def __init__(self) -> None:
        self.files: dict[str, bytearray] = {}

    async def call(self, method: str, chunk: bytes, offset: int, path: str, name: str,
                   **kwargs: object) -> dict:
        assert method == "rawUpload"
        data = self.files.setdefault(name, bytearray())
        data[offset:offset + len(chunk)] = chunk
        return {"hexdigest": f"{zlib.adler32(chunk) & 0xFFFFFFFF:08x}"}


def test_the_hub_gets_a_log_up_to_its_cap_then_a_note(tmp_path: Path):
    (tmp_path / "result").mkdir()
    log = tmp_path / "result" / "build.log"
    log.write_bytes(b"x" * 5000)
    hub = FakeHub()
    streamer = LogStreamer(hub, 7, lambda: {"build.log": log}, max_bytes=1000)  # type: ignore[arg-type]
    asyncio.run(streamer.send_new())
    with log.open("ab") as more:
        more.write(b"y" * 5000)
    asyncio.run(streamer.send_new())
    sent = bytes(hub.files["build.log"])
    assert sent[:1000] == b"x" * 1000
    assert sent[1000:].startswith(b"\nadjutant: this log reached its limit of 1000 bytes")
    assert b"yyy" not in sent and sent.count(b"reached its limit") == 1


def test_the_journal_copy_stops_at_its_cap_with_a_note():
    async def make() -> JournalCopier:  # its asyncio.Event wants a loop on Python 3.9
        return JournalCopier(invocation_id="abc", log_path=Path("/nonexistent"),
                             cursor_path=Path("/nonexistent"), max_bytes=10)

    copier = asyncio.run(make())
    out = io.BytesIO()
    for line in (b"12345\n", b"67890\n", b"more\n"):
        copier._write(out, line)
    text = out.getvalue()
    assert text.startswith(b"12345\n")
    assert b"67890" not in text and b"more" not in text
    assert b"journalctl _SYSTEMD_INVOCATION_ID=abc" in text
