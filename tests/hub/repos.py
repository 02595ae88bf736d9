"""Repos on demand on the emulated hub, after kojihub/repos.py (koji 1.35-1.36:
RepoQueueQuery, convert_repo_opts, get_repo, old_get_repo, request_repo,
default_min_event, check_repo_request, repo_done_hook; RepoExports is
registered as repo.<name>).

A request waits in repo_queue.  The hub's scheduler (check_repo_queue) would
make a newRepo task for it; the emulator makes none: a test makes the repo
(HubAdmin.add_repo, set_repo_state READY), and repo_done_hook then gives the
matching requests their repo, as repo_set_state(READY) does on the hub.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any, Optional

import koji

from tests.hub import builds, state, tagging

# hub.conf defaults (kojixmlrpc config_map): RepoLag, RepoLagWindow, EnableMaven
REPO_LAG = 3600
REPO_LAG_WINDOW = 600
ENABLE_MAVEN = False

ALL_OPTS = ("src", "debuginfo", "separate_src", "maven")


def convert_repo_opts(opts: Any, strict: bool = False) -> dict:
    """repos.convert_repo_opts: the known options as bools (None: unset)."""
    if opts is None:
        return {}
    if not isinstance(opts, dict):
        if strict:
            raise koji.ParameterError("Repo opts must be a dictionary")
        return {}
    new_opts = {}
    for key in opts:
        if key not in ALL_OPTS:
            if strict:
                raise koji.ParameterError(f"Invalid repo option: {key}")
            continue
        if opts[key] is None:
            continue
        new_opts[key] = state.convert_value(opts[key], cast=bool)
    return new_opts


def _contains(big: Optional[dict], small: Optional[dict]) -> bool:
    """jsonb @> for flat objects (NULL contains nothing)."""
    if big is None or small is None:
        return False
    return all(key in big and big[key] == value for key, value in small.items())


def _tag_id(conn: sqlite3.Connection, tag: Any) -> int:
    """kojihub.get_tag_id(tag, strict=True)."""
    return builds.lookup_name(conn, "tags", tag, strict=True)["id"]


def get_repo(conn: sqlite3.Connection, tag: Any, min_event: Any = None, at_event: Any = None,
             opts: Any = None) -> Optional[dict]:
    """repos.get_repo (repo.get): the newest READY, non-dist repo of the tag
    with every asked option and no custom option not asked for, made at
    at_event, or at or after min_event."""
    tag_id = _tag_id(conn, tag)
    min_event = state.convert_value(min_event, cast=int, none_allowed=True)
    at_event = state.convert_value(at_event, cast=int, none_allowed=True)
    opts = convert_repo_opts(opts, strict=True)
    sql = "SELECT * FROM repos WHERE tag_id = ? AND dist = 0 AND state = ?"
    params: list = [tag_id, koji.REPO_READY]
    if at_event is not None:
        sql += " AND create_event = ?"
        params.append(at_event)
    elif min_event is not None:
        sql += " AND create_event >= ?"
        params.append(min_event)
    for row in conn.execute(sql + " ORDER BY create_event DESC, id DESC", params):
        repo_opts = None if row["opts"] is None else json.loads(row["opts"])
        custom = None if row["custom_opts"] is None else json.loads(row["custom_opts"])
        if _contains(repo_opts, opts) and _contains(opts, custom):
            return builds.repo_info(conn, row["id"])
    return None


def old_get_repo(conn: sqlite3.Connection, tag: Any, *, repo_state: Any = None,
                 event: Any = None, dist: Any = False, min_event: Any = None) -> Optional[dict]:
    """repos.old_get_repo (getRepo): the newest repo of the tag in the state
    (READY by default); with an event, the newest made at or before it, in
    any state."""
    tag_id = _tag_id(conn, tag)
    repo_state = state.convert_value(repo_state, cast=int, none_allowed=True)
    event = state.convert_value(event, cast=int, none_allowed=True)
    min_event = state.convert_value(min_event, cast=int, none_allowed=True)
    dist = state.convert_value(dist, cast=bool)
    sql = "SELECT id FROM repos WHERE tag_id = ? AND dist = ?"
    params: list = [tag_id, int(dist)]
    if event:
        sql += " AND create_event <= ?"
        params.append(event)
    else:
        sql += " AND state = ?"
        params.append(koji.REPO_READY if repo_state is None else repo_state)
    if min_event is not None:
        sql += " AND create_event >= ?"
        params.append(min_event)
    row = conn.execute(sql + " ORDER BY creation_ts DESC, id DESC LIMIT 1", params).fetchone()
    return None if row is None else builds.repo_info(conn, row["id"])


# -- the repo queue (RepoQueueQuery, request_repo, check_repo_request) --------------

def queue_entry(conn: sqlite3.Connection, req_id: int) -> Optional[dict]:
    """A repo_queue row with RepoQueueQuery's fields ('**')."""
    row = conn.execute(
        "SELECT q.*, u.name AS owner_name, t.name AS tag_name, k.state AS task_state"
        " FROM repo_queue q JOIN users u ON u.id = q.owner JOIN tags t ON t.id = q.tag_id"
        " LEFT JOIN tasks k ON k.id = q.task_id WHERE q.id = ?", (req_id,)).fetchone()
    if row is None:
        return None
    return {
        "id": row["id"], "create_time": state.ts_to_str(row["create_ts"]),
        "create_ts": row["create_ts"], "owner": row["owner"], "owner_name": row["owner_name"],
        "priority": row["priority"], "tag_id": row["tag_id"], "tag_name": row["tag_name"],
        "at_event": row["at_event"], "min_event": row["min_event"],
        "opts": json.loads(row["opts"]), "update_time": state.ts_to_str(row["update_ts"]),
        "update_ts": row["update_ts"], "active": bool(row["active"]),
        "task_id": row["task_id"], "task_state": row["task_state"], "tries": row["tries"],
        "repo_id": row["repo_id"],
    }


