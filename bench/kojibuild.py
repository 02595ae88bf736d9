#!/usr/bin/env python3
"""`koji build --scratch` of a small package end to end, queued -> CLOSED,
with adjutant as the only builder: a benchmark, not a test.

Run inside the test host:

    tests/host/testhost run python3 bench/kojibuild.py [--runs 3]

The tag's repo is the test distribution (testdistro.py; about 120 packages)
on the hub emulator, with adjutant's daemon against it.  Each run uploads an
SRPM as `koji build --scratch` does and times the parent build task from
its creation to its close (the rebuildSRPM and buildArch subtasks, their
buildroots, moveBuildToScratch).  The first run prepares the buildroots
(cold); the others use the prepared roots (warm).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.hub.admin import HubAdmin, HubProcess
from tests.integration.daemon_support import (
    HOST,
    PASSWORD,
    Daemon,
    buildroot_dir,
    wait_for,
    write_config,
)
from tests.integration.rpmrepo import Package, rpmbuild
from tests.integration.testdistro import test_distro

TAG, DEST, TARGET = "bench-build", "bench-dest", "bench-target"


def main(runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="adjutant-bench-build-") as tmp_name:
        tmp = Path(tmp_name)
        topdir = tmp / "koji"
        topdir.mkdir()
        admin = HubAdmin(tmp / "hub.sqlite", topdir=topdir)
        admin.add_host(HOST, capacity=20.0, password=PASSWORD)
        admin.add_tag(TAG, arches=("x86_64",), extra={"rpm.macro.dist": ".bench1"})
        admin.add_tag(DEST, arches=("x86_64",))
        admin.add_target(TARGET, TAG, DEST)
        distro = test_distro()
        for path in [*distro.srpms, *distro.rpms]:
            admin.import_rpm(path)
        repo_id = admin.add_repo(TAG, rpms=[p.name[:-4] for p in distro.rpms],
                                 groups=distro.groups)
        admin.createrepo(repo_id)
        [srpm] = rpmbuild(Package(name="bench-hello", arch="",
                                  build="echo compiling; echo done").spec(),
                          tmp / "rpms", binary=False)
        roots = buildroot_dir(tmp)
        times = []
        with HubProcess(tmp / "hub.sqlite", topdir) as hub:
            daemon = Daemon(write_config(tmp, hub, topdir=topdir, maxjobs=4))
            daemon.start()
            try:
                for run in range(runs):
                    upload = topdir / "work" / "cli-build" / f"{run}.{time.time():.6f}"
                    upload.mkdir(parents=True)
                    shutil.copy(srpm, upload / srpm.name)
                    src = f"{upload.relative_to(topdir / 'work')}/{srpm.name}"
                    task_id = admin.create_task("build", [src, TARGET, {"scratch": True}])
                    wait_for(lambda t=task_id: admin.task(t)["state_name"] in
                             ("CLOSED", "FAILED"), 900, "the build")
                    info = admin.task(task_id)
                    assert info["state_name"] == "CLOSED", admin.decoded_result(task_id)
                    times.append(info["completion_ts"] - info["create_ts"])
                    print(f"  run {run + 1}: {times[-1]:.2f} s"
                          f"{' (cold: buildroots prepared)' if run == 0 else ''}", flush=True)
            finally:
                daemon.stop()
        shutil.rmtree(roots, ignore_errors=True)
    warm = times[1:] or times
    print(f"\nkoji build --scratch of a small package, queued -> CLOSED; runs: {runs}")
    print(f"cold (first): {times[0]:.2f} s")
    print(f"warm: {statistics.median(warm):.2f} s (min {min(warm):.2f}, max {max(warm):.2f})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=4)
    main(parser.parse_args().runs)
