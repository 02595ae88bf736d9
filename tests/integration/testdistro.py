"""A small RPM distribution with real binaries, for the integration tests.

The buildroot image is Debian with rpm and dnf.  Every Debian package of a
build environment's Depends closure among the image's installed packages is
repackaged as an RPM of the same name, with the files dpkg installed (as they
are in the image) and its Depends and Pre-Depends as Requires.  Four packages
are made here: `setup` (passwd and group, with mock's build user),
`filesystem` (the top directories, the build user's /builddir, the merged-/usr
links), `adjutant-rpm-config` (rpm macros) and `adjutant-release`
(os-release).  With it a test makes an EMPTY buildroot the way adjutant's
bootstrap does (`dnf --installroot` of the build group's packages, by name:
Debian 13's libcomps crashes dnf on `@group`), and runs rpmbuild there as the
build user with the root as the container's filesystem (podman --rootfs).

    test_distro()                               build (or reuse) the distribution
    python3 -m tests.integration.testdistro --check
                                                and check it end to end (test host)

The distribution is built in one container of the image, which sees the
image's own root read-only at /img (podman's image mount: the files as the
image has them, not a running container's /proc, /dev or /etc/hosts), runs
this same file with `python3 -` and writes the RPMs to a bound directory.  It
is cached per image id and per text of this file.

Only the standard library is imported at the top: the file also runs inside
the image.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

IMAGE = "localhost/adjutant-buildroot:trixie"
# The distribution's arches and the image each is made from: the i686 half from the
# same Debian's i386 root (tests/host/testhost builds both images), in a container
# with the 32-bit personality, so that rpm sees an i686 machine.
IMAGES = {"x86_64": IMAGE, "i686": "localhost/adjutant-buildroot-i386:trixie"}
DEFAULT_CACHE = Path("/var/lib/containers/adjutant-testdistro")
MANIFEST = "distro.json"
# Every mtime in the packages is clamped to this (2025-01-01), and it is their build time.
SOURCE_DATE_EPOCH = 1735689600
WORKERS = 2  # the test machine has two cores
BUILD_USER = ("mockbuild", 1000, "mock", 135)  # mock's build user and group

# The build environment: these and their Depends closure.  The awk is whichever
# of gawk and mawk is installed; libc-bin brings ldconfig, ldd and getconf (in
# glibc on Fedora); debugedit is taken when installed (find-debuginfo).
START = (
    "bash", "dash", "coreutils", "sed", "grep", "gawk|mawk", "tar", "gzip", "xz-utils",
    "bzip2", "findutils", "diffutils", "patch", "make", "gcc", "binutils", "libc6-dev",
    "libc-bin", "rpm", "rpm-common", "debugedit?", "cpio", "file", "util-linux",
    "debianutils", "base-files", "base-passwd",
)
# Enough for `rpmbuild -bs`.  Debian's bash is not /bin/sh: dash is.
SRPM_START = (
    "bash", "dash", "coreutils", "rpm", "sed", "grep", "gawk|mawk", "tar", "gzip", "xz-utils",
    "bzip2", "cpio", "findutils", "diffutils",
)
# The packages made here in the groups; and `setup`, which filesystem requires (pre), so
# that it is installed first and /builddir gets its owner (rpm looks the names up in the
# root's /etc/passwd as it lays each file down).
MADE_HERE = ("filesystem", "adjutant-rpm-config", "adjutant-release")
SRPM_MADE_HERE = ("filesystem", "adjutant-rpm-config")

# Provides the Debian packages lack and later packages' automatic requirements need.
EXTRA_PROVIDES = {
    "libc6": ("rtld(GNU_HASH)",),  # as Fedora's glibc: elfdeps requires it of every binary
    "dash": ("/bin/sh",),  # file requirements name the old paths; rpm does not follow /bin
    "bash": ("/bin/bash",),
}
# Requires(pre) of filesystem, as Fedora's glibc (basesystem) and bash have: nothing runs
# /bin/sh before the /bin link is there (everything needs libc6; scriptlets need a shell).
NEEDS_FILESYSTEM = ("libc6", "bash", "dash")

RPM_MACROS = """\
# The rpm database in the root, where dnf --installroot and the build user look
# (Debian's rpm default; said here so that it does not depend on the build of rpm).
%_dbpath /var/lib/rpm
# No debuginfo: Debian's find-debuginfo (debugedit) strips with eu-strip, which is in
# elfutils, not installed in the image.
%debug_package %{nil}
"""
OS_RELEASE = """\
NAME="Adjutant Test Distribution"
ID=adjutant-test
VERSION_ID=1
PRETTY_NAME="Adjutant Test Distribution 1 (binaries from Debian 13)"
"""
PASSWD = "root:x:0:0:root:/root:/bin/bash\nmockbuild:x:1000:135::/builddir:/bin/sh\n"
GROUP = "root:x:0:\nmock:x:135:mockbuild\n"

# Paths `filesystem` owns, taken out of every Debian package (base-files lists
# most of them): one owner per path, so that no two packages disagree on one.
FILESYSTEM_DIRS = {
    "/": "0755", "/usr": "0755", "/usr/bin": "0755", "/usr/sbin": "0755", "/usr/lib": "0755",
    "/usr/lib64": "0755", "/etc": "0755", "/var": "0755", "/var/tmp": "1777", "/tmp": "1777",
    "/proc": "0555", "/sys": "0555", "/dev": "0755", "/run": "0755", "/root": "0700",
    "/home": "0755", "/builddir": "0755",
}
FILESYSTEM_LINKS = {"/bin": "usr/bin", "/sbin": "usr/sbin", "/lib": "usr/lib",
                    "/lib64": "usr/lib64"}
SETUP_FILES = ("/etc/passwd", "/etc/group")
RELEASE_PATHS = ("/usr/lib/os-release", "/etc/os-release")  # base-files' own, taken over
TAKEN_PATHS = frozenset([*FILESYSTEM_DIRS, *FILESYSTEM_LINKS, *SETUP_FILES, *RELEASE_PATHS])

# Every spec: the distribution's packages are repackaged files, never built.
SPEC_GLOBALS = """\
%global debug_package %{nil}
%global __os_install_post %{nil}
%global __arch_install_post %{nil}
%global _build_id_links none
%global _binaries_in_noarch_packages_terminate_build 0
%global _binary_payload w1.zstdio
%global _source_payload w1.zstdio
%global _buildhost adjutant-testdistro
%global source_date_epoch_from_changelog 0
%global use_source_date_epoch_as_buildtime 1
%global clamp_mtime_to_source_date_epoch 1
"""


# --- pure helpers (also run inside the image) ---------------------------------------------


Entries = list[tuple[str, bool]]  # a package's paths, and whether each is a directory


@dataclass(frozen=True)
class DebPackage:
    name: str
    version: str
    arch: str
    summary: str
    depends: tuple[tuple[str, ...], ...]  # Pre-Depends and Depends: groups of alternatives
    provides: tuple[str, ...]


def parse_relations(text: str) -> tuple[tuple[str, ...], ...]:
    """`a (>= 1) | b:any, c` -> (("a", "b"), ("c",)): names only, qualifiers dropped."""
    groups = []
    for group in text.split(","):
        names = []
        for alternative in group.split("|"):
            name = re.split(r"[\s(\[<]", alternative.strip(), maxsplit=1)[0].split(":")[0]
            if name:
                names.append(name)
        if names:
            groups.append(tuple(names))
    return tuple(groups)


def parse_status(text: str) -> dict[str, DebPackage]:
    """The installed packages of a dpkg status file, by name."""
    packages = {}
    for stanza in re.split(r"\n[ \t]*\n", text):
        fields: dict[str, str] = {}
        key = ""
        for line in stanza.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += "\n" + line
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if fields.get("Status", "").split()[-1:] != ["installed"]:
            continue
        name = fields["Package"]
        packages[name] = DebPackage(
            name=name,
            version=fields["Version"],
            arch=fields["Architecture"],
            summary=fields.get("Description", name).split("\n")[0].strip() or name,
            depends=parse_relations(fields.get("Pre-Depends", ""))
            + parse_relations(fields.get("Depends", "")),
            provides=tuple(g[0] for g in parse_relations(fields.get("Provides", ""))),
        )
    return packages


def split_version(debian: str) -> tuple[Optional[int], str, str]:
    """A Debian version as RPM's (epoch, version, release): `1:2.41-6+b1` -> (1, "2.41",
    "6+b1"); a native version has release "1"; a '-' (or ':') left in the upstream
    version, which RPM does not allow, becomes '_'."""
    epoch: Optional[int] = None
    rest = debian
    if re.match(r"^\d+:", rest):
        head, rest = rest.split(":", 1)
        epoch = int(head)
    upstream, _, revision = rest.rpartition("-")
    if not upstream:
        upstream, revision = rest, "1"

    def clean(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9._+~^]", "_", text)

    return epoch, clean(upstream), clean(revision)


def rpm_arch(debian_arch: str) -> str:
    """amd64 -> x86_64, i386 -> i686, all -> noarch; any other a KeyError."""
    return {"amd64": "x86_64", "i386": "i686", "all": "noarch"}[debian_arch]


def _providers(packages: Mapping[str, DebPackage]) -> dict[str, list[str]]:
    providers: dict[str, list[str]] = {}
    for name in sorted(packages):
        for virtual in packages[name].provides:
            providers.setdefault(virtual, []).append(name)
    return providers


def _candidates(name: str, packages: Mapping[str, DebPackage],
                providers: Mapping[str, list[str]]) -> list[str]:
    """The installed packages that are `name` or provide it, the real one first."""
    real = [name] if name in packages else []
    return real + [p for p in providers.get(name, []) if p != name]


def pick_start(packages: Mapping[str, DebPackage], start: Iterable[str]) -> list[str]:
    """START's names as installed packages: `a|b` the first installed, `a?` if installed."""
    chosen = []
    for spec in start:
        optional = spec.endswith("?")
        alternatives = spec.rstrip("?").split("|")
        found = [a for a in alternatives if a in packages]
        if found:
            chosen.append(found[0])
        elif not optional:
            raise ValueError(f"none of {spec} is installed")
    return chosen


