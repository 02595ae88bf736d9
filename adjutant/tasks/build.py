"""build(src, target, opts): the parent task of every `koji build`, with
kojid's BuildTask semantics.

    target (or repo_id)   getBuildTarget: the build tag and the destination tag
    policy                host.assertPolicy build_from_srpm (an uploaded SRPM,
                          not scratch), build_from_repo_id, build_rpm
    repo                  opts' repo_id, else repo.request for the build tag
                          (a waitrepo subtask while none is ready)
    SRPM                  buildSRPMFromSCM for an SCM URL; rebuildSRPM of an
                          uploaded one unless the tag's extra rebuild_srpm is
                          off (a scratch build's opts may say otherwise)
    initBuild             the build's NVR from the SRPM's header (not scratch)
    buildArch             one subtask per arch (arches.py), labelled by arch;
                          the first keeps the SRPM it rebuilt
    import                host.completeBuild with the brmap and the logs by
                          arch, host.moveBuildToScratch for scratch,
                          host.failBuild when an arch failed
    tagBuild              a subtask (label "tag") unless scratch or skip_tag

Every subtask has a label, so a restarted build finds the subtasks it made
(the hub's host.subtask returns the existing child of a label), and every
call that makes something on the hub is recorded in the task's memo.  The
task's result is None, as kojid's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from adjutant.buildroot.failure import build_error
from adjutant.buildroot.srpm import SourceRPM, SourceRPMError, read_srpm
from adjutant.buildroot.workfiles import fetch_work_file
from adjutant.tasks.arches import ArchError, build_arches, task_arch
from adjutant.tasks.base import TaskHandler

REPO_USABLE = ("READY", "EXPIRED")


def is_scm_url(src: str) -> bool:
    from koji.daemon import SCM

    return bool(SCM.is_scm_url(src))


def merge_results(build_id_task: int, subtasks: dict[str, int],
                  results: dict[int, Any]) -> tuple[str, list[str], dict[str, int],
                                                    dict[str, list[str]]]:
    """kojid's runBuilds: the buildArch results as completeBuild takes them:
    (the SRPM the first arch rebuilt, the RPMs, {path: brootid}, {arch: logs})."""
    rpms: list[str] = []
    brmap: dict[str, int] = {}
    logs: dict[str, list[str]] = {}
    srpm: Optional[str] = None
    for arch, task_id in subtasks.items():
        result = results[task_id]
        brootid = result["brootid"]
        for path in result["rpms"]:
            rpms.append(path)
            brmap[path] = brootid
        logs.setdefault(arch, []).extend(result["logs"])
        if result["srpms"]:
            if srpm is not None:
                raise build_error(f"multiple builds returned a srpm.  task {build_id_task}")
            srpm = result["srpms"][0]
            brmap[srpm] = brootid
    if srpm is None:
        raise build_error("could not find a built srpm")
    return srpm, rpms, brmap, logs


def checked_metadata(value: Any) -> Any:
    """opts' custom_user_metadata: a JSON object, as kojid requires."""
    if not isinstance(value, dict):
        raise build_error("custom_user_metadata must be serializable to a JSON object")
    try:
        json.dumps(value)
    except TypeError:
        raise build_error("custom_user_metadata is not JSON serializable") from None
    return value


@dataclass
class Destination:
    """Where a build's packages come from and go: the build tag (and its
    repo, when opts name one, with its event) and the destination tag."""

    build_tag: int
    dest_tag: int
    target_info: Optional[dict[str, Any]]
    repo_info: Optional[dict[str, Any]]
    event: Optional[int]

    @property
    def dest_name(self) -> Any:
        return self.target_info["dest_tag_name"] if self.target_info else self.dest_tag


