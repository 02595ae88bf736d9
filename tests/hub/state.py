"""The hub emulator's state: one SQLite file, nothing cached in memory.

The server and the tests' admin side (tests/hub/admin.py) both open this file;
WAL mode and a busy timeout let them work on it at the same time, and the
server can be stopped and started again on the same file.

Column names follow Koji's schema (schemas/schema.sql) where Koji has one; the
timestamps are floats (seconds since the epoch) where Koji has timestamptz.
Booleans are 0/1 (NULL where Koji's column is nullable: task.waiting/awaited,
sessions.exclusive).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import sqlite3
import time
from collections.abc import Iterator
from typing import Any, Callable, Optional

import koji
import koji.xmlrpcplus

# koji.TASK_STATES numbers (FREE 0, OPEN 1, CLOSED 2, CANCELED 3, ASSIGNED 4, FAILED 5)
FREE = koji.TASK_STATES["FREE"]
OPEN = koji.TASK_STATES["OPEN"]
CLOSED = koji.TASK_STATES["CLOSED"]
CANCELED = koji.TASK_STATES["CANCELED"]
ASSIGNED = koji.TASK_STATES["ASSIGNED"]
FAILED = koji.TASK_STATES["FAILED"]
FINISHED_STATES = (CLOSED, CANCELED, FAILED)

USER_NORMAL = koji.USERTYPES["NORMAL"]
USER_HOST = koji.USERTYPES["HOST"]
USER_GROUP = koji.USERTYPES["GROUP"]

ADMIN_USER = "kojiadmin"
ADMIN_PASSWORD = "kojiadmin"

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    name TEXT UNIQUE NOT NULL,
    password TEXT,
    usertype INTEGER NOT NULL DEFAULT 0,      -- koji.USERTYPES: 0 user, 1 host
    status INTEGER NOT NULL DEFAULT 0,        -- koji.USER_STATUS: 0 normal, 1 blocked
    admin INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS channels (
    id INTEGER PRIMARY KEY,
    name TEXT UNIQUE NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS hosts (
    id INTEGER PRIMARY KEY,
    user_id INTEGER UNIQUE NOT NULL REFERENCES users(id),
    name TEXT UNIQUE NOT NULL,
    arches TEXT NOT NULL,
    capacity REAL NOT NULL DEFAULT 2.0,
    enabled INTEGER NOT NULL DEFAULT 1,
    ready INTEGER NOT NULL DEFAULT 0,
    task_load REAL NOT NULL DEFAULT 0.0,
    data TEXT,                                -- JSON: updateHost(..., data=)
    last_update REAL,                         -- Koji: host.update_time
    description TEXT,
    comment TEXT
);
CREATE TABLE IF NOT EXISTS host_channels (
    host_id INTEGER NOT NULL REFERENCES hosts(id),
    channel_id INTEGER NOT NULL REFERENCES channels(id),
    PRIMARY KEY (host_id, channel_id)
);
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users(id),
    hostip TEXT,
    authtype INTEGER,
    master INTEGER REFERENCES sessions(id),   -- set for subsessions
    exclusive INTEGER,                        -- 1 or NULL, as in Koji
    callnum INTEGER,
    expired INTEGER NOT NULL DEFAULT 0,
    closed INTEGER NOT NULL DEFAULT 0,
    start_ts REAL,
    update_ts REAL,
    renew_ts REAL,
    last_method TEXT,                         -- the last call that stored its callnum
    last_result TEXT                          -- and its XML response (diagnostics only:
                                              -- the hub re-executes whitelisted repeats)
);
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY,
    method TEXT NOT NULL,
    request TEXT NOT NULL,                    -- xmlrpcplus.dumps(tuple(arglist), methodname=method)
    state INTEGER NOT NULL,
    owner INTEGER NOT NULL REFERENCES users(id),
    host_id INTEGER REFERENCES hosts(id),
    parent INTEGER REFERENCES tasks(id),
    label TEXT,
    arch TEXT NOT NULL,
    channel_id INTEGER NOT NULL REFERENCES channels(id),
    priority INTEGER NOT NULL,
    weight REAL NOT NULL DEFAULT 1.0,
    waiting INTEGER,
    awaited INTEGER,
    create_ts REAL NOT NULL,
    start_ts REAL,
    completion_ts REAL,
    result TEXT                               -- the XML string from closeTask/failTask
);
CREATE INDEX IF NOT EXISTS tasks_state ON tasks(state);
CREATE INDEX IF NOT EXISTS tasks_parent ON tasks(parent);
CREATE TABLE IF NOT EXISTS task_runs (        -- Koji: scheduler_task_runs
    id INTEGER PRIMARY KEY,
    task_id INTEGER NOT NULL REFERENCES tasks(id),
    host_id INTEGER NOT NULL REFERENCES hosts(id),
    active INTEGER NOT NULL DEFAULT 1,
    create_ts REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS refusals (         -- Koji: scheduler_task_refusals
    id INTEGER PRIMARY KEY,
    task_id INTEGER NOT NULL REFERENCES tasks(id),
    host_id INTEGER NOT NULL REFERENCES hosts(id),
    by_host INTEGER NOT NULL DEFAULT 0,
    soft INTEGER NOT NULL DEFAULT 1,
    msg TEXT,
    ts REAL NOT NULL,
    UNIQUE (task_id, host_id)
);
CREATE TABLE IF NOT EXISTS calls (            -- the call log tests assert on
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    session_id INTEGER,
    user_id INTEGER,
    host_id INTEGER,
    method TEXT,
    callnum INTEGER,
    args TEXT,
    task_ids TEXT,                            -- ",12,13," (the tasks the call names)
    ok INTEGER NOT NULL,
    fault_code INTEGER,
    fault_string TEXT,
    result TEXT
);
CREATE INDEX IF NOT EXISTS calls_method ON calls(method);
CREATE TABLE IF NOT EXISTS sys (
    name TEXT PRIMARY KEY,
    value TEXT
);
-- Not Koji: a test's fault injection.  The next `remaining` answers to
-- `method` are replaced by `answer` (JSON), after the call ran as usual: a
-- broken hub, a proxy mangling replies.  Empty unless a test asks.
-- Not Koji either: the next `remaining` calls of `method` (upload:.rpm for the
-- raw upload POSTs of .rpm files) first wait `seconds` (a slow link to the hub).
CREATE TABLE IF NOT EXISTS slowed_calls (
    method TEXT PRIMARY KEY,
    seconds REAL NOT NULL,
    remaining INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS mangled_answers (
    method TEXT PRIMARY KEY,
    answer TEXT NOT NULL,
    remaining INTEGER NOT NULL
);
-- RPM builds (tests/hub/builds.py).  Koji's versioned tables (tag_config,
-- tag_extra, tag_external_repos) keep create_event/revoke_event as in Koji, so
-- that getTag/getBuildConfig/getExternalRepoList at a repo's event see the tag
-- as it was then (kojihub eventCondition).
CREATE TABLE IF NOT EXISTS events (           -- Koji: events (get_event() adds one)
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL                          -- Koji: events.time
);
CREATE TABLE IF NOT EXISTS tags (             -- Koji: tag
    id INTEGER PRIMARY KEY,
    name TEXT UNIQUE NOT NULL
);
CREATE TABLE IF NOT EXISTS tag_config (       -- Koji: tag_config (versioned)
    tag_id INTEGER NOT NULL REFERENCES tags(id),
    arches TEXT,                              -- parse_arches(strict, allow_none): '' if none
    locked INTEGER NOT NULL DEFAULT 0,
    maven_support INTEGER NOT NULL DEFAULT 0,
    maven_include_all INTEGER NOT NULL DEFAULT 0,
    create_event INTEGER NOT NULL REFERENCES events(id),
    revoke_event INTEGER REFERENCES events(id)
);
CREATE TABLE IF NOT EXISTS tag_extra (        -- Koji: tag_extra (versioned)
    tag_id INTEGER NOT NULL REFERENCES tags(id),
    key TEXT NOT NULL,
    value TEXT,                               -- JSON text, NULL = blocked
    create_event INTEGER NOT NULL REFERENCES events(id),
    revoke_event INTEGER REFERENCES events(id)
);
CREATE TABLE IF NOT EXISTS build_targets (    -- Koji: build_target + build_target_config
    id INTEGER PRIMARY KEY,
    name TEXT UNIQUE NOT NULL,
    build_tag INTEGER NOT NULL REFERENCES tags(id),
    dest_tag INTEGER NOT NULL REFERENCES tags(id),
    create_event INTEGER NOT NULL REFERENCES events(id) -- (targets are not edited here)
);
CREATE TABLE IF NOT EXISTS external_repos (   -- Koji: external_repo + external_repo_config
    id INTEGER PRIMARY KEY,                   -- 0 is INTERNAL (no url), as in Koji
    name TEXT UNIQUE NOT NULL,
    url TEXT
);
CREATE TABLE IF NOT EXISTS tag_external_repos ( -- Koji: tag_external_repos (versioned)
    tag_id INTEGER NOT NULL REFERENCES tags(id),
    external_repo_id INTEGER NOT NULL REFERENCES external_repos(id),
    priority INTEGER NOT NULL,
    merge_mode TEXT NOT NULL DEFAULT 'koji',
    arches TEXT,
    create_event INTEGER NOT NULL REFERENCES events(id),
    revoke_event INTEGER REFERENCES events(id)
);
CREATE TABLE IF NOT EXISTS repos (            -- Koji: repo (1.35+ columns)
    id INTEGER PRIMARY KEY,
    tag_id INTEGER NOT NULL REFERENCES tags(id),
    state INTEGER NOT NULL,                   -- koji.REPO_STATES
    create_event INTEGER NOT NULL REFERENCES events(id),
    creation_ts REAL NOT NULL,
    state_ts REAL NOT NULL,
    begin_event INTEGER REFERENCES events(id),
    end_event INTEGER REFERENCES events(id),
    dist INTEGER NOT NULL DEFAULT 0,
    task_id INTEGER REFERENCES tasks(id),
    opts TEXT,                                -- JSON
    custom_opts TEXT                          -- JSON
);
CREATE TABLE IF NOT EXISTS packages (         -- Koji: package
    id INTEGER PRIMARY KEY,
    name TEXT UNIQUE NOT NULL
);
CREATE TABLE IF NOT EXISTS builds (           -- Koji: build (volume DEFAULT, no drafts)
    id INTEGER PRIMARY KEY,
    pkg_id INTEGER NOT NULL REFERENCES packages(id),
    version TEXT NOT NULL,
    release TEXT NOT NULL,
    epoch INTEGER,
    state INTEGER NOT NULL,                   -- koji.BUILD_STATES
    task_id INTEGER REFERENCES tasks(id),
    owner INTEGER NOT NULL REFERENCES users(id),
    source TEXT,
    extra TEXT,                               -- JSON or NULL
    create_event INTEGER NOT NULL REFERENCES events(id),
    start_ts REAL,
    completion_ts REAL,
    UNIQUE (pkg_id, version, release)
);
CREATE TABLE IF NOT EXISTS buildroots (       -- Koji: buildroot + standard_buildroot
    id INTEGER PRIMARY KEY,
    br_type INTEGER NOT NULL DEFAULT 0,       -- koji.BR_TYPES (only STANDARD here)
    container_type TEXT,                      -- BuildRoot.new: 'chroot'
    container_arch TEXT,
    host_id INTEGER REFERENCES hosts(id),
    repo_id INTEGER REFERENCES repos(id),
    task_id INTEGER REFERENCES tasks(id),
    state INTEGER,                            -- koji.BR_STATES
    create_event INTEGER REFERENCES events(id),
    retire_event INTEGER REFERENCES events(id)
);
CREATE TABLE IF NOT EXISTS rpminfo (          -- Koji: rpminfo
    id INTEGER PRIMARY KEY,
    build_id INTEGER REFERENCES builds(id),   -- NULL for external rpms
    buildroot_id INTEGER REFERENCES buildroots(id),
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    release TEXT NOT NULL,
    epoch INTEGER,
    arch TEXT NOT NULL,                       -- 'src' for source rpms
    external_repo_id INTEGER NOT NULL DEFAULT 0 REFERENCES external_repos(id),
    payloadhash TEXT NOT NULL,                -- hex SIGMD5
    size INTEGER NOT NULL,                    -- import_rpm: the file's size
    buildtime INTEGER NOT NULL,
    metadata_only INTEGER NOT NULL DEFAULT 0,
    extra TEXT,
    UNIQUE (name, version, release, arch, external_repo_id)
);
CREATE TABLE IF NOT EXISTS buildroot_listing ( -- Koji: buildroot_listing
    buildroot_id INTEGER NOT NULL REFERENCES buildroots(id),
    rpm_id INTEGER NOT NULL REFERENCES rpminfo(id),
    is_update INTEGER NOT NULL DEFAULT 0,
    UNIQUE (buildroot_id, rpm_id)
);
-- Package lists and tagged builds (tests/hub/tagging.py): Koji's versioned
-- tag_packages, tag_package_owners and tag_listing, with the creator and the
-- revoker of each row, and one active row per (tag, package) or (tag, build).
CREATE TABLE IF NOT EXISTS tag_packages (     -- Koji: tag_packages (versioned)
    tag_id INTEGER NOT NULL REFERENCES tags(id),
    package_id INTEGER NOT NULL REFERENCES packages(id),
    blocked INTEGER NOT NULL DEFAULT 0,
    extra_arches TEXT,
    create_event INTEGER NOT NULL REFERENCES events(id),
    revoke_event INTEGER REFERENCES events(id),
    creator_id INTEGER NOT NULL REFERENCES users(id),
    revoker_id INTEGER REFERENCES users(id)
);
CREATE UNIQUE INDEX IF NOT EXISTS tag_packages_active
    ON tag_packages(tag_id, package_id) WHERE revoke_event IS NULL;
CREATE TABLE IF NOT EXISTS tag_package_owners ( -- Koji: tag_package_owners (versioned)
    tag_id INTEGER NOT NULL REFERENCES tags(id),
    package_id INTEGER NOT NULL REFERENCES packages(id),
    owner INTEGER NOT NULL REFERENCES users(id),
    create_event INTEGER NOT NULL REFERENCES events(id),
    revoke_event INTEGER REFERENCES events(id),
    creator_id INTEGER NOT NULL REFERENCES users(id),
    revoker_id INTEGER REFERENCES users(id)
);
CREATE UNIQUE INDEX IF NOT EXISTS tag_package_owners_active
    ON tag_package_owners(tag_id, package_id) WHERE revoke_event IS NULL;
CREATE TABLE IF NOT EXISTS tag_listing (      -- Koji: tag_listing (versioned)
    tag_id INTEGER NOT NULL REFERENCES tags(id),
    build_id INTEGER NOT NULL REFERENCES builds(id),
    create_event INTEGER NOT NULL REFERENCES events(id),
    revoke_event INTEGER REFERENCES events(id),
    creator_id INTEGER NOT NULL REFERENCES users(id),
    revoker_id INTEGER REFERENCES users(id)
);
CREATE UNIQUE INDEX IF NOT EXISTS tag_listing_active
    ON tag_listing(tag_id, build_id) WHERE revoke_event IS NULL;
-- Not Koji: the host.tagNotification calls, as given (JSON), whether or not
-- the hub made a tagNotification task of one (tests/hub/notify.py).
CREATE TABLE IF NOT EXISTS tag_notifications (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    host_id INTEGER REFERENCES hosts(id),
    is_successful TEXT,
    tag_id TEXT,
    from_id TEXT,
    build_id TEXT,
    user_id TEXT,
    ignore_success TEXT,
    failure_msg TEXT
);
-- Build notification subscriptions and opt-outs (tests/hub/notify.py), as
-- RootExports.createNotification / createNotificationBlock make them: the
-- email is the user's name @ EmailDomain when the subscription is made.
CREATE TABLE IF NOT EXISTS build_notifications ( -- Koji: build_notifications
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    package_id INTEGER REFERENCES packages(id), -- NULL: every package
    tag_id INTEGER REFERENCES tags(id),         -- NULL: every tag
    success_only INTEGER NOT NULL DEFAULT 0,
    email TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS build_notifications_block ( -- Koji: build_notifications_block
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    package_id INTEGER REFERENCES packages(id),
    tag_id INTEGER REFERENCES tags(id)
);
-- Not Koji: hub.conf's [policy] section, set by a test (HubAdmin.set_policy);
-- a policy not here is the hub's default (kojixmlrpc _default_policies) or,
-- if it has none, missing (MissingPolicyOk).
CREATE TABLE IF NOT EXISTS policies (
    name TEXT PRIMARY KEY,
    rules TEXT NOT NULL
);
-- Tag inheritance and tag groups (builds.py read_full_inheritance, tagging.py
-- read_tag_groups), versioned as Koji's tables are.
CREATE TABLE IF NOT EXISTS tag_inheritance (  -- Koji: tag_inheritance (versioned)
    tag_id INTEGER NOT NULL REFERENCES tags(id),
    parent_id INTEGER NOT NULL REFERENCES tags(id),
    priority INTEGER NOT NULL,
    maxdepth INTEGER,
    intransitive INTEGER NOT NULL DEFAULT 0,
    noconfig INTEGER NOT NULL DEFAULT 0,
    pkg_filter TEXT,
    create_event INTEGER NOT NULL REFERENCES events(id),
    revoke_event INTEGER REFERENCES events(id)
);
CREATE TABLE IF NOT EXISTS groups (           -- Koji: groups
    id INTEGER PRIMARY KEY,
    name TEXT UNIQUE NOT NULL
);
CREATE TABLE IF NOT EXISTS group_config (     -- Koji: group_config (versioned)
    group_id INTEGER NOT NULL REFERENCES groups(id),
    tag_id INTEGER NOT NULL REFERENCES tags(id),
    blocked INTEGER NOT NULL DEFAULT 0,
    exported INTEGER NOT NULL DEFAULT 1,
    display_name TEXT NOT NULL,
    is_default INTEGER,
    uservisible INTEGER NOT NULL DEFAULT 1,
    description TEXT,
    langonly TEXT,
    biarchonly INTEGER NOT NULL DEFAULT 0,
    create_event INTEGER NOT NULL REFERENCES events(id),
    revoke_event INTEGER REFERENCES events(id)
);
CREATE TABLE IF NOT EXISTS group_package_listing ( -- Koji: group_package_listing (versioned)
    group_id INTEGER NOT NULL REFERENCES groups(id),
    tag_id INTEGER NOT NULL REFERENCES tags(id),
    package TEXT NOT NULL,
    blocked INTEGER NOT NULL DEFAULT 0,
    type TEXT NOT NULL,
    basearchonly INTEGER,
    requires TEXT,
    create_event INTEGER NOT NULL REFERENCES events(id),
    revoke_event INTEGER REFERENCES events(id)
);
CREATE TABLE IF NOT EXISTS group_req_listing ( -- Koji: group_req_listing (versioned)
    group_id INTEGER NOT NULL REFERENCES groups(id),
    tag_id INTEGER NOT NULL REFERENCES tags(id),
    req_id INTEGER NOT NULL REFERENCES groups(id),
    blocked INTEGER NOT NULL DEFAULT 0,
    type TEXT NOT NULL,
    is_metapkg INTEGER NOT NULL DEFAULT 0,
    create_event INTEGER NOT NULL REFERENCES events(id),
    revoke_event INTEGER REFERENCES events(id)
);
-- Permissions other than admin (users.admin), granted by a test
-- (HubAdmin.grant_permission): Koji's user_perms, without versions.
CREATE TABLE IF NOT EXISTS user_perms (
    user_id INTEGER NOT NULL REFERENCES users(id),
    perm TEXT NOT NULL,
    PRIMARY KEY (user_id, perm)
);
CREATE TABLE IF NOT EXISTS repo_queue (       -- Koji: repo_queue (1.35+, repo.request)
    id INTEGER PRIMARY KEY,
    create_ts REAL NOT NULL,
    owner INTEGER NOT NULL REFERENCES users(id),
    priority INTEGER NOT NULL,
    tag_id INTEGER NOT NULL REFERENCES tags(id),
    at_event INTEGER REFERENCES events(id),
    min_event INTEGER REFERENCES events(id),
    opts TEXT NOT NULL,                       -- JSON
    update_ts REAL NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    task_id INTEGER REFERENCES tasks(id),
    tries INTEGER NOT NULL DEFAULT 0,
    repo_id INTEGER REFERENCES repos(id),
    CHECK (at_event IS NULL OR min_event IS NULL),
    CHECK (NOT active OR repo_id IS NULL)
);"""

