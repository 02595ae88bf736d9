"""newRepo(tag, event=None, src=None, debuginfo=None, separate_src=None,
opts=None): regenerate a tag's repo, as kojid's NewRepoTask.

The hub writes the repo's directory (host.repoInit: each arch's pkglist and
blocklist, the tag's comps); one createrepo subtask per arch (channel
createrepo, label the arch) makes its repodata, updating the previous repo's
(the tag's READY repo, else the nearest parent tag's); host.repoDone moves
the uploaded repodata into place and makes the repo READY.  With
copy_old_repodata, an arch whose content is unchanged takes the old
repodata as it is, with no subtask.  The result is [repo_id, event_id].
"""

from __future__ import annotations

import filecmp
import json
import logging
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, Callable, Optional

from adjutant.buildroot.logs import upload_path
from adjutant.tasks.base import TaskHandler
from adjutant.tasks.createrepo import copy_files, refuse_without_repos, repo_dir
from adjutant.tasks.rpmbuild import upload_results
from adjutant.untrusted import UntrustedDir, UntrustedFileError

log = logging.getLogger(__name__)



def legacy_opts(src: Any, debuginfo: Any, separate_src: Any,
                opts: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """kojid NewRepoTask: the deprecated src/debuginfo/separate_src
    parameters become opts; given with opts, the task fails."""
    import koji

    legacy = {key: bool(value) for key, value in
              (("src", src), ("debuginfo", debuginfo), ("separate_src", separate_src))
              if value is not None}
    if not legacy:
        return opts
    if opts is not None:
        raise koji.ParameterError("opts parameter cannot be combined with legacy options")
    log.warning("the src, debuginfo, and separate_src parameters for newRepo tasks are "
                "deprecated; use the opts parameter")
    return legacy


def repo_arches(path: Path) -> list[str]:
    """The arches the hub wrote: directories with a pkglist, not groups/."""
    return sorted(entry.name for entry in path.iterdir()
                  if entry.name != "groups" and (entry / "pkglist").is_file())


def same_file(first: Path, second: Path) -> bool:
    return first.is_file() and second.is_file() and filecmp.cmp(first, second, shallow=False)


class NewRepoHandler(TaskHandler):
    methods = ("newRepo",)
    weight = 0.1

    async def handle(  # noqa: PLR0917 (the task's parameters, as kojid's)
        self, tag: Any, event: Optional[int] = None, src: Any = None, debuginfo: Any = None,
        separate_src: Any = None, opts: Optional[dict[str, Any]] = None,
    ) -> list[int]:
        import koji

        ctx, hub, config = self.ctx, self.ctx.hub, self.ctx.config
        tinfo = await hub.call("getTag", tag, strict=True, event=event)
        opts = legacy_opts(src, debuginfo, separate_src, opts)
        refuse_without_repos(config.topdir)
        init_args: dict[str, Any] = {"opts": opts, "task_id": ctx.task_id}
        if event is not None:
            init_args["event"] = event
        repo_id, event_id = await ctx.memo.once("newrepo:init", lambda: hub.call(
            "host.repoInit", tinfo["id"], **init_args))
        path = repo_dir(config.topdir, tinfo["name"], int(repo_id))
        if not path.is_dir():
            raise koji.GenericError(f"Repo directory missing: {path}")
        arches = repo_arches(path)

        oldrepo, oldrepo_path = await self.old_repo(tinfo)
        clonable = config.copy_old_repodata and await self.clonable(
            oldrepo, oldrepo_path, path, {"tag_id": tinfo["id"], "create_event": event_id})

        data: dict[str, Any] = {}
        cloned: list[str] = []
        subtasks: dict[str, int] = {}
        for arch in arches:
            if clonable and oldrepo_path is not None and self.same_arch_content(
                    oldrepo_path, path, arch):
                copied = await ctx.memo.once(f"newrepo:copied:{arch}",
                                             self.copier(oldrepo_path, arch))
                if copied:
                    data[arch] = copied
                    cloned.append(arch)
                    continue
            subtasks[arch] = await ctx.subtask("createrepo", [repo_id, arch, oldrepo],
                                               label=arch, arch="noarch")
        if subtasks:
            results = await ctx.wait(list(subtasks.values()), all=True, failany=True)
            for arch, task_id in subtasks.items():
                data[arch] = results[task_id]
        done_args: dict[str, Any] = {}
        if cloned:
            assert oldrepo is not None
            done_args["repo_json_updates"] = {"cloned_from_repo_id": oldrepo["id"],
                                              "cloned_archs": cloned}
        await ctx.memo.once_checked("newrepo:done", lambda: hub.call(
            "host.repoDone", repo_id, data, **done_args), lambda: self.done(repo_id))
        return [repo_id, event_id]

    async def done(self, repo_id: int) -> Optional[bool]:
        """True if an earlier run's host.repoDone reached the hub (which
        refuses a second: the repo is no longer INIT), else None."""
        import koji

        info = await self.ctx.hub.call("repoInfo", repo_id, strict=True)
        return True if info["state"] != koji.REPO_INIT else None

    async def old_repo(self, tinfo: dict[str, Any]) -> tuple[Optional[dict[str, Any]],
                                                            Optional[Path]]:
        """The repo to update from (kojid NewRepoTask): the tag's READY one;
        else, when createrepo_update, the nearest parent tag's."""
        import koji

        hub, config = self.ctx.hub, self.ctx.config
        oldrepo = await hub.call("getRepo", tinfo["id"], state=koji.REPO_READY)
        if oldrepo:
            oldrepo["tag_id"] = tinfo["id"]
            return oldrepo, repo_dir(config.topdir, tinfo["name"], int(oldrepo["id"]))
        if not config.createrepo_update:
            return None, None
        parents = await hub.call("getFullInheritance", tinfo["id"])
        for parent in sorted(parents, key=lambda p: p["currdepth"]):
            oldrepo = await hub.call("getRepo", parent["parent_id"], state=koji.REPO_READY)
            if oldrepo:
                parent_tag = await hub.call("getTag", parent["parent_id"])
                oldrepo["tag_id"] = parent_tag["id"]
                return oldrepo, repo_dir(config.topdir, parent_tag["name"], int(oldrepo["id"]))
        return None, None

    async def clonable(self, oldrepo: Optional[dict[str, Any]], old_path: Optional[Path],
                       new_path: Path, newrepo: dict[str, Any]) -> bool:
        """kojid NewRepoTask.check_repo: the old repo's options and comps are the
        new one's, and neither repo has external repos."""
        if oldrepo is None or old_path is None or not old_path.is_dir():
            return False
        # kojid's check_repo compares with_* keys that modern repo.json files
        # keep under "opts": compare the two repos' opts themselves
        try:
            old_opts = json.loads((old_path / "repo.json").read_text()).get("opts")
            new_opts = json.loads((new_path / "repo.json").read_text()).get("opts")
        except (OSError, ValueError, AttributeError):
            return False
        if not isinstance(old_opts, dict) or old_opts != new_opts:
            return False
        old_comps, new_comps = old_path / "groups/comps.xml", new_path / "groups/comps.xml"
        if old_comps.exists() != new_comps.exists():
            return False
        if old_comps.exists() and not same_file(old_comps, new_comps):
            return False
        hub = self.ctx.hub
        for repo in (oldrepo, newrepo):
            if await hub.call("getExternalRepoList", repo["tag_id"], event=repo["create_event"]):
                return False
        return True

    @staticmethod
    def same_arch_content(old_path: Path, new_path: Path, arch: str) -> bool:
        """kojid NewRepoTask.check_arch_repo: same blocklist and pkglist."""
        return all(same_file(old_path / arch / name, new_path / arch / name)
                   for name in ("blocklist", "pkglist"))

    def copier(self, old_path: Path, arch: str) -> Callable[[], Awaitable[Any]]:
        return lambda: self.copy_arch_repo(old_path, arch)

    async def copy_arch_repo(self, old_path: Path, arch: str) -> Any:
        """The old repo's repodata of `arch`, uploaded as this task's (kojid
        NewRepoTask.copy_arch_repo; each arch to its own upload directory, as
        their repomd.xml share a name); False if it cannot be, and a
        createrepo subtask makes it instead."""
        import asyncio

        ctx = self.ctx
        out = ctx.private_dir / "cloned" / arch
        out.mkdir(parents=True, exist_ok=True)

        def copy() -> list[Path]:
            # the hub's files, read without following a link all the same
            with UntrustedDir(old_path / arch) as directory:
                listing = directory.list_regular("repodata")
                if listing.refused or not listing.files:
                    raise UntrustedFileError("repodata", "has no plain files to copy")
                return copy_files(directory, "repodata", listing.files, out)

        try:
            files = await asyncio.get_running_loop().run_in_executor(None, copy)
        except (OSError, UntrustedFileError) as exc:
            log.warning("task %s: copying the old repodata of %s failed: %s",
                        ctx.task_id, arch, exc)
            return False
        where = f"{upload_path(ctx.task_id)}/{arch}"
        await upload_results(ctx, files, where=where)
        return [where, [path.name for path in files]]
