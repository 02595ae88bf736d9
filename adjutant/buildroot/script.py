"""The scripts that run inside a task's containers, built as text by pure
functions (every value from outside shell-quoted) and tested as text.

A buildroot is made the way mock makes one from a bootstrap: two kinds of
container, both in the buildroot's user namespace (build_ids):

    bootstrap   the bootstrap image (its package manager and rpm), as root,
                with the buildroot at /buildroot: installs the tag's build
                group into an empty root (prepare_script), then the
                BuildRequires (deps_script) with `dnf --installroot`
    root        the buildroot itself as the container's filesystem (podman
                --rootfs), as the build user mockbuild (uid 1000, gid 135), no
                capabilities, no network: rpmbuild (build_script)

so nothing of the bootstrap image is in the buildroot, and everything in it
came from the tag's repo.  Root installs only dependencies: the group's
packages by name from comps, the BuildRequires with `dnf builddep` of the
SRPM (and of each `%generate_buildrequires` round's .nosrc.rpm), so nothing a
packager wrote is ever an argument of root's dnf.  The scripts and the inputs
(the SRPM, each round's .nosrc.rpm) are the daemon's, bound read-only at
/adjutant; a build step can change neither the next step's script nor its
input.

Each script writes the logs Koji users know into /builddir/result (the task's
work directory on the host, bound read-write): root.log (package manager
output), build.log (rpmbuild), state.log (timestamped phases), hw_info.log and
installed_pkgs.log; the unit's own journal has everything else.  Its exit
status names the phase that failed (EXIT_* below), so the daemon can tell a
packager which phase it was.  The tag's macros go to the build user's
~/.rpmmacros and its environment to rpmbuild alone, never to root's rpm or
dnf (as mock).
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
BUILD_GID = 135  # mock's group
BUILD_HOME = f"{BUILDDIR}/home"
# Where bootstrap containers see the buildroot they install into.
INSTALLROOT = "/buildroot"
# The package manager's cache in bootstrap containers: the task's own
# directory, outside the buildroot, seeded from the host's cache of packages
# fetched over topurl (downloads.py).
DNF_CACHE = "/var/cache/adjutant-dnf"
# The daemon's read-only directory of scripts and inputs, in every container.
INPUTS = "/adjutant"
# The SRPM a build starts from, under a name of ours: `dnf builddep` reads a
# file by its suffix, and a packager's name must not make it read a spec.
INPUT_SRPM = "input.src.rpm"
# Where the build step leaves a %generate_buildrequires round's .nosrc.rpm;
# the daemon copies it to INPUTS for the next deps step.
BUILDREQS_NOSRC = "adjutant-buildreqs.nosrc.rpm"

EXIT_SETUP = 20  # the buildroot could not be set up
EXIT_DEPS = 21  # a build requirement could not be installed
EXIT_BUILD = 22  # rpmbuild failed
EXIT_CHECKOUT = 23  # the SCM checkout or its source command failed
EXIT_MORE_DEPS = 24  # rpmbuild -br generated requirements that are not installed

# rpm -qa format of what the hub's buildroot list wants (kojihub's
# setBuildRootList rpm fields); tab separated, parsed by records.parse_rpm_list.
RPM_LIST_FORMAT = (
    "%{NAME}\\t%{VERSION}\\t%{RELEASE}\\t%{EPOCH}\\t%{ARCH}\\t%{SIGMD5}\\t%{SIZE}\\t%{BUILDTIME}\\n"
)
# mock's installed_pkgs.log
INSTALLED_FORMAT = "%{NEVRA} %{BUILDTIME} %{SIZE} installed\\n"


@dataclass(frozen=True)
class Repo:
    """The tag's repo for this task: a file:// URL under the mounted topdir or
    the hub's over topurl, the tag's mock.* options for the package manager
    that installs from it, and kojid's yum_proxy for its downloads."""

    url: str
    options: MockOptions = field(default_factory=MockOptions)
    proxy: Optional[str] = None


def q(value: str) -> str:
    return shlex.quote(value)


def say(message: str) -> str:
    """A state.log line; the message is quoted (it may hold a package name or a URL)."""
    return f"state {q(message)}\n"


def or_fail(phase: str, message: str, status: int) -> str:
    """Continuation of a command line: end the script with `status` if it fails."""
    return f"    || fail {q(phase)} {q(message)} {status}\n"


