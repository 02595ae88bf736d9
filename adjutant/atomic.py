"""The one way adjutant writes a state file: a temporary file beside it, then
rename, so that a reader (or the next start after a crash) sees the old text
or the new, never half of it.  (The unit's ExecStopPost, poststop.py, keeps a
dependency-free copy of this: it must start without the package's imports.)"""

from __future__ import annotations

import os
from pathlib import Path


def write_atomically(path: Path, text: str, *, mode: int = 0o644, sync: bool = False) -> None:
    """Replace `path` with `text`, with exactly `mode`; `sync` also waits for
    the disk (for what must survive a power cut: a result for the hub)."""
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC,
                 mode)
    try:
        os.fchmod(fd, mode)  # not the umask's, nor an old temporary file's
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            if sync:
                handle.flush()
                os.fsync(handle.fileno())
    except BaseException:
        os.unlink(temporary)
        raise
    os.replace(temporary, path)
