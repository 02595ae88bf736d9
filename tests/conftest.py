"""Shared test helpers.

Tests that need something this machine may lack (a D-Bus daemon, the test
host) skip with a reason on a developer's machine, and fail in CI, where
everything they need is installed (.ci/run): a skipped proof is no proof.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def require(condition: bool, reason: str) -> None:
    """Skip (outside CI) or fail (in CI) when `condition` is false."""
    if condition:
        return
    if in_ci():
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)