DEFAULT_CHANNELS = ("default", "createrepo")


def connect(path: str, init: bool = True) -> sqlite3.Connection:
    """Open the state file (creating the schema if `init`), in autocommit mode.

    Transactions are explicit (see transaction()); every connection sets WAL
    and a busy timeout so the server's threads and the tests' admin side can
    share the file.
    """
    conn = sqlite3.connect(str(path), timeout=60.0, isolation_level=None,
                           check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 60000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    if init:
        _init(conn)
    return conn


def _init(conn: sqlite3.Connection) -> None:
    with transaction(conn):
        for statement in SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        for name in DEFAULT_CHANNELS:
            conn.execute("INSERT OR IGNORE INTO channels (name) VALUES (?)", (name,))
        conn.execute(
            "INSERT OR IGNORE INTO users (name, password, usertype, admin) VALUES (?, ?, ?, 1)",
            (ADMIN_USER, ADMIN_PASSWORD, USER_NORMAL),
        )
        # Koji's schema: external repo 0 is INTERNAL, and there is a first event
        conn.execute("INSERT OR IGNORE INTO external_repos (id, name) VALUES (0, 'INTERNAL')")
        if conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0:
            new_event(conn)


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on an exception)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def now() -> float:
    return time.time()


def new_event(conn: sqlite3.Connection) -> int:
    """The SQL get_event(): a new row in events, its id."""
    return int(conn.execute("INSERT INTO events (ts) VALUES (?)", (now(),)).lastrowid)


