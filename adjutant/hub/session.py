"""The hub client: the only code that talks to the Koji hub.

Built on koji's own `ClientSession` (XML-RPC with koji's marshalling, session
headers, call numbers, retries, fastUpload).  `Hub` wraps one session:

- calls run on worker threads (koji is blocking) and never on the event loop;
- calls on one session are serialized, because the hub requires each
  session's call numbers to increase strictly (a concurrent task needs its
  own subsession, see `Hub.subsession`);
- koji's own retry settings (max_retries, retry_interval, offline_retry,
  offline_retry_interval) come from kojid.conf, as for kojid; a call that
  still fails raises `HubError`, and callers that must not lose a result
  keep it (results.py's Outbox) and try again later;
- the worker's loop calls with `probe` (one try, no retries): each poll is
  a cheap probe of the hub, and when a probe is answered again after an
  outage, every call sleeping in koji's retry loop tries again at once
  (`RetryWaker`), so results and uploads resume within a poll of the hub's
  return instead of up to retry_interval later.  koji's retries themselves
  (same request, same call number, so the hub can refuse a repeat of a call
  that did go through) are untouched, and so is their count.

Login follows kojid: a client certificate if one is configured (or
/etc/kojid/client.crt exists), else user and password, else GSSAPI with a
keytab; then `exclusiveSession` (forced by default, like kojid.service's
--force-lock: the other holder is this host's own crashed daemon).  koji
renews an expired session by itself (`renew_expired_session`).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Optional

from adjutant.config import Config
from adjutant.errors import AdjutantError, ConfigError

log = logging.getLogger(__name__)

DEFAULT_CERT = Path("/etc/kojid/client.crt")
DEFAULT_SERVERCA = Path("/etc/kojid/serverca.crt")
# Calls of all sessions share these threads; a session uses one at a time.
_POOL = ThreadPoolExecutor(max_workers=32, thread_name_prefix="hub")


class RetryWaker:
    """Ends koji's retry sleeps early when the hub answers the worker's probe.

    koji's ClientSession retries a failed call by sleeping `retry_interval`
    (kojid's default 60 s) between tries of the same prepared request.  Its
    sleeps go through `sleep` here (see `install_retry_waker`): a sleep ends
    early when a probe is answered after a probe failed (the daemon saw the
    hub go and come back), and once per call when any probe is answered (an
    outage shorter than a poll).  So a call is woken early at most once per
    outage the daemon saw plus once, and koji's count of tries keeps its
    meaning: the total retry budget is not shortened by more than that.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._answered = 0  # probes answered
        self._outages_ended = 0  # probes answered after a failed one
        self._in_outage = False
        self._local = threading.local()

    def probe_failed(self) -> bool:
        """Returns True if this starts an outage (the first failed probe)."""
        with self._cond:
            started = not self._in_outage
            self._in_outage = True
            return started

    def probe_answered(self) -> bool:
        """Returns True if this ends an outage."""
        with self._cond:
            ended = self._in_outage
            self._in_outage = False
            self._answered += 1
            if ended:
                self._outages_ended += 1
            self._cond.notify_all()
            return ended

    def begin_call(self) -> None:
        self._local.early_wake_left = True

    def sleep(self, seconds: float) -> None:
        with self._cond:
            answered, ended = self._answered, self._outages_ended

            def woken() -> bool:
                if self._outages_ended != ended:
                    return True
                return self._answered != answered and getattr(self._local,
                                                              "early_wake_left", False)

            if self._cond.wait_for(woken, timeout=seconds) and self._outages_ended == ended:
                self._local.early_wake_left = False


WAKER = RetryWaker()


class _KojiTime(types.ModuleType):
    """koji's view of the `time` module: everything as it is, but `sleep`
    (used only by ClientSession's retry loops) is the waker's."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        WAKER.sleep(seconds)


def install_retry_waker() -> None:
    import koji

    if not isinstance(getattr(koji, "time", None), _KojiTime):
        koji.time = _KojiTime("time")


class HubError(AdjutantError):
    """A hub call failed: the hub said no (a fault) or could not be reached."""

    def __init__(self, method: str, cause: BaseException) -> None:
        self.method = method
        self.cause = cause
        self.fault_code: Optional[int] = getattr(cause, "faultCode", None)
        text = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        super().__init__(f"hub call {method} failed: {text}")

    @property
    def unreachable(self) -> bool:
        """The hub was not reached (as opposed to answering with a fault)."""
        import koji

        return not isinstance(self.cause, (koji.GenericError, koji.xmlrpcplus.Fault))


def session_options(config: Config) -> dict[str, Any]:
    """The options koji's ClientSession takes from kojid.conf (no secrets logged)."""
    opts: dict[str, Any] = {
        "max_retries": config.max_retries,
        "retry_interval": config.retry_interval,
        "offline_retry": config.offline_retry,
        "offline_retry_interval": config.offline_retry_interval,
        "use_fast_upload": config.use_fast_upload,
        "no_ssl_verify": config.no_ssl_verify,
    }
    if config.timeout is not None:
        opts["timeout"] = config.timeout
    serverca = config.serverca or (DEFAULT_SERVERCA if DEFAULT_SERVERCA.exists() else None)
    if serverca is not None:
        opts["serverca"] = str(serverca)
    if config.user is not None:
        opts["user"] = config.user
        opts["password"] = config.password or ""
    return opts


def login_method(config: Config) -> str:
    """Which login kojid would use: 'ssl', 'password' or 'gssapi'."""
    cert = config.cert or (DEFAULT_CERT if DEFAULT_CERT.exists() else None)
    if cert is not None:
        return "ssl"
    if config.user is not None:
        return "password"
    return "gssapi"


class Hub:
    """One hub session; its calls are serialized and run off the event loop."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self._lock = threading.Lock()

    # `name` is positional-only: hub calls have keyword arguments called
    # `method` (host.subtask) that must not collide with it.
    def call_blocking(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            WAKER.begin_call()
            try:
                return self.session.callMethod(name, *args, **kwargs)
            except Exception as exc:
                raise HubError(name, exc) from exc

    def probe_blocking(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        """One try of the call, no retries (koji's own `retry=False`, as its
        sslLogin uses); its answer or failure tells the waker about the hub."""
        error: Optional[HubError] = None
        with self._lock:
            try:
                result = self.session._callMethod(name, args, kwargs, retry=False)
            except Exception as exc:
                error = HubError(name, exc)
        if error is not None and error.unreachable:
            if WAKER.probe_failed():
                log.warning("the hub does not answer (%s); probing it every poll", error)
            raise error from error.cause
        # an answer, a fault included: the hub is there
        if WAKER.probe_answered():
            log.info("the hub answers again")
        if error is not None:
            raise error from error.cause
        return result

    async def call(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        """Call `name` ('host.getTasks', 'getTaskInfo', ...) with koji's marshalling."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_POOL, lambda: self.call_blocking(name, *args,
                                                                           **kwargs))

    async def probe(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        """`call` with one try: for the worker's loop, whose next poll is the retry."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_POOL, lambda: self.probe_blocking(name, *args,
                                                                            **kwargs))

    async def subsession(self) -> Hub:
        """A subsession for one task, as kojid makes one per task."""

        def make() -> Any:
            with self._lock:
                try:
                    return self.session.subsession()
                except Exception as exc:
                    raise HubError("subsession", exc) from exc

        sub = await asyncio.get_running_loop().run_in_executor(_POOL, make)
        return Hub(sub)

    @property
    def session_id(self) -> Optional[int]:
        sinfo = getattr(self.session, "sinfo", None) or {}
        return sinfo.get("session-id")

    async def logout_child(self, child: Hub) -> None:
        session_id = child.session_id
        if session_id is not None:
            await self.call("logoutChild", session_id)

    async def upload(self, local: Path, relpath: str, name: Optional[str] = None) -> None:
        """Upload a file to the hub's work/<relpath>/ (fastUpload, checksums verified)."""

        def upload() -> None:
            with self._lock:
                WAKER.begin_call()
                try:
                    self.session.uploadWrapper(str(local), relpath, name=name)
                except Exception as exc:
                    raise HubError(f"upload of {local.name}", exc) from exc

        await asyncio.get_running_loop().run_in_executor(_POOL, upload)


def anonymous(config: Config, *, source: str = "kojid.conf") -> Hub:
    """A session that never logs in: the hub's read calls (getTaskInfo, ...)
    for the commands beside a running daemon."""
    import koji

    if config.server is None:
        raise ConfigError(f"{source}: [kojid] server is required")
    return Hub(koji.ClientSession(config.server, session_options(config)))


def connect(config: Config, *, source: str = "kojid.conf", exclusive: bool = True) -> Hub:
    """Log in as kojid would and take the host's exclusive session (blocking);
    without `exclusive`, only log in (`adjutant check` beside a running daemon)."""
    install_retry_waker()
    session = anonymous(config, source=source).session
    method = login_method(config)
    try:
        if method == "ssl":
            cert = config.cert or DEFAULT_CERT
            session.ssl_login(cert=str(cert), serverca=session_options(config).get("serverca"))
        elif method == "password":
            session.login()
        else:
            principal = config.krb_principal or (config.host_principal_format
                                                 % socket.getfqdn())
            session.gssapi_login(principal=principal, keytab=str(config.keytab),
                                 ccache=str(config.ccache))
    except Exception as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AdjutantError(f"login to {config.server} ({method}) failed: {text}") from exc
    if not session.logged_in:
        raise AdjutantError(f"login to {config.server} ({method}) failed: no session")
    hub = Hub(session)
    if not exclusive:
        return hub
    try:
        hub.call_blocking("exclusiveSession", force=config.force_lock)
    except HubError as exc:
        hint = "" if config.force_lock else " (another adjutant or kojid holds it; force_lock)"
        raise AdjutantError(f"cannot take the host's exclusive session: {exc}{hint}") from exc
    return hub