def _event_exists(conn: sqlite3.Connection, event_id: int) -> bool:
    """RootExports.getEvent(event, strict=False)."""
    return conn.execute("SELECT 1 FROM events WHERE id = ?", (event_id,)).fetchone() is not None


def default_min_event(conn: sqlite3.Connection, taginfo: dict) -> int:
    """repos.default_min_event: the tag's last change, or (if the tag changed
    recently) the last event before now - RepoLag (the tag's repo.lag extra),
    rounded down to RepoLagWindow; for a young hub, the tag's first event."""
    last = tagging.tag_last_change_event(conn, taginfo["id"])
    lag = taginfo["extra"].get("repo.lag")
    if lag is not None and not isinstance(lag, int):
        lag = None
    if lag is None:
        lag = REPO_LAG
    base_ts = (time.time() - lag) // REPO_LAG_WINDOW * REPO_LAG_WINDOW
    base_ev = builds.last_event(conn, before=base_ts, strict=False)
    base = base_ev["id"] if base_ev else tagging.tag_first_change_event(conn, taginfo["id"])
    return min(base, last)


def request_repo(conn: sqlite3.Connection, session: Any, tag: Any, *,  # noqa: PLR0912
                 min_event: Any = None, at_event: Any = None, opts: Any = None,
                 priority: Any = None, force: bool = False) -> dict:
    """repos.request_repo (repo.request): {repo, request, duplicate}.  A
    matching READY repo is returned (unless force); else an active request
    with the same options and a min_event at least this one's (or the same
    at_event) is returned as a duplicate (its priority raised if asked);
    else a new request is queued.  min_event "last" is the tag's last
    change; None is default_min_event."""
    session.assert_login()
    taginfo = builds.get_tag(conn, tag, strict=True)
    opts = convert_repo_opts(opts, strict=True)
    if opts.get("maven") and not ENABLE_MAVEN:
        raise koji.GenericError("Maven support not enabled")
    if at_event is not None:
        if min_event is not None:
            raise koji.ParameterError("The min_event and at_event options conflict")
        at_event = state.convert_value(at_event, cast=int)
        if not _event_exists(conn, at_event):
            raise koji.ParameterError(f"Invalid event: {at_event}")
    elif min_event == "last":
        min_event = tagging.tag_last_change_event(conn, taginfo["id"])
    elif min_event is None:
        min_event = default_min_event(conn, taginfo)
    else:
        min_event = state.convert_value(min_event, cast=int)
        if not _event_exists(conn, min_event):
            raise koji.ParameterError(f"Invalid event: {min_event}")
    if priority is None:
        priority = koji.PRIO_DEFAULT
    else:
        priority = state.convert_value(priority, cast=int)
        if priority < 0 and not session.has_perm("admin"):
            raise koji.ActionNotAllowed("only admins may create high-priority requests")
        priority = koji.PRIO_DEFAULT + priority
    ret: dict = {"repo": None, "request": None, "duplicate": False}
    if not force:
        repo = get_repo(conn, taginfo["id"], min_event=min_event, at_event=at_event, opts=opts)
        if repo:
            ret["repo"] = repo
            return ret
    sql = "SELECT id, opts, priority FROM repo_queue WHERE tag_id = ? AND active = 1"
    params: list = [taginfo["id"]]
    if at_event is not None:
        sql += " AND at_event = ?"
        params.append(at_event)
    else:
        sql += " AND min_event >= ?"
        params.append(min_event)
    for row in conn.execute(sql + " ORDER BY priority, id", params).fetchall():
        if json.loads(row["opts"]) != opts:
            continue
        if row["priority"] > priority:
            conn.execute("UPDATE repo_queue SET priority = ? WHERE id = ?", (priority, row["id"]))
        ret["request"] = queue_entry(conn, row["id"])
        ret["duplicate"] = True
        return ret
    now = state.now()
    cur = conn.execute(
        "INSERT INTO repo_queue (create_ts, owner, priority, tag_id, at_event, min_event, opts,"
        " update_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (now, session.user_id, priority, taginfo["id"], at_event, min_event, json.dumps(opts),
         now))
    ret["request"] = queue_entry(conn, int(cur.lastrowid))
    return ret


