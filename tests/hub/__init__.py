"""A Koji hub emulator for adjutant's tests (never shipped).

It speaks the hub's real wire protocol (XML-RPC with koji's marshalling,
session headers, callnum rules, raw uploads, sslLogin) to koji's own
ClientSession, keeps all its state in one SQLite file, and is never more
lenient than a Koji 1.34-1.36 hub: each rule cites kojihub's code or
/work/shared/reference/koji-builder-protocol.md, and a call it does not know
fails with "Invalid method: X" (logged in the call log).

    tests/hub/state.py       the SQLite state (schema, task rules shared with admin)
    tests/hub/auth.py        sessions, logins, exclusive sessions, callnum rules
    tests/hub/exports.py     the calls (RootExports, HostExports), uploads
    tests/hub/builds.py      RPM builds: tags, inheritance, repos, rpms, builds, buildroots
    tests/hub/tagging.py     package lists, tagged builds, tag groups, tag change events
    tests/hub/policy.py      hub policies (check_policy, the default policies)
    tests/hub/repos.py       repos: repo.request/checkRequest/checkQueue, newRepo,
                             host.repoInit/repoDone, getRepo; the repo directory
    tests/hub/scheduler.py   the task scheduler (host.getTasks)
    tests/hub/notify.py      build and tag notifications (buildNotification and
                             tagNotification tasks, recipients, opt-outs), cancelBuild
    tests/hub/readcalls.py   getUser, listTaskOutput, getChangelogEntries, listBuilds,
                             listHosts, getLatestBuilds
    tests/hub/rpmheader.py   rpm header fields (koji.RawHeader without rpm's bindings)
    tests/hub/rpmfile.py     tiny rpm files written in Python, for the tests
    tests/hub/server.py      the HTTP(S) server and dispatcher
    tests/hub/admin.py       HubAdmin (the tests' side) and HubProcess (the subprocess)
    tests/hub/tls.py         make_tls: a CA, a server and a client certificate
    python3 -m tests.hub     run it
"""

from __future__ import annotations

__all__ = ["HubAdmin", "HubProcess", "TLSPaths", "make_client_cert", "make_tls"]


def __getattr__(name):
    # lazy: `python3 -m tests.hub` should not import the admin side
    if name in ("HubAdmin", "HubProcess"):
        from tests.hub import admin

        return getattr(admin, name)
    if name in ("TLSPaths", "make_tls", "make_client_cert"):
        from tests.hub import tls

        return getattr(tls, name)
    raise AttributeError(name)
