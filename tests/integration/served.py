"""Directories served over HTTP from the test host, inside its own network
namespace: a plain directory (a git repository, dumb protocol), or a yum
repo of given RPMs, as a Koji external repo is."""

from __future__ import annotations

import contextlib
import functools
import http.server
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def served_directory(directory: Path, address: str) -> Iterator[int]:
    """`directory` over HTTP on `address` while the body runs; yields the port."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer((address, 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def served_repo(directory: Path, rpms: list[Path], address: str) -> Iterator[str]:
    """A yum repo of `rpms` (in directory/x86_64) over HTTP on `address`;
    yields its URL with $arch for the arch directory, as Koji's external
    repos have it."""
    arch_dir = directory / "x86_64"
    arch_dir.mkdir(parents=True)
    for rpm in rpms:
        shutil.copy(rpm, arch_dir / rpm.name)
    subprocess.run(["createrepo_c", "-q", str(arch_dir)], check=True)
    with served_directory(directory, address) as port:
        yield f"http://{address}:{port}/$arch/"
