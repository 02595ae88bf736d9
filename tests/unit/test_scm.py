"""adjutant.scm against kojid's SCM class: schemes, parsing, allowed_scms,
the build_from_scm policy and passwords.  No network: the hub is a fake."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from adjutant.scm import (
    DEFAULT_PERMISSION,
    DEFAULT_SOURCE_CMD,
    AllowedScm,
    ScmError,
    ScmPermission,
    ScmUrl,
    allowed_source_cmd,
    assert_allowed_by_config,
    check_scm,
    hide_password,
    match_allowed_scms,
    normalise_repository,
    parse_allowed_scm,
    parse_allowed_scms,
    parse_scm_url,
    policy_data,
    policy_permission,
    task_policy_data,
)

REF = "bab0c73900241ef5c465d7e873e9d8b34c948e67"


class FakeHub:
    """Answers hub calls from a table; records them."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    async def call(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((name, args, kwargs))
        answer = self.answers[name]
        return answer(*args, **kwargs) if callable(answer) else answer


def one_line_error(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ScmError) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message
    return message


# 1. schemes

ACCEPTED = [
    ("git://host/repo.git#1", "git://host/repo.git"),
    ("git+http://host/repo.git#1", "http://host/repo.git"),
    ("git+https://host/repo.git#1", "https://host/repo.git"),
    ("git+rsync://host/repo.git#1", "rsync://host/repo.git"),
    ("git+ssh://user@host/repo.git#1", "ssh://user@host/repo.git"),
]


@pytest.mark.parametrize("url,clone", ACCEPTED)
def test_kojids_git_schemes_are_accepted(url, clone):
    scm = parse_scm_url(url)
    assert scm.clone_url == clone
    assert scm.scm_type == ("GIT+SSH" if url.startswith("git+ssh") else "GIT")


REFUSED_SCHEMES = [
    "ext::sh -c touch% /tmp/pwned#1",
    "ext::ssh host#1",
    "git+ext://host/repo.git#1",
    "git+file:///srv/git/repo.git#1",
    "file:///srv/git/repo.git#1",
    "fd::3#1",
    "svn://host/repo#1",
    "svn+https://host/repo#1",
    "svn+ssh://user@host/repo#1",
    "cvs://host/repo#1",
    "cvs+ssh://user@host/repo#1",
    "https://host/repo.git#1",
    "GIT://host/repo.git#1",  # kojid's check is case-sensitive
    "git:host/repo.git#1",
    "-uhost/repo.git#1",
]


@pytest.mark.parametrize("url", REFUSED_SCHEMES)
def test_other_schemes_are_refused_naming_url_and_allowed_schemes(url):
    message = one_line_error(parse_scm_url, url)
    assert message.startswith(url.split("#")[0])
    assert "only git URLs are supported" in message
    assert "git://, git+http://, git+https://, git+rsync://, git+ssh://" in message


DASHED = [
    ("git+ssh://-oProxyCommand=touch%20x@host/repo.git#1", "the user starts with '-'"),
    ("git+ssh://user@-oProxyCommand=x/repo.git#1", "the host starts with '-'"),
    ("git://-host/repo.git#1", "the host starts with '-'"),
    ("git+https://host/repo.git#--upload-pack=touch", "the revision starts with '-'"),
]


@pytest.mark.parametrize("url,words", DASHED)
def test_leading_dash_is_refused(url, words):
    assert words in one_line_error(parse_scm_url, url)


@pytest.mark.parametrize("url,_", ACCEPTED)
def test_clone_urls_never_look_like_options_or_helpers(url, _):
    clone = parse_scm_url(url).clone_url
    assert not clone.startswith(("-", "ext::"))
    assert "::" not in clone


def test_git_ssh_needs_a_user_as_kojid():
    assert "needs a user" in one_line_error(parse_scm_url, "git+ssh://host/repo.git#1")


# 2. parsing and path normalisation (kojid's SCM._parse_url)

