"""The hub calls the emulator knows, after kojihub/kojihub.py (RootExports,
HostExports, Host, Task, make_task, get_upload_path, handle_upload) and
kojihub/auth.py.

Signatures are the hub's, so a wrong argument fails as it does on the hub
(koji.util.call_with_argcheck -> ParameterError).  A call not defined here is
refused by the server with "Invalid method: X" (kojixmlrpc HandlerRegistry.get).
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import stat
import urllib.parse
import xmlrpc.client
from typing import Any, Callable, Optional

import koji
import koji.util

from tests.hub import builds, notify, policy, readcalls, repos, scheduler, state, tagging
from tests.hub.context import Context

KOJI_API_VERSION = 1

convert_value = state.convert_value


def db_error(message: str) -> xmlrpc.client.Fault:
    """What a PostgreSQL error becomes on the hub: a non-koji exception, code 1."""
    return xmlrpc.client.Fault(1, f"<class 'psycopg2.errors.DataError'>: {message}")


def task_id_arg(value) -> int:
    """kojihub Task.__init__: convert_value(id, cast=int)."""
    return convert_value(value, cast=int)


def parse_result(xml: str, expect_fault: Optional[bool]) -> None:
    """Check a closeTask/failTask response before storing it.

    The hub stores the string as given; a string that is not an XML-RPC
    methodResponse would only fail later (getTaskResult, taskWaitResults).  The
    emulator refuses it at once: stricter than the hub, never more lenient.
    """
    if not isinstance(xml, str):
        raise db_error(f"can't adapt type '{type(xml).__name__}'")
    try:
        params, methodname = xmlrpc.client.loads(xml)
    except xmlrpc.client.Fault:
        is_fault = True
    except Exception as e:
        raise koji.GenericError("emulator: task response is not an XML-RPC methodResponse"
                                f" ({e})") from None
    else:
        is_fault = False
        if methodname is not None or len(params) != 1:
            raise koji.GenericError("emulator: task response is not an XML-RPC methodResponse"
                                    " with one value")
    if expect_fault is not None and is_fault != expect_fault:
        if expect_fault:
            raise koji.GenericError("emulator: failTask response must be a serialized Fault"
                                    " (kojid: dumps(Fault(code, text)))")
        raise koji.GenericError("emulator: closeTask response must not be a Fault"
                                " (kojid: dumps((result,), methodresponse=1))")


# -- tasks (kojihub Task) ----------------------------------------------------

class Task:
    def __init__(self, ctx: Context, task_id):
        self.ctx = ctx
        self.id = task_id_arg(task_id)

    def row(self):
        return state.get_task_row(self.ctx.conn, self.id)

    def verify_host(self, host_id=None) -> bool:
        """Task.verifyHost: the task is OPEN and owned by the host."""
        if host_id is None:
            host_id = self.ctx.session.host_id
        if host_id is None:
            return False
        row = self.row()
        if row is None:
            raise koji.GenericError(f"No such task: {self.id}")
        return row["state"] == state.OPEN and row["host_id"] == host_id

    def assert_host(self, host_id) -> None:
        """Task.assertHost - close/fail/setTaskWeight/subtask/uploads need an OPEN task
        of the calling host (reference §1 "Finishing a task")."""
        if not self.verify_host(host_id):
            raise koji.ActionNotAllowed(f"host {host_id} does not own task {self.id}")

    def verify_owner(self) -> bool:
        user_id = self.ctx.session.user_id
        if user_id is None:
            return False
        row = self.row()
        if row is None:
            raise koji.GenericError(f"No such task: {self.id}")
        return row["owner"] == user_id

    def get_info(self, strict=True, request=False):
        row = self.row()
        if row is None:
            if strict:
                raise koji.GenericError("query returned no rows")
            return None
        return state.task_info(row, request=request)

    def get_request(self):
        row = self.row()
        if row is None:
            raise koji.GenericError("query returned no rows")
        return state.decode_request(row["request"])

    def get_result(self, raise_fault=True):
        """Task.getResult: CANCELED and unfinished tasks are errors; a failed task's
        Fault is raised (or returned as a dict with raise_fault=False)."""
        row = self.row()
        if row is None:
            raise koji.GenericError("No such task")
        if row["state"] == state.CANCELED:
            raise koji.GenericError(f"Task {self.id} is canceled")
        if row["state"] not in (state.CLOSED, state.FAILED):
            raise koji.GenericError(f"Task {self.id} is not finished")
        try:
            result, _method = xmlrpc.client.loads(row["result"])
        except xmlrpc.client.Fault as fault:
            if raise_fault:
                raise
            return {"faultCode": fault.faultCode, "faultString": fault.faultString}
        return result[0]

    def get_children(self, request=False):
        rows = self.ctx.query("SELECT * FROM tasks WHERE parent = ? ORDER BY id", (self.id,))
        return [state.task_info(row, request=request) for row in rows]

    def _close(self, result, new_state) -> None:
        self.ctx.write("UPDATE tasks SET result = ?, state = ?, completion_ts = ? WHERE id = ?",
                       (result, new_state, state.now(), self.id))

    def free(self) -> bool:
        self.ctx.dirty = True
        return state.free_task(self.ctx.conn, self.id)

    def cancel(self, recurse=True) -> bool:
        """Task.cancel: the task's BUILDING builds are canceled too (notify.py)."""
        return notify.cancel_task(self.ctx, self.id, recurse=recurse)

    def cancel_children(self) -> None:
        notify.cancel_children(self.ctx, self.id)

    def cancel_full(self, strict=True) -> None:
        """Task.cancelFull."""
        notify.cancel_full(self.ctx, self.id, strict=strict)


def _task_opts(ctx: Context, opts: dict) -> None:
    """make_task's checks and conversions of the task options."""
    if "parent" in opts:
        opts["parent"] = convert_value(opts["parent"], cast=int)
    if "label" in opts:
        convert_value(opts["label"], cast=str, check_only=True)
    if "owner" in opts and not isinstance(opts["owner"], int):
        row = ctx.query_one("SELECT id FROM users WHERE name = ?", (opts["owner"],))
        if row is None:
            raise koji.GenericError("No such user: {}".format(opts["owner"]))
        opts["owner"] = row["id"]
    if "arch" in opts:
        opts["arch"] = koji.parse_arches(opts["arch"], strict=True, allow_none=True)
    if "priority" in opts:
        opts["priority"] = convert_value(opts["priority"], cast=int)
    if "assign" in opts:
        # get_host(assign, strict=True) for a name; an id goes in as it is (the
        # task's foreign key to host refuses one that does not exist)
        if not isinstance(opts["assign"], int):
            column, value = builds.name_or_id(opts["assign"])
            row = ctx.query_one(f"SELECT id FROM hosts WHERE {column} = ?", (value,))
            if row is None:
                raise koji.GenericError("Invalid hostInfo: {}".format(opts["assign"]))
            opts["assign"] = row["id"]
        elif opts["assign"] and ctx.query_one("SELECT 1 FROM hosts WHERE id = ?",
                                              (opts["assign"],)) is None:
            raise builds.pg_error(
                "ForeignKeyViolation", 'insert or update on table "task" violates foreign key'
                ' constraint "task_host_id_fkey"\nDETAIL:  Key (host_id)=({}) is not present'
                ' in table "host".'.format(opts["assign"]))


