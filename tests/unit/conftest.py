"""Fixtures for the unit tests: a private system bus with a mock systemd."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import require

TEMPLATE = str(Path(__file__).resolve().parents[1] / "templates" / "systemd_min.py")


@pytest.fixture(scope="module")
def system_bus():
    try:
        import dbusmock  # noqa: F401
    except ImportError:
        require(False, "python-dbusmock is not installed")
    require(shutil.which("dbus-daemon") is not None, "dbus-daemon is not installed")
    from dbusmock import DBusTestCase

    saved = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS")
    DBusTestCase.start_system_bus()
    yield
    DBusTestCase.tearDownClass()  # stops the buses it started
    if saved is None:
        os.environ.pop("DBUS_SYSTEM_BUS_ADDRESS", None)
    else:
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = saved


@pytest.fixture
def systemd_mock(system_bus):
    import dbus
    import dbusmock
    from dbusmock import DBusTestCase

    server, obj = DBusTestCase.spawn_server_template(TEMPLATE, {}, stdout=None)
    yield dbus.Interface(obj, dbusmock.MOCK_IFACE)
    server.terminate()
    server.wait()
