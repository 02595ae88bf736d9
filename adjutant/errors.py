"""Errors adjutant shows to people.

An `AdjutantError`'s message is one line that names what went wrong and where
(a config key, a task id, a unit, a command), ready for a log line, a hub fault
or a terminal; the command line prints it without a traceback.
"""

from __future__ import annotations


class AdjutantError(Exception):
    """An error whose message is meant for the person running adjutant."""


class ConfigError(AdjutantError):
    """A configuration file, key or value is wrong."""


class RunnerError(AdjutantError):
    """systemd refused or lost a task unit."""
