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
import re
import shutil
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

from adjutant.atomic import write_atomically
from adjutant.buildroot.comps import COMPS, CompsError, group_packages
from adjutant.buildroot.context import BuildContext
from adjutant.buildroot.downloads import PackageCache
from adjutant.buildroot.images import ImageError, ensure_image
from adjutant.buildroot.macros import build_environment, build_macros
from adjutant.buildroot.mockopts import MockOptions, mock_options
from adjutant.buildroot.records import (
    classify_rpms,
    origin_href,
    parse_rpm_list,
    read_origins,
    read_rpmlist_ids,
)
from adjutant.buildroot.repos import RepoFetchError, RepoFiles, RepoLocation, locate_repo
from adjutant.buildroot.roots import RootCache, RootKey, TaskView
from adjutant.buildroot.script import (
    BUILD_GID,
    BUILD_UID,
    BUILDDIR,
    BUILDREQS_NOSRC,
    DNF_CACHE,
    EXIT_MORE_DEPS,
    INPUT_SRPM,
    INPUTS,
    INSTALLROOT,
    Repo,
    build_script,
    deps_script,
    prepare_script,
)
from adjutant.config import Config, build_id_range, task_limits
from adjutant.errors import AdjutantError
from adjutant.imagepolicy import POLICY_KEY, PolicyCache, choose_image, parse_rules
from adjutant.runner.outcome import Outcome
from adjutant.runner.spec import Mount, ResourceLimits, TaskSpec
from adjutant.untrusted import MissingFileError, UntrustedDir, UntrustedFileError

DYNAMIC_ROUNDS = 8  # %generate_buildrequires rounds at most
REPO_USABLE_STATES = ("READY", "EXPIRED")  # kojid: an expired repo is intact, only old


def build_error(message: str) -> Exception:
    import koji

    return koji.BuildError(message)


class BuildrootServices:
    """What all tasks of the daemon share: the image rules, the prepared
    roots and the buildroots' id range."""

    def __init__(self, config: Config) -> None:
        self.policies = PolicyCache(config.image_policy_ttl)
        self.cache = RootCache(config)
        # packages fetched over topurl, for as many repos as roots are kept
        self.downloads = PackageCache(config.buildroot_dir / "downloads",
                                      keep=config.buildroot_cache_roots)  # fmt: skip
        self.config_rules = parse_rules(config.image_policy, where="kojid.conf [adjutant]")
        self.ids = build_id_range(config, "kojid.conf")

    @property
    def idmap(self) -> Optional[str]:
        """podman's uid/gid map of every buildroot container (TaskSpec.idmap)."""
        return f"{self.ids[0]}:{self.ids[1]}" if self.ids else None

    def host_ids(self, uid: int, gid: int) -> tuple[int, int]:
        """The host uid and gid of an id pair inside a buildroot."""
        start = self.ids[0] if self.ids else 0
        return start + uid, start + gid

    @property
    def root_owner(self) -> tuple[int, int]:
        """Who root of a buildroot is on the host: the owner of a new root."""
        return self.host_ids(0, 0)

    @property
    def build_owner(self) -> tuple[int, int]:
        """Who the build user (mockbuild) is on the host: the owner of what the
        daemon makes in a task's work directory."""
        return self.host_ids(BUILD_UID, BUILD_GID)


def work_file_path(relpath: str) -> str:
    """A path under the hub's work/ as given in a task's parameters, checked."""
    parts = Path(relpath).parts
    if not relpath or relpath.startswith("/") or ".." in parts:
        raise build_error(f"{relpath!r} is not a path under the hub's work directory")
    return relpath


async def fetch_work_file(config: Config, relpath: str, destination: Path) -> Path:
    """Copy <topdir>/work/<relpath> (or fetch <topurl>/work/<relpath>) to
    `destination`, a path of the daemon's own (TaskContext.private_dir)."""
    relpath = work_file_path(relpath)
    destination.parent.mkdir(parents=True, exist_ok=True)
    local = config.topdir / "work" / relpath
    loop = asyncio.get_running_loop()
    if local.is_file():
        await loop.run_in_executor(None, shutil.copyfile, local, destination)
        return destination
    url = f"{config.topurl}/work/{urllib.parse.quote(relpath)}"

    def download() -> None:
        try:
            with urllib.request.urlopen(url, timeout=300) as response, \
                    open(destination, "wb") as out:  # fmt: skip
                shutil.copyfileobj(response, out)
        except OSError as exc:
            raise build_error(f"cannot fetch {url}: {exc}") from None

    await loop.run_in_executor(None, download)
    return destination


