"""The RPM macros and environment of a build, as kojid sets them for mock.

From the tag's build config extra: every `rpm.macro.NAME` becomes %NAME
(%dist among them) and every `rpm.env.NAME` an environment variable; from
kojid.conf: %packager, %vendor, %distribution and %_host (<arch>-mockhost).  Built
RPMs are named flatly (%_rpmfilename), as in Koji's result directories.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from adjutant.config import Config
from adjutant.errors import AdjutantError

MACRO_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def build_macros(extra: Mapping[str, Any], config: Config, *, tag: str,
                 target_arch: str) -> dict[str, str]:
    """The build's macros.  %_host is `<target arch>-<mockhost>` and %_host_cpu
    the target arch, as kojid's genMockConfig sets them: autotools' config.sub
    takes x86_64-koji-linux-gnu, and refuses koji-linux-gnu alone."""
    macros = {
        "_host": f"{target_arch}-{config.mockhost}",
        "_host_cpu": target_arch,
        "packager": config.packager,
        "vendor": config.vendor,
        "distribution": config.distribution,
        "_rpmfilename": "%%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm",
    }
    for key, value in sorted(extra.items()):
        if not key.startswith("rpm.macro."):
            continue
        name = key[len("rpm.macro."):]
        if not MACRO_NAME.match(name) or "\n" in str(value):
            raise AdjutantError(f"tag {tag}: extra {key!r} is not a usable RPM macro")
        macros[name] = str(value)
    return macros


def build_environment(extra: Mapping[str, Any], *, tag: str) -> dict[str, str]:
    env = {}
    for key, value in sorted(extra.items()):
        if not key.startswith("rpm.env."):
            continue
        name = key[len("rpm.env."):]
        if not ENV_NAME.match(name) or "\n" in str(value):
            raise AdjutantError(f"tag {tag}: extra {key!r} is not a usable environment variable")
        env[name] = str(value)
    return env


def macros_file(macros: Mapping[str, str]) -> str:
    """The text of /etc/rpm/macros.koji inside the buildroot."""
    return "".join(f"%{name} {value}\n" for name, value in macros.items())