def test_parse_as_kojid():
    scm = parse_scm_url(f"git://user@server/foo.git#{REF}")
    assert (scm.scheme, scm.user, scm.host, scm.path, scm.subdir, scm.ref) == (
        "git", "user", "server", "/foo.git", "", REF)
    scm = parse_scm_url(f"git+ssh://user@server:80/foo.git#{REF}")
    assert (scm.user, scm.host, scm.path, scm.scm_type) == ("user", "server:80", "/foo.git",
                                                            "GIT+SSH")
    scm = parse_scm_url("git+https://host/rpms/foo.git/?pkg/foo/#main")
    assert (scm.path, scm.subdir) == ("/rpms/foo.git", "pkg/foo")


NORMALISED = [
    ("/rpms/../forks/x.git", "/forks/x.git"),
    ("//badpath/project", "/badpath/project"),
    ("////badpath/project", "/badpath/project"),
    ("/./badpath/project", "/badpath/project"),
    ("//.//badpath/project", "/badpath/project"),
    ("/goodpath/../badpath/project", "/badpath/project"),
    ("/goodpath/..//badpath/project", "/badpath/project"),
    ("/..//badpath/project", "/badpath/project"),
    ("/rpms/foo.git/", "/rpms/foo.git"),
    ("//a//b/", "/a/b"),
]


@pytest.mark.parametrize("raw,normal", NORMALISED)
def test_repository_is_normalised_as_kojid(raw, normal):
    assert normalise_repository(raw) == normal
    scm = parse_scm_url(f"git://maybeserver{raw}#1234")
    assert scm.path == normal
    assert scm.clone_url == f"git://maybeserver{normal}"  # what is matched is what is cloned


def test_dot_dot_cannot_escape_an_allowed_prefix():
    entries = parse_allowed_scms("host:/rpms/*")
    scm = parse_scm_url("git+https://host/rpms/../forks/x.git#ref")
    assert scm.path == "/forks/x.git"
    message = one_line_error(match_allowed_scms, scm, entries)
    assert "host:/forks/x.git is not in the list of allowed SCMs" in message


BAD_URLS = [
    ("git+https://host/repo.git", "no revision given"),
    ("git+https://host/repo.git#", "no revision given"),
    ("git://server#asdasd", "no repository path"),
    ("git://server/#asdasd", "no repository path"),
    ("git://server/..#asdasd", "no repository path"),
    ("git://server/foo.git;params=not_allowed#1", "params element is not allowed"),
    ("git://user@@server/foo.git#1", "more than one '@'"),
    ("git:///foo.git#1", "no host"),
    ("git://user@/foo.git#1", "no host"),
    ("git+https://host/repo.git?../etc#1", "leaves the checkout"),
    ("git+https://host/repo.git?/etc#1", "leaves the checkout"),
    ("git+https://host/repo.git?a/../../b#1", "leaves the checkout"),
    ("git+https://host/rpms/%2e%2e/forks/x.git#1", "percent-escaped"),
    ("git+https://host/rpms/..%2Fforks/x.git#1", "percent-escaped"),
    ("git+https://host/re po.git#1", "whitespace or control characters"),
    ("git+https://host/repo.git#main\nrm", "whitespace or control characters"),
    ("git+https://[::1/repo.git#1", "Invalid IPv6 URL"),
]


@pytest.mark.parametrize("url,words", BAD_URLS)
def test_bad_urls_are_one_line_errors(url, words):
    message = one_line_error(parse_scm_url, url)
    assert words in message
    assert message.startswith(url.split("#")[0].split("\n")[0].split(" ")[0])


def test_user_is_stripped_for_matching():
    entries = parse_allowed_scms("src.example.com:/rpms/*:no")
    scm = parse_scm_url("git+ssh://builder@src.example.com/rpms/foo.git#1")
    assert scm.host == "src.example.com"
    assert match_allowed_scms(scm, entries) == ScmPermission(False, DEFAULT_SOURCE_CMD)
    assert scm.clone_url == "ssh://builder@src.example.com/rpms/foo.git"


