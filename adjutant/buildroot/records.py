"""The hub's record of a buildroot (kojihub's host.newBuildRoot, setBuildRootList,
updateBuildRootList, setBuildRootState).

    host.newBuildRoot(repo_id, arch, task_id=)      -> id, state INIT
    host.setBuildRootList(id, rpms)                 INIT only: the prepared group
    host.setBuildRootState(id, 'BUILDING')
    host.updateBuildRootList(id, rpms)              BUILDING only: all installed
    host.setBuildRootState(id, 'EXPIRED')

Each rpm is {name, version, release, epoch, arch, payloadhash, size, buildtime},
read inside the container with `rpm -qa` (script.RPM_LIST_FORMAT); gpg-pubkey
and buildsys-build entries are skipped as kojid skips them.  The hub matches
internal rpms by NVRA; ids come from the repo's rpmlist.jsonl when present.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from adjutant.errors import AdjutantError

SKIPPED = ("gpg-pubkey", "buildsys-build")


def parse_rpm_list(text: str) -> list[dict[str, Any]]:
    rpms = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 8:
            raise AdjutantError(f"installed package list line {number} is malformed: {line!r}")
        name, version, release, epoch, arch, sigmd5, size, buildtime = fields
        if name in SKIPPED:
            continue
        rpms.append({
            "name": name, "version": version, "release": release,
            "epoch": None if epoch in ("(none)", "") else int(epoch),
            "arch": arch, "payloadhash": sigmd5, "size": int(size),
            "buildtime": int(buildtime),
        })
    return rpms


def nvra(rpm: dict[str, Any]) -> str:
    return f"{rpm['name']}-{rpm['version']}-{rpm['release']}.{rpm['arch']}"


def read_rpmlist_ids(path: Path) -> dict[str, int]:
    """NVRA -> rpm id from a repo's rpmlist.jsonl (missing file: no ids)."""
    ids: dict[str, int] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return ids
    for line in lines:
        if not line.strip():
            continue
        entry = json.loads(line)
        if "id" in entry and "name" in entry:
            ids[nvra(entry)] = int(entry["id"])
    return ids




def read_pkgorigins(repo_arch: Path) -> Optional[dict[str, str]]:
    """N-V-R.A -> origin URL from the pkgorigins of the repo directory
    `repo_arch` (an arch's); None if it has none."""
    href = origin_href(repo_arch / "repodata" / "repomd.xml")
    return read_origins(repo_arch / href) if href is not None else None


def origin_href(repomd: Path) -> Optional[str]:
    """Where repomd.xml says the repo's pkgorigins is (repomd type 'origin',
    which mergerepo_c writes for tags with external repos); None if nowhere."""
    from adjutant.buildroot.comps import ElementTree

    try:
        root = ElementTree.parse(repomd).getroot()
    except (OSError, ElementTree.ParseError):
        return None
    for data in root:
        if data.tag.endswith("data") and data.get("type") == "origin":
            for child in data:
                if child.tag.endswith("location") and child.get("href"):
                    return child.get("href")
    return None


def read_origins(path: Path) -> dict[str, str]:
    """N-V-R.A -> origin URL from a pkgorigins file (gzip or plain)."""
    import gzip

    opener = gzip.open if path.name.endswith(".gz") else open
    origins = {}
    with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            parts = line.split(None, 2)
            if len(parts) < 2:
                continue
            origins[strip_epoch(parts[0])] = parts[1]
    return origins


def strip_epoch(nevra: str) -> str:
    """yum writes [epoch:]name-version-release.arch; the key is without epoch."""
    if ":" not in nevra:
        return nevra
    head, tail = nevra.split(":", 1)
    if head.isdigit():  # "1:bash-5.2-1.x86_64"
        return tail
    name, _, rest = nevra.rpartition("-")  # "bash-1:5.2-1.x86_64" (epoch in the version)
    name, _, version = name.rpartition("-")
    return f"{name}-{version.split(':', 1)[-1]}-{rest}"


def classify_rpms(
    rpms: list[dict[str, Any]],
    *,
    ids: dict[str, int],
    external_repos: list[dict[str, Any]],
    origins: Optional[dict[str, str]],
    repo_id: int,
    arch: str,
) -> tuple[list[dict[str, Any]], list[str]]:
    """The buildroot list for the hub, and the NVRAs left out of it.

    The tag's own rpms carry their ids (rpmlist.jsonl); rpms from the tag's
    external repos are marked with `external_repo` and `location` (the external
    repo's id) by their pkgorigins line, as kojid marks them.  An rpm that is
    neither came with the base image, not from the tag's repo: the hub knows no
    such rpm and would refuse the whole list, so it is left out (and said so).
    Without rpmlist.jsonl (hubs before 1.35) every rpm is sent as it is.
    """
    if not ids and not origins:
        return list(rpms), []
    by_url = {repo["url"].replace("$arch", arch): repo for repo in external_repos}
    premerge = f"/repo_{repo_id}_premerge/"
    listed, foreign = [], []
    for rpm in rpms:
        key = nvra(rpm)
        if key in ids:
            listed.append({**rpm, "id": ids[key]})
            continue
        origin = (origins or {}).get(key)
        external = by_url.get(origin or "")
        if external is not None:
            listed.append({**rpm, "external_repo": external,
                           "location": external["external_repo_id"]})
        elif origin is not None and origin.startswith("file://") and origin.endswith(premerge):
            listed.append(dict(rpm))  # internal; the hub matches it by NVRA
        else:
            foreign.append(key)
    return listed, foreign
