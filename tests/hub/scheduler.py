"""The task scheduler, simplified from kojihub/scheduler.py (koji 1.34-1.36).

kojihub/scheduler.py get_tasks_for_host: host.getTasks returns the host's
ASSIGNED tasks by priority then create time; when there are none, it runs
TaskScheduler().run() and queries again.  TaskScheduler.run:

- check_ts: at most once per RunInterval (the emulator's --run-interval);
- check_hosts: a ready host whose last updateHost is older than ReadyTimeout
  (180 s) is marked not ready;
- do_schedule: bins "channel:arch" (a host has each of its arches plus noarch
  in each of its channels); a FREE task (priority, create order) goes to the
  best-ranked host of its bin that is ready, has fewer than maxjobs tasks and
  whose capacity minus load exceeds weight - CapacityOvercommit, and that did
  not refuse it;
- check_active_tasks: an ASSIGNED task not opened within AssignTimeout (300 s)
  is freed (an implicit refusal if the host checked in since); an OPEN task
  whose host has not checked in for HostTimeout (900 s) is freed.

Simplifications: no db_lock (the emulator runs the scheduler inside the
calling request's write transaction, which already excludes every other
writer) and no scheduler_log_messages.
"""

from __future__ import annotations

import time

from tests.hub import state
from tests.hub.context import Context


def tasks_for_host(ctx: Context, host_id: int, retry: bool = True) -> list:
    """scheduler.get_tasks_for_host."""

    def query() -> list:
        rows = ctx.query(
            "SELECT id, state, channel_id, host_id, arch, method, priority, create_ts"
            " FROM tasks WHERE host_id = ? AND state = ? ORDER BY priority, create_ts, id",
            (host_id, state.ASSIGNED))
        return [dict(row) for row in rows]

    tasks = query()
    if not tasks and retry and ctx.opts.scheduler:
        run(ctx)
        tasks = query()
    return tasks


def set_refusal(ctx: Context, host_id: int, task_id: int, *, soft: bool = True,
                by_host: bool = False, msg: str = "") -> None:
    """scheduler.set_refusal: one row per (task, host), replaced on a new refusal."""
    ctx.write(
        "INSERT INTO refusals (task_id, host_id, by_host, soft, msg, ts) VALUES (?,?,?,?,?,?)"
        " ON CONFLICT(task_id, host_id) DO UPDATE SET by_host = excluded.by_host,"
        " soft = excluded.soft, msg = excluded.msg, ts = excluded.ts",
        (task_id, host_id, int(by_host), int(soft), msg, state.now()))


def run(ctx: Context, force: bool = False) -> bool:
    """TaskScheduler.run."""
    if not force and not _check_ts(ctx):
        return False
    free_tasks, active_tasks = _get_tasks(ctx)
    hosts, hosts_by_bin = _get_hosts(ctx)
    _check_hosts(ctx, hosts)
    _do_schedule(ctx, free_tasks, active_tasks, hosts, hosts_by_bin)
    _check_active_tasks(ctx, active_tasks, hosts)
    return True


def _check_ts(ctx: Context) -> bool:
    last = float(state.get_sys(ctx.conn, "last_run_ts") or 0)
    now = time.time()
    delta = now - last
    if 0 <= delta < ctx.opts.run_interval:
        return False
    ctx.dirty = True
    state.set_sys(ctx.conn, "last_run_ts", repr(now))
    return delta >= 0


def _get_tasks(ctx: Context) -> tuple:
    fields = ("id AS task_id, state, waiting, weight, channel_id, host_id, arch, method,"
              " priority, create_ts")
    active = [dict(r) for r in ctx.query(
        f"SELECT {fields} FROM tasks WHERE state IN (?, ?) AND host_id IS NOT NULL",
        (state.ASSIGNED, state.OPEN))]
    free = [dict(r) for r in ctx.query(
        f"SELECT {fields} FROM tasks WHERE state = ? ORDER BY priority, create_ts, id"
        " LIMIT 1000", (state.FREE,))]
    for task in free + active:
        task["_bin"] = "{}:{}".format(task["channel_id"], task["arch"])
    return free, active


def _get_hosts(ctx: Context) -> tuple:
    """Enabled hosts, binned by channel:arch (enabled channels only)."""
    hosts = {}
    hosts_by_bin: dict = {}
    for row in ctx.query("SELECT * FROM hosts WHERE enabled = 1 ORDER BY id"):
        host = state.host_info(row)
        data = state.host_data(row)
        # maxjobs: the host's own value from updateHost(data=) if any, else
        # MaxJobs (reference §1 "Hub scheduler")
        maxjobs = data.get("maxjobs")
        host["_maxjobs"] = (int(maxjobs) if isinstance(maxjobs, (int, float))
                            and not isinstance(maxjobs, bool) else ctx.opts.max_jobs)
        channels = [r["channel_id"] for r in ctx.query(
            "SELECT hc.channel_id FROM host_channels hc JOIN channels c ON c.id = hc.channel_id"
            " WHERE hc.host_id = ? AND c.enabled = 1", (host["id"],))]
        host["channels"] = channels
        hosts[host["id"]] = host
        for chan in channels:
            for arch in [*host["arches"].split(), "noarch"]:
                hosts_by_bin.setdefault(f"{chan}:{arch}", []).append(host)
    return hosts, hosts_by_bin