def event_ts(conn: sqlite3.Connection, event_id: Optional[int]) -> Optional[float]:
    if event_id is None:
        return None
    row = conn.execute("SELECT ts FROM events WHERE id = ?", (event_id,)).fetchone()
    return None if row is None else row["ts"]


def ts_to_str(ts: Optional[float]) -> Optional[str]:
    """A timestamp as the hub sends a timestamptz column.

    kojixmlrpc.Marshaller.dump_datetime sends datetimes as value.isoformat(' ').
    """
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).isoformat(" ")


def opt_bool(value: Any) -> Optional[bool]:
    return None if value is None else bool(value)


def encode_request(method: str, arglist: Any) -> str:
    """A task request as kojihub.make_task stores it."""
    return koji.xmlrpcplus.dumps(tuple(arglist), methodname=method)


def decode_request(xml: str) -> tuple:
    """kojihub Task.getRequest: the params of the stored methodCall."""
    params, _method = koji.xmlrpcplus.loads(xml)
    return params


def convert_value(value, cast, none_allowed=False, check_only=False):
    """kojihub.convert_value: the hub's argument type checks (ParameterError)."""
    if value is None:
        if not none_allowed:
            raise koji.ParameterError(f"Invalid type, expected type {cast}")
        return value
    if check_only:
        if not isinstance(value, cast):
            raise koji.ParameterError(f"Invalid type for value '{value}': {type(value)},"
                                      f" expected type {cast}")
        return value
    try:
        return cast(value)
    except (ValueError, TypeError):
        raise koji.ParameterError(f"Invalid type for value '{value}': {type(value)},"
                                  f" expected type {cast}") from None