def dnf_command(repo: Repo) -> str:
    """The bootstrap's package manager (the tag's mock.package_manager),
    installing into the buildroot from the tag's repo and nothing else, with
    the tag's mock.yum options; its cache (and the packages it downloads)
    outside the buildroot, kept for the daemon to take into the host's."""
    options = repo.options
    words = [
        options.package_manager, "-y", f"--installroot={INSTALLROOT}",
        "--setopt=reposdir=/dev/null", "--setopt=install_weak_deps=False",
        f"--setopt=cachedir={DNF_CACHE}", "--setopt=keepcache=True",
        # the tag's repo is the hub's own (unsigned until signed later)
        "--no-gpgchecks" if options.package_manager == "dnf5" else "--nogpgcheck",
        f"--releasever={options.releasever or 'koji'}",
        q(f"--repofrompath=koji,{repo.url}"), "--repo=koji",
    ]
    if options.package_manager != "dnf5":
        # the image's own plugins stay out (a RHEL image's subscription-manager
        # would talk to its servers); builddep_command enables builddep alone
        words.append(q("--disableplugin=*"))
    if options.module_hotfixes:
        words.append("--setopt=koji.module_hotfixes=1")
    if options.best is not None:
        words.append(f"--setopt=best={int(options.best)}")
    if repo.proxy:
        words.append(q(f"--setopt=proxy={repo.proxy}"))
    return " ".join(words)


def builddep_command(repo: Repo) -> str:
    """`dnf builddep` (dnf 4 and 5); yum's is a program of its own."""
    if repo.options.package_manager == "yum":
        return "yum-builddep" + dnf_command(repo)[len("yum"):]
    if repo.options.package_manager == "dnf":
        return f"{dnf_command(repo)} --enableplugin=builddep builddep"
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
        for action, module in repo.options.module_setup_commands)


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

# Root's steps leave the logs to the build user, who appends to them next
# (chown -R changes links themselves and never follows one).
ROOT_PRELUDE = PRELUDE + f"""\
trap 'chown -R --no-dereference {BUILD_UID}:{BUILD_GID} "$R"' EXIT
"""

# The build user's steps: refuse to go on as root, whatever the image did.
USER_PRELUDE = PRELUDE + f"""\
[ "$(id -u)" != 0 ] || fail setup "this step runs as root; adjutant never builds as root" \\
    {EXIT_SETUP}
export HOME={BUILD_HOME}
mkdir -p "$HOME"
"""

HW_INFO = """\
{
  echo "CPU info:"; nproc; grep -m1 'model name' /proc/cpuinfo || true
  echo; echo "Memory:"; grep -E '^(MemTotal|MemAvailable|SwapTotal):' /proc/meminfo
  echo; echo "Storage:"; df -h /builddir
} > "$R/hw_info.log" 2>&1
"""

# The build user in the new root, as mock's (uid 1000, group mock 135), unless
# the root's own packages made one; and the mount point of the work directory.
BUILD_USER_ENTRY = f"""\
B={INSTALLROOT}
mkdir -p "$B/etc" "$B{BUILDDIR}" "$B/tmp" "$B/var/tmp"
chmod 1777 "$B/tmp" "$B/var/tmp"
grep -q '^{BUILD_USER}:' "$B/etc/passwd" 2>/dev/null \\
    || echo '{BUILD_USER}:x:{BUILD_UID}:{BUILD_GID}:Mock Build User:{BUILD_HOME}:/bin/sh' \\
        >> "$B/etc/passwd"
grep -q '^mock:' "$B/etc/group" 2>/dev/null || echo 'mock:x:{BUILD_GID}:{BUILD_USER}' \\
    >> "$B/etc/group"
"""


def _record_installed(name: str) -> str:
    """The buildroot's packages, as the bootstrap's rpm reads its database
    (the daemon copies the list out before the build user runs again)."""
    return f'rpm --root {INSTALLROOT} -qa --qf {q(RPM_LIST_FORMAT)} > "$R/{name}"\n'


# mock's installed_pkgs.log, once, by the step that builds: a log reaches the
# hub as it grows, so it is never written twice
INSTALLED_LOG = f'rpm -qa --qf {q(INSTALLED_FORMAT)} | sort > "$R/installed_pkgs.log"\n'


# dnf makes its cachedir under the installroot too, and leaves it empty there
NO_CACHE_IN_ROOT = f'rmdir "{INSTALLROOT}{DNF_CACHE}" 2>/dev/null || true\n'


def prepare_script(*, repo: Repo, group: str, packages: Sequence[str]) -> str:
    """Install the tag's build group (its packages, read from comps) into the
    empty root at /buildroot: the prepared buildroot, cached."""
    names = " ".join(q(p) for p in packages)
    return (
        ROOT_PRELUDE
        + say(f"Start: installing the buildroot group {group}: {' '.join(packages)}")
        + _module_setup(repo)
        + _logged(f"{dnf_command(repo)} install {names}")
        + f'{dnf_command(repo)} install {names} >> "$R/root.log" 2>&1 \\\n'
        + or_fail(f"installing {group}", f"could not install the group {group} (see root.log)",
                  EXIT_SETUP)
        + NO_CACHE_IN_ROOT
        + BUILD_USER_ENTRY
        + _record_installed("buildroot-group.tsv")
        + say(f"Finish: installing the buildroot group {group}")
    )


