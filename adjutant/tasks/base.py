"""What a task handler is, and what it may use.

A handler serves one or more Koji task methods.  Its `handle(*args, **kwargs)`
takes the task's parameters as the hub stores them (koji.decode_args) and
returns the task's result; raising fails the task with the error's text.

Handlers are coroutines in the daemon's event loop and must never block it.
Work that needs a buildroot or a container runs through `TaskContext.
run_container`, as the task's systemd unit; hub calls go through the task's
own subsession.

Restarts: a handler may be run again from the top after adjutant restarts
(the task is still OPEN on the hub and its unit may still be running).  So
a handler records what must not happen twice: `run_container` returns the
recorded outcome of a step that already ran, or re-attaches to the running
unit; `ctx.memo.once(key, ...)` does the same for any other step (a hub call
that creates something).  The memo lives in <state_dir>/worker/<task id>/.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
from collections.abc import Awaitable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Optional

from adjutant.atomic import write_atomically
from adjutant.buildroot.logs import upload_path
from adjutant.buildroot.services import BuildrootServices
from adjutant.config import Config, task_limits
from adjutant.hub.session import Hub, HubError
from adjutant.runner.outcome import Outcome
from adjutant.runner.runner import TaskRunner
from adjutant.runner.spec import Mount, ResourceLimits, TaskSpec
from adjutant.untrusted import UntrustedDir

# `adjutant build-local`'s task ids (local.py): above every Koji task id
# (kojihub's are a PostgreSQL serial, int4), so they never name a hub task;
# the daemon's runner leaves their units alone (RunnerSettings.task_ids).
LOCAL_TASK_IDS = 2**31


def task_workdir(config: Config, task_id: int) -> Path:
    """kojid's layout: <workdir>/tasks/<id % 10000>/<id>."""
    return config.workdir / upload_path(task_id)


class Memo:
    """A task's record of steps already done, kept across restarts."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._values: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            self._values = {}

    def get(self, key: str) -> Any:
        return self._values.get(key)

    def __contains__(self, key: str) -> bool:
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._values))

    def set(self, key: str, value: Any) -> None:
        self._values[key] = value
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(self.path, json.dumps(self._values))

    async def once(self, key: str, make: Callable[[], Awaitable[Any]]) -> Any:
        """The value `make()` gave the first time, even across restarts."""
        if key in self._values:
            return self._values[key]
        value = await make()
        self.set(key, value)
        return value

    async def once_checked(self, key: str, make: Callable[[], Awaitable[Any]],
                           made: Callable[[], Awaitable[Any]]) -> Any:
        """As once(), for a hub call the hub refuses a second time: when an
        earlier run started it and died before its answer was recorded (the
        call may have reached the hub), `made()` asks the hub whether it did:
        its answer (not None) is taken as the call's."""
        if key in self._values:
            return self._values[key]
        started = f"{key}:started"
        if started in self._values:
            value = await made()
            if value is not None:
                self.set(key, value)
                return value
        self.set(started, True)
        value = await make()
        self.set(key, value)
        return value


