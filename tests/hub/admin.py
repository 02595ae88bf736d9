"""The tests' side of the hub emulator.

HubAdmin works on the SQLite file directly, so it works while the server is
down; HubProcess runs the server (python3 -m tests.hub) as a subprocess that a
test can stop and start again on the same state.

    with HubProcess(tmp_path / "hub.db", tmp_path / "koji") as hub:
        admin = HubAdmin(hub.db)
        admin.add_host("builder1", password="pw")
        task_id = admin.create_task("sleep", [1])
        ...  # koji.ClientSession(hub.url, {...}) plays the builder
        assert admin.task(task_id)["state"] == koji.TASK_STATES["CLOSED"]
        assert admin.count_calls("host.closeTask", task_id=task_id) == 1

For RPM builds (BuildsAdmin, mixed into HubAdmin): a tag, rpms imported from
files, a repo laid out on disk as kojira/newRepo would, its repodata, then
what a builder recorded:

        admin.add_tag("f40-build", arches=("x86_64",), extra={"rpm.macro.dist": ".fc40"})
        admin.import_rpm(srpm_path)                      # the build (COMPLETE)
        rpm_id = admin.import_rpm(noarch_rpm_path)
        repo_id = admin.add_repo("f40-build", rpms=[rpm_id])
        admin.createrepo(repo_id)                        # createrepo_c, as kojid runs it
        ...  # the builder: newBuildRoot, setBuildRootList, setBuildRootState, uploads
        admin.buildroot(brootid), admin.buildroot_rpms(brootid), admin.uploads(task_id)

Package lists, tagging, policies and repo requests (tests/hub/tagging.py,
policy.py, repos.py):

        admin.add_package("f40", "alpha")                # packageListAdd
        build_id = admin.add_build("alpha-1.0-1")        # createEmptyBuild (no rpms)
        admin.tag_build("f40", build_id)                 # tagBuildBypass
        admin.set_policy("tag", "deny frozen")           # [policy] tag = all :: deny frozen
        ...  # the builder: host.tagBuild, host.tagNotification, host.assertPolicy, repo.request
        admin.tagged("f40"), admin.tag_notifications(), admin.repo_requests("f40")

Notifications (tests/hub/notify.py): off, as the emulator's hub.conf has
DisableNotifications; a test turns them on, subscribes users and opts them
out, then finds the buildNotification / tagNotification tasks the hub made:

        admin.set_hub_options(DisableNotifications=False, EmailDomain="example.com")
        admin.add_notification("carol", package="alpha", tag="f40", success_only=True)
        admin.block_notification("bob", package="alpha")
        ...  # the builder: host.completeBuild / failBuild / tagNotification
        admin.tasks(method="buildNotification")[0]["request"]
        # [recipients, build, target, weburl]

Repos made by tasks (tests/hub/repos.py): inheritance, groups and rpm rows
give a tag its content, newRepo or kojira's queue check make the task, the
builder's host.repoInit / host.repoDone make the repo:

        admin.add_tag_inheritance("f40-build", "f40", priority=10)
        admin.add_group("f40-build", "build", ["bash", "rpm-build"])
        admin.add_rpm_info(build_id, "noarch")           # an rpm row, no file
        task_id = admin.new_repo_task("f40-build")       # RootExports.newRepo
        admin.check_repo_queue()                         # repo.checkQueue (kojira)
        admin.repo(repo_id)["state"], admin.latest_repo("f40-build")
"""

from __future__ import annotations

import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import threading
import time
import xmlrpc.client
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Optional, Union

import koji

from tests.hub import builds, exports, notify, policy, repos, state, tagging
from tests.hub import state as state_mod
from tests.hub.context import Context, Environ, HubOptions
from tests.hub.tls import TLSPaths

REPO = Path(__file__).resolve().parents[2]
PathLike = Union[str, "os.PathLike[str]"]


def _host_value(key: str, value: Any) -> Any:
    if key == "arches" and not isinstance(value, str):
        return " ".join(value)
    if key == "data" and value is not None:
        return json.dumps(value)
    if key in ("enabled", "ready"):
        return int(bool(value))
    return value


class _AdminSession:
    """The session hub code run by HubAdmin sees: kojiadmin, logged in."""

    logged_in = True
    host_id = None
    exclusive = None

    def __init__(self, conn: Any, user_id: int):
        self.conn = conn
        self.user_id = user_id

    def has_perm(self, name: str) -> bool:
        return name in state.user_perms(self.conn, self.user_id)

    def assert_perm(self, name: str) -> None:
        if not self.has_perm(name) and not self.has_perm("admin"):
            raise koji.ActionNotAllowed(f"{name} permission required")

    def assert_login(self) -> None:
        return None


