"""restart, restartVerify and restartHosts (`koji restart-hosts`), as
koji.tasks' RestartTask, RestartVerifyTask and RestartHostsTask.

kojid's graceful restart waits until its builds are done, since they die
with it.  adjutant's builds run in their own units and survive the daemon:
here a restart re-executes the daemon at once, once the restart task's
result is with the hub, and the new process carries on with every task
(the restartHosts parent among them).  restartVerify then checks that the
daemon running it started after the restart task closed."""

from __future__ import annotations

import time
from typing import Any, Optional

from adjutant.tasks.base import TaskHandler

RESTART_HOSTS_TIMEOUT = 24 * 3600  # kojid's default, in the options as 'timeout'


class RestartHandler(TaskHandler):
    methods = ("restart",)
    weight = 0.1

    async def handle(self, host: dict[str, Any]) -> str:
        import koji

        ctx = self.ctx
        if host["id"] != await ctx.hub.call("host.getID"):
            raise koji.GenericError("Host mismatch")
        if ctx.request_restart is None:
            raise koji.GenericError("this daemon cannot restart itself")
        ctx.request_restart()
        return "graceful restart initiated"


class RestartVerifyHandler(TaskHandler):
    methods = ("restartVerify",)
    weight = 0.1

    async def handle(self, task_id: int, host: dict[str, Any]) -> None:
        import koji

        ctx = self.ctx
        info = await ctx.hub.call("getTaskInfo", task_id)
        state = koji.TASK_STATES[info["state"]]
        if state != "CLOSED":
            raise koji.GenericError(f"Stage one restart task is {state}")
        if host["id"] != await ctx.hub.call("host.getID"):
            raise koji.GenericError("Host mismatch")
        if ctx.daemon_started < float(info["completion_ts"]):
            started = time.asctime(time.localtime(ctx.daemon_started))
            raise koji.GenericError(f"Restart failed - start time is {started}")


class RestartHostsHandler(TaskHandler):
    methods = ("restartHosts",)
    weight = 0.1

    async def handle(self, options: Optional[dict[str, Any]] = None) -> None:
        import koji

        ctx, hub = self.ctx, self.ctx.hub
        options = options or {}
        query: dict[str, Any] = {"enabled": True}
        if "channel" in options:
            query["channelID"] = (await hub.call("getChannel", options["channel"],
                                                 strict=True))["id"]
        if "arches" in options:
            query["arches"] = options["arches"]
        hosts = await hub.call("listHosts", **query)
        if not hosts:
            raise koji.GenericError("No matching hosts")
        this_host = await hub.call("host.getID")
        subtasks: list[int] = []
        mine: Optional[list[int]] = None
        for host in hosts:
            # as kojid: an assigned task bypasses the channel
            first = await ctx.subtask("restart", [host], label=f"restart {host['id']}",
                                      assign=host["id"])
            second = await ctx.subtask("restartVerify", [first, host],
                                       label=f"sleep {host['id']}", assign=host["id"])
            subtasks += [first, second]
            if host["id"] == this_host:
                mine = [first, second]
        # this host's restart re-executes the daemon; the new one resumes this
        # task here and finds its restart done (kojid frees it instead)
        if mine:
            await ctx.wait([mine[0]], all=True)
        await ctx.wait(subtasks, all=True)
