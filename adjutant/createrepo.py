"""The repodata of one arch of a Koji repo, made as kojid's createrepo task
makes it (kojid CreaterepoTask.create_local_repo and merge_repos), as argv
lists and the one container script that runs them, built by pure functions.

The container sees, read-only at their own paths, the repo directory the hub
wrote (kojihub repo_init: groups/comps.xml; per arch pkglist, blocklist and
toplink, a relative link to topdir) and topdir's packages/, so pkglist's
`toplink/packages/...` lines resolve as on the hub; the previous repo's
repodata read-only at OLD_REPODATA when it is reused (--update).  It writes
only into the task's work directory: the repodata at DATADIR, the logs
kojid uploads (createrepo.log, mergerepos.log) beside it.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional

BUILDDIR = "/builddir"
OUTDIR = f"{BUILDDIR}/repo"
DATADIR = f"{OUTDIR}/repodata"
PREMERGE = f"{BUILDDIR}/repo-premerge"
OLD_REPODATA = "/adjutant-oldrepodata"
CREATEREPO_LOG = "createrepo.log"
MERGEREPOS_LOG = "mergerepos.log"

EXIT_CREATEREPO = 30  # createrepo_c failed
EXIT_MERGEREPO = 31  # mergerepo_c failed

# kojid CreaterepoTask.handler: the note left in an empty repo's repodata
EMPTY_REPO_TEXT = "This repo is empty because its tag has no content for this arch\n"
MERGE_MODES = ("koji", "simple", "bare")
# mergerepo_c versions that have an option (kojid merge_repos)
SIMPLE_SINCE = (0, 13, 0)
ARCH_EXPAND_SINCE = (0, 15, 11)


class CreaterepoError(ValueError):
    """The tag's external repos cannot be merged as asked."""


@dataclass(frozen=True)
class Job:
    arch: str
    # <topdir>/repos/<tag>/<repo id>/<arch>, the same path in the container
    repodir: str
    # the repo's groups/comps.xml, when the hub wrote one
    groupdata: Optional[str] = None
    # whether pkglist has lines (kojid: an empty one is not passed)
    has_packages: bool = True
    # whether the old repodata is at OLD_REPODATA, to be updated from
    update: bool = False
    skip_stat: bool = True
    use_createrepo_c: bool = True
    # the external repos' URLs for this arch ($arch substituted), in priority order
    external_urls: tuple[str, ...] = ()
    merge_mode: str = "koji"


def external_urls(external_repos: Sequence[Mapping[str, Any]], arch: str) -> tuple[str, ...]:
    """The URLs mergerepo_c reads for `arch`: each external repo whose arches
    (if it names any) include it, `$arch` in its URL replaced (kojid merge_repos)."""
    urls = []
    for repo in external_repos:
        arches = repo.get("arches")
        if arches and arch not in str(arches).split():
            continue
        urls.append(str(repo["url"]).replace("$arch", arch))
    return tuple(urls)


def merge_mode(external_repos: Sequence[Mapping[str, Any]]) -> str:
    """The one merge mode of the tag's external repos (kojid merge_repos
    refuses a mix)."""
    modes = sorted({str(r.get("merge_mode") or "koji") for r in external_repos})
    if len(modes) > 1:
        raise CreaterepoError(f"Found multiple merge modes for external repos: {modes}")
    mode = modes[0] if modes else "koji"
    if mode not in MERGE_MODES:
        raise CreaterepoError(f"unknown merge mode {mode!r} of an external repo")
    return mode


def createrepo_argv(job: Job) -> list[str]:
    """kojid create_local_repo's command: createrepo_c (or the createrepo the
    image has, use_createrepo_c off) reading pkglist against the repo dir."""
    argv = ["createrepo_c", "--error-exit-val"] if job.use_createrepo_c else ["createrepo"]
    argv += ["-vd", "-o", OUTDIR]
    if job.has_packages:
        argv += ["-i", f"{job.repodir}/pkglist"]
    if job.groupdata:
        argv += ["-g", job.groupdata]
    if job.update and job.has_packages:
        argv.append("--update")
        if job.skip_stat:
            argv.append("--skip-stat")
    argv.append(job.repodir if job.has_packages else OUTDIR)
    return argv


