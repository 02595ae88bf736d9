"""`adjutant check`: is this host ready to build?  Each check gives one line,
OK, WARN or FAIL, with what it found and, when it is not OK, the fix.

The checks read the host as the daemon will use it: systemd over D-Bus,
podman, the cgroup hierarchy, the images, the buildroots' id range, the hub
(a login with the host's credentials, not the exclusive session a running
daemon holds), topdir and topurl, workdir and the free space against
minspace, SELinux, and whether kojid runs too.  Exit status 0 when nothing
FAILs (a WARN is something to know, not a stop).
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional

from adjutant.config import Config, build_id_range
from adjutant.errors import AdjutantError
from adjutant.process import CommandError, run

OK, WARN, FAIL = "OK", "WARN", "FAIL"
PODMAN_OLDEST = (4, 0)  # --rootfs with idmapped overlays, --personality, --cgroups=split
CONTAINER_STORAGE = Path("/var/lib/containers/storage")


@dataclass(frozen=True)
class Check:
    name: str
    state: str
    found: str
    fix: str = ""


def version_tuple(text: str) -> tuple[int, ...]:
    """'5.4.2' -> (5, 4, 2); '4.9.4-rhel' -> (4, 9, 4); '' -> ()."""
    match = re.match(r"\d+(?:\.\d+)*", text.strip())
    return tuple(int(part) for part in match.group(0).split(".")) if match else ()


def check_systemd() -> Check:
    if not Path("/run/systemd/system").is_dir():
        return Check("systemd", FAIL, "systemd is not PID 1 here",
                     "run adjutant on a host booted with systemd")
    try:
        state = run(["systemctl", "is-system-running"], accept=range(256)).stdout.strip()
    except CommandError as exc:
        return Check("systemd", FAIL, str(exc), "is D-Bus (dbus-broker or dbus-daemon) running?")
    if state in ("running", "degraded", "starting", "initializing"):
        return Check("systemd", OK, f"systemd reachable over D-Bus ({state})")
    return Check("systemd", FAIL, f"systemctl is-system-running says {state!r}",
                 "start the system bus: systemctl start dbus")


def podman_version(podman: Path) -> str:
    """'5.4.2': the podman client's own version."""
    return run([str(podman), "version", "--format", "{{.Client.Version}}"],
               timeout=60).stdout.strip()


def check_podman(config: Config) -> Check:
    try:
        found = podman_version(config.podman)
    except (CommandError, OSError) as exc:
        return Check("podman", FAIL, f"{config.podman}: {exc}",
                     "install podman (dnf install podman), or set [adjutant] podman")
    if version_tuple(found) < PODMAN_OLDEST:
        oldest = ".".join(map(str, PODMAN_OLDEST))
        return Check("podman", FAIL, f"podman {found} is older than {oldest}",
                     f"install podman {oldest} or newer")
    return Check("podman", OK, f"podman {found}")


def check_cgroups(root: Path = Path("/sys/fs/cgroup")) -> Check:
    controllers = root / "cgroup.controllers"
    if controllers.is_file():
        have = set(controllers.read_text().split())
        missing = sorted({"cpu", "memory", "pids", "io"} - have)
        if missing:
            return Check("cgroups", WARN, f"cgroup v2 without {', '.join(missing)}",
                         "limits on those are not applied; enable the controllers")
        return Check("cgroups", OK, "cgroup v2 (cpu, io, memory, pids)")
    if (root / "memory").is_dir():
        return Check("cgroups", WARN, "cgroup v1 (hybrid): memory limits are MemoryLimit=",
                     "boot with systemd.unified_cgroup_hierarchy=1 for cgroup v2")
    return Check("cgroups", FAIL, f"no cgroup hierarchy at {root}", "mount cgroup2 there")


def check_image(config: Config, image: str, what: str) -> Check:
    try:
        present = run([str(config.podman), "image", "exists", image], accept=(0, 1),
                      timeout=60).returncode == 0
    except (CommandError, OSError) as exc:
        return Check(what, FAIL, f"cannot ask podman about {image}: {exc}", "see podman above")
    if present:
        return Check(what, OK, f"{image} is here")
    if config.image_pull == "never":
        return Check(what, FAIL, f"{image} is not here and image_pull is never",
                     f"podman pull {image} (or let image_pull be if-missing)")
    return Check(what, WARN, f"{image} is not here: the first task pulls it",
                 f"podman pull {image}, so no build waits for it")


def check_id_range(config: Config) -> Check:
    try:
        ids = build_id_range(config, "kojid.conf")
    except AdjutantError as exc:
        return Check("build ids", FAIL, str(exc),
                     "add 'adjutant:1879048192:65536' to /etc/subuid and /etc/subgid "
                     "(the RPM's %post does)")
    if ids is None:
        return Check("build ids", WARN, "build_ids is empty: buildroots run in no user namespace",
                     "set [adjutant] build_ids = adjutant")
    return Check("build ids", OK, f"{config.build_ids}: host ids {ids[0]}..{ids[0] + ids[1] - 1}")