# -- rows as the hub returns them -------------------------------------------

# kojihub.Task.fields, in order
TASK_FIELDS = ("id", "state", "create_time", "create_ts", "start_time", "start_ts",
               "completion_time", "completion_ts", "channel_id", "host_id", "parent",
               "label", "waiting", "awaited", "owner", "method", "arch", "priority",
               "weight")


def task_info(row: sqlite3.Row, request: bool = False, raw_request: bool = False) -> dict:
    """kojihub Task.getInfo's dict (request decoded if asked, or raw as openTask gives it)."""
    info = {
        "id": row["id"],
        "state": row["state"],
        "create_time": ts_to_str(row["create_ts"]),
        "create_ts": row["create_ts"],
        "start_time": ts_to_str(row["start_ts"]),
        "start_ts": row["start_ts"],
        "completion_time": ts_to_str(row["completion_ts"]),
        "completion_ts": row["completion_ts"],
        "channel_id": row["channel_id"],
        "host_id": row["host_id"],
        "parent": row["parent"],
        "label": row["label"],
        "waiting": opt_bool(row["waiting"]),
        "awaited": opt_bool(row["awaited"]),
        "owner": row["owner"],
        "method": row["method"],
        "arch": row["arch"],
        "priority": row["priority"],
        "weight": row["weight"],
    }
    if raw_request:
        info["request"] = row["request"]
    elif request:
        info["request"] = decode_request(row["request"])
    return info


