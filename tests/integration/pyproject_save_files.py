"""Fedora's %pyproject_save_files, for tests/integration/fedora-compat.macros:
write the %files lines of a package's modules and dist-info as installed.

    pyproject_save_files.py BUILDROOT PACKAGE OUTPUT
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(buildroot: str, package: str, output: str) -> None:
    root = Path(buildroot)
    [installed] = [p for p in root.rglob(package) if p.is_dir() and p.parent.name.endswith(
        "-packages")]
    sitelib = installed.parent
    lines = [f"/{installed.relative_to(root)}/"]
    lines += [f"/{p.relative_to(root)}/" for p in sorted(sitelib.glob(f"{package}-*.dist-info"))]
    Path(output).write_text("".join(line + "\n" for line in lines))


if __name__ == "__main__":
    main(*sys.argv[1:4])
