"""Which arch a buildroot is, and which it runs as: the buildroot arch of a
task (for noarch, kojid's find_arch) and the 32-bit personality of a 32-bit
build on its 64-bit host (as mock's setarch)."""

from __future__ import annotations

import os
from typing import Optional


def repo_arch(arch: str, tag_arches: list[str]) -> str:
    """The buildroot arch: the task's arch, or for noarch this host's arch if the
    tag has it (kojid's find_arch), else the tag's first arch."""
    if arch != "noarch":
        return arch
    import koji

    here = koji.canonArch(os.uname().machine)
    if here in tag_arches or not tag_arches:
        return here
    return tag_arches[0]


# 32-bit arches built on their 64-bit hosts run with the 32-bit personality, so
# uname -m (and configure scripts) see the target, as mock's setarch does.
PERSONALITY_32 = {"x86_64": "i386", "aarch64": "arm", "ppc64": "ppc", "s390x": "s390"}


def personality_for(target_arch: str, host_arch: str) -> Optional[str]:
    """podman's --personality for building `target_arch` on `host_arch`."""
    import koji

    family = koji.canonArch(target_arch)
    if family == "armhfp":  # armv7hl and friends
        family = "arm"
    host = koji.canonArch(host_arch)
    return "LINUX32" if PERSONALITY_32.get(host) == family else None