def host_info(row: sqlite3.Row) -> dict:
    """kojihub get_host's dict (1.34+: with update_ts)."""
    return {
        "id": row["id"],
        "user_id": row["user_id"],
        "name": row["name"],
        "update_ts": row["last_update"],
        "ready": bool(row["ready"]),
        "task_load": row["task_load"],
        "arches": row["arches"],
        "capacity": row["capacity"],
        "description": row["description"],
        "comment": row["comment"],
        "enabled": bool(row["enabled"]),
    }


def host_data(row: sqlite3.Row) -> dict:
    if not row["data"]:
        return {}
    try:
        data = json.loads(row["data"])
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


# -- task rules shared by the server and the admin side -----------------------

def get_task_row(conn: sqlite3.Connection, task_id: int) -> Optional[sqlite3.Row]:
    return conn.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()


def lock_task(conn: sqlite3.Connection, task_id: int, host_id: int, newstate: int,
              force: bool = False) -> bool:
    """kojihub Task.lock: associate a task with a host (assign or open).

    Allowed when the task is FREE (and has no host), or ASSIGNED to this host
    (opening it); everything else returns False (no error), as the hub does.
    """
    row = get_task_row(conn, task_id)
    if row is None:
        raise koji.GenericError(f"No such task: {task_id}")
    if not force:
        state, other = row["state"], row["host_id"]
        if state == FREE:
            if other is not None:
                return False
        elif state == ASSIGNED:
            if other is None or other != host_id:
                return False
            if newstate == ASSIGNED:
                return True  # double assign: the hub logs it and says True
        else:
            # OPEN (by anyone, even this host), CANCELED, CLOSED, FAILED
            return False
    if newstate == OPEN:
        conn.execute("UPDATE tasks SET state = ?, host_id = ?, start_ts = ? WHERE id = ?",
                     (newstate, host_id, now(), task_id))
    else:
        conn.execute("UPDATE tasks SET state = ?, host_id = ? WHERE id = ?",
                     (newstate, host_id, task_id))
    return True


