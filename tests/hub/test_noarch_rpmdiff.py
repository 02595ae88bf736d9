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
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    return top / "RPMS" / "noarch" / "docs-1.0-1.noarch.rpm"


def kojid_rpmdiff(task_id: int, rpm: Path) -> dict:
    """noarch_rpmdiff.json as kojid's BuildArchTask writes it: keyed by the task id."""
    import koji.rpmdiff

    return {str(task_id): {rpm.name: koji.rpmdiff.Rpmdiff(str(rpm), str(rpm),
                                                          ignore="S5TN").kojihash()}}


@pytest.mark.parametrize("adjutant_task,kojid_task", [(12345, 23456), (23456, 12345),
                                                      (1234, 23456), (12345, 2345)])
def test_the_hub_imports_a_noarch_build_of_adjutant_and_kojid_hosts(
        tmp_path, noarch_rpm, adjutant_task, kojid_task):  # fmt: skip
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
    made = write_noarch_rpmdiff(adjutant_task, [adjutant_dir / noarch_rpm.name], tmp_path)
    assert made is not None
    shutil.copy(made, adjutant_dir / "noarch_rpmdiff.json")
    kojid_dir = work / koji.pathinfo.taskrelpath(kojid_task)
    (kojid_dir / "noarch_rpmdiff.json").write_text(json.dumps(kojid_rpmdiff(kojid_task,
                                                                            noarch_rpm)))
    # the same json as kojid's, and the hub takes the pair in either order
    assert json.loads(made.read_text()) == kojid_rpmdiff(adjutant_task, noarch_rpm)
    assert builds.check_noarch_rpms(str(work), rpms, logs) == rpms[:1]
    assert builds.check_noarch_rpms(str(work), rpms[::-1], logs) == rpms[1:]