def _task_channel(ctx: Context, opts: dict, pdata) -> int:
    """The hub's default channel policy: "has req_channel :: req",
    "is_child_task :: parent", "all :: use default"."""
    if opts.get("channel"):
        chan = ctx.query_one("SELECT * FROM channels WHERE name = ? OR CAST(id AS TEXT) = ?",
                             (str(opts["channel"]), str(opts["channel"])))
        if chan is None:
            raise koji.GenericError("No such channel: {}".format(opts["channel"]))
        if not chan["enabled"]:
            raise koji.GenericError("Channel {} is disabled.".format(opts["channel"]))
        return chan["id"]
    if pdata is not None:
        return pdata["channel_id"]
    return ctx.query_one("SELECT id FROM channels WHERE name = 'default'")["id"]


def make_task(ctx: Context, method, arglist, **opts) -> int:
    """kojihub.make_task with the hub's default channel and priority policies.

    Subtasks (parent set) need an OPEN parent, take its priority - 1, its owner
    and arch, and its channel unless one is asked for (it must exist and be
    enabled).  A top-level task is owned by opts' owner, else the caller.  A
    default_channel (newRepo's createrepo) is, with 1.36's default
    DefaultChannelCompat, the requested channel unless one is given.  The
    request is stored as xmlrpcplus.dumps(tuple(arglist), methodname=method).
    """
    convert_value(method, cast=str, check_only=True)
    default_channel = opts.pop("default_channel", None)
    if default_channel is not None and "channel" not in opts:
        opts["channel"] = default_channel
    _task_opts(ctx, opts)
    pdata = None
    if "parent" in opts:
        pdata = state.get_task_row(ctx.conn, opts["parent"])
        if pdata is None:
            raise koji.GenericError("Invalid parent task: {parent}".format(**opts))
        if pdata["state"] != state.OPEN:
            raise koji.GenericError("Parent task (id {parent}) is not open".format(**opts))
        opts.setdefault("priority", pdata["priority"] - 1)
        opts.setdefault("owner", pdata["owner"])
        opts.setdefault("arch", pdata["arch"])
        opts.setdefault("label", None)
    else:
        opts.setdefault("priority", koji.PRIO_DEFAULT)
        opts.setdefault("arch", "noarch")
        if "owner" not in opts:
            if not ctx.session.logged_in:
                raise koji.GenericError("task must have an owner")
            opts["owner"] = ctx.session.user_id
        opts["label"] = None
        opts["parent"] = None
    channel_id = _task_channel(ctx, opts, pdata)
    request = state.encode_request(method, arglist)
    ctx.dirty = True
    assign = opts.get("assign")  # a task created ASSIGNED to that host
    return state.insert_task(ctx.conn, method=method, request=request, owner=opts["owner"],
                             channel_id=channel_id, arch=opts["arch"],
                             priority=opts["priority"], parent=opts["parent"],
                             label=opts["label"], state=state.ASSIGNED if assign else state.FREE,
                             host_id=assign or None)


def new_repo(ctx: Context, tag, event=None, src=False, debuginfo=False,  # noqa: PLR0917
             separate_src=False) -> int:
    """RootExports.newRepo: the repo or regen-repo permission (or admin); a
    newRepo task of priority 15, default channel createrepo, with
    repos.new_repo_args' arguments."""
    if not repos.ALLOW_NEW_REPO:
        raise koji.ActionNotAllowed("newRepo api call is disabled")
    if not ctx.session.has_perm("repo"):
        ctx.session.assert_perm("regen-repo")
    args = repos.new_repo_args(ctx.conn, ctx.opts.topdir, tag, event=event, src=src,
                               debuginfo=debuginfo, separate_src=separate_src)
    return make_task(ctx, "newRepo", args, priority=15, default_channel="createrepo")


def check_repo_queue(ctx: Context) -> None:
    """RepoExports.checkQueue: the repo permission (or admin); then
    repos.check_repo_queue, its newRepo tasks made as make_task makes them."""
    ctx.session.assert_perm("repo")
    ctx.dirty = True
    repos.check_repo_queue(ctx.conn, ctx.opts.topdir,
                           lambda method, args, **opts: make_task(ctx, method, args, **opts))


# -- uploads (kojihub get_upload_path, handle_upload, uploadFile, checkUpload)

def _check_volume(volume) -> None:
    # lookup_name('volume', volume, strict=True): only DEFAULT exists here
    if volume is not None and volume != "DEFAULT":
        raise koji.GenericError(f"No such entry in table volume: {volume}")


def get_upload_path(ctx: Context, reldir, name, create=False, volume=None) -> str:
    """kojihub.get_upload_path: a file under <topdir>/work.

    - the name may not have a directory part or start with '.';
    - the directory may not be empty or start with '..' (nor be absolute:
      koji.util.joinpath raises ValueError, which reaches the client as
      a code-1 fault);
    - tasks/N/<id>[/...] is writable only by the host that has task <id> OPEN
      (Host.verify plus Task.assertHost; reference §1 "Uploads");
    - any other directory belongs to the first user who uploads to it
      (a .user file).
    """
    orig_reldir, orig_name = reldir, name
    d, name = os.path.split(name)
    if d or name.startswith("."):
        raise koji.GenericError(f"Invalid upload filename: {orig_name}")
    reldir = os.path.normpath(reldir)
    if not reldir or reldir.startswith(".."):
        raise koji.GenericError(f"Invalid upload directory: {orig_reldir}")
    if reldir.startswith("/"):
        raise xmlrpc.client.Fault(1, f"<class 'ValueError'>: Invalid path segment: {reldir}")
    _check_volume(volume)
    parts = reldir.split("/")
    check_user = True
    if create and parts[0] == "tasks":
        if len(parts) < 3:
            raise koji.GenericError(f"Invalid task upload directory: {orig_reldir}")
        try:
            task_id = int(parts[2])
        except ValueError:
            raise koji.GenericError(f"Invalid task upload directory: {orig_reldir}") from None
        host = Host(ctx)
        host.verify()
        Task(ctx, task_id).assert_host(host.id)
        check_user = False
    udir = os.path.join(ctx.opts.topdir, "work", reldir)
    if create:
        os.makedirs(udir, exist_ok=True)
        if check_user:
            u_fn = os.path.join(udir, ".user")
            if os.path.exists(u_fn):
                with open(u_fn) as fo:
                    user_id = int(fo.read())
                if ctx.session.user_id != user_id:
                    raise koji.GenericError(f"Invalid upload directory, not owner: {orig_reldir}")
            else:
                with open(u_fn, "w") as fo:
                    fo.write(str(ctx.session.user_id))
    return os.path.join(udir, name)


def get_verify_class(verify) -> Optional[Callable]:
    if verify == "md5":
        return hashlib.md5
    if verify == "adler32":
        return koji.util.adler32_constructor
    if verify == "sha256":
        return hashlib.sha256
    if verify:
        raise koji.GenericError(f"Unsupported verify type: {verify}")
    return None