def free_task(conn: sqlite3.Connection, task_id: int) -> bool:
    """kojihub Task.free: back to FREE with no host; an error for a finished task."""
    row = get_task_row(conn, task_id)
    if row is None:
        raise koji.GenericError(f"No such task: {task_id}")
    if row["state"] in FINISHED_STATES:
        name = koji.TASK_STATES[row["state"]]
        raise koji.GenericError(f"Cannot free task {task_id}, state is {name}")
    conn.execute("UPDATE tasks SET state = ?, host_id = NULL WHERE id = ?", (FREE, task_id))
    return True


def cancel_task(conn: sqlite3.Connection, task_id: int, recurse: bool = True,
                cancel_build: Optional[Callable[[int], Any]] = None) -> bool:
    """kojihub Task.cancel: CANCELED unless already finished, then the task's
    BUILDING builds (kojihub.cancel_build(build_id, cancel_task=False): given
    as cancel_build, which also makes the build's notification; without it,
    the build is only marked CANCELED), then its children.

    True if canceled (or already canceled), False if CLOSED or FAILED (and then
    its children are left alone, as the hub does).
    """
    row = get_task_row(conn, task_id)
    if row is None:
        raise koji.GenericError("query returned no rows")
    if row["state"] == CANCELED:
        return True
    if row["state"] in (CLOSED, FAILED):
        return False
    conn.execute("UPDATE tasks SET state = ?, completion_ts = ? WHERE id = ?",
                 (CANCELED, now(), task_id))
    building = koji.BUILD_STATES["BUILDING"]
    for build in conn.execute("SELECT id FROM builds WHERE task_id = ? AND state = ?"
                              " ORDER BY id", (task_id, building)).fetchall():
        if cancel_build is not None:
            cancel_build(build["id"])
        else:
            conn.execute("UPDATE builds SET state = ?, completion_ts = ? WHERE id = ?"
                         " AND state = ?", (koji.BUILD_STATES["CANCELED"], now(), build["id"],
                                           building))
    if recurse:
        cancel_children(conn, task_id, cancel_build=cancel_build)
    return True


