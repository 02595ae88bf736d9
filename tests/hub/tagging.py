"""Package lists and tagged builds on the emulated hub, after kojihub/kojihub.py
(readPackageList, _direct_pkglist_add, _pkglist_add, _pkglist_remove,
check_tag_access, _tag_build, _direct_tag_build, _untag_build,
_direct_untag_build, readTaggedBuilds, RootExports.listTagged,
tag_last_change_event, tag_first_change_event).

tag_packages, tag_package_owners and tag_listing are versioned as on the hub:
a change revokes the active row (revoke_event, revoker_id) and inserts a new
one (create_event, creator_id); queries at an event see the rows live then
(builds.event_clause, kojihub eventCondition).  All the changes of one call
share one event, as the hub's get_event() gives one per call (CallEvent).

There is no tag inheritance here (readFullInheritance is empty), so
"inherit" changes nothing; no tag has a required permission (perm_id);
every build is an rpm build (btype rpm) and none is a draft.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Callable, Optional

import koji

from tests.hub import builds, policy, state

NUMERIC_TYPES = (int, float)


class CallEvent:
    """kojihub get_event(): the call's event, made when first needed."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.id: Optional[int] = None

    def __call__(self) -> int:
        if self.id is None:
            self.id = state.new_event(self.conn)
        return self.id


# -- packages (kojihub.lookup_name on package) ----------------------------------

def lookup_package(conn: sqlite3.Connection, info: Any, strict: bool = False,
                   create: bool = False) -> Optional[dict]:
    """kojihub.lookup_package: {id, name}; create makes a package of a name."""
    row = builds.lookup_name(conn, "packages", info, strict=strict)
    if row is not None:
        return {"id": row["id"], "name": row["name"]}
    if create:
        if not isinstance(info, str):
            raise koji.GenericError("Name must be a string")
        return {"id": builds.new_package(conn, info), "name": info}
    return None


def _text_param(value: Any) -> str:
    """A value compared with a text column: psycopg2 adapts str (and numbers);
    a dict or a list cannot be adapted."""
    if isinstance(value, (dict, list, tuple)):
        raise builds.pg_error("ProgrammingError", f"can't adapt type '{type(value).__name__}'")
    return str(value)


# -- package lists (kojihub.readPackageList, _direct_pkglist_add) ------------------

def read_package_list(conn: sqlite3.Connection, *, tag_id: Optional[int] = None,
                      user_id: Optional[int] = None, pkg: Any = None, event: Any = None,
                      with_dups: bool = False, with_owners: bool = True,
                      with_blocked: bool = True) -> dict:
    """kojihub.readPackageList: {package_id: entry} (with_dups: lists), blocked
    entries included unless with_blocked is false.  pkg is an id (int) or a
    name.  (Inheritance adds nothing here.)"""
    if tag_id is None and user_id is None and pkg is None:
        raise koji.GenericError("tag,user, and/or pkg must be specified")
    if user_id is not None and not with_owners:
        raise koji.GenericError("userID and with_owners=False can't be used together")
    event = builds._event_arg(event)
    clause, params = builds.event_clause(event, "tp")
    columns = ("p.id AS package_id, p.name AS package_name, t.id AS tag_id, t.name AS tag_name,"
               " tp.extra_arches, tp.blocked")
    joins = " JOIN tags t ON t.id = tp.tag_id JOIN packages p ON p.id = tp.package_id"
    clauses, values = [clause], list(params)
    if with_owners:
        columns += ", u.id AS owner_id, u.name AS owner_name"
        owner_clause, owner_params = builds.event_clause(event, "o")
        joins += (" JOIN tag_package_owners o ON o.tag_id = tp.tag_id"
                  " AND o.package_id = tp.package_id JOIN users u ON u.id = o.owner")
        clauses.append(owner_clause)
        values += owner_params
    if tag_id is not None:
        clauses.append("t.id = ?")
        values.append(builds.pg_int(tag_id))
    if user_id is not None:
        clauses.append("u.id = ?")
        values.append(builds.pg_int(user_id))
    if pkg is not None:
        if isinstance(pkg, int) and not isinstance(pkg, bool):
            clauses.append("p.id = ?")
            values.append(pkg)
        else:
            clauses.append("p.name = ?")
            values.append(_text_param(pkg))
    if not with_blocked:
        clauses.append("NOT tp.blocked")
    sql = f"SELECT {columns} FROM tag_packages tp{joins} WHERE " + " AND ".join(clauses)
    packages: dict = {}
    for row in conn.execute(sql + " ORDER BY t.id, p.id", values):
        entry = dict(row)
        entry["blocked"] = bool(entry["blocked"])
        if with_dups:
            packages.setdefault(entry["package_id"], []).append(entry)
        else:
            packages[entry["package_id"]] = entry
    return packages


