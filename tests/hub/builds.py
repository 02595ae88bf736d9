"""RPM builds on the emulated hub: events, tags, targets, external repos, repos,
rpms, builds and buildroots, after kojihub/kojihub.py (koji 1.34-1.36).

Each function cites the kojihub function it follows; the error texts are the
hub's.  What the hub leaves to PostgreSQL (foreign keys, unique constraints,
integer input) fails here as psycopg2's error reaches a client: a code-1 fault
"<class 'psycopg2.errors.X'>: ...".  Anything the emulator does not model
fails loudly with a text that starts with "emulator:".

The functions work on the SQLite connection given (the server's, inside the
call's transaction, or the admin side's); files go under `topdir` as on the
hub (koji.pathinfo layout).

Package lists, tagging and tag change events are in tests/hub/tagging.py,
policies in tests/hub/policy.py, repo requests in tests/hub/repos.py.

Tag inheritance is kojihub's (readInheritanceData, readFullInheritance: depth,
intransitive links, noconfig, package filters, loops pruned); tag groups are
in tests/hub/tagging.py.

Not modelled (and refused where a caller could ask for it): draft builds,
signatures (rpmsigs), volumes other than DEFAULT, content generators,
archives (maven/win/image).  Build and tag notifications are in
tests/hub/notify.py.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import xmlrpc.client
from typing import Any, Optional

import koji

from tests.hub import rpmheader, state

REPO_OPTS_DEFAULT = {"src": False, "debuginfo": False, "separate_src": False, "maven": False}

# kojihub table names for lookup_name's error text
KOJI_TABLE = {"tags": "tag", "external_repos": "external_repo", "packages": "package",
              "channels": "channels", "build_targets": "build_target"}


# -- errors --------------------------------------------------------------------

def pg_error(kind: str, message: str) -> xmlrpc.client.Fault:
    """A PostgreSQL error as the hub's client sees it: code 1, psycopg2's class."""
    return xmlrpc.client.Fault(1, f"<class 'psycopg2.errors.{kind}'>: {message}")


def pg_int(value: Any, column: str = "integer") -> int:
    """A value compared with an integer column: PostgreSQL casts a quoted string
    of digits, anything else fails."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise pg_error("InvalidTextRepresentation",
                   f'invalid input syntax for type {column}: "{value}"')


def _event_arg(event: Any) -> Optional[int]:
    """eventCondition formats the event with %i: an int (or None)."""
    if event is None:
        return None
    if not isinstance(event, (int, float)):
        raise TypeError(f"%i format: a real number is required, not {type(event).__name__}")
    return int(event)


def event_clause(event: Optional[int], table: str = "") -> tuple:
    """kojihub.eventCondition: active rows (event None), or rows live at event."""
    prefix = f"{table}." if table else ""
    if event is None:
        return f"{prefix}revoke_event IS NULL", ()
    return (f"{prefix}create_event <= ? AND ({prefix}revoke_event IS NULL"
            f" OR ? < {prefix}revoke_event)"), (event, event)


def _json(text: Optional[str]) -> Any:
    return None if text is None else json.loads(text)


def apply_query_opts(rows: list, query_opts: Optional[dict], fields: Optional[list] = None):
    """QueryProcessor opts (and kojihub._applyQueryOpts) on a list of dicts:
    order (comma-separated, '-' for descending), offset, limit, countOnly,
    asList.  Other options fail loudly."""
    if not query_opts:
        return rows
    unknown = set(query_opts) - {"order", "offset", "limit", "countOnly", "asList"}
    if unknown:
        raise koji.GenericError(f"emulator: queryOpts {sorted(unknown)} are not supported")
    order = query_opts.get("order")
    if order:
        for item in reversed(order.split(",")):
            reverse = item.strip().startswith("-")
            key = item.strip().lstrip("-")
            rows = sorted(rows, key=lambda r, k=key: (r[k] is None, r[k]), reverse=reverse)
    if query_opts.get("countOnly"):
        return len(rows)
    offset = query_opts.get("offset")
    if offset:
        rows = rows[offset:]
    limit = query_opts.get("limit")
    if limit is not None:
        rows = rows[:limit]
    if query_opts.get("asList"):
        keys = fields if fields is not None else (list(rows[0]) if rows else [])
        rows = [[r[k] for k in keys] for r in rows]
    return rows


# -- events ----------------------------------------------------------------------

def event_info(conn: sqlite3.Connection, event_id, strict=True) -> Optional[dict]:
    """RootExports.getEvent (1.35+: convert_value(id, int), strict): {id, ts};
    executeOne(strict)."""
    event_id = state.convert_value(event_id, cast=int)
    strict = state.convert_value(strict, cast=bool)
    row = conn.execute("SELECT id, ts FROM events WHERE id = ?", (event_id,)).fetchone()
    if row is None:
        if strict:
            raise koji.GenericError("query returned no rows")
        return None
    return {"id": row["id"], "ts": row["ts"]}


def last_event(conn: sqlite3.Connection, before=None, strict=True) -> Optional[dict]:
    """RootExports.getLastEvent (1.35+ has strict): the newest event, or the newest
    before a time."""
    if before is not None:
        if isinstance(before, bool) or not isinstance(before, (int, float)):
            raise koji.GenericError(f"Invalid type for before: {type(before)}")
        row = conn.execute("SELECT id, ts FROM events WHERE ts < ? ORDER BY id DESC LIMIT 1",
                           (before,)).fetchone()
    else:
        row = conn.execute("SELECT id, ts FROM events ORDER BY id DESC LIMIT 1").fetchone()
    if row is None:
        if strict:
            raise koji.GenericError("query returned no rows")
        return None
    return {"id": row["id"], "ts": row["ts"]}


# -- names and ids (kojihub.name_or_id_clause, lookup_name) ------------------------

def name_or_id(info: Any) -> tuple:
    """kojihub.name_or_id_clause: ('id', n) or ('name', s)."""
    if isinstance(info, dict):
        if "id" in info:
            try:
                info = int(info["id"])
            except (TypeError, ValueError):
                raise koji.ParameterError(f"Invalid name or id value: {info}") from None
        elif "name" in info:
            info = info["name"]
        else:
            raise koji.ParameterError(f"Invalid name or id value: {info}")
    if isinstance(info, int):
        return "id", info
    if isinstance(info, str):
        return "name", info
    raise koji.ParameterError(f"Invalid name or id value: {info}")


def lookup_name(conn: sqlite3.Connection, table: str, info: Any,
                strict: bool = False) -> Optional[sqlite3.Row]:
    """kojihub.lookup_name (without create)."""
    column, value = name_or_id(info)
    row = conn.execute(f"SELECT * FROM {table} WHERE {column} = ?", (value,)).fetchone()
    if row is None and strict:
        raise koji.GenericError(f"No such entry in table {KOJI_TABLE[table]}: {info}")
    return row


# -- tags (kojihub.get_tag, get_tag_extra, RootExports.getBuildConfig) -------------

