"""The daemon's own lines in a build's result/state.log (`note_state`), in
mock's format, next to the lines the build scripts write there."""

from __future__ import annotations

from adjutant.buildroot.context import BuildContext
from adjutant.buildroot.failure import build_error
from adjutant.untrusted import UntrustedDir, UntrustedFileError


async def note_state(ctx: BuildContext, line: str, *, owner: tuple[int, int]) -> None:
    """A line in state.log, written by the daemon (never through a link);
    `owner` is the build user's host ids (the build user appends too)."""
    import datetime

    # mock's state.log format: UTC, milliseconds after a comma
    now = datetime.datetime.now(datetime.timezone.utc)
    stamp = now.strftime("%Y-%m-%d %H:%M:%S,") + f"{now.microsecond // 1000:03d}"

    def write(directory: UntrustedDir) -> None:
        # the build user appends to state.log too
        directory.make_dir("result", owner=owner)
        directory.note("result/state.log", f"{stamp} {line}\n", owner=owner)

    try:
        await ctx.in_workdir(write)
    except UntrustedFileError as exc:
        raise build_error(str(exc)) from None
