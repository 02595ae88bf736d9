"""The tests' side of the hub emulator.

HubAdmin works on the SQLite file directly, so it works while the server is
down; HubProcess runs the server (python3 -m tests.hub) as a subprocess that a
test can stop and start again on the same state.

    with HubProcess(tmp_path / "hub.db", tmp_path / "koji") as hub:
        admin = HubAdmin(hub.db)
        admin.add_host("builder1", password="pw")
        task_id = admin.create_task("sleep", [1])
        ...  # koji.ClientSession(hub.url, {...}) plays the builder
        assert admin.task(task_id)["state"] == koji.TASK_STATES["CLOSED"]
        assert admin.count_calls("host.closeTask", task_id=task_id) == 1
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
import xmlrpc.client
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Optional, Union

import koji

from tests.hub import state
from tests.hub.tls import TLSPaths

REPO = Path(__file__).resolve().parents[2]
PathLike = Union[str, "os.PathLike[str]"]


def _host_value(key: str, value: Any) -> Any:
    if key == "arches" and not isinstance(value, str):
        return " ".join(value)
    if key == "data" and value is not None:
        return json.dumps(value)
    if key in ("enabled", "ready"):
        return int(bool(value))
    return value


class HubAdmin:
    """Direct access to the emulator's state (what an admin does with the koji CLI,
    and what a test asserts on)."""

    def __init__(self, db_path: PathLike):
        self.db_path = str(db_path)
        self.conn = state.connect(self.db_path)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> HubAdmin:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _tx(self):
        return state.transaction(self.conn)

    def _one(self, sql: str, params: Any = ()):
        return self.conn.execute(sql, params).fetchone()

    # -- users, channels, hosts ---------------------------------------------

    def add_user(self, name: str, password: Optional[str] = None, admin: bool = False) -> int:
        with self._tx():
            cur = self.conn.execute(
                "INSERT INTO users (name, password, usertype, admin) VALUES (?, ?, ?, ?)",
                (name, password, state.USER_NORMAL, int(admin)))
        return int(cur.lastrowid)

    def add_channel(self, name: str, enabled: bool = True) -> int:
        with self._tx():
            cur = self.conn.execute("INSERT INTO channels (name, enabled) VALUES (?, ?)",
                                    (name, int(enabled)))
        return int(cur.lastrowid)

    def _channel_id(self, name: str) -> int:
        row = state.channel_by_name(self.conn, name)
        if row is None:
            raise KeyError(f"no such channel: {name}")
        return row["id"]

    def _user_id(self, name: str) -> int:
        row = self._one("SELECT id FROM users WHERE name = ?", (name,))
        if row is None:
            raise KeyError(f"no such user: {name}")
        return row["id"]

    def _host_row(self, name: str):
        row = self._one("SELECT * FROM hosts WHERE name = ?", (name,))
        if row is None:
            raise KeyError(f"no such host: {name}")
        return row

    def add_host(self, name: str, arches: Iterable[str] = ("x86_64", "noarch"), *,
                 capacity: float = 2.0, channels: Iterable[str] = ("default",),
                 password: Optional[str] = None, enabled: bool = True) -> int:
        """A host and its host user (log in with `password`, or a client certificate
        whose CN is `name`)."""
        arches = koji.parse_arches(" ".join(arches), strict=True)
        with self._tx():
            user = self._one("SELECT id FROM users WHERE name = ?", (name,))
            if user is None:
                cur = self.conn.execute(
                    "INSERT INTO users (name, password, usertype) VALUES (?, ?, ?)",
                    (name, password, state.USER_HOST))
                user_id = int(cur.lastrowid)
            else:
                # (an sslLogin may have created the user; addHost(force) converts it)
                user_id = user["id"]
                self.conn.execute("UPDATE users SET usertype = ?, password = ? WHERE id = ?",
                                  (state.USER_HOST, password, user_id))
            cur = self.conn.execute(
                "INSERT INTO hosts (user_id, name, arches, capacity, enabled) VALUES (?,?,?,?,?)",
                (user_id, name, arches, float(capacity), int(enabled)))
            host_id = int(cur.lastrowid)
            for chan in channels:
                self.conn.execute("INSERT INTO host_channels (host_id, channel_id) VALUES (?, ?)",
                                  (host_id, self._channel_id(chan)))
        return host_id

    def set_host(self, name: str, **fields: Any) -> None:
        """Change a host: arches, capacity, enabled, ready, task_load, data (dict),
        last_update (alias update_ts), description, comment, channels, password."""
        row = self._host_row(name)
        columns = {"arches", "capacity", "enabled", "ready", "task_load", "data",
                   "last_update", "description", "comment"}
        with self._tx():
            for field, raw in fields.items():
                key = "last_update" if field == "update_ts" else field
                if key == "channels":
                    self.conn.execute("DELETE FROM host_channels WHERE host_id = ?", (row["id"],))
                    for chan in raw:
                        self.conn.execute(
                            "INSERT INTO host_channels (host_id, channel_id) VALUES (?, ?)",
                            (row["id"], self._channel_id(chan)))
                elif key == "password":
                    self.conn.execute("UPDATE users SET password = ? WHERE id = ?",
                                      (raw, row["user_id"]))
                elif key in columns:
                    self.conn.execute(f"UPDATE hosts SET {key} = ? WHERE id = ?",
                                      (_host_value(key, raw), row["id"]))
                else:
                    raise KeyError(f"unknown host field: {field}")

    def host(self, name: str) -> dict:
        row = self._host_row(name)
        info = state.host_info(row)
        info["data"] = state.host_data(row)
        info["channels"] = [r["name"] for r in self.conn.execute(
            "SELECT c.name FROM host_channels hc JOIN channels c ON c.id = hc.channel_id"
            " WHERE hc.host_id = ? ORDER BY c.id", (row["id"],))]
        return info

    # -- tasks --------------------------------------------------------------

    def create_task(self, method: str, arglist: Iterable[Any], *, arch: str = "noarch",
                    channel: str = "default", priority: int = koji.PRIO_DEFAULT,
                    weight: float = 1.0, owner: str = state.ADMIN_USER,
                    parent: Optional[int] = None, label: Optional[str] = None) -> int:
        """A FREE task, its request stored as kojihub.make_task stores it
        (xmlrpcplus.dumps(tuple(arglist), methodname=method); keyword arguments
        via koji.encode_args)."""
        arch = koji.parse_arches(arch, strict=True)
        with self._tx():
            return state.insert_task(
                self.conn, method=method, request=state.encode_request(method, list(arglist)),
                owner=self._user_id(owner), channel_id=self._channel_id(channel), arch=arch,
                priority=int(priority), parent=parent, label=label, weight=weight)

    def assign(self, task_id: int, host_name: str, *, force: bool = False,
               override: bool = False) -> bool:
        """The admin's assignTask (kojihub scheduler.do_assign): FREE -> ASSIGNED (any
        state with force), with a scheduler run entry unless override.  Raises if the
        hub would have said False."""
        host = self._host_row(host_name)
        with self._tx():
            if not state.lock_task(self.conn, task_id, host["id"], state.ASSIGNED, force=force):
                state_name = self.task(task_id)["state_name"]
                raise RuntimeError(f"task {task_id} could not be assigned to {host_name}"
                                   f" (state {state_name})")
            self.conn.execute("UPDATE task_runs SET active = 0 WHERE task_id = ? AND active = 1",
                              (task_id,))
            if not override:
                self.conn.execute("INSERT INTO task_runs (task_id, host_id, active, create_ts)"
                                  " VALUES (?, ?, 1, ?)", (task_id, host["id"], time.time()))
        return True

    def free(self, task_id: int) -> bool:
        """The admin's freeTask."""
        with self._tx():
            return state.free_task(self.conn, task_id)

    def cancel(self, task_id: int) -> bool:
        """cancelTask (kojihub Task.cancel): CANCELED with its unfinished children;
        False if the task had already closed or failed."""
        with self._tx():
            return state.cancel_task(self.conn, task_id, recurse=True)

    def set_task(self, task_id: int, **fields: Any) -> None:
        """Set task columns directly (e.g. create_ts to age a task)."""
        allowed = {"state", "host_id", "priority", "weight", "arch", "waiting", "awaited",
                   "create_ts", "start_ts", "completion_ts", "label", "parent", "result"}
        with self._tx():
            for key, value in fields.items():
                if key not in allowed:
                    raise KeyError(f"unknown task field: {key}")
                self.conn.execute(f"UPDATE tasks SET {key} = ? WHERE id = ?", (value, task_id))

    def _task_dict(self, row) -> dict:
        info = state.task_info(row, request=True)
        info["state_name"] = koji.TASK_STATES[row["state"]]
        info["result"] = row["result"]
        return info

    def task(self, task_id: int) -> dict:
        """getTaskInfo(request=True)'s dict, plus state_name and the raw result."""
        row = state.get_task_row(self.conn, task_id)
        if row is None:
            raise KeyError(f"no such task: {task_id}")
        return self._task_dict(row)

    def tasks(self, **where: Any) -> list:
        """All tasks (by id), optionally filtered by column values (state=, parent=...)."""
        sql = "SELECT * FROM tasks"
        if where:
            sql += " WHERE " + " AND ".join(f"{k} = ?" for k in where)
        sql += " ORDER BY id"
        return [self._task_dict(r) for r in self.conn.execute(sql, tuple(where.values()))]

    def decoded_result(self, task_id: int) -> Any:
        """The value a host passed to closeTask, or the xmlrpc Fault it passed to failTask."""
        row = state.get_task_row(self.conn, task_id)
        if row is None or row["result"] is None:
            raise LookupError(f"task {task_id} has no result")
        try:
            result, _ = xmlrpc.client.loads(row["result"])
        except xmlrpc.client.Fault as fault:
            return fault
        return result[0]

    def refusals(self, task_id: Optional[int] = None) -> list:
        sql = ("SELECT r.*, h.name AS host_name FROM refusals r JOIN hosts h ON h.id = r.host_id")
        params: tuple = ()
        if task_id is not None:
            sql += " WHERE r.task_id = ?"
            params = (task_id,)
        return [dict(r) for r in self.conn.execute(sql + " ORDER BY r.id", params)]

    # -- sessions and the call log ------------------------------------------

    def sessions(self, user: Optional[str] = None) -> list:
        sql = "SELECT s.*, u.name AS user_name FROM sessions s JOIN users u ON u.id = s.user_id"
        params: tuple = ()
        if user is not None:
            sql += " WHERE u.name = ?"
            params = (user,)
        return [dict(r) for r in self.conn.execute(sql + " ORDER BY s.id", params)]

    def expire_session(self, session_id: int) -> None:
        """As SessionRenewalTimeout does: the session and its subsessions expire."""
        with self._tx():
            self.conn.execute("UPDATE sessions SET expired = 1 WHERE id = ? OR master = ?",
                              (session_id, session_id))

    def calls(self, method: Optional[str] = None, task_id: Optional[int] = None, *,
              host: Optional[str] = None, session_id: Optional[int] = None,
              ok: Optional[bool] = None) -> list:
        """The call log, oldest first: dicts with ts, session_id, user_id, host_id,
        method, callnum, args (repr), task_ids, ok, fault_code, fault_string, result."""
        clauses, params = [], []
        if method is not None:
            clauses.append("method = ?")
            params.append(method)
        if task_id is not None:
            clauses.append("task_ids LIKE ?")
            params.append(f"%,{int(task_id)},%")
        if host is not None:
            clauses.append("host_id = ?")
            params.append(self._host_row(host)["id"])
        if session_id is not None:
            clauses.append("session_id = ?")
            params.append(session_id)
        if ok is not None:
            clauses.append("ok = ?")
            params.append(int(ok))
        sql = "SELECT * FROM calls"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        rows = []
        for r in self.conn.execute(sql + " ORDER BY id", params):
            row = dict(r)
            row["ok"] = bool(row["ok"])
            row["task_ids"] = [int(x) for x in (row["task_ids"] or "").split(",") if x]
            rows.append(row)
        return rows

    def count_calls(self, method: Optional[str] = None, task_id: Optional[int] = None,
                    **kw: Any) -> int:
        return len(self.calls(method, task_id, **kw))