def check_repo_request(conn: sqlite3.Connection, req_id: Any) -> dict:
    """repos.check_repo_request (repo.checkRequest): {repo, request}, plus task
    while a task makes the repo."""
    req_id = state.convert_value(req_id, cast=int)
    req = queue_entry(conn, req_id)
    if not req:
        raise koji.GenericError("No such request")
    ret: dict = {"repo": None, "request": req}
    if req["repo_id"]:
        ret["repo"] = builds.repo_info(conn, req["repo_id"])
    elif req["task_id"]:
        row = state.get_task_row(conn, req["task_id"])
        ret["task"] = None if row is None else state.task_info(row)
    return ret


def repo_done_hook(conn: sqlite3.Connection, repo_id: int) -> list:
    """repos.repo_done_hook: a READY (non-dist) repo satisfies the tag's active
    requests whose options it has and whose options include its custom ones,
    made at their at_event or at or after their min_event.  Returns their
    ids."""
    repo = builds.repo_info(conn, repo_id, strict=True)
    if repo["dist"] or repo["opts"] is None or repo["custom_opts"] is None:
        return []
    done = []
    for row in conn.execute("SELECT * FROM repo_queue WHERE tag_id = ? AND active = 1 AND"
                            " repo_id IS NULL ORDER BY id", (repo["tag_id"],)).fetchall():
        req_opts = json.loads(row["opts"])
        if not (_contains(repo["opts"], req_opts) and _contains(req_opts, repo["custom_opts"])):
            continue
        if (row["min_event"] is not None and row["min_event"] <= repo["create_event"]) or \
                row["at_event"] == repo["create_event"]:
            done.append(row["id"])
    for req_id in done:
        conn.execute("UPDATE repo_queue SET repo_id = ?, active = 0, update_ts = ? WHERE id = ?",
                     (repo_id, state.now(), req_id))
    return done
