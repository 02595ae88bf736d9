"""Package lists, tagged builds and tag groups on the emulated hub, after
kojihub/kojihub.py (readPackageList, _direct_pkglist_add, _pkglist_add,
_pkglist_remove, check_tag_access, _tag_build, _direct_tag_build,
_untag_build, _direct_untag_build, readTaggedBuilds, readTaggedRPMS,
RootExports.listTagged, get_tag_groups, readTagGroups, _grplist_add,
_grp_pkg_add, _grp_req_add, tag_last_change_event, tag_first_change_event).

tag_packages, tag_package_owners and tag_listing are versioned as on the hub:
a change revokes the active row (revoke_event, revoker_id) and inserts a new
one (create_event, creator_id); queries at an event see the rows live then
(builds.event_clause, kojihub eventCondition).  All the changes of one call
share one event, as the hub's get_event() gives one per call (CallEvent).

Inheritance is followed as on the hub (builds.read_full_inheritance, with
each link's package filter); no tag has a required permission (perm_id);
every build is an rpm build (btype rpm) and none is a draft.
"""

from __future__ import annotations

import json
import re
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

def read_package_list(conn: sqlite3.Connection, *,  # noqa: PLR0912
                      tag_id: Optional[int] = None,
                      user_id: Optional[int] = None, pkg: Any = None, event: Any = None,
                      inherit: bool = False, with_dups: bool = False, with_owners: bool = True,
                      with_blocked: bool = True) -> dict:
    """kojihub.readPackageList: {package_id: entry} (with_dups: lists), blocked
    entries included unless with_blocked is false.  pkg is an id (int) or a
    name.  With inherit (and a tag), the ancestors' entries follow in
    readFullInheritance order: the first entry of a package wins (with_dups:
    all are kept), and an ancestor's entry must match every package filter
    on the way to it (re.match)."""
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
    tag_pos = None
    if tag_id is not None:
        tag_id = builds.pg_int(tag_id)
        clauses.append("t.id = ?")
        tag_pos = len(values)
        values.append(tag_id)
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
    sql = (f"SELECT {columns} FROM tag_packages tp{joins} WHERE " + " AND ".join(clauses)
           + " ORDER BY t.id, p.id")
    packages: dict = {}
    for row in conn.execute(sql, values):
        entry = dict(row)
        entry["blocked"] = bool(entry["blocked"])
        if with_dups:
            packages.setdefault(entry["package_id"], []).append(entry)
        else:
            packages[entry["package_id"]] = entry
    if tag_pos is not None and inherit:
        _add_inherited_packages(conn, packages, tag_id, event, sql, values, tag_pos,
                                with_dups=with_dups)
    return packages


