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

from pathlib import Path
from typing import Any, Optional

from adjutant.buildroot.core import Buildroot, build_error, fetch_work_file
from adjutant.buildroot.script import build_script, checkout_script, srpm_from_checkout_script
from adjutant.buildroot.srpm import SourceRPMError, read_srpm
from adjutant.scm import ScmError, allowed_source_cmd, parse_allowed_scms, parse_scm_url
from adjutant.tasks.base import TaskContext, TaskHandler
from adjutant.tasks.buildarch import streamed_logs, upload_results


def repo_id_of(opts: Optional[dict[str, Any]]) -> int:
    repo_id = (opts or {}).get("repo_id")
    if not repo_id:
        raise build_error("A repo id must be provided")
    return int(repo_id)


def the_srpm(ctx: TaskContext) -> Path:
    made = sorted((ctx.workdir / "result").glob("*.src.rpm"))
    if len(made) != 1:
        raise build_error(f"expected one SRPM from the build, found {len(made)}")
    return made[0]


class RebuildSRPMHandler(TaskHandler):
    methods = ("rebuildSRPM",)
    weight = 1.0

    async def handle(self, srpm: str, build_tag: Any,
                     opts: Optional[dict[str, Any]] = None) -> dict[str, Any]:  # fmt: skip
        ctx = self.ctx
        buildroot = Buildroot(ctx, tag=build_tag, repo_id=repo_id_of(opts), arch="noarch",
                              group="srpm-build")  # fmt: skip
        await buildroot.load()
        name = Path(srpm).name
        local = await fetch_work_file(ctx.config, srpm, ctx.workdir / "source" / name)
        try:
            header = read_srpm(local)
        except SourceRPMError as exc:
            raise build_error(str(exc)) from None
        async with streamed_logs(ctx) as streamer:
            try:
                await buildroot.prepare()
                script = build_script(repo=buildroot.repo, srpm=f"source/{name}", target="noarch",
                                      macros=buildroot.macros(),
                                      environment=buildroot.environment(), requires=(),
                                      source_only=True)  # fmt: skip
                outcome = await buildroot.run("srpm", "adjutant-srpm.sh", script)
                await buildroot.record_installed()
                if not outcome.ok:
                    raise buildroot.failure(outcome, f"rebuilding {header.nvr}")
                [uploaded] = await upload_results(ctx, [the_srpm(ctx)])
            finally:
                await buildroot.expire()
        return {"srpm": uploaded, "logs": streamer.uploaded(), "brootid": buildroot.brootid,
                "source": {"source": name, "url": name}}  # fmt: skip


class BuildSRPMFromSCMHandler(TaskHandler):
    methods = ("buildSRPMFromSCM",)
    weight = 1.0

    async def handle(self, url: str, build_tag: Any,
                     opts: Optional[dict[str, Any]] = None) -> dict[str, Any]:  # fmt: skip
        ctx = self.ctx
        config = ctx.config
        try:
            scm = parse_scm_url(url, allow_password=config.allow_password_in_scm_url)
            source_cmd: tuple[str, ...] = ()
            if config.allowed_scms_use_config:
                source_cmd = allowed_source_cmd(scm, parse_allowed_scms(config.allowed_scms)) or ()
        except ScmError as exc:
            raise build_error(str(exc)) from None
        buildroot = Buildroot(ctx, tag=build_tag, repo_id=repo_id_of(opts), arch="noarch",
                              group="srpm-build")  # fmt: skip
        await buildroot.load()
        async with streamed_logs(ctx) as streamer:
            try:
                await buildroot.prepare()
                checkout = checkout_script(clone_url=scm.clone_url, ref=scm.ref,
                                           subdir=scm.subdir, source_cmd=source_cmd)  # fmt: skip
                path = buildroot.write_script("adjutant-checkout.sh", checkout)
                outcome = await ctx.run_container(
                    "checkout", buildroot.spec(["/bin/bash", path], network=True))
                if not outcome.ok:
                    raise buildroot.failure(outcome, f"checking out {url}")
                commit = (ctx.workdir / "result" / "commit").read_text().strip()
                script = srpm_from_checkout_script(subdir=scm.subdir, macros=buildroot.macros(),
                                                   environment=buildroot.environment())  # fmt: skip
                outcome = await buildroot.run("srpm", "adjutant-srpm.sh", script)
                await buildroot.record_installed()
                if not outcome.ok:
                    raise buildroot.failure(outcome, f"building the SRPM of {url}")
                [uploaded] = await upload_results(ctx, [the_srpm(ctx)])
            finally:
                await buildroot.expire()
        return {"srpm": uploaded, "logs": streamer.uploaded(), "brootid": buildroot.brootid,
                "source": {"url": url, "source": scm.with_commit(commit)}}  # fmt: skip



