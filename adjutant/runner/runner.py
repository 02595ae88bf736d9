"""TaskRunner: a TaskSpec in, an Outcome out; systemd does the work.

    runner = TaskRunner(runner_settings(config))
    await runner.open()                  # connect, subscribe, re-attach
    await runner.launch(spec)            # adjutant-task-<id>.service starts
    outcome = await runner.wait(task_id) # ended, log copied to the last line
    await runner.release(task_id)        # the caller has recorded the outcome

Life of a task:
1. `launch` writes the task's state directory (spec, container environment),
   starts watching the unit's signals, then asks systemd for the transient
   unit (properties.py) and waits for its start job.
2. A follower per task copies the unit's journal into the log file while it
   runs (journal.py) and waits for the unit to end, woken by D-Bus signals.
3. When the unit is inactive or failed (or gone), the follower reads the exit
   record written by the unit's ExecStopPost (poststop.py) and systemd's
   properties, names the outcome (outcome.py), drains the journal to its
   last line, and resolves `wait`.
4. `release` resets a failed unit, drops our reference and deletes the state.
   Until then everything needed to report the task again survives a restart.

After a restart, `open` lists the adjutant-task-* units and the state
directories; a task that has either is followed again from where it was.  A
task with a state directory but neither a unit nor an exit record is
reported as lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from adjutant.errors import RunnerError
from adjutant.process import run_async
from adjutant.runner import poststop
from adjutant.runner.journal import JournalCopier, read_tail
from adjutant.runner.outcome import Outcome, classify
from adjutant.runner.podman import pull_argv, remove_container_argv, task_run_argv
from adjutant.runner.properties import (
    TASK_UNIT_PATTERN,
    CgroupLayout,
    Property,
    task_id_of_unit,
    task_unit_name,
    task_unit_properties,
)
from adjutant.runner.settings import RunnerSettings
from adjutant.runner.spec import TaskSpec
from adjutant.runner.state import TaskState, container_log_path
from adjutant.runner.systemd import NO_SUCH_UNIT, UNIT_EXISTS, SystemdManager, is_error
from adjutant.runner.watch import SERVICE_IFACE, UnitEvents, UnitWatch

log = logging.getLogger(__name__)

# How often a running task's unit state is re-read in case a signal was
# missed.  Signals are the way state arrives; this only bounds the damage.
RECONCILE_SECONDS = 30.0
LOG_TAIL_LINES = 20


@dataclass
class _Task:
    spec: TaskSpec
    state: TaskState
    watch: UnitWatch
    log_path: Path
    outcome: asyncio.Future[Outcome]
    follower: Optional[asyncio.Task[None]] = None
    cancel_requested: bool = False


class TaskRunner:
    def __init__(self, settings: RunnerSettings, *,
                 layout: Optional[CgroupLayout] = None) -> None:
        self.config = settings
        self.layout = layout or CgroupLayout.detect()
        self._systemd = SystemdManager()
        self._events = UnitEvents()
        self._tasks: dict[int, _Task] = {}

    # ---- lifecycle -----------------------------------------------------------

    async def open(self, *, reattach: bool = True) -> list[int]:
        """Connect to systemd and re-attach to tasks left running; returns their ids."""
        await self._events.connect()
        return await self._reattach() if reattach else []

    async def close(self) -> None:
        """Stop following tasks; their units keep running."""
        for task in self._tasks.values():
            if task.follower is not None:
                task.follower.cancel()
        for task in self._tasks.values():
            if task.follower is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task.follower
        await self._events.close()
        await self._systemd.close()

    def running(self) -> list[int]:
        return sorted(tid for tid, t in self._tasks.items() if not t.outcome.done())

    def known(self) -> list[int]:
        return sorted(self._tasks)

    # ---- launching -----------------------------------------------------------

    def log_path_for(self, spec: TaskSpec) -> Path:
        if spec.log_path:
            return Path(spec.log_path)
        return container_log_path(self.config.log_dir, spec.task_id)

    def exec_start(self, spec: TaskSpec, state: TaskState) -> list[str]:
        podman = self.config.podman
        if spec.action == "pull":
            return pull_argv(podman=podman, image=spec.image)
        return task_run_argv(
            podman=podman, task_id=spec.task_id, image=spec.image, command=spec.command,
            mounts=spec.mounts, env_file=state.env_file, workdir=spec.workdir, user=spec.user,
            network=spec.network,
            personality=spec.personality, rootfs=spec.rootfs, idmap=spec.idmap,
            drop_caps=spec.drop_caps,
        )

    def unit_properties(self, spec: TaskSpec, state: TaskState) -> list[Property]:
        podman = self.config.podman
        exec_start = self.exec_start(spec, state)
        # -I -S: the script needs nothing beyond the standard library (poststop.py)
        exec_stop_post = [sys.executable, "-I", "-S", os.path.abspath(poststop.__file__),
                          str(state.path), str(spec.task_id), str(podman),
                          spec.action]
        environment = []
        if self.layout.version == 1:
            # podman 5 warns on every call that cgroup v1 is deprecated; the
            # daemon says it once in its own log instead of in every task log.
            environment.append("PODMAN_IGNORE_CGROUPSV1_WARNING=1")
        props = task_unit_properties(
            task_id=spec.task_id, description=spec.description, exec_start=exec_start,
            exec_stop_post=exec_stop_post, limits=spec.limits, layout=self.layout,
            slice_name=self.config.task_slice, stop_timeout=self.config.task_stop_timeout,
            environment=environment, rlimits=self.config.rlimits,
        )
        # Keeps a finished unit loaded while we are connected, so its final
        # properties can be read even when it ended within a millisecond.
        props.append(("AddRef", "b", True))
        return props

    async def launch(self, spec: TaskSpec) -> None:
        """Start the task's unit; returns once systemd has started podman."""
        task_id = spec.task_id
        if task_id in self._tasks and not self._tasks[task_id].outcome.done():
            raise RunnerError(f"task {task_id} is already running here")
        unit = task_unit_name(task_id)
        state = TaskState(self.config.state_dir, task_id)
        state.begin(spec)
        watch = self._events.watch(unit)
        watch.active_state = watch.sub_state = watch.invocation_id = None
        watch.removed = False
        task = _Task(spec=spec, state=state, watch=watch, log_path=self.log_path_for(spec),
                     outcome=asyncio.get_running_loop().create_future())
        self._tasks[task_id] = task
        try:
            job = await self._start_unit(unit, self.unit_properties(spec, state))
            result = await self._events.job_result(job)
        except BaseException:
            self._forget(task_id)
            raise
        if result != "done":
            log.warning("task %s: start job of %s ended with '%s'", task_id, unit, result)
        # Signals about an earlier unit of this name (reset just above) may still
        # be on their way; systemd's answer now is the state of this one.
        await self._events.refresh(watch)
        task.follower = asyncio.ensure_future(self._follow(task))

    async def _start_unit(self, unit: str, props: list[Property]) -> str:
        try:
            return await self._systemd.start_transient(unit, props)
        except RunnerError as exc:
            if not is_error(exc, UNIT_EXISTS):
                raise
        # A unit of this name is still loaded: a finished run of the same task
        # (Koji may hand a freed task back to us).  A running one is an error.
        props_now = await self._events.get_all(unit, "org.freedesktop.systemd1.Unit")
        if props_now and props_now.get("ActiveState") not in ("inactive", "failed"):
            raise RunnerError(f"{unit} is already running ({props_now.get('ActiveState')})")
        await self._ignore_missing(self._systemd.reset_failed(unit))
        await self._ignore_missing(self._systemd.stop(unit))
        return await self._systemd.start_transient(unit, props)

    @staticmethod
    async def _ignore_missing(call: Any) -> None:
        try:
            await call
        except RunnerError as exc:
            if not is_error(exc, NO_SUCH_UNIT):
                log.debug("ignored: %s", exc)

    # ---- following -----------------------------------------------------------

    async def _follow(self, task: _Task) -> None:
        task_id = task.spec.task_id
        try:
            outcome = await self._follow_until_end(task)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("task %s: following its unit failed", task_id)
            if not task.outcome.done():
                task.outcome.set_exception(RunnerError(f"task {task_id}: {exc}"))
            return
        if not task.outcome.done():
            task.outcome.set_result(outcome)

    async def _wait_for_invocation(self, task: _Task) -> Optional[str]:
        watch = task.watch
        while watch.invocation_id is None and not watch.ended:
            await self._events.refresh(watch)
            if watch.invocation_id is None and not watch.ended:
                watch.changed.clear()
                await self._wait_changed(watch)
        return watch.invocation_id

    async def _wait_changed(self, watch: UnitWatch) -> None:
        try:
            await asyncio.wait_for(watch.changed.wait(), RECONCILE_SECONDS)
        except asyncio.TimeoutError:
            await self._events.refresh(watch)

    async def _follow_until_end(self, task: _Task) -> Outcome:
        watch, state = task.watch, task.state
        invocation = state.invocation() or await self._wait_for_invocation(task)
        if invocation is None:
            record = state.exit_record(None)
            invocation = (record or {}).get("invocation_id") or None
        if invocation:
            state.save_invocation(invocation)

        copier = None
        ended = asyncio.Event()
        copying: Optional[asyncio.Task[None]] = None
        if invocation:
            copier = JournalCopier(invocation_id=invocation, log_path=task.log_path,
                                   cursor_path=state.cursor_file,
                                   append=task.spec.log_append,
                                   max_bytes=self.config.log_max_bytes)
            await copier.start()
            copying = asyncio.ensure_future(copier.follow(ended))
        try:
            while True:
                watch.changed.clear()
                if watch.ended:
                    break
                await self._wait_changed(watch)
            ended.set()
            if copying is not None:
                await copying
            if copier is not None:
                await copier.finish()
        finally:
            ended.set()
            if copying is not None and not copying.done():
                copying.cancel()
            if copier is not None:
                copier.close()

        unit = task_unit_name(task.spec.task_id)
        props = None if watch.removed else await self._events.get_all(unit, SERVICE_IFACE)
        if props is not None and props.get("LoadState") == "not-found":
            props = None
        outcome = classify(
            task_id=task.spec.task_id,
            record=state.exit_record(invocation),
            properties=props,
            cancelled=task.cancel_requested or state.cancelled(),
            runtime_max=task.spec.limits.runtime_max,
        )
        tail = () if outcome.ok else read_tail(task.log_path, LOG_TAIL_LINES)
        return Outcome(outcome.task_id, outcome.kind, outcome.message, outcome.exit_status,
                       outcome.usage, str(task.log_path), tail)

    # ---- for callers ---------------------------------------------------------

    async def wait(self, task_id: int) -> Outcome:
        """The task's outcome, once its unit ended and its log is complete."""
        task = self._tasks.get(task_id)
        if task is None:
            raise RunnerError(f"task {task_id} is not known to this runner")
        return await asyncio.shield(task.outcome)

    async def cancel(self, task_id: int) -> None:
        """Stop the task's unit: SIGTERM, and SIGKILL to all of it after cancel_grace."""
        task = self._tasks.get(task_id)
        if task is None:
            raise RunnerError(f"task {task_id} is not known to this runner")
        if task.outcome.done():
            return
        task.cancel_requested = True
        task.state.mark_cancelled()
        unit = task_unit_name(task_id)
        await self._ignore_missing(self._systemd.stop(unit))
        try:
            await asyncio.wait_for(asyncio.shield(task.outcome), self.config.cancel_grace)
        except asyncio.TimeoutError:
            log.info("task %s: still running %.0f s after SIGTERM; killing it",
                     task_id, self.config.cancel_grace)
            await self._ignore_missing(self._systemd.kill(unit, signal.SIGKILL))
        except RunnerError:
            pass

    async def stop(self, task_id: int, *, timeout: float) -> None:
        """End the task's unit whatever it is doing and forget it: for a task
        that is over (or no longer ours).  Returns once its container is gone
        (or `timeout` passed, which is logged), its unit released."""
        if task_id not in self._tasks:
            # a unit we do not follow: a launch cut short by a cancel
            await self._adopt(task_id)
        if task_id not in self._tasks:
            # no unit of it (the common end: its last step was released):
            # nothing for systemd to reset or unreference
            TaskState(self.config.state_dir, task_id).remove()
            return
        await self.cancel(task_id)
        try:
            await asyncio.wait_for(self.wait(task_id), timeout)
        except (asyncio.TimeoutError, RunnerError) as exc:
            log.warning("task %s: its unit did not end within %.0f s: %s", task_id,
                        timeout, exc or "timed out")
        await self.release(task_id)

    async def remove_container(self, task_id: int) -> None:
        """Remove the task's container if one is left (its unit's ExecStopPost
        could not): for a task that is over."""
        await run_async(remove_container_argv(podman=self.config.podman, task_id=task_id),
                        timeout=120)

    async def release(self, task_id: int) -> None:
        """Forget a finished task: reset its unit and delete its state."""
        task = self._tasks.get(task_id)
        await self._systemd.forget(task_unit_name(task_id))
        if task is not None:
            task.state.remove()
        else:
            TaskState(self.config.state_dir, task_id).remove()
        self._forget(task_id)

    def _forget(self, task_id: int) -> None:
        self._tasks.pop(task_id, None)
        self._events.unwatch(task_unit_name(task_id))

    # ---- after a restart -----------------------------------------------------

    async def _reattach(self) -> list[int]:
        units = await self._systemd.list_units(TASK_UNIT_PATTERN)
        start, end = self.config.task_ids
        with_units = {tid for tid in (task_id_of_unit(u.name) for u in units)
                      if tid and start <= tid < end}
        tasks_dir = self.config.state_dir / "tasks"
        with_state = set()
        if tasks_dir.is_dir():
            with_state = {int(p.name) for p in tasks_dir.iterdir() if p.name.isdigit()}
        found = []
        for task_id in sorted(with_units | with_state):
            if task_id in self._tasks:
                continue
            await self._follow_again(task_id)
            found.append(task_id)
        if found:
            log.info("re-attached to tasks %s", ", ".join(map(str, found)))
        return found

    async def _follow_again(self, task_id: int) -> None:
        state = TaskState(self.config.state_dir, task_id)
        spec = state.load_spec()
        if spec is None:
            log.warning("found %s with no saved spec; following it with defaults",
                        task_unit_name(task_id))
            spec = TaskSpec(task_id=task_id, image="unknown", command=("unknown",),
                            description=f"task {task_id} (re-attached)")
        watch = self._events.watch(task_unit_name(task_id))
        task = _Task(spec=spec, state=state, watch=watch, log_path=self.log_path_for(spec),
                     outcome=asyncio.get_running_loop().create_future(),
                     cancel_requested=state.cancelled())
        self._tasks[task_id] = task
        await self._events.refresh(watch)
        task.follower = asyncio.ensure_future(self._follow(task))

    async def _adopt(self, task_id: int) -> None:
        """Follow the task's unit if systemd has one loaded that we do not know."""
        props = await self._events.get_all(task_unit_name(task_id),
                                           "org.freedesktop.systemd1.Unit")
        if props and props.get("LoadState") not in (None, "not-found"):
            await self._follow_again(task_id)
