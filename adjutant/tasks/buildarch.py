"""buildArch(pkg, root, arch, keep_srpm, opts): build binary RPMs of an SRPM for
one arch, in a container, from exactly the packages of the tag's repo.

The call sequence of kojid's BuildArchTask.handler: repoInfo,
the SRPM from work/, getBuildConfig, newBuildRoot, the buildroot (cached
group root + this SRPM's BuildRequires), setBuildRootList, BUILDING,
rpmbuild, updateBuildRootList, uploads, EXPIRED; the result in kojid's shape:

    {"rpms": [...], "srpms": [...] (only with keep_srpm), "logs": [...], "brootid": N}

paths relative to the hub's work/.  Logs reach the hub while the build runs.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

from adjutant.buildroot.core import Buildroot
from adjutant.buildroot.failure import build_error
from adjutant.buildroot.srpm import SourceRPMError, read_srpm_for
from adjutant.buildroot.workfiles import fetch_work_file
from adjutant.tasks.base import TaskHandler
from adjutant.tasks.rpmbuild import buildroot_session, collect_results, upload_results

NOARCH_RPMDIFF = "noarch_rpmdiff.json"


def write_noarch_rpmdiff(task_id: int, rpms: Sequence[Path], directory: Path) -> Optional[Path]:
    """koji's rpmdiff hash of each noarch RPM, which the hub's import compares
    across the arches that built it (kojihub check_noarch_rpms), keyed by the
    task id as kojid's BuildArchTask keys it.  kojihub's rpmdiff looks a task
    up by the second component of its RPM's path (tasks/<id % 10000>/<id>/),
    which is the task id only below 10000; above, it finds no hash and
    compares the RPMs themselves.  Keying by that component instead would
    make the hub index a kojid task's hashes by it in a mixed pool, and fail
    the import with a KeyError.  Computed from the daemon's copies of the RPMs,
    written in its own directory."""
    import koji.rpmdiff

    noarch = [p for p in rpms if p.name.endswith(".noarch.rpm")]
    if not noarch:
        return None
    hashes = {p.name: koji.rpmdiff.Rpmdiff(str(p), str(p), ignore="S5TN").kojihash()
              for p in noarch}
    path = directory / NOARCH_RPMDIFF
    path.write_text(json.dumps({str(task_id): hashes}, indent=2, sort_keys=True))
    return path


class BuildArchHandler(TaskHandler):
    methods = ("buildArch",)
    weight = 1.5

    @classmethod
    def check_host(cls, host: Mapping[str, Any], params: Sequence[Any]) -> bool:
        import koji

        arch = params[2] if len(params) > 2 else None
        if not isinstance(arch, str) or arch == "noarch":
            return True
        host_arches = [koji.canonArch(a) for a in str(host.get("arches", "")).split()]
        return koji.canonArch(arch) in host_arches

    async def handle(self, pkg: str, root: Any, arch: str, keep_srpm: bool,
                     opts: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        opts = opts or {}
        repo_id = opts.get("repo_id")
        if not repo_id:
            raise build_error("A repo id must be provided")
        ctx = self.ctx
        buildroot = Buildroot(ctx, tag=root, repo_id=repo_id, arch=arch, group="build")
        await buildroot.load()
        srpm_name = Path(pkg).name
        srpm_path = await fetch_work_file(ctx.config, pkg, ctx.private_dir / srpm_name)
        try:
            srpm = read_srpm_for(srpm_path, arch)
        except SourceRPMError as exc:
            raise build_error(str(exc)) from None
        await buildroot.place_input(srpm_path)

        async with buildroot_session(ctx, buildroot) as streamer:
            await buildroot.conclude(await buildroot.rpmbuild(target=arch),
                                     f"building {srpm.nvr}")
            built = await collect_results(ctx, buildroot)
            rpms = [p for p in built if not p.name.endswith(".src.rpm")]
            srpms = [p for p in built if p.name.endswith(".src.rpm")] if keep_srpm else []
            if not rpms:
                raise build_error(f"rpmbuild of {srpm.nvr} made no binary RPM")
            rpmdiff = await asyncio.get_running_loop().run_in_executor(
                None, write_noarch_rpmdiff, ctx.task_id, rpms, ctx.private_dir)
            rpm_paths = await upload_results(ctx, rpms)
            srpm_paths = await upload_results(ctx, srpms)
            log_paths = await upload_results(ctx, [rpmdiff] if rpmdiff else [])
        return {"rpms": rpm_paths, "srpms": srpm_paths,
                "logs": sorted(streamer.uploaded() + log_paths),
                "brootid": buildroot.brootid}