def deps_script(*, repo: Repo, srpm: str, what: str) -> str:
    """Install the requirements the SRPM (or .nosrc.rpm) `srpm`, a file of the
    daemon's under /adjutant, declares into the task's view at /buildroot."""
    return (
        ROOT_PRELUDE
        + f'state "Start: installing {what}"\n'
        + _logged(f"{builddep_command(repo)} {srpm}")
        + f'{builddep_command(repo)} {q(srpm)} >> "$R/root.log" 2>&1 \\\n'
        + or_fail(f"installing {what}", f"could not install the {what} (see root.log)",
                  EXIT_DEPS)
        + NO_CACHE_IN_ROOT
        + _record_installed("buildroot.tsv")
        + f'state "Finish: installing {what}"\n'
    )


def _user_macros(macros: Mapping[str, str]) -> str:
    """The tag's macros in the build user's ~/.rpmmacros (read by rpmbuild and
    the user's rpm -i; root's rpm and dnf are the bootstrap's, which never
    read it)."""
    text = "".join(f"%{name} {value}\n" for name, value in {**macros, "_topdir": TOPDIR}.items())
    return f"printf '%s' {q(text)} > \"$HOME/.rpmmacros\"\n"


def _build_environment(environment: Mapping[str, str]) -> str:
    """BUILD_ENV: `env NAME=value ...` for rpmbuild's command line only."""
    pairs = " ".join(q(f"{name}={value}") for name, value in environment.items())
    return f"BUILD_ENV=(env {pairs})\n" if pairs else "BUILD_ENV=(env)\n"


def _build_setup(macros: Mapping[str, str], environment: Mapping[str, str]) -> str:
    """The start of every rpmbuild step: hw_info.log, the tag's macros (the
    user's) and environment (rpmbuild's), an empty rpmbuild tree."""
    return ('state "Start: build setup"\n' + HW_INFO + _user_macros(macros)
            + _build_environment(environment)
            + f'rm -rf {TOPDIR}\nmkdir -p {TOPDIR}\n'
            + 'state "Note: building as $(id -un 2>/dev/null) (uid $(id -u))"\n')


def _dynamic_requirements(target: str) -> str:
    """%generate_buildrequires: rpmbuild -br exits 11 while some are missing;
    the step then leaves the .nosrc.rpm (whose header names them) and ends
    with EXIT_MORE_DEPS, and the daemon has them installed before the next."""
    return f"""\
if grep -q '^%generate_buildrequires' "$SPEC"; then
    "${{BUILD_ENV[@]}}" rpmbuild -br --target {q(target)} "$SPEC" >> "$R/build.log" 2>&1
    status=$?
    if [ $status -eq 11 ]; then
        nosrc=$(ls -t {TOPDIR}/SRPMS/*.buildreqs.nosrc.rpm 2>/dev/null | head -n 1)
        [ -n "$nosrc" ] && [ -f "$nosrc" ] && [ ! -L "$nosrc" ] || fail rpmbuild \\
            "rpmbuild -br wrote no .buildreqs.nosrc.rpm" {EXIT_BUILD}
        rm -f {BUILDDIR}/{BUILDREQS_NOSRC}
        cp --no-dereference -- "$nosrc" {BUILDDIR}/{BUILDREQS_NOSRC}
        state "Finish: rpmbuild -br (generated build requirements to install)"
        exit {EXIT_MORE_DEPS}
    fi
    [ $status -eq 0 ] || fail rpmbuild "rpmbuild failed generating build requirements" \\
        {EXIT_BUILD}
fi
"""


def build_script(
    *,
    target: str,
    macros: Mapping[str, str],
    environment: Mapping[str, str],
    source_only: bool = False,
) -> str:
    """As the build user in the buildroot: rebuild the task's SRPM
    (/adjutant/input.src.rpm) with the tag's macros, binary RPMs and the SRPM
    for `target`, or only a new SRPM with `source_only`.  Its requirements
    are installed before (deps_script)."""
    stage = "-bs" if source_only else "-ba"
    return (
        USER_PRELUDE
        + _build_setup(macros, environment)
        + 'state "Start: rpmbuild"\n'
        + f'rpm -i {q(f"{INPUTS}/{INPUT_SRPM}")} >> "$R/build.log" 2>&1 \\\n'
        + or_fail("rpmbuild", "could not unpack the SRPM", EXIT_BUILD)
        + f'SPEC=$(ls {TOPDIR}/SPECS/*.spec | head -n 1)\n'
        + ("" if source_only else _dynamic_requirements(target))
        + INSTALLED_LOG
        + f'"${{BUILD_ENV[@]}}" rpmbuild {stage} --target {q(target)} "$SPEC" '
          '>> "$R/build.log" 2>&1 \\\n'
        + f'    || fail rpmbuild "rpmbuild failed (see build.log)" {EXIT_BUILD}\n'
        + f'find {TOPDIR}/RPMS {TOPDIR}/SRPMS -type f -name "*.rpm" ! -name "*.nosrc.rpm" '
          '-exec cp --no-dereference -- {} "$R/" \\;\n'
        + 'state "Finish: rpmbuild"\n'
    )


