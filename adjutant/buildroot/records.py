"""The hub's record of a buildroot (koji-builder-protocol.md "Buildroots").

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
        })  # fmt: skip
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


def with_ids(rpms: list[dict[str, Any]], ids: dict[str, int]) -> list[dict[str, Any]]:
    out = []
    for rpm in rpms:
        known: Optional[int] = ids.get(nvra(rpm))
        out.append({**rpm, "id": known} if known is not None else dict(rpm))
    return out
