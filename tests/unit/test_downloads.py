"""The host's cache of packages fetched over topurl (buildroot/downloads.py):
what a task's container leaves in its own cache is taken only as plain files,
and what the host has is given back as links the container cannot change."""

from __future__ import annotations

import os
from pathlib import Path

from adjutant.buildroot.downloads import PackageCache, repo_key

URL = "http://hub.example.com/kojifiles/repos/f40-build/9/x86_64"
ME = (os.getuid(), os.getgid())


def task_cache(tmp_path: Path, task: int) -> Path:
    """A task's cache, in its view's directory (the daemon's)."""
    (tmp_path / "views" / str(task)).mkdir(parents=True, exist_ok=True)
    return tmp_path / "views" / str(task) / "dnf"


def downloaded(cache_dir: Path, name: str, data: bytes = b"rpm") -> Path:
    """A package as dnf leaves it in its cachedir."""
    path = cache_dir / "koji-1a5af6b955a3dee8" / "packages" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_a_step_s_downloads_are_taken_and_the_next_task_is_seeded(tmp_path):
    cache = PackageCache(tmp_path / "downloads", keep=4)
    first = task_cache(tmp_path, 7)
    assert cache.seed(URL, first, ME) == 0
    downloaded(first, "bash-5.2-1.x86_64.rpm", b"bash")
    downloaded(first, "make-4.4-1.x86_64.rpm", b"make")
    assert sorted(cache.harvest(URL, first)) == ["bash-5.2-1.x86_64.rpm", "make-4.4-1.x86_64.rpm"]
    shared = tmp_path / "downloads" / repo_key(URL) / "koji-1a5af6b955a3dee8" / "packages"
    assert (shared / "bash-5.2-1.x86_64.rpm").read_bytes() == b"bash"
    assert oct((shared / "bash-5.2-1.x86_64.rpm").stat().st_mode & 0o777) == "0o644"
    # taken once: a second harvest of the same cache takes nothing
    assert cache.harvest(URL, first) == []

    second = task_cache(tmp_path, 8)
    assert cache.seed(URL, second, ME) == 2
    seeded = second / "koji-1a5af6b955a3dee8" / "packages" / "bash-5.2-1.x86_64.rpm"
    assert seeded.stat().st_ino == (shared / "bash-5.2-1.x86_64.rpm").stat().st_ino
    # seeded links are the host's files, never taken back
    assert cache.harvest(URL, second) == []
    # seeding again (the next step of the same task) is no error
    assert cache.seed(URL, second, ME) == 0


def test_what_is_not_a_plain_file_is_left_where_it_is(tmp_path):
    cache = PackageCache(tmp_path / "downloads", keep=4)
    task = task_cache(tmp_path, 7)
    cache.seed(URL, task, ME)
    secret = tmp_path / "secret"
    secret.write_text("host secret")
    packages = downloaded(task, "good-1-1.noarch.rpm").parent
    (packages / "link-1-1.noarch.rpm").symlink_to(secret)
    os.link(secret, packages / "hard-1-1.noarch.rpm")
    os.mkfifo(packages / "fifo-1-1.noarch.rpm")
    (packages / "dir-1-1.noarch.rpm").mkdir()
    (packages / ".hidden.rpm").write_text("x")
    # a repo directory whose packages/ is a link into the host
    (task / "koji-evil").mkdir()
    (task / "koji-evil" / "packages").symlink_to(tmp_path)
    assert cache.harvest(URL, task) == ["good-1-1.noarch.rpm"]
    stored = {p.name for p in (tmp_path / "downloads").rglob("*") if p.is_file()}
    assert stored == {"good-1-1.noarch.rpm"}


def test_a_task_cache_whose_directories_are_links_is_not_seeded_through_them(tmp_path):
    cache = PackageCache(tmp_path / "downloads", keep=4)
    first = task_cache(tmp_path, 7)
    cache.seed(URL, first, ME)
    downloaded(first, "bash-5.2-1.x86_64.rpm")
    cache.harvest(URL, first)
    second = task_cache(tmp_path, 8)
    second.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (second / "koji-1a5af6b955a3dee8").symlink_to(elsewhere)
    assert cache.seed(URL, second, ME) == 0
    assert list(elsewhere.iterdir()) == []


def test_prune_keeps_the_repos_used_last(tmp_path):
    cache = PackageCache(tmp_path / "downloads", keep=1)
    for number, url in enumerate((URL, URL.replace("/9/", "/10/"))):
        task = task_cache(tmp_path, number)
        cache.seed(url, task, ME)
        downloaded(task, f"p{number}-1-1.noarch.rpm")
        cache.harvest(url, task)
        os.utime(tmp_path / "downloads" / repo_key(url), (number, number))
    assert cache.prune() == [repo_key(URL)]
    assert [p.name for p in (tmp_path / "downloads").iterdir()] == [
        repo_key(URL.replace("/9/", "/10/"))]