def get_tag(conn: sqlite3.Connection, tag_info, strict=False, event=None,
            blocked=False) -> Optional[dict]:
    """kojihub.get_tag: the tag_config live at event (active if None), with its extra.

    event="auto" is the latest config of a deleted tag; tags are never deleted
    here, so it is the active one (and no query_event), as on the hub.
    """
    column, value = name_or_id(tag_info)
    if event == "auto":
        event = None
    event = _event_arg(event)
    clause, params = event_clause(event, "c")
    row = conn.execute(
        "SELECT t.id, t.name, c.arches, c.locked, c.maven_support, c.maven_include_all"
        f" FROM tag_config c JOIN tags t ON t.id = c.tag_id WHERE t.{column} = ? AND {clause}",
        (value, *params)).fetchone()
    if row is None:
        if strict:
            raise koji.GenericError(f"No such tagInfo: {tag_info!r}")
        return None
    info = {
        "id": row["id"], "name": row["name"], "perm_id": None, "perm": None,
        "arches": row["arches"], "locked": bool(row["locked"]),
        "maven_support": bool(row["maven_support"]),
        "maven_include_all": bool(row["maven_include_all"]),
        "extra": get_tag_extra(conn, row["id"], event, blocked=blocked),
    }
    if event is not None:
        info["query_event"] = event
    return info


def get_tag_extra(conn: sqlite3.Connection, tag_id: int, event=None, blocked=False) -> dict:
    """kojihub.get_tag_extra: {key: value}, or {key: (blocked, value)} with blocked."""
    clause, params = event_clause(event)
    extra: dict = {}
    for row in conn.execute(f"SELECT key, value FROM tag_extra WHERE tag_id = ? AND {clause}"
                            " ORDER BY key", (tag_id, *params)):
        if row["value"] is None:
            if blocked:
                extra[row["key"]] = (True, None)
            continue
        value = json.loads(row["value"])
        extra[row["key"]] = (False, value) if blocked else value
    return extra


def get_build_config(conn: sqlite3.Connection, tag, event=None) -> dict:
    """RootExports.getBuildConfig: the tag with arches (when it has none) and
    extra keys it lacks taken down its inheritance (noconfig links skipped),
    config_inheritance saying from which tag, then blocked extra removed."""
    info = get_tag(conn, tag, strict=True, event=event, blocked=True)
    info["config_inheritance"] = {"extra": {}, "arches": None}
    for link in read_full_inheritance(conn, info["id"], event=event):
        if link["noconfig"]:
            continue
        ancestor = get_tag(conn, link["parent_id"], strict=True, event=event, blocked=True)
        origin = {"id": ancestor["id"], "name": ancestor["name"]}
        if info["arches"] is None and ancestor["arches"] is not None:
            info["arches"] = ancestor["arches"]
            info["config_inheritance"]["arches"] = origin
        for key, value in ancestor["extra"].items():
            if key not in info["extra"]:
                info["extra"][key] = value
                info["config_inheritance"]["extra"][key] = dict(origin)
    info["extra"] = {k: v[1] for k, v in info["extra"].items() if not v[0]}
    return info


# -- tag inheritance (kojihub.readInheritanceData, readFullInheritance) -------------

def read_inheritance_data(conn: sqlite3.Connection, tag_id: int, event=None,
                          reverse: bool = False) -> list:
    """kojihub.readInheritanceData (reverse: readDescendantsData): the tag's
    links live at the event, by priority.  A link names its parent (name is
    the parent's) and child_id is the tag; reversed, tag_id is the child
    and name the child's."""
    clause, params = event_clause(_event_arg(event), "i")
    near, far = ("parent_id", "tag_id") if reverse else ("tag_id", "parent_id")
    rows = conn.execute(
        "SELECT i.tag_id, i.parent_id, t.name, i.priority, i.maxdepth, i.intransitive,"
        f" i.noconfig, i.pkg_filter FROM tag_inheritance i JOIN tags t ON t.id = i.{far}"
        f" WHERE {clause} AND i.{near} = ? ORDER BY i.priority", (*params, tag_id)).fetchall()
    links = []
    for row in rows:
        link = {"parent_id": row["parent_id"], "name": row["name"],
                "priority": row["priority"], "maxdepth": row["maxdepth"],
                "intransitive": bool(row["intransitive"]), "noconfig": bool(row["noconfig"]),
                "pkg_filter": row["pkg_filter"]}
        if reverse:
            link = {"tag_id": row["tag_id"], **link}
        else:
            link["child_id"] = tag_id
        links.append(link)
    return links


def _link_sufficient(previous: dict, nextdepth, noconfig: bool) -> bool:
    """readFullInheritanceRecurse: whether an earlier visit of a tag covers this one
    (no shallower depth, no lost config, no package filter then)."""
    lastdepth = previous["nextdepth"]
    if nextdepth is None:
        if lastdepth is not None:
            return False
    elif lastdepth is not None and lastdepth < nextdepth:
        return False
    if previous["noconfig"] and not noconfig:
        return False
    return not previous["filter"]


def _next_depth(link_maxdepth, maxdepth):
    """readFullInheritanceRecurse: the depth left below a link (None: no limit),
    the link's maxdepth and the one propagated from above, whichever is less."""
    if link_maxdepth is None:
        return None if maxdepth is None else maxdepth - 1
    if maxdepth is None:
        return link_maxdepth
    return min(link_maxdepth, maxdepth) - 1


def _inheritance_recurse(conn: sqlite3.Connection, tag_id: int, event, order: list,  # noqa: PLR0917
                         top: dict, hist: dict, currdepth: int, maxdepth, noconfig: bool,
                         pfilter: list, reverse: bool) -> None:
    """kojihub.readFullInheritanceRecurse."""
    if maxdepth is not None and maxdepth < 1:
        return
    currdepth += 1
    top = dict(top)
    top[tag_id] = 1
    for link in read_inheritance_data(conn, tag_id, event, reverse=reverse):
        node = link["tag_id"] if reverse else link["parent_id"]
        if node in top:
            continue  # an inheritance loop: pruned
        if link["intransitive"] and len(top) > 1 and not reverse:
            continue  # intransitive links count only at the root
        if reverse and link["maxdepth"] is not None and link["maxdepth"] < currdepth - 1:
            continue  # reversed, a maxdepth limits how far below the link's child
        nextdepth = None if reverse else _next_depth(link["maxdepth"], maxdepth)
        link["nextdepth"] = nextdepth
        link["currdepth"] = currdepth
        if link["noconfig"]:
            noconfig = True
        link["filter"] = list(pfilter) + ([link["pkg_filter"]] if link["pkg_filter"] else [])
        if node in hist:
            if any(_link_sufficient(prev, nextdepth, noconfig) for prev in hist[node]):
                continue
        else:
            hist[node] = []
        hist[node].append(link)
        order.append(link)
        if link["intransitive"] and reverse:
            continue
        _inheritance_recurse(conn, node, event, order, top, hist, currdepth, nextdepth,
                             noconfig, link["filter"], reverse)


def read_full_inheritance(conn: sqlite3.Connection, tag_id: int, event=None,
                          reverse: bool = False) -> list:
    """kojihub.readFullInheritance: the tag's ancestors (reverse: descendants),
    depth first by priority, each link with currdepth, nextdepth and the
    cumulative package filter."""
    order: list = []
    _inheritance_recurse(conn, tag_id, event, order, {}, {}, 0, None, False, [], reverse)
    return order


def tag_external_repos(conn: sqlite3.Connection, tag_id: int, event=None) -> list:
    """kojihub.get_tag_external_repos(tag_info=...): ordered by priority."""
    clause, params = event_clause(event, "ter")
    rows = conn.execute(
        "SELECT e.id AS external_repo_id, e.name AS external_repo_name, ter.priority,"
        " t.id AS tag_id, t.name AS tag_name, e.url, ter.merge_mode, ter.arches"
        " FROM tag_external_repos ter JOIN tags t ON t.id = ter.tag_id"
        " JOIN external_repos e ON e.id = ter.external_repo_id"
        f" WHERE ter.tag_id = ? AND {clause} ORDER BY ter.priority", (tag_id, *params))
    return [dict(r) for r in rows]


