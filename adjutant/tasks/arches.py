"""Which arches a build builds, and on which arch each of its tasks runs:
kojid's BuildTask.getArchList and choose_taskarch, as pure functions.

    build_arches(...)   the buildArch subtasks of a build: the tag's arches
                        (and the package's extra_arches), narrowed by the
                        SRPM's BuildArch, ExclusiveArch and ExcludeArch, or a
                        scratch build's arch_override; kept if the tag builds
                        them (noarch always)
    task_arch(...)      the `arch` of a subtask, which the hub's scheduler
                        matches against hosts: the canonical arch, and for
                        noarch a concrete one when the package or the tag
                        (noarch_arches) narrows where it may build
"""

from __future__ import annotations

import fnmatch
import random
from collections.abc import Sequence
from typing import Callable, Optional

from adjutant.errors import AdjutantError


class ArchError(AdjutantError):
    """No arch is left to build; the message is kojid's."""


def canon(arch: str) -> str:
    import koji

    return str(koji.canonArch(arch))


def build_arches(*, tag_arches: str, tag: str, build_arch: Sequence[str],
                 exclusive_arch: Sequence[str], exclude_arch: Sequence[str],
                 extra_arches: Optional[str] = None, arch_override: Optional[str] = None,
                 scratch: bool = False) -> list[str]:
    """kojid's getArchList: the arches to build, in order, each once.  The
    SRPM's lists are compared as written (as kojid does); only the last check,
    against the tag, is by canonical arch."""
    if not tag_arches.split():
        raise ArchError(f"No arches for tag {tag}")
    tag_list = [canon(a) for a in tag_arches.split()]
    arches = f"{tag_arches} {extra_arches}" if extra_arches else tag_arches
    wanted = arches.split()
    if build_arch:
        wanted = list(build_arch)
    if exclusive_arch:
        wanted = [a for a in wanted if a in exclusive_arch]
    if exclude_arch:
        wanted = [a for a in wanted if a not in exclude_arch]
    if "noarch" not in exclude_arch and ("noarch" in build_arch or "noarch" in exclusive_arch):
        wanted.append("noarch")
    if scratch and arch_override:
        wanted = arch_override.split()
    result = list(dict.fromkeys(a for a in wanted if a == "noarch" or canon(a) in tag_list))
    if not result:
        raise ArchError("No matching arches were found")
    return result


def task_arch(arch: str, *, tag_arches: str, literal_task_arches: str = "",
              noarch_arches: Optional[str] = None, exclusive_arch: Sequence[str] = (),
              exclude_arch: Sequence[str] = (),
              choose: Callable[[list[str]], str] = random.choice) -> str:
    """kojid's choose_taskarch: the subtask's arch for building `arch`."""
    if any(fnmatch.fnmatch(arch, pattern) for pattern in literal_task_arches.split()):
        return arch
    if arch != "noarch":
        return canon(arch)
    if not (exclusive_arch or exclude_arch or noarch_arches):
        return "noarch"
    tag_list = [canon(a) for a in tag_arches.split()]
    exclusive = [canon(a) for a in exclusive_arch]
    exclude = [canon(a) for a in exclude_arch]
    if noarch_arches:
        candidates = [a for a in (canon(a) for a in noarch_arches.split()) if a in tag_list]
    else:
        candidates = list(tag_list)
    if exclusive:
        candidates = [a for a in candidates if a in exclusive]
    if exclude:
        candidates = [a for a in candidates if a not in exclude]
    if not candidates:
        # kojid's words (its missing space after "extra" included)
        raise ArchError(f"No valid arches were found. tag {tag_list!r}, extra {noarch_arches!r},"
                        f"exclusive {exclusive!r}, exclude {exclude!r}")
    if set(candidates) != set(tag_list):
        return choose(candidates)
    return "noarch"
