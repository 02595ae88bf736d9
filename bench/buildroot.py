#!/usr/bin/env python3
"""Cold and warm buildroots, and a whole build against bare rpmbuild: a
benchmark, not a test.

Run inside the test host:

    tests/host/testhost run python3 bench/buildroot.py [--group 150] [--runs 3]

It makes a build group of realistic size (a Fedora buildroot installs about
150 packages): synthetic noarch packages with real payload (random bytes,
50 KiB to 1 MiB each), plus 5 BuildRequires of the package it builds, all in
a Koji-style repo on the hub emulator, and runs adjutant's daemon against it.

  cold     buildArch with no cached buildroot: openTask -> rpmbuild starts
           (group install + commit + BuildRequires)
  warm     the same package again: openTask -> rpmbuild starts (cached group
           image; BuildRequires only)
  task     openTask -> closeTask of the warm build
  bare     `podman run --rm` of the cached image installing the same
           BuildRequires and running `rpmbuild --rebuild` of the same SRPM:
           the work with none of adjutant around it
"""

from __future__ import annotations

import argparse
import datetime
import random
import shutil
import statistics
import subprocess
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
    wait_for,
    write_config,
)
from tests.integration.rpmrepo import Package, rpmbuild

TAG = "bench-build"
CACHE = "localhost/adjutant-buildroot-cache"


def state_times(path: Path) -> dict[str, float]:
    """'Start: rpmbuild' -> epoch seconds, from a state.log (UTC, ms)."""
    times = {}
    for line in path.read_text().splitlines():
        stamp, _, event = line[:23], line[23:24], line[24:]
        moment = datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f")
        times.setdefault(event, moment.replace(tzinfo=datetime.timezone.utc).timestamp())
    return times


def call_time(admin: HubAdmin, method: str, task_id: int) -> float:
    [call] = [c for c in admin.calls(method=method, task_id=task_id) if c["ok"]]
    return call["ts"]


def drop_cached_buildroots(state_dir: Path) -> None:
    images = subprocess.run(["podman", "images", "--format", "{{.Repository}}:{{.Tag}}",
                             CACHE], capture_output=True, text=True, check=True).stdout.split()
    for image in images:
        subprocess.run(["podman", "rmi", "-f", image], capture_output=True, check=False)
    shutil.rmtree(state_dir / "buildroot-cache", ignore_errors=True)


def bare_builds(repo_arch: Path, image: str, srpm: Path, requires: list[str],
                runs: int) -> list[float]:  # fmt: skip
    """The same work as a build, with nothing of adjutant around it."""
    script = ("dnf -y -q --setopt=reposdir=/dev/null --nogpgcheck --releasever=koji "
              f"--repofrompath=koji,file://{repo_arch} --repo=koji install {' '.join(requires)}"
              f" >/dev/null && rpmbuild --rebuild /srpm/{srpm.name} >/dev/null 2>&1")
    topdir = repo_arch.parents[3]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(["podman", "run", "--rm", "--network=none",
                        "-v", f"{topdir}:{topdir}:ro", "-v", f"{srpm.parent}:/srpm:ro",
                        image, "sh", "-c", script], check=True)  # fmt: skip
        times.append(time.perf_counter() - start)
    return times


def median(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f} s (min {min(values):.2f}, max {max(values):.2f})"


