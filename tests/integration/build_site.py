"""A small Koji site in the test host: the hub emulator with a build tag and
a real repo (the test distribution's packages, made from Debian's, and test
packages built with rpmbuild; createrepo_c, comps groups), and adjutant's
daemon serving it.  Used by the build tests and by ./demo."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Optional

from tests.integration.daemon_support import (
    HOST,
    PASSWORD,
    Daemon,
    buildroot_dir,
    stop_task_units,
    wait_for,
    write_config,
)
from tests.integration.rpmrepo import Package, autotools_srpm, build_test_packages, rpmbuild
from tests.integration.testdistro import test_distro

TAG = "adj-build"
CACHE_LIMIT = 2
DIST = ".adj1"
SLOW_BUILD = Package(name="slow-build", build="echo 'HALFWAY THERE'\nsleep 8\necho done")
# the reproduction: a line every 0.5 s for 30 s
LONG_BUILD = Package(name="long-build",
                     build='for i in $(seq 1 60); do echo "long line $i"; sleep 0.5; done')
OTHER_HOST = "kojid-elsewhere.example.com"
FAILED_KEPT = 6  # seconds a failed build's work directory stays (failed_buildroot_lifetime)
# in the build group of `new_repo(slow_setup=True)`: a buildroot preparation
# that takes long enough to be cancelled while it runs
# (a Lua scriptlet: the image has no RPM providing /bin/sh for a shell one)
SLOW_SETUP = Package(name="slow-setup", extra=(
    "%pre -p <lua>\nprint('slow setup starts')\n"
    "if posix and posix.sleep then posix.sleep(20) else\n"
    "local t = os.time() while os.time() - t < 20 do end end\n"))


class Site:
    """The hub, its tag and repo, and the daemon, shared by this module's tests."""

    def __init__(self, tmp: Path, *, hostile: bool = False) -> None:
        from tests.hub.admin import HubAdmin, HubProcess

        self.tmp = tmp
        self.topdir = tmp / "koji"
        self.topdir.mkdir()
        self.admin = HubAdmin(tmp / "hub.sqlite", topdir=self.topdir)
        # x86_64 hosts build i386-family tasks too (kojid's hosts list i386 for that)
        self.admin.add_host(HOST, arches=("x86_64", "i386", "noarch"), capacity=20.0,
                            password=PASSWORD)
        self.admin.add_tag(TAG, arches=("x86_64",), extra={"rpm.macro.dist": DIST})
        self.distro = test_distro()
        self.groups = self.distro.groups
        self.packages = build_test_packages(tmp / "packages")
        self.packages.srpms["hello-auto"] = autotools_srpm(tmp / "packages")
        [self.slow_srpm] = rpmbuild(SLOW_BUILD.spec(), tmp / "packages", binary=False)
        [self.long_srpm] = rpmbuild(LONG_BUILD.spec(), tmp / "packages", binary=False)
        slow_setup = rpmbuild(SLOW_SETUP.spec(), tmp / "packages")
        self.slow_setup_rpm = next(p for p in slow_setup if not p.name.endswith(".src.rpm"))
        for path in sorted(slow_setup, key=lambda p: not p.name.endswith(".src.rpm")):
            self.admin.import_rpm(path)  # the source rpm (its build) first
        # plays the host of parent tasks (kojid's build task) in the cancel tests
        # in a channel adjutant's host is not in: its parent tasks stay its own
        self.admin.add_host(OTHER_HOST, arches=("x86_64", "noarch"), capacity=20.0,
                            channels=("default", "createrepo"))
        if hostile:
            self._add_hostile_packages(tmp / "packages")
        for path in [*sorted(self.distro.srpms), *sorted(self.distro.rpms),
                     *sorted(self.packages.repo_srpms), *sorted(self.packages.rpms)]:
            self.admin.import_rpm(path)
        self.repo_id = self.admin.add_repo(TAG, rpms=self.repo_rpm_names(), groups=self.groups)
        self.admin.createrepo(self.repo_id)
        srpms = self.topdir / "work" / "srpms"
        srpms.mkdir(parents=True)
        for path in [*self.packages.srpms.values(), self.slow_srpm, self.long_srpm]:
            shutil.copy(path, srpms / path.name)
        # on every address of the test host's own network namespace: the
        # containers of a build reach its topurl too (over_topurl)
        self.hub = HubProcess(tmp / "hub.sqlite", self.topdir, bind="0.0.0.0")
        self.hub.start()
        self.workdir = tmp / "work"
        self.daemon = Daemon(self.write_config())
        self.buildroot_dir = buildroot_dir(tmp)
        self.daemon.start()

    def write_config(self, **changes: object) -> Path:
        """The daemon's kojid.conf, with `changes` to its [kojid] keys (and
        buildroot_dir); the daemon reads it when it (re)starts."""
        adjutant: dict[str, object] = {"buildroot_cache_roots": CACHE_LIMIT}
        if "buildroot_dir" in changes:
            adjutant["buildroot_dir"] = changes.pop("buildroot_dir")
        kojid: dict[str, object] = {
            "topdir": self.topdir, "maxjobs": 10, "workdir": self.workdir,
            "failed_buildroot_lifetime": FAILED_KEPT,
            # a deny entry first, as sites keep forks out (the hostile SCM test)
            "allowed_scms": "!10.88.0.1*:/forks/* 10.88.0.1*:/*",
        }
        kojid.update(changes)
        return write_config(self.tmp, self.hub, adjutant=adjutant, **kojid)

    def _add_hostile_packages(self, workdir: Path) -> None:
        """The hostile set (tests/integration/hostile.py): two in the repo, the
        rest SRPMs to build; and the host secret they try to get out."""
        from tests.integration import hostile

        for package in hostile.REPO_PACKAGES:
            made = rpmbuild(package.spec(), workdir)
            self.packages.rpms += [p for p in made if not p.name.endswith(".src.rpm")]
            self.packages.repo_srpms += [p for p in made if p.name.endswith(".src.rpm")]
        for package in hostile.SRPMS:
            [srpm] = rpmbuild(package.spec(), workdir, binary=False)
            self.packages.srpms[package.name] = srpm
        # an RPM whose %post would run as root, carried as the SRPM's Source1
        payload = next(p for p in rpmbuild(Package(name="evil-payload").spec(), workdir)
                       if p.name.endswith(".noarch.rpm"))
        shutil.copy(payload, workdir / "rpmbuild" / "SOURCES" / payload.name)
        [srpm] = rpmbuild(hostile.GENERATED_PATH.spec(), workdir, binary=False)
        self.packages.srpms[hostile.GENERATED_PATH.name] = srpm
        secret = Path(hostile.HOST_SECRET)
        secret.parent.mkdir(parents=True, exist_ok=True)
        secret.write_text(hostile.SECRET_TEXT + "\n")
        secret.chmod(0o600)

    def close(self) -> None:
        self.daemon.stop()
        self.hub.stop()
        # A failed test may leave a task's unit running (the daemon stops, units
        # do not); the next run's emulator numbers its tasks from 1 again.
        stop_task_units()
        # the prepared roots (a few hundred MB each), unless a view is still mounted
        if str(self.buildroot_dir) not in Path("/proc/self/mountinfo").read_text():
            shutil.rmtree(self.buildroot_dir, ignore_errors=True)

    def build_arch(self, srpm: str, arch: str = "x86_64", keep_srpm: bool = False, *,
                   repo_id: Optional[int] = None, parent: Optional[int] = None) -> int:
        path = f"srpms/{Path(srpm).name}"
        params = [path, TAG, arch, keep_srpm, {"repo_id": repo_id or self.repo_id}]
        return self.admin.create_task("buildArch", params, arch=arch, parent=parent)

    def parent_task(self) -> int:
        """An OPEN build task on another host, as kojid's parent of buildArch."""
        parent = self.admin.create_task("build", ["srpms/x.src.rpm", TAG, {"scratch": True}],
                                        channel="createrepo")
        self.admin.assign(parent, OTHER_HOST)
        self.admin.set_task(parent, state=1)  # koji.TASK_STATES["OPEN"]
        return parent

    def repo_rpm_names(self, *extra: Path) -> list[str]:
        """The NVRAs of a repo of the tag: the distribution, the test packages."""
        return [p.name[:-len(".rpm")] for p in [*self.distro.rpms, *self.packages.rpms, *extra]]

    def new_repo(self, *, slow_setup: bool = False) -> int:
        """Another repo of the tag (same packages): a buildroot not yet cached;
        with slow_setup, its build group takes 20 s more to install."""
        names = self.repo_rpm_names(*([self.slow_setup_rpm] if slow_setup else []))
        more = ["slow-setup"] if slow_setup else []
        repo_id = self.admin.add_repo(TAG, rpms=names, groups={
            group: [*packages, *more] for group, packages in self.groups.items()})
        self.admin.createrepo(repo_id)
        return repo_id

    def tag_32bit(self) -> tuple[str, int, Path]:
        """A tag building i686 (its repo under i386, the canonical arch, as the
        hub writes it) of the test distribution's i686 half, and an SRPM whose
        build says what machine, target and word size it sees."""
        name = "adj-build-32"
        distro = test_distro(arch="i686")
        # the same Debian: the noarch packages, and the builds, are mostly the x86_64 half's
        have = {p.name for p in [*self.distro.srpms, *self.distro.rpms]}
        for path in [*sorted(distro.srpms), *sorted(distro.rpms)]:
            if path.name not in have:
                self.admin.import_rpm(path)
        self.admin.add_tag(name, arches=("i686",), extra={"rpm.macro.dist": DIST})
        repo_id = self.admin.add_repo(name, rpms=[p.name[:-len(".rpm")] for p in distro.rpms],
                                      groups=distro.groups)
        self.admin.createrepo(repo_id)
        probe = Package(name="arch-probe", arch="", build_requires=["gcc"], build="\n".join([
            'echo "UNAME $(uname -m)"',
            'echo "TARGET %{_target_cpu} %{_host}"',
            'echo "LONG_BIT $(getconf LONG_BIT)"',
            "echo 'int main(void) { return sizeof(long) == 4 ? 0 : 1; }' > probe.c",
            'gcc -o probe probe.c && ./probe && echo "GCC 32-bit"',
        ]))
        [srpm] = rpmbuild(probe.spec(), self.tmp / "packages", binary=False)
        shutil.copy(srpm, self.topdir / "work" / "srpms" / srpm.name)
        return name, repo_id, srpm

    def workdir_of(self, task_id: int) -> Path:
        return self.workdir / "tasks" / str(task_id % 10000) / str(task_id)

    def srpm_of(self, name: str) -> str:
        return self.packages.srpms[name].name

    def state(self, task_id: int) -> str:
        return self.admin.task(task_id)["state_name"]

    def wait_done(self, task_id: int, timeout: float = 240) -> str:
        wait_for(lambda: self.state(task_id) in ("CLOSED", "FAILED", "CANCELED"), timeout,
                 f"task {task_id} to finish")
        return self.state(task_id)

    def result(self, task_id: int):
        return self.admin.decoded_result(task_id)

    def upload(self, task_id: int, name: str) -> Path:
        return self.topdir / "work" / "tasks" / str(task_id % 10000) / str(task_id) / name


