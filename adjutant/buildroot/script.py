"""The scripts that run inside a task's containers, built as text by pure
functions (every value from outside shell-quoted) and tested as text.

Each script writes the logs Koji users know into /builddir/result (the task's
work directory on the host, bound read-write): root.log (package manager
output), build.log (rpmbuild), state.log (timestamped phases), hw_info.log and
installed_pkgs.log; the unit's own journal has everything else.  Its exit
status names the phase that failed (EXIT_* below), so the daemon can tell a
packager which phase it was.

Root does the package installs, and only as dependencies: the group's
packages by name from comps, the BuildRequires with `dnf builddep` of the SRPM
(and of each `%generate_buildrequires` round's .nosrc.rpm), so nothing a
packager wrote is ever an argument of root's dnf (a "requirement" ending in
.rpm or starting with / or -- is a dependency no package provides, never a
file to install or an option).  Everything of the packager's runs as the
unprivileged user `mockbuild` (uid 1000) under setpriv with no capabilities
and no_new_privs; an image that cannot give that fails the task: adjutant
never builds as root.  The tag's macros go to the build user's ~/.rpmmacros
and its environment to rpmbuild alone, never to root's rpm or dnf (as mock).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Optional

from adjutant.buildroot.mockopts import MockOptions

BUILDDIR = "/builddir"
RESULT = f"{BUILDDIR}/result"
TOPDIR = f"{BUILDDIR}/build"
BUILD_USER = "mockbuild"
BUILD_UID = 1000
BUILD_HOME = f"{BUILDDIR}/home"
# The SRPM a build starts from, under a name of ours: `dnf builddep` reads a
# file by its suffix, and a packager's name must not make it read a spec.
INPUT_SRPM = "adjutant-input.src.rpm"

EXIT_SETUP = 20  # the buildroot could not be set up
EXIT_DEPS = 21  # a build requirement could not be installed
EXIT_BUILD = 22  # rpmbuild failed
EXIT_CHECKOUT = 23  # the SCM checkout or its source command failed

# rpm -qa format of what the hub's buildroot list wants (kojihub's
# setBuildRootList rpm fields); tab separated, parsed by records.parse_rpm_list.
RPM_LIST_FORMAT = (
    "%{NAME}\\t%{VERSION}\\t%{RELEASE}\\t%{EPOCH}\\t%{ARCH}\\t%{SIGMD5}\\t%{SIZE}\\t%{BUILDTIME}\\n"
)
# mock's installed_pkgs.log
INSTALLED_FORMAT = "%{NEVRA} %{BUILDTIME} %{SIZE} installed\\n"


@dataclass(frozen=True)
class Repo:
    """The tag's repo for this task: a file:// URL under the mounted topdir,
    and the tag's mock.* options for the package manager that installs from it."""

    url: str
    options: MockOptions = field(default_factory=MockOptions)


def q(value: str) -> str:
    return shlex.quote(value)


def say(message: str) -> str:
    """A state.log line; the message is quoted (it may hold a package name or a URL)."""
    return f"state {q(message)}\n"


def or_fail(phase: str, message: str, status: int) -> str:
    """Continuation of a command line: end the script with `status` if it fails."""
    return f"    || fail {q(phase)} {q(message)} {status}\n"


def dnf_command(repo: Repo) -> str:
    """The package manager (the tag's mock.package_manager) limited to the tag's
    repo and nothing else on the image, with the tag's mock.yum options."""
    options = repo.options
    words = [
        options.package_manager, "-y", "--setopt=reposdir=/dev/null",
        "--setopt=install_weak_deps=False", "--setopt=keepcache=False",
        # the tag's repo is the hub's own (unsigned until signed later)
        "--no-gpgchecks" if options.package_manager == "dnf5" else "--nogpgcheck",
        f"--releasever={options.releasever or 'koji'}",
        q(f"--repofrompath=koji,{repo.url}"), "--repo=koji",
    ]  # fmt: skip
    if options.module_hotfixes:
        words.append("--setopt=koji.module_hotfixes=1")
    if options.best is not None:
        words.append(f"--setopt=best={int(options.best)}")
    return " ".join(words)


def builddep_command(repo: Repo) -> str:
    """`dnf builddep` (dnf 4 and 5); yum's is a program of its own."""
    if repo.options.package_manager == "yum":
        return "yum-builddep" + dnf_command(repo)[len("yum"):]
    return f"{dnf_command(repo)} builddep"


def _logged(command: str) -> str:
    """The command root runs, first written to root.log (as mock's root.log)."""
    return f'printf "%s\\n" {q("Executing command: " + command)} >> "$R/root.log"\n'


