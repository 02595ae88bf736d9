"""Hub policies on the emulated hub, after kojihub/kojihub.py (check_policy,
assert_policy, policy_get_user and the policy test handlers) and
kojihub/kojixmlrpc.py (_default_policies, MissingPolicyOk, get_policy).

A policy's rules are parsed by koji's own koji.policy.SimpleRuleSet, with
koji.policy's generic tests (all, none, true, false, has, bool, match, ...)
and the hub tests this emulator can answer from its state (has_perm,
operation, user, tag, fromtag, package, version, release, is_child_task,
method, skip_tag, hastag, is_build_owner, is_draft, is_new_package).  The
other hub tests exist (so that the default rules parse), but evaluating one
fails loudly ("emulator: policy test X is not supported").

hub.conf here has no [policy] section: every policy is the hub's default,
unless a test set one (HubAdmin.set_policy, the policies table).  A policy
with neither is missing, and MissingPolicyOk (default True) allows it.
VerbosePolicy and KojiDebug are off, so refusals do not name the rule.
"""

from __future__ import annotations

import contextlib
import fnmatch
import sqlite3
import threading
from collections.abc import Iterator
from typing import Any, Optional

import koji
import koji.policy

from tests.hub import builds, state

# kojixmlrpc._default_policies (1.34-1.36): the rules a hub has for these
# policies when hub.conf does not set them
DEFAULT_POLICIES = {
    "build_rpm": "all :: allow",
    "build_from_srpm": ("has_perm admin :: allow\n"
                        "all :: deny Only admin can do this via default policy"),
    "build_from_repo_id": ("has_perm admin :: allow\n"
                           "all :: deny Only admin can do this via default policy"),
    "build_from_scm": ("has_perm admin :: allow\n"
                       "all :: deny Only admin can do this via default policy"),
    "package_list": ("has_perm admin :: allow\n"
                     "has_perm tag :: allow\n"
                     "all :: deny Only admin/tag can do this via default policy"),
    "channel": ("has req_channel :: req\n"
                "is_child_task :: parent\n"
                "all :: use default"),
    "vm": ("has_perm admin win-admin :: allow\n"
           "all :: deny Only admin/win-admin can do this via default policy"),
    "cg_import": "all :: allow",
    "volume": "all :: DEFAULT",
    "priority": "all :: stay",
    "draft_promotion": ("has_perm draft-promoter :: allow\n"
                        "is_build_owner :: allow\n"
                        "all :: deny Only draft-promoter and build owner can do this via"
                        " default policy"),
}

# Policies the hub applies with their own actions, not allow/deny (make_task's
# channel and priority, the volume policy): the emulator applies the defaults
# in code (exports._task_channel, DEFAULT volume only), so a test may not
# change them.
NOT_CONFIGURABLE = ("channel", "priority", "volume")

# hub.conf MissingPolicyOk (kojixmlrpc default: True)
MISSING_POLICY_OK = True

_local = threading.local()


@contextlib.contextmanager
def _checking(conn: sqlite3.Connection, session_user_id: Optional[int]) -> Iterator[None]:
    """The hub's policy tests read koji.context; here, what the running check
    needs (the connection and the session's user)."""
    previous = getattr(_local, "state", None)
    _local.state = (conn, session_user_id)
    try:
        yield
    finally:
        _local.state = previous


def _state() -> tuple:
    state = getattr(_local, "state", None)
    if state is None:
        raise koji.GenericError("emulator: policy test run outside a policy check")
    return state


# -- users and permissions (kojihub.get_user, auth.get_user_perms) -------------

def get_user(conn: sqlite3.Connection, info: Any,  # noqa: PLR0912
             strict: bool = False, session_user_id: Optional[int] = None) -> Optional[dict]:
    """kojihub.get_user (no Kerberos principals here): by id, name or a dict;
    None means the session's user."""
    if info is None:
        info = session_user_id
        if info is None:
            raise koji.GenericError("No user provided")
    if isinstance(info, dict):
        if "id" in info and not isinstance(info["id"], int):
            raise koji.GenericError(f"Invalid type for userid: {type(info['id'])}")
        if "name" in info and not isinstance(info["name"], str):
            raise koji.GenericError(f"Invalid type for username: {type(info['name'])}")
        clauses, params = [], []
        for key in ("id", "name"):
            if key in info:
                clauses.append(f"{key} = ?")
                params.append(info[key])
        if "krb_principal" in info:
            clauses.append("0")  # no Kerberos principals are recorded here
        if not clauses:
            clauses.append("1")
        row = conn.execute("SELECT * FROM users WHERE " + " AND ".join(clauses),
                           params).fetchone()
    elif isinstance(info, bool) or not isinstance(info, (int, str)):
        raise koji.GenericError(f"Invalid type for userInfo: {type(info)}")
    elif isinstance(info, int):
        row = conn.execute("SELECT * FROM users WHERE id = ?", (info,)).fetchone()
    else:
        row = conn.execute("SELECT * FROM users WHERE name = ?", (info,)).fetchone()
    if row is None:
        if strict:
            raise koji.GenericError(f"No such user: {info!r}")
        return None
    return {"id": row["id"], "name": row["name"], "status": row["status"],
            "usertype": row["usertype"], "krb_principals": []}


