"""Real RPMs and a real Koji-style repo for the build tests, made with rpmbuild
and createrepo_c in the test host.

The test packages have `AutoReqProv: no`: they are built by the test host's
rpmbuild (Debian's), whose automatic requirements need not match what the
test distribution (testdistro.py) provides.
"""

from __future__ import annotations

import subprocess
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional


@dataclass(frozen=True)
class Package:
    name: str
    version: str = "1.0"
    release: str = "1"
    arch: str = "noarch"  # BuildArch; "" for the build host's arch
    summary: str = "an adjutant test package"
    requires: Sequence[str] = ()
    build_requires: Sequence[str] = ()
    exclusive_arch: Sequence[str] = ()
    prep: str = ""
    build: str = ""
    install: str = ("mkdir -p %{buildroot}/usr/share/%{name}\n"
                    "echo %{name} > %{buildroot}/usr/share/%{name}/README")
    files: str = "/usr/share/%{name}"
    extra: str = ""  # more preamble or sections (subpackages, %generate_buildrequires)
    payload_kib: int = 0  # a file of this size, for packages with real weight

    def spec(self) -> str:
        lines = [
            f"Name: {self.name}", f"Version: {self.version}", f"Release: {self.release}%{{?dist}}",
            f"Summary: {self.summary}", "License: MIT", "AutoReqProv: no",
        ]
        if self.arch:
            lines.append(f"BuildArch: {self.arch}")
        lines += [f"Requires: {r}" for r in self.requires]
        lines += [f"BuildRequires: {r}" for r in self.build_requires]
        if self.exclusive_arch:
            lines.append(f"ExclusiveArch: {' '.join(self.exclusive_arch)}")
        install = self.install
        if self.payload_kib:
            install += (f"\nhead -c {self.payload_kib * 1024} /dev/urandom > "
                        "%{buildroot}/usr/share/%{name}/payload.bin")
        body = "\n".join([
            "%description", self.summary, "",
            "%prep", self.prep, "",
            "%build", self.build, "",
            "%install", install, "",
            "%files", self.files, "",
        ])
        return "\n".join(lines) + "\n" + self.extra + "\n" + body


