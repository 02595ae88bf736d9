"""Where a task reads the tag's repo from: the mounted topdir, or the hub's
files over topurl.

kojid's buildroots read a repo over topurl (koji's genMockConfig gives mock
`<topurl>/repos/<tag>/<repo id>/<arch>` as baseurl); many sites mount
/mnt/koji on no builder.  adjutant reads it from `<topdir>/repos/...` when it
is there (bound read-only into the installing containers, no network) and
over topurl when it is not.  Both the package manager in the bootstrap
container and the daemon read it: the package manager its metadata and
packages, the daemon the few files it needs itself (the groups, the rpm ids,
the origins of external packages), which RepoFiles fetches once per task
into the task's own directory.
"""

from __future__ import annotations

import posixpath
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from adjutant.errors import AdjutantError

# Every file of a repo the daemon fetches is far smaller than this; a larger
# answer is not a repo's file (rpmlist.jsonl of a 100,000-rpm tag: ~20 MiB).
MAX_FETCH = 512 * 1024**2
FETCH_TIMEOUT = 300


class RepoFetchError(AdjutantError):
    """A file of the hub's could not be fetched; the message names its URL."""


@dataclass(frozen=True)
class RepoLocation:
    """A tag's repo (all arches) at one repo id: `local` is its directory under
    topdir when that is there, else None and `url` is where the hub serves it."""

    url: str
    local: Optional[Path] = None

    @property
    def remote(self) -> bool:
        return self.local is None

    def arch_url(self, arch: str) -> str:
        """The package manager's baseurl for `arch`."""
        if self.local is not None:
            return f"file://{self.local / arch}"
        return f"{self.url}/{urllib.parse.quote(arch)}"


def locate_repo(*, topdir: Path, topurl: Optional[str], tag: str, repo_id: int,
                arch: str) -> RepoLocation:
    """The repo of `tag` at `repo_id`: under topdir if its `arch` directory has
    repodata there (kojid's layout, `<topdir>/repos/<tag>/<id>/<arch>`), else
    over topurl."""
    local = topdir / "repos" / tag / str(repo_id)
    url = f"{(topurl or '').rstrip('/')}/repos/{urllib.parse.quote(tag)}/{repo_id}"
    if (local / arch / "repodata").is_dir():
        return RepoLocation(url=url, local=local)
    if not topurl:
        raise RepoFetchError(f"repo {repo_id} of tag {tag} for {arch} is not under topdir "
                             f"({local / arch}) and topurl is not set")
    return RepoLocation(url=url)


def checked_relpath(relpath: str) -> str:
    """A path inside a repo (the hub's, or an href in its repomd.xml)."""
    normal = posixpath.normpath(relpath)
    if not relpath or normal.startswith(("/", "..")) or normal == ".":
        raise RepoFetchError(f"{relpath!r} is not a path inside the repo; refused")
    return normal


def fetch_url(url: str, destination: Path, *, max_size: Optional[int] = MAX_FETCH) -> None:
    """GET `url` into `destination` (a path of the daemon's), or fail naming the URL;
    the one fetcher of the hub's files (a repo's here, a work file's in
    workfiles.py).  `max_size` None: no limit."""
    partial = destination.with_name(destination.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT) as response, \
                open(partial, "wb") as out:
            size = 0
            while True:
                chunk = response.read(1024 * 1024)
                if not chunk:
                    break
                size += len(chunk)
                if max_size is not None and size > max_size:
                    raise RepoFetchError(f"cannot fetch {url}: larger than {max_size} bytes")
                out.write(chunk)
    except urllib.error.HTTPError as exc:
        partial.unlink(missing_ok=True)
        raise RepoFetchError(f"cannot fetch {url}: HTTP {exc.code} {exc.reason}") from None
    except (OSError, ValueError) as exc:
        partial.unlink(missing_ok=True)
        reason = getattr(exc, "reason", None) or exc
        raise RepoFetchError(f"cannot fetch {url}: {reason}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(destination)


class RepoFiles:
    """The daemon's own reads of a repo's files: the file under topdir, or a
    copy fetched over topurl into `cache` (the task's directory), once."""

    def __init__(self, location: RepoLocation, cache: Path) -> None:
        self.location = location
        self.cache = cache

    def url(self, relpath: str) -> str:
        return f"{self.location.url}/{urllib.parse.quote(checked_relpath(relpath))}"

    def path(self, relpath: str, *, missing_ok: bool = False) -> Optional[Path]:
        """The file `relpath` of the repo (e.g. "groups/comps.xml",
        "x86_64/rpmlist.jsonl") as a local path; with `missing_ok`, None
        for a file the hub does not have (HTTP 404), else RepoFetchError."""
        relpath = checked_relpath(relpath)
        if self.location.local is not None:
            local = self.location.local / relpath
            return local if local.is_file() or not missing_ok else None
        copy = self.cache / relpath
        if copy.is_file():
            return copy
        copy.parent.mkdir(parents=True, exist_ok=True)
        try:
            fetch_url(self.url(relpath), copy)
        except RepoFetchError as exc:
            if missing_ok and "HTTP 404" in str(exc):
                return None
            raise
        return copy
