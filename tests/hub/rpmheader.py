"""RPM header fields as the hub reads them (koji.get_header_fields, which
kojihub's import_rpm and getChangelogEntries use).

With rpm's python bindings (the test host, a real hub) this is koji's own
function.  Without them (a machine without rpm) the fields the emulator needs
are read with koji.RawHeader, koji's pure-Python header parser, and given as
rpm's bindings give them: a scalar tag as one value (None if absent), an
array tag as a list ([] if absent), SIGMD5 as bytes from the signature header.
A field the fallback does not know fails loudly.
"""

from __future__ import annotations

from typing import Any

import koji

# rpmtag.h numbers of the fields the emulator reads
SCALAR_TAGS = {"name": 1000, "version": 1001, "release": 1002, "epoch": 1003,
               "buildtime": 1006, "size": 1009, "arch": 1022, "sourcerpm": 1044,
               "sourcepackage": 1106}
ARRAY_TAGS = {"changelogtime": 1080, "changelogname": 1081, "changelogtext": 1082}


def have_rpm() -> bool:
    try:
        import rpm  # noqa: F401
    except ImportError:
        return False
    return True


def header_fields(path: str, fields: list) -> dict:
    """koji.get_header_fields(path, fields)."""
    if have_rpm():
        return koji.get_header_fields(path, fields)
    return raw_header_fields(path, fields)


def raw_header_fields(path: str, fields: list) -> dict:
    """The fields from koji.RawHeader (main header; sigmd5 from the signature
    header), shaped as rpm's bindings give them."""
    hdr = koji.RawHeader(koji.rip_rpm_hdr(path), decode=True)
    result: dict[str, Any] = {}
    for field in fields:
        key = field.lower()
        if key == "sigmd5":
            sighdr = koji.RawHeader(koji.rip_rpm_sighdr(path))
            result[field] = sighdr.get(koji.RPM_SIGTAG_MD5)
        elif key in SCALAR_TAGS:
            result[field] = hdr.get(SCALAR_TAGS[key], decode=True, single=True)
        elif key in ARRAY_TAGS:
            result[field] = hdr.get(ARRAY_TAGS[key], [], decode=True)
        else:
            raise koji.GenericError(f"emulator: header field {field} needs rpm's python"
                                    " bindings")
    return result