def _add_inherited_packages(conn: sqlite3.Connection, packages: dict, tag_id: int,  # noqa: PLR0917
                            event: Optional[int], sql: str, values: list, tag_pos: int, *,
                            with_dups: bool) -> None:
    """readPackageList's inherit loop: the same query for each ancestor."""
    for link in builds.read_full_inheritance(conn, tag_id, event):
        values[tag_pos] = link["parent_id"]
        patterns = [re.compile(pattern) for pattern in link["filter"]]
        for row in conn.execute(sql, values):
            entry = dict(row)
            entry["blocked"] = bool(entry["blocked"])
            if not with_dups and entry["package_id"] in packages:
                continue  # the nearer entry wins
            if any(prog.match(entry["package_name"]) is None for prog in patterns):
                continue
            if with_dups:
                packages.setdefault(entry["package_id"], []).append(entry)
            else:
                packages[entry["package_id"]] = entry


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
    # the previous entry, possibly inherited (_direct_pkglist_add: inherit=True)
    previous = read_package_list(conn, tag_id=tag_id, pkg=package["id"],
                                 inherit=True).get(package["id"])
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
    owner; inherited entries too), None if the tag, the package or the entry
    does not exist."""
    tag_row = builds.lookup_name(conn, "tags", tag, strict=False)
    pkg_row = builds.lookup_name(conn, "packages", pkg, strict=False)
    if tag_row is None or pkg_row is None:
        return None
    return read_package_list(conn, tag_id=tag_row["id"], pkg=pkg_row["id"], inherit=True,
                             event=event).get(pkg_row["id"])


def check_tag_package(conn: sqlite3.Connection, tag: Any, pkg: Any) -> bool:
    """RootExports.checkTagPackage: listed (possibly inherited) and not blocked."""
    tag_row = builds.lookup_name(conn, "tags", tag, strict=False)
    pkg_row = builds.lookup_name(conn, "packages", pkg, strict=False)
    if tag_row is None or pkg_row is None:
        return False
    entry = read_package_list(conn, tag_id=tag_row["id"], pkg=pkg_row["id"], inherit=True,
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
                              inherit=inherited, with_dups=with_dups, with_owners=with_owners,
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


def read_tagged_builds(conn: sqlite3.Connection, tag_id: int, *,
                       event: Any = None, inherit: bool = False, latest: Any = False,
                       package: Any = None, owner: Any = None, btype: Optional[str] = None,
                       extra: bool = False, draft: Optional[bool] = None) -> list:
    """kojihub.readTaggedBuilds: the COMPLETE builds of the tag (inherit: then of
    each ancestor, in readFullInheritance order), each tag's most recently
    tagged first (a tie: the newest build first), whose package is in the
    tag's package list (always read with inheritance) and not blocked;
    latest: True for the first per package, N for the first N, counted
    across the tags."""
    if not isinstance(latest, NUMERIC_TYPES):
        latest = bool(latest)
    event = builds._event_arg(event)
    taglist = [tag_id]
    if inherit:
        taglist += [link["parent_id"] for link in builds.read_full_inheritance(conn, tag_id, event)]
    packages = read_package_list(conn, tag_id=tag_id, event=event, inherit=True, pkg=package,
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
    tag_pos = len(params)
    values = [*params, tag_id, koji.BUILD_STATES["COMPLETE"]]
    if package:
        sql += " AND p.name = ?"
        values.append(_text_param(package))
    if owner:
        sql += " AND u.name = ?"
        values.append(_text_param(owner))
    sql += " ORDER BY l.create_event DESC, b.id DESC"
    result, seen = [], {}
    for tagid in taglist:
        values[tag_pos] = tagid
        for row in conn.execute(sql, values):
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


# the rpm fields readTaggedRPMS gives (and repo_init writes to rpmlist.jsonl)
# that the emulator records (no sigmd5/sha*header columns here)
TAGGED_RPM_FIELDS = ("name", "version", "release", "arch", "id", "epoch", "draft",
                     "payloadhash", "size", "buildtime", "buildroot_id", "build_id",
                     "metadata_only", "extra")


def read_tagged_rpms(conn: sqlite3.Connection, tag_id: int, *, event: Any = None,
                     inherit: bool = False, latest: Any = True, package: Any = None) -> tuple:
    """kojihub.readTaggedRPMS: (rpms, builds).  builds is readTaggedBuilds';
    the rpms are those of these builds, tag by tag (each tag once), an rpm
    listed only under the tag its build came from."""
    event = builds._event_arg(event)
    tagged = read_tagged_builds(conn, tag_id, event=event, inherit=inherit, latest=latest,
                                package=package)
    by_id = {b["build_id"]: b for b in tagged}
    taglist = [tag_id]
    if inherit:
        taglist += [link["parent_id"] for link in builds.read_full_inheritance(conn, tag_id, event)]
    clause, params = builds.event_clause(event, "l")
    rpms, tags_seen = [], set()
    for tagid in taglist:
        if tagid in tags_seen:
            continue
        tags_seen.add(tagid)
        rows = conn.execute(
            "SELECT r.* FROM rpminfo r JOIN tag_listing l ON l.build_id = r.build_id"
            f" WHERE {clause} AND l.tag_id = ? ORDER BY r.id", (*params, tagid))
        for row in rows:
            build = by_id.get(row["build_id"])
            if build is None or build["tag_id"] != tagid:
                continue
            rpms.append(builds.rpm_dict(row, TAGGED_RPM_FIELDS))
    return rpms, tagged


def list_tagged(conn: sqlite3.Connection, tag: Any, *, event=None,
                inherit=False, prefix=None, latest=False, package=None, owner=None,
                type=None, strict=True, extra=False, draft=None) -> list:
    """RootExports.listTagged."""
    tag_info = builds.get_tag(conn, tag, strict=strict, event=event)
    if not tag_info:
        return []
    results = read_tagged_builds(conn, tag_info["id"], event=event, inherit=inherit,
                                 latest=latest, package=package, owner=owner, btype=type,
                                 extra=extra, draft=draft)
    if prefix:
        prefix = prefix.lower()
        results = [b for b in results if b["package_name"].lower().startswith(prefix)]
    return results


# -- tag groups (kojihub.get_tag_groups, readTagGroups, _grplist_add, ...) ---------

GROUP_CONFIG = ("exported", "display_name", "is_default", "uservisible", "description",
                "langonly", "biarchonly", "blocked")
_GROUP_BOOLS = ("blocked", "exported", "is_default", "uservisible", "biarchonly",
                "basearchonly", "is_metapkg")


def _group_row(row: sqlite3.Row) -> dict:
    entry = dict(row)
    for key in _GROUP_BOOLS:
        if key in entry and entry[key] is not None:
            entry[key] = bool(entry[key])
    return entry


def lookup_group(conn: sqlite3.Connection, info: Any, strict: bool = False,
                 create: bool = False) -> Optional[dict]:
    """kojihub.lookup_group (lookup_name on groups): {id, name}; create makes a
    group of a name."""
    column, value = builds.name_or_id(info)
    row = conn.execute(f"SELECT id, name FROM groups WHERE {column} = ?", (value,)).fetchone()
    if row is not None:
        return dict(row)
    if create and column == "name":
        cur = conn.execute("INSERT INTO groups (name) VALUES (?)", (value,))
        return {"id": int(cur.lastrowid), "name": value}
    if strict:
        raise koji.GenericError(f"No such entry in table groups: {info}")
    return None


def get_tag_groups(conn: sqlite3.Connection, tag: Any, event: Any = None,  # noqa: PLR0917
                   inherit: bool = True, incl_pkgs: bool = True, incl_reqs: bool = True) -> dict:
    """kojihub.get_tag_groups: {group_id: group} for the tag (inherit: then its
    ancestors; the first entry of a group, a package or a requirement wins),
    blocked entries included; packages and requirements of a blocked group
    are left out, and so are requirements on groups the tag does not have or
    has blocked."""
    tag_id = builds.lookup_name(conn, "tags", tag, strict=True)["id"]
    event = builds._event_arg(event)
    taglist = [tag_id]
    if inherit:
        taglist += [link["parent_id"] for link in builds.read_full_inheritance(conn, tag_id, event)]
    clause, params = builds.event_clause(event, "c")
    groups: dict = {}
    for tagid in taglist:
        for row in conn.execute(
                "SELECT g.name, c.group_id, c.tag_id, c.blocked, c.exported, c.display_name,"
                " c.is_default, c.uservisible, c.description, c.langonly, c.biarchonly"
                f" FROM group_config c JOIN groups g ON g.id = c.group_id WHERE {clause}"
                " AND c.tag_id = ? ORDER BY c.rowid", (*params, tagid)):
            groups.setdefault(row["group_id"], _group_row(row))
    if incl_pkgs:
        _group_members(conn, groups, taglist, event, "packagelist")
    if incl_reqs:
        _group_members(conn, groups, taglist, event, "grouplist")
    return groups


def _group_members(conn: sqlite3.Connection, groups: dict, taglist: list,
                   event: Optional[int], key: str) -> None:
    """get_tag_groups' packagelist (by package name) or grouplist (by req_id):
    the first entry wins, none for a group blocked (or, for a requirement, a
    required group missing or blocked)."""
    clause, params = builds.event_clause(event, "c")
    if key == "packagelist":
        sql = ("SELECT c.group_id, c.tag_id, c.package, c.blocked, c.type, c.basearchonly,"
               f" c.requires FROM group_package_listing c WHERE {clause} AND c.tag_id = ?"
               " ORDER BY c.rowid")
    else:
        sql = ("SELECT c.group_id, c.tag_id, c.req_id, c.blocked, c.type, c.is_metapkg,"
               " g.name FROM group_req_listing c JOIN groups g ON g.id = c.req_id"
               f" WHERE {clause} AND c.tag_id = ? ORDER BY c.rowid")
    for group in groups.values():
        group[key] = {}
    for tagid in taglist:
        for row in conn.execute(sql, (*params, tagid)):
            group = groups.get(row["group_id"])
            if group is None or group["blocked"]:
                continue
            if key == "packagelist":
                group[key].setdefault(row["package"], _group_row(row))
                continue
            req = groups.get(row["req_id"])
            if req is not None and not req["blocked"]:
                group[key].setdefault(row["req_id"], _group_row(row))


def read_tag_groups(conn: sqlite3.Connection, tag: Any, event: Any = None,  # noqa: PLR0917
                    inherit: bool = True, incl_pkgs: bool = True, incl_reqs: bool = True,
                    incl_blocked: bool = False) -> list:
    """kojihub.readTagGroups (getTagGroups): get_tag_groups as lists, blocked
    groups, packages and requirements left out unless incl_blocked."""
    groups = list(get_tag_groups(conn, tag, event, inherit, incl_pkgs, incl_reqs).values())
    for group in groups:
        for key in ("packagelist", "grouplist"):
            if key in group:
                group[key] = [x for x in group[key].values() if incl_blocked or not x["blocked"]]
    return groups if incl_blocked else [g for g in groups if not g["blocked"]]


def _revoke_create(conn: sqlite3.Connection, table: str, where: dict, data: dict,
                   event: CallEvent) -> None:
    """make_revoke + make_create for the group tables (no creator columns here)."""
    clauses = " AND ".join(f"{k} = ?" for k in where)
    conn.execute(f"UPDATE {table} SET revoke_event = ? WHERE {clauses} AND revoke_event IS NULL",
                 (event(), *where.values()))
    row = dict(data, create_event=event())
    conn.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                 tuple(int(v) if isinstance(v, bool) else v for v in row.values()))


def _merge_config(previous: Optional[dict], opts: dict, fields: tuple) -> bool:
    """The _grp*_add duplicate check: fill opts from the previous entry; True if
    anything differs (or there was none)."""
    if previous is None:
        return True
    changed = False
    for field in fields:
        if field in opts:
            changed = changed or opts[field] != previous[field]
        else:
            opts[field] = previous[field]
    return changed


def grplist_add(conn: sqlite3.Connection, tag: Any, group: Any, *, block: bool = False,
                force: bool = False, event: CallEvent, **opts: Any) -> None:
    """kojihub._grplist_add: the group (created if new) in the tag's group list,
    or blocked there; a group blocked on the way (inherited too) needs force;
    the same config again changes nothing."""
    tag_info = builds.get_tag(conn, tag, strict=True)
    group_info = lookup_group(conn, group, create=True)
    opts = {k: v for k, v in opts.items() if k in GROUP_CONFIG}
    opts["blocked"] = bool(block)
    previous = get_tag_groups(conn, tag_info["id"], inherit=True, incl_pkgs=False,
                              incl_reqs=False).get(group_info["id"])
    if previous is not None and previous["blocked"] and not force:
        raise koji.GenericError(f"group {group_info['name']} is blocked in tag"
                                f" {tag_info['name']}")
    if not _merge_config(previous, opts, GROUP_CONFIG):
        return
    opts.setdefault("display_name", group_info["name"])
    opts.setdefault("biarchonly", False)
    opts.setdefault("exported", True)
    opts.setdefault("uservisible", True)
    where = {"group_id": group_info["id"], "tag_id": tag_info["id"]}
    _revoke_create(conn, "group_config", where, dict(where, **opts), event)


def _present_group(conn: sqlite3.Connection, tag_info: dict, group_info: dict, *,
                   incl_pkgs: bool, incl_reqs: bool) -> dict:
    """The _grp_pkg_add/_grp_req_add check: the group is in the tag (inherited
    too) and not blocked there."""
    groups = get_tag_groups(conn, tag_info["id"], inherit=True, incl_pkgs=incl_pkgs,
                            incl_reqs=incl_reqs)
    grp_cfg = groups.get(group_info["id"])
    if grp_cfg is None:
        raise koji.GenericError(f"group {group_info['name']} not present in tag"
                                f" {tag_info['name']}")
    if grp_cfg["blocked"]:
        raise koji.GenericError(f"group {group_info['name']} is blocked in tag"
                                f" {tag_info['name']}")
    return grp_cfg


def grp_pkg_add(conn: sqlite3.Connection, tag: Any, group: Any, pkg_name: str, *,
                block: bool = False, force: bool = False, event: CallEvent,
                **opts: Any) -> None:
    """kojihub._grp_pkg_add: a package (type mandatory unless given) in the
    tag's group, or blocked there."""
    tag_info = builds.get_tag(conn, tag, strict=True)
    group_info = lookup_group(conn, group, strict=True)
    block = bool(block)
    grp_cfg = _present_group(conn, tag_info, group_info, incl_pkgs=True, incl_reqs=False)
    previous = grp_cfg["packagelist"].get(pkg_name)
    fields = ("type", "basearchonly", "requires")
    opts = {k: v for k, v in opts.items() if k in fields}
    if previous is not None:
        if previous["blocked"] and not force:
            raise koji.GenericError(f"package {pkg_name} blocked in group {group_info['name']},"
                                    f" tag {tag_info['name']}")
        changed = _merge_config(previous, opts, fields) or block
        if not changed and not force:
            return
    opts.setdefault("type", "mandatory")
    where = {"group_id": group_info["id"], "tag_id": tag_info["id"], "package": pkg_name}
    _revoke_create(conn, "group_package_listing", where, dict(where, blocked=block, **opts),
                   event)


