#!/usr/bin/env python3
"""The cgroup v2 test host's agent: runs, inside the VM, the commands
`tests/host/testhost --vm run` asks for.  Only the standard library: it runs
on the VM's own Python, from the working tree shared in at /src.

The VM has no network at all.  Host and agent talk through a directory both
see (9p, QEMU's -virtfs): the host writes `req/<id>.json` ({"argv": [...],
"env": {...}}) by rename, the agent runs it from /src with its output in
`out/<id>.out` and, when it ends, its exit status in `out/<id>.rc`.  A
`req/<id>.kill` kills the command's process group.  `ready` says the agent
is listening.

    python3 vm_agent.py DIR
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

POLL = 0.1  # seconds; 9p has no inotify


def serve(ctl: Path) -> None:
    requests, outputs = ctl / "req", ctl / "out"
    outputs.mkdir(exist_ok=True)
    running: dict[str, subprocess.Popen] = {}
    (ctl / "ready").write_text(f"{os.getpid()}\n")
    while True:
        for entry in sorted(requests.iterdir()):
            name = entry.name
            if name.endswith(".kill"):
                process = running.get(name[: -len(".kill")])
                if process is not None and process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                entry.unlink()
            elif name.endswith(".json"):
                ident = name[: -len(".json")]
                request = json.loads(entry.read_text())
                entry.unlink()
                running[ident] = start(request, outputs, ident)
        time.sleep(POLL)


def start(request: dict, outputs: Path, ident: str) -> subprocess.Popen:
    out = (outputs / f"{ident}.out").open("wb", buffering=0)
    try:
        process = subprocess.Popen(request["argv"], cwd="/src", env=request["env"], stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    except OSError as exc:
        out.write(f"vm agent: {request['argv'][0]}: {exc}\n".encode())
        out.close()
        (outputs / f"{ident}.rc").write_text("127\n")
        return subprocess.Popen(["true"])

    def wait() -> None:
        status = process.wait()
        out.close()
        (outputs / f"{ident}.rc.tmp").write_text(f"{status}\n")
        os.rename(outputs / f"{ident}.rc.tmp", outputs / f"{ident}.rc")

    threading.Thread(target=wait, daemon=True).start()
    return process


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