def get_external_repo_list(conn: sqlite3.Connection, tag_info, event=None) -> list:
    """kojihub.get_external_repo_list: the tag's external repos by priority, then
    each ancestor's (readFullInheritance order), each repo once; entries carry
    merge_mode and arches (get_tag_external_repos)."""
    tag = get_tag(conn, tag_info, strict=True, event=event)
    tag_ids = [tag["id"]] + [link["parent_id"]
                             for link in read_full_inheritance(conn, tag["id"], event)]
    seen, repos = set(), []
    for tag_id in tag_ids:
        get_tag(conn, tag_id, strict=True, event=event)
        for entry in tag_external_repos(conn, tag_id, _event_arg(event)):
            if entry["external_repo_id"] not in seen:
                seen.add(entry["external_repo_id"])
                repos.append(entry)
    return repos


def get_external_repo_id(conn: sqlite3.Connection, info, strict=False) -> Optional[int]:
    """kojihub.get_external_repo_id (lookup_name on external_repo)."""
    row = lookup_name(conn, "external_repos", info, strict=strict)
    return None if row is None else row["id"]


# -- targets and channels ----------------------------------------------------------

def get_build_target(conn: sqlite3.Connection, info, event=None, strict=False) -> Optional[dict]:
    """kojihub.get_build_target: {id, name, build_tag, dest_tag, build_tag_name,
    dest_tag_name}.  Targets are not edited here; one exists from its event."""
    event = _event_arg(event)
    rows = []
    if info is not None:
        column, value = name_or_id(info)
        rows = conn.execute(
            "SELECT b.*, t1.name AS build_tag_name, t2.name AS dest_tag_name"
            " FROM build_targets b JOIN tags t1 ON t1.id = b.build_tag"
            f" JOIN tags t2 ON t2.id = b.dest_tag WHERE b.{column} = ?"
            " AND (? IS NULL OR b.create_event <= ?)", (value, event, event)).fetchall()
    if len(rows) == 1:
        row = rows[0]
        return {"id": row["id"], "build_tag": row["build_tag"], "dest_tag": row["dest_tag"],
                "name": row["name"], "build_tag_name": row["build_tag_name"],
                "dest_tag_name": row["dest_tag_name"]}
    if strict:
        raise koji.GenericError(f"No such build target: {info}")
    return None


def get_channel(conn: sqlite3.Connection, channel_info, strict=False) -> Optional[dict]:
    """kojihub.get_channel: {id, name, description, enabled, comment}."""
    column, value = name_or_id(channel_info)
    row = conn.execute(f"SELECT * FROM channels WHERE {column} = ?", (value,)).fetchone()
    if row is None:
        if strict:
            raise koji.GenericError("query returned no rows")
        return None
    return {"id": row["id"], "name": row["name"], "description": None,
            "enabled": bool(row["enabled"]), "comment": None}


# -- repos (kojihub.repo_info; kojihub/repos.py RepoQuery) ---------------------------

def repo_info(conn: sqlite3.Connection, repo_id, strict=False) -> Optional[dict]:
    """kojihub.repo_info.  The fields are RepoQuery's (1.35+), a superset of
    1.34's (id, state, task_id, create_event, creation_time, create_ts, tag_id,
    tag_name, dist); creation_time is when the repo was made, which here is
    also its create_event's time."""
    repo_id = state.convert_value(repo_id, cast=int)
    row = conn.execute(
        "SELECT r.*, t.name AS tag_name, k.state AS task_state FROM repos r"
        " JOIN tags t ON t.id = r.tag_id LEFT JOIN tasks k ON k.id = r.task_id"
        " WHERE r.id = ?", (repo_id,)).fetchone()
    if row is None:
        if strict:
            raise koji.GenericError("query returned no rows")
        return None
    return {
        "id": row["id"], "tag_id": row["tag_id"],
        "creation_time": state.ts_to_str(row["creation_ts"]), "creation_ts": row["creation_ts"],
        "state_time": state.ts_to_str(row["state_ts"]), "state_ts": row["state_ts"],
        "create_event": row["create_event"],
        "create_ts": state.event_ts(conn, row["create_event"]),
        "begin_event": row["begin_event"], "begin_ts": state.event_ts(conn, row["begin_event"]),
        "end_event": row["end_event"], "end_ts": state.event_ts(conn, row["end_event"]),
        "state": row["state"], "dist": bool(row["dist"]),
        "opts": _json(row["opts"]), "custom_opts": _json(row["custom_opts"]),
        "task_id": row["task_id"], "task_state": row["task_state"], "tag_name": row["tag_name"],
    }


# -- rpms (kojihub.get_rpm, list_rpms, add_external_rpm) -----------------------------

RPM_FIELDS = ("id", "build_id", "buildroot_id", "name", "version", "release", "epoch", "arch",
              "draft", "external_repo_id", "external_repo_name", "payloadhash", "size",
              "buildtime", "metadata_only", "extra")
RPM_SELECT = ("SELECT r.*, e.name AS external_repo_name FROM rpminfo r"
              " JOIN external_repos e ON e.id = r.external_repo_id")


def rpm_dict(row: sqlite3.Row, fields=RPM_FIELDS) -> dict:
    out: dict = {}
    for key in fields:
        if key == "draft":
            out[key] = False
        elif key == "metadata_only":
            out[key] = bool(row[key])
        elif key == "extra":
            out[key] = _json(row["extra"])
        elif key == "nvr":
            out[key] = "{}-{}-{}".format(row["name"], row["version"], row["release"])
        else:
            out[key] = row[key]
    return out


def _nvra_text(value: Any, column: str) -> str:
    if not isinstance(value, str):
        kind = "integer" if isinstance(value, int) else type(value).__name__
        raise pg_error("UndefinedFunction", f"operator does not exist: text = {kind}")
    return value


def get_rpm(conn: sqlite3.Connection, rpminfo, strict=False,  # noqa: PLR0912
            multi=False, build=None):
    """kojihub.get_rpm: by id, N-V-R.A[@location] or a dict (id, else name/version/
    release/arch, optional location); an internal match first, then an external
    one, unless a location is given."""
    if isinstance(rpminfo, bool) or not isinstance(rpminfo, (int, str, dict)):
        raise koji.GenericError(f"Invalid type for rpminfo: {type(rpminfo)!r}")
    if isinstance(rpminfo, int):
        data: dict = {"id": rpminfo}
    elif isinstance(rpminfo, str):
        data = koji.parse_NVRA(rpminfo)
    else:
        data = dict(rpminfo)
    clauses, params = [], []
    if "id" in data:
        clauses.append("r.id = ?")
        params.append(pg_int(data["id"]))
    else:
        for key in ("name", "version", "release", "arch"):
            clauses.append(f"r.{key} = ?")
            params.append(_nvra_text(data[key], key))
    if build:
        data["build_id"] = find_build_id(conn, build, strict=True)
        clauses.append("r.build_id = ?")
        params.append(data["build_id"])
    retry = False
    base = list(clauses), list(params)
    if "location" in data:
        data["external_repo_id"] = get_external_repo_id(conn, data["location"], strict=True)
        clauses.append("r.external_repo_id = ?")
        params.append(data["external_repo_id"])
    elif not multi:
        retry = True
        clauses.append("r.external_repo_id = 0")
    sql = RPM_SELECT + " WHERE " + " AND ".join(clauses) + " ORDER BY r.id"
    if multi:
        return [rpm_dict(r) for r in conn.execute(sql, params)]
    row = conn.execute(sql, params).fetchone()
    if row is None and retry:
        sql = RPM_SELECT + " WHERE " + " AND ".join(base[0]) + " ORDER BY r.id"
        row = conn.execute(sql, base[1]).fetchone()
    if row is None:
        if strict:
            raise koji.GenericError(f"No such rpm: {data!r}")
        return None
    return rpm_dict(row)


