"""Build and tag notifications on the emulated hub, after kojihub/kojihub.py
(get_notification_recipients, build_notification, tag_notification,
_get_build_target, cancel_build, Task.cancel / cancelFull,
RootExports.createNotification / createNotificationBlock).

The hub makes a task for a builder to send the mail: buildNotification
[recipients, build, target, weburl] when a build completes, fails or is
canceled, tagNotification [recipients, is_successful, tag_id, from_id,
build_id, user_id, ignore_success, failure_msg] when a host reports a tag
operation.  Both are top-level tasks of the caller (make_task without an
owner: the session's user, the host's user for host.* calls), priority 20,
arch noarch, channel default.

The hub.conf options they read (kojixmlrpc config_map) are the emulator's,
kept in the state file so a test changes them while the server runs
(HubAdmin.set_hub_options).  The emulator's hub.conf differs from kojihub's
defaults in three: DisableNotifications = True (the emulator's builders are
not asked to send mail unless a test wants it), EmailDomain = koji.example
and KojiWebURL = http://koji.example/koji (kojihub: None, which makes
addresses user@None, and http://localhost.localdomain/koji).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Optional

import koji

from tests.hub import builds, policy, state, tagging
from tests.hub.context import Context

# name: (the emulator's hub.conf value, type) - kojixmlrpc config_map entries
HUB_OPTIONS = {
    "DisableNotifications": (True, bool),
    "NotifyOnSuccess": (True, bool),
    "EmailDomain": ("koji.example", (str, type(None))),
    "KojiWebURL": ("http://koji.example/koji", str),
}
_SYS_PREFIX = "hub.conf:"


def hub_options(conn: sqlite3.Connection) -> dict:
    """The hub.conf options above, as the running hub sees them (context.opts)."""
    opts = {name: default for name, (default, _kind) in HUB_OPTIONS.items()}
    for row in conn.execute("SELECT name, value FROM sys WHERE name LIKE ?",
                            (_SYS_PREFIX + "%",)):
        name = row["name"][len(_SYS_PREFIX):]
        if name in opts:
            opts[name] = json.loads(row["value"])
    return opts


def set_hub_options(conn: sqlite3.Connection, **opts: Any) -> None:
    """Change hub.conf options (HubAdmin.set_hub_options)."""
    for name, value in opts.items():
        if name not in HUB_OPTIONS:
            raise KeyError(f"not a hub option the emulator reads: {name}"
                           f" (known: {', '.join(HUB_OPTIONS)})")
        kind = HUB_OPTIONS[name][1]
        if not isinstance(value, kind):
            raise TypeError(f"hub option {name}: {value!r} is not {kind}")
        state.set_sys(conn, _SYS_PREFIX + name, json.dumps(value))


# -- recipients (kojihub.get_notification_recipients) --------------------------------

def _scope_clauses(build: Optional[dict], tag_id: Any, table: str) -> tuple:
    """The package and tag conditions both build_notifications and
    build_notifications_block are read with: a row for the build's package
    (or every package) and the tag (or every tag); without a build or a tag,
    only the rows for every package / every tag."""
    clauses, params = [], []
    if build:
        clauses.append(f"({table}.package_id = ? OR {table}.package_id IS NULL)")
        params.append(build["package_id"])
    else:
        clauses.append(f"{table}.package_id IS NULL")
    if tag_id:
        clauses.append(f"({table}.tag_id = ? OR {table}.tag_id IS NULL)")
        params.append(builds.pg_int(tag_id))
    else:
        clauses.append(f"{table}.tag_id IS NULL")
    return clauses, params


def notification_recipients(conn: sqlite3.Connection, build: Optional[dict], tag_id: Any,
                            build_state: int) -> list:
    """kojihub.get_notification_recipients: the addresses to notify about the
    build (in the tag), no duplicates.

    - subscriptions (build_notifications) of active NORMAL or GROUP users for
      the package (or all) and the tag (or all); success_only ones only when
      the state is COMPLETE;
    - with NotifyOnSuccess (exactly True) or a state other than COMPLETE: the
      build's owner (no status or type check), and with a tag, the package's
      owner in the tag (inherited) when listed, not blocked, and an active
      NORMAL user;
    - minus the users with an opt-out (build_notifications_block) for the
      package (or all) and the tag (or all).
    The hub returns list(set(emails)); the emulator sorts them."""
    if not build and tag_id:
        raise koji.GenericError("Invalid call")
    opts = hub_options(conn)
    clauses, params = _scope_clauses(build, tag_id, "n")
    sql = ("SELECT n.user_id, n.email FROM build_notifications n JOIN users u"
           " ON u.id = n.user_id WHERE u.status = ? AND u.usertype IN (?, ?) AND "
           + " AND ".join(clauses))
    values = [koji.USER_STATUS["NORMAL"], state.USER_NORMAL, state.USER_GROUP, *params]
    complete = koji.BUILD_STATES["COMPLETE"]
    if build_state != complete:
        sql += " AND NOT n.success_only"
    recipients = [dict(r) for r in conn.execute(sql + " ORDER BY n.id", values)]
    domain = opts["EmailDomain"]
    if build and (opts["NotifyOnSuccess"] is True or build_state != complete):
        recipients.append({"user_id": build["owner_id"],
                           "email": f"{build['owner_name']}@{domain}"})
        if tag_id:
            package_id = build["package_id"]
            pkgdata = tagging.read_package_list(conn, tag_id=tag_id, pkg=package_id,
                                                inherit=True).get(package_id)
            if pkgdata and not pkgdata["blocked"]:
                owner = policy.get_user(conn, pkgdata["owner_id"], strict=True)
                if owner["status"] == koji.USER_STATUS["NORMAL"] and \
                        owner["usertype"] == state.USER_NORMAL:
                    recipients.append({"user_id": owner["id"],
                                       "email": f"{owner['name']}@{domain}"})
    if not recipients:
        return []
    user_ids = sorted({r["user_id"] for r in recipients})
    clauses, params = _scope_clauses(build, tag_id, "b")
    marks = ",".join("?" * len(user_ids))
    optouts = {r["user_id"] for r in conn.execute(
        f"SELECT b.user_id FROM build_notifications_block b WHERE b.user_id IN ({marks})"
        " AND "
        + " AND ".join(clauses), (*user_ids, *params))}
    return sorted({r["email"] for r in recipients if r["user_id"] not in optouts})


# -- the notification tasks (kojihub.build_notification, tag_notification) ----------

def _make_task(ctx: Context, method: str, arglist: list) -> int:
    from tests.hub import exports  # exports calls this module

    return exports.make_task(ctx, method, arglist)


def build_target_of_task(ctx: Context, task_id: Any) -> Optional[dict]:
    """kojihub._get_build_target: the target a build (or maven) task names in
    its second argument (a winbuild task in its third), else None."""
    from tests.hub import exports

    info = exports.Task(ctx, task_id).get_info(strict=True, request=True)
    request = info["request"]
    # request: (source, target, opts) for build and maven, (vm, source, target,
    # opts) for winbuild
    position = {"build": 1, "maven": 1, "winbuild": 2}.get(info["method"])
    if position is not None and request[position]:
        return builds.get_build_target(ctx.conn, request[position])
    return None


def build_notification(ctx: Context, task_id: Any, build_id: Any) -> Optional[int]:
    """kojihub.build_notification (host.completeBuild, host.failBuild,
    cancel_build): nothing under DisableNotifications; an error for a
    BUILDING build; else a buildNotification task [recipients, build,
    target, weburl] when there are recipients - build is getBuild's dict,
    target the task's build target (None if it has none), the recipients
    those of the target's destination tag, weburl hub.conf's KojiWebURL.
    Returns the task id (the hub returns None)."""
    opts = hub_options(ctx.conn)
    if opts["DisableNotifications"]:
        return None
    build = builds.get_build(ctx.conn, build_id)
    target = build_target_of_task(ctx, task_id)
    dest_tag = target["dest_tag"] if target else None
    if build["state"] == koji.BUILD_STATES["BUILDING"]:
        raise koji.GenericError("never send notifications for incomplete builds")
    recipients = notification_recipients(ctx.conn, build, dest_tag, build["state"])
    if recipients:
        return _make_task(ctx, "buildNotification",
                          [recipients, build, target, opts["KojiWebURL"]])
    return None


def tag_notification(ctx: Context, is_successful, tag_id, from_id,  # noqa: PLR0917
                     build_id, user_id, ignore_success=False,
                     failure_msg="") -> Optional[int]:
    """kojihub.tag_notification (host.tagNotification): nothing under
    DisableNotifications or for a build that does not exist; else the
    recipients of the tag and of from_id (state COMPLETE if successful, else
    FAILED), and a tagNotification task [recipients, is_successful, tag_id,
    from_id, build_id, user_id, ignore_success, failure_msg] - the arguments
    as given, user_id as an id - unless there are none, or the operation
    succeeded and ignore_success is set."""
    conn = ctx.conn
    if hub_options(conn)["DisableNotifications"]:
        return None
    if user_id and not isinstance(user_id, int):
        user_id = policy.get_user(conn, user_id, strict=True,
                                  session_user_id=ctx.session.user_id)["id"]
    build_state = koji.BUILD_STATES["COMPLETE" if is_successful else "FAILED"]
    build = builds.get_build(conn, build_id)
    if not build:
        return None
    recipients: dict = {}
    for info in (tag_id, from_id):
        if info:
            tag = builds.get_tag(conn, info)
            if tag:
                for email in notification_recipients(conn, build, tag["id"], build_state):
                    recipients[email] = 1
    if recipients and not (is_successful and ignore_success):
        return _make_task(ctx, "tagNotification",
                          [list(recipients), is_successful, tag_id, from_id, build_id, user_id,
                           ignore_success, failure_msg])
    return None


# -- canceling (kojihub.cancel_build, Task.cancel, Task.cancelFull) ------------------

def cancel_build(ctx: Context, build_id: Any, cancel_task: bool = True) -> bool:
    """kojihub.cancel_build: only a BUILDING build; CANCELED with a completion
    time, its notification (build_notification) if it has a task, and (with
    cancel_task) that task's whole group canceled (cancelFull, not strict).
    True if canceled."""
    conn = ctx.conn
    build = builds.get_build(conn, build_id, strict=True)
    building = koji.BUILD_STATES["BUILDING"]
    if build["state"] != building:
        return False
    ctx.dirty = True
    conn.execute("UPDATE builds SET state = ?, completion_ts = ? WHERE id = ? AND state = ?",
                 (koji.BUILD_STATES["CANCELED"], state.now(), build["id"], building))
    build = builds.get_build(conn, build["id"])
    if build["state"] != koji.BUILD_STATES["CANCELED"]:
        return False
    task_id = build["task_id"]
    if task_id is not None:
        build_notification(ctx, task_id, build["id"])
        if cancel_task:
            cancel_full(ctx, task_id, strict=False)
    return True


def cancel_task(ctx: Context, task_id: int, recurse: bool = True) -> bool:
    """kojihub Task.cancel (state.cancel_task), the task's BUILDING builds
    canceled by cancel_build(cancel_task=False)."""
    ctx.dirty = True
    return state.cancel_task(ctx.conn, task_id, recurse=recurse,
                             cancel_build=lambda b: cancel_build(ctx, b, cancel_task=False))


def cancel_children(ctx: Context, task_id: int) -> None:
    """kojihub Task.cancelChildren."""
    ctx.dirty = True
    state.cancel_children(ctx.conn, task_id,
                          cancel_build=lambda b: cancel_build(ctx, b, cancel_task=False))


def cancel_full(ctx: Context, task_id: int, strict: bool = True) -> None:
    """kojihub Task.cancelFull: the top-level task (strict: it must be one)
    and every task below it, each canceled without recursion."""
    conn = ctx.conn
    row = state.get_task_row(conn, task_id)
    parent = None if row is None else row["parent"]
    if parent is not None:
        if strict:
            raise koji.GenericError(f"Task {task_id:d} is not top-level (parent={parent:d})")
        seen = {task_id}
        while parent is not None:
            if parent in seen:
                raise koji.GenericError(f"Task LOOP at task {task_id:d}")
            task_id = parent
            seen.add(task_id)
            row = state.get_task_row(conn, task_id)
            if row is None:
                raise koji.GenericError("query returned no rows")
            parent = row["parent"]
        return cancel_full(ctx, task_id, strict=True)
    tasklist, seen = [task_id], set()
    for current in tasklist:
        if current in seen:
            raise koji.GenericError(f"Task LOOP at task {current:d}")
        seen.add(current)
        cancel_task(ctx, current, recurse=False)
        tasklist += [r["id"] for r in conn.execute(
            "SELECT id FROM tasks WHERE parent = ? ORDER BY id", (current,))]


# -- subscriptions (RootExports.createNotification, createNotificationBlock) ---------

def _scope_ids(conn: sqlite3.Connection, package: Any, tag: Any) -> tuple:
    """get_package_id / get_tag_id (strict) of a subscription's package and tag."""
    package_id = tag_id = None
    if package is not None:
        package_id = builds.lookup_name(conn, "packages", package, strict=True)["id"]
    if tag is not None:
        tag_id = builds.lookup_name(conn, "tags", tag, strict=True)["id"]
    return package_id, tag_id


