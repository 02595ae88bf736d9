"""The emulator's HTTP(S) server: Koji's wire protocol, after kojihub/kojixmlrpc.py.

    POST /kojihub             XML-RPC (koji.xmlrpcplus marshalling, kwargs as a
                              trailing {'__starstar': True} dict), or a raw
                              upload when Content-Type is application/octet-stream
    POST /kojihub/ssllogin    the same, with the client certificate's details
                              (mod_ssl StdEnvVars, kojihub/app/httpd.conf)
    GET  /kojifiles/<path>    <topdir>/<path> (topurl)

Each request runs as the hub runs it (kojixmlrpc.application, _dispatch,
check_session): the handler is looked up first ("Invalid method: X"), then the
session is loaded (auth.Session: callnum rules, expiry, exclusive lock) and
its update time committed; the call then runs in a transaction that also
stores the callnum, committed only if the call changed something
(context.commit_pending) and rolled back on a fault.  Faults are encoded as
kojixmlrpc._wrap_handler does.  Every request is logged in the calls table.
"""

from __future__ import annotations

import datetime
import http.server
import io
import json
import os
import posixpath
import shutil
import socket
import ssl
import sys
import time
import traceback
import urllib.parse
import xmlrpc.client
from typing import Any, Optional

import koji
import koji.util
import koji.xmlrpcplus

from tests.hub import exports, state
from tests.hub.auth import Session
from tests.hub.context import Context, Environ, HubOptions


class Marshaller(koji.xmlrpcplus.ExtendedMarshaller):
    """kojixmlrpc.Marshaller: datetimes go out as isoformat(' ') strings."""

    dispatch = koji.xmlrpcplus.ExtendedMarshaller.dispatch.copy()

    def dump_datetime(self, value, write):
        self.dump_unicode(value.isoformat(" "), write)

    dispatch[datetime.datetime] = dump_datetime


def dumps_response(value: Any) -> str:
    return koji.xmlrpcplus.dumps((value,), methodresponse=1, marshaller=Marshaller)


def dumps_fault(fault: xmlrpc.client.Fault) -> str:
    return koji.xmlrpcplus.dumps(fault, marshaller=Marshaller)


def exception_fault(e: BaseException) -> xmlrpc.client.Fault:
    """kojixmlrpc._log_exception (KojiDebug off): koji errors keep their code and
    text; anything else is code 1 with "<class ...>: text"."""
    if isinstance(e, xmlrpc.client.Fault):
        return e
    code = getattr(type(e), "faultCode", 1)
    if isinstance(e, koji.GenericError):
        return xmlrpc.client.Fault(code, str(e))
    return xmlrpc.client.Fault(code, f"{type(e)}: {e}")


# -- the call log ------------------------------------------------------------

TASK_ARG_METHODS = {
    # method: (position of a task id or a list of them, keyword name)
    "host.openTask": (0, "task_id"), "host.closeTask": (0, "task_id"),
    "host.failTask": (0, "task_id"), "host.setTaskWeight": (0, "task_id"),
    "host.refuseTask": (0, "task_id"), "host.freeTasks": (0, "tasks"),
    "host.taskSetWait": (0, "parent"), "host.taskWait": (0, "parent"),
    "host.taskWaitResults": (0, "parent"), "host.subtask": (2, "parent"),
    "host.subtask2": (0, None), "getTaskInfo": (0, "task_id"),
    "getTaskResult": (0, "taskId"), "getTaskRequest": (0, "taskId"),
    "getTaskChildren": (0, "task_id"), "cancelTask": (0, "task_id"),
    "cancelTaskChildren": (0, "task_id"), "taskFinished": (0, "taskId"),
    "host.newBuildRoot": (2, "task_id"), "host.setBuildRootState": (2, "task_id"),
    "host.setBuildRootList": (2, "task_id"), "host.updateBuildRootList": (2, "task_id"),
    "host.completeBuild": (0, "task_id"), "host.failBuild": (0, "task_id"),
    "host.moveBuildToScratch": (0, "task_id"), "host.tagBuild": (0, "task_id"),
    "host.repoInit": (1, "task_id"), "listTaskOutput": (0, "taskID"),
    "cancelTaskFull": (0, "task_id"),
}
UPLOAD_METHODS = ("rawUpload", "uploadFile", "checkUpload")