LIST_RPM_FIELDS = ("id", "name", "version", "release", "nvr", "arch", "epoch", "draft",
                   "payloadhash", "size", "buildtime", "build_id", "buildroot_id",
                   "external_repo_id", "external_repo_name", "metadata_only", "extra")


def list_rpms(conn: sqlite3.Connection, *, buildID=None,  # noqa: PLR0912
              buildrootID=None, imageID=None, componentBuildrootID=None, hostID=None,
              arches=None, queryOpts=None, draft=None):
    """kojihub.list_rpms: rpms of a build, built in a buildroot (buildrootID), or
    present in one (componentBuildrootID: + component_buildroot_id, is_update)."""
    if imageID is not None:
        raise koji.GenericError("emulator: listRPMs(imageID=) is not supported (no images)")
    if draft:
        raise koji.GenericError("emulator: draft builds are not supported")
    sql = ("SELECT r.*, e.name AS external_repo_name{extra} FROM rpminfo r"
           " LEFT JOIN external_repos e ON e.id = r.external_repo_id{joins}")
    clauses, params, joins, extra = [], [], "", ""
    fields = list(LIST_RPM_FIELDS)
    if buildID is not None:
        clauses.append("r.build_id = ?")
        params.append(pg_int(buildID))
    if buildrootID is not None:
        clauses.append("r.buildroot_id = ?")
        params.append(pg_int(buildrootID))
    if componentBuildrootID is not None:
        joins += " JOIN buildroot_listing l ON l.rpm_id = r.id"
        extra = ", l.buildroot_id AS component_buildroot_id, l.is_update"
        clauses.append("l.buildroot_id = ?")
        params.append(pg_int(componentBuildrootID))
        fields += ["component_buildroot_id", "is_update"]
    if hostID is not None:
        joins += " JOIN buildroots b ON b.id = r.buildroot_id"
        clauses.append("b.host_id = ?")
        params.append(pg_int(hostID))
    if arches is not None:
        if isinstance(arches, (list, tuple)):
            clauses.append(f"r.arch IN ({','.join('?' * len(arches))})")
            params += list(arches)
        elif isinstance(arches, str):
            clauses.append("r.arch = ?")
            params.append(arches)
        else:
            raise koji.GenericError(f'Invalid type for "arches" parameter: {type(arches)}')
    sql = sql.format(extra=extra, joins=joins)
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    rows = []
    for row in conn.execute(sql + " ORDER BY r.id", params):
        item = rpm_dict(row, [f for f in fields if f not in ("component_buildroot_id",
                                                             "is_update")])
        if componentBuildrootID is not None:
            item["component_buildroot_id"] = row["component_buildroot_id"]
            item["is_update"] = bool(row["is_update"])
        rows.append(item)
    return apply_query_opts(rows, queryOpts, fields)


EXTERNAL_RPM_TYPES = (("name", str), ("version", str), ("release", str),
                      ("epoch", (int, type(None))), ("arch", str), ("payloadhash", str),
                      ("size", int), ("buildtime", int))


def add_external_rpm(conn: sqlite3.Connection, rpminfo: dict, external_repo,
                     strict=True) -> dict:
    """kojihub.add_external_rpm: check the fields, then match the NVRA in that
    external repo (a different payloadhash is an error; with strict, any match
    is) or add it."""
    for field, allowed in EXTERNAL_RPM_TYPES:
        if field not in rpminfo:
            raise koji.GenericError(f"{field} field missing: {rpminfo!r}")
        if not isinstance(rpminfo[field], allowed):
            raise koji.GenericError(f"Invalid value for {field}: {rpminfo[field]!r}")
    data = {field: rpminfo[field] for field, _ in EXTERNAL_RPM_TYPES}
    previous = get_rpm(conn, dict(data, location=external_repo), strict=False)
    if previous:
        disp = "{name}-{version}-{release}.{arch}@{external_repo_name}".format(**previous)
        if strict:
            raise koji.GenericError(f"external rpm already exists: {disp}")
        if data["payloadhash"] != previous["payloadhash"]:
            raise koji.GenericError("hash changed for external rpm: {} ({} -> {})".format(
                disp, previous["payloadhash"], data["payloadhash"]))
        return previous
    repo_id = get_external_repo_id(conn, external_repo, strict=True)
    cur = conn.execute(
        "INSERT INTO rpminfo (build_id, buildroot_id, name, version, release, epoch, arch,"
        " external_repo_id, payloadhash, size, buildtime) VALUES (NULL,NULL,?,?,?,?,?,?,?,?,?)",
        (data["name"], data["version"], data["release"], data["epoch"], data["arch"], repo_id,
         data["payloadhash"], data["size"], data["buildtime"]))
    return get_rpm(conn, int(cur.lastrowid))


# -- builds (kojihub.find_build_id, get_build, new_build, recycle_build) --------------

def find_build_id(conn: sqlite3.Connection, build, strict=False) -> Optional[int]:
    """kojihub.find_build_id: an int as is; an NVR string or a dict looked up."""
    if isinstance(build, int):
        return build
    if isinstance(build, str):
        data = koji.parse_NVR(build)
    elif isinstance(build, dict):
        data = build
    else:
        raise koji.GenericError(f"Invalid type for argument: {type(build)!r}")
    if not ("name" in data and "version" in data and "release" in data):
        raise koji.GenericError("did not provide name, version, and release")
    row = conn.execute(
        "SELECT b.id FROM builds b JOIN packages p ON p.id = b.pkg_id"
        " WHERE p.name = ? AND b.version = ? AND b.release = ?",
        (data["name"], data["version"], data["release"])).fetchone()
    if row is None:
        if strict:
            raise koji.GenericError(f"No such build: {build!r}")
        return None
    return row["id"]


def get_build(conn: sqlite3.Connection, build_info, strict=False) -> Optional[dict]:
    """kojihub.get_build (volume DEFAULT, no content generators, no drafts)."""
    build_id = find_build_id(conn, build_info, strict=strict)
    if build_id is None:
        return None
    row = conn.execute(
        "SELECT b.*, p.name AS package_name, u.name AS owner_name, e.ts AS creation_ts"
        " FROM builds b JOIN packages p ON p.id = b.pkg_id JOIN users u ON u.id = b.owner"
        " JOIN events e ON e.id = b.create_event WHERE b.id = ?", (build_id,)).fetchone()
    if row is None:
        if strict:
            raise koji.GenericError(f"No such build: {build_info}")
        return None
    return {
        "id": row["id"], "version": row["version"], "release": row["release"],
        "build_id": row["id"], "epoch": row["epoch"], "draft": False, "state": row["state"],
        "completion_time": state.ts_to_str(row["completion_ts"]),
        "start_time": state.ts_to_str(row["start_ts"]), "task_id": row["task_id"],
        "creation_event_id": row["create_event"],
        "creation_time": state.ts_to_str(row["creation_ts"]),
        "package_id": row["pkg_id"], "package_name": row["package_name"],
        "name": row["package_name"], "volume_id": 0, "volume_name": "DEFAULT",
        "nvr": "{}-{}-{}".format(row["package_name"], row["version"], row["release"]),
        "creation_ts": row["creation_ts"], "start_ts": row["start_ts"],
        "completion_ts": row["completion_ts"], "owner_id": row["owner"],
        "owner_name": row["owner_name"], "cg_id": None, "source": row["source"],
        "extra": _json(row["extra"]), "cg_name": None,
        # draft promotion (1.34+): no drafts here, so never promoted
        "promotion_time": None, "promotion_ts": None, "promoter_id": None,
        "promoter_name": None,
    }


