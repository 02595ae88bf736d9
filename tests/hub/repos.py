"""Repos on the emulated hub, after kojihub/repos.py and kojihub.py (koji
1.35-1.36: RepoQueueQuery, convert_repo_opts, get_repo_opts, get_repo,
old_get_repo, request_repo, default_min_event, check_repo_request,
repo_done_hook, symlink_if_latest, check_repo_queue, repo_queue_task;
kojihub repo_init, repo_set_state, HostExports.repoDone, RootExports.newRepo;
RepoExports is registered as repo.<name>).

A request waits in repo_queue until kojira calls repo.checkQueue
(check_repo_queue), which makes a newRepo task for it (a test plays kojira:
repo.checkQueue or HubAdmin.check_repo_queue); the task's host.repoInit
writes the repo directory from the tag's content, host.repoDone moves the
uploaded repodata in and makes the repo READY, and repo_done_hook gives the
matching requests their repo.  A test may also make a repo directly
(HubAdmin.add_repo, set_repo_state READY).

Repo directories are laid out by write_repo_dir, as kojihub.repo_init lays
them out (koji.pathinfo):

    <topdir>/repos/<tag>/<repo_id>/repo.json
    <topdir>/repos/<tag>/<repo_id>/groups/comps.xml    (koji.generate_comps)
    <topdir>/repos/<tag>/<repo_id>/<arch>/{pkglist,rpmlist.jsonl,blocklist}
    <topdir>/repos/<tag>/<repo_id>/<arch>/toplink -> ../../../..   (= topdir)
    <topdir>/repos/<tag>/latest -> <repo_id>      (symlink_if_latest)
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import sqlite3
import time
import xmlrpc.client
from typing import Any, Callable, Optional

import koji

from tests.hub import builds, state, tagging

# hub.conf defaults (kojixmlrpc config_map): RepoLag, RepoLagWindow, EnableMaven
REPO_LAG = 3600
REPO_LAG_WINDOW = 600
ENABLE_MAVEN = False

ALL_OPTS = ("src", "debuginfo", "separate_src", "maven")

# more hub.conf defaults (kojixmlrpc config_map, koji 1.36): DebuginfoTags,
# SourceTags, SeparateSourceTags, AllowNewRepo, MaxRepoTasks,
# MaxRepoTasksMaven, RepoRetries, RequestCleanTime (minutes), RepoQueueUser
DEBUGINFO_TAGS = ""
SOURCE_TAGS = ""
SEPARATE_SOURCE_TAGS = ""
ALLOW_NEW_REPO = True
MAX_REPO_TASKS = 10
MAX_REPO_TASKS_MAVEN = 2
REPO_RETRIES = 3
REQUEST_CLEAN_TIME = 60 * 24
REPO_QUEUE_USER = "kojira"


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


# -- repo options (repos.get_repo_opts) ------------------------------------------------

def get_repo_opts(taginfo: dict, override: Any = None) -> tuple:
    """repos.get_repo_opts: (opts, custom).  The defaults (all off), turned on
    by hub.conf's DebuginfoTags/SourceTags/SeparateSourceTags patterns (empty
    here), then the tag's repo.opts extra (or its legacy with_debuginfo),
    maven off (EnableMaven is off); custom is the overrides that differ."""
    opts = {"src": False, "debuginfo": False, "separate_src": False, "maven": False}
    for key, patterns in (("debuginfo", DEBUGINFO_TAGS), ("src", SOURCE_TAGS),
                          ("separate_src", SEPARATE_SOURCE_TAGS)):
        if any(fnmatch.fnmatch(taginfo["name"], pat) for pat in patterns.split()):
            opts[key] = True
    tag_opts = taginfo["extra"].get("repo.opts", {})
    if "with_debuginfo" in taginfo["extra"] and "repo.opts" not in taginfo["extra"]:
        tag_opts = dict(tag_opts, debuginfo=bool(taginfo["extra"]["with_debuginfo"]))
    opts.update(convert_repo_opts(tag_opts, strict=False))
    opts["maven"] = False  # EnableMaven off: a maven override is refused by repo_init
    custom: dict = {}
    if override is not None:
        override = convert_repo_opts(override)
        custom = {k: v for k, v in override.items() if v != opts[k]}
        opts.update(custom)
    return opts, custom


def repo_arches(taginfo: dict, opts: dict, arches: Optional[list] = None) -> list:
    """kojihub.repo_init: src first (separate_src), then the canonical arches of
    the tag (or those given), without src and noarch, each once."""
    if arches is None:
        arches = (taginfo["arches"] or "").split()
    result = ["src"] if opts["separate_src"] else []
    for canon in (koji.canonArch(arch) for arch in arches):
        if canon not in ("src", "noarch") and canon not in result:
            result.append(canon)
    return result


# -- repo rows and directories (kojihub.repo_init, repo_set_state) --------------------

def insert_repo(conn: sqlite3.Connection, tag_id: int, event_id: int, *, repo_state: int,
                task_id: Optional[int], opts: dict, custom: dict) -> int:
    """kojihub.repo_init's insert: the repo at the event, with begin_event (the
    tag's last change before it, else the event) and end_event (its first
    change after it, None if unchanged)."""
    begin = tagging.tag_last_change_event(conn, tag_id, before=event_id) or event_id
    end = tagging.tag_first_change_event(conn, tag_id, after=event_id)
    now = state.now()
    cur = conn.execute(
        "INSERT INTO repos (tag_id, state, create_event, creation_ts, state_ts, begin_event,"
        " end_event, dist, task_id, opts, custom_opts) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)",
        (tag_id, repo_state, event_id, now, now, begin, end, task_id, json.dumps(opts),
         json.dumps(custom)))
    return int(cur.lastrowid)


def repo_path(topdir: str, tag_name: str, repo_id: Any) -> str:
    """koji.pathinfo.repo: <topdir>/repos/<tag>/<repo_id>."""
    return os.path.join(topdir, "repos", tag_name, str(repo_id))


def _targets(rpminfo: dict, arches: list, opts: dict) -> list:
    """repo_init: the arch directories an rpm is listed in.  A source rpm goes
    to every arch with src (and to src again with separate_src, as the hub
    writes it), noarch to every arch but src, others to their canonical
    arch if the repo has it."""
    arch = rpminfo["arch"]
    if arch == "src":
        return (list(arches) if opts["src"] else []) + (["src"] if opts["separate_src"] else [])
    if arch == "noarch":
        return [a for a in arches if a != "src"]
    arch = koji.canonArch(arch)
    return [arch] if arch in arches else []


def write_repo_dir(topdir: str, taginfo: dict, repo_id: int, *, event_id: int,
                   task_id: Optional[int], arches: list, rpms: list, builds_by_id: dict,
                   opts: dict, custom: dict, groups: list, blocked: list) -> str:
    """kojihub.repo_init's files: groups/comps.xml (koji.generate_comps of the
    tag's groups, groups expanded), repo.json, and per arch a toplink to
    topdir, pkglist (toplink/<build dir>/<rpm path> per rpm), rpmlist.jsonl
    (the rpm as readTaggedRPMS gives it, one json line) and blocklist (the
    blocked package names).  debuginfo rpms only with opts debuginfo.  The
    directory must not exist yet.  Returns it."""
    repodir = repo_path(topdir, taginfo["name"], repo_id)
    os.makedirs(repodir)  # should not already exist
    os.makedirs(os.path.join(repodir, "groups"))
    with open(os.path.join(repodir, "groups", "comps.xml"), "w", encoding="utf-8") as fo:
        fo.write(koji.generate_comps(groups, expand_groups=True))
    info = {"id": repo_id, "tag": taginfo["name"], "tag_id": taginfo["id"], "task_id": task_id,
            "event_id": event_id, "opts": opts, "custom_opts": custom,
            "with_src": opts["src"], "with_separate_src": opts["separate_src"],
            "with_debuginfo": opts["debuginfo"]}
    with open(os.path.join(repodir, "repo.json"), "w", encoding="utf-8") as fo:
        json.dump(info, fo, indent=2)
    relpathinfo = koji.PathInfo(topdir="toplink")
    pkglist: dict = {arch: [] for arch in arches}
    rpmlist: dict = {arch: [] for arch in arches}
    for rpminfo in rpms:
        if not opts["debuginfo"] and koji.is_debuginfo(rpminfo["name"]):
            continue
        builddir = relpathinfo.build(builds_by_id[rpminfo["build_id"]]).lstrip("/")
        relpath = f"{builddir}/{relpathinfo.rpm(rpminfo)}\n"
        line = json.dumps(rpminfo, indent=None) + "\n"
        for arch in _targets(rpminfo, arches, opts):
            pkglist[arch].append(relpath)
            rpmlist[arch].append(line)
    for arch in arches:
        archdir = os.path.join(repodir, arch)
        os.makedirs(archdir)
        os.symlink(os.path.relpath(topdir, archdir), os.path.join(archdir, "toplink"))
        for name, lines in (("pkglist", pkglist[arch]), ("rpmlist.jsonl", rpmlist[arch]),
                            ("blocklist", [f"{pkg}\n" for pkg in blocked])):
            with open(os.path.join(archdir, name), "w", encoding="utf-8") as fo:
                fo.write("".join(lines))
    return repodir


def repo_init(conn: sqlite3.Connection, topdir: str, tag: Any, *, task_id: Any = None,
              event: Any = None, opts: Any = None) -> list:
    """kojihub.repo_init: a repo in INIT for the tag at the event (a new one if
    None; a given one must exist) with get_repo_opts' options, and its
    directory from the tag's content then: the latest builds' rpms with
    inheritance (all tagged builds with the repo_include_all extra), the
    groups with inheritance, the packages blocked (inherited too).  Returns
    [repo_id, event_id]."""
    task_id = state.convert_value(task_id, cast=int, none_allowed=True)
    event = state.convert_value(event, cast=int, none_allowed=True)
    tinfo = builds.get_tag(conn, tag, strict=True, event=event)
    opts, custom = get_repo_opts(tinfo, override=opts)
    arches = repo_arches(tinfo, opts)
    if event is None:
        event_id = state.new_event(conn)
    elif not _event_exists(conn, event):
        raise koji.GenericError("query returned no rows")
    else:
        event_id = event
    if opts["maven"]:
        # the hub refuses this after writing the directory; the emulator before
        # (a rolled-back repo id is used again here, a Postgres sequence's is not)
        raise koji.GenericError("Maven support not enabled")
    repo_id = insert_repo(conn, tinfo["id"], event_id, repo_state=koji.REPO_INIT,
                          task_id=task_id, opts=opts, custom=custom)
    latest = not tinfo["extra"].get("repo_include_all", False)
    rpms, tagged = tagging.read_tagged_rpms(conn, tinfo["id"], event=event_id, inherit=True,
                                            latest=latest)
    groups = tagging.read_tag_groups(conn, tinfo["id"], event=event_id, inherit=True)
    blocked = [pkg["package_name"] for pkg in tagging.read_package_list(
        conn, tag_id=tinfo["id"], event=event_id, inherit=True, with_owners=False).values()
        if pkg["blocked"]]
    write_repo_dir(topdir, tinfo, repo_id, event_id=event_id, task_id=task_id, arches=arches,
                   rpms=rpms, builds_by_id={b["build_id"]: b for b in tagged}, opts=opts,
                   custom=custom, groups=groups, blocked=blocked)
    return [repo_id, event_id]


def simple_groups(groups: dict) -> list:
    """{group: [package, ...]} as readTagGroups gives groups added with
    groupListAdd and groupPackageListAdd's defaults (for HubAdmin.add_repo)."""
    return [{"name": name, "group_id": None, "tag_id": None, "blocked": False,
             "exported": True, "display_name": name, "is_default": None, "uservisible": True,
             "description": None, "langonly": None, "biarchonly": False, "grouplist": [],
             "packagelist": [{"package": pkg, "type": "mandatory", "basearchonly": None,
                              "requires": None, "blocked": False} for pkg in packages]}
            for name, packages in groups.items()]


