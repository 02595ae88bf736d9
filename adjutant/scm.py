"""Source control URLs in Koji's form, checked as kojid checks them.

    git+https://[user@]src.example.com/rpms/foo.git?subdir#ref

The scheme is one of kojid's git schemes; the query, if any, is a
subdirectory of the checkout (kojid's module); the fragment is the commit,
branch or tag to build (kojid's revision, required).

How this maps to kojid's SCM class:

- `parse_scm_url`: SCM.is_scm_url, SCM.__init__ and SCM._parse_url (the user
  is stripped from the host, the repository path is normalised, and what is
  matched is what is cloned).
- `parse_allowed_scms`, `match_allowed_scms`, `assert_allowed_by_config`:
  SCM.assert_allowed_by_config (allowed_scms in kojid.conf).
- `policy_data`, `policy_permission`: SCM.assert_allowed_by_policy (the hub's
  build_from_scm policy, asked with evalPolicy).
- `check_scm`: SCM.assert_allowed (config first, then policy).
- `ScmUrl.with_commit`: the `source` of SCM.get_source.

Nothing that is shown (errors, `safe_url`, `with_commit`) carries the URL's
password.
"""

from __future__ import annotations

import fnmatch
import logging
import posixpath
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional, Union

log = logging.getLogger(__name__)

# kojid's SCM.types for GIT and GIT+SSH; its CVS and SVN schemes are not supported.
GIT_SCHEMES = ("git", "git+http", "git+https", "git+rsync", "git+ssh")
DEFAULT_SOURCE_CMD = ("make", "sources")
POLICY = "build_from_scm"
# the values of allowed_scms' use_common that turn it off (anything else leaves it on)
_USE_COMMON_OFF = ("no", "off", "false", "0")
# the first words of a build_from_scm answer that allow the SCM
_POLICY_ALLOWS = ("yes", "true", "allow", "allowed")
_ALLOWED_SCHEMES = ", ".join(f"{s}://" for s in GIT_SCHEMES)
# percent escapes of '.', '/' and '\': a server may decode them into a path that
# normalisation here never saw (/rpms/%2e%2e/forks)
_ESCAPED_SEPARATOR = re.compile(r"%(2e|2f|5c)", re.IGNORECASE)
_NETLOC = re.compile(r"://([^/?#\s]*)")


class ScmError(Exception):
    """The URL or its permission is wrong; the message (one line) says which."""


@dataclass(frozen=True)
class ScmPermission:
    """What kojid's SCM.assert_allowed leaves in SCM.use_common and SCM.source_cmd."""

    use_common: bool
    source_cmd: Optional[tuple[str, ...]]  # None: no source command


DEFAULT_PERMISSION = ScmPermission(use_common=True, source_cmd=DEFAULT_SOURCE_CMD)


def hide_password(text: str) -> str:
    """`text` with the password of every `scheme://user:password@host` in it
    replaced by `***` (for logs, unit descriptions and errors)."""

    def hide(match: re.Match[str]) -> str:
        userinfo, at, hostport = match.group(1).rpartition("@")
        user, colon, password = userinfo.partition(":")
        if at and colon and password:
            return f"://{user}:***@{hostport}"
        return match.group(0)

    return _NETLOC.sub(hide, text)


