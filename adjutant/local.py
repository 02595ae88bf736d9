"""`adjutant build-local SRPM --tag TAG`: a packager rebuilds an SRPM in the
buildroot Koji would give it, on their own machine, with no hub task (as
`mock --rebuild` does with a Koji-made mock config).

The buildroot is a buildArch's, step for step: the tag's READY repo (over
topurl, or under topdir where the hub's files are mounted), its build
config and mock.* extras, the same bootstrap image choice, an empty root
installed from the repo only, the SRPM's BuildRequires as dependencies,
rpmbuild as the unprivileged build user.  Each step is a transient unit
(`adjutant-task-<id>.service`) as a daemon's would be, so this needs root
and systemd, as the daemon does.

The hub is only read, anonymously (LocalHub): what a task records there
(the buildroot, its state and its rpm list) is kept out.  The local task id
is above any Koji task id (kojihub's task ids are int4), so it never names a
hub task; everything of it lives in one scratch directory,
<buildroot_dir>/local/<random>/ (the overlays need buildroot_dir's real
filesystem; a daemon there touches only roots/, views/ and downloads/),
removed at the end, the RPMs and logs copied to the results directory first.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Callable, Optional

from adjutant.buildroot.core import Buildroot
from adjutant.buildroot.roots import remove_partials, remove_view
from adjutant.buildroot.services import BuildrootServices
from adjutant.buildroot.srpm import read_srpm_for
from adjutant.config import Config, runner_settings
from adjutant.errors import AdjutantError
from adjutant.hub.session import Hub, HubError, anonymous
from adjutant.runner.outcome import Outcome
from adjutant.runner.properties import task_unit_name
from adjutant.runner.runner import TaskRunner
from adjutant.runner.spec import TaskSpec
from adjutant.tasks.base import LOCAL_TASK_IDS, Memo, TaskContext
from adjutant.tasks.rpmbuild import collect_results
from adjutant.untrusted import remove_tree

# What a task would record on the hub: kept out, answered here.
RECORDED = {"host.newBuildRoot": 0, "host.setBuildRootList": None,
            "host.setBuildRootState": None, "host.updateBuildRootList": None}


class LocalHub(Hub):
    """The hub, read only: read calls go to it without a login; the
    buildroot's records are answered here; any other call is refused (a
    local build never changes the hub)."""

    def call_blocking(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        if name in RECORDED:
            return RECORDED[name]
        if name.startswith("host.") or name in ("rawUpload", "uploadFile"):
            raise AdjutantError(f"build-local makes no hub call {name}")
        return super().call_blocking(name, *args, **kwargs)


def local_task_id() -> int:
    return LOCAL_TASK_IDS + os.getpid()


def scratch_config(config: Config, scratch: Path) -> Config:
    """The daemon's settings, with every directory of the build in `scratch`
    (none shared with a daemon on this host)."""
    return dataclasses.replace(
        config, workdir=scratch / "work", state_dir=scratch / "state",
        log_dir=scratch / "logs", buildroot_dir=scratch / "buildroots",
        failed_buildroot_lifetime=0)


class Progress:
    """mock's kind of progress: each step as it starts, then how it ended."""

    def __init__(self, out: Callable[[str], None]) -> None:
        self.out = out
        self.start = time.monotonic()

    def __call__(self, text: str) -> None:
        self.out(f"[{time.monotonic() - self.start:6.1f}s] {text}")


class LocalContext(TaskContext):
    """A TaskContext whose steps are shown as they run."""

    progress: Optional[Progress] = None

    async def run_container(self, step: str, spec: TaskSpec) -> Outcome:
        if self.progress:
            self.progress(f"{step}: started as {task_unit_name(self.task_id)}")
        outcome = await super().run_container(step, spec)
        if self.progress:
            self.progress(f"{step}: {outcome.summary()}")
        return outcome


async def find_repo(hub: Hub, tag: str) -> int:
    import koji

    try:
        repo = await hub.call("getRepo", tag, state=koji.REPO_READY)
    except HubError as exc:
        raise AdjutantError(f"tag {tag}: {exc}") from None
    if not repo:
        raise AdjutantError(f"tag {tag} has no READY repo on the hub (koji regen-repo {tag})")
    return int(repo["id"])


async def copy_logs(ctx: TaskContext, buildroot: Buildroot, resultdir: Path) -> list[Path]:
    listing = await ctx.in_workdir(lambda d: d.list_regular("result", "*.log"))
    copied = []
    for name in sorted(listing.files):
        copy = await buildroot.copy_result(name, max_size=256 * 1024**2)
        copied.append(Path(shutil.copy(copy, resultdir / name)))
    return copied