def check_hub(config: Config) -> Check:
    import koji

    from adjutant.hub.session import HubError, connect

    if not config.server:
        return Check("hub", FAIL, "no [kojid] server", "set server = https://HUB/kojihub")
    try:
        hub = connect(config, exclusive=False)
    except AdjutantError as exc:
        return Check("hub", FAIL, str(exc),
                     "check server, the certificate (cert, serverca) or user/password")
    try:
        # host.* calls need the exclusive session (kojihub Host.verify): ask
        # who we are, then the host by that name, as any session may
        user = hub.call_blocking("getLoggedInUser")
        host = hub.call_blocking("getHost", user["name"]) if user else None
        hub.call_blocking("logout")
    except HubError as exc:
        if isinstance(exc.cause, koji.AuthLockError):
            # the running daemon's exclusive session locks the host's others
            return Check("hub", OK, f"logged in to {config.server}; the host's exclusive "
                         "session is held (by the running daemon)")
        return Check("hub", FAIL, f"logged in, but not as a build host: {exc}",
                     "koji add-host NAME ARCH...; log in as that host")
    if not host:
        who = user["name"] if user else "?"
        return Check("hub", FAIL, f"logged in to {config.server} as {who}, which is no build "
                     "host", f"koji add-host {who} ARCH...")
    name, enabled = host.get("name"), host.get("enabled")
    if not enabled:
        return Check("hub", WARN, f"logged in to {config.server} as host {name}, which is "
                     "disabled", f"koji enable-host {name}")
    return Check("hub", OK, f"logged in to {config.server} as host {name} (enabled)")


def check_topdir(config: Config) -> Check:
    repos = config.topdir / "repos"
    if repos.is_dir():
        return Check("topdir", OK, f"{repos} is here (repo tasks can run)")
    return Check("topdir", WARN, f"{repos} is not here: builds read repos over topurl, and "
                 "newRepo/createrepo are refused", f"mount the hub's /mnt/koji at {config.topdir}")


def check_topurl(config: Config) -> Check:
    if not config.topurl:
        return Check("topurl", WARN, "no topurl: every file must come from topdir",
                     "set topurl = https://HUB/kojifiles")
    url = config.topurl.rstrip("/") + "/"
    try:
        with urllib.request.urlopen(url, timeout=30):
            pass
    except urllib.error.HTTPError as exc:  # an answer: the server is there
        if exc.code >= 500:
            return Check("topurl", FAIL, f"{url}: HTTP {exc.code}", "check the hub's web server")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return Check("topurl", FAIL, f"cannot reach {url}: {reason}",
                     "check topurl and this host's route to the hub")
    return Check("topurl", OK, f"{url} answers")


def check_workdir(config: Config) -> Check:
    try:
        config.workdir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=config.workdir, prefix=".adjutant-check-"):
            pass
    except OSError as exc:
        return Check("workdir", FAIL, f"cannot write in {config.workdir}: {exc.strerror}",
                     "make it a directory root can write, on a local filesystem")
    return Check("workdir", OK, f"{config.workdir} is writable")


def check_space(config: Config, path: Path, what: str) -> Check:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free_mb = shutil.disk_usage(probe).free // 2**20
    if free_mb < config.minspace:
        return Check(what, FAIL, f"{free_mb} MB free at {probe}, less than minspace "
                     f"{config.minspace} MB", "free space there (adjutant prune, podman "
                     "system prune), or lower minspace; the host takes no task until then")
    return Check(what, OK, f"{free_mb} MB free at {probe} (minspace {config.minspace} MB)")


def check_selinux() -> Check:
    enforce = Path("/sys/fs/selinux/enforce")
    if not enforce.exists():
        return Check("SELinux", OK, "off")
    mode = "enforcing" if enforce.read_text().strip() == "1" else "permissive"
    return Check("SELinux", OK, f"{mode}: label topdir once for containers (README)")


def check_kojid() -> Check:
    state = run(["systemctl", "is-active", "kojid.service"], accept=range(256)).stdout.strip()
    if state in ("active", "activating", "reloading"):
        return Check("kojid", FAIL, "kojid.service is running: it takes the same exclusive "
                     "hub session", "systemctl disable --now kojid (README: the move)")
    return Check("kojid", OK, f"kojid.service is not running ({state or 'unknown'})")


def checks(config: Config) -> Iterator[Check]:
    steps: list[Callable[[], Check]] = [
        check_systemd, lambda: check_podman(config), check_cgroups,
        lambda: check_image(config, config.task_image, "task image"),
    ]
    if config.createrepo_image and config.createrepo_image != config.task_image:
        steps.append(lambda: check_image(config, config.createrepo_image, "createrepo image"))
    steps += [
        lambda: check_id_range(config), lambda: check_hub(config),
        lambda: check_topdir(config), lambda: check_topurl(config),
        lambda: check_workdir(config),
        lambda: check_space(config, config.workdir, "space (workdir)"),
        lambda: check_space(config, CONTAINER_STORAGE, "space (podman)"),
        check_selinux, check_kojid,
    ]
    for step in steps:
        yield step()


def report(results: list[Check], *, as_json: bool = False) -> str:
    if as_json:
        return json.dumps([asdict(r) for r in results], indent=2)
    lines = []
    for result in results:
        lines.append(f"{result.state:<4} {result.name}: {result.found}")
        if result.fix and result.state != OK:
            lines.append(f"     fix: {result.fix}")
    return "\n".join(lines)


def main(config: Config, *, as_json: bool = False, out: Optional[Callable[[str], None]] = None
         ) -> int:
    results = []
    for result in checks(config):
        results.append(result)
        if not as_json and out is not None:
            out(report([result]))
    if as_json and out is not None:
        out(report(results, as_json=True))
    return 1 if any(r.state == FAIL for r in results) else 0

