"""write_atomically: the old text or the new, never half; the mode exactly."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from adjutant.atomic import write_atomically


def test_it_replaces_the_file_with_exactly_its_mode(tmp_path: Path):
    target = tmp_path / "container.env"
    target.write_text("old\n")
    old_umask = os.umask(0o077)
    try:
        write_atomically(target, "new\n", mode=0o640, sync=True)
    finally:
        os.umask(old_umask)
    assert target.read_text() == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["container.env"]


def test_a_failed_write_leaves_the_old_text_and_no_temporary(tmp_path: Path):
    target = tmp_path / "memo.json"
    target.write_text("{}")
    with pytest.raises(TypeError):
        write_atomically(target, None)  # type: ignore[arg-type]
    assert target.read_text() == "{}"
    assert [p.name for p in tmp_path.iterdir()] == ["memo.json"]


def test_a_link_planted_at_the_temporary_name_is_not_followed(tmp_path: Path):
    secret = tmp_path / "secret"
    secret.write_text("keep")
    (tmp_path / ".x.json.tmp").symlink_to(secret)
    with pytest.raises(OSError):
        write_atomically(tmp_path / "x.json", "data")
    assert secret.read_text() == "keep"