class BuildsAdmin:
    """HubAdmin's RPM-build side: tags, targets, external repos, rpm imports,
    repos on disk, and what buildroots recorded.

    Repos are laid out as kojihub.repo_init lays them out (koji.pathinfo;
    tests/hub/repos.py write_repo_dir, which host.repoInit uses too):

        <topdir>/repos/<tag>/<repo_id>/repo.json
        <topdir>/repos/<tag>/<repo_id>/groups/comps.xml
        <topdir>/repos/<tag>/<repo_id>/<arch>/{pkglist,rpmlist.jsonl,blocklist}
        <topdir>/repos/<tag>/<repo_id>/<arch>/toplink -> ../../../..   (= topdir)
        <topdir>/repos/<tag>/latest -> <repo_id>            (the newest READY repo)

    and import_rpm puts each rpm where the hub's import puts it:
    <topdir>/packages/<name>/<version>/<release>/<arch>/<nvra>.rpm (the build's
    NVR for the directories).  pkglist lists "toplink/packages/..." relative to
    the arch directory, so `createrepo_c -i pkglist <archdir>` (createrepo()
    here, as kojid's createrepo task runs it) writes location hrefs that
    resolve inside the repo directory, over /kojifiles/ too.
    """

    conn: Any

    # -- plumbing -------------------------------------------------------------

    @property
    def topdir(self) -> Path:
        """The hub's topdir: given to HubAdmin, else recorded by the server."""
        if self._topdir is not None:
            return self._topdir
        value = state.get_sys(self.conn, "topdir")
        if value is None:
            raise RuntimeError("HubAdmin needs topdir= (the server has not recorded one yet)")
        return Path(value)

    def _tag_row(self, tag: Any):
        column, value = builds.name_or_id(tag)
        row = self.conn.execute(f"SELECT * FROM tags WHERE {column} = ?", (value,)).fetchone()
        if row is None:
            raise KeyError(f"no such tag: {tag}")
        return row

    def _admin_id(self) -> int:
        return self.conn.execute("SELECT id FROM users WHERE name = ?",
                                 (state.ADMIN_USER,)).fetchone()["id"]

    def last_event(self) -> int:
        return builds.last_event(self.conn)["id"]

    # -- tags, targets, external repos -----------------------------------------

    def add_tag(self, name: str, arches: Optional[Iterable[str]] = ("x86_64",),
                extra: Optional[dict] = None, *, locked: bool = False) -> int:
        """A tag (createTag: arches checked and stored space-separated; None:
        none, so getBuildConfig inherits them) with its extra (build config:
        rpm.macro.*, mock.*, adjutant's image key...)."""
        if arches is not None:
            arches = koji.parse_arches(" ".join(arches), strict=True, allow_none=True)
        with self._tx():
            event = state.new_event(self.conn)
            tag_id = int(self.conn.execute("INSERT INTO tags (name) VALUES (?)",
                                           (name,)).lastrowid)
            self.conn.execute("INSERT INTO tag_config (tag_id, arches, locked, create_event)"
                              " VALUES (?, ?, ?, ?)", (tag_id, arches, int(locked), event))
            for key, value in (extra or {}).items():
                self.conn.execute("INSERT INTO tag_extra (tag_id, key, value, create_event)"
                                  " VALUES (?, ?, ?, ?)", (tag_id, key, json.dumps(value), event))
        return tag_id

    def set_tag_extra(self, tag: Any, **extra: Any) -> None:
        """editTag2(extra=...): each key's old value is revoked at a new event (so a
        repo made before still sees the old one).  Keys with dots:
        set_tag_extra(tag, **{"rpm.macro.dist": ".fc40"})."""
        tag_id = self._tag_row(tag)["id"]
        with self._tx():
            event = state.new_event(self.conn)
            for key, value in extra.items():
                self.conn.execute("UPDATE tag_extra SET revoke_event = ? WHERE tag_id = ?"
                                  " AND key = ? AND revoke_event IS NULL", (event, tag_id, key))
                self.conn.execute("INSERT INTO tag_extra (tag_id, key, value, create_event)"
                                  " VALUES (?, ?, ?, ?)", (tag_id, key, json.dumps(value), event))

    def remove_tag_extra(self, tag: Any, *keys: str) -> None:
        """editTag2(remove_extra=[...])."""
        tag_id = self._tag_row(tag)["id"]
        with self._tx():
            event = state.new_event(self.conn)
            for key in keys:
                cur = self.conn.execute("UPDATE tag_extra SET revoke_event = ? WHERE tag_id = ?"
                                        " AND key = ? AND revoke_event IS NULL",
                                        (event, tag_id, key))
                if cur.rowcount == 0:
                    raise KeyError(f"tag {tag} has no extra {key!r}")

    def set_tag_arches(self, tag: Any, arches: Iterable[str]) -> None:
        """editTag2(arches=...): a new tag_config at a new event."""
        row = self._tag_row(tag)
        arches = koji.parse_arches(" ".join(arches), strict=True, allow_none=True)
        with self._tx():
            event = state.new_event(self.conn)
            old = self.conn.execute("SELECT * FROM tag_config WHERE tag_id = ? AND"
                                    " revoke_event IS NULL", (row["id"],)).fetchone()
            self.conn.execute("UPDATE tag_config SET revoke_event = ? WHERE tag_id = ? AND"
                              " revoke_event IS NULL", (event, row["id"]))
            self.conn.execute("INSERT INTO tag_config (tag_id, arches, locked, create_event)"
                              " VALUES (?, ?, ?, ?)", (row["id"], arches, old["locked"], event))

    def add_tag_inheritance(self, tag: Any, parent: Any, priority: int = 0, *,
                            maxdepth: Optional[int] = None, intransitive: bool = False,
                            noconfig: bool = False, pkg_filter: str = "") -> None:
        """setInheritanceData (one link, added or changed): the tag inherits from
        parent at the priority (lower first); one parent per priority, as
        _writeInheritanceData checks.  The old link is revoked at the new
        event."""
        tag_id = self._tag_row(tag)["id"]
        parent_id = self._tag_row(parent)["id"]
        with self._tx():
            for link in builds.read_inheritance_data(self.conn, tag_id):
                if link["priority"] == priority and link["parent_id"] != parent_id:
                    raise ValueError(f"Multiple parent tags ([{link['parent_id']}, {parent_id}])"
                                     f" cannot have the same priority value ({priority}) on"
                                     f" child tag {tag_id}")
            event = state.new_event(self.conn)
            self.conn.execute("UPDATE tag_inheritance SET revoke_event = ? WHERE tag_id = ? AND"
                              " parent_id = ? AND revoke_event IS NULL", (event, tag_id, parent_id))
            self.conn.execute(
                "INSERT INTO tag_inheritance (tag_id, parent_id, priority, maxdepth,"
                " intransitive, noconfig, pkg_filter, create_event) VALUES (?,?,?,?,?,?,?,?)",
                (tag_id, parent_id, int(priority), maxdepth, int(intransitive), int(noconfig),
                 pkg_filter, event))

    def remove_tag_inheritance(self, tag: Any, parent: Any) -> None:
        """setInheritanceData with "delete link"."""
        tag_id = self._tag_row(tag)["id"]
        parent_id = self._tag_row(parent)["id"]
        with self._tx():
            event = state.new_event(self.conn)
            cur = self.conn.execute("UPDATE tag_inheritance SET revoke_event = ? WHERE tag_id = ?"
                                    " AND parent_id = ? AND revoke_event IS NULL",
                                    (event, tag_id, parent_id))
            if cur.rowcount == 0:
                raise KeyError(f"tag {tag} does not inherit from {parent}")

    def add_group(self, tag: Any, group: str, packages: Iterable[str] = (), *,
                  block: bool = False, **config: Any) -> None:
        """groupListAdd (kojihub._grplist_add: display_name, exported...; block
        blocks it), then groupPackageListAdd for each package (type mandatory),
        each at its own event as the calls are."""
        with self._tx():
            tagging.grplist_add(self.conn, tag, group, block=block,
                                event=tagging.CallEvent(self.conn), **config)
            for package in packages:
                tagging.grp_pkg_add(self.conn, tag, group, package,
                                    event=tagging.CallEvent(self.conn))

    def add_group_package(self, tag: Any, group: str, package: str, *, block: bool = False,
                          **config: Any) -> None:
        """groupPackageListAdd / groupPackageListBlock (type=, basearchonly=,
        requires=)."""
        with self._tx():
            tagging.grp_pkg_add(self.conn, tag, group, package, block=block,
                                event=tagging.CallEvent(self.conn), **config)

    def add_group_req(self, tag: Any, group: str, req: str, *, block: bool = False,
                      **config: Any) -> None:
        """groupReqListAdd / groupReqListBlock (type=, is_metapkg=)."""
        with self._tx():
            tagging.grp_req_add(self.conn, tag, group, req, block=block,
                                event=tagging.CallEvent(self.conn), **config)

    def tag(self, tag: Any, event: Optional[int] = None) -> dict:
        """getTag's dict."""
        return builds.get_tag(self.conn, tag, strict=True, event=event)

    def add_target(self, name: str, build_tag: Any, dest_tag: Any = None) -> int:
        """createBuildTarget (dest_tag defaults to the build tag)."""
        build_id = self._tag_row(build_tag)["id"]
        dest_id = self._tag_row(dest_tag if dest_tag is not None else build_tag)["id"]
        with self._tx():
            event = state.new_event(self.conn)
            cur = self.conn.execute("INSERT INTO build_targets (name, build_tag, dest_tag,"
                                    " create_event) VALUES (?, ?, ?, ?)",
                                    (name, build_id, dest_id, event))
        return int(cur.lastrowid)

    def add_external_repo(self, name: str, url: str) -> int:
        """createExternalRepo (the url gets a trailing slash, as on the hub)."""
        if not url.endswith("/"):
            url += "/"
        with self._tx():
            cur = self.conn.execute("INSERT INTO external_repos (name, url) VALUES (?, ?)",
                                    (name, url))
        return int(cur.lastrowid)

    def add_tag_external_repo(self, tag: Any, repo: Any, priority: int,
                              merge_mode: str = "koji", arches: Optional[str] = None) -> None:
        """addExternalRepoToTag: one repo and one priority once per tag."""
        if merge_mode not in koji.REPO_MERGE_MODES:
            raise ValueError(f"No such merge mode: {merge_mode}")
        tag_id = self._tag_row(tag)["id"]
        repo_row = builds.lookup_name(self.conn, "external_repos", repo, strict=True)
        if arches is not None:
            arches = koji.parse_arches(arches, strict=True)
        with self._tx():
            for entry in builds.tag_external_repos(self.conn, tag_id):
                if entry["external_repo_id"] == repo_row["id"] or entry["priority"] == priority:
                    raise ValueError(f"tag {tag} already has external repo"
                                     f" {entry['external_repo_name']} at priority"
                                     f" {entry['priority']}")
            self.conn.execute(
                "INSERT INTO tag_external_repos (tag_id, external_repo_id, priority, merge_mode,"
                " arches, create_event) VALUES (?, ?, ?, ?, ?, ?)",
                (tag_id, repo_row["id"], int(priority), merge_mode, arches,
                 state.new_event(self.conn)))

    # -- package lists, tagging, policies (tests/hub/tagging.py, policy.py) ----

    def add_package(self, tag: Any, package: str, owner: Any = state.ADMIN_USER,
                    block: bool = False, extra_arches: Optional[str] = None) -> int:
        """packageListAdd by kojiadmin (kojihub._direct_pkglist_add, no policy):
        the package (created if new) in the tag's list, or blocked there.  The
        same entry again changes nothing; unblocking needs remove_package.
        Returns the package id."""
        with self._tx():
            tagging.pkglist_add(self.conn, tag, package, owner=owner, block=block,
                                extra_arches=extra_arches, user_id=self._admin_id(),
                                event=tagging.CallEvent(self.conn))
            return tagging.lookup_package(self.conn, package, strict=True)["id"]

    def remove_package(self, tag: Any, package: Any) -> None:
        """packageListRemove by kojiadmin (kojihub._direct_pkglist_remove)."""
        with self._tx():
            tagging.pkglist_remove(self.conn, tag, package, user_id=self._admin_id(),
                                   event=tagging.CallEvent(self.conn))

    def package_config(self, tag: Any, package: Any, event: Optional[int] = None):
        """getPackageConfig's dict, or None."""
        return tagging.package_config(self.conn, tag, package, event=event)

    def tag_build(self, tag: Any, build: Any, force: bool = False) -> None:
        """tagBuildBypass by kojiadmin (kojihub._tag_build): no package list
        check (listTagged still hides a build whose package is not listed)."""
        with self._tx():
            tagging.tag_build(self.conn, tag, build, user_id=self._admin_id(), force=force,
                              event=tagging.CallEvent(self.conn))

    def untag_build(self, tag: Any, build: Any, strict: bool = True, force: bool = False) -> None:
        """untagBuildBypass by kojiadmin (kojihub._untag_build)."""
        with self._tx():
            tagging.untag_build(self.conn, tag, build, user_id=self._admin_id(), strict=strict,
                                force=force, event=tagging.CallEvent(self.conn))

    def tagged(self, tag: Any, **opts: Any) -> list:
        """listTagged's list (event=, latest=, package=, ... as the call)."""
        return tagging.list_tagged(self.conn, tag, **opts)

    def tag_listing(self, tag: Any) -> list:
        """The tag's tag_listing rows, active and revoked, oldest first."""
        return [dict(r) for r in self.conn.execute(
            "SELECT * FROM tag_listing WHERE tag_id = ? ORDER BY rowid",
            (self._tag_row(tag)["id"],))]

    def tag_notifications(self) -> list:
        """The host.tagNotification calls, oldest first: {id, ts, host_id,
        is_successful, tag_id, from_id, build_id, user_id, ignore_success,
        failure_msg} with the arguments as given."""
        keys = ("is_successful", "tag_id", "from_id", "build_id", "user_id", "ignore_success",
                "failure_msg")
        rows = []
        for r in self.conn.execute("SELECT * FROM tag_notifications ORDER BY id"):
            row = dict(r)
            row.update({k: json.loads(row[k]) for k in keys})
            rows.append(row)
        return rows

    # -- notifications (tests/hub/notify.py) -----------------------------------

    def set_hub_options(self, **opts: Any) -> None:
        """hub.conf options the notifications read, taking effect at the next
        call: DisableNotifications (the emulator's default: True),
        NotifyOnSuccess (True), EmailDomain ("koji.example"), KojiWebURL
        ("http://koji.example/koji")."""
        with self._tx():
            notify.set_hub_options(self.conn, **opts)

    def hub_options(self) -> dict:
        return notify.hub_options(self.conn)

    def add_notification(self, user: Any, package: Any = None, tag: Any = None,
                         success_only: bool = False, *, email: Optional[str] = None) -> int:
        """createNotification (as an admin): the user is notified of builds of
        the package (None: every package) into the tag (None: every tag),
        only of successful ones with success_only; the email is
        user@EmailDomain at this time, unless given.  Returns its id."""
        with self._tx():
            return notify.create_notification(self.conn, user, package, tag, success_only,
                                              email=email)

    def block_notification(self, user: Any, package: Any = None, tag: Any = None) -> int:
        """createNotificationBlock (as an admin): the user opts out of
        notifications for the package (None: all) and the tag (None: all),
        whether subscribed, the build's owner or the package's owner."""
        with self._tx():
            return notify.create_notification_block(self.conn, user, package, tag)

    def notification_recipients(self, build: Any, tag: Any, build_state: str) -> list:
        """kojihub.get_notification_recipients(build, tag_id, state) as the
        hub would compute it now (tag: a name or id, or None)."""
        binfo = builds.get_build(self.conn, build, strict=True) if build is not None else None
        tag_id = self._tag_row(tag)["id"] if tag is not None else None
        return notify.notification_recipients(self.conn, binfo, tag_id,
                                              koji.BUILD_STATES[build_state])

    def cancel_build(self, build: Any) -> bool:
        """cancelBuild as kojiadmin (kojihub.cancel_build): a BUILDING build
        CANCELED, its notification made, its task group canceled."""
        with self._tx():
            ctx = self._hub_context(need_topdir=False)
            binfo = builds.get_build(self.conn, build, strict=True)
            return notify.cancel_build(ctx, binfo["id"])

    def set_policy(self, name: str, action: Optional[str]) -> None:
        """hub.conf [policy] name = ...: "allow" or "deny [reason]" for all
        (all :: allow / all :: deny ...), rules text (lines with "::"), or
        None for the hub's default again (kojixmlrpc _default_policies; a
        policy with no default is then missing, which MissingPolicyOk
        allows)."""
        if name in policy.NOT_CONFIGURABLE:
            raise ValueError(f"the {name} policy is applied in code by the emulator")
        if action is not None and "::" not in action:
            if action.split(None, 1)[0] not in ("allow", "deny"):
                raise ValueError(f"not a policy action: {action!r}")
            action = f"all :: {action}"
        if action is not None:
            policy.get_ruleset_from_text(action)  # parse errors now, not at the call
        with self._tx():
            if action is None:
                self.conn.execute("DELETE FROM policies WHERE name = ?", (name,))
            else:
                self.conn.execute("INSERT OR REPLACE INTO policies (name, rules) VALUES (?, ?)",
                                  (name, action))

    def grant_permission(self, user: str, perm: str) -> None:
        """grantPermission (repo, regen-repo, tag, ...; admin is set_admin)."""
        if perm == "admin":
            self.set_admin(user)
            return
        with self._tx():
            self.conn.execute("INSERT OR IGNORE INTO user_perms (user_id, perm) VALUES (?, ?)",
                              (self._user_id(user), perm))

    def revoke_permission(self, user: str, perm: str) -> None:
        """revokePermission."""
        if perm == "admin":
            self.set_admin(user, False)
            return
        with self._tx():
            self.conn.execute("DELETE FROM user_perms WHERE user_id = ? AND perm = ?",
                              (self._user_id(user), perm))

    def set_admin(self, user: str, admin: bool = True) -> None:
        """grantPermission/revokePermission admin (the one permission here)."""
        with self._tx():
            cur = self.conn.execute("UPDATE users SET admin = ? WHERE name = ?",
                                    (int(admin), user))
            if cur.rowcount == 0:
                raise KeyError(f"no such user: {user}")

    # -- rpms and builds ------------------------------------------------------

    def import_rpm(self, path: PathLike) -> int:
        """importRPM: the rpm's rpminfo row (kojihub.import_rpm: payloadhash = hex
        SIGMD5, size = the file's size, arch 'src' for a source rpm), its build
        COMPLETE (a source rpm creates it; a binary rpm needs its source rpm
        imported first, as on the hub), and the file copied to the build's
        directory under topdir.  Returns the rpm id."""
        path = os.path.abspath(str(path))
        with self._tx():
            info = builds.import_rpm(self.conn, path, user_id=self._admin_id())
            dest = Path(builds.build_dir(str(self.topdir), info["build"])) / \
                builds.rpm_relpath(info)
            if dest.exists():
                raise FileExistsError(f"Error importing rpm file, {dest} already exists")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)
        return int(info["id"])

    def add_build(self, nvr: str, *, state: str = "COMPLETE", owner: str = state.ADMIN_USER,
                  epoch: Optional[int] = None, task_id: Optional[int] = None) -> int:
        """createEmptyBuild (kojihub.new_build): a build with no rpms, in the
        given state (BUILDING ones have no completion time).  Returns its id."""
        info = koji.parse_NVR(nvr)
        data = {"name": info["name"], "version": info["version"], "release": info["release"],
                "epoch": epoch, "state": koji.BUILD_STATES[state], "owner": owner,
                "task_id": task_id}
        if state == "BUILDING":
            data["completion_time"] = None
        with self._tx():
            return builds.new_build(self.conn, data, self._admin_id())

    def add_rpm_info(self, build: Any, arch: str, name: Optional[str] = None, *,
                     payloadhash: str = "0" * 32, size: int = 1024,
                     buildtime: int = 1700000000) -> int:
        """An rpminfo row of the build without a file (its name defaults to the
        build's package), as an import records one: repo contents for
        repoInit's pkglist without rpmbuild.  Returns the rpm id."""
        binfo = builds.get_build(self.conn, build, strict=True)
        with self._tx():
            cur = self.conn.execute(
                "INSERT INTO rpminfo (build_id, buildroot_id, name, version, release, epoch,"
                " arch, external_repo_id, payloadhash, size, buildtime)"
                " VALUES (?, NULL, ?, ?, ?, ?, ?, 0, ?, ?, ?)",
                (binfo["id"], name or binfo["name"], binfo["version"], binfo["release"],
                 binfo["epoch"], arch, payloadhash, size, buildtime))
        return int(cur.lastrowid)

    def build(self, build: Any) -> dict:
        """getBuild's dict."""
        return builds.get_build(self.conn, build, strict=True)

    def rpm(self, rpminfo: Any) -> dict:
        """getRPM's dict (id, N-V-R.A or a dict)."""
        return builds.get_rpm(self.conn, rpminfo, strict=True)

    # -- repos ----------------------------------------------------------------

    def add_repo(self, tag: Any, *, arches: Optional[Iterable[str]] = None,
                 state: Any = "READY", rpms: Iterable[Any] = (), task_id: Optional[int] = None,
                 groups: Optional[dict] = None, opts: Optional[dict] = None) -> int:
        """A repo of the tag at a new event, and its directory as kojihub.repo_init
        writes it (see the class docstring), with the given content instead
        of the tag's (host.repoInit reads the tag's).  arches default to the
        tag's (canonical, without src/noarch); rpms are rpm ids or N-V-R.A
        strings of imported rpms: noarch ones go to every arch, src ones only
        with opts src/separate_src, debuginfo only with opts debuginfo; groups
        are {group: [package, ...]} (comps.xml as koji.generate_comps writes
        groups made with groupListAdd/groupPackageListAdd's defaults); the
        blocklists are empty.  opts are repo.request's overrides of the tag's
        repo options.  A READY repo becomes the tag's latest unless it has
        custom options (symlink_if_latest).  Run createrepo() (or
        createrepo_c yourself) for the repodata."""
        tag_row = self._tag_row(tag)
        taginfo = builds.get_tag(self.conn, tag_row["id"], strict=True)
        full_opts, custom = repos.get_repo_opts(taginfo, override=opts)
        arch_list = repos.repo_arches(taginfo, full_opts, None if arches is None else list(arches))
        rpm_dicts, builds_by_id = [], {}
        for item in rpms:
            info = builds.get_rpm(self.conn, item, strict=True)
            if info["build_id"] is None:
                raise ValueError(f"rpm {item} is external: a repo lists internal rpms")
            rpm_dicts.append({k: info[k] for k in tagging.TAGGED_RPM_FIELDS})
            builds_by_id[info["build_id"]] = builds.get_build(self.conn, info["build_id"],
                                                              strict=True)
        state_num = koji.REPO_STATES[state] if isinstance(state, str) else int(state)
        with self._tx():
            event = state_mod.new_event(self.conn)
            repo_id = repos.insert_repo(self.conn, tag_row["id"], event, repo_state=state_num,
                                        task_id=task_id, opts=full_opts, custom=custom)
            repos.write_repo_dir(str(self.topdir), taginfo, repo_id, event_id=event,
                                 task_id=task_id, arches=arch_list, rpms=rpm_dicts,
                                 builds_by_id=builds_by_id, opts=full_opts, custom=custom,
                                 groups=repos.simple_groups(groups or {}), blocked=[])
            if state_num == koji.REPO_READY:
                repos.repo_done_hook(self.conn, repo_id)
                repos.symlink_if_latest(self.conn, str(self.topdir), self.repo(repo_id))
        return repo_id

    def set_repo_state(self, repo_id: int, new_state: Any) -> None:
        """Any state, as a test wants it (repo.setState checks transitions); a
        READY repo satisfies the requests it can (repo_done_hook) and becomes
        the tag's latest as repoDone makes it (symlink_if_latest)."""
        state_num = koji.REPO_STATES[new_state] if isinstance(new_state, str) else int(new_state)
        self.repo(repo_id)
        with self._tx():
            self.conn.execute("UPDATE repos SET state = ?, state_ts = ? WHERE id = ?",
                              (state_num, state_mod.now(), repo_id))
            if state_num == koji.REPO_READY:
                repos.repo_done_hook(self.conn, repo_id)  # kojihub.repo_set_state
                repos.symlink_if_latest(self.conn, str(self.topdir), self.repo(repo_id))

    def latest_repo(self, tag: Any) -> Optional[int]:
        """The repo id the tag's latest link names (None without one)."""
        link = self.topdir / "repos" / self._tag_row(tag)["name"] / "latest"
        return int(os.readlink(link)) if link.is_symlink() else None

    def new_repo_task(self, tag: Any, **opts: Any) -> int:
        """RootExports.newRepo as kojiadmin (koji regen-repo --make-task): the
        newRepo task (event=, src=, debuginfo=, separate_src= as the call)."""
        with self._tx():
            return exports.new_repo(self._hub_context(), tag, **opts)

    def check_repo_queue(self) -> None:
        """repo.checkQueue as kojira calls it (kojiadmin here): the queued repo
        requests get their newRepo tasks."""
        with self._tx():
            exports.check_repo_queue(self._hub_context())

    def _hub_context(self, need_topdir: bool = True) -> Context:
        """A call's context for hub code run here, as kojiadmin."""
        if need_topdir or self._topdir is not None or state.get_sys(self.conn, "topdir"):
            topdir = str(self.topdir)
        else:
            topdir = ""  # (canceling needs none, and may come before the server ran)
        opts = HubOptions(db=self.db_path, topdir=topdir)
        ctx = Context(conn=self.conn, opts=opts,
                      environ=Environ(remote_addr="127.0.0.1", path="/kojihub"))
        ctx.session = _AdminSession(self.conn, self._admin_id())  # type: ignore[assignment]
        return ctx

    def repo_requests(self, tag: Any = None) -> list:
        """The repo queue (repo.request's request dicts), oldest first."""
        sql, params = "SELECT id FROM repo_queue", ()
        if tag is not None:
            sql += " WHERE tag_id = ?"
            params = (self._tag_row(tag)["id"],)
        return [repos.queue_entry(self.conn, r["id"])
                for r in self.conn.execute(sql + " ORDER BY id", params).fetchall()]

    def repo(self, repo_id: int) -> dict:
        """repoInfo's dict."""
        return builds.repo_info(self.conn, repo_id, strict=True)

    def repo_dir(self, tag: Any, repo_id: int, arch: Optional[str] = None) -> Path:
        """<topdir>/repos/<tag>/<repo_id>[/<arch>]."""
        path = self.topdir / "repos" / self._tag_row(tag)["name"] / str(repo_id)
        return path / arch if arch else path

    def createrepo(self, repo_id: int, arch: Optional[str] = None) -> None:
        """The repodata, as kojid's createrepo task makes it: createrepo_c over the
        arch directory with its pkglist and the repo's comps.xml; for a tag with
        external repos, merged with them by `mergerepo_c --koji` (kojid's
        CreaterepoTask.merge_repos: the tag's own packages keep their relative
        locations, an external one gets its repo's URL, and pkgorigins says
        where each came from).  The external repos must answer over HTTP."""
        info = self.repo(repo_id)
        repodir = self.repo_dir(info["tag_id"], repo_id)
        external = builds.get_external_repo_list(self.conn, info["tag_id"],
                                                 event=info["create_event"])
        arches = [arch] if arch else sorted(p.name for p in repodir.iterdir()
                                            if p.is_dir() and p.name != "groups")
        for name in arches:
            archdir = repodir / name
            comps = str(repodir / "groups" / "comps.xml")
            subprocess.run(["createrepo_c", "-q", "-i", str(archdir / "pkglist"), "-g", comps,
                            "-o", str(archdir), str(archdir)], check=True)
            if not external:
                continue
            merged = archdir.parent / f".{name}-merged"
            shutil.rmtree(merged, ignore_errors=True)
            command = ["mergerepo_c", "--koji", "-a", name, "-g", comps, "-o", str(merged),
                       "-r", f"file://{archdir}/"]
            for repo in external:
                command += ["-r", repo["url"].replace("$arch", name)]
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            shutil.rmtree(archdir / "repodata")
            (merged / "repodata").rename(archdir / "repodata")
            merged.rmdir()

    # -- buildroots and uploads ------------------------------------------------

    def buildroot(self, brootid: int) -> dict:
        """getBuildroot's dict."""
        return builds.get_buildroot(self.conn, brootid, strict=True)

    def buildroots(self, **filters: Any) -> list:
        """listBuildroots (hostID=, state=, taskID=, repoID=, ...)."""
        if "state" in filters:
            filters["br_state"] = filters.pop("state")
        return builds.query_buildroots(self.conn, **filters)

    def buildroot_rpms(self, brootid: int) -> list:
        """getBuildrootListing: {rpm_id, is_update, name, version, release, epoch, arch,
        build_id, draft, external_repo_id, external_repo_name} per rpm."""
        return builds.BuildRoot(self.conn, brootid).get_list()

    def uploads(self, task_id: int) -> list:
        """The files under <topdir>/work/tasks/<id % 10000>/<id>/ (koji.pathinfo.taskrelpath)."""
        taskdir = self.topdir / "work" / koji.pathinfo.taskrelpath(task_id)
        if not taskdir.is_dir():
            return []
        return sorted(p for p in taskdir.rglob("*") if p.is_file() or p.is_symlink())