def new_package(conn: sqlite3.Connection, name: str) -> int:
    """kojihub.new_package(strict=False): the package's id, created if needed."""
    row = conn.execute("SELECT id FROM packages WHERE name = ?", (name,)).fetchone()
    if row is not None:
        return row["id"]
    return int(conn.execute("INSERT INTO packages (name) VALUES (?)", (name,)).lastrowid)


def new_build(conn: sqlite3.Connection, data: dict, user_id: Optional[int]) -> int:
    """kojihub.new_build: a build row (COMPLETE unless data says otherwise); an
    existing NVR goes through recycle_build."""
    data = dict(data)
    if data.get("draft"):
        raise koji.GenericError("emulator: draft builds are not supported")
    if "pkg_id" in data:
        row = lookup_name(conn, "packages", data["pkg_id"], strict=True)
        data["name"] = row["name"]
    else:
        if not data.get("name"):
            raise koji.GenericError("No name or package id provided for build")
        data["pkg_id"] = new_package(conn, data["name"])
    if data.get("owner"):
        column, value = name_or_id(data["owner"])
        row = conn.execute(f"SELECT id FROM users WHERE {column} = ?", (value,)).fetchone()
        if row is None:
            raise koji.GenericError(f"No such user: {data['owner']!r}")
        data["owner"] = row["id"]
    for field in ("version", "release", "epoch"):
        if field not in data:
            raise koji.GenericError(f"No {field} value for build")
    data["extra"] = json.dumps(data["extra"]) if "extra" in data else None
    now = state.now()
    data.setdefault("state", koji.BUILD_STATES["COMPLETE"])
    data.setdefault("start_time", now)
    data.setdefault("completion_time", now)
    data.setdefault("source", None)
    if not data.get("owner"):
        data["owner"] = user_id
    data.setdefault("task_id", None)
    old = get_build(conn, {"name": data["name"], "version": data["version"],
                           "release": data["release"]})
    if old:
        recycle_build(conn, old, data)
        return old["id"]
    cur = conn.execute(
        "INSERT INTO builds (pkg_id, version, release, epoch, state, task_id, owner, source,"
        " extra, create_event, start_ts, completion_ts) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (data["pkg_id"], data["version"], data["release"], data["epoch"], data["state"],
         data["task_id"], data["owner"], data["source"], data["extra"],
         state.new_event(conn), data["start_time"], data["completion_time"]))
    return int(cur.lastrowid)


def recycle_build(conn: sqlite3.Connection, old: dict, data: dict) -> None:
    """kojihub.recycle_build: the same task re-initialising its BUILDING build is a
    no-op; a FAILED or CANCELED build without rpms is reused; else an error."""
    desc = koji.BUILD_STATES[old["state"]]
    if desc == "BUILDING":
        if data["state"] == old["state"] and data.get("task_id", "") == old["task_id"]:
            return
        raise koji.GenericError("Build already in progress (task {:d})".format(old["task_id"]))
    if desc not in ("FAILED", "CANCELED"):
        raise koji.GenericError(f"Build already exists (id={old['id']:d}, state={desc}):"
                                f" {data!r}")
    if conn.execute("SELECT 1 FROM rpminfo WHERE build_id = ?", (old["id"],)).fetchone():
        raise koji.GenericError("Build already exists. Unable to recycle, has rpm data")
    conn.execute(
        "UPDATE builds SET state = ?, task_id = ?, owner = ?, start_ts = ?, completion_ts = ?,"
        " epoch = ?, source = ?, extra = ?, create_event = ? WHERE id = ?",
        (data["state"], data["task_id"], data["owner"], data["start_time"],
         data["completion_time"], data["epoch"], data["source"], data["extra"],
         state.new_event(conn), old["id"]))


# -- rpm files ------------------------------------------------------------------------

def read_rpm(path: str) -> dict:
    """The header fields kojihub.import_rpm reads (koji.get_header_fields), with the
    rpm module: name, version, release, epoch, arch ('src' for a source rpm),
    sourcepackage, buildtime, sourcerpm, and payloadhash (hex SIGMD5).
    Without rpm's bindings, koji.RawHeader reads them (rpmheader.py)."""
    if not rpmheader.have_rpm():
        fields = rpmheader.raw_header_fields(path, ["name", "version", "release", "epoch",
                                                    "arch", "sourcepackage", "buildtime",
                                                    "sourcerpm", "sigmd5"])
        source = 1 if fields["sourcepackage"] else None
        sigmd5 = fields.pop("sigmd5")
        return dict(fields, arch="src" if source else fields["arch"], sourcepackage=source,
                    payloadhash=sigmd5.hex() if sigmd5 else None)
    import rpm

    ts = rpm.TransactionSet()
    ts.setVSFlags(rpm._RPMVSF_NOSIGNATURES | rpm._RPMVSF_NODIGESTS)
    with open(path, "rb") as fo:
        hdr = ts.hdrFromFdno(fo.fileno())
    source = 1 if hdr[rpm.RPMTAG_SOURCEPACKAGE] else None
    sigmd5 = hdr[rpm.RPMTAG_SIGMD5]
    return {
        "name": hdr[rpm.RPMTAG_NAME], "version": hdr[rpm.RPMTAG_VERSION],
        "release": hdr[rpm.RPMTAG_RELEASE], "epoch": hdr[rpm.RPMTAG_EPOCH],
        "arch": "src" if source else hdr[rpm.RPMTAG_ARCH], "sourcepackage": source,
        "buildtime": hdr[rpm.RPMTAG_BUILDTIME], "sourcerpm": hdr[rpm.RPMTAG_SOURCERPM],
        "payloadhash": sigmd5.hex() if sigmd5 else None,
    }


def build_dir(topdir: str, binfo: dict) -> str:
    """koji.pathinfo.build (volume DEFAULT): <topdir>/packages/<name>/<version>/<release>."""
    return os.path.join(topdir, "packages", binfo["name"], binfo["version"], binfo["release"])


def rpm_relpath(rpminfo: dict) -> str:
    """koji.pathinfo.rpm: <arch>/<name>-<version>-<release>.<arch>.rpm."""
    return "{arch}/{name}-{version}-{release}.{arch}.rpm".format(**rpminfo)


def work_path(topdir: str, relpath: str) -> str:
    """<topdir>/work/<relpath>, as the hub joins an uploaded path (it does not check
    the path; the emulator refuses one that leaves work/)."""
    path = os.path.normpath(relpath)
    if not isinstance(relpath, str) or path.startswith(("/", "..")):
        raise koji.GenericError(f"emulator: upload path outside work/: {relpath!r}")
    return os.path.join(topdir, "work", path)


