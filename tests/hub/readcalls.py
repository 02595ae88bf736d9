"""Read calls of the emulated hub that the builder's notification,
chainbuild and restartHosts tasks make, after kojihub/kojihub.py (get_user,
list_task_output, RootExports.getChangelogEntries, listBuilds, listHosts,
getLatestBuilds) and kojihub/db.py (_applyQueryOpts).

Each function takes the hub's arguments; the error texts are the hub's.
"""

from __future__ import annotations

import calendar
import datetime
import os
import re
import sqlite3
from typing import Any, Optional

import koji
import koji.util

from tests.hub import builds, policy, rpmheader, state, tagging


def apply_list_query_opts(results: list, query_opts: Optional[dict]):
    """kojihub.db._applyQueryOpts (results computed in Python, not by SQL):
    one order key ('-' descending), then offset and limit (both only when
    truthy), then countOnly (the count after them)."""
    if query_opts is None:
        query_opts = {}
    if query_opts.get("order"):
        order = query_opts["order"]
        reverse = order.startswith("-")
        if reverse:
            order = order[1:]
        results.sort(key=lambda o: o[order], reverse=reverse)
    if query_opts.get("offset"):
        results = results[query_opts["offset"]:]
    if query_opts.get("limit"):
        results = results[:query_opts["limit"]]
    if query_opts.get("countOnly"):
        return len(results)
    return results


# -- users (kojihub.get_user) ----------------------------------------------------

def get_user(conn: sqlite3.Connection, userInfo=None, strict=False,
             krb_princs=True, groups=False, *, session_user_id=None) -> Optional[dict]:
    """kojihub.get_user (RootExports.getUser): {id, name, status, usertype},
    with krb_principals (none are recorded here: []) unless krb_princs is
    false, and groups (the user's group names; no memberships here: [])."""
    user = policy.get_user(conn, userInfo, strict=strict, session_user_id=session_user_id)
    if user is None:
        return None
    user = dict(user)
    if not krb_princs:
        del user["krb_principals"]
    if groups:
        user["groups"] = []
    return user


# -- task output (kojihub.list_task_output) ---------------------------------------

def list_task_output(conn: sqlite3.Connection, topdir: str, taskID,  # noqa: PLR0917
                     stat=False, all_volumes=False, strict=False):
    """kojihub.list_task_output: the files under work/tasks/<id % 10000>/<id>/
    (relative paths): a list; with stat {path: {st_size (a string), st_atime,
    st_mtime, st_ctime}}; with all_volumes {path: [volume names]} (or
    {path: {volume: stat}}), the only volume here being DEFAULT.  strict: an
    error for a task that does not exist.  The hub lists in os.walk order;
    the emulator sorts each directory."""
    if strict:
        try:
            task_id = state.convert_value(taskID, cast=int)
            if state.get_task_row(conn, task_id) is None:
                raise koji.GenericError("query returned no rows")
        except Exception:
            raise koji.GenericError("Task doesn't exist") from None
    result: Any = {} if stat or all_volumes else []
    for volume in ("DEFAULT",):  # list_volumes()
        task_dir = os.path.join(topdir, "work", koji.pathinfo.taskrelpath(taskID))
        if not os.path.isdir(task_dir):
            continue
        for path, dirs, files in os.walk(task_dir):
            dirs.sort()
            for filename in sorted(files):
                relfilename = koji.util.joinpath(path[len(task_dir) + 1:], filename)
                if stat:
                    stat_info = os.stat(os.path.join(path, filename))
                    stat_map = {"st_size": str(stat_info.st_size),
                                "st_atime": stat_info.st_atime,
                                "st_mtime": stat_info.st_mtime,
                                "st_ctime": stat_info.st_ctime}
                    if all_volumes:
                        result.setdefault(relfilename, {})[volume] = stat_map
                    else:
                        result[relfilename] = stat_map
                elif all_volumes:
                    result.setdefault(relfilename, []).append(volume)
                else:
                    result.append(relfilename)
    return result


# -- changelogs (RootExports.getChangelogEntries) ---------------------------------

def _changelog_time(value, name: str):
    """getChangelogEntries' before/after: a datetime (UTC), a 'YYYY-MM-DD[
    HH:MM:SS]' string (UTC, koji.util.parseTime) or seconds as an int."""
    if isinstance(value, datetime.datetime):
        return calendar.timegm(value.utctimetuple())
    if isinstance(value, str):
        return koji.util.parseTime(value)
    if isinstance(value, int):
        return value
    raise koji.GenericError(f"Invalid type for {name}: {type(value)}")


