"""A small Koji site in the test host: the hub emulator with a build tag and
a real repo (test packages built with rpmbuild, createrepo_c, comps groups),
and adjutant's daemon serving it.  Used by the build tests and by ./demo."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.integration.daemon_support import (
    HOST,
    PASSWORD,
    Daemon,
    stop_task_units,
    wait_for,
    write_config,
)
from tests.integration.rpmrepo import BUILD_GROUP, Package, build_test_packages, rpmbuild

TAG = "adj-build"
CACHE_LIMIT = 2
DIST = ".adj1"
SLOW_BUILD = Package(name="slow-build", build="echo 'HALFWAY THERE'\nsleep 8\necho done")


class Site:
    """The hub, its tag and repo, and the daemon, shared by this module's tests."""

    def __init__(self, tmp: Path) -> None:
        from tests.hub.admin import HubAdmin, HubProcess

        self.tmp = tmp
        self.topdir = tmp / "koji"
        self.topdir.mkdir()
        self.admin = HubAdmin(tmp / "hub.sqlite", topdir=self.topdir)
        self.admin.add_host(HOST, arches=("x86_64", "noarch"), capacity=20.0, password=PASSWORD)
        self.admin.add_tag(TAG, arches=("x86_64",), extra={"rpm.macro.dist": DIST})
        self.packages = build_test_packages(tmp / "packages")
        [self.slow_srpm] = rpmbuild(SLOW_BUILD.spec(), tmp / "packages", binary=False)
        for path in sorted(self.packages.repo_srpms) + sorted(self.packages.rpms):
            self.admin.import_rpm(path)
        names = [f"{p.name[:-len('.rpm')]}" for p in self.packages.rpms]
        self.repo_id = self.admin.add_repo(TAG, rpms=names, groups={
            "build": list(BUILD_GROUP), "srpm-build": list(BUILD_GROUP)})
        self.admin.createrepo(self.repo_id)
        srpms = self.topdir / "work" / "srpms"
        srpms.mkdir(parents=True)
        for path in [*self.packages.srpms.values(), self.slow_srpm]:
            shutil.copy(path, srpms / path.name)
        self.hub = HubProcess(tmp / "hub.sqlite", self.topdir)
        self.hub.start()
        self.daemon = Daemon(write_config(
            tmp, self.hub, topdir=self.topdir, maxjobs=10,
            allowed_scms="10.88.0.1*:/*", adjutant={"buildroot_cache_images": CACHE_LIMIT}))
        self.daemon.start()

    def close(self) -> None:
        self.daemon.stop()
        self.hub.stop()
        # A failed test may leave a task's unit running (the daemon stops, units
        # do not); the next run's emulator numbers its tasks from 1 again.
        stop_task_units()

    def build_arch(self, srpm: str, arch: str = "x86_64", keep_srpm: bool = False) -> int:
        path = f"srpms/{Path(srpm).name}"
        params = [path, TAG, arch, keep_srpm, {"repo_id": self.repo_id}]
        return self.admin.create_task("buildArch", params, arch=arch)

    def srpm_of(self, name: str) -> str:
        return self.packages.srpms[name].name

    def state(self, task_id: int) -> str:
        return self.admin.task(task_id)["state_name"]

    def wait_done(self, task_id: int, timeout: float = 240) -> str:
        wait_for(lambda: self.state(task_id) in ("CLOSED", "FAILED", "CANCELED"), timeout,
                 f"task {task_id} to finish")  # fmt: skip
        return self.state(task_id)

    def result(self, task_id: int):
        return self.admin.decoded_result(task_id)

    def upload(self, task_id: int, name: str) -> Path:
        return self.topdir / "work" / "tasks" / str(task_id % 10000) / str(task_id) / name


