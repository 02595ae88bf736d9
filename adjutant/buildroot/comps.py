"""The packages of a comps group (the tag's `build` or `srpm-build` group).

adjutant reads the group from the repo's comps.xml itself and hands dnf the
package names, instead of `dnf install @build`: group handling differs
between dnf 4 and dnf 5, and dnf's comps library crashes on every group in
some distributions (Debian 13's libcomps, seen in the test host's image).
The result is the same set mock installs: mandatory and default packages.
"""

from __future__ import annotations

from pathlib import Path

from adjutant.errors import AdjutantError

try:  # the hub's data, but parse it without entity expansion all the same
    from defusedxml import ElementTree
except ImportError:  # pragma: no cover - defusedxml comes with koji
    from xml.etree import ElementTree


class CompsError(AdjutantError):
    pass


# Koji keeps a repo's groups at <repo>/groups/comps.xml (kojid's createrepo)
COMPS = "groups/comps.xml"


def group_packages(comps: Path, group: str) -> tuple[str, ...]:
    try:
        root = ElementTree.parse(comps).getroot()
    except (OSError, ElementTree.ParseError) as exc:
        raise CompsError(f"cannot read the groups of the repo ({comps}): {exc}") from None
    for element in root.findall("group"):
        if (element.findtext("id") or "").strip() != group:
            continue
        names = []
        for request in element.iter("packagereq"):
            kind = request.get("type", "mandatory")
            name = (request.text or "").strip()
            if kind in ("mandatory", "default") and name and name not in names:
                names.append(name)
        if not names:
            raise CompsError(f"group {group} of the repo lists no packages ({comps})")
        return tuple(names)
    raise CompsError(f"the repo has no group {group} ({comps})")