def user_perms(conn: sqlite3.Connection, user_id: int) -> list:
    """auth.get_user_perms: the permissions granted to the user (state.user_perms)."""
    return state.user_perms(conn, user_id)


def policy_get_user(data: dict) -> Optional[dict]:
    """kojihub.policy_get_user: data's user_id, else the logged-in user."""
    conn, session_user_id = _state()
    if "user_id" in data:
        return get_user(conn, data["user_id"], session_user_id=session_user_id)
    if session_user_id is not None:
        return get_user(conn, session_user_id)
    return None


# -- the hub's policy tests ----------------------------------------------------

class HasPermTest(koji.policy.BaseSimpleTest):
    """kojihub.HasPermTest: the user has a permission matching any pattern."""

    name = "has_perm"

    def run(self, data):
        user = policy_get_user(data)
        if not user:
            return False
        patterns = self.str.split()[1:]
        return any(fnmatch.fnmatch(perm, pattern)
                   for perm in user_perms(_state()[0], user["id"]) for pattern in patterns)


class OperationTest(koji.policy.MatchTest):
    """kojihub.OperationTest."""

    name = "operation"
    field = "operation"


class MethodTest(koji.policy.MatchTest):
    """kojihub.MethodTest."""

    name = "method"
    field = "method"


class ChildTaskTest(koji.policy.BoolTest):
    """kojihub.ChildTaskTest."""

    name = "is_child_task"
    field = "parent"


class SkipTagTest(koji.policy.BaseSimpleTest):
    """kojihub.SkipTagTest."""

    name = "skip_tag"

    def run(self, data):
        return bool(data.get("skip_tag"))


class UserTest(koji.policy.MatchTest):
    """kojihub.UserTest: the user's name against the patterns."""

    name = "user"
    field = "_username"

    def run(self, data):
        user = policy_get_user(data)
        if not user:
            return False
        data[self.field] = user["name"]
        return super().run(data)


class TagTest(koji.policy.MatchTest):
    """kojihub.TagTest: the tag's name against the patterns."""

    name = "tag"
    field = "_tagname"
    key = "tag"

    def run(self, data):
        tag = data.get(self.key)
        if tag is None:
            return False
        tinfo = builds.get_tag(_state()[0], tag, strict=False)
        if tinfo is None:
            return False
        data[self.field] = tinfo["name"]
        return super().run(data)


class FromTagTest(TagTest):
    """kojihub.FromTagTest."""

    name = "fromtag"
    key = "fromtag"


def policy_get_pkg(data: dict) -> dict:
    """kojihub.policy_get_pkg."""
    conn = _state()[0]
    if "package" in data:
        row = builds.lookup_name(conn, "packages", data["package"], strict=False)
        if row is None:
            if isinstance(data["package"], str):
                return {"id": None, "name": data["package"]}
            raise koji.GenericError(f"No such package: {data['package']}")
        return {"id": row["id"], "name": row["name"]}
    if "build" in data:
        binfo = builds.get_build(conn, data["build"], strict=True)
        return {"id": binfo["package_id"], "name": binfo["name"]}
    raise koji.GenericError("policy requires package data")


class PackageTest(koji.policy.MatchTest):
    """kojihub.PackageTest."""

    name = "package"
    field = "_package"

    def run(self, data):
        data[self.field] = policy_get_pkg(data)["name"]
        return super().run(data)


class NewPackageTest(koji.policy.BaseSimpleTest):
    """kojihub.NewPackageTest."""

    name = "is_new_package"

    def run(self, data):
        return policy_get_pkg(data)["id"] is None


class VersionTest(koji.policy.MatchTest):
    """kojihub.VersionTest (policy_get_version)."""

    name = "version"
    field = "_version"

    def run(self, data):
        if "version" in data:
            data[self.field] = data["version"]
        elif "build" in data:
            data[self.field] = builds.get_build(_state()[0], data["build"], strict=True)["version"]
        else:
            raise koji.GenericError("policy requires version data")
        return super().run(data)


class ReleaseTest(koji.policy.MatchTest):
    """kojihub.ReleaseTest (policy_get_release)."""

    name = "release"
    field = "_release"

    def run(self, data):
        if "release" in data:
            data[self.field] = data["release"]
        elif "build" in data:
            data[self.field] = builds.get_build(_state()[0], data["build"], strict=True)["release"]
        else:
            raise koji.GenericError("policy requires release data")
        return super().run(data)