def _shown(url: str) -> str:
    """The URL as an error shows it: password hidden, control characters escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in hide_password(url))


@dataclass(frozen=True, repr=False)
class ScmUrl:
    url: str  # as given; may hold a password, never show it (use safe_url)
    scheme: str  # "git+https" (kojid's SCM.scheme without "://")
    user: Optional[str]  # kojid's SCM.user without the password
    password: Optional[str]
    host: str  # host[:port], user stripped (kojid's SCM.host)
    path: str  # the normalised repository (kojid's SCM.repository)
    subdir: str  # kojid's SCM.module
    ref: str  # kojid's SCM.revision

    def __repr__(self) -> str:
        return f"ScmUrl({self.safe_url!r})"

    @property
    def safe_url(self) -> str:
        """The URL as given, with any password replaced by `***`."""
        return _shown(self.url)

    @property
    def scm_type(self) -> str:
        """kojid's SCM.scmtype: GIT, or GIT+SSH for git+ssh://."""
        return "GIT+SSH" if self.scheme == "git+ssh" else "GIT"

    @property
    def transport(self) -> str:
        """The scheme git clones with: git+https -> https, git -> git."""
        return self.scheme.split("+", 1)[1] if "+" in self.scheme else self.scheme

    def _netloc(self, *, password: bool) -> str:
        if not self.user:
            return self.host
        if password and self.password:
            return f"{self.user}:{self.password}@{self.host}"
        return f"{self.user}@{self.host}"

    @property
    def clone_url(self) -> str:
        """What git clones, as kojid's SCM.checkout builds it: the transport,
        user[:password]@host and the normalised repository that was matched."""
        return f"{self.transport}://{self._netloc(password=True)}{self.path}"

    def with_commit(self, commit: str, *, credentials: bool = False) -> str:
        """The URL pinned to the commit that was built (the result's `source`).

        As kojid's SCM.get_source: scheme, host, normalised repository, module
        and the commit; the user and password are left out unless `credentials`.
        """
        netloc = self._netloc(password=True) if credentials else self.host
        return urllib.parse.urlunsplit((self.scheme, netloc, self.path, self.subdir, commit))


def _git_scheme(url: str) -> str:
    """The URL's scheme if kojid's SCM.is_scm_url knows it for git (exact, lower case)."""
    for scheme in GIT_SCHEMES:
        if url.startswith(f"{scheme}://"):
            return scheme
    raise ScmError(f"{_shown(url)}: only git URLs are supported (allowed schemes: "
                   f"{_ALLOWED_SCHEMES})")


def _split_userinfo(url: str, netloc: str,
                    allow_password: bool) -> tuple[Optional[str], Optional[str], str]:
    """(user, password, host[:port]) as kojid's SCM._parse_url splits the netloc."""
    if netloc.count("@") > 1:
        raise ScmError(f"{_shown(url)}: invalid user@host (more than one '@')")
    userinfo, _, host = netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    if password and not allow_password:
        raise ScmError(f"{_shown(url)}: a password in the SCM URL is not allowed "
                       "(allow_password_in_scm_url)")
    if password and not user:
        raise ScmError(f"{_shown(url)}: a password without a user name")
    if not host:
        raise ScmError(f"{_shown(url)}: no host")
    for what, value in (("host", host), ("user", user)):
        if value.startswith("-"):
            raise ScmError(f"{_shown(url)}: the {what} starts with '-' (git would read an option)")
    return user or None, password or None, host


def normalise_repository(path: str) -> str:
    """The repository path as kojid's SCM._parse_url normalises it before
    matching: normpath, no trailing '/', a leading '//' made '/'."""
    path = posixpath.normpath(path).rstrip("/")
    if path.startswith("//"):
        path = "/" + path.strip("/")
    return path


def _repository(url: str, raw_path: str, params: str) -> str:
    if not raw_path:
        raise ScmError(f"{_shown(url)}: no repository path")
    if params:
        raise ScmError(f"{_shown(url)}: a ;params element is not allowed in the path")
    if _ESCAPED_SEPARATOR.search(raw_path):
        raise ScmError(f"{_shown(url)}: a percent-escaped '.', '/' or '\\' in the repository "
                       "path is not allowed")
    path = normalise_repository(raw_path)
    if not path.startswith("/"):
        raise ScmError(f"{_shown(url)}: no repository path")
    return path


def _subdir(url: str, query: str) -> str:
    subdir = query.rstrip("/")
    if subdir.startswith("/") or ".." in subdir.split("/"):
        raise ScmError(f"{_shown(url)}: the subdirectory {subdir!r} leaves the checkout")
    return subdir


def _ref(url: str, fragment: str) -> str:
    if not fragment:
        raise ScmError(f"{_shown(url)}: no revision given (add #commit, #branch or #tag)")
    if fragment.startswith("-"):
        raise ScmError(f"{_shown(url)}: the revision starts with '-' (git would read an option)")
    return fragment