def _revoke(conn: sqlite3.Connection, table: str, where: dict, *, event: CallEvent,
            user_id: int) -> int:
    """UpdateProcessor.make_revoke: the active rows get the call's event and
    the revoker.  Returns the number of rows revoked."""
    clauses = " AND ".join(f"{k} = ?" for k in where)
    cur = conn.execute(f"UPDATE {table} SET revoke_event = ?, revoker_id = ?"
                       f" WHERE {clauses} AND revoke_event IS NULL",
                       (event(), user_id, *where.values()))
    return cur.rowcount


def _create(conn: sqlite3.Connection, table: str, data: dict, *, event: CallEvent,
            user_id: int) -> None:
    """InsertProcessor.make_create: a row made at the call's event by the user."""
    data = dict(data, create_event=event(), creator_id=user_id)
    conn.execute(f"INSERT INTO {table} ({', '.join(data)}) VALUES"
                 f" ({', '.join('?' * len(data))})", tuple(data.values()))


def _pkglist_owner_add(conn: sqlite3.Connection, tag_id: int, pkg_id: int, owner: int, *,
                       event: CallEvent, user_id: int) -> None:
    """kojihub._pkglist_owner_add."""
    where = {"tag_id": tag_id, "package_id": pkg_id}
    _revoke(conn, "tag_package_owners", where, event=event, user_id=user_id)
    _create(conn, "tag_package_owners", dict(where, owner=owner), event=event, user_id=user_id)


def _pkglist_add(conn: sqlite3.Connection, tag_id: int, pkg_id: int, *, owner: int,
                 block: bool, extra_arches: Optional[str], event: CallEvent,
                 user_id: int) -> None:
    """kojihub._pkglist_add: the old entry revoked, the new one (and its owner)
    added."""
    where = {"tag_id": tag_id, "package_id": pkg_id}
    _revoke(conn, "tag_packages", where, event=event, user_id=user_id)
    if extra_arches is not None:
        extra_arches = koji.parse_arches(extra_arches, strict=True, allow_none=True)
    _create(conn, "tag_packages", dict(where, blocked=int(bool(block)), extra_arches=extra_arches),
            event=event, user_id=user_id)
    _pkglist_owner_add(conn, tag_id, pkg_id, owner, event=event, user_id=user_id)


