"""The scripts that run inside a task's containers, built as text by pure
functions (every value from outside shell-quoted) and tested as text.

Each script writes the logs Koji users know into /builddir/result (the task's
work directory on the host, bound read-write): root.log (package manager
output), build.log (rpmbuild), state.log (timestamped phases), hw_info.log and
installed_pkgs.log; the unit's own journal has everything else.  Its exit
status names the phase that failed (EXIT_* below), so the daemon can tell a
packager which phase it was.

Root does the package installs; rpmbuild runs as the unprivileged user
`mockbuild` (uid 1000) when the image has useradd and setpriv, and says so in
state.log when it cannot.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

BUILDDIR = "/builddir"
RESULT = f"{BUILDDIR}/result"
TOPDIR = f"{BUILDDIR}/build"
BUILD_USER = "mockbuild"
BUILD_UID = 1000

EXIT_SETUP = 20  # the buildroot could not be set up
EXIT_DEPS = 21  # a build requirement could not be installed
EXIT_BUILD = 22  # rpmbuild failed
EXIT_CHECKOUT = 23  # the SCM checkout or its source command failed

# rpm -qa format of what the hub's buildroot list wants (koji-builder-protocol.md
# "Buildroots"); tab separated, parsed by records.parse_rpm_list.
RPM_LIST_FORMAT = (
    "%{NAME}\\t%{VERSION}\\t%{RELEASE}\\t%{EPOCH}\\t%{ARCH}\\t%{SIGMD5}\\t%{SIZE}\\t%{BUILDTIME}\\n"
)
# mock's installed_pkgs.log
INSTALLED_FORMAT = "%{NEVRA} %{BUILDTIME} %{SIZE} installed\\n"


@dataclass(frozen=True)
class Repo:
    """The tag's repo for this task: a file:// URL under the mounted topdir."""

    url: str


def q(value: str) -> str:
    return shlex.quote(value)


def say(message: str) -> str:
    """A state.log line; the message is quoted (it may hold a package name or a URL)."""
    return f"state {q(message)}\n"


def or_fail(phase: str, message: str, status: int) -> str:
    """Continuation of a command line: end the script with `status` if it fails."""
    return f"    || fail {q(phase)} {q(message)} {status}\n"


def dnf_command(repo: Repo) -> str:
    """dnf limited to the tag's repo and nothing else on the image."""
    return " ".join([
        "dnf", "-y", "--setopt=reposdir=/dev/null", "--setopt=install_weak_deps=False",
        "--setopt=keepcache=False", "--nogpgcheck", "--releasever=koji",
        q(f"--repofrompath=koji,{repo.url}"), "--repo=koji",
    ])  # fmt: skip


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
AS_USER=()
if id -u {BUILD_USER} >/dev/null 2>&1 || useradd -m -u {BUILD_UID} -d /builddir/home \\
        -s /bin/sh {BUILD_USER} >/dev/null 2>&1; then
    if command -v setpriv >/dev/null; then
        AS_USER=(setpriv --reuid={BUILD_USER} --regid={BUILD_USER} --init-groups --)
    fi