class HubProcess:
    """`python3 -m tests.hub` as a subprocess (a context manager).

    start() waits for the "listening on ..." line (no sleeping); stop() sends
    SIGTERM; start() again reuses the same port and the same state file.  The
    server's log (one line per call) goes to <db>.log.
    """

    def __init__(self, db: PathLike, topdir: PathLike, *, port: int = 0,
                 tls: Optional[TLSPaths] = None, scheduler: bool = True,
                 run_interval: float = 0.0, session_renewal_timeout: Optional[float] = None,
                 python: str = sys.executable, start_timeout: float = 60.0,
                 log_path: Optional[PathLike] = None):
        self.db = str(db)
        self.topdir = str(topdir)
        self.port = port
        self.tls = tls
        self.scheduler = scheduler
        self.run_interval = run_interval
        self.session_renewal_timeout = session_renewal_timeout
        self.python = python
        self.start_timeout = start_timeout
        self.log_path = str(log_path) if log_path else self.db + ".log"
        self.proc: Optional[subprocess.Popen] = None
        self.url = ""
        self._drain: Optional[threading.Thread] = None

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def topurl(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/kojifiles"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def command(self) -> list:
        cmd = [self.python, "-m", "tests.hub", "--db", self.db, "--topdir", self.topdir,
               "--port", str(self.port), "--run-interval", str(self.run_interval)]
        if self.tls:
            cmd += ["--tls-cert", self.tls.server_cert, "--tls-key", self.tls.server_key,
                    "--client-ca", self.tls.ca]
        if not self.scheduler:
            cmd.append("--no-scheduler")
        if self.session_renewal_timeout is not None:
            cmd += ["--session-renewal-timeout", str(self.session_renewal_timeout)]
        return cmd

    def start(self) -> HubProcess:
        if self.running:
            raise RuntimeError("the hub emulator is already running")
        Path(self.topdir).mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        log = open(self.log_path, "ab")  # noqa: SIM115 (the child keeps it)
        try:
            self.proc = subprocess.Popen(self.command(), cwd=str(REPO), env=env,
                                         stdout=subprocess.PIPE, stderr=log,
                                         stdin=subprocess.DEVNULL)
        finally:
            log.close()
        line = self._read_line(self.start_timeout)
        prefix = "listening on "
        if not line.startswith(prefix):
            self._kill()
            raise RuntimeError(f"the hub emulator did not start ({line!r});"
                               f" see {self.log_path}")
        self.url = line[len(prefix):].strip()
        self.port = int(self.url.rsplit(":", 1)[1].split("/", 1)[0])
        self._drain = threading.Thread(target=self._drain_stdout, daemon=True)
        self._drain.start()
        return self

    def _read_line(self, timeout: float) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        buf = b""
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        try:
            while b"\n" not in buf:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                if not sel.select(remaining):
                    continue
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                buf += chunk
        finally:
            sel.close()
        return buf.split(b"\n", 1)[0].decode(errors="replace")

    def _drain_stdout(self) -> None:
        proc = self.proc
        if proc is None or proc.stdout is None:
            return
        with open(self.log_path, "ab") as log:
            for chunk in iter(lambda: os.read(proc.stdout.fileno(), 4096), b""):
                log.write(chunk)

    def stop(self, timeout: float = 30.0) -> Optional[int]:
        """SIGTERM, and wait; the state file stays.  Returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self._finish()

    def kill(self) -> Optional[int]:
        """SIGKILL (a crash): the state is whatever was committed."""
        return self._kill()

    def _kill(self) -> Optional[int]:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        return self._finish()

    def _finish(self) -> Optional[int]:
        proc, self.proc = self.proc, None
        if self._drain is not None:
            self._drain.join(5)
            self._drain = None
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
        return None if proc is None else proc.returncode

    def __enter__(self) -> HubProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def log(self) -> str:
        try:
            return Path(self.log_path).read_text(errors="replace")
        except FileNotFoundError:
            return ""