def _module_setup(repo: Repo) -> str:
    """The tag's mock.module_setup_commands, before the group is installed."""
    return "".join(
        _logged(f"{dnf_command(repo)} module {action} {q(module)}")
        + f'{dnf_command(repo)} module {action} {q(module)} >> "$R/root.log" 2>&1 \\\n'
        + or_fail("module setup", f"dnf module {action} {module} failed (see root.log)",
                  EXIT_SETUP)
        for action, module in repo.options.module_setup_commands)  # fmt: skip


PRELUDE = f"""\
#!/bin/bash
# Written by adjutant; runs inside the task's container.
set -uo pipefail
R={RESULT}
mkdir -p "$R"
# state.log, and the unit's journal (journalctl -u) too
state() {{ local line; line="$(date -u '+%Y-%m-%d %H:%M:%S,%3N') $*"
          printf '%s\\n' "$line" >> "$R/state.log"; printf '%s\\n' "$line"; }}
fail() {{ state "Finish: $1 (failed)"; echo "adjutant: $2" >&2; exit "$3"; }}
"""

HW_INFO = """\
{
  echo "CPU info:"; nproc; grep -m1 'model name' /proc/cpuinfo || true
  echo; echo "Memory:"; grep -E '^(MemTotal|MemAvailable|SwapTotal):' /proc/meminfo
  echo; echo "Storage:"; df -h /builddir
} > "$R/hw_info.log" 2>&1
"""

BUILD_USER_SETUP = f"""\
if ! id -u {BUILD_USER} >/dev/null 2>&1; then
    useradd -m -u {BUILD_UID} -d {BUILD_HOME} -s /bin/sh {BUILD_USER} >/dev/null 2>&1 \\
        || fail setup "cannot create the build user {BUILD_USER} in this image (useradd \
failed); adjutant never builds as root" {EXIT_SETUP}
fi
command -v setpriv >/dev/null || fail setup "this image has no setpriv to run the build as \
{BUILD_USER}; adjutant never builds as root" {EXIT_SETUP}
# HOME is the build user's for its commands only: root's rpm and dnf never read
# the ~/.rpmmacros the build user can write.
AS_USER=(setpriv --reuid={BUILD_USER} --regid={BUILD_USER} --init-groups --inh-caps=-all \
         --bounding-set=-all --no-new-privs -- env HOME={BUILD_HOME})
[ "$("${{AS_USER[@]}}" id -u 2>/dev/null || echo 0)" != 0 ] || fail setup "the build user \
{BUILD_USER} is root in this image; adjutant never builds as root" {EXIT_SETUP}
mkdir -p {TOPDIR} {BUILD_HOME}
chown -R {BUILD_USER}: {TOPDIR} {BUILD_HOME}
state "Note: building as $("${{AS_USER[@]}}" id -un) (uid $("${{AS_USER[@]}}" id -u))"
"""


def _record_installed(name: str) -> str:
    return (f'rpm -qa --qf {q(RPM_LIST_FORMAT)} > "$R/{name}"\n'
            f'rpm -qa --qf {q(INSTALLED_FORMAT)} | sort > "$R/installed_pkgs.log"\n')  # fmt: skip


def prepare_script(*, repo: Repo, group: str, packages: Sequence[str]) -> str:
    """Install the tag's build group (its packages, read from comps) into the
    image that becomes the cached buildroot."""
    names = " ".join(q(p) for p in packages)
    return (
        PRELUDE
        + say(f"Start: installing the buildroot group {group}: {' '.join(packages)}")
        + _module_setup(repo)
        + _logged(f"{dnf_command(repo)} install {names}")
        + f'{dnf_command(repo)} install {names} >> "$R/root.log" 2>&1 \\\n'
        + or_fail(f"installing {group}", f"could not install the group {group} (see root.log)",
                  EXIT_SETUP)
        + f'{dnf_command(repo)} clean all >> "$R/root.log" 2>&1\n'
        + _record_installed("buildroot-group.tsv")
        + say(f"Finish: installing the buildroot group {group}")
    )  # fmt: skip


def _user_macros(macros: Mapping[str, str]) -> str:
    """The tag's macros in the build user's ~/.rpmmacros (read by rpmbuild and
    the user's rpm -i, never by root's rpm or dnf)."""
    text = "".join(f"%{name} {value}\n" for name, value in {**macros, "_topdir": TOPDIR}.items())
    return (f"printf '%s' {q(text)} > {BUILD_HOME}/.rpmmacros\n"
            f"chown {BUILD_USER}: {BUILD_HOME}/.rpmmacros\n")  # fmt: skip


