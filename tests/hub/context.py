"""Per-call context and the server's options (none of them is hub state)."""

from __future__ import annotations

import dataclasses
import sqlite3
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from tests.hub.auth import Session


@dataclasses.dataclass
class HubOptions:
    """Settings of one emulator process (hub.conf equivalents)."""

    db: str
    topdir: str
    # Run the scheduler inside host.getTasks (kojihub/scheduler.py); off: tests
    # assign tasks by hand (HubAdmin.assign).
    scheduler: bool = True
    # scheduler.py RunInterval (hub default 60 s). The emulator defaults to 0 so
    # that a test does not wait a minute for a task to be assigned.
    run_interval: float = 0.0
    # hub.conf defaults, as kojihub/scheduler.py reads them from context.opts
    max_jobs: int = 15
    capacity_overcommit: float = 5.0
    ready_timeout: float = 180.0
    assign_timeout: float = 300.0
    soft_refusal_timeout: float = 900.0
    host_timeout: float = 900.0
    # kojihub/auth.py: SessionRenewalTimeout (minutes; 0 = never)
    session_renewal_timeout: float = 1440.0
    # kojixmlrpc.py: CheckClientIP, MaxRequestLength
    check_client_ip: bool = True
    max_request_length: int = 4194304
    version: str = "1.36.1"


@dataclasses.dataclass
class Environ:
    """What the hub reads from the WSGI environment."""

    remote_addr: str
    path: str
    query: str = ""
    headers: dict = dataclasses.field(default_factory=dict)  # lower-case names
    # mod_ssl's StdEnvVars, set only on /kojihub/ssllogin (kojihub/app/httpd.conf)
    ssl_client_verify: Optional[str] = None
    ssl_client_s_dn_cn: Optional[str] = None
    ssl_client_s_dn: Optional[str] = None
    content_type: str = ""


@dataclasses.dataclass
class Context:
    """koji.context.context for one request."""

    conn: sqlite3.Connection
    opts: HubOptions
    environ: Environ
    method: Optional[str] = None
    session: Optional[Session] = None
    # kojixmlrpc: context.commit_pending - the callnum (and everything the call
    # changed) is committed only when the call itself wrote something.
    dirty: bool = False
    extra: dict = dataclasses.field(default_factory=dict)

    def write(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        """Execute a DML statement (marks the call as changing state)."""
        self.dirty = True
        return self.conn.execute(sql, params)

    def query(self, sql: str, params: Any = ()) -> list:
        return self.conn.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: Any = ()) -> Optional[sqlite3.Row]:
        return self.conn.execute(sql, params).fetchone()
