"""Where a task reads the tag's repo (buildroot/repos.py): topdir when the
repo is there, else topurl; a hub that does not answer fails naming the URL."""

from __future__ import annotations

import http.server
import shlex
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from adjutant.buildroot.repos import (
    RepoFetchError,
    RepoFiles,
    RepoLocation,
    checked_relpath,
    locate_repo,
)
from adjutant.buildroot.script import Repo, dnf_command


def test_a_repo_under_topdir_is_read_there_and_else_over_topurl(tmp_path):
    topurl = "https://kojipkgs.example.com/kojifiles"
    remote = locate_repo(topdir=tmp_path, topurl=topurl, tag="f40-build", repo_id=9,
                         arch="x86_64")
    assert remote == RepoLocation(url=f"{topurl}/repos/f40-build/9") and remote.remote
    assert remote.arch_url("x86_64") == f"{topurl}/repos/f40-build/9/x86_64"
    (tmp_path / "repos" / "f40-build" / "9" / "x86_64" / "repodata").mkdir(parents=True)
    local = locate_repo(topdir=tmp_path, topurl=topurl, tag="f40-build", repo_id=9,
                        arch="x86_64")
    assert local.local == tmp_path / "repos" / "f40-build" / "9" and not local.remote
    assert local.arch_url("x86_64") == f"file://{tmp_path}/repos/f40-build/9/x86_64"


def test_without_topdir_or_topurl_the_error_says_where_it_looked(tmp_path):
    with pytest.raises(RepoFetchError, match=r"repo 9 of tag f40-build for i386 is not under "
                                             r"topdir .*/repos/f40-build/9/i386\) and topurl "
                                             r"is not set"):
        locate_repo(topdir=tmp_path, topurl=None, tag="f40-build", repo_id=9, arch="i386")


@pytest.mark.parametrize("relpath", ["", "/etc/passwd", "../../hub.db", "x86_64/../../..", "."])
def test_paths_outside_the_repo_are_refused(relpath):
    with pytest.raises(RepoFetchError, match="is not a path inside the repo"):
        checked_relpath(relpath)


@pytest.fixture()
def served(tmp_path) -> Iterator[tuple[str, Path, list[str]]]:
    """A loopback HTTP server of tmp_path/www: (its URL, its directory, paths served)."""
    www = tmp_path / "www"
    www.mkdir()
    seen: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(www), **kwargs)

        def log_message(self, *args):
            seen.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", www, seen
    finally:
        server.shutdown()
        server.server_close()


def test_the_daemon_fetches_a_repo_file_once_per_task(served, tmp_path):
    url, www, seen = served
    (www / "groups").mkdir()
    (www / "groups" / "comps.xml").write_text("<comps/>")
    files = RepoFiles(RepoLocation(url=url), tmp_path / "task" / "repo")
    path = files.path("groups/comps.xml")
    assert path is not None and path.read_text() == "<comps/>"
    assert files.path("groups/comps.xml") == path
    assert [p for p in seen if "comps" in p] == ["/groups/comps.xml"]
    assert files.path("x86_64/rpmlist.jsonl", missing_ok=True) is None
    with pytest.raises(RepoFetchError, match=rf"cannot fetch {url}/x86_64/rpmlist.jsonl: "
                                             "HTTP 404"):
        files.path("x86_64/rpmlist.jsonl")


def test_a_hub_that_does_not_answer_fails_naming_the_url(tmp_path):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/kojifiles/repos/f40-build/9"
    files = RepoFiles(RepoLocation(url=url), tmp_path / "repo")
    with pytest.raises(RepoFetchError) as raised:
        files.path("x86_64/repodata/repomd.xml")
    assert str(raised.value).startswith(f"cannot fetch {url}/x86_64/repodata/repomd.xml: ")
    assert "refused" in str(raised.value).lower()


def test_the_package_manager_caches_outside_the_root_and_uses_yum_proxy():
    url = "https://kojipkgs.example.com/kojifiles/repos/f40-build/9/x86_64"
    words = shlex.split(dnf_command(Repo(url, proxy="http://proxy.example.com:3128")))
    assert words == [
        "dnf", "-y", "--installroot=/buildroot", "--setopt=reposdir=/dev/null",
        "--setopt=install_weak_deps=False", "--setopt=cachedir=/var/cache/adjutant-dnf",
        "--setopt=keepcache=True", "--nogpgcheck", "--releasever=koji",
        f"--repofrompath=koji,{url}", "--repo=koji", "--disableplugin=*",
        "--setopt=proxy=http://proxy.example.com:3128",
    ]
    assert not any("proxy" in word for word in shlex.split(dnf_command(Repo(url))))


def test_the_images_plugins_stay_out_but_builddep():
    from adjutant.buildroot.mockopts import MockOptions
    from adjutant.buildroot.script import builddep_command

    url = "file:///mnt/koji/repos/f40-build/9/x86_64"
    words = shlex.split(builddep_command(Repo(url)))
    assert words[-3:] == ["--disableplugin=*", "--enableplugin=builddep", "builddep"]
    dnf5 = shlex.split(builddep_command(Repo(url, MockOptions(package_manager="dnf5"))))
    assert dnf5[-1] == "builddep" and not any("plugin" in word for word in dnf5)