def repo_set_state(conn: sqlite3.Connection, repo_id: Any, new_state: Any) -> None:
    """kojihub.repo_set_state (check=True): states only move forward (DELETED
    excepted, which is final); the same state again is a no-op; READY runs
    repo_done_hook."""
    repo_id = state.convert_value(repo_id, cast=int)
    try:
        name = koji.REPO_STATES[new_state]
    except (IndexError, KeyError, TypeError):
        raise koji.ParameterError(f"Unknown repo state: {new_state}") from None
    row = conn.execute("SELECT state FROM repos WHERE id = ?", (repo_id,)).fetchone()
    if row is None:
        raise koji.GenericError("query returned no rows")
    old = row["state"]
    if old > new_state and new_state != koji.REPO_DELETED:
        raise koji.GenericError(f"Invalid repo state transition for repo {repo_id}:"
                                f" {koji.REPO_STATES[old]} -> {name}")
    if old == new_state:
        return
    if old == koji.REPO_DELETED:
        raise koji.GenericError(f"Repo {repo_id} is deleted")
    conn.execute("UPDATE repos SET state = ?, state_ts = ? WHERE id = ?",
                 (new_state, state.now(), repo_id))
    if new_state == koji.REPO_READY:
        repo_done_hook(conn, repo_id)