def create_notification(conn: sqlite3.Connection, user: Any, package: Any = None,  # noqa: PLR0917
                        tag: Any = None, success_only: bool = False,
                        email: Optional[str] = None) -> int:
    """RootExports.createNotification as an admin: the same subscription twice
    is refused; the email is the user's name @ EmailDomain unless given (the
    call cannot choose it; a test may)."""
    uinfo = policy.get_user(conn, user)
    if not uinfo:
        raise koji.GenericError(f"No such user ID: {user}")
    package_id, tag_id = _scope_ids(conn, package, tag)
    success_only = bool(success_only)
    if email is None:
        email = f"{uinfo['name']}@{hub_options(conn)['EmailDomain']}"
    for row in conn.execute("SELECT package_id, tag_id, success_only FROM build_notifications"
                            " WHERE user_id = ?", (uinfo["id"],)):
        if (row["package_id"], row["tag_id"], bool(row["success_only"])) == (
                package_id, tag_id, success_only):
            raise koji.GenericError("notification already exists")
    cur = conn.execute("INSERT INTO build_notifications (user_id, package_id, tag_id,"
                       " success_only, email) VALUES (?, ?, ?, ?, ?)",
                       (uinfo["id"], package_id, tag_id, int(success_only), email))
    return int(cur.lastrowid)


def create_notification_block(conn: sqlite3.Connection, user: Any, package: Any = None,
                              tag: Any = None) -> int:
    """RootExports.createNotificationBlock as an admin: the same opt-out twice
    is refused."""
    uinfo = policy.get_user(conn, user)
    if not uinfo:
        raise koji.GenericError(f"No such user ID: {user}")
    package_id, tag_id = _scope_ids(conn, package, tag)
    for row in conn.execute("SELECT package_id, tag_id FROM build_notifications_block"
                            " WHERE user_id = ?", (uinfo["id"],)):
        if (row["package_id"], row["tag_id"]) == (package_id, tag_id):
            raise koji.GenericError("notification already exists")
    cur = conn.execute("INSERT INTO build_notifications_block (user_id, package_id, tag_id)"
                       " VALUES (?, ?, ?)", (uinfo["id"], package_id, tag_id))
    return int(cur.lastrowid)
