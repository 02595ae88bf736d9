"""A task's buildroot, from the hub's records to the container that builds.

    br = Buildroot(ctx, tag=root, repo_id=repo_id, arch=arch, group="build")
    await br.load()                # repoInfo, getBuildConfig, the repo (topdir or topurl)
    await br.prepare()             # bootstrap image, newBuildRoot, the prepared root
                                   # (cached) and the task's view of it,
                                   # setBuildRootList, BUILDING
    outcome = await br.rpmbuild(target="x86_64")   # BuildRequires, then rpmbuild
    await br.record_installed()    # updateBuildRootList
    await br.expire()              # EXPIRED, also after a failure

The bootstrap image only installs (script.py says how): the build group into
an empty root, kept (roots.py), and each task's BuildRequires into its own
copy-on-write view of it; rpmbuild runs with the view as its root filesystem.
Every container of the task runs under the task's unit, in the buildroot's
user namespace (build_ids), with only the task's work directory writable
(/builddir) besides the root it installs into, the daemon's scripts and
inputs read-only (/adjutant), the tag's repo read-only at its own path for
the installing steps (or over topurl, repos.py; its packages cached for the
host, downloads.py), and nothing of the host's credentials (no cert, keytab
or hub session inside).  Steps are recorded in the task's memo, so a
restarted adjutant does not ask the hub for a second buildroot or run a
finished step again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

from adjutant.atomic import write_atomically
from adjutant.buildroot.arches import personality_for, repo_arch
from adjutant.buildroot.comps import COMPS, CompsError, group_packages
from adjutant.buildroot.context import BuildContext
from adjutant.buildroot.failure import build_error, step_failure
from adjutant.buildroot.images import ImageError, buildroot_image, ensure_image
from adjutant.buildroot.macros import build_environment, build_macros
from adjutant.buildroot.mockopts import MockOptions, mock_options
from adjutant.buildroot.mounts import build_mounts, install_mounts, selinux_enabled
from adjutant.buildroot.records import (
    classify_rpms,
    origin_href,
    parse_rpm_list,
    read_origins,
    read_rpmlist_ids,
)
from adjutant.buildroot.repos import RepoFetchError, RepoFiles, RepoLocation, locate_repo
from adjutant.buildroot.roots import RootKey, TaskView
from adjutant.buildroot.script import (
    BUILD_GID,
    BUILD_UID,
    BUILDDIR,
    BUILDREQS_NOSRC,
    EXIT_MORE_DEPS,
    INPUT_SRPM,
    INPUTS,
    Repo,
    build_script,
    deps_script,
    prepare_script,
)
from adjutant.buildroot.services import BuildrootServices
from adjutant.buildroot.statelog import note_state
from adjutant.config import task_limits
from adjutant.errors import AdjutantError
from adjutant.runner.outcome import Outcome
from adjutant.runner.spec import Mount, ResourceLimits, TaskSpec
from adjutant.untrusted import MissingFileError, UntrustedDir, UntrustedFileError

DYNAMIC_ROUNDS = 8  # %generate_buildrequires rounds at most
REPO_USABLE_STATES = ("READY", "EXPIRED")  # kojid: an expired repo is intact, only old


class Buildroot:
    def __init__(self, ctx: BuildContext, *, tag: Any, repo_id: int, arch: str,
                 group: str) -> None:
        self.ctx = ctx
        self.config = ctx.config
        self.tag = tag
        self.repo_id = int(repo_id)
        self.arch = arch
        self.group = group
        if ctx.services is None:
            raise AdjutantError("a buildroot needs the daemon's buildroot services")
        self.services: BuildrootServices = ctx.services
        self.repo_info: dict[str, Any] = {}
        self.build_config: dict[str, Any] = {}
        self.br_arch = arch
        self.location = RepoLocation(url="")
        self.image = ""
        self.prepared_root: Optional[Path] = None
        self.brootid: Optional[int] = None
        self.cache_hit = False
        self._rpm_ids: Optional[dict[str, int]] = None
        self._external_repos: list[dict[str, Any]] = []
        self._origins: Optional[dict[str, str]] = None
        # the tag's mock.* extras, read with the build config in load()
        self.mock_options = MockOptions()

    # ---- what the hub says --------------------------------------------------------

    @property
    def tag_name(self) -> str:
        return str(self.build_config.get("name", self.tag))

    @property
    def repo(self) -> Repo:
        return Repo(url=self.location.arch_url(self.br_arch), options=self.mock_options,
                    proxy=self.config.yum_proxy)

    @property
    def repo_files(self) -> RepoFiles:
        return RepoFiles(self.location, self.ctx.private_dir / "repo")

    async def repo_file(self, relpath: str, *, missing_ok: bool = False) -> Optional[Path]:
        """A file of the tag's repo (relative to its directory of all arches)
        as a path of the daemon's: under topdir, or fetched over topurl."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                None, lambda: self.repo_files.path(relpath, missing_ok=missing_ok))
        except RepoFetchError as exc:
            raise build_error(str(exc)) from None

    @property
    def install_network(self) -> bool:
        """Whether the installing steps need network: the repo is read over
        topurl, or some of its packages come from external repos, which the
        package manager fetches from their own URLs (as kojid's mock does)."""
        return self.location.remote or bool(self._external_repos)

    async def load(self) -> None:
        import koji

        hub, memo = self.ctx.hub, self.ctx.memo
        self.repo_info = await memo.once("repo", lambda: hub.call("repoInfo", self.repo_id,
                                                                  strict=True))
        state = koji.REPO_STATES[self.repo_info["state"]]
        if state not in REPO_USABLE_STATES:
            raise build_error(f"repo {self.repo_id} of tag {self.repo_info.get('tag_name')} "
                              f"is {state}")
        event = self.repo_info["create_event"]
        self.build_config = await memo.once("build_config", lambda: hub.call(
            "getBuildConfig", self.tag, event=event))
        if not self.build_config:
            raise build_error(f"no build config for tag {self.tag}")
        if self.build_config["id"] != self.repo_info["tag_id"]:
            raise build_error(f"tag/repo mismatch: {self.build_config['name']} vs "
                              f"{self.repo_info.get('tag_name')}")
        arches = (self.build_config.get("arches") or "").split()
        if self.arch != "noarch" and arches and koji.canonArch(self.arch) not in \
                [koji.canonArch(a) for a in arches]:
            raise build_error(f"tag {self.tag_name} does not build for {self.arch} "
                              f"(arches: {' '.join(arches)})")
        # kojid's BuildRoot: the buildroot (and its repo directory, which the hub
        # writes by canonical arch: i686 -> i386) is the canonical arch
        self.br_arch = koji.canonArch(repo_arch(self.arch, arches))
        try:
            self.location = locate_repo(topdir=self.config.topdir, topurl=self.config.topurl,
                                        tag=self.tag_name, repo_id=self.repo_id,
                                        arch=self.br_arch)
        except RepoFetchError as exc:
            raise build_error(str(exc)) from None
        # the hub has the repo (and answers) before anything is started
        await self.repo_file(f"{self.br_arch}/repodata/repomd.xml")
        tag_id = self.repo_info["tag_id"]
        self._external_repos = await memo.once("external_repos", lambda: hub.call(
            "getExternalRepoList", tag_id, event=event))
        try:
            self.mock_options = mock_options(self.extra, tag=self.tag_name)
        except AdjutantError as exc:
            raise build_error(str(exc)) from None

    @property
    def extra(self) -> dict[str, Any]:
        return dict(self.build_config.get("extra") or {})

    @property
    def target_arch(self) -> str:
        """The arch rpmbuild builds for: the task's, or for noarch the buildroot's."""
        return self.arch if self.arch != "noarch" else self.br_arch

    def macros(self) -> dict[str, str]:
        return build_macros(self.extra, self.config, tag=self.tag_name,
                            target_arch=self.target_arch)

    def environment(self) -> dict[str, str]:
        return build_environment(self.extra, tag=self.tag_name)

    # ---- the image --------------------------------------------------------------------

    def choose_image(self) -> str:
        # the image policy, else the tag's mock.bootstrap_image, else task_image
        default = self.mock_options.bootstrap_image or self.config.task_image
        return buildroot_image(self.services, tag=self.tag_name, extra=self.extra,
                               arch=self.br_arch, method=self.ctx.method, default=default)

    async def ensure_image(self, image: str) -> str:
        """Pull `image` as the pull policy says; returns its image id."""
        try:
            return await ensure_image(self.ctx, image, self.note)
        except ImageError as exc:
            raise build_error(str(exc)) from None

    # ---- containers -------------------------------------------------------------------

    @property
    def inputs(self) -> Path:
        """The task's inputs directory (TaskContext.inputs), /adjutant in its containers."""
        return self.ctx.inputs

    @property
    def view(self) -> TaskView:
        return TaskView(self.config.buildroot_dir, self.ctx.task_id)

    def _spec(self, command: Sequence[str], *, image: str, mounts: Sequence[Mount],
              network: bool = False, limits: Optional[ResourceLimits] = None,
              rootfs: Optional[Path] = None, as_build_user: bool = False) -> TaskSpec:
        spec = self.ctx.container_spec(
            command, image=image, network=network, limits=limits or self.build_limits(),
            mounts=[*build_mounts(workdir=self.ctx.workdir, inputs=self.inputs,
                                  selinux=selinux_enabled()), *mounts],
            workdir=BUILDDIR,
            personality=personality_for(self.target_arch, os.uname().machine),
        )
        return dataclasses.replace(
            spec, idmap=self.services.idmap, rootfs=str(rootfs) if rootfs else None,
            user=f"{BUILD_UID}:{BUILD_GID}" if as_build_user else None,
            drop_caps=as_build_user)

    @property
    def dnf_cache(self) -> Path:
        """The installing steps' package cache: the task's, next to its view."""
        return self.view.path / "dnf"

    def install_spec(self, script: str, root: Path) -> TaskSpec:
        """A bootstrap container, as root, installing into `root` from the tag's repo."""
        packages = self.config.topdir / "packages"
        mounts = install_mounts(root=root, dnf_cache=self.dnf_cache, repo_dir=self.location.local,
                                packages=packages if packages.is_dir() else None,
                                selinux=selinux_enabled())
        return self._spec(["/bin/bash", script], image=self.image, mounts=mounts,
                          network=self.install_network)

    async def install(self, step: str, script: str, root: Path) -> Outcome:
        """An installing step: the host's packages of the repo seeded into the
        task's cache before, what it downloaded taken into the host's after
        (downloads.py)."""
        downloads, url = self.services.downloads, self.repo.url
        loop = asyncio.get_running_loop()
        self.view.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        seeded = await loop.run_in_executor(None, lambda: downloads.seed(
            url, self.dnf_cache, self.services.root_owner))
        if self.location.remote:
            await self.note(f"Note: {seeded} packages of {url} from this host's cache")
        try:
            return await self.ctx.run_container(step, self.install_spec(script, root))
        finally:
            taken = await loop.run_in_executor(None, lambda: downloads.harvest(
                url, self.dnf_cache))
            if taken:
                await self.note(f"Note: {len(taken)} packages downloaded from {url}, "
                                "kept in this host's cache")
                await loop.run_in_executor(None, downloads.prune)

    def root_spec(self, script: str) -> TaskSpec:
        """A container of the task's buildroot, as the build user, no network."""
        return self._spec(["/bin/bash", script], image=self.image, mounts=(),
                          rootfs=self.view.root, as_build_user=True)

    def bootstrap_spec(self, script: str, *, network: bool,
                       extra_mounts: Sequence[Mount] = ()) -> TaskSpec:
        """A bootstrap container as the build user, outside the buildroot (the
        SCM checkout: the bootstrap image has git, the buildroot need not)."""
        return self._spec(["/bin/bash", script], image=self.image, mounts=extra_mounts,
                          network=network, as_build_user=True)

    def build_limits(self) -> ResourceLimits:
        """The configured task limits, with kojid's rpmbuild_timeout as run-time limit."""
        return dataclasses.replace(task_limits(self.config),
                                   runtime_max=float(self.config.rpmbuild_timeout))

    def write_script(self, name: str, text: str) -> str:
        """Put a script in the daemon's inputs; returns its path in a container."""
        write_atomically(self.inputs / name, text, mode=0o644)
        return f"{INPUTS}/{name}"

    async def place_input(self, source: Path, name: str = INPUT_SRPM) -> None:
        """A file of the daemon's (the fetched SRPM) in the inputs."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, shutil.copyfile, source, self.inputs / name)
        os.chmod(self.inputs / name, 0o644)

    async def note(self, line: str) -> None:
        """A line in state.log, written by the daemon (never through a link)."""
        await note_state(self.ctx, line, owner=self.services.build_owner)

    async def read_result(self, name: str, *, max_size: int = 64 * 1024**2,
                          missing_ok: bool = False) -> str:
        """The text of result/<name>, refused if it is not a plain file."""
        try:
            return str(await self.ctx.in_workdir(
                lambda d: d.read_text(f"result/{name}", max_size=max_size)))
        except MissingFileError:
            if missing_ok:
                return ""
            raise build_error(f"the build left no result/{name}") from None
        except UntrustedFileError as exc:
            raise build_error(str(exc)) from None

    def result_copy(self, name: str) -> Path:
        """Where the daemon keeps its copy of result/<name> (what is uploaded)."""
        out = self.ctx.private_dir / "results"
        out.mkdir(exist_ok=True)
        return out / name

    async def copy_result(self, name: str, *, max_size: int) -> Path:
        """result/<name> copied to the daemon's own directory."""
        return await self.copy_out(f"result/{name}", self.result_copy(name), max_size=max_size)

    async def copy_out(self, relname: str, destination: Path, *, max_size: int) -> Path:
        """A file of the work directory copied to `destination`, a path of the
        daemon's; one that is not a plain file fails the task, naming it."""
        if destination.exists():
            destination.unlink()
        try:
            await self.ctx.in_workdir(
                lambda d: d.copy_out(relname, destination, max_size=max_size))
        except UntrustedFileError as exc:
            raise build_error(str(exc)) from None
        return destination

    # ---- the buildroot ------------------------------------------------------------------

    async def prepare(self) -> None:
        hub, memo = self.ctx.hub, self.ctx.memo
        owner = self.services.build_owner
        # the work directory is the build user's (root's steps may write anything in it)

        def own(directory: UntrustedDir) -> None:
            directory.give_to(owner)
            directory.make_dir("result", owner=owner)

        await self.ctx.in_workdir(own)
        self.image = self.choose_image()
        base_id = await self.ensure_image(self.image)
        task_id = self.ctx.task_id
        self.brootid = int(await memo.once("brootid", lambda: hub.call(
            "host.newBuildRoot", self.repo_id, self.br_arch, task_id=task_id)))
        key = RootKey(base_id, self.tag_name, self.repo_id, self.br_arch, self.group)

        async def make(root: Path) -> Path:
            comps = await self.repo_file(COMPS)
            assert comps is not None
            try:
                packages = group_packages(comps, self.group)
            except CompsError as exc:
                raise build_error(f"tag {self.tag_name}: {exc}") from None
            # the empty root is the buildroot's root's
            root.mkdir(mode=0o755)
            os.chown(root, *self.services.root_owner)
            script = self.write_script("prepare.sh", prepare_script(
                repo=self.repo, group=self.group, packages=packages))
            outcome = await self.install("buildroot-prepare", script, root)
            if not outcome.ok:
                raise await self.failure(outcome, "setting up the buildroot")
            return await self.copy_result("buildroot-group.tsv", max_size=64 * 1024**2)

        self.prepared_root, group_list, self.cache_hit = \
            await self.services.cache.ensure(key, make, task_id=task_id)
        await self.view.mount(self.prepared_root, owner=self.services.root_owner)
        ignored = self.mock_options.not_applicable
        if ignored:
            await self.note("Note: tag extras for mock itself, not applicable here: "
                            + " ".join(ignored))
        how = "from the prepared root" if self.cache_hit else "prepared into"
        await self.note(f"Start: buildroot {how} {self.prepared_root} (bootstrap image "
                        f"{self.image}); this task's view: {self.view.root}")
        group_rpms = await self.hub_rpm_list(group_list)
        await memo.once("buildroot_list", lambda: hub.call(
            "host.setBuildRootList", self.brootid, group_rpms))
        await memo.once("buildroot_building", lambda: hub.call(
            "host.setBuildRootState", self.brootid, "BUILDING"))

    async def install_requirements(self, step: str, srpm: str, what: str) -> Outcome:
        """`dnf builddep` of `srpm` (a file in the inputs) into the task's view."""
        script = self.write_script(f"{step}.sh", deps_script(
            repo=self.repo, srpm=f"{INPUTS}/{srpm}", what=what))
        outcome = await self.install(step, script, self.view.root)
        if outcome.ok:
            # root's list of the buildroot, taken before the build user runs
            await self.copy_result("buildroot.tsv", max_size=64 * 1024**2)
        return outcome

    async def run(self, step: str, script_name: str, script: str) -> Outcome:
        """A script as the build user in the task's buildroot."""
        return await self.ctx.run_container(step, self.root_spec(
            self.write_script(script_name, script)))

    async def rpmbuild(self, *, target: str, source_only: bool = False) -> Outcome:
        """The SRPM in the inputs rebuilt in the buildroot: its BuildRequires
        installed, then rpmbuild; for %generate_buildrequires, rounds of
        rpmbuild -br and installs until nothing more is wanted (mock's limit
        of rounds).  The outcome of the last step run."""
        if not source_only:
            deps = await self.install_requirements("deps", INPUT_SRPM, "build requirements")
            if not deps.ok:
                return deps
        spec = self.root_spec(self.write_script("build.sh", build_script(
            target=target, macros=self.macros(), environment=self.environment(),
            source_only=source_only)))
        for round_ in range(1, DYNAMIC_ROUNDS + 1):
            suffix = "" if round_ == 1 else f"-{round_}"
            outcome = await self.ctx.run_container(f"build{suffix}", spec)
            if outcome.kind.value != "failed" or outcome.exit_status != EXIT_MORE_DEPS:
                return outcome
            nosrc = f"buildreqs-{round_}.nosrc.rpm"
            await self.copy_out(BUILDREQS_NOSRC, self.inputs / nosrc, max_size=256 * 1024**2)
            deps = await self.install_requirements(f"deps-{round_ + 1}", nosrc,
                                                   "generated build requirements")
            if not deps.ok:
                return deps
        raise build_error(f"%generate_buildrequires still wanted more after {DYNAMIC_ROUNDS} "
                          "rounds")

    async def conclude(self, outcome: Outcome, what: str) -> None:
        """After the buildroot's last step: the hub's list of what was in it,
        and the packager's reason if the step failed (`what` it was doing)."""
        await self.record_installed()
        if not outcome.ok:
            raise await self.failure(outcome, what)

    async def hub_rpm_list(self, listing: str) -> list[dict[str, Any]]:
        """An `rpm -qa` listing as the hub takes it: ids, external repos marked,
        rpms that did not come from the tag's repo left out (and noted)."""
        if self._rpm_ids is None:
            rpmlist = await self.repo_file(f"{self.br_arch}/rpmlist.jsonl", missing_ok=True)
            self._rpm_ids = read_rpmlist_ids(rpmlist) if rpmlist is not None else {}
            self._origins = await self.origins() if self._external_repos else None
        listed, foreign = classify_rpms(
            parse_rpm_list(listing), ids=self._rpm_ids, external_repos=self._external_repos,
            origins=self._origins, repo_id=self.repo_id, arch=self.br_arch,
        )
        if foreign:
            await self.note("Note: not from the tag's repo, so not in the hub's buildroot list: "
                      + " ".join(sorted(foreign)))
        return listed

    async def origins(self) -> Optional[dict[str, str]]:
        """The repo's pkgorigins (N-V-R.A -> where from), None if it has none."""
        repomd = await self.repo_file(f"{self.br_arch}/repodata/repomd.xml")
        assert repomd is not None
        href = origin_href(repomd)
        if href is None:
            return None
        path = await self.repo_file(f"{self.br_arch}/{href}")
        assert path is not None
        return read_origins(path)

    async def record_installed(self) -> list[dict[str, Any]]:
        if self.brootid is None:
            return []
        copy = self.result_copy("buildroot.tsv")
        listing = copy.read_text() if copy.is_file() else ""
        if not listing:
            return []
        rpms = await self.hub_rpm_list(listing)
        await self.ctx.memo.once("buildroot_update", lambda: self.ctx.hub.call(
            "host.updateBuildRootList", self.brootid, rpms))
        return rpms

    async def expire(self) -> None:
        if self.prepared_root is not None:
            self.services.cache.done_with(self.prepared_root)
        if self.ctx.stopping:
            return  # the daemon stops, the build goes on: it is resumed, not ended
        if self.ctx.lost:
            # no longer ours: the worker expires it (its subsession may be busy
            # with a call that will not return soon), as kojid's updateBuildroots
            return
        if self.brootid is not None:
            await self.ctx.memo.once("buildroot_expired", lambda: self.ctx.hub.call(
                "host.setBuildRootState", self.brootid, "EXPIRED"))

    # ---- failures a packager can read ----------------------------------------------------

    async def failure(self, outcome: Outcome, what: str) -> Exception:
        """The packager's one-line reason (and the log's end) for a failed step
        (failure.py)."""
        return await step_failure(self.ctx, outcome, what)
