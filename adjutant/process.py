"""The one place where adjutant starts a subprocess.

Every command is an argv list (never a shell string), stdin is closed unless
input is given, and a failure raises `CommandError` carrying the exact command
line (as `shlex.join`, so it can be copied and re-run), the exit status and the
tail of its error output.  Callers decide which exit statuses count as success.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Optional, Union

from adjutant.errors import AdjutantError

PathString = Union[str, "os.PathLike[str]"]

# How much of a failed command's stderr goes into the error message: enough to
# show the reason, short enough to stay one readable paragraph.
ERROR_TAIL_CHARS = 600


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


class CommandError(AdjutantError):
    """A command exited with a status its caller did not accept."""

    def __init__(self, argv: Sequence[str], returncode: int, stderr: str) -> None:
        self.argv = tuple(argv)
        self.returncode = returncode
        self.stderr = stderr
        if returncode < 0:
            why = f"was killed by signal {-returncode}"
        elif returncode == 127:
            why = "was not found (exit status 127)"
        else:
            why = f"failed with exit status {returncode}"
        tail = stderr.strip()[-ERROR_TAIL_CHARS:]
        detail = f": {tail}" if tail else ""
        super().__init__(f"command {shlex.join(self.argv)} {why}{detail}")


def run(
    argv: Sequence[PathString],
    *,
    accept: Sequence[int] = (0,),
    input: Optional[str] = None,
    env: Optional[Mapping[str, str]] = None,
    timeout: Optional[float] = None,
    capture: bool = True,
    output: Optional[IO[str]] = None,
    cwd: Optional[PathString] = None,
    stdin_inherit: bool = False,
) -> Completed:
    """Run `argv`, wait for it, and return its output.

    `env` entries are added to the current environment.  With `capture=False`
    the command's output goes to ours (for progress a person watches); with
    `output` it goes, stdout and stderr together, to that open file.
    `stdin_inherit` gives it our stdin (an interactive shell), else it has none.
    """
    args = [os.fspath(a) for a in argv]
    full_env = None
    if env is not None:
        full_env = dict(os.environ)
        full_env.update(env)
    pipe = subprocess.PIPE if capture else None
    try:
        proc = subprocess.run(
            args,
            input=input,
            stdin=None if input is not None or stdin_inherit else subprocess.DEVNULL,
            stdout=output if output is not None else pipe,
            stderr=subprocess.STDOUT if output is not None else pipe,
            env=full_env,
            timeout=timeout,
            text=True,
            errors="replace",
            cwd=cwd,
            check=False,
        )
    except FileNotFoundError as exc:
        raise CommandError(args, 127, str(exc)) from exc
    except subprocess.TimeoutExpired as exc:
        raise AdjutantError(f"command {shlex.join(args)} did not finish in {timeout} s") from exc
    result = Completed(tuple(args), proc.returncode, proc.stdout or "", proc.stderr or "")
    if proc.returncode not in accept:
        raise CommandError(args, proc.returncode, result.stderr or result.stdout)
    return result


def spawn(
    argv: Sequence[PathString],
    *,
    output: IO[str],
    env: Optional[Mapping[str, str]] = None,
) -> subprocess.Popen[str]:
    """Start a long-lived `argv` in its own session and return at once.

    Its output goes to `output`; it does not share our terminal's signals.
    """
    args = [os.fspath(a) for a in argv]
    full_env = None
    if env is not None:
        full_env = dict(os.environ)
        full_env.update(env)
    try:
        return subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=full_env,
            start_new_session=True,
            text=True,
        )
    except FileNotFoundError as exc:
        raise CommandError(args, 127, str(exc)) from exc


async def run_async(argv: Sequence[PathString], *, accept: Sequence[int] = (0,),
                    timeout: Optional[float] = None) -> Completed:
    """`run` on a worker thread, for the daemon's event loop, which must not block."""
    import asyncio

    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, lambda: run(argv, accept=accept, timeout=timeout))