def latest_link(topdir: str, tag_name: str, repo_id: int) -> None:
    """The tag's latest symlink -> <repo_id> (relative)."""
    link = os.path.join(topdir, "repos", tag_name, "latest")
    if os.path.lexists(link):
        os.unlink(link)
    os.symlink(str(repo_id), link)


def symlink_if_latest(conn: sqlite3.Connection, topdir: str, repo: dict) -> bool:
    """repos.symlink_if_latest: a (non-dist) repo with no custom options
    becomes the tag's latest unless a newer READY one without custom options
    exists.  A failure to link is not an error."""
    if repo["custom_opts"] and not repo["dist"]:
        return False
    newer = conn.execute(
        "SELECT 1 FROM repos WHERE tag_id = ? AND state = ? AND create_event > ? AND dist = ?"
        " AND custom_opts = '{}'", (repo["tag_id"], koji.REPO_READY, repo["create_event"],
                                    int(bool(repo["dist"])))).fetchone()
    if newer:
        return False
    try:
        latest_link(topdir, repo["tag_name"], repo["id"])
    except OSError:
        return False
    return True


def _repo_file_name(name: Any) -> str:
    """Not the hub's check (it joins the name as given): a repo file is a plain
    file name, so one cannot reach out of the repo directory."""
    if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
        raise koji.GenericError(f"emulator: invalid repo file name: {name!r} (kojid uploads"
                                " the files of a repodata directory)")
    return name


