"""The tag's `mock.*` extras that kojid passes to mock (koji's genMockConfig),
read into what adjutant's buildroot does with them.

    mock.package_manager         dnf (default), dnf5 or yum: the installer of the buildroot
    mock.bootstrap_image         the image the buildroot starts from (after the image policy)
    mock.releasever              dnf's $releasever
    mock.yum.module_hotfixes     the tag's repo gets module_hotfixes=1 (EPEL 8 infra tags)
    mock.yum.best                dnf's best= (try the newest candidates only, or not)
    mock.module_setup_commands   [[action, module], ...]: `dnf module <action> <module>`
                                 before the group is installed

Every other `mock.*` key is named once in state.log as not applicable: it
configures mock itself (its chroot, its plugins), which adjutant does not run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from adjutant.errors import AdjutantError

PACKAGE_MANAGERS = ("dnf", "dnf5", "yum")
MODULE_ACTIONS = ("enable", "disable", "install", "reset", "remove")
# a module spec (name:stream[:version][/profile]) or releasever: no shell, no option
SAFE_WORD = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:/+~-]*$")
KNOWN = ("mock.package_manager", "mock.bootstrap_image", "mock.releasever",
         "mock.yum.module_hotfixes", "mock.yum.best", "mock.module_setup_commands")


@dataclass(frozen=True)
class MockOptions:
    package_manager: str = "dnf"
    bootstrap_image: Optional[str] = None
    releasever: Optional[str] = None
    module_hotfixes: bool = False
    best: Optional[bool] = None
    module_setup_commands: tuple[tuple[str, str], ...] = ()
    not_applicable: tuple[str, ...] = field(default=())


def _flag(value: Any) -> bool:
    """koji's tag extras hold booleans as bools, ints or strings."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "yes", "true", "on")
    return bool(value)


def mock_options(extra: Mapping[str, Any], *, tag: str) -> MockOptions:
    def bad(key: str, why: str) -> AdjutantError:
        return AdjutantError(f"tag {tag}: extra {key}={extra[key]!r} {why}")

    manager = str(extra.get("mock.package_manager", "dnf"))
    if manager not in PACKAGE_MANAGERS:
        raise bad("mock.package_manager", f"is not one of {', '.join(PACKAGE_MANAGERS)}")
    releasever = extra.get("mock.releasever")
    if releasever is not None and not SAFE_WORD.match(str(releasever)):
        raise bad("mock.releasever", "is not a release version")
    image = extra.get("mock.bootstrap_image")
    if image is not None and (not isinstance(image, str) or not SAFE_WORD.match(image)):
        raise bad("mock.bootstrap_image", "is not an image reference")
    commands = []
    for item in extra.get("mock.module_setup_commands") or ():
        if not (isinstance(item, (list, tuple)) and len(item) == 2
                and item[0] in MODULE_ACTIONS and SAFE_WORD.match(str(item[1]))):
            raise bad("mock.module_setup_commands", "is not a list of [action, module] "
                      f"(actions: {', '.join(MODULE_ACTIONS)})")
        commands.append((str(item[0]), str(item[1])))
    best = extra.get("mock.yum.best")
    return MockOptions(
        package_manager=manager, bootstrap_image=image,
        releasever=None if releasever is None else str(releasever),
        module_hotfixes=_flag(extra.get("mock.yum.module_hotfixes", False)),
        best=None if best is None else _flag(best),
        module_setup_commands=tuple(commands),
        not_applicable=tuple(sorted(k for k in extra if k.startswith("mock.") and k not in KNOWN)),
    )
