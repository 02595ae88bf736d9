"""A task's input from the hub's work directory (the SRPM a client uploaded):
its path in the task's parameters, checked, and the file copied from topdir or
fetched over topurl with repos.py's fetch_url, the one fetcher of hub files."""

from __future__ import annotations

import asyncio
import shutil
import urllib.parse
from pathlib import Path

from adjutant.buildroot.failure import build_error
from adjutant.buildroot.repos import RepoFetchError, fetch_url
from adjutant.config import Config


def work_file_path(relpath: str) -> str:
    """A path under the hub's work/ as given in a task's parameters, checked."""
    parts = Path(relpath).parts
    if not relpath or relpath.startswith("/") or ".." in parts:
        raise build_error(f"{relpath!r} is not a path under the hub's work directory")
    return relpath


async def fetch_work_file(config: Config, relpath: str, destination: Path) -> Path:
    """Copy <topdir>/work/<relpath> (or fetch <topurl>/work/<relpath>) to
    `destination`, a path of the daemon's own (TaskContext.private_dir)."""
    relpath = work_file_path(relpath)
    destination.parent.mkdir(parents=True, exist_ok=True)
    local = config.topdir / "work" / relpath
    loop = asyncio.get_running_loop()
    if local.is_file():
        await loop.run_in_executor(None, shutil.copyfile, local, destination)
        return destination
    url = f"{config.topurl}/work/{urllib.parse.quote(relpath)}"
    try:
        # an SRPM is as large as its sources: no size limit
        await loop.run_in_executor(None, lambda: fetch_url(url, destination, max_size=None))
    except RepoFetchError as exc:
        raise build_error(str(exc)) from None
    return destination