def _repo_done_moves(topdir: str, repodir: str, data: dict) -> list:
    """HostExports.repoDone's moves, all checked before any is made (the hub
    checks each as it moves it): [(src, dst), ...].  A pkglist file goes to
    the arch directory, the rest to its repodata."""
    moves: list = []
    for arch, (uploadpath, files) in data.items():
        archdir = os.path.join(repodir, koji.canonArch(arch))
        if not os.path.isdir(archdir):
            raise koji.GenericError(f"Repo arch directory missing: {archdir}")
        for fn in files:
            _repo_file_name(fn)
            src = os.path.join(builds.work_path(topdir, uploadpath), fn)
            if fn.endswith("pkglist"):
                dst = os.path.join(archdir, fn)
            else:
                dst = os.path.join(archdir, "repodata", fn)
            if not os.path.exists(src) or any(src == m[0] for m in moves):
                raise koji.GenericError(f"uploaded file missing: {src}")
            if os.path.exists(dst) or any(dst == m[1] for m in moves):
                raise koji.GenericError(f"Destination exists: {dst}")
            if os.path.islink(dst):
                raise koji.GenericError(f"Destination is a symlink: {dst}")
            moves.append((src, dst))
    return moves


def repo_done(conn: sqlite3.Connection, topdir: str, repo_id: Any, data: Any, *,
              expire: bool = False, repo_json_updates: Any = None) -> None:
    """HostExports.repoDone: the repo must be INIT; repo.json gets the updates;
    each arch's uploaded files ({arch: [uploadpath, [file, ...]]}, uploadpath
    under <topdir>/work) move into <arch>/repodata (koji.util.safer_move);
    then the repo is EXPIRED (expire, legacy) or READY (repo_done_hook) and,
    if it is the newest without custom options, the tag's latest.  Older
    READY repos stay READY (1.35+: kojira expires them)."""
    rinfo = builds.repo_info(conn, repo_id, strict=True)
    state.convert_value(data, cast=dict, check_only=True)
    if rinfo["state"] != koji.REPO_INIT:
        raise koji.GenericError("Repo {id} not in INIT state (got {state})".format(**rinfo))
    repodir = repo_path(topdir, rinfo["tag_name"], rinfo["id"])
    moves = [] if rinfo["dist"] else _repo_done_moves(topdir, repodir, data)
    if repo_json_updates:
        json_path = os.path.join(repodir, "repo.json")
        with open(json_path, encoding="utf-8") as fo:
            repo_json = json.load(fo)
        repo_json.update(repo_json_updates)
        with open(json_path, "w", encoding="utf-8") as fo:
            json.dump(repo_json, fo, indent=2)
    for src, dst in moves:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.move(src, dst)
    if expire:
        repo_set_state(conn, rinfo["id"], koji.REPO_EXPIRED)
        return
    repo_set_state(conn, rinfo["id"], koji.REPO_READY)
    symlink_if_latest(conn, topdir, rinfo)


