"""The layers are a fact: each part of the package imports only its own
layer and the layers below it.  From the bottom:

    base      errors, quantities, process, untrusted, imagepolicy, atomic
    runner    systemd, podman, journald: knows nothing of Koji or kojid.conf
    config    the settings table (kojid.conf)
    hub       the Koji hub client
    scm       Koji's SCM URLs; createrepo, its repodata commands
    buildroot the build's containers, scripts and records
    tasks     one handler per Koji method
    worker    kojid's main loop
    top       daemon, cli, check, status, quadlets, prune, shell, cancel, local, notify,
              __main__

(runner sits below config on purpose: it is given a RunnerSettings, never
the kojid.conf table.)  Imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "adjutant"

LAYERS = [
    {"errors", "quantities", "process", "untrusted", "imagepolicy", "atomic"},
    {"runner"},
    {"config"},
    {"hub"},
    {"scm", "createrepo"},
    {"buildroot"},
    {"tasks"},
    {"worker"},
    {"daemon", "cli", "check", "status", "quadlets", "prune", "shell", "cancel", "local",
     "notify", "__main__", "__init__"},
]


def part_of(module: str) -> str:
    """adjutant.buildroot.core -> buildroot; adjutant.errors -> errors."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def level(part: str) -> int:
    for index, layer in enumerate(LAYERS):
        if part in layer:
            return index
    raise AssertionError(f"adjutant.{part} is in no layer of tests/unit/test_layers.py")


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            found.update(n for n in names if n.startswith("adjutant."))
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("adjutant."))
    return found


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    return ".".join(relative.parts)


def test_every_import_goes_down_or_stays_in_its_part():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = part_of(module_name(path))
        for imported in sorted(imports_of(path)):
            there = part_of(imported)
            if there == here:
                continue
            if level(there) > level(here):
                wrong.append(f"{module_name(path)} imports {imported} "
                             f"({here} may import only its layer and those below)")
    assert wrong == []


def test_the_layer_table_names_every_part():
    parts = {part_of(module_name(p)) for p in PACKAGE.rglob("*.py")}
    for part in parts:
        level(part)