def cancel_children(conn: sqlite3.Connection, task_id: int,
                    cancel_build: Optional[Callable[[int], Any]] = None) -> None:
    """kojihub Task.cancelChildren."""
    for child in conn.execute("SELECT id FROM tasks WHERE parent = ? ORDER BY id",
                              (task_id,)).fetchall():
        cancel_task(conn, child["id"], recurse=True, cancel_build=cancel_build)


def user_perms(conn: sqlite3.Connection, user_id: Optional[int]) -> list:
    """auth.get_user_perms: the user's permission names (admin from users.admin,
    the others from user_perms); no user groups here."""
    if user_id is None:
        return []
    row = conn.execute("SELECT admin FROM users WHERE id = ?", (user_id,)).fetchone()
    perms = ["admin"] if row is not None and row["admin"] else []
    perms += [r["perm"] for r in conn.execute(
        "SELECT perm FROM user_perms WHERE user_id = ? ORDER BY perm", (user_id,))
        if r["perm"] != "admin"]
    return perms


def channel_by_name(conn: sqlite3.Connection, name: str) -> Optional[sqlite3.Row]:
    return conn.execute("SELECT * FROM channels WHERE name = ?", (name,)).fetchone()


def insert_task(conn: sqlite3.Connection, *, method: str, request: str, owner: int,
                channel_id: int, arch: str, priority: int, parent: Optional[int] = None,
                label: Optional[str] = None, state: int = FREE,
                host_id: Optional[int] = None, weight: Optional[float] = None) -> int:
    cur = conn.execute(
        "INSERT INTO tasks (method, request, state, owner, host_id, parent, label, arch,"
        " channel_id, priority, weight, create_ts) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (method, request, state, owner, host_id, parent, label, arch, channel_id, priority,
         1.0 if weight is None else float(weight), now()),
    )
    return int(cur.lastrowid)


def get_sys(conn: sqlite3.Connection, name: str) -> Optional[str]:
    row = conn.execute("SELECT value FROM sys WHERE name = ?", (name,)).fetchone()
    return None if row is None else row["value"]


def set_sys(conn: sqlite3.Connection, name: str, value: str) -> None:
    conn.execute("INSERT INTO sys (name, value) VALUES (?, ?) "
                 "ON CONFLICT(name) DO UPDATE SET value = excluded.value", (name, value))