# -- newRepo tasks and kojira's queue check (RootExports.newRepo, check_repo_queue) ----

MakeTask = Callable[..., int]


def ensure_repos_dir(topdir: str) -> None:
    """newRepo / repo_queue_task: <topdir>/repos must exist (hosts refuse a
    newRepo task without it)."""
    os.makedirs(os.path.join(topdir, "repos"), exist_ok=True)


def new_repo_args(conn: sqlite3.Connection, topdir: str, tag: Any, *,
                  event: Any = None, src: Any = False, debuginfo: Any = False,
                  separate_src: Any = False) -> list:
    """RootExports.newRepo's task arguments (the permission check is the
    caller's): the tag must exist (at the event); koji.encode_args(tag as
    given, event=..., src=True, separate_src=True, debuginfo=True) with only
    the options given."""
    if not ALLOW_NEW_REPO:
        raise koji.ActionNotAllowed("newRepo api call is disabled")
    builds.get_tag(conn, tag, strict=True, event=event)
    ensure_repos_dir(topdir)
    opts: dict = {}
    if event is not None:
        opts["event"] = event
    if src:
        opts["src"] = True
    if separate_src:
        opts["separate_src"] = True
    if debuginfo:
        opts["debuginfo"] = True
    return koji.encode_args(tag, **opts)


def repo_queue_task(conn: sqlite3.Connection, topdir: str, req: dict,
                    make_task: MakeTask) -> int:
    """repos.repo_queue_task: newRepo({'id', 'name'} of the tag, opts=the
    request's options[, event=its at_event]), priority 15 in createrepo, owned
    by RepoQueueUser (kojira) if that user exists."""
    opts = convert_repo_opts(req["opts"] or {}, strict=True)
    kwargs: dict = {"opts": opts}
    if req["at_event"] is not None:
        kwargs["event"] = req["at_event"]
    args = koji.encode_args({"id": req["tag_id"], "name": req["tag_name"]}, **kwargs)
    taskopts: dict = {"priority": 15, "channel": "createrepo"}
    user = conn.execute("SELECT id FROM users WHERE name = ?", (REPO_QUEUE_USER,)).fetchone()
    if user is not None:
        taskopts["owner"] = user["id"]
    ensure_repos_dir(topdir)
    return make_task("newRepo", args, **taskopts)


def get_repo_from_task(conn: sqlite3.Connection, task_id: int) -> Optional[dict]:
    """repos.get_repo_from_task: the repo a finished newRepo task reported
    ([repo_id, event_id]), None if there is none."""
    row = state.get_task_row(conn, task_id)
    try:
        (result,), _ = xmlrpc.client.loads(row["result"])
        repo_id = int(result[0])
    except Exception:
        return None
    return builds.repo_info(conn, repo_id)