def parse_scm_url(url: str, *, allow_password: bool = False) -> ScmUrl:
    """Parse and check `url` as kojid's SCM.__init__ and SCM._parse_url do.

    Stricter than kojid where kojid would pass something dangerous on: no
    whitespace or control characters, no '-' leading the host, user or
    revision, no percent-escaped separators in the path, no '..' subdirectory.
    """
    scheme = _git_scheme(url)
    if any(c.isspace() or not c.isprintable() for c in url):
        raise ScmError(f"{_shown(url)}: whitespace or control characters in the SCM URL")
    # as kojid: parse with an http:// scheme so that urlparse splits every part
    try:
        parts = urllib.parse.urlparse("http://" + url[len(scheme) + 3:])
    except ValueError as exc:
        raise ScmError(f"{_shown(url)}: {exc}") from None
    user, password, host = _split_userinfo(url, parts.netloc, allow_password)
    path = _repository(url, parts.path, parts.params)
    ref = _ref(url, parts.fragment)
    if scheme == "git+ssh" and not user:
        raise ScmError(f"{_shown(url)}: git+ssh:// needs a user (git+ssh://user@host/...)")
    scm = ScmUrl(url=url, scheme=scheme, user=user, password=password, host=host, path=path,
                 subdir=_subdir(url, parts.query), ref=ref)
    # by construction it starts with a transport and "://"; kept as a guard
    clone = scm.clone_url
    if clone.startswith(("-", "ext::")) or "::" in clone.partition("://")[0]:
        raise ScmError(f"{scm.safe_url}: the clone URL would be read as an option or a "
                       "remote helper")
    return scm


@dataclass(frozen=True)
class AllowedScm:
    """One entry of allowed_scms: host:repository[:use_common[:source_cmd]] or
    !host:repository (deny)."""

    host: str
    repository: str
    source_cmd: Optional[tuple[str, ...]]  # None: no source command
    use_common: bool = True
    deny: bool = False
    entry: str = ""  # as written, for messages


def parse_allowed_scm(item: str) -> Optional[AllowedScm]:
    """One allowed_scms entry as kojid's SCM.assert_allowed_by_config reads it;
    None for an entry without host:repository (kojid ignores it)."""
    fields = item.split(":")
    if len(fields) < 2:
        return None
    host, repository = fields[0], fields[1]
    deny = host.startswith("!")
    use_common = not (len(fields) >= 3 and fields[2].lower() in _USE_COMMON_OFF)
    source_cmd: Optional[tuple[str, ...]] = DEFAULT_SOURCE_CMD
    if len(fields) >= 4:
        # commas stand for spaces; an empty field means no source command
        source_cmd = tuple(fields[3].split(",")) if fields[3] else None
    return AllowedScm(host=host[1:] if deny else host, repository=repository,
                      source_cmd=source_cmd, use_common=use_common, deny=deny,
                      entry=item)


def parse_allowed_scms(text: str) -> list[AllowedScm]:
    """allowed_scms split on whitespace as kojid does (commas belong to
    source_cmd); malformed entries are skipped with a warning, as kojid does."""
    entries = []
    for item in text.split():
        entry = parse_allowed_scm(item)
        if entry is None:
            log.warning("ignoring incorrectly formatted allowed_scms entry %r "
                        "(not host:repository)", item)
            continue
        entries.append(entry)
    return entries


def match_allowed_scms(scm: ScmUrl, entries: list[AllowedScm]) -> ScmPermission:
    """As kojid's SCM.assert_allowed_by_config: the first entry whose host and
    repository globs match the user-less host and the normalised repository
    decides; a deny entry or no match refuses."""
    where = f"{scm.host}:{scm.path}"
    for entry in entries:
        if fnmatch.fnmatchcase(scm.host, entry.host) and fnmatch.fnmatchcase(scm.path,
                                                                             entry.repository):
            if entry.deny:
                raise ScmError(f"{scm.safe_url}: {where} is not in the list of allowed SCMs "
                               f"(refused by allowed_scms entry {entry.entry!r})")
            return ScmPermission(use_common=entry.use_common, source_cmd=entry.source_cmd)
    raise ScmError(f"{scm.safe_url}: {where} is not in the list of allowed SCMs "
                   "(allowed_scms in kojid.conf)")


