"""The emulator's test fixtures most of its test modules share: a hub with
its scheduler off (the test assigns tasks) and a HubAdmin on its database.
test_emulator.py and test_emulator_builds.py define their own."""

from __future__ import annotations

import pytest

from tests.hub.admin import HubAdmin, HubProcess


@pytest.fixture
def hub(tmp_path):
    with HubProcess(tmp_path / "hub.db", tmp_path / "koji", scheduler=False) as proc:
        yield proc


@pytest.fixture
def admin(hub):
    with HubAdmin(hub.db) as a:
        yield a