def mergerepo_argv(job: Job, *, arch_expand: bool) -> list[str]:
    """kojid merge_repos's command (mergerepo_c; kojid's own python mergerepos
    is python 2 only): our repo first, then the external ones.  `arch_expand`
    when the image's mergerepo_c has it (0.15.11)."""
    if job.merge_mode == "simple":
        argv = ["mergerepo_c", "--koji", "--simple"]
    elif job.merge_mode == "bare":
        argv = ["mergerepo_c", "--pkgorigins", "--all"]
    else:
        argv = ["mergerepo_c", "--koji"]
    if job.merge_mode != "bare":
        argv += ["-b", f"{job.repodir}/blocklist"]
    argv += ["-a", job.arch, "-o", OUTDIR]
    if arch_expand:
        argv.append("--arch-expand")
    if job.groupdata:
        argv += ["-g", job.groupdata]
    for url in (f"file://{PREMERGE}/", *job.external_urls):
        argv += ["-r", url]
    return argv


def _version_tuple(version: tuple[int, int, int]) -> str:
    return ".".join(str(part) for part in version)


def script(job: Job) -> str:
    """The container's script: the old repodata copied in for --update (its
    pkgorigins.gz dropped, mergerepo_c writes a new one), createrepo, then the
    merge with the external repos or the EMPTY_REPO note.  Its exit status
    says which failed."""
    q = shlex.quote
    log = f"{BUILDDIR}/{CREATEREPO_LOG}"
    lines = [
        "set -u",
        "umask 022",
        f"mkdir -p {q(OUTDIR)} {q(BUILDDIR)}/tmp",
    ]
    if job.update and job.has_packages:
        lines += [
            f"cp -r {q(OLD_REPODATA)} {q(DATADIR)} || exit {EXIT_CREATEREPO}",
            f"rm -f {q(DATADIR)}/pkgorigins.gz",
        ]
    lines.append(f"{shlex.join(createrepo_argv(job))} >>{q(log)} 2>&1 "
                 f"|| exit {EXIT_CREATEREPO}")
    if job.external_urls:
        mlog = f"{BUILDDIR}/{MERGEREPOS_LOG}"
        lines += [
            # kojid's _get_mergerepo_c_version: "Version: 0.15.11 (Features: ...)"
            "version=$(mergerepo_c --version 2>/dev/null"
            " | sed -n 's/^Version: \\([0-9.]*\\).*/\\1/p')",
            "at_least() { [ -n \"$version\" ] && "
            "[ \"$(printf '%s\\n' \"$1\" \"$version\" | sort -V | head -n1)\" = \"$1\" ]; }",
        ]
        if job.merge_mode == "simple":
            since = _version_tuple(SIMPLE_SINCE)
            lines.append(f"at_least {since} || {{ echo \"mergerepo_c ${{version:-?}} is too old: "
                         f"{since} needed for --simple\" >>{q(mlog)}; exit {EXIT_MERGEREPO}; }}")
        plain = shlex.join(mergerepo_argv(job, arch_expand=False))
        expanded = shlex.join(mergerepo_argv(job, arch_expand=True))
        lines += [
            f"mv {q(OUTDIR)} {q(PREMERGE)} && mkdir {q(OUTDIR)} || exit {EXIT_MERGEREPO}",
            f"if at_least {_version_tuple(ARCH_EXPAND_SINCE)}; then",
            f"    TMPDIR={q(BUILDDIR)}/tmp {expanded} >>{q(mlog)} 2>&1 || exit {EXIT_MERGEREPO}",
            "else",
            f"    TMPDIR={q(BUILDDIR)}/tmp {plain} >>{q(mlog)} 2>&1 || exit {EXIT_MERGEREPO}",
            "fi",
        ]
    elif not job.has_packages:
        lines.append(f"printf %s {q(EMPTY_REPO_TEXT)} >{q(DATADIR)}/EMPTY_REPO")
    return "\n".join(lines) + "\n"
