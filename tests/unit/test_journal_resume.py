"""A restarted journal copier finds the entry its cursor names, wherever
seek_cursor lands (systemd 255-257 with interleaved files may land on a
neighbour, or deny that the entry is the current one)."""

from __future__ import annotations

from typing import Optional

import pytest

from adjutant.runner.journal import place_on_written


class FakeReader:
    """Entries named by their cursors; seek_cursor lands `landing_shift`
    entries away from the named one (or on the closest later one when the
    entry is gone); test_cursor may deny what it sees."""

    def __init__(self, cursors: list[str], *, landing_shift: int = 0,
                 test_cursor_works: bool = True) -> None:
        self.cursors = cursors
        self.landing_shift = landing_shift
        self.test_cursor_works = test_cursor_works
        self.pos = -1

    def seek_cursor(self, cursor: str) -> None:
        if cursor in self.cursors:
            target = self.cursors.index(cursor) + self.landing_shift
        else:  # gone: the closest later entry, as sd_journal_seek_cursor
            target = sum(1 for c in self.cursors if c < cursor)
        self.pos = max(target, 0) - 1  # the next _next() lands on it

    def _next(self) -> bool:
        if self.pos + 1 >= len(self.cursors):
            return False
        self.pos += 1
        return True

    def _previous(self) -> bool:
        if self.pos <= 0:
            return False
        self.pos -= 1
        return True

    def _get_cursor(self) -> str:
        return self.cursors[self.pos]

    def test_cursor(self, cursor: str) -> bool:
        return self.test_cursor_works and self.cursors[self.pos] == cursor

    def following(self) -> Optional[str]:
        return self._get_cursor() if self._next() else None


CURSORS = [f"entry-{n:04d}" for n in range(1, 11)]


@pytest.mark.parametrize(("shift", "works"), [
    (0, True),    # seek_cursor as documented
    (1, True),    # landed on the entry after
    (-1, True),   # landed on the entry before
    (2, True),
    (0, False),   # on the entry, and test_cursor says it is not (systemd issue 31516)
    (1, False),
])
def test_the_copy_goes_on_right_after_the_written_entry(shift: int, works: bool):
    reader = FakeReader(CURSORS, landing_shift=shift, test_cursor_works=works)
    assert place_on_written(reader, "entry-0006") is True
    assert reader._get_cursor() == "entry-0006"
    assert reader.following() == "entry-0007"


def test_a_vacuumed_entry_goes_on_from_the_closest_later_one():
    reader = FakeReader([c for c in CURSORS if c != "entry-0006"])
    assert place_on_written(reader, "entry-0006") is False
    assert reader.following() == "entry-0007"


def test_the_last_written_entry_being_the_last_one_copies_nothing_more():
    reader = FakeReader(CURSORS, landing_shift=0)
    assert place_on_written(reader, "entry-0010") is True
    assert reader.following() is None