def pkglist_add(conn: sqlite3.Connection, tag: Any, pkg: Any, *,  # noqa: PLR0912
                owner: Any = None, block: Optional[bool] = None,
                extra_arches: Optional[str] = None, force: bool = False, update: bool = False,
                user_id: Optional[int], event: CallEvent,
                check_policy: Optional[Callable[[dict], None]] = None) -> None:
    """kojihub._direct_pkglist_add: add (or update) the tag's entry for the
    package, created if it does not exist (a name).  check_policy, when given,
    is the package_list policy check (pkglist_add: policy=True), made before
    anything changes.  The same data again is a no-op (unless force); a
    blocked package is unblocked only with force; an entry needs an owner
    (force: the caller)."""
    tag_info = builds.get_tag(conn, tag, strict=True)
    tag_id = tag_info["id"]
    package = lookup_package(conn, pkg, strict=False)
    if not package and not isinstance(pkg, str):
        raise koji.GenericError(f"No such package: {pkg}")
    if owner is not None:
        owner = policy.get_user(conn, owner, strict=True, session_user_id=user_id)["id"]
    action = "update" if update else ("block" if bool(block) else "add")
    if check_policy is not None:
        check_policy({"tag": tag_id, "action": action, "package": pkg, "force": force})
    if not package:
        package = lookup_package(conn, pkg, create=True)
    if extra_arches is not None:
        extra_arches = koji.parse_arches(extra_arches, strict=True, allow_none=True)
    if user_id is None:
        raise koji.GenericError("No user provided")  # get_user(context.session.user_id)
    previous = read_package_list(conn, tag_id=tag_id, pkg=package["id"]).get(package["id"])
    changed = changed_owner = False
    if previous is None:
        block = bool(block)
        if update and not force:
            raise koji.GenericError(f"cannot update: tag {tag_info['name']} has no data for"
                                    f" package {package['name']}")
    else:
        if owner is None:
            owner = previous["owner_id"]
        changed_owner = previous["owner_id"] != owner
        block = previous["blocked"] if block is None else bool(block)
        if extra_arches is None:
            extra_arches = previous["extra_arches"]
        changed = previous["blocked"] != block or previous["extra_arches"] != extra_arches
        if not changed and not changed_owner and not force:
            return
        if previous["blocked"] and not block and not force:
            raise koji.GenericError(f"package {package['name']} is blocked in tag"
                                    f" {tag_info['name']}")
    if owner is None:
        if not force:
            raise koji.GenericError("owner not specified")
        owner = user_id
    if not previous or changed:
        _pkglist_add(conn, tag_id, package["id"], owner=owner, block=block,
                     extra_arches=extra_arches, event=event, user_id=user_id)
    elif changed_owner:
        _pkglist_owner_add(conn, tag_id, package["id"], owner, event=event, user_id=user_id)


def pkglist_remove(conn: sqlite3.Connection, tag: Any, pkg: Any, *, user_id: int,
                   event: CallEvent,
                   check_policy: Optional[Callable[[dict], None]] = None) -> None:
    """kojihub._direct_pkglist_remove (and _pkglist_remove: the owner entry
    stays, as on the hub)."""
    tag_info = builds.get_tag(conn, tag, strict=True)
    package = lookup_package(conn, pkg, strict=True)
    if check_policy is not None:
        check_policy({"tag": tag_info["id"], "action": "remove", "package": package["id"],
                      "force": False})
    _revoke(conn, "tag_packages", {"tag_id": tag_info["id"], "package_id": package["id"]},
            event=event, user_id=user_id)


def package_config(conn: sqlite3.Connection, tag: Any, pkg: Any, event: Any = None):
    """RootExports.getPackageConfig: the tag's entry for the package (with its
    owner), None if the tag, the package or the entry does not exist."""
    tag_row = builds.lookup_name(conn, "tags", tag, strict=False)
    pkg_row = builds.lookup_name(conn, "packages", pkg, strict=False)
    if tag_row is None or pkg_row is None:
        return None
    return read_package_list(conn, tag_id=tag_row["id"], pkg=pkg_row["id"],
                             event=event).get(pkg_row["id"])


def check_tag_package(conn: sqlite3.Connection, tag: Any, pkg: Any) -> bool:
    """RootExports.checkTagPackage: listed and not blocked."""
    tag_row = builds.lookup_name(conn, "tags", tag, strict=False)
    pkg_row = builds.lookup_name(conn, "packages", pkg, strict=False)
    if tag_row is None or pkg_row is None:
        return False
    entry = read_package_list(conn, tag_id=tag_row["id"], pkg=pkg_row["id"],
                              with_owners=False).get(pkg_row["id"])
    return entry is not None and not entry["blocked"]