def repo_arch(arch: str, tag_arches: list[str]) -> str:
    """The buildroot arch: the task's arch, or for noarch this host's arch if the
    tag has it (kojid's find_arch), else the tag's first arch."""
    if arch != "noarch":
        return arch
    import koji

    here = koji.canonArch(os.uname().machine)
    if here in tag_arches or not tag_arches:
        return here
    return tag_arches[0]


# 32-bit arches built on their 64-bit hosts run with the 32-bit personality, so
# uname -m (and configure scripts) see the target, as mock's setarch does.
PERSONALITY_32 = {"x86_64": "i386", "aarch64": "arm", "ppc64": "ppc", "s390x": "s390"}


def personality_for(target_arch: str, host_arch: str) -> Optional[str]:
    """podman's --personality for building `target_arch` on `host_arch`."""
    import koji

    family = koji.canonArch(target_arch)
    if family == "armhfp":  # armv7hl and friends
        family = "arm"
    host = koji.canonArch(host_arch)
    return "LINUX32" if PERSONALITY_32.get(host) == family else None


def selinux_enabled() -> bool:
    """Whether this host has SELinux on (its filesystem is mounted)."""
    return os.path.exists("/sys/fs/selinux/enforce")


def build_mounts(*, workdir: Path, inputs: Path, selinux: bool) -> list[Mount]:
    """What every container of a buildroot sees of the host: the task's work
    directory (read-write, its own) and the daemon's scripts and inputs
    (read-only).  With SELinux on, both are relabelled private to the task's
    containers (Z)."""
    label = "Z" if selinux else None
    return [Mount(str(workdir), BUILDDIR, read_only=False, selinux=label),
            Mount(str(inputs), INPUTS, selinux=label)]  # fmt: skip


def install_mounts(*, root: Path, dnf_cache: Path, repo_dir: Optional[Path],
                   packages: Optional[Path], selinux: bool) -> list[Mount]:  # fmt: skip
    """What a bootstrap container installing into `root` sees besides: the
    root at /buildroot and the task's package cache (read-write, relabelled
    private, Z); a repo under topdir, and the packages its toplink points
    into, read-only at their own paths (the repo relabelled shared, z).
    packages/ is far too big to relabel on every build: label it once for
    containers (container_ro_file_t; virt_use_nfs on an NFS /mnt/koji), see
    the README.  A repo over topurl has neither."""
    private = "Z" if selinux else None
    mounts = [Mount(str(root), INSTALLROOT, read_only=False),
              Mount(str(dnf_cache), DNF_CACHE, read_only=False, selinux=private)]  # fmt: skip
    if repo_dir is not None:
        mounts.append(Mount(str(repo_dir), str(repo_dir), selinux="z" if selinux else None))
    if repo_dir is not None and packages is not None:
        mounts.append(Mount(str(packages), str(packages)))
    return mounts


