"""The pure parts of the test distribution (tests/integration/testdistro.py): Debian
versions and relations as RPM's, the Depends closure, paths in the image's root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.testdistro import (
    DebPackage,
    closure,
    deb_spec,
    files_line,
    made_specs,
    parse_relations,
    parse_status,
    pick_start,
    requires,
    resolve_parents,
    rpm_arch,
    split_version,
)

STATUS = """\
Package: libc6
Status: install ok installed
Architecture: amd64
Multi-Arch: same
Version: 2.41-12+deb13u5
Depends: libgcc-s1
Description: GNU C Library: Shared libraries
 Contains the standard libraries.

Package: mawk
Status: install ok installed
Architecture: amd64
Version: 1.3.4.20250131-1
Pre-Depends: libc6 (>= 2.38)
Provides: awk
Description: Pattern scanning and text processing language

Package: gawk
Status: deinstall ok config-files
Architecture: amd64
Version: 1:5.2.1-2
Provides: awk
Description: GNU awk

Package: libgcc-s1
Status: install ok installed
Architecture: amd64
Version: 14.2.0-19
Depends: gcc-14-base (= 14.2.0-19), libc6 (>= 2.35)
Description: GCC support library

Package: gcc-14-base
Status: install ok installed
Architecture: amd64
Version: 14.2.0-19
Description: GCC, the GNU Compiler Collection (base package)

Package: tool
Status: install ok installed
Architecture: all
Version: 3
Depends: nawk | awk, libc6:any, gawk | mawk, tool
Description: a tool with 100% coverage
"""


def test_debian_versions_become_epoch_version_release():
    assert split_version("1:2.41-6+b1") == (1, "2.41", "6+b1")
    assert split_version("5.23.2") == (None, "5.23.2", "1")
    assert split_version("1.69~deb13u1") == (None, "1.69~deb13u1", "1")
    # only the last '-' starts the revision; RPM allows none in the version
    assert split_version("1:4.16.0-2+really2.41.5-0+deb13u1") == (1, "4.16.0_2+really2.41.5",
                                                                  "0+deb13u1")
    assert rpm_arch("amd64") == "x86_64" and rpm_arch("all") == "noarch"
    assert rpm_arch("i386") == "i686"  # the i686 half of the distribution
    with pytest.raises(KeyError):
        rpm_arch("arm64")


def test_relations_keep_names_and_alternatives_only():
    assert parse_relations("a (>= 1.0) | b:any, c:amd64 [amd64], d <!nocheck>") == (
        ("a", "b"), ("c",), ("d",))
    assert parse_relations("") == ()


def test_status_has_the_installed_packages_with_both_depends():
    packages = parse_status(STATUS)
    assert sorted(packages) == ["gcc-14-base", "libc6", "libgcc-s1", "mawk", "tool"]
    assert packages["mawk"].depends == (("libc6",),) and packages["mawk"].provides == ("awk",)
    assert packages["libc6"].summary == "GNU C Library: Shared libraries"


def test_the_closure_takes_a_virtual_packages_installed_provider():
    packages = parse_status(STATUS)
    assert pick_start(packages, ["gawk|mawk", "nothing?"]) == ["mawk"]
    with pytest.raises(ValueError, match="none of nothing"):
        pick_start(packages, ["nothing"])
    assert closure(packages, ["tool"]) == ["gcc-14-base", "libc6", "libgcc-s1", "mawk", "tool"]
    assert closure(packages, ["libc6"]) == ["gcc-14-base", "libc6", "libgcc-s1"]
    # awk's provider, once; itself left out; versions and qualifiers gone
    assert requires("tool", packages, closure(packages, ["tool"])) == ["mawk", "libc6"]
    assert requires("libgcc-s1", packages, ["gcc-14-base", "libc6", "libgcc-s1"]) == [
        "gcc-14-base", "libc6"]


def test_a_dependency_nothing_installed_satisfies_is_an_error():
    packages = {"a": DebPackage("a", "1", "all", "a", (("missing",),), ())}
    with pytest.raises(ValueError, match="nothing installed is missing"):
        closure(packages, ["a"])


def test_paths_are_resolved_through_the_roots_own_links(tmp_path: Path):
    (tmp_path / "usr/bin").mkdir(parents=True)
    (tmp_path / "run/lock").mkdir(parents=True)
    (tmp_path / "var").mkdir()
    os.symlink("usr/bin", tmp_path / "bin")
    os.symlink("/run", tmp_path / "var/run")  # absolute: inside the root, not this machine's
    os.symlink("../lock", tmp_path / "run/lock/up")
    assert resolve_parents(tmp_path, "/bin/sh") == "/usr/bin/sh"
    assert resolve_parents(tmp_path, "/bin") == "/bin"  # the link itself
    assert resolve_parents(tmp_path, "/var/run/lock/x") == "/run/lock/x"
    assert resolve_parents(tmp_path, "/run/lock/up/y") == "/run/lock/y"
    assert resolve_parents(tmp_path, "/.") == "/"


def test_files_lines_escape_globs_macros_and_spaces():
    assert files_line("/usr/bin/[", directory=False) == "/usr/bin/\\["
    assert files_line("/usr/share/a b%c", directory=True) == '%dir "/usr/share/a b%%c"'
    with pytest.raises(ValueError):
        files_line('/bad"name', directory=False)


def test_a_debian_packages_spec():
    package = parse_status(STATUS)["tool"]
    spec = deb_spec(package, requires=["mawk", "libc6"], image="IMAGE",
                    entries=[("/usr/share/tool", True), ("/usr/bin/[", False)])
    lines = spec.splitlines()
    assert "Version: 3" in lines and "Release: 1" in lines and "BuildArch: noarch" in lines
    assert "Requires: mawk" in lines and "AutoReq: no" in lines and "AutoProv: yes" in lines
    assert "Summary: a tool with 100%% coverage" in lines
    assert lines[-2:] == ["%dir /usr/share/tool", "/usr/bin/\\["]
    libc6 = deb_spec(parse_status(STATUS)["libc6"], requires=[], entries=[], image="I")
    assert "Provides: rtld(GNU_HASH)" in libc6 and "Requires(pre): filesystem" in libc6
    assert "BuildArch" not in libc6


def test_the_made_packages():
    specs = made_specs()
    assert sorted(specs) == ["adjutant-release", "adjutant-rpm-config", "filesystem", "setup"]
    assert "%dir %attr(0755,mockbuild,mock) /builddir" in specs["filesystem"]
    assert "Requires(pre): setup" in specs["filesystem"]
    assert "mockbuild:x:1000:135::/builddir:/bin/sh" in specs["setup"]
    assert "%%_dbpath /var/lib/rpm" in specs["adjutant-rpm-config"]