def list_packages(conn: sqlite3.Connection, *, tagID=None, userID=None,
                  pkgID=None, prefix=None, inherited=False, with_dups=False, event=None,
                  queryOpts=None, with_owners=True, with_blocked=True,
                  session_user_id: Optional[int] = None):
    """RootExports.listPackages: every package {package_id, package_name}
    without tagID/userID/pkgID (listPackagesSimple), else the package-list
    entries that match."""
    if tagID is None and userID is None and pkgID is None:
        sql, params = "SELECT id AS package_id, name AS package_name FROM packages", []
        if prefix is not None:
            sql += " WHERE name LIKE ? ESCAPE '\\'"
            escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            params.append(escaped + "%")
        rows = [dict(r) for r in conn.execute(sql + " ORDER BY id", params)]
        return builds.apply_query_opts(rows, queryOpts, ["package_id", "package_name"])
    if tagID is not None:
        tagID = builds.lookup_name(conn, "tags", tagID, strict=True)["id"]
    if userID is not None:
        userID = policy.get_user(conn, userID, strict=True, session_user_id=session_user_id)["id"]
    if pkgID is not None:
        pkgID = builds.lookup_name(conn, "packages", pkgID, strict=True)["id"]
    found = read_package_list(conn, tag_id=tagID, user_id=userID, pkg=pkgID, event=event,
                              with_dups=with_dups, with_owners=with_owners,
                              with_blocked=with_blocked)
    results = [e for entries in found.values() for e in entries] if with_dups \
        else list(found.values())
    if prefix:
        results = [p for p in results if p["package_name"].lower().startswith(prefix.lower())]
    return builds.apply_query_opts(results, queryOpts)


# -- tag access (kojihub.check_tag_access, assert_tag_access) ---------------------

def check_tag_access(conn: sqlite3.Connection, tag_id: Any, user_id: Any) -> tuple:
    """kojihub.check_tag_access: (access, override, reason); admins may
    override; a locked tag refuses.  (No tag requires a permission here.)"""
    if user_id is None:
        raise koji.GenericError("a user_id is required")
    user_id = state.convert_value(user_id, cast=int)
    override = "admin" in policy.user_perms(conn, user_id)
    tag = builds.get_tag(conn, tag_id, strict=True)
    if tag["locked"]:
        return False, override, "tag is locked"
    return True, override, ""


def assert_tag_access(conn: sqlite3.Connection, tag_id: Any, user_id: Any,
                      force: bool = False) -> None:
    """kojihub.assert_tag_access."""
    access, override, reason = check_tag_access(conn, tag_id, user_id)
    if not access and not (override and force):
        raise koji.ActionNotAllowed(reason)


# -- tagging (kojihub._tag_build, _direct_tag_build, _untag_build) -----------------

def _nvr(build: dict) -> str:
    return "{name}-{version}-{release}".format(**build)


def tag_build(conn: sqlite3.Connection, tag: Any, build: Any, *, user_id: Optional[int],
              force: bool = False, event: CallEvent) -> None:
    """kojihub._tag_build: as the user (the task's owner for host.tagBuild),
    with the tag access check (a locked tag needs force and admin)."""
    tag_info = builds.get_tag(conn, tag, strict=True)
    binfo = builds.get_build(conn, build, strict=True)
    user = policy.get_user(conn, user_id, strict=True)
    assert_tag_access(conn, tag_info["id"], user_id=user["id"], force=force)
    direct_tag_build(conn, tag_info, binfo, user, force=force, event=event)


def direct_tag_build(conn: sqlite3.Connection, tag: dict, build: dict, user: dict, *,
                     force: bool = False, event: CallEvent) -> None:
    """kojihub._direct_tag_build: only a COMPLETE build (not even with force);
    a build already in the tag is retagged only with force (its old entry
    revoked)."""
    if build["state"] != koji.BUILD_STATES["COMPLETE"]:
        raise koji.TagError(f"build {_nvr(build)} not complete: state"
                            f" {koji.BUILD_STATES[build['state']]}")
    where = {"tag_id": tag["id"], "build_id": build["id"]}
    tagged = conn.execute("SELECT 1 FROM tag_listing WHERE tag_id = ? AND build_id = ? AND"
                          " revoke_event IS NULL", (tag["id"], build["id"])).fetchone()
    if tagged:
        if not force:
            raise koji.TagError(f"build {_nvr(build)} already tagged ({tag['name']})")
        _revoke(conn, "tag_listing", where, event=event, user_id=user["id"])
    _create(conn, "tag_listing", where, event=event, user_id=user["id"])