def _build_environment(environment: Mapping[str, str]) -> str:
    """BUILD_ENV: `env NAME=value ...` for rpmbuild's command line only."""
    pairs = " ".join(q(f"{name}={value}") for name, value in environment.items())
    return f"BUILD_ENV=(env {pairs})\n" if pairs else "BUILD_ENV=(env)\n"


def _build_setup(macros: Mapping[str, str], environment: Mapping[str, str]) -> str:
    """The start of every rpmbuild step: hw_info.log, the build user, the tag's
    macros (the user's) and environment (rpmbuild's)."""
    return ('state "Start: build setup"\n' + HW_INFO + BUILD_USER_SETUP + _user_macros(macros)
            + _build_environment(environment))  # fmt: skip


def _builddep(repo: Repo, srpm: str, what: str) -> str:
    """Root's dnf installs the requirements `srpm` (a path of ours) declares."""
    return (
        f'state "Start: installing {what}"\n'
        + _logged(f"{builddep_command(repo)} {srpm}")
        + f'{builddep_command(repo)} {srpm} >> "$R/root.log" 2>&1 \\\n'
        + or_fail(f"installing {what}", f"could not install the {what} (see root.log)",
                  EXIT_DEPS)
        + f'state "Finish: installing {what}"\n'
    )  # fmt: skip


def _dynamic_requirements(repo: Repo, target: str) -> str:
    """%generate_buildrequires: rpmbuild -br exits 11 while some are missing;
    what it wrote is installed from the .nosrc.rpm's header (builddep)."""
    return f"""\
if grep -q '^%generate_buildrequires' "$SPEC"; then
    for round in 1 2 3 4 5 6 7 8; do
        "${{AS_USER[@]}}" "${{BUILD_ENV[@]}}" rpmbuild -br --target {q(target)} "$SPEC" \\
            >> "$R/build.log" 2>&1
        status=$?
        [ $status -eq 0 ] && break
        [ $status -eq 11 ] || fail rpmbuild "rpmbuild failed generating build requirements" \\
            {EXIT_BUILD}
        nosrc=$(ls -t {TOPDIR}/SRPMS/*.buildreqs.nosrc.rpm | head -n 1)
        [ -f "$nosrc" ] && [ ! -L "$nosrc" ] || fail rpmbuild "rpmbuild -br wrote no \\
.buildreqs.nosrc.rpm" {EXIT_BUILD}
        cp --no-dereference -- "$nosrc" {BUILDDIR}/adjutant-buildreqs.nosrc.rpm
""" + "        " + _builddep(repo, f"{BUILDDIR}/adjutant-buildreqs.nosrc.rpm",
                              "generated build requirements").replace("\n", "\n        ") + """\
    done
fi
"""


def build_script(
    *,
    repo: Repo,
    target: str,
    macros: Mapping[str, str],
    environment: Mapping[str, str],
    source_only: bool = False,
) -> str:
    """Rebuild the task's SRPM (/builddir/adjutant-input.src.rpm) with the tag's
    macros: binary RPMs and the SRPM for `target`, or only a new SRPM with
    `source_only`.  The BuildRequires come from the SRPM's header."""
    stage = "-bs" if source_only else "-ba"
    srpm = q(f"{BUILDDIR}/{INPUT_SRPM}")
    return (
        PRELUDE
        + _build_setup(macros, environment)
        + ("" if source_only else _builddep(repo, srpm, "build requirements"))
        + 'state "Start: rpmbuild"\n'
        + f'"${{AS_USER[@]}}" rpm -i {srpm} >> "$R/build.log" 2>&1 \\\n'
        + or_fail("rpmbuild", "could not unpack the SRPM", EXIT_BUILD)
        + f'SPEC=$(ls {TOPDIR}/SPECS/*.spec | head -n 1)\n'
        + ("" if source_only else _dynamic_requirements(repo, target))
        + f'"${{AS_USER[@]}}" "${{BUILD_ENV[@]}}" rpmbuild {stage} --target {q(target)} "$SPEC" '
          '>> "$R/build.log" 2>&1 \\\n'
        + f'    || fail rpmbuild "rpmbuild failed (see build.log)" {EXIT_BUILD}\n'
        + _record_installed("buildroot.tsv")
        + f'find {TOPDIR}/RPMS {TOPDIR}/SRPMS -type f -name "*.rpm" ! -name "*.nosrc.rpm" '
          '-exec cp --no-dereference -- {} "$R/" \\;\n'
        + 'state "Finish: rpmbuild"\n'
    )  # fmt: skip


