#!/usr/bin/env python3
"""Cold and warm buildroots, and a whole build, against one bare
`dnf --installroot` of the same group: a benchmark, not a test.

Run inside the test host:

    tests/host/testhost run python3 bench/buildroot.py [--runs 3]

The build group is the test distribution's `build` group (testdistro.py: the
Debian packages of a build environment repackaged as RPMs with their files;
about 120 packages, 120 MiB), plus 5 BuildRequires of the package it builds,
in a Koji-style repo on the hub emulator, with adjutant's daemon against it.

  cold     buildArch with no prepared root: openTask -> rpmbuild starts
           (group install into an empty root, the task's view, BuildRequires)
  warm     the same package again: openTask -> rpmbuild starts (a view of the
           prepared root; BuildRequires only)
  task     openTask -> closeTask of the warm build
  bare     `podman run` of the bootstrap image: `dnf --installroot` of the same
           group into an empty directory, nothing of adjutant around it
  step     the cold build's own group install (its state.log's Start to Finish
           of installing the group), the part of cold that bare compares to;
           the rest of cold is fixed: the task's hub calls, the view, the
           BuildRequires step and the build container's start
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adjutant.buildroot.script import INSTALLROOT, Repo, dnf_command
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
from tests.integration.testdistro import IMAGE, test_distro

TAG = "bench-build"


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


def drop_prepared_roots(buildroot_dir: Path) -> None:
    shutil.rmtree(buildroot_dir / "roots", ignore_errors=True)


def bare_installs(repo_arch: Path, topdir: Path, packages: list[str], runs: int,
                  work: Path, *, idmap: tuple[str, ...] = ()) -> list[float]:
    """The group installed into an empty root by the bootstrap image's dnf, as
    the preparation's command line has it, with nothing of adjutant around it
    (the topdir bound at its own path: the repo's toplink points into it);
    with `idmap`, in a user namespace as adjutant's installing steps run."""
    dnf = dnf_command(Repo(url=f"file://{repo_arch}"))
    times = []
    for run in range(runs):
        root = work / f"bare-{run}"
        root.mkdir(parents=True)
        start = time.perf_counter()
        if idmap:  # the build ids' root owns the empty root, as adjutant makes it
            os.chown(root, int(idmap[1].split(":")[1]), int(idmap[3].split(":")[1]))
        subprocess.run(["podman", "run", "--rm", "--network=none", *idmap,
                        "-v", f"{topdir}:{topdir}:ro",
                        "-v", f"{root}:{INSTALLROOT}", IMAGE, "sh", "-c",
                        f"{dnf} install {' '.join(packages)} >/dev/null 2>&1 && {dnf} clean all "
                        ">/dev/null 2>&1"], check=True)
        times.append(time.perf_counter() - start)
        shutil.rmtree(root)
    return times


def median(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f} s (min {min(values):.2f}, max {max(values):.2f})"


def make_repo(tmp: Path):
    """The tag, its repo (the test distribution and 5 BuildRequires), the SRPM to build."""
    topdir = tmp / "koji"
    topdir.mkdir()
    admin = HubAdmin(tmp / "hub.sqlite", topdir=topdir)
    admin.add_host(HOST, capacity=20.0, password=PASSWORD)
    admin.add_tag(TAG, arches=("x86_64",), extra={"rpm.macro.dist": ".bench1"})
    distro = test_distro()
    deps = [Package(name=f"bench-dep-{i}", payload_kib=200) for i in range(5)]
    built = []
    for package in deps:
        built += rpmbuild(package.spec(), tmp / "rpms")
    srpms = [*distro.srpms, *(p for p in built if p.name.endswith(".src.rpm"))]
    rpms = [*distro.rpms, *(p for p in built if not p.name.endswith(".src.rpm"))]
    for path in srpms + rpms:
        admin.import_rpm(path)
    repo_id = admin.add_repo(TAG, rpms=[p.name[:-4] for p in rpms], groups=distro.groups)
    admin.createrepo(repo_id)
    payload = sum(p.stat().st_size for p in distro.rpms) / 2**20
    app = Package(name="bench-app", build_requires=[p.name for p in deps],
                  build="for i in 1 2 3; do echo building $i; done")
    [app_srpm] = rpmbuild(app.spec(), tmp / "rpms", binary=False)
    (topdir / "work" / "srpms").mkdir(parents=True)
    shutil.copy(app_srpm, topdir / "work" / "srpms" / app_srpm.name)
    return admin, topdir, repo_id, app_srpm, distro.groups["build"], len(distro.rpms), payload


def main(runs: int, verbose: bool = False) -> None:
    with tempfile.TemporaryDirectory(prefix="adjutant-bench-") as tmp_name:
        tmp = Path(tmp_name)
        admin, topdir, repo_id, app_srpm, group, count, payload = make_repo(tmp)
        roots = buildroot_dir(tmp)
        with HubProcess(tmp / "hub.sqlite", topdir) as hub:
            daemon = Daemon(write_config(tmp, hub, topdir=topdir, maxjobs=2))
            daemon.start()
            cold, warm, whole, bare, step, bare_ns = [], [], [], [], [], []
            idmap = ("--uidmap", "0:1879048192:65536", "--gidmap", "0:1879048192:65536")
            repo_arch = topdir / "repos" / TAG / str(repo_id) / "x86_64"
            try:
                def build() -> tuple[float, float, float]:
                    task_id = admin.create_task("buildArch", [
                        f"srpms/{app_srpm.name}", TAG, "noarch", False, {"repo_id": repo_id}])
                    wait_for(lambda: admin.task(task_id)["state_name"] in ("CLOSED", "FAILED"),
                             900, "the build")
                    assert admin.task(task_id)["state_name"] == "CLOSED", \
                        admin.decoded_result(task_id)
                    opened = call_time(admin, "host.openTask", task_id)
                    closed = call_time(admin, "host.closeTask", task_id)
                    state = topdir / "work" / "tasks" / str(task_id % 10000) / str(task_id)
                    times = state_times(state / "state.log")
                    ready = times["Start: rpmbuild"]
                    started = [t for e, t in times.items()
                               if e.startswith("Start: installing the buildroot group")]
                    finished = [t for e, t in times.items()
                                if e.startswith("Finish: installing the buildroot group")]
                    step = finished[0] - started[0] if started and finished else 0.0
                    if verbose:
                        print((state / "state.log").read_text(), flush=True)
                    return ready - opened, closed - opened, step

                for run in range(runs):
                    drop_prepared_roots(roots)
                    prepared, _, group_step = build()
                    cold.append(prepared)
                    step.append(group_step)
                    for _ in range(2):
                        prepared, total, _ = build()
                        warm.append(prepared)
                        whole.append(total)
                    # interleaved with the builds: the machine's drift hits both alike
                    bare += bare_installs(repo_arch, topdir, group, 1, roots / f"bare-{run}")
                    bare_ns += bare_installs(repo_arch, topdir, group, 1, roots / f"bare-ns-{run}",
                                             idmap=idmap)
                    print(f"  run {run + 1}: cold {cold[-1]:.2f} s (group step {step[-1]:.2f} s), "
                          f"warm {warm[-1]:.2f} s, bare {bare[-1]:.2f} s, "
                          f"bare in a user namespace {bare_ns[-1]:.2f} s", flush=True)
            finally:
                daemon.stop()
        shutil.rmtree(roots, ignore_errors=True)  # leave no benchmark roots behind

    print(f"\nbuild group: {len(group)} names, {count} packages in the repo, {payload:.0f} MiB; "
          f"runs: {runs}")
    print(f"cold buildroot (openTask -> rpmbuild starts): {median(cold)}")
    print(f"warm buildroot (openTask -> rpmbuild starts): {median(warm)}")
    print(f"  warm is {statistics.median(cold) / statistics.median(warm):.1f} times faster "
          "(aim: at least 10)")
    print(f"whole warm task (openTask -> closeTask):      {median(whole)}")
    print(f"bare dnf --installroot of the group:          {median(bare)}")
    print(f"  cold is {statistics.median(cold) / statistics.median(bare):.2f} times the bare "
          "install (aim: at most 1.2)")
    print(f"bare, in the build ids' user namespace:       {median(bare_ns)}")
    print(f"cold's own group install step:                {median(step)}")
    print(f"  the step is {statistics.median(step) / statistics.median(bare):.2f} times the bare "
          "install; the rest of cold is fixed: "
          f"{statistics.median([c - s for c, s in zip(cold, step)]):.2f} s (median)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--verbose", action="store_true", help="print each task's state.log")
    arguments = parser.parse_args()
    main(arguments.runs, arguments.verbose)