def get_changelog_entries(conn: sqlite3.Connection, topdir: str, *,  # noqa: PLR0912
                          buildID=None, taskID=None, filepath=None, author=None,
                          before=None, after=None, queryOpts=None, strict=False):
    """RootExports.getChangelogEntries: the changelog of the build's SRPM (its
    first src rpm, in the build directory under topdir/packages), or of a
    task's file (work/tasks/.../<filepath>), newest first as in the header:
    [{date (local time, isoformat ' '), date_ts, author, text}] (asList:
    [date, author, text]), filtered by author/before/after, then queryOpts as
    _applyQueryOpts applies them ('date' orders by date_ts).  A missing build,
    SRPM or file gives [] unless strict."""
    if queryOpts is None:
        queryOpts = {}
    if queryOpts.get("order") in ("date", "-date"):
        queryOpts["order"] = queryOpts["order"].replace("date", "date_ts")
    if buildID:
        build_info = builds.get_build(conn, buildID)
        if not build_info:
            if strict:
                raise koji.GenericError(f"No such build: {buildID}")
            return apply_list_query_opts([], queryOpts)
        srpms = builds.list_rpms(conn, buildID=build_info["id"], arches="src")
        if not srpms:
            if strict:
                raise koji.GenericError(f"Build {buildID} doesn't have srpms")
            return apply_list_query_opts([], queryOpts)
        srpm_path = koji.util.joinpath(builds.build_dir(topdir, build_info),
                                       builds.rpm_relpath(srpms[0]))
    elif taskID:
        if not filepath:
            raise koji.GenericError("filepath must be specified with taskID")
        if filepath.startswith("/") or "../" in filepath:
            raise koji.GenericError(f"Invalid filepath: {filepath}")
        srpm_path = koji.util.joinpath(os.path.join(topdir, "work"),
                                       koji.pathinfo.taskrelpath(taskID), filepath)
    else:
        raise koji.GenericError("either buildID or taskID and filepath must be specified")
    if not os.path.exists(srpm_path):
        if strict:
            raise koji.GenericError(f"SRPM {srpm_path} doesn't exist")
        return apply_list_query_opts([], queryOpts)
    if before:
        before = _changelog_time(before, "before")
    if after:
        after = _changelog_time(after, "after")
    fields = rpmheader.header_fields(srpm_path, ["changelogtime", "changelogname",
                                                 "changelogtext"])
    results: list = []
    for cltime, rawname, rawtext in zip(fields["changelogtime"], fields["changelogname"],
                                        fields["changelogtext"]):
        cldate = datetime.datetime.fromtimestamp(cltime).isoformat(" ")
        clname = koji.fixEncoding(rawname)
        cltext = koji.fixEncoding(rawtext)
        if author and author != clname:
            continue
        if before and not cltime < before:
            continue
        if after and not cltime > after:
            continue
        if queryOpts.get("asList"):
            results.append([cldate, clname, cltext])
        else:
            results.append({"date": cldate, "date_ts": cltime, "author": clname,
                            "text": cltext})
    results = apply_list_query_opts(results, queryOpts)
    return koji.fixEncodingRecurse(results, remove_nonprintable=True)


# -- builds (RootExports.listBuilds, getLatestBuilds) -------------------------------

LIST_BUILD_FIELDS = ("build_id", "version", "release", "epoch", "draft", "state",
                     "completion_time", "promotion_time", "start_time", "source", "extra",
                     "creation_event_id", "creation_time", "task_id", "creation_ts", "start_ts",
                     "completion_ts", "promotion_ts", "package_id", "package_name", "name",
                     "volume_id", "volume_name", "nvr", "owner_id", "owner_name",
                     "promoter_id", "promoter_name")


def _glob(terms: str) -> str:
    """RootExports._prepareSearchTerms(terms, 'glob'): a LIKE pattern."""
    return terms.replace("\\", "\\\\").replace("_", r"\_").replace("?", "_").replace("*", "%")


def _timestamp(value) -> float:
    """A listBuilds time filter: seconds (kojihub convert_timestamp) or a
    timestamp string PostgreSQL reads (here: ISO 8601; no zone means UTC)."""
    if not isinstance(value, str):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise builds.pg_error("ProgrammingError", f"can't adapt type '{type(value).__name__}'")
        return float(value)
    try:
        parsed = datetime.datetime.fromisoformat(value.strip())
    except ValueError:
        raise builds.pg_error("InvalidDatetimeFormat", "invalid input syntax for type timestamp"
                              f' with time zone: "{value}"') from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.timestamp()