class HubAdmin(BuildsAdmin):
    """Direct access to the emulator's state (what an admin does with the koji CLI,
    and what a test asserts on)."""

    def __init__(self, db_path: PathLike, topdir: Optional[PathLike] = None):
        self.db_path = str(db_path)
        self.conn = state.connect(self.db_path)
        self._topdir = Path(topdir) if topdir is not None else None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> HubAdmin:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _tx(self):
        return state.transaction(self.conn)

    def _one(self, sql: str, params: Any = ()):
        return self.conn.execute(sql, params).fetchone()

    # -- users, channels, hosts ---------------------------------------------

    def add_user(self, name: str, password: Optional[str] = None, admin: bool = False, *,
                 usertype: str = "NORMAL", status: str = "NORMAL") -> int:
        """A user (usertype NORMAL, HOST or GROUP; status NORMAL or BLOCKED, as
        koji.USERTYPES / koji.USER_STATUS name them)."""
        with self._tx():
            cur = self.conn.execute(
                "INSERT INTO users (name, password, usertype, status, admin) VALUES (?,?,?,?,?)",
                (name, password, koji.USERTYPES[usertype], koji.USER_STATUS[status],
                 int(admin)))
        return int(cur.lastrowid)

    def add_channel(self, name: str, enabled: bool = True) -> int:
        with self._tx():
            cur = self.conn.execute("INSERT INTO channels (name, enabled) VALUES (?, ?)",
                                    (name, int(enabled)))
        return int(cur.lastrowid)

    def _channel_id(self, name: str) -> int:
        row = state.channel_by_name(self.conn, name)
        if row is None:
            raise KeyError(f"no such channel: {name}")
        return row["id"]

    def _user_id(self, name: str) -> int:
        row = self._one("SELECT id FROM users WHERE name = ?", (name,))
        if row is None:
            raise KeyError(f"no such user: {name}")
        return row["id"]

    def _host_row(self, name: str):
        row = self._one("SELECT * FROM hosts WHERE name = ?", (name,))
        if row is None:
            raise KeyError(f"no such host: {name}")
        return row

    def add_host(self, name: str, arches: Iterable[str] = ("x86_64", "noarch"), *,
                 capacity: float = 2.0, channels: Iterable[str] = ("default",),
                 password: Optional[str] = None, enabled: bool = True) -> int:
        """A host and its host user (log in with `password`, or a client certificate
        whose CN is `name`)."""
        arches = koji.parse_arches(" ".join(arches), strict=True)
        with self._tx():
            user = self._one("SELECT id FROM users WHERE name = ?", (name,))
            if user is None:
                cur = self.conn.execute(
                    "INSERT INTO users (name, password, usertype) VALUES (?, ?, ?)",
                    (name, password, state.USER_HOST))
                user_id = int(cur.lastrowid)
            else:
                # (an sslLogin may have created the user; addHost(force) converts it)
                user_id = user["id"]
                self.conn.execute("UPDATE users SET usertype = ?, password = ? WHERE id = ?",
                                  (state.USER_HOST, password, user_id))
            cur = self.conn.execute(
                "INSERT INTO hosts (user_id, name, arches, capacity, enabled) VALUES (?,?,?,?,?)",
                (user_id, name, arches, float(capacity), int(enabled)))
            host_id = int(cur.lastrowid)
            for chan in channels:
                self.conn.execute("INSERT INTO host_channels (host_id, channel_id) VALUES (?, ?)",
                                  (host_id, self._channel_id(chan)))
        return host_id

    def set_host(self, name: str, **fields: Any) -> None:
        """Change a host: arches, capacity, enabled, ready, task_load, data (dict),
        last_update (alias update_ts), description, comment, channels, password."""
        row = self._host_row(name)
        columns = {"arches", "capacity", "enabled", "ready", "task_load", "data",
                   "last_update", "description", "comment"}
        with self._tx():
            for field, raw in fields.items():
                key = "last_update" if field == "update_ts" else field
                if key == "channels":
                    self.conn.execute("DELETE FROM host_channels WHERE host_id = ?", (row["id"],))
                    for chan in raw:
                        self.conn.execute(
                            "INSERT INTO host_channels (host_id, channel_id) VALUES (?, ?)",
                            (row["id"], self._channel_id(chan)))
                elif key == "password":
                    self.conn.execute("UPDATE users SET password = ? WHERE id = ?",
                                      (raw, row["user_id"]))
                elif key in columns:
                    self.conn.execute(f"UPDATE hosts SET {key} = ? WHERE id = ?",
                                      (_host_value(key, raw), row["id"]))
                else:
                    raise KeyError(f"unknown host field: {field}")

    def host(self, name: str) -> dict:
        row = self._host_row(name)
        info = state.host_info(row)
        info["data"] = state.host_data(row)
        info["channels"] = [r["name"] for r in self.conn.execute(
            "SELECT c.name FROM host_channels hc JOIN channels c ON c.id = hc.channel_id"
            " WHERE hc.host_id = ? ORDER BY c.id", (row["id"],))]
        return info

    # -- tasks --------------------------------------------------------------

    def create_task(self, method: str, arglist: Iterable[Any], *, arch: str = "noarch",
                    channel: str = "default", priority: int = koji.PRIO_DEFAULT,
                    weight: float = 1.0, owner: str = state.ADMIN_USER,
                    parent: Optional[int] = None, label: Optional[str] = None) -> int:
        """A FREE task, its request stored as kojihub.make_task stores it
        (xmlrpcplus.dumps(tuple(arglist), methodname=method); keyword arguments
        via koji.encode_args)."""
        arch = koji.parse_arches(arch, strict=True)
        with self._tx():
            return state.insert_task(
                self.conn, method=method, request=state.encode_request(method, list(arglist)),
                owner=self._user_id(owner), channel_id=self._channel_id(channel), arch=arch,
                priority=int(priority), parent=parent, label=label, weight=weight)

    def assign(self, task_id: int, host_name: str, *, force: bool = False,
               override: bool = False) -> bool:
        """The admin's assignTask (kojihub scheduler.do_assign): FREE -> ASSIGNED (any
        state with force), with a scheduler run entry unless override.  Raises if the
        hub would have said False."""
        host = self._host_row(host_name)
        with self._tx():
            if not state.lock_task(self.conn, task_id, host["id"], state.ASSIGNED, force=force):
                state_name = self.task(task_id)["state_name"]
                raise RuntimeError(f"task {task_id} could not be assigned to {host_name}"
                                   f" (state {state_name})")
            self.conn.execute("UPDATE task_runs SET active = 0 WHERE task_id = ? AND active = 1",
                              (task_id,))
            if not override:
                self.conn.execute("INSERT INTO task_runs (task_id, host_id, active, create_ts)"
                                  " VALUES (?, ?, 1, ?)", (task_id, host["id"], time.time()))
        return True

    def free(self, task_id: int) -> bool:
        """The admin's freeTask."""
        with self._tx():
            return state.free_task(self.conn, task_id)

    def cancel(self, task_id: int) -> bool:
        """cancelTask as kojiadmin (kojihub Task.cancel): CANCELED with its unfinished
        children, and their BUILDING builds canceled (with their notifications);
        False if the task had already closed or failed."""
        with self._tx():
            return notify.cancel_task(self._hub_context(need_topdir=False), task_id)

    def mangle(self, method: str, answer: Any, times: int = 1) -> None:
        """Fault injection (not Koji): the next `times` answers to `method` are
        `answer` instead (None, a string id, a dict missing keys ...)."""
        with self._tx():
            self.conn.execute("INSERT OR REPLACE INTO mangled_answers (method, answer, remaining)"
                              " VALUES (?, ?, ?)", (method, json.dumps(answer), times))

    def slow_down(self, method: str, seconds: float, times: int = 1) -> None:
        """Fault injection (not Koji): the next `times` calls of `method`
        (upload:.rpm: the raw upload POSTs of .rpm files) wait `seconds` first."""
        with self._tx():
            self.conn.execute("INSERT OR REPLACE INTO slowed_calls (method, seconds, remaining)"
                              " VALUES (?, ?, ?)", (method, seconds, times))

    def slowed_left(self, method: str) -> int:
        row = self.conn.execute("SELECT remaining FROM slowed_calls WHERE method = ?",
                                (method,)).fetchone()
        return int(row[0]) if row else 0

    def mangled_left(self, method: str) -> int:
        row = self.conn.execute("SELECT remaining FROM mangled_answers WHERE method = ?",
                                (method,)).fetchone()
        return int(row[0]) if row else 0

    def set_task(self, task_id: int, **fields: Any) -> None:
        """Set task columns directly (e.g. create_ts to age a task)."""
        allowed = {"state", "host_id", "priority", "weight", "arch", "waiting", "awaited",
                   "create_ts", "start_ts", "completion_ts", "label", "parent", "result"}
        with self._tx():
            for key, value in fields.items():
                if key not in allowed:
                    raise KeyError(f"unknown task field: {key}")
                self.conn.execute(f"UPDATE tasks SET {key} = ? WHERE id = ?", (value, task_id))

    def _task_dict(self, row) -> dict:
        info = state.task_info(row, request=True)
        info["state_name"] = koji.TASK_STATES[row["state"]]
        info["result"] = row["result"]
        return info

    def task(self, task_id: int) -> dict:
        """getTaskInfo(request=True)'s dict, plus state_name and the raw result."""
        row = state.get_task_row(self.conn, task_id)
        if row is None:
            raise KeyError(f"no such task: {task_id}")
        return self._task_dict(row)

    def tasks(self, **where: Any) -> list:
        """All tasks (by id), optionally filtered by column values (state=, parent=...)."""
        sql = "SELECT * FROM tasks"
        if where:
            sql += " WHERE " + " AND ".join(f"{k} = ?" for k in where)
        sql += " ORDER BY id"
        return [self._task_dict(r) for r in self.conn.execute(sql, tuple(where.values()))]

    def decoded_result(self, task_id: int) -> Any:
        """The value a host passed to closeTask, or the xmlrpc Fault it passed to failTask."""
        row = state.get_task_row(self.conn, task_id)
        if row is None or row["result"] is None:
            raise LookupError(f"task {task_id} has no result")
        try:
            result, _ = xmlrpc.client.loads(row["result"])
        except xmlrpc.client.Fault as fault:
            return fault
        return result[0]

    def refusals(self, task_id: Optional[int] = None) -> list:
        sql = ("SELECT r.*, h.name AS host_name FROM refusals r JOIN hosts h ON h.id = r.host_id")
        params: tuple = ()
        if task_id is not None:
            sql += " WHERE r.task_id = ?"
            params = (task_id,)
        return [dict(r) for r in self.conn.execute(sql + " ORDER BY r.id", params)]

    # -- sessions and the call log ------------------------------------------

    def sessions(self, user: Optional[str] = None) -> list:
        sql = "SELECT s.*, u.name AS user_name FROM sessions s JOIN users u ON u.id = s.user_id"
        params: tuple = ()
        if user is not None:
            sql += " WHERE u.name = ?"
            params = (user,)
        return [dict(r) for r in self.conn.execute(sql + " ORDER BY s.id", params)]

    def expire_session(self, session_id: int) -> None:
        """As SessionRenewalTimeout does: the session and its subsessions expire."""
        with self._tx():
            self.conn.execute("UPDATE sessions SET expired = 1 WHERE id = ? OR master = ?",
                              (session_id, session_id))

    def calls(self, method: Optional[str] = None, task_id: Optional[int] = None, *,
              host: Optional[str] = None, session_id: Optional[int] = None,
              ok: Optional[bool] = None) -> list:
        """The call log, oldest first: dicts with ts, session_id, user_id, host_id,
        method, callnum, args (repr), task_ids, ok, fault_code, fault_string, result."""
        clauses, params = [], []
        if method is not None:
            clauses.append("method = ?")
            params.append(method)
        if task_id is not None:
            clauses.append("task_ids LIKE ?")
            params.append(f"%,{int(task_id)},%")
        if host is not None:
            clauses.append("host_id = ?")
            params.append(self._host_row(host)["id"])
        if session_id is not None:
            clauses.append("session_id = ?")
            params.append(session_id)
        if ok is not None:
            clauses.append("ok = ?")
            params.append(int(ok))
        sql = "SELECT * FROM calls"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        rows = []
        for r in self.conn.execute(sql + " ORDER BY id", params):
            row = dict(r)
            row["ok"] = bool(row["ok"])
            row["task_ids"] = [int(x) for x in (row["task_ids"] or "").split(",") if x]
            rows.append(row)
        return rows

    def count_calls(self, method: Optional[str] = None, task_id: Optional[int] = None,
                    **kw: Any) -> int:
        return len(self.calls(method, task_id, **kw))