def valid_repo(req: dict, repo: dict) -> bool:
    """repos.valid_repo: the repo is the request's tag, READY, at its at_event
    (or at or after its min_event), with its options and no custom option it
    did not ask for."""
    if repo["tag_id"] != req["tag_id"] or repo["state"] != koji.REPO_READY:
        return False
    if req["at_event"] is not None:
        if repo["create_event"] != req["at_event"]:
            return False
    elif repo["create_event"] < req["min_event"]:
        return False
    if not repo["opts"]:
        return False
    if any(key not in repo["opts"] or repo["opts"][key] != value
           for key, value in req["opts"].items()):
        return False
    return all(key in req["opts"] and req["opts"][key] == value
               for key, value in (repo["custom_opts"] or {}).items())


def _check_queue_task(conn: sqlite3.Connection, req: dict, updates: dict) -> bool:
    """check_repo_queue's first pass for a request with a task: True while the
    task is active; a CLOSED task's valid repo fulfils the request; a bad
    repo, a CANCELED or FAILED task makes the request ready for a new task
    (or inactive after RepoRetries tries)."""
    retry = False
    if req["task_state"] == state.CLOSED:
        repo = get_repo_from_task(conn, req["task_id"])
        if repo and valid_repo(req, repo):
            updates["repo_id"] = repo["id"]
            updates["active"] = 0
        else:
            retry = True
    elif req["task_state"] in (state.CANCELED, state.FAILED):
        retry = True
    else:
        return True
    if retry:
        if req["tries"] > REPO_RETRIES:
            updates["active"] = 0
        else:
            updates["task_id"] = None
            req["task_id"] = None
    return False


def check_repo_queue(conn: sqlite3.Connection, topdir: str, make_task: MakeTask) -> None:
    """repos.check_repo_queue (repo.checkQueue, kojira's call): the active
    requests without a repo, by priority then id.  First their tasks are
    checked (_check_queue_task); then each request without a task gets a
    newRepo task (repo_queue_task), at most MaxRepoTasks active in all and
    MaxRepoTasksMaven for maven ones; the changes are recorded (update_ts),
    and then old inactive requests are cleaned (clean_repo_queue)."""
    rows = conn.execute("SELECT id FROM repo_queue WHERE repo_id IS NULL AND active = 1"
                        " ORDER BY priority, id").fetchall()
    waiting = [queue_entry(conn, row["id"]) for row in rows]
    n_tasks = n_maven = 0
    q_updates: dict = {}
    for req in waiting:
        updates = q_updates.setdefault(req["id"], {})
        if req["task_id"] and _check_queue_task(conn, req, updates):
            n_tasks += 1
            n_maven += 1 if req["opts"].get("maven") else 0
    for req in waiting:
        if req["task_id"]:
            continue
        if n_tasks >= MAX_REPO_TASKS:
            break
        if req["opts"].get("maven") and n_maven >= MAX_REPO_TASKS_MAVEN:
            continue
        task_id = repo_queue_task(conn, topdir, req, make_task)
        n_tasks += 1
        n_maven += 1 if req["opts"].get("maven") else 0
        q_updates[req["id"]].update(task_id=task_id, tries=(req["tries"] or 0) + 1)
    made_updates = False
    for req_id, updates in q_updates.items():
        if not updates:
            continue
        made_updates = True
        sets = ", ".join(f"{key} = ?" for key in updates)
        conn.execute(f"UPDATE repo_queue SET {sets}, update_ts = ? WHERE id = ?",
                     (*updates.values(), state.now(), req_id))
    if made_updates:
        clean_repo_queue(conn)


def clean_repo_queue(conn: sqlite3.Connection) -> int:
    """repos.clean_repo_queue: inactive requests older than RequestCleanTime go."""
    cur = conn.execute("DELETE FROM repo_queue WHERE active = 0 AND update_ts < ?",
                       (state.now() - REQUEST_CLEAN_TIME * 60,))
    return cur.rowcount