def closure(packages: Mapping[str, DebPackage], start: Iterable[str]) -> list[str]:
    """The Depends closure of `start` among the installed packages.  Of alternatives (and
    of a virtual package's providers) nothing more is taken when one is already in, else
    the first installed."""
    providers = _providers(packages)
    chosen: set[str] = set()
    queue = list(start)
    while queue:
        name = queue.pop(0)
        if name in chosen:
            continue
        chosen.add(name)
        for group in packages[name].depends:
            options = [c for alternative in group
                       for c in _candidates(alternative, packages, providers)]
            if not options:
                raise ValueError(f"{name}: nothing installed is {' | '.join(group)}")
            if not any(o in chosen or o in queue for o in options):
                queue.append(options[0])
    return sorted(chosen)


def requires(name: str, packages: Mapping[str, DebPackage], chosen: Iterable[str]) -> list[str]:
    """`name`'s Depends as RPM names: of each group the first alternative in `chosen` (a
    virtual one: its first provider in `chosen`), itself left out."""
    providers = _providers(packages)
    members = set(chosen)
    result: list[str] = []
    for group in packages[name].depends:
        hits = [c for alternative in group for c in _candidates(alternative, packages, providers)
                if c in members]
        if not hits:
            raise ValueError(f"{name}: no package of the closure is {' | '.join(group)}")
        if hits[0] != name and hits[0] not in result:
            result.append(hits[0])
    return result