class HubProcess:
    """`python3 -m tests.hub` as a subprocess (a context manager).

    start() waits for the "listening on ..." line (no sleeping); stop() sends
    SIGTERM; start() again reuses the same port and the same state file.  The
    server's log (one line per call) goes to <db>.log.
    """

    def __init__(self, db: PathLike, topdir: PathLike, *, port: int = 0,
                 tls: Optional[TLSPaths] = None, scheduler: bool = True,
                 run_interval: float = 0.0, session_renewal_timeout: Optional[float] = None,
                 python: str = sys.executable, start_timeout: float = 60.0,
                 log_path: Optional[PathLike] = None, bind: str = "127.0.0.1"):
        self.db = str(db)
        self.topdir = str(topdir)
        self.port = port
        self.tls = tls
        self.scheduler = scheduler
        self.run_interval = run_interval
        self.session_renewal_timeout = session_renewal_timeout
        self.python = python
        self.start_timeout = start_timeout
        self.log_path = str(log_path) if log_path else self.db + ".log"
        self.bind = bind
        self.proc: Optional[subprocess.Popen] = None
        self.url = ""
        self._drain: Optional[threading.Thread] = None

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def topurl(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/kojifiles"

    def topurl_at(self, address: str) -> str:
        """topurl at another address the server listens on (bind)."""
        return f"{self.scheme}://{address}:{self.port}/kojifiles"

    def served(self, suffix: str = "") -> list[str]:
        """The /kojifiles paths served so far (ending with `suffix`), in order."""
        try:
            text = Path(self.log_path).read_text(errors="replace")
        except FileNotFoundError:
            return []
        # found anywhere in a line: another thread's print may have split its own around it
        paths = re.findall(r"hub: served (?:GET|HEAD) (/kojifiles/\S+)", text)
        return [p for p in paths if p.endswith(suffix)]

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def command(self) -> list:
        cmd = [self.python, "-m", "tests.hub", "--db", self.db, "--topdir", self.topdir,
               "--port", str(self.port), "--run-interval", str(self.run_interval),
               "--bind", self.bind]
        if self.tls:
            cmd += ["--tls-cert", self.tls.server_cert, "--tls-key", self.tls.server_key,
                    "--client-ca", self.tls.ca]
        if not self.scheduler:
            cmd.append("--no-scheduler")
        if self.session_renewal_timeout is not None:
            cmd += ["--session-renewal-timeout", str(self.session_renewal_timeout)]
        return cmd

    def start(self) -> HubProcess:
        if self.running:
            raise RuntimeError("the hub emulator is already running")
        Path(self.topdir).mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        log = open(self.log_path, "ab")  # noqa: SIM115 (the child keeps it)
        try:
            self.proc = subprocess.Popen(self.command(), cwd=str(REPO), env=env,
                                         stdout=subprocess.PIPE, stderr=log,
                                         stdin=subprocess.DEVNULL)
        finally:
            log.close()
        line = self._read_line(self.start_timeout)
        prefix = "listening on "
        if not line.startswith(prefix):
            self._kill()
            raise RuntimeError(f"the hub emulator did not start ({line!r});"
                               f" see {self.log_path}")
        self.url = line[len(prefix):].strip()
        self.port = int(self.url.rsplit(":", 1)[1].split("/", 1)[0])
        self._drain = threading.Thread(target=self._drain_stdout, daemon=True)
        self._drain.start()
        return self

    def _read_line(self, timeout: float) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        buf = b""
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        try:
            while b"\n" not in buf:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                if not sel.select(remaining):
                    continue
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                buf += chunk
        finally:
            sel.close()
        return buf.split(b"\n", 1)[0].decode(errors="replace")

    def _drain_stdout(self) -> None:
        proc = self.proc
        if proc is None or proc.stdout is None:
            return
        with open(self.log_path, "ab") as log:
            for chunk in iter(lambda: os.read(proc.stdout.fileno(), 4096), b""):
                log.write(chunk)

    def stop(self, timeout: float = 30.0) -> Optional[int]:
        """SIGTERM, and wait; the state file stays.  Returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self._finish()

    def kill(self) -> Optional[int]:
        """SIGKILL (a crash): the state is whatever was committed."""
        return self._kill()

    def _kill(self) -> Optional[int]:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        return self._finish()

    def _finish(self) -> Optional[int]:
        proc, self.proc = self.proc, None
        if self._drain is not None:
            self._drain.join(5)
            self._drain = None
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
        return None if proc is None else proc.returncode

    def __enter__(self) -> HubProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def log(self) -> str:
        try:
            return Path(self.log_path).read_text(errors="replace")
        except FileNotFoundError:
            return ""
