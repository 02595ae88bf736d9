"""A task's work file (buildroot/workfiles.py): copied from topdir when it is
there, else fetched over topurl by the one fetcher of the hub's files
(repos.fetch_url), whose error names the URL; paths outside work/ refused."""

from __future__ import annotations

import asyncio
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import koji
import pytest

from adjutant.buildroot.workfiles import fetch_work_file, work_file_path
from adjutant.config import Config

SRPM = "tasks/7/7/greeter-1.0-1.src.rpm"


@pytest.fixture()
def served(tmp_path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server of tmp_path/www: (its URL, its directory)."""
    www = tmp_path / "www"
    www.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(www), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", www
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("relpath", ["", "/etc/passwd", "tasks/../../hub.db"])
def test_paths_outside_work_are_refused(relpath):
    with pytest.raises(koji.BuildError, match="is not a path under the hub's work directory"):
        work_file_path(relpath)


def test_a_work_file_under_topdir_is_copied(tmp_path):
    source = tmp_path / "koji" / "work" / SRPM
    source.parent.mkdir(parents=True)
    source.write_bytes(b"srpm")
    config = Config(topdir=tmp_path / "koji", topurl="http://127.0.0.1:9/kojifiles")
    destination = tmp_path / "private" / "in.src.rpm"
    assert asyncio.run(fetch_work_file(config, SRPM, destination)) == destination
    assert destination.read_bytes() == b"srpm"


def test_a_work_file_is_fetched_over_topurl(served, tmp_path):
    url, www = served
    (www / "work" / SRPM).parent.mkdir(parents=True)
    (www / "work" / SRPM).write_bytes(b"srpm over http")
    config = Config(topdir=tmp_path / "none", topurl=url)
    destination = tmp_path / "private" / "in.src.rpm"
    assert asyncio.run(fetch_work_file(config, SRPM, destination)) == destination
    assert destination.read_bytes() == b"srpm over http"
    assert sorted(p.name for p in destination.parent.iterdir()) == ["in.src.rpm"]


def test_a_work_file_the_hub_does_not_serve_fails_the_task_naming_the_url(served, tmp_path):
    url, _www = served
    config = Config(topdir=tmp_path / "none", topurl=url)
    destination = tmp_path / "private" / "in.src.rpm"
    with pytest.raises(koji.BuildError) as raised:
        asyncio.run(fetch_work_file(config, SRPM, destination))
    assert str(raised.value) == f"cannot fetch {url}/work/{SRPM}: HTTP 404 File not found"
    assert not destination.parent.exists() or list(destination.parent.iterdir()) == []