def test_port_stays_in_the_host_as_kojid():
    scm = parse_scm_url("git+https://src.example.com:8443/rpms/foo.git#1")
    assert scm.host == "src.example.com:8443"
    with pytest.raises(ScmError):
        match_allowed_scms(scm, parse_allowed_scms("src.example.com:/rpms/*"))
    assert match_allowed_scms(scm, parse_allowed_scms("src.example.com*:/rpms/*"))


# 3. allowed_scms (kojid's SCM.assert_allowed_by_config)

ENTRIES = [
    ("host:/r", AllowedScm("host", "/r", DEFAULT_SOURCE_CMD, True, False, "host:/r")),
    ("host:/r:no", AllowedScm("host", "/r", DEFAULT_SOURCE_CMD, False, False, "host:/r:no")),
    ("host:/r:OFF", AllowedScm("host", "/r", DEFAULT_SOURCE_CMD, False, False, "host:/r:OFF")),
    ("host:/r:False", AllowedScm("host", "/r", DEFAULT_SOURCE_CMD, False, False,
                                 "host:/r:False")),
    ("host:/r:0", AllowedScm("host", "/r", DEFAULT_SOURCE_CMD, False, False, "host:/r:0")),
    ("host:/r:yes", AllowedScm("host", "/r", DEFAULT_SOURCE_CMD, True, False, "host:/r:yes")),
    ("host:/r:1", AllowedScm("host", "/r", DEFAULT_SOURCE_CMD, True, False, "host:/r:1")),
    ("host:/r:", AllowedScm("host", "/r", DEFAULT_SOURCE_CMD, True, False, "host:/r:")),
    ("host:/r:maybe", AllowedScm("host", "/r", DEFAULT_SOURCE_CMD, True, False,
                                 "host:/r:maybe")),
    ("host:/r:no:fedpkg,sources", AllowedScm("host", "/r", ("fedpkg", "sources"), False, False,
                                             "host:/r:no:fedpkg,sources")),
    ("host:/r:no:", AllowedScm("host", "/r", None, False, False, "host:/r:no:")),
    ("host:/r::make", AllowedScm("host", "/r", ("make",), True, False, "host:/r::make")),
    ("host:/r:no:make:extra", AllowedScm("host", "/r", ("make",), False, False,
                                         "host:/r:no:make:extra")),
    ("!host:/r", AllowedScm("host", "/r", DEFAULT_SOURCE_CMD, True, True, "!host:/r")),
    ("bogus-entry", None),
]


@pytest.mark.parametrize("text,entry", ENTRIES)
def test_allowed_scms_entries_as_kojid_reads_them(text, entry):
    assert parse_allowed_scm(text) == entry


def test_allowed_scms_splits_on_whitespace_and_skips_bad_entries(caplog):
    text = """
        bogus-entry-should-be-ignored
        goodserver:*:no\tother:/x:yes:a,b
        !badserver:*
    """
    entries = parse_allowed_scms(text)
    assert [(e.host, e.repository, e.deny) for e in entries] == [
        ("goodserver", "*", False), ("other", "/x", False), ("badserver", "*", True)]
    assert entries[1].source_cmd == ("a", "b")
    assert "bogus-entry-should-be-ignored" in caplog.text


KOJID_CONFIG = """
    goodserver:*:no
    !badserver:*
    !maybeserver:/badpath/*
    maybeserver:*:no
"""
GOOD = ["git://goodserver/path1#1234", "git+ssh://user@maybeserver/path1#1234"]
BAD = [
    "git://badserver/projects/42#ref",
    "git://maybeserver/badpath/project#1234",
    "git://maybeserver//badpath/project#1234",
    "git://maybeserver////badpath/project#1234",
    "git://maybeserver/./badpath/project#1234",
    "git://maybeserver//.//badpath/project#1234",
    "git://maybeserver/goodpath/../badpath/project#1234",
    "git://maybeserver/goodpath/..//badpath/project#1234",
    "git://maybeserver/..//badpath/project#1234",
]