@contextlib.asynccontextmanager
async def scratch_task(config: Config, task_id: int) -> AsyncIterator[Config]:
    """The scratch directory, and at the end: no unit, view or file left."""
    parent = config.buildroot_dir / "local"
    parent.mkdir(mode=0o711, parents=True, exist_ok=True)
    top = Path(tempfile.mkdtemp(prefix=f"{task_id}-", dir=parent))
    # searchable by others, as a view's directory (buildroot/roots.py TaskView.mount)
    for path in (parent, top):
        os.chmod(path, 0o711)
    local = scratch_config(config, top)
    try:
        yield local
    finally:
        with contextlib.suppress(OSError, AdjutantError):
            await remove_view(local, task_id)
            await remove_partials(local, task_id)
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: remove_tree(top, missing_ok=True))


async def build(config: Config, srpm_path: Path, *, tag: str, arch: str, resultdir: Path,
                out: Callable[[str], None]) -> list[Path]:
    """The SRPM rebuilt for `arch` in the tag's buildroot; the RPMs and logs
    in `resultdir`.  BuildError (with the packager's reason) if it fails."""
    srpm = read_srpm_for(srpm_path, arch)  # SourceRPMError: one line, as any AdjutantError
    progress = Progress(out)
    task_id = local_task_id()
    hub = LocalHub(anonymous(config).session)
    repo_id = await find_repo(hub, tag)
    progress(f"{srpm.nvr} for {arch} in tag {tag}'s repo {repo_id} from {config.server}")
    resultdir.mkdir(parents=True, exist_ok=True)
    async with scratch_task(config, task_id) as local:
        runner = TaskRunner(dataclasses.replace(runner_settings(local),
                                                task_ids=(LOCAL_TASK_IDS, 2**63)))
        await runner.open(reattach=False)
        ctx = LocalContext(task_id=task_id, method="buildArch", config=local, hub=hub,
                           runner=runner, memo=Memo(local.state_dir / "memo.json"),
                           wakeup=asyncio.Event(), services=BuildrootServices(local),
                           description=f"adjutant build-local: {srpm.nvr} ({arch}, {tag})")
        ctx.progress = progress
        ctx.workdir.mkdir(parents=True)
        buildroot = Buildroot(ctx, tag=tag, repo_id=repo_id, arch=arch, group="build")
        try:
            await buildroot.load()
            await buildroot.place_input(srpm_path)
            progress("preparing the buildroot (the tag's build group from its repo)")
            await buildroot.prepare()
            try:
                outcome = await buildroot.rpmbuild(target=arch)
                await buildroot.conclude(outcome, f"building {srpm.nvr}")
                built = await collect_results(ctx, buildroot)
            finally:
                logs = await copy_logs(ctx, buildroot, resultdir)
                await buildroot.expire()
            results = [Path(shutil.copy(p, resultdir / p.name)) for p in built]
        finally:
            with contextlib.suppress(AdjutantError):
                await runner.remove_container(task_id)
            await runner.close()
    give_to_invoker([resultdir, *logs, *results])
    return results + logs


def give_to_invoker(paths: list[Path]) -> None:
    """Run through sudo: the results are the packager's, as mock's are."""
    uid, gid = os.environ.get("SUDO_UID"), os.environ.get("SUDO_GID")
    if os.geteuid() != 0 or not (uid and gid and uid.isdigit() and gid.isdigit()):
        return
    for path in paths:
        os.chown(path, int(uid), int(gid), follow_symlinks=False)


def main(config: Config, srpm: Path, *, tag: str, arch: Optional[str], resultdir: Path,
         out: Callable[[str], None]) -> int:
    import koji

    if config.server is None:
        raise AdjutantError("build-local needs the hub: --hub URL, [kojid] server in the "
                            "config, or a koji profile with server")
    if not srpm.is_file():
        raise AdjutantError(f"{srpm}: no such file")
    arch = arch or koji.canonArch(os.uname().machine)
    try:
        made = asyncio.run(build(config, srpm, tag=tag, arch=arch, resultdir=resultdir,
                                 out=out))
    except koji.GenericError as exc:  # the buildroot's koji.BuildError: the packager's reason
        print(f"adjutant: build-local of {srpm.name} failed: {exc}", file=sys.stderr)
        out(f"logs: {resultdir}/")
        return 1
    for path in made:
        out(f"wrote {path}")
    return 0


def with_hub(config: Config, *, hub: Optional[str], topurl: Optional[str],
             profile: str) -> Config:
    """The hub and topurl: the options, else kojid.conf's, else the koji
    client profile's (/etc/koji.conf, ~/.koji/config), as a packager has."""
    server, url = hub or config.server, topurl or config.topurl
    if not server or not url:
        import koji

        try:
            options = koji.read_config(profile)
        except koji.ConfigurationError as exc:
            raise AdjutantError(f"koji profile {profile}: {exc}") from None
        server = server or options.get("server")
        url = url or options.get("topurl")
    return dataclasses.replace(config, server=server, topurl=url)

