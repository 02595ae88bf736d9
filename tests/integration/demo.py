#!/usr/bin/env python3
"""The README's end-to-end run, inside the test host: a Koji hub (the
emulator), a build tag with a real repo, adjutant's daemon as a Type=notify
service, and one real RPM build (buildArch of greeter, a C program whose
BuildRequires come from the tag's repo).  Shows the task's unit while it
runs, then what the hub received.  Leaves everything under /var/tmp/adjutant-demo.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.integration.build_site import Site
from tests.integration.daemon_support import wait_for

HOME = Path("/var/tmp/adjutant-demo")


def show(title: str, argv: list[str], lines: int = 12) -> None:
    print(f"\n=== {title}\n$ {' '.join(argv)}")
    out = subprocess.run(argv, capture_output=True, text=True, check=False).stdout
    for line in out.splitlines()[:lines]:
        print("  " + line[:150])


def main() -> int:
    shutil.rmtree(HOME, ignore_errors=True)
    HOME.mkdir(parents=True)
    print("setting up: test packages, a Koji-style repo, the hub emulator, adjutant's daemon")
    site = Site(HOME)
    try:
        print(f"hub: {site.hub.url}; tag adj-build, repo {site.repo_id}; "
              f"daemon: {site.daemon.unit}")
        task_id = site.build_arch(site.srpm_of("greeter"))
        unit = f"adjutant-task-{task_id}"
        print(f"submitted buildArch task {task_id}: {site.srpm_of('greeter')} for x86_64")
        wait_for(lambda: subprocess.run(["systemctl", "is-active", "--quiet", unit],
                                        check=False).returncode == 0, 120, "the task's unit")
        show("the task's unit while it runs", ["systemctl", "status", "--no-pager", "--lines=0",
                                               unit], lines=9)
        state = site.wait_done(task_id)
        print(f"\ntask {task_id}: {state}")
        result = site.result(task_id)
        if state != "CLOSED":
            print(result)
            return 1
        print("result, as the hub got it:")
        for key in ("rpms", "srpms", "logs", "brootid"):
            print(f"  {key}: {result[key]}")
        uploads = site.upload(task_id, "")
        rpm = uploads / Path(result["rpms"][0]).name
        show("the RPM the hub received", ["rpm", "-qip", str(rpm)], lines=4)
        show("build.log (end)", ["tail", "-n", "5", str(uploads / "build.log")])
        show("installed_pkgs.log", ["cat", str(uploads / "installed_pkgs.log")])
        show(f"journalctl -u {unit}", ["journalctl", "-u", unit, "--no-pager", "-n", "4", "-o",
                                       "cat"])
        print(f"\nfiles: {HOME} (hub's topdir: {site.topdir})")
        return 0
    finally:
        site.close()


if __name__ == "__main__":
    sys.exit(main())
