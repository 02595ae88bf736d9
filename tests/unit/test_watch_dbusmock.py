"""UnitEvents (dbus-next) against a mock systemd on a private system bus.

These check the D-Bus logic fast; tests/integration proves it on real systemd.
"""

from __future__ import annotations

import asyncio

from adjutant.runner.properties import task_unit_name
from adjutant.runner.watch import SERVICE_IFACE, UNIT_IFACE, UnitEvents


async def start(events: UnitEvents, name: str) -> str:
    """StartTransientUnit over dbus-next (pystemd is exercised in the test host)."""
    from dbus_next import Message

    bus = events._bus
    reply = await bus.call(Message(
        destination="org.freedesktop.systemd1", path="/org/freedesktop/systemd1",
        interface="org.freedesktop.systemd1.Manager", member="StartTransientUnit",
        signature="ssa(sv)a(sa(sv))", body=[name, "fail", [], []]))
    return reply.body[0]


def test_watch_follows_a_unit_from_start_to_failure(systemd_mock):
    unit = task_unit_name(101)

    async def scenario():
        events = UnitEvents()
        await events.connect()
        watch = events.watch(unit)  # before the start, so no signal is missed
        job = await start(events, unit)
        assert await asyncio.wait_for(events.job_result(job), 5) == "done"
        while watch.active_state != "active":
            watch.changed.clear()
            await asyncio.wait_for(watch.changed.wait(), 5)
        assert watch.invocation_id == "%032x" % (1 + 0xABC0)
        assert not watch.ended

        systemd_mock.FinishUnit(unit, "exit-code", "exited", "3")
        while not watch.ended:
            watch.changed.clear()
            await asyncio.wait_for(watch.changed.wait(), 5)
        assert watch.active_state == "failed"
        service = await events.get_all(unit, SERVICE_IFACE)
        assert service["Result"] == "exit-code" and service["ExecMainStatus"] == 3
        await events.close()

    asyncio.run(scenario())


def test_job_result_arriving_before_the_caller_asks_is_kept(systemd_mock):
    unit = task_unit_name(102)

    async def scenario():
        events = UnitEvents()
        await events.connect()
        events.watch(unit)
        job = await start(events, unit)
        await asyncio.sleep(0)  # let JobRemoved be handled first
        for _ in range(50):
            if job in events._job_results:
                break
            await asyncio.sleep(0.01)
        assert await asyncio.wait_for(events.job_result(job), 5) == "done"
        await events.close()

    asyncio.run(scenario())


def test_removed_unit_and_unknown_unit(systemd_mock):
    unit = task_unit_name(103)

    async def scenario():
        events = UnitEvents()
        await events.connect()
        watch = events.watch(unit)
        await start(events, unit)
        systemd_mock.RemoveUnit(unit)
        while not watch.removed:
            watch.changed.clear()
            await asyncio.wait_for(watch.changed.wait(), 5)
        assert watch.ended
        assert await events.get_all(task_unit_name(999), UNIT_IFACE) is None
        fresh = events.watch(task_unit_name(998))
        await events.refresh(fresh)
        assert fresh.removed
        await events.close()

    asyncio.run(scenario())


def test_signals_of_unwatched_units_are_ignored(systemd_mock):
    async def scenario():
        events = UnitEvents()
        await events.connect()
        watched = events.watch(task_unit_name(104))
        job = await start(events, task_unit_name(105))
        await asyncio.sleep(0.2)
        assert watched.active_state is None
        assert job not in events._job_results
        await events.close()

    asyncio.run(scenario())