def move_and_symlink(src: str, dst: str) -> None:
    """koji.util.move_and_symlink(create_dir=True): move, and leave a relative link."""
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if os.path.lexists(dst):
        raise koji.GenericError(f"destination exists: {dst}")
    shutil.move(src, dst)
    os.symlink(os.path.relpath(dst, os.path.dirname(src)), src)


def import_rpm(conn: sqlite3.Connection, fn: str,  # noqa: PLR0912
               buildinfo: Optional[dict] = None, brootid: Optional[int] = None,
               user_id: Optional[int] = None) -> dict:
    """kojihub.import_rpm: an rpminfo row from the file.  Without a build, a source
    rpm makes (or finds) its build and a binary rpm needs its source rpm's
    build.  size is the file's size, payloadhash the hex SIGMD5."""
    if not os.path.exists(fn):
        raise koji.GenericError(f"No such file: {fn}")
    info = read_rpm(fn)
    basename = os.path.basename(fn)
    expected = "{name}-{version}-{release}.{arch}.rpm".format(**info)
    if basename != expected:
        raise koji.GenericError(f"bad filename: {basename} (expected {expected})")
    if buildinfo is None:
        if info["sourcepackage"] == 1:
            buildinfo = get_build(conn, info, strict=False)
            if not buildinfo:
                build_id = new_build(conn, {k: info[k] for k in
                                            ("name", "version", "release", "epoch")}, user_id)
                buildinfo = get_build(conn, build_id, strict=True)
        else:
            buildinfo = get_build(conn, koji.parse_NVRA(info["sourcerpm"]))
            if buildinfo is None:
                raise koji.GenericError("No such build")
    else:
        srpmname = "{name}-{version}-{release}.src.rpm".format(**buildinfo)
        if info["sourcepackage"] != 1:
            if info["sourcerpm"] != srpmname:
                raise koji.GenericError("srpm mismatch for {}: {} (expected {})".format(
                    fn, info["sourcerpm"], srpmname))
        elif basename != srpmname:
            raise koji.GenericError(f"srpm mismatch for {fn}: {basename} (expected {srpmname})")
    desc = koji.BUILD_STATES[buildinfo["state"]]
    if desc in ("FAILED", "CANCELED", "DELETED"):
        raise koji.GenericError("Build is {}: {}-{}-{}".format(
            desc, buildinfo["name"], buildinfo["version"], buildinfo["release"]))
    try:
        cur = conn.execute(
            "INSERT INTO rpminfo (build_id, buildroot_id, name, version, release, epoch, arch,"
            " external_repo_id, payloadhash, size, buildtime) VALUES (?,?,?,?,?,?,?,0,?,?,?)",
            (buildinfo["id"], brootid, info["name"], info["version"], info["release"],
             info["epoch"], info["arch"], info["payloadhash"], os.path.getsize(fn),
             info["buildtime"]))
    except sqlite3.IntegrityError:
        raise pg_error("UniqueViolation", 'duplicate key value violates unique constraint'
                       ' "rpminfo_unique_nvra"') from None
    rpminfo = get_rpm(conn, int(cur.lastrowid))
    rpminfo["build"] = buildinfo
    rpminfo["brootid"] = brootid
    return rpminfo


def rpmdiff(basepath: str, rpmlist: list, hashes: dict) -> None:
    """kojihub.rpmdiff: noarch rpms built on several arches must not differ
    (koji.rpmdiff, ignoring size, digest, mtime and file names), unless
    noarch_rpmdiff.json says their hashes match.  The hub takes the task id
    from the second path component, as here."""
    import koji.rpmdiff

    first = rpmlist[0]
    first_hash = hashes.get(first.split("/")[1], {}).get(os.path.basename(first), False)
    for other in rpmlist[1:]:
        if first_hash:
            other_hash = hashes[other.split("/")[1]][os.path.basename(other)]
            if first_hash == other_hash:
                continue
        diff = koji.rpmdiff.Rpmdiff(os.path.join(basepath, first),
                                    os.path.join(basepath, other), ignore="S5TN")
        if diff.differs():
            raise koji.BuildError(
                "The following noarch package built differently on different architectures:"
                f" {os.path.basename(first)}\nrpmdiff output was:\n{diff.textdiff()}")


def check_noarch_rpms(basepath: str, rpms: list, logs: Optional[dict] = None) -> list:
    """kojihub.check_noarch_rpms: keep the first of noarch rpms with the same file
    name (after rpmdiff against the others)."""
    result, noarch = [], {}
    for relpath in rpms:
        if relpath.endswith(".noarch.rpm"):
            name = os.path.basename(relpath)
            if name in noarch:
                noarch[name].append(relpath)
                continue
            noarch[name] = [relpath]
        result.append(relpath)
    hashes: dict = {}
    for files in (logs or {}).values():
        for log in files:
            if os.path.basename(log) == "noarch_rpmdiff.json":
                # koji.util.joinpath: no absolute or parent segments
                if os.path.normpath(log).startswith(("/", "..")):
                    raise ValueError(f"Invalid path segment: {log}")
                with open(os.path.join(basepath, log)) as fo:
                    hashes.update(json.load(fo))
    for group in noarch.values():
        if len(group) > 1:
            rpmdiff(basepath, group, hashes)
    return result


def import_build_log(topdir: str, fn: str, binfo: dict, subdir: Optional[str] = None) -> None:
    """kojihub.import_build_log: into <build dir>/data/logs[/<subdir>]."""
    logdir = os.path.join(build_dir(topdir, binfo), "data", "logs")
    if subdir:
        logdir = os.path.join(logdir, subdir)
    final = os.path.join(logdir, os.path.basename(fn))
    if os.path.exists(final):
        raise koji.GenericError(f"Error importing build log. {final} already exists.")
    if os.path.islink(fn) or not os.path.isfile(fn):
        raise koji.GenericError(f"Error importing build log. {fn} is not a regular file.")
    move_and_symlink(fn, final)


def import_build(conn: sqlite3.Connection, topdir: str, *, srpm,  # noqa: PLR0912
                 rpms, brmap, task_id, build_id, logs=None) -> dict:
    """kojihub.import_build with a build_id (HostExports.completeBuild): the build,
    BUILDING and matching the srpm's header and the task, becomes COMPLETE; its
    rpms are imported with their buildroots (brmap) and moved to the build
    directory; the logs go to data/logs/<arch>."""
    if brmap is None:
        brmap = {}
    else:
        state.convert_value(brmap, cast=dict, check_only=True)
    state.convert_value(srpm, cast=str, check_only=True)
    state.convert_value(rpms, cast=list, check_only=True)
    workdir = os.path.join(topdir, "work")
    for relpath in [srpm, *rpms]:
        fn = work_path(topdir, relpath)
        if not os.path.exists(fn):
            raise koji.GenericError(f"No such file: {workdir}/{relpath}")
    rpms = check_noarch_rpms(workdir, rpms, logs=logs)
    for br_id in set(brmap.values()):
        BuildRoot(conn, br_id)
    fn = work_path(topdir, srpm)
    info = read_rpm(fn)
    if info["sourcepackage"] != 1:
        raise koji.GenericError(f"not a source package: {fn}")
    info["task_id"] = task_id
    if build_id is None:
        raise koji.GenericError("emulator: import_build without a build_id is not supported")
    binfo = get_build(conn, build_id, strict=True)
    for key in ("name", "version", "release", "epoch", "task_id"):
        if info[key] != binfo[key]:
            raise koji.GenericError(f"Unable to complete build: {key} mismatch"
                                    f" (build: {binfo[key]}, rpm: {info[key]})")
    if binfo["state"] != koji.BUILD_STATES["BUILDING"]:
        raise koji.GenericError("Unable to complete build: state is"
                                f" {koji.BUILD_STATES[binfo['state']]}")
    conn.execute("UPDATE builds SET state = ?, completion_ts = ? WHERE id = ?",
                 (koji.BUILD_STATES["COMPLETE"], state.now(), build_id))
    binfo = get_build(conn, build_id, strict=True)
    for relpath in [srpm, *rpms]:
        fn = work_path(topdir, relpath)
        rpminfo = import_rpm(conn, fn, binfo, brmap.get(relpath))
        move_and_symlink(fn, os.path.join(build_dir(topdir, binfo), rpm_relpath(rpminfo)))
    for key, files in (logs or {}).items():
        for relpath in files:
            import_build_log(topdir, work_path(topdir, relpath), binfo, subdir=key or None)
    return binfo