SCM_DIR = f"{BUILDDIR}/scm"


# git never runs a command for a URL (ext::) nor follows one to a local path
GIT_SAFETY = "-c protocol.ext.allow=never -c protocol.file.allow=never"


def checkout_script(*, clone_url: str, ref: str, subdir: str, source_cmd: Sequence[str],
                    shown_url: Optional[str] = None) -> str:  # fmt: skip
    """Check the package's repository out (the only step with network) and run
    its source command (`make sources`) in it, as the build user.  `shown_url`
    (the URL without its password) is what state.log and errors say."""
    shown = shown_url or clone_url
    workdir = f"{SCM_DIR}/{subdir}" if subdir else SCM_DIR
    source = " ".join(q(a) for a in source_cmd)
    return (
        PRELUDE
        + BUILD_USER_SETUP
        + f'mkdir -p {SCM_DIR}\n[ ${{#AS_USER[@]}} -gt 0 ] && chown {BUILD_USER}: {SCM_DIR}\n'
        + say(f"Start: checkout of {shown}#{ref}")
        + 'L="$R/checkout.log"\n'
        + f'"${{AS_USER[@]}}" git {GIT_SAFETY} clone --no-checkout -- {q(clone_url)} {SCM_DIR} '
        + '>> "$L" 2>&1 \\\n'
        + or_fail("checkout", f"git clone of {shown} failed (see checkout.log)",
                  EXIT_CHECKOUT)
        + f'cd {SCM_DIR} && "${{AS_USER[@]}}" git checkout --quiet {q(ref)} -- >> "$L" 2>&1 \\\n'
        + or_fail("checkout", f"{ref} is not a commit, branch or tag of {shown}",
                  EXIT_CHECKOUT)
        + '"${AS_USER[@]}" git rev-parse HEAD > "$R/commit" 2>> "$L"\n'
        + f'cd {q(workdir)} 2>> "$L" \\\n'
        + or_fail("checkout", f"no directory {subdir} in the checkout", EXIT_CHECKOUT)
        + (say(f"Start: {' '.join(source_cmd)}")
           + f'"${{AS_USER[@]}}" {source} >> "$L" 2>&1 \\\n'
           + or_fail("checkout", f"{' '.join(source_cmd)} failed (see checkout.log)",
                     EXIT_CHECKOUT) if source_cmd else "")
        + 'state "Finish: checkout"\n'
    )  # fmt: skip


def srpm_from_checkout_script(*, subdir: str, macros: Mapping[str, str],
                              environment: Mapping[str, str],
                              source_layout: bool = True) -> str:  # fmt: skip
    """Build the SRPM from the checked out spec (no network).  A SPECS/ and
    SOURCES/ layout is accepted when kojid's support_rpm_source_layout is on."""
    checkout = f"{SCM_DIR}/{subdir}" if subdir else SCM_DIR
    layout = ('if [ -d "$C/SPECS" ]; then SPECDIR="$C/SPECS"; SOURCEDIR="$C/SOURCES"; '
              'else SPECDIR="$C"; SOURCEDIR="$C"; fi\n') if source_layout else \
        'SPECDIR="$C"; SOURCEDIR="$C"\n'  # fmt: skip
    return (
        PRELUDE
        + _build_setup(macros, environment)
        + f'C={q(checkout)}\n'
        + layout
        + 'SPECS=("$SPECDIR"/*.spec)\n'
        + '[ ${#SPECS[@]} -eq 1 ] && [ -f "${SPECS[0]}" ] || fail rpmbuild '
          f'"the checkout must hold exactly one spec file, it has ${{#SPECS[@]}}" {EXIT_BUILD}\n'
        + 'state "Start: rpmbuild -bs"\n'
        + '"${AS_USER[@]}" "${BUILD_ENV[@]}" rpmbuild -bs '
          '--define "_sourcedir $SOURCEDIR" --define "_specdir $SPECDIR" "${SPECS[0]}" '
          '>> "$R/build.log" 2>&1 \\\n'
        + f'    || fail rpmbuild "rpmbuild -bs failed (see build.log)" {EXIT_BUILD}\n'
        + _record_installed("buildroot.tsv")
        + f'find {TOPDIR}/SRPMS -type f -name "*.src.rpm" -exec cp --no-dereference -- {{}} "$R/" '
          '\\;\n'
        + 'state "Finish: rpmbuild -bs"\n'
    )  # fmt: skip
