"""What every task that builds in a buildroot shares (buildArch and the two
SRPM tasks): the session of a buildroot, its logs sent to the hub while it
runs, and its results checked, copied out and uploaded.

    async with buildroot_session(ctx, buildroot) as streamer:
        await buildroot.conclude(await buildroot.rpmbuild(...), "building foo-1-1")
        paths = await upload_results(ctx, await collect_results(ctx, buildroot))
    ... streamer.uploaded()      # the logs, for the task's result

The session prepares the buildroot and, however the body ends, expires it
and sends the logs a last time; a log that was refused (not a plain file)
fails the task after.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Callable, Optional

from adjutant.buildroot.core import Buildroot
from adjutant.buildroot.failure import build_error
from adjutant.buildroot.logs import LogStreamer, upload_path
from adjutant.runner.state import container_log_path
from adjutant.tasks.base import TaskContext

LOG_NAMES = ("build.log", "root.log", "state.log", "hw_info.log", "installed_pkgs.log",
             "checkout.log")


# A guard on what a build may leave for upload (kojid has none; a build that
# leaves more is failed, naming the limit).
MAX_RESULT_FILES = 1000
MAX_RESULT_BYTES = 16 * 1024**3


async def collect_results(ctx: TaskContext, buildroot: Buildroot, *,
                          suffix: str = ".rpm") -> list[Path]:
    """The RPMs the build left in result/, each checked to be a plain file and
    copied to the daemon's own directory: what is uploaded is the copy."""
    listing = await ctx.in_workdir(lambda d: d.list_regular("result", f"*{suffix}"))
    bad = {name: why for name, why in listing.refused.items() if name.endswith(suffix)}
    if bad:
        raise build_error("; ".join(sorted(bad.values())))
    if len(listing.files) > MAX_RESULT_FILES:
        raise build_error(f"the build left {len(listing.files)} RPMs; at most "
                          f"{MAX_RESULT_FILES} are taken")
    return [await buildroot.copy_result(name, max_size=MAX_RESULT_BYTES)
            for name in sorted(listing.files)]


def task_logs(ctx: TaskContext) -> dict[str, Path]:
    """The logs of a build task: the buildroot's, and the unit's whole journal."""
    result = ctx.workdir / "result"
    files = {name: result / name for name in LOG_NAMES}
    files["container.log"] = container_log_path(ctx.config.log_dir, ctx.task_id)
    return files


async def upload_results(ctx: TaskContext, files: Sequence[Path], *,
                         where: Optional[str] = None) -> list[str]:
    """fastUpload (checksums verified) each file to the task's upload
    directory (or `where`, under the hub's work/)."""
    where = where or upload_path(ctx.task_id)
    uploaded = []
    for path in files:
        await ctx.hub.upload(path, where)
        uploaded.append(f"{where}/{path.name}")
    return uploaded


@contextlib.asynccontextmanager
async def streamed_logs(ctx: TaskContext, logs: Optional[Callable[[], dict[str, Path]]] = None,
                        ) -> AsyncIterator[LogStreamer]:
    """Live upload of the task's logs (a build task's unless `logs` gives
    others) while the body runs, and once more after."""
    streamer = LogStreamer(ctx.hub, ctx.task_id, logs or (lambda: task_logs(ctx)),
                           on_refusal=ctx.on_hub_refusal,
                           max_bytes=ctx.config.task_log_max_size)
    stop = asyncio.Event()
    following = asyncio.ensure_future(streamer.follow(stop))
    try:
        yield streamer
    finally:
        # the daemon stops (the next start sends the logs again), or the task
        # is no longer ours (the hub takes nothing more for it)
        if ctx.stopping or ctx.lost:
            following.cancel()
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await following


@contextlib.asynccontextmanager
async def buildroot_session(ctx: TaskContext, buildroot: Buildroot) -> AsyncIterator[LogStreamer]:
    """The buildroot prepared, its logs streamed; expired at the end (also
    after a failure); a refused log fails the task once the body is done."""
    async with streamed_logs(ctx) as streamer:
        try:
            await buildroot.prepare()
            yield streamer
        finally:
            await buildroot.expire()
    streamer.check()