def fail_build(conn: sqlite3.Connection, build_id) -> None:
    """HostExports.failBuild's update: only a BUILDING, uncompleted build fails."""
    binfo = get_build(conn, build_id, strict=True)
    if binfo["state"] != koji.BUILD_STATES["BUILDING"]:
        raise koji.GenericError(f"cannot update build {binfo['id']:d}, state:"
                                f" {koji.BUILD_STATES[binfo['state']]}")
    if binfo["completion_time"] is not None:
        raise koji.GenericError(f"cannot update build {binfo['id']:d}, completed at"
                                f" {binfo['completion_time']}")
    conn.execute("UPDATE builds SET state = ?, completion_ts = ? WHERE id = ?",
                 (koji.BUILD_STATES["FAILED"], state.now(), binfo["id"]))


def move_to_scratch(topdir: str, task_id: int, username: str, *, srpm, rpms,
                    logs=None) -> None:
    """HostExports.moveBuildToScratch: <topdir>/scratch/<owner>/task_<id>/ (logs
    under logs/<arch>), each file leaving a link in work/."""
    workdir = os.path.join(topdir, "work")
    for relpath in [srpm, *rpms]:
        if not os.path.exists(work_path(topdir, relpath)):
            raise koji.GenericError(f"No such file: {workdir}/{relpath}")
    rpms = check_noarch_rpms(workdir, rpms, logs=logs)
    dest = os.path.join(topdir, "scratch", username, f"task_{task_id}")
    os.makedirs(dest, exist_ok=True)
    for relpath in [srpm, *rpms]:
        fn = work_path(topdir, relpath)
        move_and_symlink(fn, os.path.join(dest, os.path.basename(fn)))
    for key, files in (logs or {}).items():
        logdir = os.path.join(dest, "logs", key) if key else os.path.join(dest, "logs")
        for relpath in files:
            fn = work_path(topdir, relpath)
            move_and_symlink(fn, os.path.join(logdir, os.path.basename(fn)))


def average_build_duration(conn: sqlite3.Connection, package, age=None) -> Optional[float]:
    """RootExports.getAverageBuildDuration: mean completion - creation over the
    package's COMPLETE builds that have a task."""
    if age is not None:
        raise koji.GenericError("emulator: getAverageBuildDuration(age=) is not supported")
    row = lookup_name(conn, "packages", package)
    if row is None:
        return None
    value = conn.execute(
        "SELECT AVG(b.completion_ts - e.ts) FROM builds b JOIN events e ON e.id = b.create_event"
        " WHERE b.pkg_id = ? AND b.state = ? AND b.task_id IS NOT NULL",
        (row["id"], koji.BUILD_STATES["COMPLETE"])).fetchone()[0]
    return value


# -- buildroots (kojihub.BuildRoot, query_buildroots, get_buildroot) -------------------

class BuildRoot:
    """kojihub.BuildRoot for standard buildroots (the only kind here)."""

    def __init__(self, conn: sqlite3.Connection, br_id):
        self.conn = conn
        br_id = pg_int(br_id)
        row = conn.execute("SELECT * FROM buildroots WHERE id = ?", (br_id,)).fetchone()
        if row is None:
            raise koji.GenericError(f"no buildroot with ID: {br_id:d}")
        self.id = br_id
        self.data = dict(row)

    def assert_host(self, host_id: int) -> None:
        """BuildRoot.assertHost."""
        if host_id != self.data["host_id"]:
            raise koji.ActionNotAllowed(f"Host {host_id} not owner of buildroot {self.id}")

    def assert_task(self, task_id: int) -> None:
        """BuildRoot.assertTask."""
        if task_id != self.data["task_id"]:
            raise koji.ActionNotAllowed(f"Task {task_id} does not have lock on buildroot"
                                        f" {self.id}")

    def set_state(self, new_state) -> None:
        """BuildRoot.setState: never back to INIT; EXPIRED is final (expiring again is
        quietly ignored); any other change is allowed.  EXPIRED records the
        retire event."""
        if isinstance(new_state, str):
            new_state = koji.BR_STATES[new_state]
        if isinstance(new_state, bool) or not isinstance(new_state, int) \
                or not 0 <= new_state < len(koji.BR_STATES):
            raise koji.GenericError(f"emulator: invalid buildroot state {new_state!r}")
        if new_state == koji.BR_STATES["INIT"]:
            raise koji.GenericError("Cannot change buildroot state to INIT")
        current = self.conn.execute("SELECT state FROM buildroots WHERE id = ?",
                                    (self.id,)).fetchone()["state"]
        if koji.BR_STATES[current] == "EXPIRED":
            if koji.BR_STATES[new_state] == "EXPIRED":
                return
            raise koji.GenericError(f"buildroot {self.id:d} is EXPIRED")
        if koji.BR_STATES[new_state] == "EXPIRED":
            self.conn.execute("UPDATE buildroots SET state = ?, retire_event = ? WHERE id = ?",
                              (new_state, state.new_event(self.conn), self.id))
        else:
            self.conn.execute("UPDATE buildroots SET state = ? WHERE id = ?",
                              (new_state, self.id))
        self.data["state"] = new_state

    def get_list(self) -> list:
        """BuildRoot.getList (getBuildrootListing)."""
        rows = self.conn.execute(
            "SELECT l.rpm_id, l.is_update, r.name, r.version, r.release, r.epoch, r.arch,"
            " r.build_id, r.external_repo_id, e.name AS external_repo_name"
            " FROM buildroot_listing l JOIN rpminfo r ON r.id = l.rpm_id"
            " JOIN external_repos e ON e.id = r.external_repo_id WHERE l.buildroot_id = ?"
            " ORDER BY l.rowid", (self.id,))
        return [{"rpm_id": r["rpm_id"], "is_update": bool(r["is_update"]), "name": r["name"],
                 "version": r["version"], "release": r["release"], "epoch": r["epoch"],
                 "arch": r["arch"], "build_id": r["build_id"], "draft": False,
                 "external_repo_id": r["external_repo_id"],
                 "external_repo_name": r["external_repo_name"]} for r in rows]

    def _set_list(self, rpmlist, update: bool) -> None:
        """BuildRoot._setList: each entry with a location goes through
        add_external_rpm(strict=False); any other must be a known rpm (get_rpm
        strict, by id or NVRA).  An update skips rpms already listed."""
        current = {r["rpm_id"] for r in self.get_list()} if update else set()
        rpm_ids = []
        for an_rpm in rpmlist:
            if not isinstance(an_rpm, dict):
                raise AttributeError(f"'{type(an_rpm).__name__}' object has no attribute 'get'")
            location = an_rpm.get("location")
            if location:
                data = add_external_rpm(self.conn, an_rpm, location, strict=False)
            else:
                data = get_rpm(self.conn, an_rpm, strict=True, build=an_rpm.get("build"))
            if update and data["id"] in current:
                continue
            rpm_ids.append(data["id"])
        for rpm_id in sorted(rpm_ids):
            try:
                self.conn.execute("INSERT INTO buildroot_listing (buildroot_id, rpm_id, is_update)"
                                  " VALUES (?, ?, ?)", (self.id, rpm_id, int(update)))
            except sqlite3.IntegrityError:
                raise pg_error("UniqueViolation", "duplicate key value violates unique"
                               ' constraint "buildroot_listing_buildroot_id_rpm_id_key"'
                               f"\nDETAIL:  Key (buildroot_id, rpm_id)=({self.id}, {rpm_id})"
                               " already exists.") from None

    def set_list(self, rpmlist) -> None:
        """BuildRoot.setList: only in INIT."""
        if self.data["state"] != koji.BR_STATES["INIT"]:
            raise koji.GenericError("buildroot {id} in wrong state {state}".format(**self.data))
        self._set_list(rpmlist, update=False)

    def update_list(self, rpmlist) -> None:
        """BuildRoot.updateList: only in BUILDING."""
        if self.data["state"] != koji.BR_STATES["BUILDING"]:
            raise koji.GenericError("buildroot {id} in wrong state {state}".format(**self.data))
        self._set_list(rpmlist, update=True)