def untag_build(conn: sqlite3.Connection, tag: Any, build: Any, *, user_id: Optional[int],
                strict: bool = True, force: bool = False, event: CallEvent) -> None:
    """kojihub._untag_build / _direct_untag_build: with the tag access check;
    strict: the build must be in the tag."""
    tag_info = builds.get_tag(conn, tag, strict=True)
    binfo = builds.get_build(conn, build, strict=True)
    user = policy.get_user(conn, user_id, strict=True)
    assert_tag_access(conn, tag_info["id"], user_id=user["id"], force=force)
    count = _revoke(conn, "tag_listing", {"tag_id": tag_info["id"], "build_id": binfo["id"]},
                    event=event, user_id=user["id"])
    if count == 0 and strict:
        raise koji.TagError(f"build {_nvr(binfo)} not in tag {tag_info['name']}")


# -- tagged builds (kojihub.readTaggedBuilds, RootExports.listTagged) --------------

def _tagged_dict(row: sqlite3.Row, extra: bool) -> dict:
    info = {
        "tag_id": row["tag_id"], "tag_name": row["tag_name"], "id": row["id"],
        "build_id": row["id"], "version": row["version"], "release": row["release"],
        "epoch": row["epoch"], "state": row["state"],
        "completion_time": state.ts_to_str(row["completion_ts"]), "promotion_time": None,
        "start_time": state.ts_to_str(row["start_ts"]), "task_id": row["task_id"],
        "draft": False, "owner_id": row["owner_id"], "owner_name": row["owner_name"],
        "promoter_id": None, "promoter_name": None,
        "creation_event_id": row["creation_event_id"],
        "creation_time": state.ts_to_str(row["creation_ts"]),
        "volume_id": 0, "volume_name": "DEFAULT", "package_id": row["package_id"],
        "package_name": row["package_name"], "name": row["package_name"],
        "nvr": "{}-{}-{}".format(row["package_name"], row["version"], row["release"]),
        "create_event": row["create_event"],
    }
    if extra:
        info["extra"] = None if row["extra"] is None else json.loads(row["extra"])
    return info


def read_tagged_builds(conn: sqlite3.Connection, tag_id: int, *, event: Any = None,
                       latest: Any = False, package: Any = None, owner: Any = None,
                       btype: Optional[str] = None, extra: bool = False,
                       draft: Optional[bool] = None) -> list:
    """kojihub.readTaggedBuilds: the tag's COMPLETE builds, most recently tagged
    first (a tie: the newest build first), whose package is in the tag's
    package list and not blocked; latest: True for the first per package, N
    for the first N."""
    if not isinstance(latest, NUMERIC_TYPES):
        latest = bool(latest)
    event = builds._event_arg(event)
    packages = read_package_list(conn, tag_id=tag_id, event=event, pkg=package,
                                 with_owners=False)
    if btype in ("maven", "win", "image") or draft:
        # no such builds here (the hub joins maven_builds/win_builds/image_builds)
        return []
    if btype is not None and btype != "rpm":
        raise koji.GenericError(f"unsupported build type: {btype}")
    clause, params = builds.event_clause(event, "l")
    sql = ("SELECT t.id AS tag_id, t.name AS tag_name, b.id, b.version, b.release, b.epoch,"
           " b.state, b.completion_ts, b.start_ts, b.task_id, b.extra, u.id AS owner_id,"
           " u.name AS owner_name, e.id AS creation_event_id, e.ts AS creation_ts,"
           " p.id AS package_id, p.name AS package_name, l.create_event"
           " FROM tag_listing l JOIN tags t ON t.id = l.tag_id JOIN builds b ON b.id = l.build_id"
           " JOIN events e ON e.id = b.create_event JOIN packages p ON p.id = b.pkg_id"
           f" JOIN users u ON u.id = b.owner WHERE {clause} AND l.tag_id = ? AND b.state = ?")
    values = [*params, tag_id, koji.BUILD_STATES["COMPLETE"]]
    if package:
        sql += " AND p.name = ?"
        values.append(_text_param(package))
    if owner:
        sql += " AND u.name = ?"
        values.append(_text_param(owner))
    result, seen = [], {}
    for row in conn.execute(sql + " ORDER BY l.create_event DESC, b.id DESC", values):
        pinfo = packages.get(row["package_id"])
        if pinfo is None or pinfo["blocked"]:
            continue
        if latest:
            count = seen.get(row["package_id"], 0)
            if (latest is True and count) or count >= latest:
                continue
            seen[row["package_id"]] = count + 1
        result.append(_tagged_dict(row, extra))
    return result


