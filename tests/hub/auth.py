"""Sessions, logins and exclusive sessions, after kojihub/auth.py (Session).

Every rule cites kojihub/auth.py (koji 1.34-1.36) or the reference
(/work/shared/reference/koji-builder-protocol.md, "1. Protocol").
"""

from __future__ import annotations

import secrets
import string
from typing import Optional

import koji

from tests.hub import state
from tests.hub.context import Context

# kojihub/auth.py RetryWhitelist: a repeated callnum is allowed (the call runs
# again) only for these methods; reference §1 Transport.
RETRY_WHITELIST = (
    "host.taskWait",
    "host.taskUnwait",
    "host.taskSetWait",
    "host.updateHost",
    "host.setBuildRootState",
    "repoExpire",
    "repoDelete",
    "repoProblem",
)

# kojihub/auth.py AUTH_METHODS: an expired session may still call these
AUTH_METHODS = ("login", "sslLogin")

# kojixmlrpc.check_session: a session locked out by another exclusive session
# may still call these
LOCK_EXEMPT = ("exclusiveSession", "login", "logout")


class Session:
    """kojihub/auth.py Session, loaded from the request headers."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.logged_in = False
        self.id: Optional[int] = None
        self.key: Optional[str] = None
        self.master: Optional[int] = None
        self.user_id: Optional[int] = None
        self.authtype: Optional[int] = None
        self.hostip: Optional[str] = None
        self.exclusive = False
        self.lockerror: Optional[str] = None
        self.callnum: Optional[int] = None
        self.session_data: dict = {}
        self.user_data: dict = {}
        self.message = ""

    # -- loading (auth.py Session.__init__) ----------------------------------

    def load(self) -> None:
        ctx = self.ctx
        headers = ctx.environ.headers
        if "koji-session-id" not in headers:
            # auth.py also accepts session-id/session-key in the query string
            # unless DisableURLSessions; koji >= 1.30 clients never send them
            # (sinfo['header-auth'] is True), so the emulator does not either.
            self.message = "no Koji-Session-* headers"
            return
        self.id = int(headers["koji-session-id"])
        self.key = headers["koji-session-key"]
        callnum = self._header_callnum()
        hostip = self.remote_ip()
        row = ctx.query_one(
            "SELECT * FROM sessions WHERE id = ? AND key = ? AND hostip = ? AND closed = 0",
            (self.id, self.key, hostip))
        if row is None:
            raise koji.AuthError("Invalid session or bad credentials")
        expired = self._check_expiry(row)
        self._check_callnum(row, callnum)
        if expired:
            return
        user = ctx.query_one("SELECT * FROM users WHERE id = ?", (row["user_id"],))
        if user["status"] != koji.USER_STATUS["NORMAL"]:
            raise koji.AuthError("logins by {} are not allowed".format(user["name"]))
        self._check_exclusive(row)
        ctx.conn.execute("UPDATE sessions SET update_ts = ? WHERE id = ?", (state.now(), self.id))
        self.hostip = hostip
        self.callnum = callnum
        self.user_id = row["user_id"]
        self.authtype = row["authtype"]
        self.master = row["master"]
        self.session_data = {
            "authtype": row["authtype"],
            "callnum": row["callnum"],
            "exclusive": True if row["exclusive"] else None,
            "expired": bool(row["expired"]),
            "master": row["master"],
            "start_time": state.ts_to_str(row["start_ts"]),
            "start_ts": row["start_ts"],
            "update_time": state.ts_to_str(row["update_ts"]),
            "update_ts": row["update_ts"],
            "renew_time": state.ts_to_str(row["renew_ts"]),
            "renew_ts": row["renew_ts"],
            "user_id": row["user_id"],
        }
        self.user_data = {"name": user["name"], "status": user["status"],
                          "usertype": user["usertype"]}
        self.logged_in = True

    def _header_callnum(self) -> Optional[int]:
        """The callnum of the request.

        The 1.36 client sends Koji-Session-Callnum (koji/__init__.py _prepCall,
        _prepUpload).  kojihub/auth.py as read reads HTTP_KOJI_CALLNUM (header
        Koji-Callnum), so such a hub never checks the callnum; later hubs do
        (koji's tests/test_hub/test_client_session.py expects SequenceError and
        RetryError through ClientSession).  The emulator enforces it, reading
        either header: it must not be more lenient than any hub in the range.
        """
        headers = self.ctx.environ.headers
        raw = headers.get("koji-session-callnum", headers.get("koji-callnum"))
        if raw is None:
            return None
        try:
            return int(raw)
        except (ValueError, TypeError):
            raise koji.AuthError(f"Invalid callnum: {raw!r}") from None

    def _check_expiry(self, row) -> bool:
        """auth.py: SessionRenewalTimeout expires the session and its subsessions
        (committed even if the call then fails); an expired session may only log
        in again (AUTH_METHODS, the client's renew=True)."""
        ctx = self.ctx
        expired = bool(row["expired"])
        timeout = ctx.opts.session_renewal_timeout
        if not expired and timeout and state.now() > (
                (row["renew_ts"] or row["start_ts"]) + timeout * 60):
            expired = True
            ctx.conn.execute("UPDATE sessions SET expired = 1 WHERE id = ? OR master = ?",
                             (self.id, self.id))
            ctx.extra["commit_now"] = True
        if expired and ctx.method not in AUTH_METHODS:
            raise koji.AuthExpired(f'session "{self.id}" has expired')
        return expired

    def _check_callnum(self, row, callnum: Optional[int]) -> None:
        """auth.py: a lower callnum is a SequenceError; the same one a RetryError
        unless the method is in RetryWhitelist (reference §1 Transport).  The
        stored callnum means an earlier attempt committed changes."""
        lastcall = row["callnum"]
        if callnum is None or lastcall is None:
            return
        if lastcall > callnum:
            raise koji.SequenceError(f"{lastcall} > {callnum} (session {self.id})")
        if lastcall == callnum and self.ctx.method not in RETRY_WHITELIST:
            raise koji.RetryError(f"unable to retry call {callnum} (method {self.ctx.method})"
                                  f" for session {self.id}")

    def _check_exclusive(self, row) -> None:
        """auth.py: exclusive if this session (or its master) holds the user's lock;
        locked out if another session does (enforced by validate())."""
        if row["exclusive"]:
            self.exclusive = True
            return
        excl = self.ctx.query_one(
            "SELECT id FROM sessions WHERE user_id = ? AND exclusive = 1 AND closed = 0",
            (row["user_id"],))
        if excl is None:
            return
        if excl["id"] == row["master"]:
            self.exclusive = True
        else:
            self.lockerror = "User locked by another session"

    def validate(self) -> None:
        """kojixmlrpc.check_session: Session.validate unless the method is exempt."""
        if self.lockerror and self.ctx.method not in LOCK_EXEMPT:
            raise koji.AuthLockError(self.lockerror)

    def remote_ip(self, override: Optional[str] = None) -> str:
        """auth.py get_remote_ip: CheckClientIP ties a session to its login IP."""
        if not self.ctx.opts.check_client_ip:
            return "-"
        if override is not None:
            return override
        return self.ctx.environ.remote_addr

    # -- lookups --------------------------------------------------------------

    @property
    def host_id(self) -> Optional[int]:
        if self.user_id is None:
            return None
        row = self.ctx.query_one("SELECT id FROM hosts WHERE user_id = ?", (self.user_id,))
        return None if row is None else row["id"]

    def has_perm(self, name: str) -> bool:
        """auth.py Session.hasPerm: the user holds that permission (admin does not
        imply the others here; assert_perm lets admin through)."""
        if not self.logged_in:
            return False
        return name in state.user_perms(self.ctx.conn, self.user_id)

    def assert_perm(self, name: str) -> None:
        """auth.py Session.assertPerm: the permission, or admin."""
        if not self.has_perm(name) and not self.has_perm("admin"):
            msg = f"{name} permission required"
            if self.logged_in:
                row = self.ctx.query_one("SELECT name FROM users WHERE id = ?", (self.user_id,))
                msg += " (logged in as {})".format(row["name"])
            else:
                msg += " (user not logged in)"
            raise koji.ActionNotAllowed(msg)

    def assert_login(self) -> None:
        if not self.logged_in:
            raise koji.ActionNotAllowed("you must be logged in for this operation")

    # -- auth calls -----------------------------------------------------------

    def _check_login_allowed(self, user_id: int) -> None:
        row = self.ctx.query_one("SELECT name, status FROM users WHERE id = ?", (user_id,))
        if row is None:
            raise koji.AuthError(f"invalid user_id: {user_id}")
        if row["status"] != koji.USER_STATUS["NORMAL"]:
            raise koji.AuthError("logins by {} are not allowed".format(row["name"]))

    def login(self, user, password, opts=None, renew=False, exclusive=False):
        """auth.py Session.login (plain user/password)."""
        if opts is None:
            opts = {}
        if not isinstance(password, str) or len(password) == 0:
            raise koji.AuthError("invalid username or password")
        if self.logged_in:
            raise koji.AuthError("Already logged in")
        hostip = self.remote_ip(override=opts.get("hostip"))
        row = self.ctx.query_one("SELECT id FROM users WHERE name = ? AND password = ?",
                                 (user, password))
        if row is None:
            raise koji.AuthError("invalid username or password")
        self._check_login_allowed(row["id"])
        sinfo = self._create_session(row["id"], hostip, koji.AUTHTYPES["NORMAL"], renew=renew)
        if sinfo and exclusive and not self.exclusive:
            self._make_exclusive(row["id"], sinfo["session-id"])
        return sinfo

    def ssl_login(self, proxyuser=None, proxyauthtype=None, renew=False, exclusive=None):
        """auth.py Session.sslLogin with a client certificate (no GSSAPI here)."""
        if self.logged_in:
            raise koji.AuthError("Already logged in")
        env = self.ctx.environ
        if env.ssl_client_verify != "SUCCESS":
            raise koji.AuthError(f"could not verify client: {env.ssl_client_verify}")
        username = env.ssl_client_s_dn_cn  # DNUsernameComponent = CN
        if not username:
            raise koji.AuthError(
                "unable to get user information (CN) from client certificate")
        if proxyuser:
            # ProxyDNs is empty in the emulator: nobody may log in as someone else
            raise koji.AuthError(f"{env.ssl_client_s_dn} is not authorized to login other users")
        row = self.ctx.query_one("SELECT id FROM users WHERE name = ?", (username,))
        if row is None:
            # LoginCreatesUser (hub default True) makes an ordinary user, not a host
            cur = self.ctx.write("INSERT INTO users (name, usertype) VALUES (?, ?)",
                                 (username, state.USER_NORMAL))
            user_id = int(cur.lastrowid)
        else:
            user_id = row["id"]
        self._check_login_allowed(user_id)
        sinfo = self._create_session(user_id, self.remote_ip(), koji.AUTHTYPES["SSL"],
                                     renew=renew)
        if sinfo and exclusive and not self.exclusive:
            self._make_exclusive(user_id, sinfo["session-id"])
        return sinfo

    def _create_session(self, user_id, hostip, authtype, master=None, renew=False):
        """auth.py createSession; renew re-keys the (expired) session of the headers."""
        alnum = string.ascii_letters + string.digits
        key = "{}-{}".format(user_id, "".join(secrets.choice(alnum) for _ in range(19)))
        ts = state.now()
        if renew and self.id is not None:
            row = self.ctx.query_one("SELECT master FROM sessions WHERE id = ?", (self.id,))
            if row is not None and row["master"] is not None:
                master_row = self.ctx.query_one(
                    "SELECT id FROM sessions WHERE id = ? AND closed = 0", (row["master"],))
                if master_row is None:
                    return None
            # The client starts counting calls from 0 again after a renewal
            # (ClientSession.setSession), so the stored callnum is forgotten here;
            # auth.py createSession leaves it, which only works because that hub
            # does not see the client's callnum header (see _header_callnum).
            self.ctx.write("UPDATE sessions SET key = ?, expired = 0, update_ts = ?, renew_ts = ?,"
                           " callnum = NULL WHERE id = ?", (key, ts, ts, self.id))
            session_id = self.id
        else:
            cur = self.ctx.write(
                "INSERT INTO sessions (key, user_id, hostip, authtype, master, start_ts,"
                " update_ts) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key, user_id, hostip, authtype, master, ts, ts))
            session_id = int(cur.lastrowid)
        return {"session-id": session_id, "session-key": key, "header-auth": True}

    def _make_exclusive(self, user_id, session_id, force=False):
        """auth.py makeExclusive, for session_id of user_id."""
        excl = self.ctx.query_one(
            "SELECT id FROM sessions WHERE user_id = ? AND closed = 0 AND exclusive = 1"
            " AND id != ?", (user_id, session_id))
        if excl is not None:
            if force:
                # close the previous exclusive session
                self.ctx.write("UPDATE sessions SET expired = 1, exclusive = NULL, closed = 1"
                               " WHERE id = ?", (excl["id"],))
            else:
                raise koji.AuthLockError("Cannot get exclusive session")
        self.ctx.write("UPDATE sessions SET exclusive = 1 WHERE id = ?", (session_id,))

    def make_exclusive(self, force=False):
        """The exclusiveSession call."""
        # auth.py makeExclusive does not check the login (it would update no row);
        # the emulator refuses instead
        if not self.logged_in:
            raise koji.AuthError("Not logged in")
        if self.master is not None:
            raise koji.GenericError("subsessions cannot become exclusive")
        if self.exclusive:
            raise koji.GenericError("session is already exclusive")
        self._make_exclusive(self.user_id, self.id, force=bool(force))
        self.exclusive = True

    def make_shared(self):
        """The sharedSession call (auth.py makeShared)."""
        if not self.logged_in:
            raise koji.AuthError("Not logged in")
        self.ctx.write("UPDATE sessions SET exclusive = NULL WHERE id = ?", (self.id,))

    def logout(self, session_id=None):
        """auth.py logout: closes the session and its subsessions."""
        if not self.logged_in:
            raise koji.AuthError("Not logged in")
        if session_id:
            if not self.has_perm("admin"):
                row = self.ctx.query_one("SELECT id FROM sessions WHERE user_id = ? AND id = ?",
                                         (self.user_id, session_id))
                if row is None:
                    raise koji.ActionNotAllowed("only admins or owner may logout other session")
            ses_id = session_id
        else:
            ses_id = self.id
        self.ctx.write("UPDATE sessions SET expired = 1, exclusive = NULL, closed = 1"
                       " WHERE id = ? OR master = ?", (ses_id, ses_id))
        if not session_id:
            self.logged_in = False

    def logout_child(self, session_id):
        """auth.py logoutChild: only a subsession of this session."""
        if not self.logged_in:
            raise koji.AuthError("Not logged in")
        self.ctx.write("UPDATE sessions SET expired = 1, exclusive = NULL, closed = 1"
                       " WHERE id = ? AND master = ?", (session_id, self.id))

    def subsession(self):
        """auth.py subsession: same user, master = this session's master or itself."""
        if not self.logged_in:
            raise koji.AuthError("Not logged in")
        master = self.master if self.master is not None else self.id
        return self._create_session(self.user_id, self.hostip, self.authtype, master=master)