@pytest.mark.parametrize("url", GOOD)
def test_kojids_allowed_urls(url):
    assert assert_allowed_by_config(parse_scm_url(url), KOJID_CONFIG) == ScmPermission(
        False, DEFAULT_SOURCE_CMD)


@pytest.mark.parametrize("url", BAD)
def test_kojids_denied_urls_name_the_deny_entry(url):
    scm = parse_scm_url(url)
    message = one_line_error(assert_allowed_by_config, scm, KOJID_CONFIG)
    assert message.startswith(url)
    assert f"{scm.host}:{scm.path} is not in the list of allowed SCMs" in message
    assert "refused by allowed_scms entry '!" in message


def test_first_match_wins():
    scm = parse_scm_url("git://host/rpms/foo.git#1")
    allow_first = "host:/rpms/*:no:fedpkg,sources !host:/rpms/*"
    assert assert_allowed_by_config(scm, allow_first) == ScmPermission(False,
                                                                       ("fedpkg", "sources"))
    with pytest.raises(ScmError, match="refused by allowed_scms entry '!host:/rpms/\\*'"):
        assert_allowed_by_config(scm, "!host:/rpms/* host:/rpms/*")


def test_no_match_and_empty_config_refuse():
    scm = parse_scm_url("git://evil.example.org/x.git#1")
    for text in ("host:/rpms/*", "", "bogus"):
        message = one_line_error(assert_allowed_by_config, scm, text)
        assert message == ("git://evil.example.org/x.git#1: evil.example.org:/x.git is not in "
                           "the list of allowed SCMs (allowed_scms in kojid.conf)")


KOJID_OPTS = """
    default:*
    nocommon:*:no
    srccmd:*:no:fedpkg,sources
    nosrc:*:no:
    mixed:/foo/*:no
    mixed:/bar/*:yes
    mixed:/baz/*:no:fedpkg,sources
"""
OPTS_BY_CONFIG = [
    ("git://default/koji.git#1234", ScmPermission(True, ("make", "sources"))),
    ("git://nocommon/koji.git#1234", ScmPermission(False, ("make", "sources"))),
    ("git://srccmd/koji.git#1234", ScmPermission(False, ("fedpkg", "sources"))),
    ("git://nosrc/koji.git#1234", ScmPermission(False, None)),
    ("git://mixed/foo/koji.git#1234", ScmPermission(False, ("make", "sources"))),
    ("git://mixed/bar/koji.git#1234", ScmPermission(True, ("make", "sources"))),
    ("git://mixed/baz/koji.git#1234", ScmPermission(False, ("fedpkg", "sources"))),
]


@pytest.mark.parametrize("url,permission", OPTS_BY_CONFIG)
def test_options_by_config_as_kojid(url, permission):
    assert assert_allowed_by_config(parse_scm_url(url), KOJID_OPTS) == permission


def test_allowed_source_cmd_keeps_working():
    entries = parse_allowed_scms("src.example.com:/rpms/*:false:fedpkg,sources "
                                 "git.example.com:/*:no: *.internal:/pkgs/*")
    assert allowed_source_cmd(parse_scm_url("git://src.example.com/rpms/f.git#1"),
                              entries) == ("fedpkg", "sources")
    assert allowed_source_cmd(parse_scm_url("git://git.example.com/x.git#1"), entries) is None
    assert allowed_source_cmd(parse_scm_url("git://a.internal/pkgs/x.git#1"),
                              entries) == DEFAULT_SOURCE_CMD


# 4. the build_from_scm policy (kojid's SCM.assert_allowed_by_policy)