def _ids(value) -> list:
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, (list, tuple)):
        return [v for v in value if isinstance(v, int) and not isinstance(v, bool)]
    return []


def call_task_ids(method: str, args: tuple, kwargs: dict) -> list:
    """The task ids a call names (for HubAdmin.calls(task_id=...))."""
    ids: list = []
    if method in TASK_ARG_METHODS:
        pos, kw = TASK_ARG_METHODS[method]
        if len(args) > pos:
            ids += _ids(args[pos])
        elif kw and kw in kwargs:
            ids += _ids(kwargs[kw])
        if method in ("host.taskSetWait", "host.taskWaitResults") and len(args) > 1:
            ids += _ids(args[1])
    elif method == "host.initBuild":
        data = args[0] if args else kwargs.get("data")
        if isinstance(data, dict):
            ids += _ids(data.get("task_id"))
    elif method in UPLOAD_METHODS:
        path = args[0] if args else kwargs.get("path", "")
        parts = str(path).split("/")
        if len(parts) >= 3 and parts[0] == "tasks" and parts[2].isdigit():
            ids.append(int(parts[2]))
    return ids


def _short(value: Any, limit: int = 4000) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"...({len(text)} chars)"


def args_repr(method: str, args: tuple, kwargs: dict) -> str:
    args = list(args)
    if method == "login" and len(args) > 1:
        args[1] = "<password>"
    if method == "uploadFile" and len(args) > 5:
        args[5] = f"<base64, {len(args[5])} chars>"
    return _short((tuple(args), kwargs))


class CallLog:
    def __init__(self, method: Optional[str]):
        self.method = method
        self.args = ""
        self.task_ids: list = []
        self.ok = False
        self.fault: Optional[xmlrpc.client.Fault] = None
        self.result = ""
        self.written = False


def write_call_log(conn, ctx: Optional[Context], environ: Environ, entry: CallLog) -> None:
    """One row of the call log, in the caller's transaction."""
    session = ctx.session if ctx is not None else None
    session_id = session.id if session is not None else None
    if session_id is None and "koji-session-id" in environ.headers:
        try:
            session_id = int(environ.headers["koji-session-id"])
        except ValueError:
            session_id = None
    user_id = session.user_id if session is not None else None
    callnum = environ.headers.get("koji-session-callnum", environ.headers.get("koji-callnum"))
    try:
        callnum = int(callnum) if callnum is not None else None
    except ValueError:
        callnum = None
    host_id = None
    if user_id is not None:
        row = conn.execute("SELECT id FROM hosts WHERE user_id = ?", (user_id,)).fetchone()
        host_id = row["id"] if row else None
    task_ids = "".join(f",{i}" for i in entry.task_ids) + "," if entry.task_ids else None
    conn.execute(
        "INSERT INTO calls (ts, session_id, user_id, host_id, method, callnum, args,"
        " task_ids, ok, fault_code, fault_string, result)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (time.time(), session_id, user_id, host_id, entry.method, callnum, entry.args,
         task_ids, int(entry.ok), entry.fault.faultCode if entry.fault else None,
         entry.fault.faultString if entry.fault else None, entry.result))
    entry.written = True
    status = "ok" if entry.ok else f"FAULT {entry.fault.faultCode}: {entry.fault.faultString}"
    print(f"hub: session={session_id} {entry.method} {entry.args[:300]} -> {status}",
          file=sys.stderr, flush=True)


# -- dispatch ------------------------------------------------------------------

