"""`adjutant daemon`: the build worker, as a Type=notify systemd service.

Start: read kojid.conf, log in to the hub (exclusive session), re-attach to
task units left running, then READY=1; the status line (`systemctl status
adjutant`) says how many tasks run and why the host is or is not ready; the
watchdog is pinged while the event loop turns.

SIGTERM (systemctl stop, restart): stop taking tasks and exit, leaving every
task unit running in adjutant.slice; the next start picks them up.  Unlike
kojid, nothing is freed: `adjutant drain` does that on purpose.  A restart
task (`koji restart-hosts`) does the same and re-executes the daemon.
SIGUSR1: poll the hub now (`adjutant cancel` left a request).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path

from adjutant import config as config_module
from adjutant.config import Config, runner_settings
from adjutant.hub.session import connect
from adjutant.notify import notify, watchdog_interval
from adjutant.runner.runner import TaskRunner
from adjutant.worker.loop import Worker

log = logging.getLogger("adjutant")
STATUS_INTERVAL = 5.0
# serve()'s answer when a restart task asked the daemon to re-execute itself
RESTART = -1


def load_config(path: Path) -> Config:
    config = config_module.load(path)
    config_module.require_hub(config, str(path))
    config_module.build_id_range(config, str(path))
    return config


def warn_about_unused(config: Config) -> None:
    plugins = config.plugin + config.plugins
    if plugins:
        log.warning("kojid builder plugins are not loaded by adjutant: %s", " ".join(plugins))


async def serve(config: Config) -> int:
    loop = asyncio.get_running_loop()
    hub = await loop.run_in_executor(None, connect, config)
    log.info("logged in to %s", config.server)
    runner = TaskRunner(runner_settings(config))
    if runner.layout.version == 1:
        log.warning("this host has cgroup v1: memory limits are MemoryLimit=, and an OOM "
                    "kill is recognized by the kernel's fail counter")
    worker = Worker(config, hub, runner)
    await worker.start()

    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # `adjutant cancel`: a request is waiting (worker/requests.py); poll now
    loop.add_signal_handler(signal.SIGUSR1, worker.wake)
    notify("READY=1", "STATUS=started")

    async def keep_systemd_informed() -> None:
        interval = watchdog_interval()
        period = min(STATUS_INTERVAL, interval) if interval else STATUS_INTERVAL
        while True:
            lines = [f"STATUS={worker.status_line()}"]
            if interval:
                lines.append("WATCHDOG=1")
            notify(*lines)
            await asyncio.sleep(period)

    informer = asyncio.ensure_future(keep_systemd_informed())
    try:
        await worker.run(stop)
    finally:
        notify("STOPPING=1", "STATUS=stopping; task units keep running")
        informer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await informer
        await worker.shutdown()
        with contextlib.suppress(Exception):
            await hub.call("logout")
    if worker.restart_pending:
        log.info("re-executing for a restart task; task units keep running")
        return RESTART
    log.info("stopped; task units keep running")
    return 0


def reexecute() -> None:
    """The same daemon again, in this process (systemd keeps its main PID)."""
    import os
    import sys

    os.execv(sys.executable, [sys.executable, "-m", "adjutant", *sys.argv[1:]])


async def drain(config: Config) -> int:
    """Stop every task of this host and give it back to the hub."""
    loop = asyncio.get_running_loop()
    hub = await loop.run_in_executor(None, connect, config)
    runner = TaskRunner(runner_settings(config))
    worker = Worker(config, hub, runner)
    await worker.start()
    await worker.deliver_outbox()  # finished tasks are reported, not freed
    open_here = [int(t["id"]) for t in await hub.call("host.getHostTasks")]
    for task_id in sorted(set(runner.known()) | set(open_here)):
        await worker.abandon(task_id, "drained")
    if open_here:
        await hub.call("host.freeTasks", open_here)
    await hub.call("host.updateHost", 0.0, False, data=worker.host_data())
    await runner.close()
    with contextlib.suppress(Exception):
        await hub.call("logout")
    print(f"drained: {len(open_here)} task(s) freed" + (
        f" ({', '.join(map(str, open_here))})" if open_here else ""))
    return 0