def handle_upload(ctx: Context, body_reader: Callable[[int], bytes]) -> dict:
    """kojihub.handle_upload: the raw POST fastUpload/rawUpload sends.

    Query: filename, filepath, fileverify, offset, overwrite, volume.  The
    answer is {size, fileverify, offset, hexdigest}; the client compares size
    and hexdigest with its chunk (koji ClientSession.fastUpload).
    """
    if not ctx.session.logged_in:
        raise koji.ActionNotAllowed("you must be logged-in to upload a file")
    args = urllib.parse.parse_qs(ctx.environ.query, strict_parsing=True)
    name = args["filename"][0]
    path = args.get("filepath", ("",))[0]
    verify = args.get("fileverify", ("",))[0]
    overwrite = args.get("overwrite", ("",))[0]
    offset = int(args.get("offset", ("0",))[0])
    volume = args.get("volume", ("DEFAULT",))[0]
    fn = get_upload_path(ctx, path, name, create=True, volume=volume)
    if os.path.exists(fn):
        if not os.path.isfile(fn):
            raise koji.GenericError(f"destination not a file: {fn}")
        if offset == 0 and not overwrite:
            raise koji.GenericError(f"upload path exists: {fn}")
    chk_cls = get_verify_class(verify)
    chksum = chk_cls() if chk_cls else None
    size = 0
    fd = os.open(fn, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            raise koji.LockError(e) from None
        offset = _seek_upload(fd, fn, offset)
        while True:
            chunk = body_reader(65536)
            if not chunk:
                break
            size += len(chunk)
            if chksum is not None:
                chksum.update(chunk)
            os.write(fd, chunk)
    finally:
        os.close(fd)
    ret = {"size": size, "fileverify": verify, "offset": offset}
    if chksum is not None:
        ret["hexdigest"] = chksum.hexdigest()
    return ret


def _seek_upload(fd: int, fn: str, offset: int, truncate: bool = True) -> int:
    """Offset -1 appends; any other offset is where the chunk goes (handle_upload
    also truncates the file there, uploadFile does not).

    The hub also accepts an offset past the end (a hole of zeros); a client
    never does that on purpose, so the emulator refuses it.
    """
    if offset == -1:
        return os.lseek(fd, 0, 2)
    current = os.fstat(fd).st_size
    if offset > current:
        raise koji.GenericError(f"emulator: upload offset {offset} is past the end of {fn}"
                                f" ({current} bytes)")
    if truncate:
        os.ftruncate(fd, offset)
    os.lseek(fd, offset, 0)
    return offset


def _legacy_checksum(checksum) -> tuple:
    """uploadFile: an md5 hex digest (old clients) or (type, digest)."""
    if isinstance(checksum, str):
        return "md5", checksum
    if checksum is None:
        return None, None
    verify, digest = checksum
    return verify, digest


def _fd_digest(fd: int, sum_cls: Callable) -> str:
    chksum = sum_cls()
    os.lseek(fd, 0, 0)
    while True:
        block = os.read(fd, 819200)
        if not block:
            return chksum.hexdigest()
        chksum.update(block)


def upload_file(ctx: Context, path, name, *, size, checksum, offset, contents: bytes,
                volume) -> bool:
    """RootExports.uploadFile: base64 chunks at their offsets, then offset -1 with
    the whole file's size and digest; False when a size or digest check fails.
    Only .log files may be uploaded again from offset 0."""
    verify, digest = _legacy_checksum(checksum)
    sum_cls = get_verify_class(verify)
    if offset != -1:
        if size is not None and size != len(contents):
            return False
        if verify is not None and digest != sum_cls(contents).hexdigest():
            return False
    fn = get_upload_path(ctx, path, name, create=True, volume=volume)
    if os.path.lexists(fn):
        if not stat.S_ISREG(os.lstat(fn).st_mode):
            raise koji.GenericError(f"destination not a file: {fn}")
        if offset == 0 and not fn.endswith(".log"):
            raise koji.GenericError(f"file already exists: {fn}")
    fd = os.open(fn, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        if offset == 0 or (offset == -1 and size == len(contents)):
            os.ftruncate(fd, 0)
        _seek_upload(fd, fn, offset, truncate=False)
        os.write(fd, contents)
        if offset == -1:
            if size is not None:
                os.ftruncate(fd, size)
            if verify is not None and digest != _fd_digest(fd, sum_cls):
                return False
    finally:
        os.close(fd)
    return True


# -- hosts (kojihub Host) -----------------------------------------------------

class Host:
    def __init__(self, ctx: Context, id=None):
        self.ctx = ctx
        remote_id = ctx.session.host_id
        if id is None:
            id = remote_id
        if id is None:
            if ctx.session.logged_in:
                raise koji.AuthError(f"User {ctx.session.user_id} is not a host")
            raise koji.AuthError("Not logged-in")
        self.id = id
        self.same_host = id == remote_id

    def verify(self) -> bool:
        """Host.verify: every host.* call needs the host's own session, exclusive
        (a subsession inherits its master's lock) - reference §1 Login."""
        if not self.same_host:
            raise koji.AuthError("Host mismatch")
        if not self.ctx.session.exclusive:
            raise koji.AuthError("This method requires an exclusive session")
        return True

    def task_wait_check(self, parent) -> tuple:
        finished, unfinished = [], []
        for row in self.ctx.query("SELECT id, state FROM tasks WHERE parent = ? AND awaited = 1"
                                  " ORDER BY id", (parent,)):
            (finished if row["state"] in state.FINISHED_STATES else unfinished).append(row["id"])
        return finished, unfinished


def get_host(ctx: Context, host_id) -> Optional[dict]:
    row = ctx.query_one("SELECT * FROM hosts WHERE id = ?", (host_id,))
    return None if row is None else state.host_info(row)


class HostExports:
    """kojihub HostExports (registered as host.<name>)."""

    def __init__(self, ctx: Context):
        self.ctx = ctx

    def _host(self) -> Host:
        host = Host(self.ctx)
        host.verify()
        return host

    def getID(self):
        return self._host().id

    def getHost(self):
        """Return information about this host."""
        return get_host(self.ctx, self._host().id)

    def updateHost(self, task_load, ready, data=None):
        """Host.updateHost (1.35+: data= from kojid's _get_host_data, for the scheduler)."""
        host = self._host()
        task_load = float(task_load)
        if not isinstance(ready, bool):
            raise db_error('column "ready" is of type boolean but expression is of type'
                           f" {type(ready).__name__}")
        if data is not None:
            data = json.dumps(data)
            self.ctx.write("UPDATE hosts SET task_load = ?, ready = ?, last_update = ?, data = ?"
                           " WHERE id = ?", (task_load, int(ready), state.now(), data, host.id))
        else:
            self.ctx.write("UPDATE hosts SET task_load = ?, ready = ?, last_update = ?"
                           " WHERE id = ?", (task_load, int(ready), state.now(), host.id))

    def getHostTasks(self):
        """Host.getHostTasks: OPEN tasks {id, waiting, weight} (+ alert when a waiting
        task has a finished awaited child) - reference §1 updateTasks."""
        host = self._host()
        tasks = []
        for row in self.ctx.query("SELECT id, waiting, weight FROM tasks WHERE host_id = ?"
                                  " AND state = ? ORDER BY id", (host.id, state.OPEN)):
            task = {"id": row["id"], "waiting": state.opt_bool(row["waiting"]),
                    "weight": row["weight"]}
            if row["waiting"]:
                finished, _ = host.task_wait_check(row["id"])
                if finished:
                    task["alert"] = True
            tasks.append(task)
        return tasks

    def getTasks(self):
        """scheduler.get_tasks_for_host(retry=True)."""
        host = self._host()
        return scheduler.tasks_for_host(self.ctx, host.id, retry=True)

    def openTask(self, task_id):
        """Task.open: FREE, or ASSIGNED to this host -> OPEN; the task row with its raw
        request, or None when the task is not there to take."""
        host = self._host()
        task = Task(self.ctx, task_id)
        if state.lock_task(self.ctx.conn, task.id, host.id, state.OPEN):
            return state.task_info(task.row(), raw_request=True)
        return None

    def closeTask(self, task_id, response):
        host = self._host()
        task = Task(self.ctx, task_id)
        task.assert_host(host.id)
        parse_result(response, expect_fault=False)
        task._close(response, state.CLOSED)

    def failTask(self, task_id, response):
        host = self._host()
        task = Task(self.ctx, task_id)
        task.assert_host(host.id)
        parse_result(response, expect_fault=True)
        task._close(response, state.FAILED)

    def freeTasks(self, tasks):
        """Only the host's OPEN tasks are freed; others are skipped silently."""
        host = self._host()
        for task_id in tasks:
            task = Task(self.ctx, task_id)
            if not task.verify_host(host.id):
                continue
            task.free()

    def setTaskWeight(self, task_id, weight):
        host = self._host()
        task = Task(self.ctx, task_id)
        task.assert_host(host.id)
        weight = convert_value(weight, cast=float)
        if weight < 0:
            raise db_error('new row for relation "task" violates check constraint'
                           ' "task_weight_check"')
        self.ctx.write("UPDATE tasks SET weight = ? WHERE id = ?", (weight, task.id))

    def refuseTask(self, task_id, soft=True, msg=""):
        """Refusal recorded (soft ones expire after SoftRefusalTimeout) and the task
        freed; a task not assigned to this host is ignored (the hub logs it)."""
        soft = convert_value(soft, cast=bool)
        msg = convert_value(msg, cast=str)
        host = self._host()
        task = Task(self.ctx, task_id)
        tinfo = task.get_info(strict=True)
        if tinfo["host_id"] != host.id:
            return None
        scheduler.set_refusal(self.ctx, host.id, tinfo["id"], soft=soft, msg=msg, by_host=True)
        task.free()
        return None

    def taskSetWait(self, parent, tasks):
        """Host.taskSetWait: parent waiting; the given children (all if None) awaited."""
        self._host()
        convert_value(tasks, cast=list, none_allowed=True, check_only=True)
        self.ctx.write("UPDATE tasks SET waiting = 1 WHERE id = ?", (parent,))
        if tasks is None:
            self.ctx.write("UPDATE tasks SET awaited = 1 WHERE parent = ?", (parent,))
        elif tasks:
            marks = ",".join("?" * len(tasks))
            self.ctx.write(f"UPDATE tasks SET awaited = 1 WHERE parent = ? AND id IN ({marks})",
                           [parent, *tasks])
            self.ctx.write("UPDATE tasks SET awaited = 0 WHERE parent = ? AND awaited = 1"
                           f" AND id NOT IN ({marks})", [parent, *tasks])

    def taskWait(self, parent):
        """Host.taskWait: [finished, unfinished] awaited children; finished ones are
        no longer awaited."""
        host = self._host()
        finished, unfinished = host.task_wait_check(parent)
        for task_id in finished:
            self.ctx.write("UPDATE tasks SET awaited = 0 WHERE id = ?", (task_id,))
        return [finished, unfinished]

    def taskWaitResults(self, parent, tasks, canfail=None):
        """Host.taskWaitResults: [[id, result], ...]; a failed task's Fault is raised
        unless it is in canfail (then {faultCode, faultString})."""
        self._host()
        if canfail is None:
            canfail = []
        self.ctx.write("UPDATE tasks SET waiting = 0 WHERE id = ?", (parent,))
        self.ctx.write("UPDATE tasks SET awaited = 0 WHERE parent = ?", (parent,))
        if tasks is None:
            tasks = [r["id"] for r in self.ctx.query(
                "SELECT id FROM tasks WHERE parent = ? AND state IN (?, ?, ?) ORDER BY id",
                (parent, *state.FINISHED_STATES))]
        results = []
        for task_id in tasks:
            task = Task(self.ctx, task_id)
            raise_fault = task_id not in canfail
            try:
                results.append([task_id, task.get_result(raise_fault=raise_fault)])
            except koji.GenericError as e:
                if not raise_fault and task.row()["state"] == state.CANCELED:
                    results.append([task_id, {"faultCode": e.faultCode,
                                              "faultString": str(e)}])
                    continue
                raise
        return results

    def subtask(self, method, arglist, parent, **opts):
        """A child of the host's OPEN task; an existing (parent, label) returns the same
        id (reference §1 "Restart and shutdown": subtasks survive a restart).  No
        owner option; assign= makes it ASSIGNED to that host (make_task), which
        takes it whatever its channel (restartHosts)."""
        host = self._host()
        Task(self.ctx, parent).assert_host(host.id)
        opts["parent"] = parent
        if "owner" in opts:
            raise koji.ActionNotAllowed("The owner option is not allowed here")
        if "label" in opts:
            row = self.ctx.query_one("SELECT id FROM tasks WHERE parent = ? AND label = ?",
                                     (parent, opts["label"]))
            if row is not None:
                return row["id"]
        if "kwargs" in opts:
            arglist = koji.encode_args(*arglist, **opts["kwargs"])
            del opts["kwargs"]
        return make_task(self.ctx, method, arglist, **opts)

    def subtask2(self, __parent, __taskopts, __method, *args, **opts):
        """subtask with the arguments encoded by koji.encode_args."""
        args = koji.encode_args(*args, **opts)
        return self.subtask(__method, args, __parent, **__taskopts)


    # -- buildroots and builds (HostExports; tests/hub/builds.py) ------------

    def newBuildRoot(self, repo, arch, task_id=None):
        """A buildroot in INIT for this host; a task_id must be a task this host has
        OPEN (Task.assertHost).  No ctype: the hub always makes 'chroot' ones."""
        host = self._host()
        if task_id is not None:
            task = Task(self.ctx, task_id)
            task.assert_host(host.id)
            task_id = task.id
        return builds.new_buildroot(self.ctx.conn, host.id, repo, arch, task_id=task_id)

    def _buildroot(self, brootid, task_id) -> builds.BuildRoot:
        """The checks of setBuildRootState/List: the host (and the task, if given)
        must own the buildroot."""
        host = self._host()
        task = None
        if task_id is not None:
            task = Task(self.ctx, task_id)
            task.assert_host(host.id)
        br = builds.BuildRoot(self.ctx.conn, brootid)
        br.assert_host(host.id)
        if task is not None:
            br.assert_task(task.id)
        return br

    def setBuildRootState(self, brootid, state, task_id=None):
        self._buildroot(brootid, task_id).set_state(state)

    def setBuildRootList(self, brootid, rpmlist, task_id=None):
        self._buildroot(brootid, task_id).set_list(rpmlist)

    def updateBuildRootList(self, brootid, rpmlist, task_id=None):
        self._buildroot(brootid, task_id).update_list(rpmlist)

    def initBuild(self, data):
        """A BUILDING build owned by the task's owner (new_build: an existing NVR is
        recycled or refused)."""
        host = self._host()
        task = Task(self.ctx, data["task_id"])
        task.assert_host(host.id)
        data = dict(data, owner=task.row()["owner"], state=koji.BUILD_STATES["BUILDING"],
                    completion_time=None)
        return builds.new_build(self.ctx.conn, data, self.ctx.session.user_id)

    def completeBuild(self, task_id, build_id, srpm, rpms,  # noqa: PLR0917
                      brmap=None, logs=None, draft=False):
        """kojihub.import_build from <topdir>/work, then build_notification
        (notify.py)."""
        host = self._host()
        Task(self.ctx, task_id).assert_host(host.id)
        if draft:
            raise koji.GenericError("emulator: draft builds are not supported")
        result = builds.import_build(self.ctx.conn, self.ctx.opts.topdir, srpm=srpm, rpms=rpms,
                                     brmap=brmap, task_id=task_id, build_id=build_id, logs=logs)
        notify.build_notification(self.ctx, task_id, build_id)
        return result

    def failBuild(self, task_id, build_id):
        """HostExports.failBuild: FAILED, then build_notification (notify.py)."""
        host = self._host()
        Task(self.ctx, task_id).assert_host(host.id)
        builds.fail_build(self.ctx.conn, build_id)
        notify.build_notification(self.ctx, task_id, build_id)

    def moveBuildToScratch(self, task_id, srpm, rpms, logs=None):
        host = self._host()
        task = Task(self.ctx, task_id)
        task.assert_host(host.id)
        owner = self.ctx.query_one("SELECT name FROM users WHERE id = ?", (task.row()["owner"],))
        builds.move_to_scratch(self.ctx.opts.topdir, task.id, owner["name"], srpm=srpm,
                               rpms=rpms, logs=logs)

    # -- repos (HostExports; tests/hub/repos.py) -------------------------------

    def repoInit(self, tag, task_id=None, event=None, opts=None):
        """HostExports.repoInit -> kojihub.repo_init: [repo_id, event_id].  The
        hub checks only the host (Host.verify); the emulator also wants a given
        task_id to be a task this host has OPEN, as kojid's newRepo passes its
        own (a repo of another host's task would be the host's mistake)."""
        host = self._host()
        if task_id is not None:
            task = Task(self.ctx, task_id)
            if not task.verify_host(host.id):
                raise koji.ActionNotAllowed(f"emulator: host {host.id} does not own task"
                                            f" {task.id} (repoInit's task_id)")
        self.ctx.dirty = True
        return repos.repo_init(self.ctx.conn, self.ctx.opts.topdir, tag, task_id=task_id,
                               event=event, opts=opts)

    def repoDone(self, repo_id, data, expire=False, repo_json_updates=None):
        """HostExports.repoDone (repos.repo_done): the uploaded repodata moved
        in, the repo READY (or EXPIRED with expire) and maybe the latest."""
        self._host()
        self.ctx.dirty = True
        repos.repo_done(self.ctx.conn, self.ctx.opts.topdir, repo_id, data, expire=expire,
                        repo_json_updates=repo_json_updates)

    # -- tagging and policies (HostExports; tests/hub/tagging.py, policy.py) --

    def tagBuild(self, task_id, tag, build, force=False, fromtag=None):
        """HostExports.tagBuild: as the task's owner.  The tag policy ({tag,
        build, fromtag, user_id, operation tag|move}; force lets an admin
        owner through), then the package list: the package must be listed in
        the tag and not blocked (with force, an admin session adds it), then
        the untag from fromtag (a move) and the tag (_tag_build), all at one
        event."""
        host = self._host()
        task = Task(self.ctx, task_id)
        task.assert_host(host.id)
        conn = self.ctx.conn
        binfo = builds.get_build(conn, build, strict=True)
        pkg_id = binfo["package_id"]
        tag_id = builds.get_tag(conn, tag, strict=True)["id"]
        user_id = task.row()["owner"]
        if fromtag and not isinstance(fromtag, str):
            fromtag = builds.get_tag(conn, fromtag, strict=True)["name"]
        policy_data = {"tag": tag, "build": binfo, "fromtag": fromtag, "user_id": user_id,
                       "operation": "tag" if fromtag is None else "move"}
        self._assert_policy("tag", policy_data, force=force)
        entry = tagging.read_package_list(conn, tag_id=tag_id, pkg=pkg_id, inherit=True,
                                          with_owners=False).get(pkg_id)
        # the error texts name the tag as the caller gave it (an id or a name)
        pkg_error = None
        if entry is None:
            pkg_error = f"Package {binfo['name']} not in list for {tag}"
        elif entry["blocked"]:
            pkg_error = f"Package {binfo['name']} blocked in {tag}"
        event = tagging.CallEvent(conn)
        if pkg_error:
            if not (force and self.ctx.session.has_perm("admin")):
                raise koji.TagError(pkg_error)
            # pkglist_add(tag_id, pkg_id, force=True, block=False), policy checked
            tagging.pkglist_add(
                conn, tag_id, pkg_id, block=False, force=True, user_id=self.ctx.session.user_id,
                event=event, check_policy=lambda data: self._assert_policy(
                    "package_list", data, force=True))
        if fromtag:
            tagging.untag_build(conn, fromtag, binfo, user_id=user_id, force=force, strict=True,
                                event=event)
        tagging.tag_build(conn, tag, binfo, user_id=user_id, force=force, event=event)
        self.ctx.dirty = True

    def tagNotification(self, is_successful, tag_id, from_id, build_id, user_id,  # noqa: PLR0917
                        ignore_success=False, failure_msg=""):
        """HostExports.tagNotification -> kojihub.tag_notification (notify.py):
        a tagNotification task when there are recipients, none under
        DisableNotifications.  The emulator also records the call as given
        (HubAdmin.tag_notifications).  No return value, as on the hub."""
        host = self._host()
        args = (is_successful, tag_id, from_id, build_id, user_id, ignore_success, failure_msg)
        self.ctx.write(
            "INSERT INTO tag_notifications (ts, host_id, is_successful, tag_id, from_id, build_id,"
            " user_id, ignore_success, failure_msg) VALUES (?,?,?,?,?,?,?,?,?)",
            (state.now(), host.id, *(json.dumps(a, default=str) for a in args)))
        notify.tag_notification(self.ctx, is_successful, tag_id, from_id, build_id, user_id,
                                ignore_success, failure_msg)

    def _assert_policy(self, name, data, force=False, default="deny"):
        policy.assert_policy(self.ctx.conn, self.ctx.session.user_id, name, data,
                             default=default, force=force)

    def checkPolicy(self, name, data, default="deny", strict=False):
        """HostExports.checkPolicy: kojihub.check_policy's (allowed, reason)."""
        self._host()
        return list(policy.check_policy(self.ctx.conn, self.ctx.session.user_id, name, data,
                                        default=default, strict=strict))

    def assertPolicy(self, name, data, default="deny"):
        """HostExports.assertPolicy: check_policy(strict=True)."""
        self._host()
        policy.check_policy(self.ctx.conn, self.ctx.session.user_id, name, data,
                            default=default, strict=True)

    def evalPolicy(self, name, data):
        """HostExports.evalPolicy: kojihub.eval_policy."""
        self._host()
        return eval_policy(self.ctx, name, data)


# -- the rest (kojihub RootExports and auth.py's exported functions) -----------

class RootExports:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    # auth.py
    def login(self, *args, **opts):
        return self.ctx.session.login(*args, **opts)

    def sslLogin(self, *args, **opts):
        return self.ctx.session.ssl_login(*args, **opts)

    def logout(self, session_id=None):
        return self.ctx.session.logout(session_id)

    def subsession(self):
        return self.ctx.session.subsession()

    def logoutChild(self, session_id):
        return self.ctx.session.logout_child(session_id)

    def exclusiveSession(self, *args, **opts):
        return self.ctx.session.make_exclusive(*args, **opts)

    def sharedSession(self):
        return self.ctx.session.make_shared()

    # RootExports
    def echo(self, *args):
        return args

    def hello(self, *args):
        return "Hello World"

    def getKojiVersion(self):
        return self.ctx.opts.version

    def getAPIVersion(self):
        return KOJI_API_VERSION

    def getLoggedInUser(self):
        session = self.ctx.session
        if not session.logged_in:
            return None
        row = self.ctx.query_one("SELECT * FROM users WHERE id = ?", (session.user_id,))
        # getUser's dict, the authtype, and krb_principal (the first principal or None)
        return {"id": row["id"], "name": row["name"], "status": row["status"],
                "usertype": row["usertype"], "krb_principals": [],
                "authtype": session.authtype, "krb_principal": None}

    def getUser(self, userInfo=None, strict=False, krb_princs=True, groups=False):
        """RootExports.getUser = kojihub.get_user (readcalls.py)."""
        return readcalls.get_user(self.ctx.conn, userInfo, strict, krb_princs, groups,
                                  session_user_id=self.ctx.session.user_id)

    def getSessionInfo(self, details=False, user_id=None):
        session = self.ctx.session
        if not session.logged_in:
            return None
        if user_id:
            row = self.ctx.query_one("SELECT id FROM users WHERE name = ? OR id = ?",
                                     (str(user_id), user_id))
            if row is None:
                raise koji.GenericError(f"No such user: {user_id!r}")
            if not session.has_perm("admin") and row["id"] != session.user_id:
                raise koji.ActionNotAllowed("only admins or owners may see all active sessions")
            result = []
            for s in self.ctx.query("SELECT * FROM sessions WHERE user_id = ? AND expired = 0",
                                    (row["id"],)):
                entry = {
                    "user_id": s["user_id"], "expired": bool(s["expired"]),
                    "master": s["master"], "authtype": s["authtype"], "callnum": s["callnum"],
                    "start_time": state.ts_to_str(s["start_ts"]), "start_ts": s["start_ts"],
                    "update_time": state.ts_to_str(s["update_ts"]), "update_ts": s["update_ts"],
                    "renew_time": state.ts_to_str(s["renew_ts"]), "renew_ts": s["renew_ts"],
                    "exclusive": True if s["exclusive"] else None,
                }
                if details:
                    entry["hostip"] = s["hostip"]
                    entry["id"] = s["id"]
                result.append(entry)
            return result
        result = dict(session.session_data)
        if details:
            result["hostip"] = session.hostip
            result["id"] = session.id
        return result

    def getHost(self, hostInfo, strict=False, event=None):
        if event is not None:
            raise koji.GenericError("emulator: getHost(event=) is not supported")
        if isinstance(hostInfo, int):
            row = self.ctx.query_one("SELECT * FROM hosts WHERE id = ?", (hostInfo,))
        elif isinstance(hostInfo, str):
            row = self.ctx.query_one("SELECT * FROM hosts WHERE name = ?", (hostInfo,))
        else:
            raise koji.ParameterError(f"Invalid type for hostInfo: {type(hostInfo)}")
        if row is None:
            if strict:
                raise koji.GenericError(f"No such host: {hostInfo}")
            return None
        return state.host_info(row)

    def taskFinished(self, taskId):
        row = Task(self.ctx, taskId).row()
        if row is None:
            raise koji.GenericError("query returned no rows")
        return row["state"] in state.FINISHED_STATES

    def getTaskRequest(self, taskId):
        return Task(self.ctx, taskId).get_request()

    def getTaskResult(self, taskId, raise_fault=True):
        return Task(self.ctx, taskId).get_result(raise_fault=raise_fault)

    def getTaskInfo(self, task_id, request=False, strict=False):
        single = not isinstance(task_id, (list, tuple))
        ids = [task_id] if single else task_id
        ret = [Task(self.ctx, i).get_info(strict, request) for i in ids]
        return ret[0] if single else ret

    def getTaskChildren(self, task_id, request=False, strict=False):
        task = Task(self.ctx, task_id)
        if strict:
            task.get_info(strict=True)
        return task.get_children(request=request)

    def cancelTask(self, task_id, recurse=True):
        """RootExports.cancelTask: the owner, the host running the OPEN task
        (Task.verifyHost: `adjutant cancel` through the daemon) or an admin."""
        task = Task(self.ctx, task_id)
        if (not task.verify_owner() and not task.verify_host()
                and not self.ctx.session.has_perm("admin")):
            raise koji.ActionNotAllowed("Cannot cancel task, not owner")
        task.cancel(recurse=recurse)

    def cancelTaskFull(self, task_id, strict=True):
        """RootExports.cancelTaskFull: admin only; Task.cancelFull."""
        self.ctx.session.assert_perm("admin")
        Task(self.ctx, task_id).cancel_full(strict=strict)

    def cancelBuild(self, buildID, strict=False):
        """RootExports.cancelBuild: the build's owner or an admin;
        kojihub.cancel_build (the build's task group canceled too, and its
        notification made).  False for no such build (unless strict) or a
        build that is not BUILDING."""
        self.ctx.session.assert_login()
        build = builds.get_build(self.ctx.conn, buildID, strict=strict)
        if build is None:
            return False
        if build["owner_id"] != self.ctx.session.user_id and \
                not self.ctx.session.has_perm("admin"):
            raise koji.ActionNotAllowed("Cannot cancel build, not owner")
        return notify.cancel_build(self.ctx, build["id"])

    def listTaskOutput(self, taskID, stat=False, all_volumes=False, strict=False):
        """kojihub.list_task_output (readcalls.py)."""
        return readcalls.list_task_output(self.ctx.conn, self.ctx.opts.topdir, taskID,
                                          stat=stat, all_volumes=all_volumes, strict=strict)

    def cancelTaskChildren(self, task_id):
        """The owner, the host running the task (Task.verifyHost) or an admin."""
        self.ctx.session.assert_login()
        task = Task(self.ctx, task_id)
        if (not task.verify_owner() and not task.verify_host()
                and not self.ctx.session.has_perm("admin")):
            raise koji.ActionNotAllowed("Cannot cancel task, not owner")
        task.cancel_children()

    # -- RPM builds (tests/hub/builds.py) ------------------------------------

    def getEvent(self, id, strict=True):
        return builds.event_info(self.ctx.conn, id, strict=strict)

    def getLastEvent(self, before=None, strict=True):
        """{id, ts} of the newest event (1.35+: strict=False gives None for none)."""
        return builds.last_event(self.ctx.conn, before=before, strict=strict)

    def getTag(self, tagInfo, strict=False, event=None, blocked=False):
        return builds.get_tag(self.ctx.conn, tagInfo, strict=strict, event=event,
                              blocked=blocked)

    def getBuildConfig(self, tag, event=None):
        return builds.get_build_config(self.ctx.conn, tag, event=event)

    def getExternalRepoList(self, tag_info, event=None):
        return builds.get_external_repo_list(self.ctx.conn, tag_info, event=event)

    def getBuildTarget(self, info, event=None, strict=False):
        return builds.get_build_target(self.ctx.conn, info, event=event, strict=strict)

    def getChannel(self, channelInfo, strict=False):
        return builds.get_channel(self.ctx.conn, channelInfo, strict=strict)

    def listChannels(self, hostID=None, event=None, enabled=None):
        """kojihub.list_channels: the channels (of a host: hostID, its id or
        name, which must exist), each as getChannel gives it, by name; event
        (the versioned host_channels) is not emulated and refused."""
        if event is not None:
            raise koji.GenericError("emulator: listChannels(event=) is not emulated")
        sql = "SELECT c.id FROM channels c"
        params: tuple = ()
        if hostID is not None:
            host = self.getHost(hostID)
            if host is None:
                raise koji.GenericError(f"No such host: {hostID}")
            sql += " JOIN host_channels hc ON hc.channel_id = c.id WHERE hc.host_id = ?"
            params = (host["id"],)
        rows = self.ctx.conn.execute(sql + " ORDER BY c.name", params).fetchall()
        channels = [builds.get_channel(self.ctx.conn, row["id"]) for row in rows]
        if enabled is not None:
            channels = [c for c in channels if c["enabled"] == bool(enabled)]
        return channels

    def repoInfo(self, repo_id, strict=False):
        return builds.repo_info(self.ctx.conn, repo_id, strict=strict)

    def getBuild(self, buildInfo, strict=False):
        return builds.get_build(self.ctx.conn, buildInfo, strict=strict)

    def getRPM(self, rpminfo, strict=False, multi=False, build=None):
        return builds.get_rpm(self.ctx.conn, rpminfo, strict=strict, multi=multi, build=build)

    def listBuilds(self, packageID=None, userID=None, taskID=None,  # noqa: PLR0917
                   prefix=None, state=None, volumeID=None, source=None, createdBefore=None,
                   createdAfter=None, completeBefore=None, completeAfter=None, type=None,
                   typeInfo=None, queryOpts=None, pattern=None, cgID=None, draft=None):
        """RootExports.listBuilds (readcalls.py)."""
        return readcalls.list_builds(
            self.ctx.conn, packageID=packageID, userID=userID, taskID=taskID, prefix=prefix,
            state_=state, volumeID=volumeID, source=source, createdBefore=createdBefore,
            createdAfter=createdAfter, completeBefore=completeBefore,
            completeAfter=completeAfter, type=type, typeInfo=typeInfo, queryOpts=queryOpts,
            pattern=pattern, cgID=cgID, draft=draft)

    def getLatestBuilds(self, tag, event=None, package=None, type=None, draft=None):
        """RootExports.getLatestBuilds (readcalls.py)."""
        return readcalls.get_latest_builds(self.ctx.conn, tag, event=event, package=package,
                                           type=type, draft=draft)

    def getChangelogEntries(self, buildID=None, taskID=None, filepath=None,  # noqa: PLR0917
                            author=None, before=None, after=None, queryOpts=None,
                            strict=False):
        """RootExports.getChangelogEntries (readcalls.py)."""
        return readcalls.get_changelog_entries(
            self.ctx.conn, self.ctx.opts.topdir, buildID=buildID, taskID=taskID,
            filepath=filepath, author=author, before=before, after=after,
            queryOpts=queryOpts, strict=strict)

    def listHosts(self, arches=None, channelID=None, ready=None,  # noqa: PLR0917
                  enabled=None, userID=None, queryOpts=None):
        """RootExports.listHosts (readcalls.py)."""
        return readcalls.list_hosts(self.ctx.conn, arches=arches, channelID=channelID,
                                    ready=ready, enabled=enabled, userID=userID,
                                    queryOpts=queryOpts)

    def listRPMs(self, buildID=None, buildrootID=None, imageID=None,  # noqa: PLR0917
                 componentBuildrootID=None, hostID=None, arches=None, queryOpts=None,
                 draft=None):
        return builds.list_rpms(self.ctx.conn, buildID=buildID, buildrootID=buildrootID,
                                imageID=imageID, componentBuildrootID=componentBuildrootID,
                                hostID=hostID, arches=arches, queryOpts=queryOpts, draft=draft)

    # -- package lists, tagged builds, repos (tests/hub/tagging.py, repos.py) -

    def getPackageConfig(self, tag, pkg, event=None):
        return tagging.package_config(self.ctx.conn, tag, pkg, event=event)

    def checkTagPackage(self, tag, pkg):
        return tagging.check_tag_package(self.ctx.conn, tag, pkg)

    def listPackages(self, tagID=None, userID=None, pkgID=None, prefix=None,  # noqa: PLR0917
                     inherited=False, with_dups=False, event=None, queryOpts=None,
                     with_owners=True, with_blocked=True):
        return tagging.list_packages(self.ctx.conn, tagID=tagID, userID=userID, pkgID=pkgID,
                                     prefix=prefix, inherited=inherited, with_dups=with_dups,
                                     event=event, queryOpts=queryOpts, with_owners=with_owners,
                                     with_blocked=with_blocked,
                                     session_user_id=self.ctx.session.user_id)

    def listTagged(self, tag, event=None, inherit=False, prefix=None,  # noqa: PLR0917
                   latest=False, package=None, owner=None, type=None, strict=True,
                   extra=False, draft=None):
        return tagging.list_tagged(self.ctx.conn, tag, event=event, inherit=inherit,
                                   prefix=prefix, latest=latest, package=package, owner=owner,
                                   type=type, strict=strict, extra=extra, draft=draft)

    def tagLastChangeEvent(self, tag, before=None, inherit=True):
        return tagging.tag_last_change_event(self.ctx.conn, tag, before=before, inherit=inherit)

    def tagFirstChangeEvent(self, tag, after=None, inherit=True):
        return tagging.tag_first_change_event(self.ctx.conn, tag, after=after, inherit=inherit)

    def getRepo(self, tag, state=None, event=None, dist=False, min_event=None):
        """repos.old_get_repo."""
        return repos.old_get_repo(self.ctx.conn, tag, repo_state=state, event=event, dist=dist,
                                  min_event=min_event)

    def newRepo(self, tag, event=None, src=False, debuginfo=False, separate_src=False):
        """RootExports.newRepo (koji regen-repo --make-task): a newRepo task id."""
        return new_repo(self.ctx, tag, event=event, src=src, debuginfo=debuginfo,
                        separate_src=separate_src)

    def getInheritanceData(self, tag, event=None):
        """RootExports.getInheritanceData: the tag's parent links."""
        tag_id = builds.lookup_name(self.ctx.conn, "tags", tag, strict=True)["id"]
        return builds.read_inheritance_data(self.ctx.conn, tag_id, event)

    def getFullInheritance(self, tag, event=None, reverse=False, **kwargs):
        """RootExports.getFullInheritance: readFullInheritance (an int tag is not
        looked up); the removed stops/jumps options are refused when set."""
        for key, value in kwargs.items():
            if key not in ("stops", "jumps"):
                raise koji.ParameterError("getFullInheritance() got an unexpected keyword"
                                          f" argument '{key}'")
            if value:
                raise koji.ParameterError(f"{key} option has been removed since 1.26")
        if not isinstance(tag, int):
            tag = builds.lookup_name(self.ctx.conn, "tags", tag, strict=True)["id"]
        return builds.read_full_inheritance(self.ctx.conn, tag, event, reverse)

    def getTagGroups(self, tag, event=None, inherit=True, incl_pkgs=True,  # noqa: PLR0917
                     incl_reqs=True, incl_blocked=False):
        """RootExports.getTagGroups = kojihub.readTagGroups."""
        return tagging.read_tag_groups(self.ctx.conn, tag, event, inherit, incl_pkgs, incl_reqs,
                                       incl_blocked)

    def evalPolicy(self, name, data):
        """RootExports.evalPolicy = kojihub.eval_policy."""
        return eval_policy(self.ctx, name, data)

    def getAverageBuildDuration(self, package, age=None):
        return builds.average_build_duration(self.ctx.conn, package, age=age)

    def getBuildroot(self, buildrootID, strict=False):
        return builds.get_buildroot(self.ctx.conn, buildrootID, strict=strict)

    def listBuildroots(self, hostID=None, tagID=None, state=None, rpmID=None,  # noqa: PLR0917
                       archiveID=None, taskID=None, buildrootID=None, repoID=None,
                       queryOpts=None):
        """kojihub.query_buildroots (the hub's signature)."""
        return builds.query_buildroots(self.ctx.conn, hostID=hostID, tagID=tagID,
                                       br_state=state, rpmID=rpmID, archiveID=archiveID,
                                       taskID=taskID, buildrootID=buildrootID, repoID=repoID,
                                       queryOpts=queryOpts)

    def getBuildrootListing(self, id):
        """BuildRoot(id).getList(): the rpms recorded in the buildroot."""
        return builds.BuildRoot(self.ctx.conn, id).get_list()

    def uploadFile(self, path, name, size, md5sum, offset, data,  # noqa: PLR0917
                   volume=None, checksum=None):
        """The legacy upload (RootExports.uploadFile; the hub's signature)."""
        self.ctx.session.assert_login()
        if checksum is None and md5sum is not None:
            checksum = md5sum
        return upload_file(self.ctx, path, name, size=koji.decode_int(size), checksum=checksum,
                           offset=koji.decode_int(offset), contents=base64.b64decode(data),
                           volume=volume)

    def checkUpload(self, path, name, verify=None, tail=None, volume=None):
        """{size, mtime[, sumlength, hexdigest]} of an uploaded file, None if absent."""
        fn = get_upload_path(self.ctx, path, name, volume=volume)
        try:
            fd = os.open(fn, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            try:
                fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError as e:
                raise koji.LockError(e) from None
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise koji.GenericError(f"Not a regular file: {fn}")
            data: dict[str, Any] = {"size": st.st_size, "mtime": st.st_mtime}
            if verify:
                chksum = get_verify_class(verify)()
                if tail is not None:
                    if tail < 0:
                        raise koji.GenericError(f"Invalid tail value: {tail!r}")
                    os.lseek(fd, max(st.st_size - tail, 0), 0)
                length = 0
                chunk = os.read(fd, 8192)
                while chunk:
                    length += len(chunk)
                    chksum.update(chunk)
                    chunk = os.read(fd, 8192)
                data["sumlength"] = length
                data["hexdigest"] = chksum.hexdigest()
            return data
        finally:
            os.close(fd)


def eval_policy(ctx: Context, name, data):
    """kojihub.eval_policy: the policy's action for the data (None if no rule
    matched); a missing policy is an error."""
    ruleset = policy.get_ruleset(ctx.conn, name)
    if ruleset is None:
        raise koji.GenericError(f"no such policy: {name}")
    with policy._checking(ctx.conn, ctx.session.user_id):
        return ruleset.apply(data)


class RepoExports:
    """kojihub/repos.py RepoExports (registered as repo.<name>)."""

    def __init__(self, ctx: Context):
        self.ctx = ctx

    def request(self, tag, min_event=None, at_event=None, opts=None,  # noqa: PLR0917
                priority=None, force=False):
        return repos.request_repo(self.ctx.conn, self.ctx.session, tag, min_event=min_event,
                                  at_event=at_event, opts=opts, priority=priority, force=force)

    def get(self, tag, min_event=None, at_event=None, opts=None):
        return repos.get_repo(self.ctx.conn, tag, min_event=min_event, at_event=at_event,
                              opts=opts)

    def checkRequest(self, req_id):
        return repos.check_repo_request(self.ctx.conn, req_id)

    def checkQueue(self):
        """kojihub RepoExports.checkQueue ([kojira]): the queued requests get their
        newRepo tasks."""
        check_repo_queue(self.ctx)


def registry(ctx: Context) -> dict:
    """Method name -> bound handler, as kojixmlrpc.get_registry builds it."""
    funcs: dict = {}
    root = RootExports(ctx)
    for name in dir(root):
        if not name.startswith("_") and name != "ctx":
            funcs[name] = getattr(root, name)
    # kojixmlrpc.get_registry: register_module(hostFunctions, "host") and
    # (1.35+) register_module(repoFunctions, "repo")
    for prefix, exports in (("host.", HostExports(ctx)), ("repo.", RepoExports(ctx))):
        for name in dir(exports):
            if not name.startswith("_") and name != "ctx":
                funcs[prefix + name] = getattr(exports, name)
    return funcs


def method_names() -> list:
    """Every call the emulator answers (the rest: "Invalid method")."""
    names = [n for n in dir(RootExports) if not n.startswith("_")]
    names += ["host." + n for n in dir(HostExports) if not n.startswith("_")]
    names += ["repo." + n for n in dir(RepoExports) if not n.startswith("_")]
    return sorted([*names, "multiCall", "rawUpload"])