def resolve_parents(root: Path, path: str) -> str:
    """`path` as it is inside `root` with its directories' symlinks followed (an absolute
    target is taken relative to `root`), its last component kept: `/bin/sh` -> `/usr/bin/sh`
    where /bin -> usr/bin."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts:
        return "/"
    resolved: list[str] = []
    todo = parts[:-1]
    hops = 0
    while todo:
        part = todo.pop(0)
        if part == "..":
            resolved = resolved[:-1]
            continue
        here = root.joinpath(*resolved, part)
        if here.is_symlink():
            hops += 1
            if hops > 40:
                raise ValueError(f"too many symlinks under {path}")
            target = os.readlink(here)
            if target.startswith("/"):
                resolved = []
            todo = [p for p in target.split("/") if p not in ("", ".")] + todo
        else:
            resolved.append(part)
    return "/" + "/".join([*resolved, parts[-1]])


def files_line(path: str, *, directory: bool) -> str:
    """A %files line for one path: glob characters escaped, % doubled, quoted if spaced."""
    if any(c in path for c in '"\\\n'):
        raise ValueError(f"cannot name {path!r} in %files")
    escaped = re.sub(r"([\[\]*?{}])", r"\\\1", path).replace("%", "%%")
    if any(c.isspace() for c in path):
        escaped = f'"{escaped}"'
    return f"%dir {escaped}" if directory else escaped


def _tag_text(text: str) -> str:
    return text.replace("%", "%%")


def deb_spec(package: DebPackage, *, requires: Sequence[str], entries: Sequence[tuple[str, bool]],
             image: str) -> str:
    """The spec repackaging a Debian package: Source0 is its NUL-separated path list (relative
    to the image root at /img), %install copies those paths from /img."""
    epoch, version, release = split_version(package.version)
    lines = [f"Name: {package.name}"]
    if epoch is not None:
        lines.append(f"Epoch: {epoch}")
    lines += [
        f"Version: {version}", f"Release: {release}",
        f"Summary: {_tag_text(package.summary)}",
        "License: Distributable", "URL: https://www.debian.org/",
        "AutoReq: no", "AutoProv: yes",
        f"Source0: {package.name}.paths",
    ]
    if rpm_arch(package.arch) == "noarch":
        lines.append("BuildArch: noarch")
    if package.name in NEEDS_FILESYSTEM:
        lines.append("Requires(pre): filesystem")
    lines += [f"Requires: {r}" for r in requires]
    lines += [f"Provides: {p}" for p in EXTRA_PROVIDES.get(package.name, ())]
    body = [
        "", "%description",
        _tag_text(f"Debian's {package.name} {package.version} ({package.arch}) as installed "
                  f"in {image}, repackaged for adjutant's tests."),
        "", "%install",
        "tar -C /img --null --no-recursion -T %{SOURCE0} -cf - | tar -C %{buildroot} -xpf -",
        "", "%files", "%defattr(-,root,root,-)",
    ]
    body += [files_line(path, directory=directory) for path, directory in entries]
    return SPEC_GLOBALS + "\n".join(lines + body) + "\n"


def _made_spec(name: str, summary: str, install: str, files: str, *, extra: str = "") -> str:
    """The spec of a package made here (version 1-1, noarch)."""
    return SPEC_GLOBALS + textwrap.dedent("""\
        Name: {name}
        Version: 1
        Release: 1
        Summary: {summary}
        License: MIT
        BuildArch: noarch
        AutoReqProv: no
        {extra}
        %description
        {summary}, made for adjutant's tests.

        %install
        {install}

        %files
        {files}
        """).format(name=name, summary=summary, install=install, files=files, extra=extra)


def _write(path: str, text: str) -> str:
    """Shell lines in %install writing `text` to %{buildroot}`path`."""
    lines = "".join(f"{line}\n" for line in text.splitlines()).replace("%", "%%")
    return (f"mkdir -p %{{buildroot}}{os.path.dirname(path)}\n"
            f"cat > %{{buildroot}}{path} <<'ADJUTANT_EOF'\n{lines}ADJUTANT_EOF")


def made_specs() -> dict[str, str]:
    """The specs of the packages made here, by name."""
    user, _, group, _ = BUILD_USER
    dirs = " ".join(f"%{{buildroot}}{d}" for d in FILESYSTEM_DIRS if d != "/")
    links = "\n".join(f"ln -s {target} %{{buildroot}}{link}"
                      for link, target in FILESYSTEM_LINKS.items())
    fs_files = [f"%dir %attr({mode},root,root) {d}" for d, mode in FILESYSTEM_DIRS.items()
                if d != "/builddir"]
    fs_files += [f"%dir %attr(0755,{user},{group}) /builddir", *FILESYSTEM_LINKS]
    return {
        "setup": _made_spec(
            "setup", "The passwd and group of the root and the build user",
            f"{_write('/etc/passwd', PASSWD)}\n{_write('/etc/group', GROUP)}",
            "\n".join(f"%attr(0644,root,root) {f}" for f in SETUP_FILES)),
        "filesystem": _made_spec(
            "filesystem", "The top directories and the merged-/usr links",
            f"mkdir -p {dirs}\n{links}", "\n".join(fs_files), extra="Requires(pre): setup\n"),
        "adjutant-rpm-config": _made_spec(
            "adjutant-rpm-config", "rpm macros of the adjutant test distribution",
            _write("/etc/rpm/macros.adjutant-test", RPM_MACROS),
            "%attr(0644,root,root) /etc/rpm/macros.adjutant-test"),
        "adjutant-release": _made_spec(
            "adjutant-release", "The os-release of the adjutant test distribution",
            f"{_write('/usr/lib/os-release', OS_RELEASE)}\n"
            "mkdir -p %{buildroot}/etc\nln -s ../usr/lib/os-release %{buildroot}/etc/os-release",
            "%attr(0644,root,root) /usr/lib/os-release\n/etc/os-release"),
    }


# --- inside the image ---------------------------------------------------------------------


def _dpkg_list(root: Path, package: DebPackage) -> list[str]:
    info = root / "var/lib/dpkg/info"
    for candidate in (info / f"{package.name}.list", info / f"{package.name}:{package.arch}.list"):
        if candidate.exists():
            return candidate.read_text(errors="surrogateescape").splitlines()
    return []


def alternative_links(root: Path) -> list[tuple[str, str]]:
    """The symlinks update-alternatives made, as (link, what it finally points to): each
    public link (/usr/bin/awk) and its /etc/alternatives link, of the selected choices."""
    found = []
    for state in sorted((root / "var/lib/dpkg/alternatives").iterdir()):
        lines = state.read_text().splitlines()
        names = [(state.name, lines[1])]
        slaves = lines[2 : lines.index("")] if "" in lines else []
        names += [(slaves[i], slaves[i + 1]) for i in range(0, len(slaves) - 1, 2)]
        for name, link in names:
            selected = root / "etc/alternatives" / name
            if not selected.is_symlink() or not (root / link.lstrip("/")).is_symlink():
                continue
            target = resolve_parents(root, os.readlink(selected))
            found += [(resolve_parents(root, link), target),
                      (f"/etc/alternatives/{name}", target)]
    return found


def package_entries(root: Path, packages: Mapping[str, DebPackage],
                    names: Sequence[str]) -> tuple[dict[str, Entries], int]:
    """Each package's (path, is a directory) as on the image's disk, and how many listed
    paths were not there (left out of the image, or diverted away)."""
    lists: dict[str, list[str]] = {}
    owner: dict[str, str] = {}
    for name in names:
        paths = sorted({resolve_parents(root, p) for p in _dpkg_list(root, packages[name])})
        lists[name] = paths
        for path in paths:
            owner.setdefault(path, name)
    for link, target in alternative_links(root):
        if target in owner:
            lists[owner[target]].append(link)
    entries: dict[str, Entries] = {}
    missing = 0
    for name, paths in lists.items():
        chosen = []
        for path in sorted(set(paths)):
            if path in TAKEN_PATHS:
                continue
            disk = root / path.lstrip("/")
            if not disk.is_symlink() and not disk.exists():
                missing += 1
                continue
            chosen.append((path, disk.is_dir() and not disk.is_symlink()))
        entries[name] = chosen
    return entries, missing


def _rpmbuild(spec: Path, topdir: Path, out: Path, target: str) -> tuple[str, float, str]:
    started = time.monotonic()
    # --target: on an i686 machine rpmbuild's own choice is i386 (rpmrc's buildarchtranslate)
    argv = ["rpmbuild", "-ba", f"--target={target}", "--define", f"_topdir {topdir}",
            "--define", f"_sourcedir {spec.parent}", "--define", f"_rpmdir {out / 'RPMS'}",
            "--define", f"_srcrpmdir {out / 'SRPMS'}", str(spec)]
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(SOURCE_DATE_EPOCH), "LC_ALL": "C.UTF-8"}
    result = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    log = result.stdout + result.stderr
    if result.returncode != 0:
        raise RuntimeError(f"rpmbuild of {spec.name} failed:\n{log[-6000:]}")
    shutil.rmtree(topdir, ignore_errors=True)
    return spec.stem, time.monotonic() - started, log


def build_inside(root: Path, out: Path, work: Path, arch: str) -> None:
    """Make the distribution's `arch` from the image root `root` into `out` (in the image)."""
    started = time.monotonic()
    packages = parse_status((root / "var/lib/dpkg/status").read_text())
    names = closure(packages, pick_start(packages, START))
    srpm_names = closure(packages, pick_start(packages, SRPM_START))
    entries, missing = package_entries(root, packages, names)
    print(
        f"closure: {len(names)} Debian packages of {len(packages)} installed; "
        f"{missing} listed paths not in the image",
        flush=True,
    )
    specs: dict[str, str] = {}
    sizes: dict[str, int] = {}
    for name in names:
        specs[name] = deb_spec(packages[name], requires=requires(name, packages, names),
                               entries=entries[name], image=IMAGES[arch])
        sizes[name] = sum((root / p.lstrip("/")).lstat().st_size for p, d in entries[name]
                          if not d)
        relative = b"".join(os.fsencode(p.lstrip("/")) + b"\0" for p, _ in entries[name])
        (work / name).mkdir(parents=True)
        (work / name / f"{name}.paths").write_bytes(relative)
    for name, text in made_specs().items():
        specs[name] = text
        sizes[name] = 0
        (work / name).mkdir(parents=True)
    for name, text in specs.items():
        (work / name / f"{name}.spec").write_text(text, encoding="utf-8", errors="surrogateescape")
    for sub in ("RPMS", "SRPMS"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    order = sorted(specs, key=lambda n: (-sizes[n], n))  # the big ones first: even workers
    with ThreadPoolExecutor(WORKERS) as pool:
        futures = [pool.submit(_rpmbuild, work / n / f"{n}.spec", work / n / "top", out, arch)
                   for n in order]
        for future in futures:
            name, seconds, _ = future.result()
            print(f"built {name} in {seconds:.1f}s", flush=True)
    awk = pick_start(packages, ["gawk|mawk"])[0]
    manifest = {
        "rpms": sorted(str(p.relative_to(out)) for p in (out / "RPMS").rglob("*.rpm")),
        "srpms": sorted(str(p.relative_to(out)) for p in (out / "SRPMS").glob("*.src.rpm")),
        "groups": {
            "build": [*pick_start(packages, START), *MADE_HERE],
            "srpm-build": [*pick_start(packages, SRPM_START), *SRPM_MADE_HERE],
        },
        "debian": {n: packages[n].version for n in names},
        "srpm_closure": srpm_names,
        "awk": awk,
        "files_bytes": sum(sizes.values()),
        "missing_paths": missing,
        "seconds": round(time.monotonic() - started, 1),
    }
    if len(manifest["rpms"]) != len(specs) or len(manifest["srpms"]) != len(specs):
        raise RuntimeError(f"{len(specs)} specs but {len(manifest['rpms'])} RPMs and "
                           f"{len(manifest['srpms'])} SRPMs")
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")


# --- on the test host ---------------------------------------------------------------------


@dataclass(frozen=True)
class TestDistro:
    __test__ = False  # not a pytest test class

    rpms: list[Path]  # binary RPMs (of its arch, and noarch)
    srpms: list[Path]  # a source RPM per binary package, of the same N-E:V-R
    groups: dict[str, list[str]]  # {"build": [...], "srpm-build": [...]}


def _image_id(image: str = IMAGE) -> str:
    result = subprocess.run(["podman", "image", "inspect", "--format", "{{.Id}}", image],
                            capture_output=True, text=True, check=True)
    return result.stdout.strip()


def _load(directory: Path) -> TestDistro:
    manifest = json.loads((directory / MANIFEST).read_text())
    return TestDistro(rpms=[directory / p for p in manifest["rpms"]],
                      srpms=[directory / p for p in manifest["srpms"]],
                      groups={k: list(v) for k, v in manifest["groups"].items()})


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def test_distro(cache_root: Path = DEFAULT_CACHE, *, arch: str = "x86_64") -> TestDistro:
    """Build (or reuse) the distribution of `arch` (x86_64 or i686); cached under
    cache_root/<arch>/<key>/ where key is a hash of the image id (`podman image inspect
    --format {{.Id}}`) and of this file's text; built into <key>.partial and renamed when
    complete; older keys removed."""
    text = Path(__file__).read_text()
    image_id = _image_id(IMAGES[arch])
    key = hashlib.sha256(f"{image_id}\n{text}".encode()).hexdigest()[:16]
    cache = cache_root / arch
    cache.mkdir(parents=True, exist_ok=True)
    done = cache / key
    with _locked(cache / ".lock"):
        if not (done / MANIFEST).exists():
            partial = cache / f"{key}.partial"
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir()
            log = partial / "build.log"
            personality = ["--personality=LINUX32"] if arch == "i686" else []
            with log.open("w") as handle:
                result = subprocess.run(
                    ["podman", "run", "--rm", "-i", "--network=none", *personality,
                     "--mount", f"type=image,source={image_id},target=/img",
                     "-v", f"{partial}:/out", image_id,
                     "python3", "-", "--inside", "/img", "/out", "--arch", arch],
                    input=text, stdout=handle, stderr=subprocess.STDOUT, text=True,
                    check=False)
            if result.returncode != 0:
                tail = log.read_text()[-8000:]
                raise RuntimeError(f"building the test distribution failed (log {log}):\n{tail}")
            shutil.rmtree(done, ignore_errors=True)
            partial.rename(done)
        for old in cache.iterdir():
            if old.name not in (key, ".lock"):
                shutil.rmtree(old, ignore_errors=True)
    return _load(done)


test_distro.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


# --- the self-check -----------------------------------------------------------------------

CHECK_C = """\
#include <stdio.h>
int main(void) { puts("hello from the test distribution"); return 0; }
"""
CHECK_C_SPEC = """\
Name: chello
Version: 1.0
Release: 1
Summary: A C program built in the test distribution
License: MIT
Source0: chello.c
BuildRequires: gcc

%description
A C program built in the test distribution.

%prep
%setup -q -c -T
cp %{SOURCE0} .

%build
gcc %{optflags} -o chello chello.c

%install
install -D -m 0755 chello %{buildroot}%{_bindir}/chello

%check
./chello

%files
%{_bindir}/chello
"""
# A stand-in for an autoconf configure script: takes %configure's options, checks
# the triplets (with GNU config.sub when the test host has a copy to ship), the C
# compiler, and writes the Makefile.
CHECK_CONFIGURE = """\
#!/bin/sh
prefix=/usr/local bindir= host= build=
for arg do
  case $arg in
    --prefix=*) prefix=${arg#*=} ;;
    --bindir=*) bindir=${arg#*=} ;;
    --host=*) host=${arg#*=} ;;
    --build=*) build=${arg#*=} ;;
    --*) ;;
    *) echo "configure: unknown argument $arg" >&2; exit 1 ;;
  esac
done
for triplet in "$build" "$host"; do
  if test -f ./config.sub; then
    canonical=$(sh ./config.sub "$triplet") || exit 1
  else
    case $triplet in
      *-*-*) canonical=$triplet ;;
      *) echo "configure: bad triplet '$triplet'" >&2; exit 1 ;;
    esac
  fi
  echo "checking the system type... $canonical"
done
cpu=$(echo "$canonical" | awk -F- '{ print $1 }')
: "${CC:=cc}"
printf 'int main(void) { return 0; }\\n' > conftest.c
$CC $CFLAGS -o conftest conftest.c && ./conftest || {
  echo "configure: error: C compiler cannot create executables" >&2; exit 1; }
rm -f conftest conftest.c
echo "checking for the C compiler... $CC"
sed -e "s|@CC@|$CC|" -e "s|@bindir@|${bindir:-$prefix/bin}|" -e "s|@cpu@|$cpu|" \\
  Makefile.in > Makefile
"""
CHECK_MAKEFILE = """\
CC = @CC@
bindir = @bindir@
all: confhello
confhello: confhello.c
\t$(CC) $(CFLAGS) -DCPU='"@cpu@"' -o $@ confhello.c
install:
\tinstall -D -m 0755 confhello $(DESTDIR)$(bindir)/confhello
"""
CHECK_CONF_C = """\
#include <stdio.h>
int main(void) { printf("configured for %s\\n", CPU); return 0; }
"""
CHECK_CONF_SPEC = """\
Name: confhello
Version: 1.0
Release: 1
Summary: A configure-based package built in the test distribution
License: MIT
Source0: confhello-1.0.tar.gz
BuildRequires: gcc make

%description
A configure-based package built in the test distribution.

%prep
%autosetup

%build
%configure
%make_build

%install
%make_install

%check
./confhello

%files
%{_bindir}/confhello
"""
# As the build user in the root: its rpm database, then the builds (BuildRequires
# checked against it), the log only if one fails.
CHECK_BUILD = """\
id; echo "HOME=$HOME"; echo "$(rpm -qa | wc -l) packages in the build user's rpm -qa"
rpm -q gcc rpm || exit 1
cd ~/rpmbuild/SPECS || exit 1
rpmbuild -ba chello.spec confhello.spec > ~/build.log 2>&1 || { tail -n 60 ~/build.log; exit 1; }
cd .. && ls RPMS/* SRPMS && rpm -qp --requires RPMS/x86_64/chello-1.0-1.x86_64.rpm
"""
CONFIG_SUB_PLACES = ("/usr/share/misc/config.sub", "/usr/share/gnuconfig/config.sub")


def _config_sub() -> Optional[Path]:
    places = [Path(p) for p in CONFIG_SUB_PLACES]
    places += sorted(Path("/usr/share").glob("automake-*/config.sub"))
    return next((p for p in places if p.exists()), None)


def _tarball(path: Path, top: str, members: Mapping[str, tuple[bytes, int]]) -> None:
    with tarfile.open(path, "w:gz") as archive:
        for name, (data, mode) in members.items():
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size, info.mode, info.mtime = len(data), mode, SOURCE_DATE_EPOCH
            archive.addfile(info, io.BytesIO(data))


def _run(argv: Sequence[str], what: str, *, timeout: float = 1800) -> str:
    """Run a command; its stdout (stderr too in the exception if it fails)."""
    started = time.monotonic()
    result = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                            check=False)
    if result.returncode != 0:
        output = result.stdout + result.stderr
        raise AssertionError(f"{what} failed ({result.returncode}):\n{output[-8000:]}")
    print(f"  {what}: {time.monotonic() - started:.1f}s", flush=True)
    return result.stdout


