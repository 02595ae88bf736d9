"""Sizes and durations as people write them in configuration, and back."""

from __future__ import annotations

import re

_SIZE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_size(text: str) -> int:
    """'512M' -> 536870912.  Units are powers of 1024, as in systemd (K, M, G, T)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not match:
        raise ValueError(f"{text!r} is not a size (examples: 4096, 512M, 8G)")
    number, unit = match.groups()
    return int(float(number) * _SIZE_UNITS[unit.upper()])


def parse_duration(text: str) -> float:
    """'90' or '90s' -> 90.0, '2h' -> 7200.0 (seconds)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d)?\s*", text)
    if not match:
        raise ValueError(f"{text!r} is not a duration (examples: 90, 90s, 30min, 2h, 1d)")
    number, unit = match.groups()
    return float(number) * _DURATION_UNITS[unit or ""]


def format_size(size: int) -> str:
    """536870912 -> '512 MiB' (for messages people read)."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" or value >= 100 else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError  # pragma: no cover