def grp_req_add(conn: sqlite3.Connection, tag: Any, group: Any, req: Any, *,
                block: bool = False, force: bool = False, event: CallEvent,
                **opts: Any) -> None:
    """kojihub._grp_req_add: the group requires another group of the tag."""
    tag_info = builds.get_tag(conn, tag, strict=True)
    group_info = lookup_group(conn, group, strict=True)
    req_info = lookup_group(conn, req, strict=True)
    block = bool(block)
    grp_cfg = _present_group(conn, tag_info, group_info, incl_pkgs=False, incl_reqs=True)
    previous = grp_cfg["grouplist"].get(req_info["id"])
    fields = ("type", "is_metapkg")
    opts = {k: v for k, v in opts.items() if k in fields}
    if previous is not None:
        if previous["blocked"] and not force:
            raise koji.GenericError(f"requirement on group {req_info['name']} blocked in group"
                                    f" {group_info['name']}, tag {tag_info['name']}")
        if not (_merge_config(previous, opts, fields) or block):
            return
    opts.setdefault("type", "mandatory")
    where = {"group_id": group_info["id"], "tag_id": tag_info["id"], "req_id": req_info["id"]}
    _revoke_create(conn, "group_req_listing", where, dict(where, blocked=block, **opts), event)


# -- tag change events (kojihub.tag_last_change_event, tag_first_change_event) -----