class Dispatcher:
    """One request: kojixmlrpc.ModXMLRPCRequestHandler for the emulator."""

    def __init__(self, opts: HubOptions, environ: Environ):
        self.opts = opts
        self.environ = environ
        self.conn = state.connect(opts.db, init=False)
        self.ctx = Context(conn=self.conn, opts=opts, environ=environ)
        self.logs: list = []

    def close(self) -> None:
        self.conn.close()

    def _handler(self, name: str):
        if name in ("multiCall", "system.multicall"):
            return self._multicall
        func = exports.registry(self.ctx).get(name)
        if func is None:
            # kojixmlrpc HandlerRegistry.get; the emulator also says it loudly
            print(f"hub: EMULATOR DOES NOT KNOW METHOD {name!r}", file=sys.stderr, flush=True)
            raise koji.GenericError(f"Invalid method: {name}")
        return func

    def _load_session(self) -> None:
        """kojixmlrpc.check_session: auth.Session() commits its update time (and an
        expiry) before the call runs; a fault here rolls back the rest."""
        ctx = self.ctx
        ctx.session = Session(ctx)
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            ctx.session.load()
        except BaseException:
            self.conn.execute("COMMIT" if ctx.extra.get("commit_now") else "ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def _run(self, func, params: tuple, kwargs: dict) -> str:
        """Run the call in a transaction with the callnum update; commit only if the
        call wrote something (the hub's commit_pending), else roll back."""
        ctx = self.ctx
        session = ctx.session
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            session.validate()
            if session.logged_in and session.callnum is not None:
                self.conn.execute("UPDATE sessions SET callnum = ? WHERE id = ?",
                                  (session.callnum, session.id))
            before = self.conn.total_changes
            ctx.dirty = False
            result = koji.util.call_with_argcheck(func, params, kwargs)
            xml = dumps_response(result)
            if ctx.dirty or self.conn.total_changes != before:
                if session.logged_in and session.callnum is not None:
                    self.conn.execute("UPDATE sessions SET last_method = ?, last_result = ?"
                                      " WHERE id = ?", (ctx.method, xml, session.id))
                # the log in the call's own transaction: whoever sees what the call
                # did sees the call, never the one without the other
                self.logs[0].ok = True
                self.logs[0].result = _short(result, 1000)
                self._write_logs()
                self.conn.execute("COMMIT")
            else:
                self.conn.execute("ROLLBACK")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.last_result = result
        return xml

    def _slow_down(self, method: str) -> None:
        """A test's slow link (slowed_calls): wait before this call is handled."""
        row = self.conn.execute("SELECT seconds FROM slowed_calls WHERE method = ? AND"
                                " remaining > 0", (method,)).fetchone()
        if row is None:
            return
        self.conn.execute("UPDATE slowed_calls SET remaining = remaining - 1 WHERE method = ?",
                          (method,))  # autocommit: the connection's mode
        time.sleep(float(row[0]))

    def _mangled(self, method: str):
        """A test's replacement for this answer (mangled_answers), as (answer,)."""
        row = self.conn.execute("SELECT answer, remaining FROM mangled_answers WHERE method = ?"
                                " AND remaining > 0", (method,)).fetchone()
        if row is None:
            return None
        self.conn.execute("UPDATE mangled_answers SET remaining = remaining - 1 WHERE"
                          " method = ?", (method,))  # autocommit: the connection's mode
        return (json.loads(row[0]),)

    def rpc(self, body: bytes) -> str:
        entry = CallLog(None)
        self.logs.append(entry)
        try:
            if len(body) > self.opts.max_request_length:
                raise koji.GenericError("Request too long")
            params, method = xmlrpc.client.loads(body)
            entry.method = method
            params, kwargs = koji.decode_args(*params)
            entry.args = args_repr(method, params, kwargs)
            entry.task_ids = call_task_ids(method, params, kwargs)
            func = self._handler(method)
            self.ctx.method = method
            self._load_session()
            self._slow_down(method)  # a test's slow call: taken, then answered late
            xml = self._run(func, params, kwargs)
            mangled = self._mangled(method)
            if mangled is not None:
                xml = dumps_response(mangled[0])
            entry.ok = True
            entry.result = _short(self.last_result, 1000)
            return xml
        except Exception as e:
            fault = exception_fault(e)
            if not isinstance(e, (koji.GenericError, xmlrpc.client.Fault)):
                traceback.print_exc(file=sys.stderr)
            entry.fault = fault
            return dumps_fault(fault)

    def upload(self, body: bytes) -> str:
        """kojixmlrpc.handle_upload: context.method is None (so a repeated callnum is
        never whitelisted); the callnum is kept only if something was written,
        which an upload never does (kojihub.handle_upload has no DML)."""
        entry = CallLog("rawUpload")
        self.logs.append(entry)
        query = urllib.parse.parse_qs(self.environ.query)
        entry.args = _short({k: v[0] for k, v in query.items()} | {"size": len(body)})
        entry.task_ids = call_task_ids("rawUpload", (query.get("filepath", [""])[0],), {})
        try:
            # a slow link for one kind of file: upload:.rpm, upload:.log
            name = query.get("filename", [""])[0]
            self._slow_down(f"upload:{os.path.splitext(name)[1]}")
            self.ctx.method = None
            self._load_session()
            reader = io.BytesIO(body)
            xml = self._run(lambda: exports.handle_upload(self.ctx, reader.read), (), {})
            entry.ok = True
            entry.result = _short(self.last_result, 1000)
            return xml
        except Exception as e:
            fault = exception_fault(e)
            entry.fault = fault
            return dumps_fault(fault)

    def _multicall(self, calls):
        """kojixmlrpc.multiCall: each call in a savepoint; faults become dicts."""
        results = []
        for call in calls:
            entry = CallLog(None)
            self.logs.append(entry)
            self.conn.execute("SAVEPOINT multicall")
            try:
                name = call["methodName"]
                entry.method = name
                params, kwargs = koji.decode_args(*call["params"])
                entry.args = args_repr(name, params, kwargs) + " (in multiCall)"
                entry.task_ids = call_task_ids(name, params, kwargs)
                func = self._handler(name)
                self.ctx.method = name
                result = koji.util.call_with_argcheck(func, params, kwargs)
            except xmlrpc.client.Fault as fault:
                self.conn.execute("ROLLBACK TO multicall")
                entry.fault = fault
                results.append({"faultCode": fault.faultCode, "faultString": fault.faultString})
            except Exception as e:
                self.conn.execute("ROLLBACK TO multicall")
                code = getattr(type(e), "faultCode", 1)
                text = ", ".join(str(arg) for arg in e.args)
                entry.fault = xmlrpc.client.Fault(code, text)
                results.append({"faultCode": code, "faultString": text,
                                "traceback": traceback.format_exception(type(e), e,
                                                                        e.__traceback__)})
            else:
                entry.ok = True
                entry.result = _short(result, 1000)
                results.append([result])
            self.conn.execute("RELEASE multicall")
        return results

    def _write_logs(self) -> None:
        for entry in self.logs:
            if not entry.written:
                write_call_log(self.conn, self.ctx, self.environ, entry)

    def write_logs(self) -> None:
        """The calls that changed nothing (or failed), logged after their rollback."""
        try:
            with state.transaction(self.conn):
                self._write_logs()
        except Exception:
            traceback.print_exc(file=sys.stderr)


# -- HTTP ----------------------------------------------------------------------

class HubHTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, opts: HubOptions, ssl_context: Optional[ssl.SSLContext] = None):
        self.opts = opts
        self.ssl_context = ssl_context
        super().__init__(address, HubRequestHandler)

    def get_request(self):
        sock, addr = super().get_request()
        if self.ssl_context is not None:
            # the handshake happens in the request's thread (finish_request)
            sock = self.ssl_context.wrap_socket(sock, server_side=True,
                                                do_handshake_on_connect=False)
        return sock, addr

    def finish_request(self, request, client_address):
        if self.ssl_context is not None:
            try:
                request.settimeout(30)
                request.do_handshake()
                request.settimeout(None)
            except (OSError, ssl.SSLError) as e:
                print(f"hub: TLS handshake with {client_address} failed: {e}",
                      file=sys.stderr, flush=True)
                return
        super().finish_request(request, client_address)

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.server_address[1]}/kojihub"


class HubRequestHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without TCP_NODELAY, Nagle's
    # algorithm and the client's delayed ACK add 40 ms to every call (measured),
    # which Apache in front of a real hub does not.
    disable_nagle_algorithm = True
    server_version = "adjutant-hub-emulator"
    timeout = 300  # idle keep-alive connections

    server: HubHTTPServer

    def log_message(self, format, *args):
        sys.stderr.write(f"hub: {self.address_string()} {format % args}\n")

    def _send(self, code: int, body: bytes, content_type: str = "text/plain",
              headers: Optional[list] = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers or []:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _peer(self) -> tuple:
        """(SSL_CLIENT_VERIFY, CN, DN) of the verified client certificate."""
        if not isinstance(self.connection, ssl.SSLSocket):
            return None, None, None
        cert = self.connection.getpeercert()
        if not cert:
            return "NONE", None, None
        parts = []
        cn = None
        for rdn in cert.get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    cn = value
                    parts.append(f"CN={value}")
                else:
                    parts.append(f"{key}={value}")
        return "SUCCESS", cn, ",".join(parts)

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        path = url.path.rstrip("/")
        if path not in ("/kojihub", "/kojihub/ssllogin"):
            self._send(404, b"Not Found\n")
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        environ = Environ(
            remote_addr=self.client_address[0],
            path=path,
            query=url.query,
            headers={k.lower(): v for k, v in self.headers.items()},
            content_type=self.headers.get("Content-Type", ""),
        )
        if path == "/kojihub/ssllogin":
            verify, cn, dn = self._peer()
            if verify != "SUCCESS" and self.server.ssl_context is not None:
                # httpd.conf: <Location /kojihub/ssllogin> SSLVerifyClient require
                self._send(403, b"client certificate required\n")
                return
            environ.ssl_client_verify = verify
            environ.ssl_client_s_dn_cn = cn
            environ.ssl_client_s_dn = dn
        dispatcher = Dispatcher(self.server.opts, environ)
        try:
            if environ.content_type == "application/octet-stream":
                xml = dispatcher.upload(body)
            else:
                xml = dispatcher.rpc(body)
            # logged before the answer goes out, so a test sees the call at once
            dispatcher.write_logs()
        finally:
            dispatcher.close()
        # 1.35+ hubs send their version with every answer (kojixmlrpc GLOBAL_HEADERS)
        self._send(200, xml.encode("utf-8"), "text/xml",
                   [("Koji-Version", self.server.opts.version)])

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path)
        if path.rstrip("/") in ("/kojihub", "/kojihub/ssllogin"):
            # kojixmlrpc.application: XML-RPC is POST only
            self._send(405, b"Method Not Allowed\n"
                       b"This is an XML-RPC server. Only POST requests are accepted.\n",
                       headers=[("Allow", "POST")])
            return
        if not path.startswith("/kojifiles/"):
            self._send(404, b"Not Found\n")
            return
        rel = posixpath.normpath(path[len("/kojifiles/"):])
        topdir = os.path.realpath(self.server.opts.topdir)
        full = os.path.realpath(os.path.join(topdir, rel))
        if (rel.startswith("..") or rel.startswith("/")
                or not (full == topdir or full.startswith(topdir + os.sep))
                or not os.path.isfile(full)):
            self._send(404, b"Not Found\n")
            return
        # one line per file served, for tests that count downloads (HubProcess.served)
        # (one write: the lines of other threads never split it)
        os.write(sys.stderr.fileno(), f"hub: served {self.command} /kojifiles/{rel}\n".encode())
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(os.path.getsize(full)))
        self.end_headers()
        if self.command != "HEAD":
            with open(full, "rb") as fo:
                shutil.copyfileobj(fo, self.wfile)

    do_HEAD = do_GET


def make_ssl_context(cert: str, key: str, client_ca: Optional[str]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    if client_ca:
        ctx.load_verify_locations(client_ca)
        # a certificate is optional on the connection; /kojihub/ssllogin needs one
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


def make_server(opts: HubOptions, port: int = 0, tls_cert: Optional[str] = None,
                tls_key: Optional[str] = None, client_ca: Optional[str] = None, *,
                bind: str = "127.0.0.1") -> HubHTTPServer:
    conn = state.connect(opts.db)  # create the schema once
    try:
        with state.transaction(conn):
            # for HubAdmin (file paths of repos and imported rpms)
            state.set_sys(conn, "topdir", os.path.abspath(opts.topdir))
    finally:
        conn.close()
    os.makedirs(os.path.join(opts.topdir, "work"), exist_ok=True)
    ssl_context = None
    if tls_cert:
        ssl_context = make_ssl_context(tls_cert, tls_key or tls_cert, client_ca)
    server = HubHTTPServer((bind, port), opts, ssl_context)
    server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    return server
