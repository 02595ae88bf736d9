"""Every setting the docs describe is read by code (or says it is not used)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from adjutant.config import NOT_YET, UNUSED, Config

PACKAGE = Path(__file__).resolve().parents[2] / "adjutant"


def code_that_reads_settings() -> str:
    """The package, less the settings table itself (config.py's functions after
    the table, which hand settings to the runner, count)."""
    config_py = (PACKAGE / "config.py").read_text()
    return "\n".join([config_py[config_py.index("def runner_settings"):],
                      *(p.read_text() for p in sorted(PACKAGE.rglob("*.py"))
                        if p.name != "config.py")])


def test_every_documented_setting_is_read_somewhere():
    code = code_that_reads_settings()
    unread = []
    for field in dataclasses.fields(Config):
        doc = field.metadata.get("doc", "")
        if doc in (UNUSED, NOT_YET) or "not used" in doc or "ignored" in doc:
            continue
        if not re.search(rf"\.{field.name}\b", code):
            unread.append(field.name)
    assert unread == [], f"documented but read by no code: {unread}"


def test_settings_marked_unused_are_really_unread():
    """A setting marked unused that code reads has a wrong doc."""
    code = "\n".join(p.read_text() for p in sorted(PACKAGE.rglob("*.py"))
                     if p.name != "config.py")
    for field in dataclasses.fields(Config):
        if field.metadata.get("doc") in (UNUSED, NOT_YET):
            assert not re.search(rf"config\.{field.name}\b", code), field.name