@dataclass
class TaskContext:
    task_id: int
    method: str
    config: Config
    hub: Hub  # the task's own subsession
    runner: TaskRunner
    memo: Memo
    # Set by the worker's loop at each poll and on the hub's alert: subtasks
    # may have finished.
    wakeup: asyncio.Event
    description: str = ""
    # shared by all tasks of the daemon: image rules, the buildroot cache
    services: Optional[BuildrootServices] = None
    # Set when the daemon stops (not the task): the task goes on in its unit and
    # is resumed by the next start, so cleanups that end the task (the
    # buildroot's EXPIRED) must not run.
    stopping: bool = False
    # Set when the task is stopped because the hub no longer has it open here
    # (cancelled, freed, reassigned): nothing more is sent for it.
    lost: bool = False
    # Called when the hub refuses a call of this task (it may no longer be
    # ours): the worker polls at once instead of at its next sleeptime.
    on_hub_refusal: Optional[Callable[[], None]] = None
    # When this daemon process started (restartVerify), and how a task asks
    # it to re-execute itself once the task's result is with the hub (restart)
    daemon_started: float = 0.0
    request_restart: Optional[Callable[[], None]] = None

    @property
    def workdir(self) -> Path:
        """The task's work directory, bound into its containers: what is in it
        is the container's to write, so the daemon reads it only through
        adjutant.untrusted."""
        return task_workdir(self.config, self.task_id)

    @property
    def private_dir(self) -> Path:
        """The daemon's own files of the task (fetched inputs, results copied
        out of the work directory before upload), never bound into a container.
        Removed with the task's worker state."""
        path = self.memo.path.parent / "files"
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        return path

    @property
    def inputs(self) -> Path:
        """The daemon's directory of scripts and inputs, /adjutant (read-only) in
        every container: no step can change what the next one runs or reads."""
        path = self.private_dir / "inputs"
        path.mkdir(mode=0o755, exist_ok=True)
        return path

    async def in_workdir(self, function: Callable[[UntrustedDir], Any]) -> Any:
        """Run `function(dir)` on the work directory off the event loop (no file
        I/O there ever blocks the loop: a FIFO is refused, not waited on)."""

        def call() -> Any:
            with UntrustedDir(self.workdir) as directory:
                return function(directory)

        return await asyncio.get_running_loop().run_in_executor(None, call)

    def container_spec(
        self,
        command: Sequence[str],
        *,
        image: Optional[str] = None,
        mounts: Sequence[Mount] = (),
        environment: Optional[Mapping[str, str]] = None,
        network: bool = False,
        limits: Optional[ResourceLimits] = None,
        workdir: Optional[str] = None,
        action: str = "run",
        personality: Optional[str] = None,
    ) -> TaskSpec:
        return TaskSpec(
            task_id=self.task_id, image=image or self.config.task_image, command=tuple(command),
            description=self.description or f"Koji task {self.task_id}: {self.method}",
            mounts=tuple(mounts), environment=dict(environment or {}), network=network,
            limits=limits or task_limits(self.config), workdir=workdir,
            action=action, personality=personality,
        )

    async def run_container(self, step: str, spec: TaskSpec) -> Outcome:
        """Run one step of the task as its unit, or finish a step already under way."""
        key = f"container:{step}"
        recorded = self.memo.get(key)
        if recorded is not None:
            return Outcome.from_dict(recorded)
        if self.task_id not in self.runner.known():
            earlier = any(k.startswith("container:") for k in self.memo)
            await self.runner.launch(dataclasses.replace(spec, log_append=earlier))
        outcome = await self.runner.wait(self.task_id)
        self.memo.set(key, outcome.to_dict())
        await self.runner.release(self.task_id)
        return outcome

    async def subtask(self, method: str, arglist: list[Any], *, label: Optional[str] = None,
                      **opts: Any) -> int:
        """Create (or, for a label already used by this task, find) a subtask."""
        if label is not None:
            opts["label"] = label
        return int(await self.hub.call("host.subtask", method=method, arglist=arglist,
                                       parent=self.task_id, **opts))

    async def wait(
        self,
        subtasks: Optional[Sequence[int]] = None,
        *,
        all: bool = False,
        failany: bool = False,
        canfail: Optional[Sequence[int]] = None,
    ) -> dict[int, Any]:
        """Wait for subtasks, with the semantics of koji.tasks.BaseTaskHandler.wait:
        return when any (or, with all, every) subtask finished; with failany, a
        failed subtask cancels the others and its error fails this task."""
        checked = set(canfail or ())
        wanted = None if subtasks is None else list(subtasks)
        await self.hub.call("host.taskSetWait", self.task_id, wanted)
        while True:
            finished, unfinished = await self.hub.call("host.taskWait", self.task_id)
            if not unfinished:
                break
            if finished and not all:
                break
            if finished and failany:
                for child in sorted(set(finished) - checked):
                    try:
                        await self.hub.call("getTaskResult", child)
                    except HubError as exc:
                        if exc.unreachable:
                            raise
                        await self.hub.call("cancelTaskChildren", self.task_id)
                        raise exc.cause from None
                    checked.add(child)
            self.wakeup.clear()
            await self.wakeup.wait()
        if all:
            finished = wanted if wanted is not None else finished + unfinished
        try:
            results = await self.hub.call("host.taskWaitResults", self.task_id, finished,
                                          canfail=list(canfail) if canfail else None)
        except HubError as exc:
            if exc.unreachable:
                raise
            # a subtask failed: its own fault fails this task, as in kojid's wait
            raise exc.cause from None
        return {int(task_id): result for task_id, result in results}


class TaskHandler:
    """Base of the handlers: one subclass per Koji method (or family of methods
    that share their steps, as srpm.py's two), in a module under adjutant/tasks/."""

    methods: ClassVar[tuple[str, ...]] = ()
    # The load this task puts on the host (kojid's _taskWeight); the hub sums
    # the weights of a host's running tasks against its capacity.
    weight: ClassVar[float] = 1.0

    def __init__(self, ctx: TaskContext) -> None:
        self.ctx = ctx

    @classmethod
    def check_host(cls, host: Mapping[str, Any], params: Sequence[Any]) -> bool:
        """Whether this host can do the task at all (kojid's checkHost)."""
        return True

    async def handle(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    async def run(self, params: Sequence[Any]) -> Any:
        import koji

        args, kwargs = koji.decode_args(*params)
        try:
            inspect.signature(self.handle).bind(*args, **kwargs)
        except TypeError as exc:
            raise koji.ParameterError(
                f"{self.ctx.method}: bad parameters {params!r}: {exc}") from None
        return await self.handle(*args, **kwargs)


def failed_outcome_error(what: str, outcome: Outcome) -> Exception:
    """The error that fails a task whose container step did not succeed: the
    outcome's message and the last lines of its log, for the packager."""
    import koji

    tail = "\n".join(outcome.log_tail[-10:])
    detail = f"\n{tail}" if tail else ""
    return koji.GenericError(f"{what} {outcome.message}{detail}")
