#!/usr/bin/env python3
"""newRepo of a 2,000-package tag through adjutant against bare createrepo_c
of the same packages, full and --update: a benchmark, not a test.

Run inside the test host:

    tests/host/testhost run python3 bench/newrepo.py [--runs 3] [--packages 2000]

Each run makes a fresh tag holding one build of PACKAGES small noarch RPMs
(one file each) and asks the hub for its repo twice, with the daemon against
the hub emulator:

  full      newRepo with no earlier repo: createrepo_c reads every package
  update    one more build tagged, newRepo again: createrepo_c --update
            --skip-stat from the first repo's repodata

Each is timed as the createrepo subtask (openTask -> closeTask: the image
check, the unit, createrepo_c in its container, the uploads) and as the
whole newRepo task (created -> closed: repoInit, the subtask's scheduling,
repoDone), against `createrepo_c` run bare on this host with the same
arguments on the same repo directory.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.hub.admin import HubAdmin, HubProcess
from tests.integration.daemon_support import HOST, PASSWORD, Daemon, wait_for, write_config
from tests.integration.rpmrepo import Package, rpmbuild


def many_packages_spec(count: int, file_kib: int = 0) -> str:
    """One source package with `count` noarch subpackages, a file each (of
    `file_kib` KiB of random bytes, or a line)."""
    parts = ["Name: bench-many\nVersion: 1\nRelease: 1\nSummary: many\nLicense: MIT\n"
             "BuildArch: noarch\n%description\nmany\n"]
    install = ["%install\nmkdir -p %{buildroot}/usr/share/bench-many\n"
               "for i in $(seq -w 1 " + str(count) + "); do "
               + (f"head -c {file_kib}K /dev/urandom" if file_kib else "echo \"$i\"")
               + " > %{buildroot}/usr/share/bench-many/file-$i; done\n"]
    width = len(str(count))
    for index in range(1, count + 1):
        name = f"bench-many-pkg-{index:0{width}d}"
        parts.append(f"%package -n {name}\nSummary: {name}\n%description -n {name}\n{name}\n"
                     f"%files -n {name}\n/usr/share/bench-many/file-{index:0{width}d}\n")
    return "".join(parts) + "".join(install) + "%files\n"


def bare(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def bare_createrepo(repo_arch: Path, out: Path, old_repodata: Optional[Path] = None) -> float:
    """kojid's createrepo_c command line, on this host, into `out`."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    argv = ["createrepo_c", "--error-exit-val", "-vd", "-o", str(out), "-i",
            str(repo_arch / "pkglist"), "-g", str(repo_arch.parent / "groups" / "comps.xml")]
    start = time.perf_counter()
    if old_repodata is not None:  # the copy is part of kojid's --update path
        shutil.copytree(old_repodata, out / "repodata")
        argv += ["--update", "--skip-stat"]
    bare([*argv, str(repo_arch)])
    return time.perf_counter() - start


def call_time(admin: HubAdmin, method: str, task_id: int) -> float:
    [call] = [c for c in admin.calls(method=method, task_id=task_id) if c["ok"]]
    return call["ts"]


def median(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f} s (min {min(values):.2f}, max {max(values):.2f})"


def main(runs: int, count: int, file_kib: int) -> None:
    with tempfile.TemporaryDirectory(prefix="adjutant-bench-repo-") as tmp_name:
        tmp = Path(tmp_name)
        topdir = tmp / "koji"
        topdir.mkdir()
        admin = HubAdmin(tmp / "hub.sqlite", topdir=topdir)
        admin.add_host(HOST, capacity=20.0, password=PASSWORD,
                       channels=("default", "createrepo"))
        started = time.perf_counter()
        built = rpmbuild(many_packages_spec(count, file_kib), tmp / "rpms")
        extra = rpmbuild(Package(name="bench-extra").spec(), tmp / "rpms")
        [extra_srpm] = [p for p in extra if p.name.endswith(".src.rpm")]
        for path in sorted([*built, *extra], key=lambda p: not p.name.endswith(".src.rpm")):
            admin.import_rpm(path)
        print(f"made and imported {len(built) - 1} + 1 packages in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
        results: dict[str, list[float]] = {k: [] for k in (
            "full task", "full createrepo", "full bare",
            "update task", "update createrepo", "update bare")}
        with HubProcess(tmp / "hub.sqlite", topdir) as hub:
            daemon = Daemon(write_config(tmp, hub, topdir=topdir, maxjobs=2))
            daemon.start()
            try:
                for run in range(runs):
                    tag = f"bench-repo-{run}"
                    admin.add_tag(tag, arches=("x86_64",))
                    admin.add_group(tag, "build", [f"bench-many-pkg-{1:0{len(str(count))}d}"])
                    for package in ("bench-many", "bench-extra"):
                        admin.add_package(tag, package)
                    admin.tag_build(tag, "bench-many-1-1")
                    repos = []
                    for kind in ("full", "update"):
                        if kind == "update":
                            admin.tag_build(tag, extra_srpm.name[:-len(".src.rpm")])
                        task_id = admin.new_repo_task(tag)
                        wait_for(lambda t=task_id: admin.task(t)["state_name"] in
                                 ("CLOSED", "FAILED"), 1800, "the newRepo task")
                        info = admin.task(task_id)
                        assert info["state_name"] == "CLOSED", admin.decoded_result(task_id)
                        repo_id = admin.decoded_result(task_id)[0]
                        repos.append(repo_id)
                        [sub] = admin.tasks(parent=task_id)
                        results[f"{kind} task"].append(info["completion_ts"] - info["create_ts"])
                        results[f"{kind} createrepo"].append(
                            call_time(admin, "host.closeTask", sub["id"])
                            - call_time(admin, "host.openTask", sub["id"]))
                        arch = admin.repo_dir(tag, repo_id, "x86_64")
                        old = (admin.repo_dir(tag, repos[0], "x86_64") / "repodata"
                               if kind == "update" else None)
                        results[f"{kind} bare"].append(
                            bare_createrepo(arch, tmp / "bare", old))
                    print(f"  run {run + 1}: full {results['full createrepo'][-1]:.2f} s "
                          f"(bare {results['full bare'][-1]:.2f}), update "
                          f"{results['update createrepo'][-1]:.2f} s "
                          f"(bare {results['update bare'][-1]:.2f})", flush=True)
            finally:
                daemon.stop()

    print(f"\n{count} packages in the tag ({file_kib} KiB files); runs: {runs}")
    for kind in ("full", "update"):
        print(f"{kind:6} createrepo subtask (openTask -> closeTask): "
              f"{median(results[f'{kind} createrepo'])}")
        print(f"{kind:6} newRepo task (created -> closed):          "
              f"{median(results[f'{kind} task'])}")
        print(f"{kind:6} bare createrepo_c:                         "
              f"{median(results[f'{kind} bare'])}")
        ratio = (statistics.median(results[f"{kind} createrepo"])
                 / statistics.median(results[f"{kind} bare"]))
        print(f"  the subtask is {ratio:.2f} times bare createrepo_c (aim: at most 1.2)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--packages", type=int, default=2000)
    parser.add_argument("--file-kib", type=int, default=0,
                        help="each package's file size (default: one line)")
    arguments = parser.parse_args()
    main(arguments.runs, arguments.packages, arguments.file_kib)
