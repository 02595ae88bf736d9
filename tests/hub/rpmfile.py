"""Tiny RPM files written in pure Python, for the emulator's tests on a
machine without rpmbuild (the test host has it; test_emulator_builds uses it).

The layout is the RPM v3 package format that rpm reads (the "Maximum RPM"
appendix and rpm's header.c): a 96-byte lead, a signature header (region
tag 62; SHA1, SHA256 of the header; SIZE and MD5 of header + payload) padded
to 8 bytes, the main header (region tag 63, i18n table, the package's tags
sorted, each aligned to its type), and a gzipped cpio payload with only its
trailer.  It has no files: enough for an import (kojihub.import_rpm reads
the header) and for getChangelogEntries.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Optional, Union

HEADER_MAGIC = b"\x8e\xad\xe8\x01\x00\x00\x00\x00"
LEAD_MAGIC = b"\xed\xab\xee\xdb"
INT32, STRING, BIN, STRING_ARRAY, I18NSTRING = 4, 6, 7, 8, 9
ALIGN = {3: 2, 4: 4, 5: 8}
Value = Union[str, bytes, list]


def _header(entries: Iterable[tuple[int, int, Value]], region_tag: int) -> bytes:
    """One header structure: the region entry first, then the entries sorted
    by tag with their data in the same order, the region trailer last."""
    index, data = [], bytearray()
    for tag, kind, value in sorted(entries):
        data += b"\0" * ((-len(data)) % ALIGN.get(kind, 1))
        offset = len(data)
        if kind == INT32:
            assert isinstance(value, list)
            data += struct.pack(f">{len(value)}I", *value)
            count = len(value)
        elif kind == STRING:
            assert isinstance(value, str)
            data += value.encode() + b"\0"
            count = 1
        elif kind == BIN:
            assert isinstance(value, bytes)
            data += value
            count = len(value)
        else:  # STRING_ARRAY, I18NSTRING
            assert isinstance(value, list)
            for item in value:
                data += item.encode() + b"\0"
            count = len(value)
        index.append((tag, kind, offset, count))
    total = len(index) + 1
    trailer_offset = len(data)
    data += struct.pack(">iIiI", region_tag, BIN, -16 * total, 16)
    index.insert(0, (region_tag, BIN, trailer_offset, 16))
    out = bytearray(HEADER_MAGIC + struct.pack(">II", total, len(data)))
    for tag, kind, offset, count in index:
        out += struct.pack(">iIiI", tag, kind, offset, count)
    return bytes(out + data)


def _payload() -> bytes:
    """A gzipped cpio (newc) archive with only its TRAILER!!! entry."""
    name = b"TRAILER!!!\0"
    fields = [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, len(name), 0]
    entry = b"070701" + b"".join(b"%08X" % f for f in fields) + name
    entry += b"\0" * ((-len(entry)) % 4)
    return gzip.compress(entry, mtime=0)


def write_rpm(directory: Union[str, Path], name: str, version: str, release: str, *,
              epoch: Optional[int] = None, arch: str = "noarch", source: bool = False,
              buildtime: int = 1700000000,
              changelog: Iterable[tuple[int, str, str]] = ()) -> Path:
    """<directory>/<name>-<version>-<release>.<arch|src>.rpm; changelog entries
    are (time, author line, text), newest first as rpmbuild stores them."""
    nvr = f"{name}-{version}-{release}"
    changelog = list(changelog)
    tags: list[tuple[int, int, Value]] = [
        (100, STRING_ARRAY, ["C"]),                       # HEADERI18NTABLE
        (1000, STRING, name), (1001, STRING, version), (1002, STRING, release),
        (1004, I18NSTRING, [f"emulator test package {name}"]),  # SUMMARY
        (1005, I18NSTRING, ["A package without files."]),       # DESCRIPTION
        (1006, INT32, [buildtime]), (1007, STRING, "emulator.example"),
        (1009, INT32, [0]), (1014, STRING, "MIT"), (1016, I18NSTRING, ["Unspecified"]),
        (1021, STRING, "linux"), (1022, STRING, arch), (1064, STRING, "4.16.1"),
        (1124, STRING, "cpio"), (1125, STRING, "gzip"), (1126, STRING, "9"),
    ]
    if epoch is not None:
        tags.append((1003, INT32, [epoch]))
    if changelog:
        tags += [(1080, INT32, [int(t) for t, _, _ in changelog]),
                 (1081, STRING_ARRAY, [a for _, a, _ in changelog]),
                 (1082, STRING_ARRAY, [x for _, _, x in changelog])]
    if source:
        tags.append((1106, INT32, [1]))                   # SOURCEPACKAGE
    else:
        tags.append((1044, STRING, f"{nvr}.src.rpm"))     # SOURCERPM
    header = _header(tags, region_tag=63)
    payload = _payload()
    sig = _header([(269, STRING, hashlib.sha1(header).hexdigest()),
                   (273, STRING, hashlib.sha256(header).hexdigest()),
                   (1000, INT32, [len(header) + len(payload)]),
                   (1004, BIN, hashlib.md5(header + payload).digest())], region_tag=62)
    sig += b"\0" * ((-len(sig)) % 8)
    lead = LEAD_MAGIC + struct.pack(">BBhh66shh16s", 3, 0, 1 if source else 0, 1,
                                    nvr.encode()[:65], 1, 5, b"")
    assert len(lead) == 96
    path = Path(directory) / f"{nvr}.{'src' if source else arch}.rpm"
    path.write_bytes(lead + sig + header + payload)
    return path
