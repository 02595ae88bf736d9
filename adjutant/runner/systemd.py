"""Commands to systemd's manager through pystemd: start, stop, kill, reset,
list.  pystemd is blocking and one sd-bus connection is not thread-safe, so
`SystemdManager` runs every call on its one worker thread and offers them as
coroutines.

pystemd sends a property only if its own table knows the property's D-Bus
signature (its table lacks LogExtraFields, LogRateLimitIntervalUSec, IOWeight
and others, depending on the version); our properties carry their signatures
(properties.py), so they are registered in that table once, here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from adjutant.errors import RunnerError
from adjutant.runner.properties import Property

T = TypeVar("T")

NO_SUCH_UNIT = "org.freedesktop.systemd1.NoSuchUnit"
UNIT_EXISTS = "org.freedesktop.systemd1.UnitExists"


class SystemdCallError(RunnerError):
    def __init__(self, what: str, name: str, message: str) -> None:
        self.name = name
        super().__init__(f"systemd refused to {what}: {message or name}")


@dataclass(frozen=True)
class ListedUnit:
    name: str
    active_state: str
    sub_state: str


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _encode(value: Any) -> Any:
    """Strings as bytes, recursively: what pystemd's marshalling expects."""
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_encode(v) for v in value)
    return value


class SystemdManager:
    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pystemd")
        self._bus: Any = None
        self._manager: Any = None

    # ---- on the worker thread -----------------------------------------------

    def _connect(self) -> Any:
        if self._manager is None:
            from pystemd.dbuslib import DBus
            from pystemd.systemd1 import Manager

            self._bus = DBus()
            self._bus.open()
            self._manager = Manager(bus=self._bus)
            self._manager.load()
        return self._manager.Manager

    def _call(self, what: str, function: Callable[[Any], T]) -> T:
        from pystemd.dbusexc import DBusBaseError

        try:
            return function(self._connect())
        except DBusBaseError as exc:
            name = _text(getattr(exc, "err_name", b"") or b"")
            message = _text(getattr(exc, "err_message", b"") or b"")
            raise SystemdCallError(what, name, message) from exc

    def _start_transient(self, unit: str, properties: Sequence[Property]) -> str:
        from pystemd.systemd1 import unit_signatures

        props: dict[bytes, Any] = {}
        for name, signature, value in properties:
            key = name.encode()
            unit_signatures.KNOWN_UNIT_SIGNATURES.setdefault(key, signature.encode())
            props[key] = _encode(value)
        job = self._call(f"start {unit}",
                         lambda m: m.StartTransientUnit(unit.encode(), b"fail", props))
        return _text(job)

    # ---- coroutines ---------------------------------------------------------

    async def _run(self, function: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function)

    async def start_transient(self, unit: str, properties: Sequence[Property]) -> str:
        """Start `unit`; returns the start job's object path."""
        return await self._run(lambda: self._start_transient(unit, properties))

    async def stop(self, unit: str) -> None:
        name = unit.encode()
        await self._run(lambda: self._call(f"stop {unit}", lambda m: m.StopUnit(name, b"replace")))

    async def kill(self, unit: str, signal_number: int) -> None:
        """Send a signal to every process of the unit."""
        name = unit.encode()
        def kill(manager: Any) -> None:
            manager.KillUnit(name, b"all", signal_number)

        await self._run(lambda: self._call(f"kill {unit}", kill))

    async def reset_failed(self, unit: str) -> None:
        name = unit.encode()
        await self._run(lambda: self._call(f"reset {unit}", lambda m: m.ResetFailedUnit(name)))

    async def forget(self, unit: str) -> None:
        """Let systemd unload a finished unit: reset it if it failed, and drop
        our reference (AddRef), ignoring either if there is nothing to drop."""
        name = unit.encode()

        def forget() -> None:
            for what, call in (("reset", lambda m: m.ResetFailedUnit(name)),
                               ("unreference", lambda m: m.UnrefUnit(name))):
                # not failed, not loaded, or referenced by an earlier run: fine
                with contextlib.suppress(SystemdCallError):
                    self._call(f"{what} {unit}", call)

        await self._run(forget)

    async def list_units(self, pattern: str) -> list[ListedUnit]:
        def listing() -> list[ListedUnit]:
            rows = self._call("list units",
                              lambda m: m.ListUnitsByPatterns([], [pattern.encode()]))
            return [ListedUnit(_text(r[0]), _text(r[3]), _text(r[4])) for r in rows]

        return await self._run(listing)

    async def close(self) -> None:
        def closing() -> None:
            if self._bus is not None:
                self._bus.close()
            self._bus = self._manager = None

        await self._run(closing)
        self._executor.shutdown(wait=True)


def is_error(exc: BaseException, name: str) -> bool:
    return isinstance(exc, SystemdCallError) and exc.name == name
