"""The worker's main loop: kojid's protocol with the hub, systemd's units for the work.

Every poll (the order of kojid's TaskManager: updateTasks, readyForTask,
getNextTask, takeTask):
1. deliver results still in the outbox (closeTask / failTask);
2. `host.getHostTasks`: the hub's list of tasks OPEN on this host, and their
   load.  An OPEN task we do not run is resumed if we kept its state or its
   unit is still there (after a restart), and freed only if neither exists.
   A task we run that is no longer OPEN here (cancelled, freed, reassigned)
   is stopped at once: its coroutine cancelled, its unit stopped;
3. readiness (readiness.py) and `host.updateHost(task_load, ready, data)`;
4. when ready, `host.getTasks` and take the first task we can:
   `refuseTask` for a method we lack or a host check that fails, else
   `getTaskInfo(request=True)`, `openTask`, `setTaskWeight`, a subsession,
   and the handler starts.  After taking a task the loop polls again at once
   (as kojid does); otherwise it sleeps `sleeptime`, or until a task ends.

The loop never waits for a task: handlers are coroutines, their containers
systemd units, and their hub calls go through their own subsessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from adjutant.atomic import write_atomically
from adjutant.buildroot.roots import (
    partial_task_ids,
    remove_partials,
    remove_view,
    view_task_ids,
)
from adjutant.buildroot.services import BuildrootServices
from adjutant.config import Config
from adjutant.errors import AdjutantError
from adjutant.hub import answers
from adjutant.hub.answers import MalformedAnswer
from adjutant.hub.results import CLOSE, FAIL, Outbox, encode_failure, encode_result, failure_text
from adjutant.hub.session import Hub, HubError
from adjutant.runner.properties import TASK_ID_FIELD
from adjutant.runner.runner import TaskRunner
from adjutant.scm import hide_password
from adjutant.tasks import handler_table
from adjutant.tasks.base import Memo, TaskContext, TaskHandler, task_workdir
from adjutant.untrusted import remove_tree
from adjutant.worker import state as task_state
from adjutant.worker.readiness import Readiness, readiness
from adjutant.worker.requests import CancelRequests

log = logging.getLogger(__name__)


def task_fields(task_id: int, method: Optional[str] = None,
                state: Optional[str] = None) -> dict[str, Any]:
    """The journal fields of a log line about a task (logging's `extra`;
    systemd's JournalHandler sends them, other handlers ignore them)."""
    fields: dict[str, Any] = {TASK_ID_FIELD: str(task_id)}
    if method:
        fields["KOJI_METHOD"] = method
    if state:
        fields["KOJI_TASK_STATE"] = state
    return fields

# How long an abandoned (cancelled, reassigned) task's unit gets to go.
ABANDON_TIMEOUT = 30.0


def _states() -> dict[str, int]:
    import koji

    return {name: koji.TASK_STATES[name] for name in
            ("FREE", "OPEN", "CLOSED", "CANCELED", "ASSIGNED", "FAILED")}


@dataclass
class RunningTask:
    task_id: int
    method: str
    params: list[Any]
    weight: float
    hub: Hub
    context: TaskContext
    handler: TaskHandler
    future: Optional[asyncio.Future[None]] = None
    finished: bool = False  # its result is in the outbox
    resumed: bool = False
    # Why the task is being stopped without a report (cancelled, freed,
    # reassigned); once set, nothing the handler raises is reported.
    lost: Optional[str] = None


def describe(task_id: int, method: str, params: list[Any]) -> str:
    """What `systemctl status` shows for the task's unit."""
    shown = " ".join(str(p) for p in params if not isinstance(p, dict))
    # unit properties are world-readable: an SCM URL's password never gets there
    return hide_password(f"Koji task {task_id}: {method} {shown}")[:200].rstrip()


class Worker:
    def __init__(self, config: Config, hub: Hub, runner: TaskRunner,
                 handlers: Optional[dict[str, type[TaskHandler]]] = None) -> None:
        self.config = config
        self.hub = hub
        self.runner = runner
        self.handlers = handlers if handlers is not None else handler_table()
        self.outbox = Outbox(config.state_dir / "outbox")
        self.cancels = CancelRequests(config.state_dir)
        self.tasks: dict[int, RunningTask] = {}
        self.host_id: Optional[int] = None
        self.host_info: dict[str, Any] = {}
        self.channels: list[str] = []
        self.task_load = 0.0
        self.readiness = Readiness(False, "starting")
        self.stopping = False
        self._wakeup = asyncio.Event()
        self._checked_orphans = False
        self.states = _states()
        self.services = BuildrootServices(config)
        # koji's restart tasks: when this process started, and whether a
        # restart task asked for the daemon to re-execute itself
        self.started_at = time.time()
        self.restart_pending = False
        self._stop: Optional[asyncio.Event] = None

    # ---- start and stop -------------------------------------------------------

    async def start(self) -> None:
        self.host_id = int(await self.hub.call("host.getID"))
        channels = await self.hub.call("listChannels", hostID=self.host_id)
        self.channels = sorted(str(c["name"]) for c in channels or [])
        reattached = await self.runner.open()
        if reattached:
            log.info("task units still running from before: %s", reattached)
        self.config.workdir.mkdir(parents=True, exist_ok=True)
        # host.json is written at every poll
        self.config.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)

    async def run(self, stop: asyncio.Event) -> None:
        self._stop = stop
        while not stop.is_set():
            try:
                taken = await self.poll()
            except (HubError, MalformedAnswer) as exc:
                log.warning("%s; trying again in %s s", exc, self.config.sleeptime)
                taken = False
            except (TypeError, KeyError, ValueError, AttributeError) as exc:
                # a hub answer of a shape no check foresaw: one line, not a crash
                log.error("poll failed on a hub answer: %s: %s; trying again in %s s",
                          type(exc).__name__, exc, self.config.sleeptime)
                taken = False
            if taken:
                continue
            self._wakeup.clear()
            waiters = [asyncio.ensure_future(self._wakeup.wait()),
                       asyncio.ensure_future(stop.wait())]
            await asyncio.wait(waiters, timeout=self.config.sleeptime,
                               return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()

    async def shutdown(self) -> None:
        """Stop following tasks; their units keep running for the next start."""
        self.stopping = True
        for task in self.tasks.values():
            task.context.stopping = True
            if task.future is not None:
                task.future.cancel()
        for task in list(self.tasks.values()):
            if task.future is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task.future
        with contextlib.suppress(HubError):
            await self.hub.call("host.updateHost", self.task_load, False,
                                data=self.host_data())
        await self.runner.close()

    def host_data(self) -> dict[str, Any]:
        return {"methods": sorted(self.handlers), "maxjobs": self.config.maxjobs}

    def wake(self) -> None:
        self._wakeup.set()

    # ---- one poll -------------------------------------------------------------

    async def poll(self) -> bool:
        """One round with the hub; True if a task was taken.  Every call has one
        try (`Hub.probe`): the next poll is the retry, and an answer after an
        outage wakes the task calls waiting in koji's retries."""
        await self.take_cancel_requests()
        await self.update_tasks()
        await self.deliver_outbox()
        await self.sweep_kept()
        self.host_info = answers.mapping("host.getHost",
                                         await self.hub.probe("host.getHost"))
        self.readiness = self.check_ready()
        await self.hub.probe("host.updateHost", self.task_load, self.readiness.ready,
                            data=self.host_data())
        self.write_host_file()
        if not self.readiness.ready:
            log.debug("not ready: %s", self.readiness.reason)
            return False
        offered = answers.task_list("host.getTasks", await self.hub.probe("host.getTasks"),
                                    ("state", "method"))
        for task in offered:
            if task["id"] in self.tasks:
                log.info("task %s was reassigned while we run it", task["id"])
                continue
            if task["state"] != self.states["ASSIGNED"] or task.get("host_id") != self.host_id:
                log.error("hub offered task %s that is not assigned to us", task["id"])
                continue
            if await self.take(task):
                return True
        return False

    async def take_cancel_requests(self) -> None:
        """`adjutant cancel N` (worker/requests.py): the hub is asked to
        cancel each task asked for that this host runs (kojihub cancelTask:
        the host of an OPEN task may), recursively as `koji cancel` does;
        the update that follows stops it as any cancel."""
        for task_id in self.cancels.pending():
            if task_id not in self.tasks:
                log.warning("adjutant cancel %s: this host does not run task %s; request "
                            "dropped", task_id, task_id, extra=task_fields(task_id))
                self.cancels.done(task_id)
                continue
            try:
                await self.hub.probe("cancelTask", task_id)
            except HubError as exc:
                if exc.unreachable:
                    raise  # kept for the next poll
                log.error("adjutant cancel %s: the hub refused: %s", task_id, exc,
                          extra=task_fields(task_id))
            else:
                log.info("cancelled task %s on the hub, as adjutant cancel asked", task_id,
                         extra=task_fields(task_id))
            self.cancels.done(task_id)

    def write_host_file(self) -> None:
        """The hub's view of this host for `adjutant status` (which cannot log
        in while this daemon holds the host's exclusive session)."""
        info = self.host_info
        data = {"name": info.get("name"), "id": self.host_id, "enabled": info.get("enabled"),
                "ready": self.readiness.ready, "reason": self.readiness.reason,
                "task_load": self.task_load, "capacity": info.get("capacity"),
                "channels": self.channels, "polled": time.time(), "pid": os.getpid()}
        try:
            write_atomically(self.config.state_dir / "host.json", json.dumps(data))
        except OSError as exc:
            log.warning("cannot write %s: %s", self.config.state_dir / "host.json", exc)

    def check_ready(self) -> Readiness:
        try:
            usage = shutil.disk_usage(self.config.workdir)
            free_mib = usage.free / 1024**2
        except OSError:
            free_mib = 0.0
        return readiness(
            host=self.host_info, task_load=self.task_load, running=len(self.tasks),
            maxjobs=self.config.maxjobs, free_mib=free_mib, minspace=self.config.minspace,
            loadavg=os.getloadavg()[0], cpus=os.cpu_count() or 1, stopping=self.stopping,
        )

    async def update_tasks(self) -> None:
        host_tasks = answers.task_list("host.getHostTasks",
                                       await self.hub.probe("host.getHostTasks"),
                                       ("weight",))
        open_here = {int(t["id"]): t for t in host_tasks}
        self.task_load = sum(float(t["weight"]) for t in host_tasks if not t.get("waiting"))
        await self._resume_or_free(open_here)
        for task in self.tasks.values():
            # subtasks may have finished (the hub's alert, or just time): let
            # waiting handlers look again
            task.context.wakeup.set()
        await self._stop_lost_tasks(open_here)
        if not self._checked_orphans:
            self._checked_orphans = True
            await self._stop_orphan_units()

    async def _resume_or_free(self, open_here: dict[int, Any]) -> None:
        stale = []
        for task_id in sorted(open_here):
            if task_id in self.tasks or self.outbox.get(task_id) is not None:
                continue
            if not await self.resume(task_id):
                stale.append(task_id)
        if stale:
            # Open to us, but we have neither a unit nor anything to resume.
            log.info("freeing tasks we have nothing of: %s", stale)
            await self.hub.probe("host.freeTasks", stale)

    async def _stop_lost_tasks(self, open_here: dict[int, Any]) -> None:
        """Stop the tasks we run that the hub no longer has open on this host."""
        for task_id in sorted(set(self.tasks) - set(open_here)):
            running = self.tasks[task_id]
            if running.finished:
                continue
            info = answers.optional_mapping("getTaskInfo", await self.hub.probe(
                "getTaskInfo", task_id), ("state", "host_id"))
            if info is None:
                await self.abandon(task_id, "the hub no longer knows it")
            elif info["state"] == self.states["CANCELED"]:
                await self.abandon(task_id, "cancelled on the hub")
            elif info.get("host_id") != self.host_id or info["state"] in (
                    self.states["FREE"], self.states["ASSIGNED"]):
                await self.abandon(task_id, "freed or given to another host")
            elif info["state"] != self.states["OPEN"]:
                await self.abandon(task_id, "closed on the hub without us")

    async def _stop_orphan_units(self) -> None:
        """After a restart: units of tasks the hub no longer has open here."""
        for task_id in self.runner.known():
            if task_id not in self.tasks:
                log.warning("stopping the unit of task %s: the hub has it no longer open "
                            "on this host", task_id)
                await self._stop_unit(task_id)

    # ---- taking and running a task ---------------------------------------------

    async def take(self, task: dict[str, Any]) -> bool:
        task_id, method = int(task["id"]), task["method"]
        handler_class = self.handlers.get(method)
        if handler_class is None:
            log.warning("refusing task %s: no handler for %s", task_id, method,
                        extra=task_fields(task_id, method, "FREE"))
            await self.hub.probe("host.refuseTask", task_id, soft=False,
                                msg=f"adjutant has no handler for method {method}")
            return False
        info = answers.optional_mapping("getTaskInfo", await self.hub.probe(
            "getTaskInfo", task_id, request=True))
        params = (info or {}).get("request")
        if not isinstance(params, list):
            log.warning("task %s has no request; leaving it", task_id)
            return False
        if not handler_class.check_host(self.host_info, params):
            log.info("refusing task %s (%s): this host cannot do it", task_id, method,
                     extra=task_fields(task_id, method, "FREE"))
            await self.hub.probe("host.refuseTask", task_id, soft=False, msg="failed host check")
            return False
        opened = await self.hub.probe("host.openTask", task_id)
        if opened is None:
            log.warning("could not open task %s", task_id)
            return False
        await self.hub.probe("host.setTaskWeight", task_id, handler_class.weight)
        task_state.save(self.config.state_dir,
                        task_state.OpenedTask(task_id, method, list(params),
                                              handler_class.weight))
        await self._start(task_id, method, list(params), handler_class, resumed=False)
        return True

    async def resume(self, task_id: int) -> bool:
        """Carry on with a task OPEN here that this process did not start."""
        saved = task_state.load(self.config.state_dir, task_id)
        if saved is None:
            if task_id not in self.runner.known():
                return False
            info = await self.hub.call("getTaskInfo", task_id, request=True)
            if not info or info.get("request") is None:
                return False
            saved = task_state.OpenedTask(task_id, info["method"], list(info["request"]),
                                          float(info.get("weight") or 1.0))
            task_state.save(self.config.state_dir, saved)
        handler_class = self.handlers.get(saved.method)
        if handler_class is None:
            return False
        log.info("resuming task %s (%s)", task_id, saved.method,
                 extra=task_fields(task_id, saved.method, "OPEN"))
        await self._start(task_id, saved.method, saved.params, handler_class, resumed=True)
        return True

    async def _start(self, task_id: int, method: str, params: list[Any],
                     handler_class: type[TaskHandler], *, resumed: bool) -> None:
        sub = await self.hub.subsession()
        memo = Memo(task_state.task_state_dir(self.config.state_dir, task_id) / "memo.json")
        context = TaskContext(task_id=task_id, method=method, config=self.config, hub=sub,
                              runner=self.runner, memo=memo, wakeup=asyncio.Event(),
                              description=describe(task_id, method, params),
                              services=self.services, on_hub_refusal=self.wake,
                              daemon_started=self.started_at,
                              request_restart=self.request_restart)
        context.workdir.mkdir(parents=True, exist_ok=True)
        running = RunningTask(task_id=task_id, method=method, params=params,
                              weight=handler_class.weight, hub=sub, context=context,
                              handler=handler_class(context), resumed=resumed)
        self.tasks[task_id] = running
        running.future = asyncio.ensure_future(self._execute(running))
        log.info("%s task %s: %s", "resumed" if resumed else "took", task_id, context.description,
                 extra=task_fields(task_id, method, "OPEN"))

    async def _execute(self, running: RunningTask) -> None:
        import koji
        import koji.tasks

        task_id = running.task_id
        try:
            result = await running.handler.run(running.params)
            method, response, summary = CLOSE, encode_result(result), "closed"
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if running.lost is not None:
                return  # being stopped (abandon); what it raised on the way is nobody's
            if isinstance(exc, koji.tasks.RefuseTask):
                # the handler found this host cannot do it (kojid's TaskManager:
                # refuseTask, and another host takes it)
                await self.hub.probe("host.refuseTask", task_id, msg=str(exc))
                await self.abandon(task_id, f"refused it: {exc}")
                return
            if isinstance(exc, HubError) and not exc.unreachable \
                    and not await self._still_ours(task_id):
                # The hub refused a call of the task (an upload, a buildroot
                # record) because it is no longer ours: a cancel the poll has
                # not seen yet.  Stop it as the poll would; report nothing.
                await self.abandon(task_id, f"the hub refused {exc.method}: the task is no "
                                   "longer open on this host")
                return
            if not isinstance(exc, (koji.GenericError, koji.xmlrpcplus.Fault, AdjutantError)):
                log.exception("task %s: handler %s failed", task_id, running.method,
                              extra=task_fields(task_id, running.method))
            method, response, summary = FAIL, encode_failure(exc), failure_text(exc)
        self.outbox.put(task_id, method, response, summary)
        running.finished = True
        log.info("task %s %s: %s", task_id, "succeeded" if method == CLOSE else "failed",
                 summary.splitlines()[0] if summary else "",
                 extra=task_fields(task_id, running.method,
                                   "CLOSED" if method == CLOSE else "FAILED"))
        await self.deliver(task_id)
        if self.restart_pending and self._stop is not None:
            log.info("restarting (task %s asked): task units keep running", task_id)
            self._stop.set()
        self.wake()

    def request_restart(self) -> None:
        """A restart task asks the daemon to re-execute itself once its
        result is delivered (serve() returns RESTART)."""
        self.restart_pending = True

    # ---- results ----------------------------------------------------------------

    async def deliver_outbox(self) -> None:
        for entry in self.outbox.pending():
            running = self.tasks.get(entry.task_id)
            if running is not None and running.future is not None and not running.future.done():
                continue  # its own coroutine is delivering it
            await self.deliver(entry.task_id, probe=True)

    async def deliver(self, task_id: int, *, probe: bool = False) -> bool:
        """Send a finished task's result; True once the hub has it (or cannot take it)."""
        entry = self.outbox.get(task_id)
        if entry is None:
            return True
        running = self.tasks.get(task_id)
        hub = running.hub if running is not None else self.hub
        try:
            if probe:
                await hub.probe(entry.method, task_id, entry.response)
            else:
                await hub.call(entry.method, task_id, entry.response)
        except HubError as exc:
            if exc.unreachable:
                log.warning("task %s: result kept for later: %s", task_id, exc)
                return False
            if not await self._hub_has_it(task_id, exc):
                return False
        self.outbox.done(task_id)
        await self._forget(task_id, keep=entry.method == FAIL)
        return True

    async def _hub_has_it(self, task_id: int, exc: HubError) -> bool:
        """The hub refused our closeTask/failTask: find out why."""
        try:
            info = await self.hub.call("getTaskInfo", task_id)
        except HubError as again:
            log.warning("task %s: result kept for later: %s", task_id, again)
            return False
        if info and info["state"] in (self.states["CLOSED"], self.states["FAILED"]) \
                and info.get("host_id") == self.host_id:
            return True  # an earlier try got through; koji's retry was refused
        if self._open_here(info):
            log.error("task %s: the hub refused its result (%s); reporting the failure",
                      task_id, exc)
            self.outbox.put(task_id, FAIL, encode_failure(exc.cause),
                            f"adjutant could not report the result: {exc}")
            return False
        log.warning("task %s: dropping its result: the task is no longer ours (%s)", task_id, exc)
        return True

    async def _still_ours(self, task_id: int) -> bool:
        """Whether the hub still has the task OPEN on this host (True if it
        cannot be asked: a result is kept rather than dropped)."""
        try:
            info = await self.hub.probe("getTaskInfo", task_id)
        except HubError:
            return True
        return self._open_here(info)

    def _open_here(self, info: Any) -> bool:
        """A getTaskInfo answer says the task is OPEN on this host."""
        return isinstance(info, dict) and info.get("state") == self.states["OPEN"] \
            and info.get("host_id") == self.host_id

    async def _forget(self, task_id: int, *, keep: bool = False) -> None:
        """The end of every task, whatever ended it: its unit stopped and its
        container gone first, then its unit released, then its files removed
        (a failed task's work directory is kept failed_buildroot_lifetime)."""
        running = self.tasks.pop(task_id, None)
        await self._stop_unit(task_id)
        if running is not None:
            with contextlib.suppress(HubError):
                await self.hub.logout_child(running.hub)
        task_state.remove(self.config.state_dir, task_id)
        workdir = task_workdir(self.config, task_id)
        lifetime = self.config.failed_buildroot_lifetime
        if keep and lifetime > 0 and workdir.is_dir():
            until = task_state.keep_workdir(self.config.state_dir, task_id, workdir, lifetime)
            log.info("task %s failed: its work directory %s is kept until %s "
                     "(failed_buildroot_lifetime)", task_id, workdir,
                     time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(until)))
            return
        await self._remove_task_files(task_id, workdir)

    async def _remove_task_files(self, task_id: int, workdir: Path) -> None:
        """The task's work directory and its view of a buildroot (kept and
        removed together: an admin looking at a failed build sees both)."""
        loop = asyncio.get_running_loop()
        try:
            await remove_view(self.config, task_id)
            await remove_partials(self.config, task_id)
        except (OSError, AdjutantError) as exc:
            log.warning("task %s: could not remove its buildroot view: %s", task_id, exc)
        try:
            await loop.run_in_executor(None, lambda: remove_tree(workdir, missing_ok=True))
        except (OSError, AdjutantError) as exc:
            log.warning("task %s: could not remove its work directory %s: %s", task_id,
                        workdir, exc)

    async def sweep_kept(self) -> None:
        """Remove the kept work directories of failed tasks whose time is up,
        and any buildroot view no task has (a crash between a task's end and
        its clean-up)."""
        for task_id, workdir in task_state.expired_workdirs(self.config.state_dir, time.time()):
            if task_id in self.tasks:
                continue  # given to us again: it is its work directory now
            log.info("task %s: removing its kept work directory %s", task_id, workdir)
            await self._remove_task_files(task_id, workdir)
            task_state.forget_kept(self.config.state_dir, task_id)
        for task_id in sorted({*view_task_ids(self.config), *partial_task_ids(self.config)}):
            if task_id in self.tasks or task_state.kept_record(self.config.state_dir,
                                                               task_id).exists():
                continue
            log.info("task %s: removing its buildroot view and unfinished preparations (the "
                     "task has ended)", task_id)
            try:
                await remove_view(self.config, task_id)
                await remove_partials(self.config, task_id)
            except (OSError, AdjutantError) as exc:
                log.warning("task %s: could not remove its buildroot view: %s", task_id, exc)

    # ---- stopping tasks -----------------------------------------------------------

    async def abandon(self, task_id: int, reason: str) -> None:
        """Stop a task the hub no longer has open on this host; report nothing.

        Its handler is cancelled and its unit stopped at the same time (the
        handler's clean-ups may call the hub, which must not delay the stop);
        its files go only after its container is gone."""
        log.info("stopping task %s: %s", task_id, reason, extra=task_fields(task_id))
        running = self.tasks.get(task_id)
        handler: Optional[asyncio.Future[None]] = None
        if running is not None:
            running.lost = reason
            running.context.lost = True
            if running.future is not None and running.future is not asyncio.current_task():
                handler = running.future
                handler.cancel()
        stopping = asyncio.ensure_future(self._stop_unit(task_id))
        if handler is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(handler, ABANDON_TIMEOUT)
        await stopping
        if running is not None:
            await self._expire_buildroot(task_id, running.context.memo)
        try:
            await self.runner.remove_container(task_id)
        except AdjutantError as exc:
            log.warning("task %s: %s", task_id, exc)
        self.outbox.done(task_id)
        await self._forget(task_id)

    async def _expire_buildroot(self, task_id: int, memo: Memo) -> None:
        """A stopped task's buildroot is EXPIRED on the hub, as kojid's
        updateBuildroots expires those of tasks no longer running here."""
        brootid = memo.get("brootid")
        if brootid is None or "buildroot_expired" in memo:
            return
        try:
            await self.hub.probe("host.setBuildRootState", int(brootid), "EXPIRED")
        except (HubError, ValueError) as exc:
            log.warning("task %s: could not expire buildroot %s: %s", task_id, brootid, exc)

    async def _stop_unit(self, task_id: int) -> None:
        await self.runner.stop(task_id, timeout=ABANDON_TIMEOUT)

    # ---- for the daemon -------------------------------------------------------------

    def status_line(self) -> str:
        capacity = self.host_info.get("capacity", "?")
        state = "ready" if self.readiness.ready else self.readiness.reason
        return (f"{len(self.tasks)} task(s) running, load {self.task_load:.2f}/{capacity}; "
                f"{state}")