def test_policy_data_has_kojids_keys():
    scm = parse_scm_url("git+https://builder@src.example.com/rpms/../rpms/foo.git?pkg#v1")
    assert policy_data(scm, {"user_id": 7, "channel": "default", "scratch": None}) == {
        "scm_url": "git+https://builder@src.example.com/rpms/../rpms/foo.git?pkg#v1",
        "scm_scheme": "git+https://",
        "scm_user": "builder",
        "scm_host": "src.example.com",
        "scm_repository": "/rpms/foo.git",
        "scm_module": "pkg",
        "scm_revision": "v1",
        "scm_type": "GIT",
        "user_id": 7,
        "channel": "default",
        "scratch": None,
    }
    assert policy_data(scm, {"scm_host": "override"})["scm_host"] == "override"
    ssh = parse_scm_url("git+ssh://u@h/r.git#1")
    assert (policy_data(ssh)["scm_type"], policy_data(ssh)["scm_scheme"]) == ("GIT+SSH",
                                                                              "git+ssh://")
    no_user = policy_data(parse_scm_url("git://h/r.git#1"))
    assert no_user["scm_user"] is None


# kojid's test_opts_by_policy answers, with what SCM keeps after each
BASE = DEFAULT_PERMISSION
ANSWERS = [
    ("allow", BASE, ScmPermission(False, ("make", "sources"))),
    ("allow use_common", BASE, ScmPermission(True, ("make", "sources"))),
    ("allow fedpkg sources", BASE, ScmPermission(False, ("fedpkg", "sources"))),
    ("allow none", BASE, ScmPermission(False, None)),
    ("allow use_common fedpkg sources", BASE, ScmPermission(True, ("fedpkg", "sources"))),
    ("allow use_common none", BASE, ScmPermission(True, None)),
    ("Allowed USE_COMMON None", BASE, ScmPermission(True, None)),
    ("yes", BASE, ScmPermission(False, ("make", "sources"))),
    ("true", BASE, ScmPermission(False, ("make", "sources"))),
    # after allowed_scms: the policy's use_common wins, its source command if it gives one
    ("allow", ScmPermission(False, None), ScmPermission(False, None)),
    ("allow", ScmPermission(True, ("make", "sources")), ScmPermission(False, ("make", "sources"))),
    ("allow use_common", ScmPermission(False, ("centpkg", "sources")),
     ScmPermission(True, ("centpkg", "sources"))),
    ("allow fedpkg sources", ScmPermission(False, ("centpkg", "sources")),
     ScmPermission(False, ("fedpkg", "sources"))),
    ("allow fedpkg sources", ScmPermission(False, None),
     ScmPermission(False, ("fedpkg", "sources"))),
    ("allow", ScmPermission(False, ("none",)), ScmPermission(False, None)),
]


@pytest.mark.parametrize("answer,current,permission", ANSWERS)
def test_policy_answers_as_kojid_reads_them(answer, current, permission):
    scm = parse_scm_url("git://mixed/foo/koji.git#1234")
    assert policy_permission(scm, answer, current) == permission


@pytest.mark.parametrize("answer,reason", [
    ("deny", "None"), ("deny not from here", "not from here"), ("", "None"), (None, "None"),
    ("maybe", "None"), (["allow"], "None"),
])
def test_policy_refusals(answer, reason):
    scm = parse_scm_url("git://maybeserver/badpath/project#1234")
    message = one_line_error(policy_permission, scm, answer, BASE)
    assert message == (f"git://maybeserver/badpath/project#1234: SCM maybeserver:/badpath/project "
                       f"is not allowed, reason: {reason} (hub policy build_from_scm)")


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_check_scm_by_policy_asks_evalpolicy_as_kojid():
    hub = FakeHub({"evalPolicy": "allow use_common fedpkg sources"})
    permission = run(check_scm("git://mixed/foobar/koji.git#1234", allowed_scms="",
                               use_config=False, use_policy=True, hub=hub,
                               policy_extra={"scratch": True}))
    assert permission == ScmPermission(True, ("fedpkg", "sources"))
    [(name, args, kwargs)] = hub.calls
    assert (name, args[0], kwargs) == ("evalPolicy", "build_from_scm", {})
    assert args[1]["scm_repository"] == "/foobar/koji.git"
    assert args[1]["scratch"] is True


