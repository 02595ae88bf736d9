"""Source control URLs in Koji's form, and kojid's allowed_scms rule.

    git+https://src.example.com/rpms/foo.git?subdir#ref

The scheme is git or git+<transport>; the query, if any, is a subdirectory of
the checkout; the fragment is the commit, branch or tag to build (required).

allowed_scms (kojid.conf): space separated `host:repository[:use_common[:source_cmd]]`
entries, host and repository as shell-style globs.  The first entry whose
host and repository match the URL allows it; its source_cmd (comma separated)
replaces `make sources`, an empty one means none.
"""

from __future__ import annotations

import fnmatch
import urllib.parse
from dataclasses import dataclass
from typing import Optional

DEFAULT_SOURCE_CMD = ("make", "sources")


class ScmError(Exception):
    """The URL or its permission is wrong; the message says which."""


@dataclass(frozen=True)
class ScmUrl:
    url: str
    scheme: str  # "git+https"
    host: str
    path: str
    subdir: str
    ref: str

    @property
    def clone_url(self) -> str:
        transport = self.scheme.split("+", 1)[1] if "+" in self.scheme else "git"
        return f"{transport}://{self.host}{self.path}"

    def with_commit(self, commit: str) -> str:
        """The URL pinned to the commit that was built (the result's `source`)."""
        query = f"?{self.subdir}" if self.subdir else ""
        return f"{self.scheme}://{self.host}{self.path}{query}#{commit}"


def parse_scm_url(url: str, *, allow_password: bool = False) -> ScmUrl:
    parts = urllib.parse.urlsplit(url)
    if not (parts.scheme == "git" or parts.scheme.startswith("git+")):
        raise ScmError(f"{url}: only git URLs are supported (git+https://host/path#ref)")
    if parts.password is not None and not allow_password:
        raise ScmError(f"{parts.scheme}://{parts.hostname}{parts.path}: a password in the SCM "
                       "URL is not allowed (allow_password_in_scm_url)")  # fmt: skip
    if not parts.netloc or not parts.path:
        raise ScmError(f"{url}: no host or repository path")
    if not parts.fragment:
        raise ScmError(f"{url}: no revision given (add #commit, #branch or #tag)")
    subdir = parts.query
    if subdir.startswith("/") or ".." in subdir.split("/"):
        raise ScmError(f"{url}: the subdirectory {subdir!r} leaves the checkout")
    return ScmUrl(url=url, scheme=parts.scheme, host=parts.netloc, path=parts.path,
                  subdir=subdir, ref=parts.fragment)  # fmt: skip


@dataclass(frozen=True)
class AllowedScm:
    host: str
    repository: str
    source_cmd: Optional[tuple[str, ...]]  # None: no source command


def parse_allowed_scms(text: str) -> list[AllowedScm]:
    entries = []
    for item in text.split():
        fields = item.split(":")
        if len(fields) < 2 or not fields[0] or not fields[1]:
            raise ScmError(f"allowed_scms entry {item!r} is not host:repository[:...]")
        source_cmd: Optional[tuple[str, ...]] = DEFAULT_SOURCE_CMD
        if len(fields) >= 4:
            source_cmd = tuple(fields[3].split(",")) if fields[3] else None
        entries.append(AllowedScm(fields[0], fields[1], source_cmd))
    return entries


def allowed_source_cmd(scm: ScmUrl, entries: list[AllowedScm]) -> Optional[tuple[str, ...]]:
    """The source command the first matching entry gives; ScmError if none matches."""
    host = scm.host.rsplit("@", 1)[-1]
    for entry in entries:
        if fnmatch.fnmatchcase(host, entry.host) and fnmatch.fnmatchcase(scm.path,
                                                                         entry.repository):
            return entry.source_cmd
    raise ScmError(f"{scm.scheme}://{host}{scm.path} is not in the list of allowed SCMs "
                   "(allowed_scms in kojid.conf)")  # fmt: skip