def list_builds(conn: sqlite3.Connection, *, packageID=None,  # noqa: PLR0912
                userID=None, taskID=None, prefix=None, state_=None, volumeID=None,
                source=None, createdBefore=None, createdAfter=None, completeBefore=None,
                completeAfter=None, type=None, typeInfo=None, queryOpts=None, pattern=None,
                cgID=None, draft=None):
    """RootExports.listBuilds: the builds matching every filter given (an
    unknown package or user: none; taskID -1: builds that have a task;
    prefix, pattern (a glob on the NVR) and source (a glob) case-insensitive,
    as ILIKE), each as a map of LIST_BUILD_FIELDS (no 'id').  Build types:
    maven, win and image builds do not exist here; 'rpm' is refused (the
    emulator does not record build types)."""
    clauses, params = [], []
    if packageID is not None:
        row = builds.lookup_name(conn, "packages", packageID)
        if not row:
            return []
        clauses.append("p.id = ?")
        params.append(row["id"])
    if userID is not None:
        user = policy.get_user(conn, userID)
        if not user:
            return []
        clauses.append("u.id = ?")
        params.append(user["id"])
    if volumeID is not None:
        clauses.append("0 = ?")  # volume DEFAULT (id 0) only
        params.append(builds.pg_int(volumeID))
    if taskID is not None:
        if taskID == -1:
            clauses.append("b.task_id IS NOT NULL")
        else:
            clauses.append("b.task_id = ?")
            params.append(builds.pg_int(taskID))
    if source is not None:
        clauses.append("b.source LIKE ? ESCAPE '\\'")
        params.append(_glob(source))
    if prefix:
        clauses.append("p.name LIKE ? || '%' ESCAPE '\\'")
        params.append(prefix)
    if pattern:
        clauses.append("p.name || '-' || b.version || '-' || b.release LIKE ? ESCAPE '\\'")
        params.append(_glob(pattern))
    if state_ is not None:
        clauses.append("b.state = ?")
        params.append(builds.pg_int(state_))
    for value, column, op in ((createdBefore, "e.ts", "<"), (createdAfter, "e.ts", ">"),
                              (completeBefore, "b.completion_ts", "<"),
                              (completeAfter, "b.completion_ts", ">")):
        if value:
            clauses.append(f"{column} {op} ?")
            params.append(_timestamp(value))
    if cgID:
        return []  # lookup_name('content_generator', cgID): there are none
    if type is not None:
        if type in ("maven", "win", "image"):
            return builds.apply_query_opts([], queryOpts, list(LIST_BUILD_FIELDS))
        if type == "rpm":
            raise koji.GenericError("emulator: listBuilds(type='rpm') is not supported"
                                    " (build types are not recorded)")
        raise koji.GenericError(f"unsupported build type: {type}")
    if draft:
        return builds.apply_query_opts([], queryOpts, list(LIST_BUILD_FIELDS))
    sql = ("SELECT b.id FROM builds b JOIN packages p ON p.id = b.pkg_id"
           " JOIN users u ON u.id = b.owner JOIN events e ON e.id = b.create_event")
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    rows = []
    for row in conn.execute(sql + " ORDER BY b.id", params).fetchall():
        info = builds.get_build(conn, row["id"], strict=True)
        rows.append({key: info[key] for key in LIST_BUILD_FIELDS})
    return builds.apply_query_opts(rows, queryOpts, list(LIST_BUILD_FIELDS))


def get_latest_builds(conn: sqlite3.Connection, tag, event=None, *, package=None,
                      type=None, draft=None) -> list:
    """RootExports.getLatestBuilds: readTaggedBuilds(inherit=True, latest=True);
    a tag given by name must exist (an id is used as it is)."""
    if not isinstance(tag, int):
        tag = builds.lookup_name(conn, "tags", tag, strict=True)["id"]
    return tagging.read_tagged_builds(conn, tag, event=event, inherit=True, latest=True,
                                      package=package, btype=type, draft=draft)


# -- hosts (RootExports.listHosts) -------------------------------------------------

def list_hosts(conn: sqlite3.Connection, *, arches=None, channelID=None, ready=None,
               enabled=None, userID=None, queryOpts=None) -> list:
    """RootExports.listHosts: the hosts with any of the arches (as whole words,
    the hub's regex \\m(a|b)\\M), in the channel (which must exist), ready or
    not, enabled or not, of the user.  The hub builds the query without
    queryOpts (they are accepted and ignored); the emulator orders by id."""
    clauses, params = [], []
    pattern = None
    if arches is not None:
        if not arches:
            raise koji.GenericError("arches option cannot be empty")
        if not isinstance(arches, (list, tuple)):
            arches = [arches]
        pattern = re.compile(r"(?<!\w)({})(?!\w)".format("|".join(arches)))
    if channelID is not None:
        channel = builds.lookup_name(conn, "channels", channelID, strict=True)
        clauses.append("h.id IN (SELECT host_id FROM host_channels WHERE channel_id = ?)")
        params.append(channel["id"])
    if ready is not None:
        clauses.append("h.ready = ?")
        params.append(1 if ready else 0)
    if enabled is not None:
        clauses.append("h.enabled = ?")
        params.append(1 if enabled else 0)
    if userID is not None:
        clauses.append("h.user_id = ?")
        params.append(policy.get_user(conn, userID, strict=True)["id"])
    sql = "SELECT h.* FROM hosts h"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    hosts = [state.host_info(r) for r in conn.execute(sql + " ORDER BY h.id", params)]
    if pattern is not None:
        hosts = [h for h in hosts if pattern.search(h["arches"])]
    return hosts
