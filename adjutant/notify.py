"""Telling systemd how the daemon is: readiness, status line, watchdog.

sd_notify through systemd-python when the daemon runs under systemd
(Type=notify sets $NOTIFY_SOCKET); a no-op otherwise, so the daemon also runs
in a terminal.
"""

from __future__ import annotations

import os
from typing import Optional


def notify(*lines: str) -> None:
    if not os.environ.get("NOTIFY_SOCKET"):
        return
    from systemd import daemon

    daemon.notify("\n".join(lines))


def watchdog_interval() -> Optional[float]:
    """Seconds between watchdog pings (half of WatchdogSec=), or None if off."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 1e6 / 2