BOTH_CONFIG = """
    default:*:no:
    mixed:/foo/*:yes
    mixed:/bar/*:no
    mixed:/baz/*:no:centpkg,sources
    mixed:/foobar/*:no:
    mixed:/foobaz/*:no:centpkg,sources
"""
# kojid's test_assert_allowed_by_both: the policy rule for each, and the result
BOTH = [
    ("git://default/koji.git#1234", "allow", ScmPermission(False, None)),
    ("git://mixed/foo/koji.git#1234", "allow", ScmPermission(False, ("make", "sources"))),
    ("git://mixed/bar/koji.git#1234", "allow use_common", ScmPermission(True, ("make", "sources"))),
    ("git://mixed/baz/koji.git#1234", "allow fedpkg sources",
     ScmPermission(False, ("fedpkg", "sources"))),
    ("git://mixed/foobar/koji.git#1234", "allow use_common fedpkg sources",
     ScmPermission(True, ("fedpkg", "sources"))),
    ("git://mixed/foobaz/koji.git#1234", "allow use_common none", ScmPermission(True, None)),
]


@pytest.mark.parametrize("url,answer,permission", BOTH)
def test_check_scm_config_then_policy(url, answer, permission):
    hub = FakeHub({"evalPolicy": answer})
    assert run(check_scm(url, allowed_scms=BOTH_CONFIG, use_config=True, use_policy=True,
                         hub=hub)) == permission


def test_check_scm_config_refusal_does_not_ask_the_hub():
    hub = FakeHub({"evalPolicy": "allow"})
    with pytest.raises(ScmError, match="not in the list of allowed SCMs"):
        run(check_scm("git://elsewhere/koji.git#1", allowed_scms=BOTH_CONFIG, use_config=True,
                      use_policy=True, hub=hub))
    assert hub.calls == []


def test_check_scm_policy_refusal_after_config():
    hub = FakeHub({"evalPolicy": "deny scratch only"})
    with pytest.raises(ScmError, match="is not allowed, reason: scratch only"):
        run(check_scm("git://mixed/foo/koji.git#1", allowed_scms=BOTH_CONFIG, use_config=True,
                      use_policy=True, hub=hub))


def test_check_scm_with_neither_is_kojids_default():
    scm = parse_scm_url("git://anywhere/koji.git#1")
    assert run(check_scm(scm, allowed_scms="", use_config=False, use_policy=False,
                         hub=None)) == DEFAULT_PERMISSION


def test_check_scm_by_policy_needs_a_hub():
    with pytest.raises(ScmError, match="no hub session"):
        run(check_scm("git://h/r.git#1", allowed_scms="", use_config=False, use_policy=True,
                      hub=None))


def test_check_scm_parses_strings_without_passwords_by_default():
    with pytest.raises(ScmError, match="password"):
        run(check_scm("git+https://u:pw@h/r.git#1", allowed_scms="h:*", use_config=True,
                      use_policy=False, hub=None))
    assert run(check_scm("git+https://u:pw@h/r.git#1", allowed_scms="h:*", use_config=True,
                         use_policy=False, hub=None, allow_password=True)) == DEFAULT_PERMISSION


def test_task_policy_data_as_kojids_buildsrpmfromscm():
    hub = FakeHub({"getTaskInfo": {"owner": 3, "channel_id": 9},
                   "getChannel": lambda cid, strict: {"id": cid, "name": "srpm"}})
    assert run(task_policy_data(hub, 42, {"scratch": True, "repo_id": 1})) == {
        "user_id": 3, "channel": "srpm", "scratch": True}
    assert hub.calls == [("getTaskInfo", (42,), {}), ("getChannel", (9,), {"strict": True})]
    assert run(task_policy_data(hub, 42, None))["scratch"] is None


