"""What a source RPM says about its build, read from its header with the rpm
module (never by running rpm or rpmbuild on the host)."""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from adjutant.errors import AdjutantError


class SourceRPMError(AdjutantError):
    pass


@dataclass(frozen=True)
class SourceRPM:
    path: Path
    name: str
    version: str
    release: str
    epoch: Optional[int]
    build_requires: tuple[str, ...]  # as dnf takes them: "libfoo-devel >= 1.2"
    exclusive_arch: tuple[str, ...]
    exclude_arch: tuple[str, ...]
    build_arch: tuple[str, ...] = ()  # BuildArch: (noarch)

    @property
    def nvr(self) -> str:
        return f"{self.name}-{self.version}-{self.release}"


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _dependency(name: str, flags: int, version: str) -> str:
    import rpm

    if not version:
        return name
    op = ""
    if flags & rpm.RPMSENSE_LESS:
        op += "<"
    if flags & rpm.RPMSENSE_GREATER:
        op += ">"
    if flags & rpm.RPMSENSE_EQUAL:
        op += "="
    return f"{name} {op} {version}" if op else name


def read_srpm(path: Path) -> SourceRPM:
    """The header of `path`; SourceRPMError if it is not a readable source RPM."""
    import rpm

    ts = rpm.TransactionSet()
    # Koji checks signatures elsewhere; here the header is only read.
    ts.setVSFlags(rpm._RPMVSF_NOSIGNATURES | rpm._RPMVSF_NODIGESTS)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise SourceRPMError(f"{path.name}: cannot open: {exc.strerror}") from None
    try:
        header = ts.hdrFromFdno(fd)
    except rpm.error as exc:
        raise SourceRPMError(f"{path.name} is not a valid RPM: {exc}") from None
    finally:
        os.close(fd)
    if not header[rpm.RPMTAG_SOURCEPACKAGE]:
        raise SourceRPMError(f"{path.name} is not a source RPM")
    requires = []
    names = header[rpm.RPMTAG_REQUIRENAME] or []
    flags = header[rpm.RPMTAG_REQUIREFLAGS] or []
    versions = header[rpm.RPMTAG_REQUIREVERSION] or []
    for raw_name, flag, version in zip(names, flags, versions):
        name = _text(raw_name)
        if name.startswith("rpmlib("):
            continue  # features of rpm itself, not packages
        requires.append(_dependency(name, flag, _text(version)))
    epoch = header[rpm.RPMTAG_EPOCH]
    return SourceRPM(
        path=path, name=_text(header[rpm.RPMTAG_NAME]), version=_text(header[rpm.RPMTAG_VERSION]),
        release=_text(header[rpm.RPMTAG_RELEASE]), epoch=None if epoch is None else int(epoch),
        build_requires=tuple(dict.fromkeys(requires)),
        exclusive_arch=tuple(_text(a) for a in header[rpm.RPMTAG_EXCLUSIVEARCH] or []),
        exclude_arch=tuple(_text(a) for a in header[rpm.RPMTAG_EXCLUDEARCH] or []),
        build_arch=tuple(_text(a) for a in header[rpm.RPMTAG_BUILDARCHS] or []),
    )


def arch_refusal(srpm: SourceRPM, arch: str) -> Optional[str]:
    """Why `srpm` does not build on `arch`, or None if it does."""
    if arch == "noarch":
        return None
    if srpm.exclusive_arch and not any(fnmatch.fnmatchcase(arch, a) or a == "noarch"
                                       for a in srpm.exclusive_arch):
        return (f"{srpm.nvr} does not build on {arch} "
                f"(ExclusiveArch: {' '.join(srpm.exclusive_arch)})")
    if any(fnmatch.fnmatchcase(arch, a) for a in srpm.exclude_arch):
        return f"{srpm.nvr} does not build on {arch} (ExcludeArch: {' '.join(srpm.exclude_arch)})"
    return None


def read_srpm_for(path: Path, arch: str) -> SourceRPM:
    """The header of `path`, an SRPM that builds on `arch` (buildArch's
    checks); SourceRPMError naming why not."""
    srpm = read_srpm(path)
    refusal = arch_refusal(srpm, arch)
    if refusal:
        raise SourceRPMError(refusal)
    return srpm