# the versioned tables with a tag_id that the emulator has (the hub also reads
# tag_updates and the external repos' config and data, which the emulator does
# not version)
TAG_TABLES = ("tag_listing", "tag_inheritance", "tag_config", "tag_packages",
              "tag_external_repos", "tag_extra", "group_package_listing", "group_req_listing",
              "group_config")


def _change_tags(conn: sqlite3.Connection, tag_id: int, event: Optional[int],
                 inherit: bool) -> list:
    """The tag and (inherit) its ancestors at the event (readFullInheritance)."""
    tags = [tag_id]
    if inherit:
        tags += [link["parent_id"] for link in builds.read_full_inheritance(conn, tag_id, event)]
    return tags


def tag_last_change_event(conn: sqlite3.Connection, tag: Any, before: Any = None,
                          inherit: bool = True) -> Optional[int]:
    """kojihub.tag_last_change_event: the newest event (before `before`, if
    given) that created or revoked anything of the tag or (inherit) of its
    ancestors as they were at `before`; None if none."""
    tag_info = builds.get_tag(conn, tag, strict=True, event="auto")
    before = state.convert_value(before, cast=int, none_allowed=True)
    tags = _change_tags(conn, tag_info["id"], before, inherit)
    marks = ",".join("?" * len(tags))
    events = []
    for table in TAG_TABLES:
        for column in ("create_event", "revoke_event"):
            sql = f"SELECT MAX({column}) FROM {table} WHERE tag_id IN ({marks})"
            params: list = list(tags)
            if before is not None:
                sql += f" AND {column} < ?"
                params.append(before)
            events.append(conn.execute(sql, params).fetchone()[0])
    events = [e for e in events if e is not None]
    return max(events) if events else None


def tag_first_change_event(conn: sqlite3.Connection, tag: Any, after: Any = None,
                           inherit: bool = True) -> Optional[int]:
    """kojihub.tag_first_change_event: the tag's creation without `after`, else
    the first change after it of the tag or (inherit) of its ancestors as
    they were at `after` (None if unchanged since)."""
    tag_id = builds.lookup_name(conn, "tags", tag, strict=True)["id"]
    after = state.convert_value(after, cast=int, none_allowed=True)
    tag_create = conn.execute("SELECT MIN(create_event) FROM tag_config WHERE tag_id = ?",
                              (tag_id,)).fetchone()[0]
    if after is None:
        return tag_create
    tags = _change_tags(conn, tag_id, after, inherit)
    marks = ",".join("?" * len(tags))
    events = []
    for table in TAG_TABLES:
        for column in ("create_event", "revoke_event"):
            events.append(conn.execute(
                f"SELECT MIN({column}) FROM {table} WHERE tag_id IN ({marks})"
                f" AND {column} > ?", (*tags, after)).fetchone()[0])
    events = [e for e in events if e is not None]
    if not events:
        return None
    return max(min(events), tag_create)