def _check_hosts(ctx: Context, hosts: dict) -> None:
    now = time.time()
    for host in hosts.values():
        if not host["ready"]:
            continue
        if host["update_ts"] is None or now - host["update_ts"] > ctx.opts.ready_timeout:
            ctx.write("UPDATE hosts SET ready = 0 WHERE id = ?", (host["id"],))
            host["ready"] = False


def _get_refusals(ctx: Context) -> dict:
    """TaskScheduler.get_refusals: drop stale soft refusals and those of settled tasks."""
    cutoff = time.time() - ctx.opts.soft_refusal_timeout
    refusals: dict = {}
    for row in ctx.query("SELECT r.id, r.task_id, r.host_id, r.soft, r.ts, t.state"
                         " FROM refusals r JOIN tasks t ON t.id = r.task_id"):
        if (row["soft"] and row["ts"] < cutoff) or row["state"] not in (
                state.FREE, state.OPEN, state.ASSIGNED):
            ctx.write("DELETE FROM refusals WHERE id = ?", (row["id"],))
        else:
            refusals.setdefault(row["task_id"], set()).add(row["host_id"])
    return refusals


def _rank(host: dict) -> None:
    host["_rank"] = host["_load"] + host["_ntasks"] + host["_demand"]


def _do_schedule(ctx, free_tasks, active_tasks, hosts, hosts_by_bin) -> None:
    overcommit = ctx.opts.capacity_overcommit
    for host in hosts.values():
        host["_load"] = 0.0
        host["_ntasks"] = 0
        host["_demand"] = 0.0
    # load and task count from the active tasks, as kojid's updateTasks counts
    # them: waiting tasks count as tasks but not as load
    for task in active_tasks:
        host = hosts.get(task["host_id"])
        if host is None:
            continue
        if not task["waiting"]:
            host["_load"] += task["weight"]
        host["_ntasks"] += 1
    _candidates(ctx, free_tasks, hosts, hosts_by_bin)
    for task in free_tasks:
        min_avail = task["weight"] - overcommit
        for host in sorted(task["_hosts"], key=lambda h: h["_rank"]):
            if host["capacity"] - host["_load"] > min_avail and host["_ntasks"] < host["_maxjobs"]:
                if assign(ctx, task["task_id"], host["id"]):
                    host["_load"] += task["weight"]
                    host["_ntasks"] += 1
                    _rank(host)
                break


def _candidates(ctx, free_tasks, hosts, hosts_by_bin) -> None:
    """Which hosts may take each free task (its bin, ready, under maxjobs and
    capacity, not refused), and each host's share of the demand."""
    overcommit = ctx.opts.capacity_overcommit
    refusals = _get_refusals(ctx)
    for task in free_tasks:
        # scheduler.py filters with min(0, weight - overcommit) here and assigns
        # with weight - overcommit (in _do_schedule); the second is the binding one
        min_avail = min(0, task["weight"] - overcommit)
        refused = refusals.get(task["task_id"], set())
        task["_hosts"] = [
            host for host in hosts_by_bin.get(task["_bin"], [])
            if host["ready"] and host["_ntasks"] < host["_maxjobs"]
            and host["capacity"] - host["_load"] > min_avail and host["id"] not in refused]
        for host in task["_hosts"]:
            host["_demand"] += task["weight"] / len(task["_hosts"])
    total = sum(h["_demand"] for h in hosts.values())
    for host in hosts.values():
        if total > 0.0:
            host["_demand"] /= total
        _rank(host)


def assign(ctx: Context, task_id: int, host_id: int, force: bool = False,
           override: bool = False) -> bool:
    """TaskScheduler.assign: Task.assign plus a run entry (none for an override)."""
    ctx.dirty = True
    if not state.lock_task(ctx.conn, task_id, host_id, state.ASSIGNED, force=force):
        return False
    ctx.write("UPDATE task_runs SET active = 0 WHERE task_id = ? AND active = 1", (task_id,))
    if not override:
        ctx.write("INSERT INTO task_runs (task_id, host_id, active, create_ts) VALUES (?,?,1,?)",
                  (task_id, host_id, time.time()))
    return True


def _check_active_tasks(ctx: Context, active_tasks: list, hosts: dict) -> None:
    now = time.time()
    runs: dict = {}
    for row in ctx.query("SELECT task_id, create_ts FROM task_runs WHERE active = 1"):
        runs.setdefault(row["task_id"], []).append(row["create_ts"])
    for task in active_tasks:
        host = hosts.get(task["host_id"])
        if host is None:
            continue  # host disabled: left alone, as scheduler.py does
        taskruns = runs.get(task["task_id"])
        if not taskruns:
            continue  # assigned without a run entry: an override, left alone
        if task["state"] == state.ASSIGNED:
            assign_ts = min(taskruns)
            if now - assign_ts > ctx.opts.assign_timeout:
                if host["update_ts"] and host["update_ts"] > assign_ts:
                    # the host checked in but did not take it: an implicit refusal
                    set_refusal(ctx, host["id"], task["task_id"], msg="assignment timeout")
                ctx.dirty = True
                state.free_task(ctx.conn, task["task_id"])
        elif task["state"] == state.OPEN:
            age = now - (host["update_ts"] if host["update_ts"] is not None else min(taskruns))
            if age > ctx.opts.host_timeout:
                ctx.dirty = True
                state.free_task(ctx.conn, task["task_id"])
    # end the runs of tasks that are no longer OPEN or ASSIGNED
    ctx.write("UPDATE task_runs SET active = 0 WHERE active = 1 AND task_id NOT IN"
              " (SELECT id FROM tasks WHERE state IN (?, ?))", (state.OPEN, state.ASSIGNED))
