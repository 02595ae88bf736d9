"""The two ways a build gets its SRPM, in the tag's `srpm-build` buildroot.

rebuildSRPM(srpm, build_tag, opts): rebuild an uploaded SRPM with the tag's
macros (%dist and the rest), as kojid's RebuildSRPM does.

buildSRPMFromSCM(url, build_tag, opts): check the package out of git (the one
step with network), run its source command (`make sources`, or what
allowed_scms says), then build the SRPM without network.  The commit that was
built goes into the result's `source`.

Both return kojid's shape: {"srpm": path, "logs": [...], "brootid": N,
"source": {"url": ..., "source": ...}}, paths relative to the hub's work/.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

from adjutant.buildroot.core import Buildroot
from adjutant.buildroot.failure import build_error
from adjutant.buildroot.script import checkout_script, srpm_from_checkout_script
from adjutant.buildroot.srpm import SourceRPMError, read_srpm
from adjutant.buildroot.workfiles import fetch_work_file
from adjutant.runner.spec import Mount
from adjutant.scm import ScmError, check_scm, parse_scm_url, task_policy_data
from adjutant.tasks.base import TaskContext, TaskHandler
from adjutant.tasks.rpmbuild import buildroot_session, collect_results, upload_results


def repo_id_of(opts: Optional[dict[str, Any]]) -> int:
    repo_id = (opts or {}).get("repo_id")
    if not repo_id:
        raise build_error("A repo id must be provided")
    return int(repo_id)


async def the_srpm(ctx: TaskContext, buildroot: Buildroot) -> Path:
    """The one SRPM the step left, copied out of the work directory (checked)."""
    made = await collect_results(ctx, buildroot, suffix=".src.rpm")
    if len(made) != 1:
        raise build_error(f"expected one SRPM from the build, found {len(made)}")
    return made[0]


def credentials_mounts(config: Any) -> list[Mount]:
    """kojid's scm_credentials_dir, read-only at /credentials in the checkout
    step only (never in a build that runs the packager's spec)."""
    if config.scm_credentials_dir is None:
        return []
    return [Mount(str(config.scm_credentials_dir), "/credentials", read_only=True)]


COMMIT = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


class RebuildSRPMHandler(TaskHandler):
    methods = ("rebuildSRPM",)
    weight = 1.0

    async def handle(self, srpm: str, build_tag: Any,
                     opts: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        ctx = self.ctx
        buildroot = Buildroot(ctx, tag=build_tag, repo_id=repo_id_of(opts), arch="noarch",
                              group="srpm-build")
        await buildroot.load()
        name = Path(srpm).name
        local = await fetch_work_file(ctx.config, srpm, ctx.private_dir / name)
        try:
            header = read_srpm(local)
        except SourceRPMError as exc:
            raise build_error(str(exc)) from None
        async with buildroot_session(ctx, buildroot) as streamer:
            await buildroot.place_input(local)
            await buildroot.conclude(await buildroot.rpmbuild(target="noarch", source_only=True),
                                     f"rebuilding {header.nvr}")
            [uploaded] = await upload_results(ctx, [await the_srpm(ctx, buildroot)])
        return {"srpm": uploaded, "logs": streamer.uploaded(), "brootid": buildroot.brootid,
                "source": {"source": name, "url": name}}


class BuildSRPMFromSCMHandler(TaskHandler):
    methods = ("buildSRPMFromSCM",)
    weight = 1.0

    async def handle(self, url: str, build_tag: Any,
                     opts: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        ctx = self.ctx
        config = ctx.config
        try:
            scm = parse_scm_url(url, allow_password=config.allow_password_in_scm_url)
            extra = (await task_policy_data(ctx.hub, ctx.task_id, opts)
                     if config.allowed_scms_use_policy else None)
            permission = await check_scm(scm, allowed_scms=config.allowed_scms,
                                         use_config=config.allowed_scms_use_config,
                                         use_policy=config.allowed_scms_use_policy,
                                         hub=ctx.hub, policy_extra=extra)
        except ScmError as exc:
            raise build_error(str(exc)) from None
        source_cmd = permission.source_cmd or ()
        buildroot = Buildroot(ctx, tag=build_tag, repo_id=repo_id_of(opts), arch="noarch",
                              group="srpm-build")
        await buildroot.load()
        async with buildroot_session(ctx, buildroot) as streamer:
            checkout = checkout_script(clone_url=scm.clone_url, shown_url=scm.safe_url,
                                       ref=scm.ref, subdir=scm.subdir,
                                       source_cmd=source_cmd)
            path = buildroot.write_script("checkout.sh", checkout)
            outcome = await ctx.run_container("checkout", buildroot.bootstrap_spec(
                path, network=True, extra_mounts=credentials_mounts(config)))
            if not outcome.ok:
                raise await buildroot.failure(outcome, f"checking out {scm.safe_url}")
            commit = (await buildroot.read_result("commit", max_size=200)).strip()
            if not COMMIT.match(commit):
                raise build_error(f"the checkout of {scm.safe_url} named no commit")
            script = srpm_from_checkout_script(
                subdir=scm.subdir, macros=buildroot.macros(),
                environment=buildroot.environment(),
                source_layout=config.support_rpm_source_layout)
            await buildroot.conclude(await buildroot.run("srpm", "srpm.sh", script),
                                     f"building the SRPM of {scm.safe_url}")
            [uploaded] = await upload_results(ctx, [await the_srpm(ctx, buildroot)])
        return {"srpm": uploaded, "logs": streamer.uploaded(), "brootid": buildroot.brootid,
                "source": {"url": url, "source": scm.with_commit(commit)}}