fi
if [ ${{#AS_USER[@]}} -eq 0 ]; then
    state "Note: this image has no useradd/setpriv; rpmbuild runs as root"
fi
mkdir -p {TOPDIR}
[ ${{#AS_USER[@]}} -gt 0 ] && chown -R {BUILD_USER}: {TOPDIR} /builddir/home 2>/dev/null
export HOME=/builddir/home
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
        + f'{dnf_command(repo)} install {names} >> "$R/root.log" 2>&1 \\\n'
        + or_fail(f"installing {group}", f"could not install the group {group} (see root.log)",
                  EXIT_SETUP)
        + f'{dnf_command(repo)} clean all >> "$R/root.log" 2>&1\n'
        + _record_installed("buildroot-group.tsv")
        + say(f"Finish: installing the buildroot group {group}")
    )  # fmt: skip


def _macros(macros: Mapping[str, str]) -> str:
    text = "".join(f"%{name} {value}\n" for name, value in macros.items())
    return f"mkdir -p /etc/rpm\nprintf '%s' {q(text)} > /etc/rpm/macros.koji\n"


def _environment(environment: Mapping[str, str]) -> str:
    return "".join(f"export {name}={q(value)}\n" for name, value in environment.items())


def _build_setup(macros: Mapping[str, str], environment: Mapping[str, str]) -> str:
    """The start of every rpmbuild step: hw_info.log, the tag's macros and environment."""
    return 'state "Start: build setup"\n' + HW_INFO + _macros(macros) + _environment(environment)


def _install_requirements(repo: Repo, requires: Sequence[str]) -> str:
    if not requires:
        return 'state "Note: no build requirements beyond the buildroot"\n'
    args = " ".join(q(r) for r in requires)
    return (
        'state "Start: installing build requirements"\n'
        + f'{dnf_command(repo)} install {args} >> "$R/root.log" 2>&1 \\\n'
        + or_fail("installing build requirements",
                  "could not install the build requirements (see root.log)", EXIT_DEPS)
        + 'state "Finish: installing build requirements"\n'
    )  # fmt: skip


def _dynamic_requirements(repo: Repo, target: str) -> str:
    """%generate_buildrequires: rpmbuild -br exits 11 while some are missing."""
    return f"""\
if grep -q '^%generate_buildrequires' "$SPEC"; then
    for round in 1 2 3 4 5 6 7 8; do
        "${{AS_USER[@]}}" rpmbuild -br --target {q(target)} --define "_topdir {TOPDIR}" \\
            "$SPEC" >> "$R/build.log" 2>&1
        status=$?
        [ $status -eq 0 ] && break
        [ $status -eq 11 ] || fail rpmbuild "rpmbuild failed generating build requirements" \\
            {EXIT_BUILD}
        nosrc=$(ls -t {TOPDIR}/SRPMS/*.buildreqs.nosrc.rpm | head -n 1)
        mapfile -t dynamic < <(rpm -qp --requires "$nosrc" | grep -v '^rpmlib(')
        state "Start: installing generated build requirements (round $round)"
        {dnf_command(repo)} install "${{dynamic[@]}}" >> "$R/root.log" 2>&1 \\
            || fail "installing build requirements" "could not install the generated \\
build requirements (see root.log)" {EXIT_DEPS}
    done
fi
"""


def build_script(
    *,
    repo: Repo,
    srpm: str,
    target: str,
    macros: Mapping[str, str],
    environment: Mapping[str, str],
    requires: Sequence[str],
    source_only: bool = False,
) -> str:
    """Rebuild `srpm` (a file in /builddir) with the tag's macros: binary RPMs and
    the SRPM for `target`, or only a new SRPM with `source_only`."""
    stage = "-bs" if source_only else "-ba"
    return (
        PRELUDE
        + _build_setup(macros, environment)
        + _install_requirements(repo, requires)
        + BUILD_USER_SETUP
        + 'state "Start: rpmbuild"\n'
        + f'"${{AS_USER[@]}}" rpm -i --define "_topdir {TOPDIR}" {q(f"{BUILDDIR}/{srpm}")} '
          f'>> "$R/build.log" 2>&1 \\\n'
        + or_fail("rpmbuild", f"could not unpack {srpm}", EXIT_BUILD)
        + f'SPEC=$(ls {TOPDIR}/SPECS/*.spec | head -n 1)\n'
        + ("" if source_only else _dynamic_requirements(repo, target))
        + f'"${{AS_USER[@]}}" rpmbuild {stage} --target {q(target)} '
          f'--define "_topdir {TOPDIR}" "$SPEC" >> "$R/build.log" 2>&1 \\\n'
        + f'    || fail rpmbuild "rpmbuild failed (see build.log)" {EXIT_BUILD}\n'
        + _record_installed("buildroot.tsv")
        + f'find {TOPDIR}/RPMS {TOPDIR}/SRPMS -name "*.rpm" ! -name "*.nosrc.rpm" '
          '-exec cp {} "$R/" \\;\n'
        + 'state "Finish: rpmbuild"\n'
    )  # fmt: skip


SCM_DIR = f"{BUILDDIR}/scm"


def checkout_script(*, clone_url: str, ref: str, subdir: str, source_cmd: Sequence[str]) -> str:
    """Check the package's repository out (the only step with network) and run
    its source command (`make sources`) in it, as the build user."""
    workdir = f"{SCM_DIR}/{subdir}" if subdir else SCM_DIR
    source = " ".join(q(a) for a in source_cmd)
    return (
        PRELUDE
        + BUILD_USER_SETUP
        + f'mkdir -p {SCM_DIR}\n[ ${{#AS_USER[@]}} -gt 0 ] && chown {BUILD_USER}: {SCM_DIR}\n'
        + say(f"Start: checkout of {clone_url}#{ref}")
        + 'L="$R/checkout.log"\n'
        + f'"${{AS_USER[@]}}" git clone --no-checkout {q(clone_url)} {SCM_DIR} >> "$L" 2>&1 \\\n'
        + or_fail("checkout", f"git clone of {clone_url} failed (see checkout.log)",
                  EXIT_CHECKOUT)
        + f'cd {SCM_DIR} && "${{AS_USER[@]}}" git checkout --quiet {q(ref)} >> "$L" 2>&1 \\\n'
        + or_fail("checkout", f"{ref} is not a commit, branch or tag of {clone_url}",
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
                              environment: Mapping[str, str]) -> str:  # fmt: skip
    """Build the SRPM from the checked out spec (no network).  A SPECS/ and
    SOURCES/ layout is accepted as kojid's support_rpm_source_layout does."""
    checkout = f"{SCM_DIR}/{subdir}" if subdir else SCM_DIR
    return (
        PRELUDE
        + _build_setup(macros, environment)
        + BUILD_USER_SETUP
        + f'C={q(checkout)}\n'
        + 'if [ -d "$C/SPECS" ]; then SPECDIR="$C/SPECS"; SOURCEDIR="$C/SOURCES"; '
          'else SPECDIR="$C"; SOURCEDIR="$C"; fi\n'
        + 'SPECS=("$SPECDIR"/*.spec)\n'
        + '[ ${#SPECS[@]} -eq 1 ] && [ -f "${SPECS[0]}" ] || fail rpmbuild '
          f'"the checkout must hold exactly one spec file, it has ${{#SPECS[@]}}" {EXIT_BUILD}\n'
        + 'state "Start: rpmbuild -bs"\n'
        + f'"${{AS_USER[@]}}" rpmbuild -bs --define "_topdir {TOPDIR}" '
          '--define "_sourcedir $SOURCEDIR" --define "_specdir $SPECDIR" "${SPECS[0]}" '
          '>> "$R/build.log" 2>&1 \\\n'
        + f'    || fail rpmbuild "rpmbuild -bs failed (see build.log)" {EXIT_BUILD}\n'
        + _record_installed("buildroot.tsv")
        + f'find {TOPDIR}/SRPMS -name "*.src.rpm" -exec cp {{}} "$R/" \\;\n'
        + 'state "Finish: rpmbuild -bs"\n'
    )  # fmt: skip
