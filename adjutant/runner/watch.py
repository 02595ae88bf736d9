"""Following task units' state over D-Bus, with dbus-next on asyncio.

One connection to the system bus: match rules for systemd's Manager signals
(JobRemoved, UnitRemoved) and for PropertiesChanged under systemd's unit
object paths, then `Subscribe`, without which systemd sends no unit signals.
Each watched unit gets a `UnitWatch` whose state the signals update and whose
`changed` event wakes whoever waits on it.  Nothing here polls; the runner
re-reads a unit's state with `refresh()` only as a safety net (a lost
connection, a missed signal) at long intervals.

If the bus connection drops, it is re-established and re-subscribed (systemd
tracks subscriptions per connection), and every watch is woken so that its
owner re-reads the state it may have missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any, Optional

from dbus_next import BusType, Message, MessageType
from dbus_next.aio import MessageBus

from adjutant.errors import RunnerError
from adjutant.runner.properties import unit_object_path

log = logging.getLogger(__name__)

SYSTEMD = "org.freedesktop.systemd1"
MANAGER_PATH = "/org/freedesktop/systemd1"
MANAGER_IFACE = "org.freedesktop.systemd1.Manager"
UNIT_IFACE = "org.freedesktop.systemd1.Unit"
SERVICE_IFACE = "org.freedesktop.systemd1.Service"
PROPERTIES_IFACE = "org.freedesktop.DBus.Properties"
UNKNOWN_OBJECT_ERRORS = (
    "org.freedesktop.DBus.Error.UnknownObject",
    # what a bus peer without that object path at all may answer to GetAll
    "org.freedesktop.DBus.Error.UnknownMethod",
    "org.freedesktop.systemd1.NoSuchUnit",
    "org.freedesktop.DBus.Error.UnknownInterface",
)
MATCH_RULES = (
    f"type='signal',sender='{SYSTEMD}',interface='{MANAGER_IFACE}'",
    f"type='signal',sender='{SYSTEMD}',interface='{PROPERTIES_IFACE}',"
    f"member='PropertiesChanged',path_namespace='{MANAGER_PATH}/unit'",
)
RECONNECT_DELAY_SECONDS = 1.0
TERMINAL_STATES = ("inactive", "failed")


@dataclass
class UnitWatch:
    """What the signals have said about one unit so far."""

    unit: str
    path: str
    active_state: Optional[str] = None
    sub_state: Optional[str] = None
    invocation_id: Optional[str] = None
    removed: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def ended(self) -> bool:
        return self.removed or self.active_state in TERMINAL_STATES

    def update(self, props: dict[str, Any]) -> None:
        if "ActiveState" in props:
            self.active_state = props["ActiveState"]
            self.removed = False
        if "SubState" in props:
            self.sub_state = props["SubState"]
        invocation = props.get("InvocationID")
        if invocation:
            self.invocation_id = bytes(invocation).hex()
        self.changed.set()


def _unwrap(values: dict[str, Any]) -> dict[str, Any]:
    return {k: getattr(v, "value", v) for k, v in values.items()}


class UnitEvents:
    def __init__(self) -> None:
        self._bus: Optional[MessageBus] = None
        self._watches: dict[str, UnitWatch] = {}  # by object path
        self._job_results: dict[str, str] = {}  # job path -> result, for watched units
        self._job_waiters: dict[str, asyncio.Future[str]] = {}
        self._closing = False
        self._supervisor: Optional[asyncio.Task[None]] = None

    async def connect(self) -> None:
        self._bus = await self._open()
        self._supervisor = asyncio.ensure_future(self._stay_connected())

    async def _open(self) -> MessageBus:
        bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
        bus.add_message_handler(self._on_message)
        for rule in MATCH_RULES:
            await self._call(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                             "org.freedesktop.DBus", member="AddMatch", signature="s",
                             body=[rule])
        await self._call(bus, SYSTEMD, MANAGER_PATH, MANAGER_IFACE, member="Subscribe",
                         signature="", body=[])
        return bus

    async def _stay_connected(self) -> None:
        while not self._closing:
            assert self._bus is not None
            await self._bus.wait_for_disconnect()
            if self._closing:
                return
            log.warning("lost the system bus connection; reconnecting")
            while not self._closing:
                try:
                    self._bus = await self._open()
                    break
                except (OSError, RunnerError) as exc:
                    log.warning("cannot reach the system bus yet: %s", exc)
                    await asyncio.sleep(RECONNECT_DELAY_SECONDS)
            for watch in self._watches.values():
                watch.changed.set()  # owners re-read what they may have missed

    async def close(self) -> None:
        self._closing = True
        if self._bus is not None:
            self._bus.disconnect()
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor

    @staticmethod
    async def _call(bus: MessageBus, destination: str, path: str, interface: str, *,
                    member: str, signature: str, body: list[Any]) -> Message:
        reply = await bus.call(Message(destination=destination, path=path, interface=interface,
                                       member=member, signature=signature, body=body))
        assert reply is not None
        if reply.message_type == MessageType.ERROR:
            detail = reply.body[0] if reply.body else ""
            raise DBusCallError(reply.error_name or "", f"{member} on {path}: {detail}")
        return reply

    # ---- signals ------------------------------------------------------------

    def _on_message(self, message: Message) -> None:
        # Return None: a true value would stop dbus-next's other handlers.
        if message.message_type != MessageType.SIGNAL:
            return
        if message.interface == PROPERTIES_IFACE and message.member == "PropertiesChanged":
            watch = self._watches.get(message.path or "")
            if watch is not None and message.body[0] in (UNIT_IFACE, SERVICE_IFACE):
                watch.update(_unwrap(message.body[1]))
        elif message.interface == MANAGER_IFACE and message.member == "JobRemoved":
            _, job, unit, result = message.body
            if unit_object_path(unit) in self._watches:
                waiter = self._job_waiters.pop(job, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(result)
                else:
                    self._job_results[job] = result
        elif message.interface == MANAGER_IFACE and message.member == "UnitRemoved":
            watch = self._watches.get(message.body[1])
            if watch is not None:
                watch.removed = True
                watch.changed.set()

    # ---- for the runner -----------------------------------------------------

    def watch(self, unit: str) -> UnitWatch:
        """Start collecting signals about `unit` (before starting it, to miss none)."""
        path = unit_object_path(unit)
        watch = self._watches.get(path)
        if watch is None:
            watch = self._watches[path] = UnitWatch(unit=unit, path=path)
        return watch

    def unwatch(self, unit: str) -> None:
        self._watches.pop(unit_object_path(unit), None)

    async def job_result(self, job: str) -> str:
        """The result of a job (done, failed, canceled, ...) once it is removed."""
        if job in self._job_results:
            return self._job_results.pop(job)
        waiter = self._job_waiters[job] = asyncio.get_running_loop().create_future()
        return await waiter

    async def get_all(self, unit: str, interface: str) -> Optional[dict[str, Any]]:
        """All properties of `unit` on `interface`; None when systemd has no such unit."""
        assert self._bus is not None
        try:
            reply = await self._call(self._bus, SYSTEMD, unit_object_path(unit), PROPERTIES_IFACE,
                                     member="GetAll", signature="s", body=[interface])
        except DBusCallError as exc:
            if exc.name in UNKNOWN_OBJECT_ERRORS:
                return None
            raise
        return _unwrap(reply.body[0])

    async def refresh(self, watch: UnitWatch) -> None:
        """Re-read a watched unit's state (the safety net, not the main path)."""
        props = await self.get_all(watch.unit, UNIT_IFACE)
        if props is None or props.get("LoadState") == "not-found":
            watch.removed = True
            watch.changed.set()
        else:
            watch.update(props)


class DBusCallError(RunnerError):
    def __init__(self, name: str, message: str) -> None:
        self.name = name
        super().__init__(f"D-Bus call failed: {message} ({name})")