SCM_DIR = f"{BUILDDIR}/scm"


# git never runs a command for a URL (ext::) nor follows one to a local path
GIT_SAFETY = "-c protocol.ext.allow=never -c protocol.file.allow=never"


def checkout_script(*, clone_url: str, ref: str, subdir: str, source_cmd: Sequence[str],
                    shown_url: Optional[str] = None) -> str:
    """Check the package's repository out (the only step with network) and run
    its source command (`make sources`) in it, as the build user.  `shown_url`
    (the URL without its password) is what state.log and errors say."""
    shown = shown_url or clone_url
    workdir = f"{SCM_DIR}/{subdir}" if subdir else SCM_DIR
    source = " ".join(q(a) for a in source_cmd)
    return (
        USER_PRELUDE
        + f'rm -rf {SCM_DIR}\nmkdir -p {SCM_DIR}\n'
        + say(f"Start: checkout of {shown}#{ref}")
        + 'L="$R/checkout.log"\n'
        + f'git {GIT_SAFETY} clone --no-checkout -- {q(clone_url)} {SCM_DIR} '
        + '>> "$L" 2>&1 \\\n'
        + or_fail("checkout", f"git clone of {shown} failed (see checkout.log)",
                  EXIT_CHECKOUT)
        + f'cd {SCM_DIR} && git checkout --quiet {q(ref)} -- >> "$L" 2>&1 \\\n'
        + or_fail("checkout", f"{ref} is not a commit, branch or tag of {shown}",
                  EXIT_CHECKOUT)
        + 'git rev-parse HEAD > "$R/commit" 2>> "$L"\n'
        + f'cd {q(workdir)} 2>> "$L" \\\n'
        + or_fail("checkout", f"no directory {subdir} in the checkout", EXIT_CHECKOUT)
        + (say(f"Start: {' '.join(source_cmd)}")
           + f'{source} >> "$L" 2>&1 \\\n'
           + or_fail("checkout", f"{' '.join(source_cmd)} failed (see checkout.log)",
                     EXIT_CHECKOUT) if source_cmd else "")
        + 'state "Finish: checkout"\n'
    )


def srpm_from_checkout_script(*, subdir: str, macros: Mapping[str, str],
                              environment: Mapping[str, str],
                              source_layout: bool = True) -> str:
    """Build the SRPM from the checked out spec (no network).  A SPECS/ and
    SOURCES/ layout is accepted when kojid's support_rpm_source_layout is on."""
    checkout = f"{SCM_DIR}/{subdir}" if subdir else SCM_DIR
    layout = ('if [ -d "$C/SPECS" ]; then SPECDIR="$C/SPECS"; SOURCEDIR="$C/SOURCES"; '
              'else SPECDIR="$C"; SOURCEDIR="$C"; fi\n') if source_layout else \
        'SPECDIR="$C"; SOURCEDIR="$C"\n'
    return (
        USER_PRELUDE
        + _build_setup(macros, environment)
        + f'C={q(checkout)}\n'
        + layout
        + 'SPECS=("$SPECDIR"/*.spec)\n'
        + '[ ${#SPECS[@]} -eq 1 ] && [ -f "${SPECS[0]}" ] || fail rpmbuild '
          f'"the checkout must hold exactly one spec file, it has ${{#SPECS[@]}}" {EXIT_BUILD}\n'
        + 'state "Start: rpmbuild -bs"\n'
        + INSTALLED_LOG
        + '"${BUILD_ENV[@]}" rpmbuild -bs '
          '--define "_sourcedir $SOURCEDIR" --define "_specdir $SPECDIR" "${SPECS[0]}" '
          '>> "$R/build.log" 2>&1 \\\n'
        + f'    || fail rpmbuild "rpmbuild -bs failed (see build.log)" {EXIT_BUILD}\n'
        + f'find {TOPDIR}/SRPMS -type f -name "*.src.rpm" -exec cp --no-dereference -- {{}} "$R/" '
          '\\;\n'
        + 'state "Finish: rpmbuild -bs"\n'
    )