class Buildroot:
    def __init__(self, ctx: BuildContext, *, tag: Any, repo_id: int, arch: str,
                 group: str) -> None:  # fmt: skip
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
                    proxy=self.config.yum_proxy)  # fmt: skip

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
                                                                  strict=True))  # fmt: skip
        state = koji.REPO_STATES[self.repo_info["state"]]
        if state not in REPO_USABLE_STATES:
            raise build_error(f"repo {self.repo_id} of tag {self.repo_info.get('tag_name')} "
                              f"is {state}")  # fmt: skip
        event = self.repo_info["create_event"]
        self.build_config = await memo.once("build_config", lambda: hub.call(
            "getBuildConfig", self.tag, event=event))  # fmt: skip
        if not self.build_config:
            raise build_error(f"no build config for tag {self.tag}")
        if self.build_config["id"] != self.repo_info["tag_id"]:
            raise build_error(f"tag/repo mismatch: {self.build_config['name']} vs "
                              f"{self.repo_info.get('tag_name')}")  # fmt: skip
        arches = (self.build_config.get("arches") or "").split()
        if self.arch != "noarch" and arches and koji.canonArch(self.arch) not in \
                [koji.canonArch(a) for a in arches]:  # fmt: skip
            raise build_error(f"tag {self.tag_name} does not build for {self.arch} "
                              f"(arches: {' '.join(arches)})")  # fmt: skip
        # kojid's BuildRoot: the buildroot (and its repo directory, which the hub
        # writes by canonical arch: i686 -> i386) is the canonical arch
        self.br_arch = koji.canonArch(repo_arch(self.arch, arches))
        try:
            self.location = locate_repo(topdir=self.config.topdir, topurl=self.config.topurl,
                                        tag=self.tag_name, repo_id=self.repo_id,
                                        arch=self.br_arch)  # fmt: skip
        except RepoFetchError as exc:
            raise build_error(str(exc)) from None
        # the hub has the repo (and answers) before anything is started
        await self.repo_file(f"{self.br_arch}/repodata/repomd.xml")
        tag_id = self.repo_info["tag_id"]
        self._external_repos = await memo.once("external_repos", lambda: hub.call(
            "getExternalRepoList", tag_id, event=event))  # fmt: skip
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
                            target_arch=self.target_arch)  # fmt: skip

    def environment(self) -> dict[str, str]:
        return build_environment(self.extra, tag=self.tag_name)

    # ---- the image --------------------------------------------------------------------

    def choose_image(self) -> str:
        rules = self.services.policies.get(self.tag_name)
        if rules is None:
            rules = parse_rules(self.extra.get(POLICY_KEY), where=f"tag {self.tag_name}")
            self.services.policies.put(self.tag_name, rules)
        # the image policy, else the tag's mock.bootstrap_image, else task_image
        default = self.mock_options.bootstrap_image or self.config.task_image
        return choose_image([*rules, *self.services.config_rules], tag=self.tag_name,
                            arch=self.br_arch, method=self.ctx.method,
                            default=default)  # fmt: skip

    async def ensure_image(self, image: str) -> str:
        """Pull `image` as the pull policy says; returns its image id."""
        try:
            return await ensure_image(self.ctx, image, self.note)
        except ImageError as exc:
            raise build_error(str(exc)) from None

    # ---- containers -------------------------------------------------------------------

    @property
    def inputs(self) -> Path:
        """The daemon's directory of scripts and inputs, /adjutant (read-only) in
        every container: no step can change what the next one runs or reads."""
        path = self.ctx.private_dir / "inputs"
        path.mkdir(mode=0o755, exist_ok=True)
        return path

    @property
    def view(self) -> TaskView:
        return TaskView(self.config.buildroot_dir, self.ctx.task_id)

    def _spec(self, command: Sequence[str], *, image: str, mounts: Sequence[Mount],
              network: bool = False, limits: Optional[ResourceLimits] = None,
              rootfs: Optional[Path] = None, as_build_user: bool = False) -> TaskSpec:  # fmt: skip
        spec = self.ctx.container_spec(
            command, image=image, network=network, limits=limits or self.build_limits(),
            mounts=[*build_mounts(workdir=self.ctx.workdir, inputs=self.inputs,
                                  selinux=selinux_enabled()), *mounts],
            workdir=BUILDDIR,
            personality=personality_for(self.target_arch, os.uname().machine),
        )  # fmt: skip
        return dataclasses.replace(
            spec, idmap=self.services.idmap, rootfs=str(rootfs) if rootfs else None,
            user=f"{BUILD_UID}:{BUILD_GID}" if as_build_user else None,
            drop_caps=as_build_user)  # fmt: skip

    @property
    def dnf_cache(self) -> Path:
        """The installing steps' package cache: the task's, next to its view."""
        return self.view.path / "dnf"

    def install_spec(self, script: str, root: Path) -> TaskSpec:
        """A bootstrap container, as root, installing into `root` from the tag's repo."""
        packages = self.config.topdir / "packages"
        mounts = install_mounts(root=root, dnf_cache=self.dnf_cache, repo_dir=self.location.local,
                                packages=packages if packages.is_dir() else None,
                                selinux=selinux_enabled())  # fmt: skip
        return self._spec(["/bin/bash", script], image=self.image, mounts=mounts,
                          network=self.install_network)  # fmt: skip

    async def install(self, step: str, script: str, root: Path) -> Outcome:
        """An installing step: the host's packages of the repo seeded into the
        task's cache before, what it downloaded taken into the host's after
        (downloads.py)."""
        downloads, url = self.services.downloads, self.repo.url
        loop = asyncio.get_running_loop()
        self.view.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        seeded = await loop.run_in_executor(None, lambda: downloads.seed(
            url, self.dnf_cache, self.services.root_owner))  # fmt: skip
        if self.location.remote:
            await self.note(f"Note: {seeded} packages of {url} from this host's cache")
        try:
            return await self.ctx.run_container(step, self.install_spec(script, root))
        finally:
            taken = await loop.run_in_executor(None, lambda: downloads.harvest(
                url, self.dnf_cache))  # fmt: skip
            if taken:
                await self.note(f"Note: {len(taken)} packages downloaded from {url}, "
                                "kept in this host's cache")  # fmt: skip
                await loop.run_in_executor(None, downloads.prune)

    def root_spec(self, script: str) -> TaskSpec:
        """A container of the task's buildroot, as the build user, no network."""
        return self._spec(["/bin/bash", script], image=self.image, mounts=(),
                          rootfs=self.view.root, as_build_user=True)  # fmt: skip

    def bootstrap_spec(self, script: str, *, network: bool,
                       extra_mounts: Sequence[Mount] = ()) -> TaskSpec:  # fmt: skip
        """A bootstrap container as the build user, outside the buildroot (the
        SCM checkout: the bootstrap image has git, the buildroot need not)."""
        return self._spec(["/bin/bash", script], image=self.image, mounts=extra_mounts,
                          network=network, as_build_user=True)  # fmt: skip

    def build_limits(self) -> ResourceLimits:
        """The configured task limits, with kojid's rpmbuild_timeout as run-time limit."""
        return dataclasses.replace(task_limits(self.config),
                                   runtime_max=float(self.config.rpmbuild_timeout))  # fmt: skip

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
        import datetime

        # mock's state.log format: UTC, milliseconds after a comma
        now = datetime.datetime.now(datetime.timezone.utc)
        stamp = now.strftime("%Y-%m-%d %H:%M:%S,") + f"{now.microsecond // 1000:03d}"

        owner = self.services.build_owner

        def write(directory: UntrustedDir) -> None:
            # the build user appends to state.log too
            directory.make_dir("result", owner=owner)
            directory.note("result/state.log", f"{stamp} {line}\n", owner=owner)

        try:
            await self.ctx.in_workdir(write)
        except UntrustedFileError as exc:
            raise build_error(str(exc)) from None

    async def read_result(self, name: str, *, max_size: int = 64 * 1024**2,
                          missing_ok: bool = False) -> str:  # fmt: skip
        """The text of result/<name>, refused if it is not a plain file."""
        try:
            return str(await self.ctx.in_workdir(
                lambda d: d.read_text(f"result/{name}", max_size=max_size)))  # fmt: skip
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
            "host.newBuildRoot", self.repo_id, self.br_arch, task_id=task_id)))  # fmt: skip
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
                repo=self.repo, group=self.group, packages=packages))  # fmt: skip
            outcome = await self.install("buildroot-prepare", script, root)
            if not outcome.ok:
                raise await self.failure(outcome, "setting up the buildroot")
            return await self.copy_result("buildroot-group.tsv", max_size=64 * 1024**2)

        self.prepared_root, group_list, self.cache_hit = \
            await self.services.cache.ensure(key, make, task_id=task_id)  # fmt: skip
        await self.view.mount(self.prepared_root, owner=self.services.root_owner)
        ignored = self.mock_options.not_applicable
        if ignored:
            await self.note("Note: tag extras for mock itself, not applicable here: "
                            + " ".join(ignored))  # fmt: skip
        how = "from the prepared root" if self.cache_hit else "prepared into"
        await self.note(f"Start: buildroot {how} {self.prepared_root} (bootstrap image "
                        f"{self.image}); this task's view: {self.view.root}")  # fmt: skip
        group_rpms = await self.hub_rpm_list(group_list)
        await memo.once("buildroot_list", lambda: hub.call(
            "host.setBuildRootList", self.brootid, group_rpms))  # fmt: skip
        await memo.once("buildroot_building", lambda: hub.call(
            "host.setBuildRootState", self.brootid, "BUILDING"))  # fmt: skip

    async def install_requirements(self, step: str, srpm: str, what: str) -> Outcome:
        """`dnf builddep` of `srpm` (a file in the inputs) into the task's view."""
        script = self.write_script(f"{step}.sh", deps_script(
            repo=self.repo, srpm=f"{INPUTS}/{srpm}", what=what))  # fmt: skip
        outcome = await self.install(step, script, self.view.root)
        if outcome.ok:
            # root's list of the buildroot, taken before the build user runs
            await self.copy_result("buildroot.tsv", max_size=64 * 1024**2)
        return outcome

    async def run(self, step: str, script_name: str, script: str) -> Outcome:
        """A script as the build user in the task's buildroot."""
        return await self.ctx.run_container(step, self.root_spec(
            self.write_script(script_name, script)))  # fmt: skip

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
            source_only=source_only)))  # fmt: skip
        for round_ in range(1, DYNAMIC_ROUNDS + 1):
            suffix = "" if round_ == 1 else f"-{round_}"
            outcome = await self.ctx.run_container(f"build{suffix}", spec)
            if outcome.kind.value != "failed" or outcome.exit_status != EXIT_MORE_DEPS:
                return outcome
            nosrc = f"buildreqs-{round_}.nosrc.rpm"
            await self.copy_out(BUILDREQS_NOSRC, self.inputs / nosrc, max_size=256 * 1024**2)
            deps = await self.install_requirements(f"deps-{round_ + 1}", nosrc,
                                                   "generated build requirements")  # fmt: skip
            if not deps.ok:
                return deps
        raise build_error(f"%generate_buildrequires still wanted more after {DYNAMIC_ROUNDS} "
                          "rounds")  # fmt: skip

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
        )  # fmt: skip
        if foreign:
            await self.note("Note: not from the tag's repo, so not in the hub's buildroot list: "
                      + " ".join(sorted(foreign)))  # fmt: skip
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
            "host.updateBuildRootList", self.brootid, rpms))  # fmt: skip
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
                "host.setBuildRootState", self.brootid, "EXPIRED"))  # fmt: skip

    # ---- failures a packager can read ----------------------------------------------------

    async def failure(self, outcome: Outcome, what: str) -> Exception:
        """The packager's one-line reason (and the log's end) for a failed step;
        the logs are the container's, read as untrusted."""
        from adjutant.buildroot.script import EXIT_BUILD, EXIT_CHECKOUT, EXIT_DEPS, EXIT_SETUP

        status = outcome.exit_status if outcome.kind.value == "failed" else None
        if status in (EXIT_DEPS, EXIT_SETUP):
            root_log = await self.result_text("root.log")
            missing = missing_packages(root_log)
            said = [line[len("adjutant: "):] for line in outcome.log_tail
                    if line.startswith("adjutant: ")]  # the script's own words
            reason = ("could not install the build requirements" if status == EXIT_DEPS
                      else f"could not set up the buildroot ({what})")  # fmt: skip
            if status == EXIT_SETUP and said:
                reason += f": {said[-1]}"
            if missing:
                reason += ": " + "; ".join(missing)
            return build_error(reason + tail_text(root_log))
        if status == EXIT_BUILD:
            return build_error("rpmbuild failed" + tail_text(await self.result_text("build.log")))
        if status == EXIT_CHECKOUT:
            return build_error("the source checkout failed"
                               + tail_text(await self.result_text("checkout.log")))  # fmt: skip
        return build_error(f"{what}: {outcome.message}" + tail_of(Path(outcome.log_path or "")))

    async def result_text(self, name: str) -> str:
        """The last 256 KiB of result/<name>, or why it cannot be read."""
        def read(directory: UntrustedDir) -> str:
            try:
                fd = directory.open_regular(f"result/{name}")
            except MissingFileError:
                return ""
            try:
                size = os.fstat(fd).st_size
                os.lseek(fd, max(0, size - 256 * 1024), os.SEEK_SET)
                return os.read(fd, 256 * 1024).decode(errors="replace")
            finally:
                os.close(fd)

        try:
            return str(await self.ctx.in_workdir(read))
        except UntrustedFileError as exc:
            return f"({exc})"


def tail_text(text: str, lines: int = 10) -> str:
    tail = text.splitlines()[-lines:]
    return ("\n" + "\n".join(tail)) if tail else ""


def tail_of(path: Path, lines: int = 10) -> str:
    """The end of a log of the daemon's own (the unit's journal copy)."""
    from adjutant.runner.journal import read_tail

    tail = read_tail(path, lines) if str(path) else ()
    return ("\n" + "\n".join(tail)) if tail else ""


NO_MATCH = re.compile(r"(?:No match for argument|Unable to find a match):\s*(.+)")
NOTHING_PROVIDES = re.compile(r"nothing provides (\S+(?: [<>=]+ \S+)?)")
# dnf builddep's words for a requirement no package provides
NO_MATCHING = re.compile(r"No matching package to install: '([^'\n]+)'")


def missing_packages(text: str) -> list[str]:
    """The package names dnf could not find, from root.log's text."""
    found: list[str] = []
    for match in [*NO_MATCH.finditer(text), *NO_MATCHING.finditer(text),
                  *NOTHING_PROVIDES.finditer(text)]:
        name = match.group(1).strip()
        if name not in found:
            found.append(name)
    return [f"no package provides {name}" for name in found]