class BuildHandler(TaskHandler):
    methods = ("build",)
    weight = 0.2

    async def handle(self, src: str, target: Any,
                     opts: Optional[dict[str, Any]] = None) -> None:
        ctx, hub, memo = self.ctx, self.ctx.hub, self.ctx.memo
        opts = dict(opts or {})
        scratch = bool(opts.get("scratch"))
        if opts.get("arch_override") and not scratch:
            raise build_error("arch_override is only allowed for scratch builds")
        where = await self.destination(target, opts)
        if opts.get("custom_user_metadata"):
            checked_metadata(opts["custom_user_metadata"])
        from_scm = is_scm_url(src) if isinstance(src, str) else False
        await self.assert_policies(src, opts, where, from_scm=from_scm)
        repo_info, event = where.repo_info, where.event
        if repo_info is None:
            repo_info = await memo.once("build:repo", lambda: self.get_repo(where.build_tag,
                                                                            opts))
            event = await memo.once("build:event", self.last_event)
        assert repo_info is not None
        build_config = await hub.call("getBuildConfig", where.build_tag, event=event)
        srpm = await self.get_srpm(src, where.build_tag, repo_info["id"], opts,
                                   build_config=build_config, from_scm=from_scm)
        header = await self.read_header(srpm)
        package = await hub.call("getPackageConfig", where.dest_tag, header.name, event=event)
        if not opts.get("skip_tag") and not scratch:
            if package is None:
                raise build_error(f"package {header.name} not in list for tag {where.dest_name}")
            if package["blocked"]:
                raise build_error(f"package {header.name} is blocked for tag {where.dest_name}")
        arches = self.arches(header, build_config, package, opts)
        build_id: Optional[int] = None
        if not scratch:
            data = self.build_data(header, opts)
            build_id = int(await memo.once_checked("build:build_id", lambda: hub.call(
                "host.initBuild", data), lambda: self.initiated(data)))
        failany = bool(opts.get("fail_fast")) or not ctx.config.build_arch_can_fail
        try:
            built, rpms, brmap, logs = await self.run_builds(
                srpm, where.build_tag, arches, repo_info["id"], header=header,
                build_config=build_config, failany=failany)
            if scratch:
                await memo.once("build:imported", lambda: hub.call(
                    "host.moveBuildToScratch", ctx.task_id, built, rpms, logs=logs))
            else:
                await memo.once_checked("build:imported", lambda: hub.call(
                    "host.completeBuild", ctx.task_id, build_id, built, rpms, brmap,
                    logs=logs), lambda: self.completed(build_id))
        except Exception:
            if not scratch and not ctx.stopping and not ctx.lost:
                await memo.once("build:failed", lambda: hub.call(
                    "host.failBuild", ctx.task_id, build_id))
            raise
        if not opts.get("skip_tag") and not scratch:
            # [tag, build, force, fromtag, ignore_success]: no mail for a success
            params = [where.dest_tag, build_id, False, None, True]
            tag_task = await ctx.subtask("tagBuild", params, label="tag", arch="noarch")
            await ctx.wait([tag_task])

    async def initiated(self, data: dict[str, Any]) -> Optional[int]:
        """The build's id, if an earlier run's initBuild reached the hub (which
        refuses a second: "Build already exists"), else None."""
        import koji

        info = await self.ctx.hub.call("getBuild", {k: data[k] for k in
                                                    ("name", "version", "release")})
        mine = (info and info.get("task_id") == self.ctx.task_id
                and info["state"] == koji.BUILD_STATES["BUILDING"])
        return int(info["id"]) if mine else None

    async def completed(self, build_id: Optional[int]) -> Optional[dict[str, Any]]:
        """The build, if an earlier run's completeBuild reached the hub (which
        refuses a second: "Unable to complete build: state is COMPLETE")."""
        import koji

        info = await self.ctx.hub.call("getBuild", build_id)
        done = (info and info["state"] == koji.BUILD_STATES["COMPLETE"]
                and info.get("task_id") == self.ctx.task_id)
        return dict(info) if done else None

    async def destination(self, target: Any, opts: dict[str, Any]) -> Destination:
        """The target (or with opts' repo_id and no target, the repo's tag;
        or a tag given as target), as kojid's BuildTask reads them.  A build
        without a target is not tagged (opts' skip_tag is set)."""
        import koji

        hub = self.ctx.hub
        repo_info: Optional[dict[str, Any]] = None
        event: Optional[int] = None
        if opts.get("repo_id") is not None:
            repo_info = await hub.call("repoInfo", opts["repo_id"])
            if not repo_info:
                raise build_error(f"No such repo: {opts['repo_id']}")
            state = koji.REPO_STATES[repo_info["state"]]
            if state not in REPO_USABLE:
                raise build_error(f"Bad repo: {repo_info['id']} ({state})")
            event = repo_info["create_event"]
        target_info = await hub.call("getBuildTarget", target, event=event) if target else None
        if target_info:
            if repo_info and repo_info["tag_id"] != target_info["build_tag"]:
                raise build_error(f"Repo/Target mismatch: {repo_info['tag_name']}/"
                                  f"{target_info['build_tag_name']}")
            return Destination(target_info["build_tag"], target_info["dest_tag"], target_info,
                               repo_info, event)
        if repo_info is None:
            raise koji.GenericError(f"unknown build target: {target}")
        if target is None:
            opts["skip_tag"] = True
            return Destination(repo_info["tag_id"], repo_info["tag_id"], None, repo_info, event)
        tag_info = await hub.call("getTag", target, event=event)
        if not tag_info:
            raise koji.GenericError(f"neither tag nor target: {target}")
        return Destination(repo_info["tag_id"], tag_info["id"], None, repo_info, event)

    def build_data(self, header: SourceRPM, opts: dict[str, Any]) -> dict[str, Any]:
        """host.initBuild's data: the SRPM's NVR, the task, the source the SRPM
        task checked out, the user's metadata."""
        data: dict[str, Any] = {"name": header.name, "version": header.version,
                                "release": header.release, "epoch": header.epoch,
                                "task_id": self.ctx.task_id}
        source = self.ctx.memo.get("build:source")
        if source:
            data["source"] = source["source"]
            data["extra"] = {"source": {"original_url": source["url"]}}
        if opts.get("custom_user_metadata"):
            data.setdefault("extra", {})["custom_user_metadata"] = opts["custom_user_metadata"]
        if opts.get("draft"):
            data["draft"] = opts["draft"]
        return data

    def arches(self, header: SourceRPM, build_config: dict[str, Any],
               package: Optional[dict[str, Any]], opts: dict[str, Any]) -> list[str]:
        try:
            return build_arches(
                tag_arches=build_config.get("arches") or "", tag=build_config["name"],
                build_arch=header.build_arch, exclusive_arch=header.exclusive_arch,
                exclude_arch=header.exclude_arch,
                extra_arches=package.get("extra_arches") if package else None,
                arch_override=opts.get("arch_override"), scratch=bool(opts.get("scratch")))
        except ArchError as exc:
            raise build_error(str(exc)) from None

    async def assert_policies(self, src: str, opts: dict[str, Any], where: Destination, *,
                              from_scm: bool) -> None:
        """kojid's build policies, asked of the hub (host.assertPolicy)."""
        hub = self.ctx.hub
        task_info = await hub.call("getTaskInfo", self.ctx.task_id)
        data: dict[str, Any] = {
            "user_id": task_info["owner"], "source": src, "task_id": self.ctx.task_id,
            "build_tag": where.build_tag, "skip_tag": bool(opts.get("skip_tag")),
            "scratch": opts.get("scratch"), "draft": opts.get("draft"),
            "from_scm": from_scm, "repo_id": opts.get("repo_id"),
        }
        if where.target_info:
            data["target"] = where.target_info["name"]
        if not opts.get("skip_tag"):
            data["tag"] = where.dest_tag
        if not from_scm and not opts.get("scratch"):
            await hub.call("host.assertPolicy", "build_from_srpm", data)
        if opts.get("repo_id") is not None:
            await hub.call("host.assertPolicy", "build_from_repo_id", data)
        await hub.call("host.assertPolicy", "build_rpm", data)

    async def get_repo(self, build_tag: int, opts: dict[str, Any]) -> dict[str, Any]:
        """The repo to build from (koji.tasks' getRepo with koji.util's
        RepoWatcher): the hub's current one for the build tag (newer than the
        tag's last change with wait_repo), else a waitrepo subtask's."""
        hub = self.ctx.hub
        tag = await hub.call("getTag", build_tag, strict=True)
        builds = opts.get("wait_builds") or []
        min_event = None
        if opts.get("wait_repo"):
            min_event = await hub.call("tagLastChangeEvent", tag["id"])
        if not builds:
            check = await hub.call("repo.request", tag["id"], min_event=min_event)
            if check.get("repo"):
                return dict(check["repo"])
            if check.get("request") and not min_event:
                min_event = check["request"].get("min_event")
        waiter = await self.ctx.subtask("waitrepo", [tag["name"], None, builds or None, min_event],
                                        label="waitrepo")
        return dict((await self.ctx.wait([waiter]))[waiter])

    async def last_event(self) -> int:
        return int((await self.ctx.hub.call("getLastEvent"))["id"])

    async def get_srpm(self, src: Any, build_tag: int, repo_id: int, opts: dict[str, Any], *,
                       build_config: dict[str, Any], from_scm: bool) -> str:
        """kojid's getSRPM: the SRPM (a path under work/) the arches build."""
        if not isinstance(src, str):
            raise build_error(f"Invalid source specification: {src}")
        if from_scm:
            return await self.srpm_subtask("buildSRPMFromSCM", src, build_tag, repo_id, opts,
                                           build_config=build_config)
        rebuild = (build_config.get("extra") or {}).get("rebuild_srpm", True)
        if opts.get("scratch") and opts.get("rebuild_srpm") is not None:
            rebuild = opts["rebuild_srpm"]
        if not rebuild:
            return src
        return await self.srpm_subtask("rebuildSRPM", src, build_tag, repo_id, opts,
                                       build_config=build_config)

    async def srpm_subtask(self, method: str, src: str, build_tag: int, repo_id: int,
                           opts: dict[str, Any], *,
                           build_config: dict[str, Any]) -> str:
        ctx = self.ctx
        arch = self.task_arch("noarch", build_config, header=None)
        task_id = await ctx.subtask(method, [src, build_tag, {"repo_id": repo_id,
                                                              "scratch": opts.get("scratch")}],
                                    label="srpm", arch=arch)
        result = (await ctx.wait([task_id]))[task_id]
        if "source" in result:
            ctx.memo.set("build:source", result["source"])
        return str(result["srpm"])

    def task_arch(self, arch: str, build_config: dict[str, Any], *,
                  header: Optional[SourceRPM]) -> str:
        try:
            return task_arch(
                arch, tag_arches=build_config.get("arches") or "",
                literal_task_arches=self.ctx.config.literal_task_arches,
                noarch_arches=(build_config.get("extra") or {}).get("noarch_arches"),
                exclusive_arch=header.exclusive_arch if header else (),
                exclude_arch=header.exclude_arch if header else ())
        except ArchError as exc:
            raise build_error(str(exc)) from None

    async def read_header(self, srpm: str) -> SourceRPM:
        """kojid's readSRPMHeader: the SRPM from work/ (topdir or topurl)."""
        local = await fetch_work_file(self.ctx.config, srpm,
                                      self.ctx.private_dir / "build" / Path(srpm).name)
        try:
            return read_srpm(local)
        except SourceRPMError as exc:
            raise build_error(str(exc)) from None

    async def run_builds(self, srpm: str, build_tag: int, arches: list[str], repo_id: int, *,
                         header: SourceRPM, build_config: dict[str, Any],
                         failany: bool) -> tuple[str, list[str], dict[str, int],
                                                 dict[str, list[str]]]:
        """One buildArch per arch (the first keeps the SRPM), all waited for."""
        ctx = self.ctx
        subtasks: dict[str, int] = {}
        keep_srpm = True
        for arch in arches:
            taskarch = self.task_arch(arch, build_config, header=header)
            subtasks[arch] = await ctx.subtask(
                "buildArch", [srpm, build_tag, arch, keep_srpm, {"repo_id": repo_id}],
                label=arch, arch=taskarch)
            keep_srpm = False
        results = await ctx.wait(list(subtasks.values()), all=True, failany=failany)
        return merge_results(ctx.task_id, subtasks, results)