def bootstrap_install(repo: Path, root: Path, packages: Sequence[str], *,
                      image: str = IMAGE) -> str:
    """`dnf --installroot` of `packages` from the repo into the empty `root`, from a container
    of the (unmodified) image, with the command line of adjutant's preparation (by name, not
    `@group`: Debian 13's libcomps crashes dnf on every group).  Debian 13's rpm (4.20.1)
    keeps a root's database at /var/lib/rpm, where the root's own rpm reads it."""
    from adjutant.buildroot.script import INSTALLROOT, Repo, dnf_command

    dnf = dnf_command(Repo(url="file:///repo"))
    script = f"set -e\n{dnf} install {' '.join(packages)}\n{dnf} clean all\n"
    return _run(["podman", "run", "--rm", "--network=none", "-v", f"{repo}:/repo:ro",
                 "-v", f"{root}:{INSTALLROOT}", image, "bash", "-c", script],
                f"dnf --installroot install of {len(packages)} packages")


def _prepare_builddir(root: Path) -> None:
    top = root / "builddir/rpmbuild"
    for sub in ("SPECS", "SOURCES"):
        (top / sub).mkdir(parents=True, exist_ok=True)
    (top / "SPECS/chello.spec").write_text(CHECK_C_SPEC)
    (top / "SOURCES/chello.c").write_text(CHECK_C)
    (top / "SPECS/confhello.spec").write_text(CHECK_CONF_SPEC)
    members = {"configure": (CHECK_CONFIGURE.encode(), 0o755),
               "Makefile.in": (CHECK_MAKEFILE.encode(), 0o644),
               "confhello.c": (CHECK_CONF_C.encode(), 0o644)}
    config_sub = _config_sub()
    if config_sub is not None:
        members["config.sub"] = (config_sub.read_bytes(), 0o755)
    _tarball(top / "SOURCES/confhello-1.0.tar.gz", "confhello-1.0", members)
    _, uid, _, gid = BUILD_USER
    for path in [root / "builddir", *(root / "builddir").rglob("*")]:
        os.lchown(path, uid, gid)