class HasTagTest(koji.policy.BaseSimpleTest):
    """kojihub.HasTagTest: the build is (now) in a tag matching a pattern."""

    name = "hastag"

    def run(self, data):
        if "build" not in data:
            return False
        conn = _state()[0]
        build_id = builds.get_build(conn, data["build"], strict=True)["id"]
        names = [r["name"] for r in conn.execute(
            "SELECT t.name FROM tag_listing l JOIN tags t ON t.id = l.tag_id"
            " WHERE l.build_id = ? AND l.revoke_event IS NULL", (build_id,))]
        patterns = self.str.split()[1:]
        return any(fnmatch.fnmatch(name, pattern) for name in names for pattern in patterns)


class IsBuildOwnerTest(koji.policy.BaseSimpleTest):
    """kojihub.IsBuildOwnerTest (no user groups here)."""

    name = "is_build_owner"

    def run(self, data):
        build = builds.get_build(_state()[0], data["build"])
        user = policy_get_user(data)
        if not user:
            return False
        return build["owner_id"] == user["id"]


class IsDraftTest(koji.policy.BaseSimpleTest):
    """kojihub.IsDraftTest (no draft builds here)."""

    name = "is_draft"

    def run(self, data):
        if "draft" in data:
            return bool(data["draft"])
        if "build" in data:
            return bool(builds.get_build(_state()[0], data["build"]).get("draft", False))
        return False


class _Unsupported(koji.policy.BaseSimpleTest):
    def run(self, data):
        raise koji.GenericError(f"emulator: policy test {self.name} is not supported")


# the rest of kojihub's tests: known names, no answers
UNSUPPORTED_TESTS = ("buildtag", "buildtag_inherits_from", "buildtype", "imported", "volume",
                     "cg_match_any", "cg_match_all", "source", "policy", "vm_name",
                     "draft_superseded", "user_in_group")

HUB_TESTS = (HasPermTest, OperationTest, MethodTest, ChildTaskTest, SkipTagTest, UserTest,
             TagTest, FromTagTest, PackageTest, NewPackageTest, VersionTest, ReleaseTest,
             HasTagTest, IsBuildOwnerTest, IsDraftTest)


def _all_tests() -> dict:
    """kojixmlrpc.get_policy: the tests of kojihub and koji.policy (kojihub's
    first: findSimpleTests keeps the first of a name)."""
    tests: dict = {cls.name: cls for cls in HUB_TESTS}
    for name in UNSUPPORTED_TESTS:
        tests[name] = type(f"Unsupported_{name}", (_Unsupported,), {"name": name})
    for name, cls in koji.policy.findSimpleTests(vars(koji.policy)).items():
        tests.setdefault(name, cls)
    return tests


def policy_rules(conn: sqlite3.Connection, name: str) -> Optional[str]:
    """The rules of a policy: a test's, else the hub's default, else None
    (missing)."""
    row = conn.execute("SELECT rules FROM policies WHERE name = ?", (name,)).fetchone()
    if row is not None:
        return row["rules"]
    return DEFAULT_POLICIES.get(name)


def get_ruleset_from_text(rules: str) -> koji.policy.SimpleRuleSet:
    """kojixmlrpc.get_policy: SimpleRuleSet(text.splitlines(), tests)."""
    return koji.policy.SimpleRuleSet(rules.splitlines(), _all_tests())


def get_ruleset(conn: sqlite3.Connection, name: str) -> Optional[koji.policy.SimpleRuleSet]:
    rules = policy_rules(conn, name)
    if rules is None:
        return None
    return get_ruleset_from_text(rules)


# -- check_policy ----------------------------------------------------------------

def check_policy(conn: sqlite3.Connection, session_user_id: Optional[int], name: str,
                 data: dict, *, default: str = "deny", strict: bool = False,
                 force: bool = False) -> tuple:
    """kojihub.check_policy: (allowed, reason).  A missing policy allows
    (MissingPolicyOk); a result that is neither allow nor deny is "error in
    policy"; force lets an admin (policy_get_user) through; with strict a
    refusal raises ActionNotAllowed "policy violation (<name>)[: <reason>]"."""
    with _checking(conn, session_user_id):
        ruleset = get_ruleset(conn, name)
        if ruleset is None:
            result = "allow" if MISSING_POLICY_OK else "deny"
            reason = "missing policy"
        else:
            result = ruleset.apply(data)
            if result is None:
                result = default
                reason = "not covered by policy"
            else:
                parts = result.split(None, 1)
                parts.extend(["", ""])
                result, reason = parts[0].lower(), parts[1]
        if result == "allow":
            return True, reason
        if result != "deny":
            reason = "error in policy"
        if force:
            user = policy_get_user(data)
            if user and "admin" in user_perms(conn, user["id"]):
                return True, "overriden by force"
    if not strict:
        return False, reason
    text = f"policy violation ({name})"
    if reason:
        text += f": {reason}"
    raise koji.ActionNotAllowed(text)


def assert_policy(conn: sqlite3.Connection, session_user_id: Optional[int], name: str,
                  data: dict, *, default: str = "deny", force: bool = False) -> None:
    """kojihub.assert_policy."""
    check_policy(conn, session_user_id, name, data, default=default, strict=True, force=force)

