"""createrepo(repo_id, arch, oldrepo): the repodata of one arch of a repo the
hub initialised (host.repoInit), as kojid's CreaterepoTask: createrepo_c over
the repo's pkglist with the tag's comps, updating the previous repo's
repodata when createrepo_update allows, merged with the tag's external repos
by mergerepo_c; each file of the repodata uploaded, for newRepo's
host.repoDone.  The result is [upload path, [file names]].

createrepo_c reads packager-built RPM headers, so it runs in a container
(createrepo_image) as the unprivileged build user in the buildroots' user
namespace, with no network unless there are external repos to fetch; the
daemon reads what it wrote only through adjutant.untrusted.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Optional

from adjutant import createrepo
from adjutant.atomic import write_atomically
from adjutant.buildroot.images import ImageError, ensure_image
from adjutant.buildroot.logs import upload_path
from adjutant.buildroot.script import BUILD_GID, BUILD_UID, INPUTS
from adjutant.runner.spec import Mount
from adjutant.tasks.base import TaskHandler, failed_outcome_error
from adjutant.tasks.rpmbuild import streamed_logs, upload_results
from adjutant.untrusted import UntrustedDir

log = logging.getLogger(__name__)

# A guard on what createrepo may leave for upload (repodata is a dozen files).
MAX_REPODATA_FILES = 200
MAX_REPODATA_BYTES = 8 * 1024**3


def copy_files(directory: UntrustedDir, relative: str, names: Iterable[str],
               out: Path) -> list[Path]:
    """Each named plain file of `relative` (in `directory`, read without
    following a link) copied into `out`, replacing what is there: the copies,
    what is uploaded."""
    copied = []
    for name in sorted(names):
        target = out / name
        if target.exists():
            target.unlink()
        directory.copy_out(f"{relative}/{name}", target, max_size=MAX_REPODATA_BYTES)
        copied.append(target)
    return copied


def repo_dir(topdir: Path, tag_name: str, repo_id: int) -> Path:
    """koji.pathinfo.repo: <topdir>/repos/<tag>/<repo id>."""
    return topdir / "repos" / tag_name / str(repo_id)


def refuse_without_repos(topdir: Path) -> None:
    """kojid's NewRepoTask and CreaterepoTask: a host that cannot see the
    hub's repos directory (no /mnt/koji mount) refuses, so another host
    takes the task."""
    import koji.tasks

    top = topdir / "repos"
    if not top.is_dir():
        raise koji.tasks.RefuseTask(f"No access to repos dir {top}")


class CreaterepoHandler(TaskHandler):
    methods = ("createrepo",)
    weight = 1.5

    async def handle(self, repo_id: int, arch: str, oldrepo: Optional[dict[str, Any]],
                     external_repos: Any = None) -> list[Any]:
        # external_repos: what kojid before 1.20 passed; the hub's list is read
        import koji

        ctx, hub, config = self.ctx, self.ctx.hub, self.ctx.config
        rinfo = await hub.call("repoInfo", repo_id, strict=True)
        if rinfo["state"] != koji.REPO_INIT:
            raise koji.GenericError(
                f"Repo {rinfo['id']} not in INIT state (got {rinfo['state']})")
        toprepodir = repo_dir(config.topdir, rinfo["tag_name"], int(rinfo["id"]))
        archdir = toprepodir / arch
        if not archdir.is_dir():
            refuse_without_repos(config.topdir)
            raise koji.GenericError(f"Repo directory missing: {archdir}")
        groupdata = toprepodir / "groups" / "comps.xml"
        pkglist = archdir / "pkglist"
        has_packages = pkglist.stat().st_size > 0

        old_repodata = None
        if has_packages and oldrepo and config.createrepo_update:
            # an old repo may be a parent tag's (kojid NewRepoTask): its own path
            old = await hub.call("repoInfo", oldrepo["id"], strict=True)
            candidate = repo_dir(config.topdir, old["tag_name"], int(old["id"])) / arch / "repodata"
            if candidate.is_dir():
                old_repodata = candidate
            else:
                log.warning("task %s: old repodata is missing: %s", ctx.task_id, candidate)

        external = await hub.call("getExternalRepoList", rinfo["tag_id"],
                                  event=rinfo["create_event"])
        try:
            mode = createrepo.merge_mode(external or [])
        except createrepo.CreaterepoError as exc:
            raise koji.GenericError(str(exc)) from None
        job = createrepo.Job(
            arch=arch, repodir=str(archdir),
            groupdata=str(groupdata) if groupdata.is_file() else None,
            has_packages=has_packages, update=old_repodata is not None,
            skip_stat=config.createrepo_skip_stat, use_createrepo_c=config.use_createrepo_c,
            external_urls=createrepo.external_urls(external or [], arch), merge_mode=mode,
        )

        def logs() -> dict[str, Path]:
            return {name: ctx.workdir / name
                    for name in (createrepo.CREATEREPO_LOG, createrepo.MERGEREPOS_LOG)}

        async with streamed_logs(ctx, logs):
            await self.run_createrepo(job, toprepodir, old_repodata)
            files = await self.copy_repodata()
            await upload_results(ctx, files)
        return [upload_path(ctx.task_id), [path.name for path in files]]

    async def run_createrepo(self, job: createrepo.Job, toprepodir: Path,
                             old_repodata: Optional[Path]) -> None:
        import koji

        ctx, config = self.ctx, self.ctx.config
        services = ctx.services
        assert services is not None
        owner = services.build_owner
        await ctx.in_workdir(lambda d: d.give_to(owner))
        inputs = ctx.inputs
        write_atomically(inputs / "createrepo.sh", createrepo.script(job), mode=0o644)

        image = config.createrepo_image or config.task_image

        async def note(line: str) -> None:
            log.info("task %s: %s", ctx.task_id, line)

        try:
            await ensure_image(ctx, image, note)
        except ImageError as exc:
            raise koji.GenericError(str(exc)) from None
        # topdir is the hub's (its web server serves it): never relabelled
        # here; the README says how to label it once for containers.
        mounts = [Mount(str(ctx.workdir), createrepo.BUILDDIR, read_only=False),
                  Mount(str(inputs), INPUTS),
                  Mount(str(toprepodir), str(toprepodir))]
        packages = config.topdir / "packages"
        if packages.is_dir():
            mounts.append(Mount(str(packages), str(packages)))
        if old_repodata is not None:
            mounts.append(Mount(str(old_repodata), createrepo.OLD_REPODATA))
        spec = ctx.container_spec(["/bin/bash", f"{INPUTS}/createrepo.sh"], image=image,
                                  mounts=mounts, network=bool(job.external_urls),
                                  workdir=createrepo.BUILDDIR)
        spec = dataclasses.replace(spec, idmap=services.idmap, user=f"{BUILD_UID}:{BUILD_GID}",
                                   drop_caps=True)
        outcome = await ctx.run_container("createrepo", spec)
        if outcome.ok:
            return
        if outcome.exit_status == createrepo.EXIT_MERGEREPO:
            raise failed_outcome_error("failed to merge repos:", outcome)
        raise failed_outcome_error("failed to create repo:", outcome)

    async def copy_repodata(self) -> list[Path]:
        """The repodata's files, each checked to be a plain file and copied to
        the daemon's own directory (what is uploaded is the copy)."""
        import koji

        ctx = self.ctx
        relative = os.path.relpath(createrepo.DATADIR, createrepo.BUILDDIR)
        listing = await ctx.in_workdir(lambda d: d.list_regular(relative))
        if listing.refused:
            raise koji.GenericError("createrepo left files that are refused: "
                                    + "; ".join(sorted(listing.refused.values())))
        if not listing.files:
            raise koji.GenericError("createrepo made no repodata")
        if len(listing.files) > MAX_REPODATA_FILES:
            raise koji.GenericError(f"createrepo left {len(listing.files)} files in repodata; "
                                    f"at most {MAX_REPODATA_FILES} are taken")
        out = ctx.private_dir / "repodata"
        out.mkdir(exist_ok=True)
        return list(await ctx.in_workdir(lambda d: copy_files(d, relative, listing.files, out)))