def make_repo(tmp: Path, group_size: int):
    """The tag, its repo with the build group, and the SRPM to build."""
    rng = random.Random(1)
    topdir = tmp / "koji"
    topdir.mkdir()
    admin = HubAdmin(tmp / "hub.sqlite", topdir=topdir)
    admin.add_host(HOST, capacity=20.0, password=PASSWORD)
    admin.add_tag(TAG, arches=("x86_64",), extra={"rpm.macro.dist": ".bench1"})
    print(f"making {group_size} group packages and 5 BuildRequires ...", flush=True)
    started = time.monotonic()
    group = [Package(name=f"bench-group-{i:03d}", payload_kib=rng.randint(50, 1024))
             for i in range(group_size)]  # fmt: skip
    deps = [Package(name=f"bench-dep-{i}", payload_kib=200) for i in range(5)]
    built = []
    for package in [*group, *deps]:
        built += rpmbuild(package.spec(), tmp / "rpms")
    srpms = [p for p in built if p.name.endswith(".src.rpm")]
    rpms = [p for p in built if not p.name.endswith(".src.rpm")]
    for path in srpms + rpms:
        admin.import_rpm(path)
    repo_id = admin.add_repo(TAG, rpms=[p.name[:-4] for p in rpms],
                             groups={"build": [p.name for p in group]})  # fmt: skip
    admin.createrepo(repo_id)
    payload = sum(p.stat().st_size for p in rpms) / 2**20
    print(f"  {len(rpms)} RPMs, {payload:.0f} MiB, in {time.monotonic() - started:.0f} s")
    app = Package(name="bench-app", build_requires=[p.name for p in deps],
                  build="for i in 1 2 3; do echo building $i; done")  # fmt: skip
    [app_srpm] = rpmbuild(app.spec(), tmp / "rpms", binary=False)
    (topdir / "work" / "srpms").mkdir(parents=True)
    shutil.copy(app_srpm, topdir / "work" / "srpms" / app_srpm.name)
    return admin, topdir, repo_id, app_srpm, [p.name for p in deps], payload


def main(group_size: int, runs: int, verbose: bool = False) -> None:
    with tempfile.TemporaryDirectory(prefix="adjutant-bench-") as tmp_name:
        tmp = Path(tmp_name)
        admin, topdir, repo_id, app_srpm, deps, payload = make_repo(tmp, group_size)
        with HubProcess(tmp / "hub.sqlite", topdir) as hub:
            daemon = Daemon(write_config(tmp, hub, topdir=topdir, maxjobs=2))
            daemon.start()
            cold, warm, whole = [], [], []
            try:
                def build() -> tuple[float, float]:
                    task_id = admin.create_task("buildArch", [
                        f"srpms/{app_srpm.name}", TAG, "noarch", False, {"repo_id": repo_id}])
                    wait_for(lambda: admin.task(task_id)["state_name"] in ("CLOSED", "FAILED"),
                             900, "the build")  # fmt: skip
                    assert admin.task(task_id)["state_name"] == "CLOSED", \
                        admin.decoded_result(task_id)  # fmt: skip
                    opened = call_time(admin, "host.openTask", task_id)
                    closed = call_time(admin, "host.closeTask", task_id)
                    state = topdir / "work" / "tasks" / str(task_id % 10000) / str(task_id)
                    ready = state_times(state / "state.log")["Start: rpmbuild"]
                    if verbose:
                        print((state / "state.log").read_text(), flush=True)
                    return ready - opened, closed - opened

                for run in range(runs):
                    drop_cached_buildroots(tmp / "state")
                    prepared, _ = build()
                    cold.append(prepared)
                    for _ in range(2):
                        prepared, total = build()
                        warm.append(prepared)
                        whole.append(total)
                    print(f"  run {run + 1}: cold {cold[-1]:.2f} s, warm {warm[-1]:.2f} s",
                          flush=True)
                image = subprocess.run(["podman", "images", "--format",
                                        "{{.Repository}}:{{.Tag}}", CACHE], capture_output=True,
                                       text=True, check=True).stdout.split()[0]  # fmt: skip
            finally:
                daemon.stop()
        bare = bare_builds(topdir / "repos" / TAG / str(repo_id) / "x86_64", image,
                           app_srpm, deps, runs * 2)  # fmt: skip
        drop_cached_buildroots(tmp / "state")  # leave no benchmark images behind

    print(f"\nbuild group: {group_size} packages, {payload:.0f} MiB; runs: {runs}")
    print(f"cold buildroot (openTask -> rpmbuild starts): {median(cold)}")
    print(f"warm buildroot (openTask -> rpmbuild starts): {median(warm)}")
    print(f"  warm is {statistics.median(cold) / statistics.median(warm):.1f} times faster "
          "(aim: at least 5)")  # fmt: skip
    print(f"whole warm task (openTask -> closeTask):      {median(whole)}")
    print(f"bare podman run: dnf BuildRequires + rpmbuild --rebuild: {median(bare)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--group", type=int, default=150)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--verbose", action="store_true", help="print each task's state.log")
    arguments = parser.parse_args()
    main(arguments.group, arguments.runs, arguments.verbose)