# 5. passwords

SECRET = "s3cr3t"
WITH_PASSWORD = f"git+https://user:{SECRET}@src.example.com/rpms/foo.git?pkg#v1"


def test_password_refused_unless_allowed():
    message = one_line_error(parse_scm_url, WITH_PASSWORD)
    assert SECRET not in message
    assert message == ("git+https://user:***@src.example.com/rpms/foo.git?pkg#v1: a password in "
                       "the SCM URL is not allowed (allow_password_in_scm_url)")
    assert SECRET not in one_line_error(parse_scm_url, f"git+https://:{SECRET}@h/r.git#1",
                                        allow_password=True)


def test_allowed_password_is_used_to_clone_and_hidden_everywhere_else():
    scm = parse_scm_url(WITH_PASSWORD, allow_password=True)
    assert (scm.user, scm.password, scm.host) == ("user", SECRET, "src.example.com")
    assert scm.clone_url == f"https://user:{SECRET}@src.example.com/rpms/foo.git"
    assert scm.safe_url == "git+https://user:***@src.example.com/rpms/foo.git?pkg#v1"
    assert SECRET not in repr(scm)
    # kojid's SCM.get_source leaves the user and password out of `source`
    assert scm.with_commit("abc") == "git+https://src.example.com/rpms/foo.git?pkg#abc"
    assert scm.with_commit("abc", credentials=True) == (
        f"git+https://user:{SECRET}@src.example.com/rpms/foo.git?pkg#abc")
    # kojid's SCM.user is user:password: the hub's policy sees what the task request holds
    assert policy_data(scm)["scm_user"] == f"user:{SECRET}"


def test_errors_after_parsing_hide_the_password():
    scm = parse_scm_url(WITH_PASSWORD, allow_password=True)
    config = one_line_error(assert_allowed_by_config, scm, "other:*")
    policy = one_line_error(policy_permission, scm, "deny", BASE)
    for message in (config, policy):
        assert SECRET not in message
        assert message.startswith("git+https://user:***@src.example.com/rpms/foo.git?pkg#v1: ")


def test_errors_before_parsing_hide_the_password():
    for url in (f"svn+https://user:{SECRET}@host/repo#1",
                f"git+https://user:{SECRET}@host/re po#1",
                f"git+https://user:{SECRET}@host/repo.git"):
        assert SECRET not in one_line_error(parse_scm_url, url, allow_password=True)


HIDDEN = [
    ("git+https://u:pw@h/r#1", "git+https://u:***@h/r#1"),
    ("git+https://u:p@w@h/r#1", "git+https://u:***@h/r#1"),
    ("git+https://u@h/r#1", "git+https://u@h/r#1"),
    ("git+https://u:@h/r#1", "git+https://u:@h/r#1"),
    ("git+https://h:443/r#1", "git+https://h:443/r#1"),
    ("Koji task 1: buildSRPMFromSCM git+https://u:pw@h/r#1 f40-build",
     "Koji task 1: buildSRPMFromSCM git+https://u:***@h/r#1 f40-build"),
    ("no url here", "no url here"),
]


@pytest.mark.parametrize("text,hidden", HIDDEN)
def test_hide_password(text, hidden):
    assert hide_password(text) == hidden


def test_scm_url_is_frozen_and_keeps_its_public_shape():
    scm = parse_scm_url("git+https://src.example.com/rpms/foo.git?pkg/foo#v1.2")
    assert isinstance(scm, ScmUrl)
    assert scm.clone_url == "https://src.example.com/rpms/foo.git"
    assert (scm.subdir, scm.ref) == ("pkg/foo", "v1.2")
    assert scm.with_commit("abc123") == "git+https://src.example.com/rpms/foo.git?pkg/foo#abc123"
    with pytest.raises(AttributeError):
        scm.ref = "other"  # type: ignore[misc]