def list_tagged(conn: sqlite3.Connection, tag: Any, *, event=None,
                inherit=False, prefix=None, latest=False, package=None, owner=None,
                type=None, strict=True, extra=False, draft=None) -> list:
    """RootExports.listTagged (inherit follows no parents here)."""
    tag_info = builds.get_tag(conn, tag, strict=strict, event=event)
    if not tag_info:
        return []
    results = read_tagged_builds(conn, tag_info["id"], event=event, latest=latest,
                                 package=package, owner=owner, btype=type, extra=extra,
                                 draft=draft)
    if prefix:
        prefix = prefix.lower()
        results = [b for b in results if b["package_name"].lower().startswith(prefix)]
    return results


# -- tag change events (kojihub.tag_last_change_event, tag_first_change_event) -----

# the versioned tables with a tag_id that the emulator has (the hub also reads
# tag_updates, tag_inheritance, the group tables and the external repos'
# config, which the emulator does not version)
TAG_TABLES = ("tag_listing", "tag_config", "tag_packages", "tag_external_repos", "tag_extra")


def tag_last_change_event(conn: sqlite3.Connection, tag: Any, before: Any = None,
                          inherit: bool = True) -> Optional[int]:
    """kojihub.tag_last_change_event: the newest event (before `before`, if
    given) that created or revoked anything of the tag; None if none."""
    tag_info = builds.get_tag(conn, tag, strict=True, event="auto")
    before = state.convert_value(before, cast=int, none_allowed=True)
    events = []
    for table in TAG_TABLES:
        for column in ("create_event", "revoke_event"):
            sql = f"SELECT MAX({column}) FROM {table} WHERE tag_id = ?"
            params: list = [tag_info["id"]]
            if before is not None:
                sql += f" AND {column} < ?"
                params.append(before)
            events.append(conn.execute(sql, params).fetchone()[0])
    events = [e for e in events if e is not None]
    return max(events) if events else None


def tag_first_change_event(conn: sqlite3.Connection, tag: Any, after: Any = None,
                           inherit: bool = True) -> Optional[int]:
    """kojihub.tag_first_change_event: the tag's creation without `after`, else
    the first change after it (None if unchanged since)."""
    tag_id = builds.lookup_name(conn, "tags", tag, strict=True)["id"]
    after = state.convert_value(after, cast=int, none_allowed=True)
    tag_create = conn.execute("SELECT MIN(create_event) FROM tag_config WHERE tag_id = ?",
                              (tag_id,)).fetchone()[0]
    if after is None:
        return tag_create
    events = []
    for table in TAG_TABLES:
        for column in ("create_event", "revoke_event"):
            events.append(conn.execute(f"SELECT MIN({column}) FROM {table} WHERE tag_id = ?"
                                       f" AND {column} > ?", (tag_id, after)).fetchone()[0])
    events = [e for e in events if e is not None]
    if not events:
        return None
    return max(min(events), tag_create)