def assert_allowed_by_config(scm: ScmUrl, allowed_scms: str) -> ScmPermission:
    """kojid's SCM.assert_allowed_by_config on the allowed_scms text."""
    return match_allowed_scms(scm, parse_allowed_scms(allowed_scms))


def allowed_source_cmd(scm: ScmUrl, entries: list[AllowedScm]) -> Optional[tuple[str, ...]]:
    """The source command the first matching entry gives; ScmError if none
    matches or a deny entry matches first."""
    return match_allowed_scms(scm, entries).source_cmd


def kojid_user(scm: ScmUrl) -> Optional[str]:
    """kojid's SCM.user: user, or user:password when a password is allowed."""
    if scm.user and scm.password:
        return f"{scm.user}:{scm.password}"
    return scm.user


def policy_data(scm: ScmUrl, extra: Optional[Mapping[str, Any]] = None) -> dict[str, Any]:
    """The data kojid's SCM.assert_allowed_by_policy sends with
    evalPolicy('build_from_scm', data): SCM.get_info() with scm_ keys, then the
    caller's extra data (kojid: user_id, channel, scratch), which wins."""
    data: dict[str, Any] = {
        "scm_url": scm.url,
        "scm_scheme": f"{scm.scheme}://",
        "scm_user": kojid_user(scm),
        "scm_host": scm.host,
        "scm_repository": scm.path,
        "scm_module": scm.subdir,
        "scm_revision": scm.ref,
        "scm_type": scm.scm_type,
    }
    data.update(extra or {})
    return data


def policy_permission(scm: ScmUrl, result: Any, current: ScmPermission) -> ScmPermission:
    """Read the hub's build_from_scm answer as kojid's SCM.assert_allowed_by_policy:

        allow [use_common] [<source_cmd ...>|none]
        deny [<reason>]

    use_common is on only if the answer says so; without a source command the
    current one (config's, or `make sources`) stays; `none` means none.
    """
    words = result.split() if isinstance(result, str) else []
    if not words or words[0].lower() not in _POLICY_ALLOWS:
        reason = " ".join(words[1:]) or None
        raise ScmError(f"{scm.safe_url}: SCM {scm.host}:{scm.path} is not allowed, reason: "
                       f"{reason} (hub policy {POLICY})")
    options = words[1:]
    use_common = bool(options) and options[0].lower() == "use_common"
    source_cmd = tuple(options[1 if use_common else 0:]) or current.source_cmd
    if source_cmd and source_cmd[0].lower() == "none":
        source_cmd = None
    return ScmPermission(use_common=use_common, source_cmd=source_cmd)


async def task_policy_data(hub: Any, task_id: int,
                           opts: Optional[Mapping[str, Any]]) -> dict[str, Any]:
    """The extra policy data kojid's BuildSRPMFromSCMTask.handler passes: the
    task's owner, its channel's name and the scratch option."""
    info = await hub.call("getTaskInfo", task_id)
    channel = await hub.call("getChannel", info["channel_id"], strict=True)
    return {"user_id": info["owner"], "channel": channel["name"],
            "scratch": (opts or {}).get("scratch")}


async def check_scm(url: Union[str, ScmUrl], *, allowed_scms: str, use_config: bool,
                    use_policy: bool, hub: Any,
                    policy_extra: Optional[Mapping[str, Any]] = None,
                    allow_password: bool = False) -> ScmPermission:
    """As kojid's SCM.assert_allowed: allowed_scms when `use_config`, then the
    hub's build_from_scm policy when `use_policy` (its use_common always wins,
    its source command when it gives one); `make sources` with common when
    neither is on.  A refusal is ScmError; a failed hub call is the hub's error.
    """
    scm = url if isinstance(url, ScmUrl) else parse_scm_url(url, allow_password=allow_password)
    permission = DEFAULT_PERMISSION
    if use_config:
        permission = assert_allowed_by_config(scm, allowed_scms or "")
    if use_policy:
        if hub is None:
            raise ScmError(f"{scm.safe_url}: allowed_scms_use_policy is on but there is no hub "
                           "session to ask")
        result = await hub.call("evalPolicy", POLICY, policy_data(scm, policy_extra))
        permission = policy_permission(scm, result, permission)
    return permission