def rpmbuild(spec_text: str, workdir: Path, *, binary: bool = True,
             defines: Optional[dict[str, str]] = None) -> list[Path]:
    """Build a spec with the test host's rpmbuild; returns the RPMs (SRPM included)."""
    topdir = workdir / "rpmbuild"
    for sub in ("SPECS", "SOURCES", "BUILD", "RPMS", "SRPMS"):
        (topdir / sub).mkdir(parents=True, exist_ok=True)
    name = spec_text.split("Name:", 1)[1].split(maxsplit=1)[0]
    spec = topdir / "SPECS" / f"{name}.spec"
    spec.write_text(spec_text)
    argv = ["rpmbuild", "-ba" if binary else "-bs", "--define", f"_topdir {topdir}",
            "--define", "debug_package %{nil}", "--nodeps"]
    for key, value in (defines or {}).items():
        argv += ["--define", f"{key} {value}"]
    result = subprocess.run([*argv, str(spec)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise AssertionError(f"rpmbuild of {name} failed:\n{result.stdout}\n{result.stderr}")
    made = sorted((topdir / "RPMS").rglob(f"{name}*.rpm")) + sorted(
        (topdir / "SRPMS").glob(f"{name}-*.src.rpm"))
    return made


def comps_xml(groups: dict[str, Sequence[str]]) -> str:
    parts = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<!DOCTYPE comps PUBLIC "-//Red Hat, Inc.//DTD Comps info//EN" "comps.dtd">',
             "<comps>"]
    for group, packages in groups.items():
        parts += [f"  <group><id>{group}</id><name>{group}</name><default>false</default>",
                  "    <uservisible>false</uservisible>", "    <packagelist>"]
        parts += [f'      <packagereq type="mandatory">{p}</packagereq>' for p in packages]
        parts += ["    </packagelist>", "  </group>"]
    parts.append("</comps>")
    return "\n".join(parts) + "\n"


@dataclass
class TestPackages:
    """The packages of the test tag, built once per session."""

    rpms: list[Path] = field(default_factory=list)  # binary RPMs for the repo
    repo_srpms: list[Path] = field(default_factory=list)  # their sources (the hub wants them)
    srpms: dict[str, Path] = field(default_factory=dict)  # name -> SRPM to build


LIBGREET = Package(
    name="libgreet", arch="",
    install=("mkdir -p %{buildroot}/usr/share/libgreet %{buildroot}/usr/include\n"
             "echo libgreet > %{buildroot}/usr/share/libgreet/README\n"
             "printf '%s\\n' '#define GREETING \"hello from libgreet\"' "
             "> %{buildroot}/usr/include/greet.h"),
    files="/usr/share/libgreet",
    extra=textwrap.dedent("""
        %package devel
        Summary: headers of libgreet
        Requires: libgreet = %{version}-%{release}
        %description devel
        headers of libgreet
        %files devel
        /usr/include/greet.h
        """),
)

GREETER = Package(
    name="greeter", arch="", build_requires=("libgreet-devel",),
    build=("printf '#include <greet.h>\\n#include <stdio.h>\\n"
           "int main(void){puts(GREETING);return 0;}\\n' > greeter.c\n"
           "gcc -o greeter greeter.c"),
    install="mkdir -p %{buildroot}/usr/bin\ninstall -m755 greeter %{buildroot}/usr/bin/greeter",
    files="/usr/bin/greeter",
)

HELLO_NOARCH = Package(name="hello-docs", build_requires=("libgreet-devel >= 1.0",))
NEEDS_MISSING = Package(name="needs-missing", build_requires=("libnope-devel",))
BROKEN_BUILD = Package(name="broken-build",
                       build="echo 'compiling the broken part'\necho 'error: it broke' >&2\nexit 1")
WANTS_NETWORK = Package(
    name="wants-network",
    build="bash -c 'exec 3<>/dev/tcp/1.1.1.1/80' && echo 'connected to the network'",
)
ONLY_AARCH64 = Package(name="only-aarch64", arch="", exclusive_arch=("aarch64",))
DYNAMIC_BR = Package(
    name="dynamic-br",
    extra="%generate_buildrequires\necho libgreet-devel\n",
    build="test -f /usr/include/greet.h",
)


def build_test_packages(workdir: Path) -> TestPackages:
    packages = TestPackages()
    for package in (LIBGREET,):
        made = rpmbuild(package.spec(), workdir)
        packages.rpms += [p for p in made if not p.name.endswith(".src.rpm")]
        packages.repo_srpms += [p for p in made if p.name.endswith(".src.rpm")]
    for package in (GREETER, HELLO_NOARCH, NEEDS_MISSING, BROKEN_BUILD, WANTS_NETWORK,
                    ONLY_AARCH64, DYNAMIC_BR):
        [srpm] = rpmbuild(package.spec(), workdir, binary=False)
        packages.srpms[package.name] = srpm
    corrupt = workdir / "corrupt-1.0-1.src.rpm"
    corrupt.write_bytes(b"\xed\xab\xee\xdb" + b"this is not an rpm" * 10)
    packages.srpms["corrupt"] = corrupt
    return packages


def createrepo(repo_arch_dir: Path, groups: dict[str, Sequence[str]]) -> None:
    comps = repo_arch_dir.parent / "groups" / "comps.xml"
    comps.parent.mkdir(parents=True, exist_ok=True)
    comps.write_text(comps_xml(groups))
    subprocess.run(["createrepo_c", "--quiet", "--no-database", "-g", str(comps),
                    str(repo_arch_dir)], check=True)


AUTOTOOLS = {
    "configure.ac": ("AC_INIT([hello-auto], [1.0])\nAC_CONFIG_AUX_DIR([build-aux])\n"
                     "AC_CANONICAL_HOST\nAM_INIT_AUTOMAKE([foreign])\nAC_PROG_CC\n"
                     "AC_CONFIG_FILES([Makefile])\nAC_OUTPUT\n"),
    "Makefile.am": "bin_PROGRAMS = hello-auto\nhello_auto_SOURCES = hello.c\n",
    "hello.c": ('#include <stdio.h>\nint main(void) { puts("hello from autotools"); '
                "return 0; }\n"),
}
HELLO_AUTO = Package(
    name="hello-auto", arch="",
    extra="Source0: hello-auto-1.0.tar.gz\n",
    prep="%setup -q",
    # %configure passes --host=%{_host}: config.sub must take it
    build='%configure\necho "CONFIGURED FOR $(grep -m1 "^host=" config.log)"\n%make_build',
    install="%make_install",
    files="/usr/bin/hello-auto",
)


def autotools_srpm(workdir: Path) -> Path:
    """The SRPM of a real autotools package: configure made here by
    autoreconf (the test host has autoconf and automake; the buildroot needs
    neither), config.sub and config.guess from automake."""
    source = workdir / "autotools" / "hello-auto-1.0"
    source.mkdir(parents=True, exist_ok=True)
    for name, text in AUTOTOOLS.items():
        (source / name).write_text(text)
    made = subprocess.run(["autoreconf", "-i"], cwd=source, capture_output=True, text=True,
                          check=False)
    if made.returncode != 0:
        raise AssertionError(f"autoreconf failed:\n{made.stdout}\n{made.stderr}")
    sources = workdir / "rpmbuild" / "SOURCES"
    sources.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-C", str(source.parent), "-czf", str(sources / "hello-auto-1.0.tar.gz"),
                    source.name], check=True)
    [srpm] = rpmbuild(HELLO_AUTO.spec(), workdir, binary=False)
    return srpm
