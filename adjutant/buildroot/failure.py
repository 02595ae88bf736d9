"""Why a build failed, in words a packager can read: the task's koji.BuildError
(`build_error`) and, for a failed step, its one-line reason with the end of
the log that says more (`step_failure`): the packages dnf could not find and
root.log, rpmbuild's build.log, the checkout's log, else the unit's journal.
The logs in the work directory are the container's, read as untrusted."""

from __future__ import annotations

import os
import re
from pathlib import Path

from adjutant.buildroot.context import BuildContext
from adjutant.runner.outcome import Outcome
from adjutant.untrusted import MissingFileError, UntrustedDir, UntrustedFileError


def build_error(message: str) -> Exception:
    import koji

    return koji.BuildError(message)


async def step_failure(ctx: BuildContext, outcome: Outcome, what: str) -> Exception:
    """The packager's one-line reason (and the log's end) for a failed step;
    the logs are the container's, read as untrusted."""
    from adjutant.buildroot.script import EXIT_BUILD, EXIT_CHECKOUT, EXIT_DEPS, EXIT_SETUP

    status = outcome.exit_status if outcome.kind.value == "failed" else None
    if status in (EXIT_DEPS, EXIT_SETUP):
        root_log = await result_text(ctx, "root.log")
        missing = missing_packages(root_log)
        said = [line[len("adjutant: "):] for line in outcome.log_tail
                if line.startswith("adjutant: ")]  # the script's own words
        reason = ("could not install the build requirements" if status == EXIT_DEPS
                  else f"could not set up the buildroot ({what})")
        if status == EXIT_SETUP and said:
            reason += f": {said[-1]}"
        if missing:
            reason += ": " + "; ".join(missing)
        return build_error(reason + tail_text(root_log))
    if status == EXIT_BUILD:
        return build_error("rpmbuild failed" + tail_text(await result_text(ctx, "build.log")))
    if status == EXIT_CHECKOUT:
        return build_error("the source checkout failed"
                           + tail_text(await result_text(ctx, "checkout.log")))
    return build_error(f"{what}: {outcome.message}" + tail_of(Path(outcome.log_path or "")))


async def result_text(ctx: BuildContext, name: str) -> str:
    """The last 256 KiB of result/<name>, or why it cannot be read."""
    def read(directory: UntrustedDir) -> str:
        try:
            fd = directory.open_regular(f"result/{name}")
        except MissingFileError:
            return ""
        try:
            size = os.fstat(fd).st_size
            os.lseek(fd, max(0, size - 256 * 1024), os.SEEK_SET)
            return os.read(fd, 256 * 1024).decode(errors="replace")
        finally:
            os.close(fd)

    try:
        return str(await ctx.in_workdir(read))
    except UntrustedFileError as exc:
        return f"({exc})"


def tail_text(text: str, lines: int = 10) -> str:
    tail = text.splitlines()[-lines:]
    return ("\n" + "\n".join(tail)) if tail else ""


def tail_of(path: Path, lines: int = 10) -> str:
    """The end of a log of the daemon's own (the unit's journal copy)."""
    from adjutant.runner.journal import read_tail

    tail = read_tail(path, lines) if str(path) else ()
    return ("\n" + "\n".join(tail)) if tail else ""


NO_MATCH = re.compile(r"(?:No match for argument|Unable to find a match):\s*(.+)")
NOTHING_PROVIDES = re.compile(r"nothing provides (\S+(?: [<>=]+ \S+)?)")
# dnf builddep's words for a requirement no package provides
NO_MATCHING = re.compile(r"No matching package to install: '([^'\n]+)'")


def missing_packages(text: str) -> list[str]:
    """The package names dnf could not find, from root.log's text."""
    found: list[str] = []
    for match in [*NO_MATCH.finditer(text), *NO_MATCHING.finditer(text),
                  *NOTHING_PROVIDES.finditer(text)]:
        name = match.group(1).strip()
        if name not in found:
            found.append(name)
    return [f"no package provides {name}" for name in found]