def new_buildroot(conn: sqlite3.Connection, host_id: int, repo, arch,
                  task_id: Optional[int] = None) -> int:
    """BuildRoot.new: a standard buildroot in INIT, container_type 'chroot' (the
    hub's default; host.newBuildRoot cannot choose another).  The hub checks
    the arch's characters (parse_arches strict); the repo is only a foreign
    key, so a missing repo fails as PostgreSQL's error, and its state is not
    checked (kojid checks it)."""
    arch = koji.parse_arches(arch, strict=True, allow_none=True)
    if repo is None:
        raise pg_error("NotNullViolation", 'null value in column "repo_id" of relation'
                       ' "standard_buildroot" violates not-null constraint')
    repo = pg_int(repo)
    if conn.execute("SELECT 1 FROM repos WHERE id = ?", (repo,)).fetchone() is None:
        raise pg_error("ForeignKeyViolation", 'insert or update on table "standard_buildroot"'
                       ' violates foreign key constraint "standard_buildroot_repo_id_fkey"'
                       f'\nDETAIL:  Key (repo_id)=({repo}) is not present in table "repo".')
    cur = conn.execute(
        "INSERT INTO buildroots (br_type, container_type, container_arch, host_id, repo_id,"
        " task_id, state, create_event) VALUES (?, 'chroot', ?, ?, ?, ?, ?, ?)",
        (koji.BR_TYPES["STANDARD"], arch, host_id, repo, task_id, koji.BR_STATES["INIT"],
         state.new_event(conn)))
    return int(cur.lastrowid)


BUILDROOT_FIELDS = ("id", "br_type", "cg_id", "cg_name", "cg_version", "container_arch", "arch",
                    "container_type", "host_os", "host_arch", "extra", "state", "task_id",
                    "host_id", "host_name", "repo_id", "repo_state", "tag_id", "tag_name",
                    "create_event_id", "create_event_time", "create_ts", "retire_event_id",
                    "retire_event_time", "retire_ts", "repo_create_event_id",
                    "repo_create_event_time")


def _buildroot_dict(conn: sqlite3.Connection, row: sqlite3.Row) -> dict:
    create_ts = state.event_ts(conn, row["create_event"])
    retire_ts = state.event_ts(conn, row["retire_event"])
    repo_ts = state.event_ts(conn, row["repo_create_event"])
    return {
        "id": row["id"], "br_type": row["br_type"], "cg_id": None, "cg_name": None,
        "cg_version": None, "container_arch": row["container_arch"],
        "arch": row["container_arch"], "container_type": row["container_type"],
        "host_os": None, "host_arch": None, "extra": None, "state": row["state"],
        "task_id": row["task_id"], "host_id": row["host_id"], "host_name": row["host_name"],
        "repo_id": row["repo_id"], "repo_state": row["repo_state"], "tag_id": row["tag_id"],
        "tag_name": row["tag_name"], "create_event_id": row["create_event"],
        "create_event_time": state.ts_to_str(create_ts), "create_ts": create_ts,
        "retire_event_id": row["retire_event"],
        "retire_event_time": state.ts_to_str(retire_ts), "retire_ts": retire_ts,
        "repo_create_event_id": row["repo_create_event"],
        "repo_create_event_time": state.ts_to_str(repo_ts),
    }


def query_buildroots(conn: sqlite3.Connection, *, hostID=None, tagID=None, br_state=None,
                     rpmID=None, archiveID=None, taskID=None, buildrootID=None, repoID=None,
                     queryOpts=None):
    """kojihub.query_buildroots (listBuildroots): state and buildrootID may be lists;
    no archives exist here, so archiveID matches nothing."""
    clauses, params = [], []

    def match(column: str, value) -> None:
        if isinstance(value, (list, tuple)):
            clauses.append(f"{column} IN ({','.join('?' * len(value))})")
            params.extend(pg_int(v) for v in value)
        else:
            clauses.append(f"{column} = ?")
            params.append(pg_int(value))

    if buildrootID is not None:
        match("b.id", buildrootID)
    for column, value in (("h.id", hostID), ("t.id", tagID), ("b.state", br_state),
                          ("b.task_id", taskID)):
        if value is not None:
            match(column, value)
    if rpmID is not None:
        clauses.append("b.id IN (SELECT buildroot_id FROM buildroot_listing WHERE rpm_id = ?)")
        params.append(pg_int(rpmID))
    if archiveID is not None:
        return apply_query_opts([], queryOpts, list(BUILDROOT_FIELDS))
    if repoID:
        match("b.repo_id", repoID)
    sql = ("SELECT b.*, h.name AS host_name, r.state AS repo_state, t.id AS tag_id,"
           " t.name AS tag_name, r.create_event AS repo_create_event FROM buildroots b"
           " LEFT JOIN hosts h ON h.id = b.host_id LEFT JOIN repos r ON r.id = b.repo_id"
           " LEFT JOIN tags t ON t.id = r.tag_id")
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    rows = [_buildroot_dict(conn, r) for r in conn.execute(sql + " ORDER BY b.id", params)]
    return apply_query_opts(rows, queryOpts, list(BUILDROOT_FIELDS))


def get_buildroot(conn: sqlite3.Connection, buildroot_id, strict=False) -> Optional[dict]:
    """kojihub.get_buildroot."""
    buildroot_id = state.convert_value(buildroot_id, cast=int)
    result = query_buildroots(conn, buildrootID=buildroot_id)
    if not result:
        if strict:
            raise koji.GenericError(f"No such buildroot: {buildroot_id!r}")
        return None
    return result[0]