def _in_root(root: Path, script: str, what: str, *, user: bool = True) -> str:
    _, uid, _, gid = BUILD_USER
    argv = ["podman", "run", "--rm", "--network=none"]
    if user:
        argv += ["--user", f"{uid}:{gid}"]
    return _run([*argv, "--rootfs", str(root), "/bin/sh", "-c", script], what)


def self_check(distro: TestDistro, *, keep: bool = False) -> None:
    """The distribution end to end: a repo, an empty root installed from it with dnf
    --installroot, rpmbuild -ba of a C package and of a %configure package in that root
    as the build user, and rpmbuild -bs in a root of the srpm-build group."""
    from tests.integration.rpmrepo import comps_xml

    base = Path(tempfile.mkdtemp(prefix="adjutant-testdistro-check-",
                                 dir="/var/lib/containers"))
    try:
        repo = base / "repo"
        repo.mkdir()
        for rpm in distro.rpms:
            os.link(rpm, repo / rpm.name)
        (base / "comps.xml").write_text(comps_xml(distro.groups))
        _run(["createrepo_c", "--quiet", "--no-database", "-g", str(base / "comps.xml"),
              str(repo)], "createrepo_c")
        root = base / "build-root"
        root.mkdir()
        bootstrap_install(repo, root, distro.groups["build"])
        listed = _run(["rpm", "-qa", "--root", str(root), "--define", "_dbpath /var/lib/rpm"],
                      "rpm -qa --root").split()
        print(f"    {len(listed)} packages installed", flush=True)
        assert len(listed) > len(distro.groups["build"]), listed
        owner = (root / "builddir").stat()
        assert (owner.st_uid, owner.st_gid) == (BUILD_USER[1], BUILD_USER[3]), owner
        _prepare_builddir(root)
        out = _in_root(root, CHECK_BUILD, "rpmbuild -ba chello confhello as the build user")
        print(textwrap.indent(out, "    "), end="")
        _in_root(root, "rpm -i --test /builddir/rpmbuild/RPMS/x86_64/chello-1.0-1.x86_64.rpm "
                 "/builddir/rpmbuild/RPMS/x86_64/confhello-1.0-1.x86_64.rpm",
                 "rpm -i --test of what was built (its requirements are provided)",
                 user=False)
        srpm_root = base / "srpm-root"
        srpm_root.mkdir()
        bootstrap_install(repo, srpm_root, distro.groups["srpm-build"])
        _prepare_builddir(srpm_root)
        _in_root(srpm_root, "cd ~/rpmbuild/SPECS && rpmbuild -bs chello.spec confhello.spec",
                 "rpmbuild -bs in a root of srpm-build")
        config_sub = _config_sub()
        print(
            "check passed; configure's triplets checked by "
            + (f"GNU config.sub ({config_sub})" if config_sub else "hand (no config.sub)")
        )
    finally:
        if keep:
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inside", nargs=2, metavar=("ROOT", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--check", action="store_true", help="and check it end to end")
    parser.add_argument("--keep", action="store_true", help="keep the check's roots")
    parser.add_argument("--cache-root", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--arch", choices=sorted(IMAGES), default="x86_64")
    args = parser.parse_args(argv)
    if args.check and args.arch != "x86_64":
        parser.error("--check builds and runs x86_64 packages: only with --arch x86_64")
    if args.inside:
        # A fixed work directory (the container is new): rpm keeps the expanded spec, and
        # with it the build root's path, in the SRPM's header.
        work = Path("/var/tmp/adjutant-testdistro")
        work.mkdir()
        build_inside(Path(args.inside[0]), Path(args.inside[1]), work, args.arch)
        return 0
    started = time.monotonic()
    distro = test_distro(args.cache_root, arch=args.arch)
    print(
        f"distribution: {len(distro.rpms)} RPMs, {len(distro.srpms)} SRPMs, "
        f"{sum(p.stat().st_size for p in distro.rpms) / 2**20:.1f} MiB of RPMs, "
        f"in {time.monotonic() - started:.1f}s",
        flush=True,
    )
    if args.check:
        self_check(distro, keep=args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
