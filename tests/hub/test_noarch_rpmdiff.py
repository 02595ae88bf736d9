"""A noarch build whose arches were built by adjutant and kojid hosts: the
hub's import (kojihub check_noarch_rpms / rpmdiff, as the emulator has them)
takes both task's noarch_rpmdiff.json, for task ids above 10000 too."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import koji
import pytest

from tests.hub import builds
from tests.hub.test_emulator_builds import SPEC, _need_rpm_tools


@pytest.fixture(scope="module")
def noarch_rpm(tmp_path_factory) -> Path:
    _need_rpm_tools()
    top = tmp_path_factory.mktemp("rpmbuild")
    spec = top / "docs.spec"
    spec.write_text(SPEC.format(name="docs", version="1.0", release="1"))
    subprocess.run(["rpmbuild", "--quiet", "--define", f"_topdir {top}", "-bb", str(spec)],
                   check=True, stdout=subprocess.DEVNULL)
    return top / "RPMS" / "noarch" / "docs-1.0-1.noarch.rpm"


def kojid_rpmdiff(task_id: int, rpm: Path) -> dict:
    """noarch_rpmdiff.json as kojid's BuildArchTask writes it: keyed by the task id."""
    import koji.rpmdiff

    return {str(task_id): {rpm.name: koji.rpmdiff.Rpmdiff(str(rpm), str(rpm),
                                                          ignore="S5TN").kojihash()}}


def hub_import(work: Path, rpms: list, logs: dict) -> object:
    """check_noarch_rpms' answer, or the type of what it raised."""
    try:
        return builds.check_noarch_rpms(str(work), rpms, logs)
    except Exception as exc:  # the hub's import fails with it
        return type(exc)


@pytest.mark.parametrize("adjutant_task,kojid_task", [
    (12345, 23456), (23456, 12345), (1234, 2345), (12345, 2345), (1234, 23456),
])
def test_the_hub_takes_adjutants_noarch_hashes_as_kojids(
        tmp_path, noarch_rpm, adjutant_task, kojid_task):
    """For every pair of task ids, the hub's import of an adjutant and a kojid
    task ends as that of two kojid tasks of the same ids (kojihub's bucket
    lookup included: tasks on both sides of 10000 fail it either way)."""
    from adjutant.tasks.buildarch import write_noarch_rpmdiff

    work = tmp_path / "work"
    rpms, logs = [], {}
    for arch, task_id in (("x86_64", adjutant_task), ("aarch64", kojid_task)):
        relpath = koji.pathinfo.taskrelpath(task_id)
        (work / relpath).mkdir(parents=True)
        shutil.copy(noarch_rpm, work / relpath / noarch_rpm.name)
        rpms.append(f"{relpath}/{noarch_rpm.name}")
        logs[arch] = [f"{relpath}/noarch_rpmdiff.json"]
    adjutant_dir = work / koji.pathinfo.taskrelpath(adjutant_task)
    kojid_dir = work / koji.pathinfo.taskrelpath(kojid_task)
    (kojid_dir / "noarch_rpmdiff.json").write_text(json.dumps(kojid_rpmdiff(kojid_task,
                                                                            noarch_rpm)))
    # two kojid tasks
    (adjutant_dir / "noarch_rpmdiff.json").write_text(json.dumps(kojid_rpmdiff(adjutant_task,
                                                                               noarch_rpm)))
    expected = [hub_import(work, rpms, logs), hub_import(work, rpms[::-1], logs)]
    # an adjutant task and a kojid task
    made = write_noarch_rpmdiff(adjutant_task, [adjutant_dir / noarch_rpm.name], tmp_path)
    assert made is not None
    assert json.loads(made.read_text()) == kojid_rpmdiff(adjutant_task, noarch_rpm)
    shutil.copy(made, adjutant_dir / "noarch_rpmdiff.json")
    assert [hub_import(work, rpms, logs), hub_import(work, rpms[::-1], logs)] == expected
    if adjutant_task >= 10000 and kojid_task >= 10000:
        assert expected == [rpms[:1], rpms[1:]]  # imported, whichever is first
