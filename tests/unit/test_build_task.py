"""The build task's pure parts: its buildArch results merged as kojid's
runBuilds merges them for completeBuild, and the user's metadata checked."""

from __future__ import annotations

import koji
import pytest

from adjutant.tasks.build import checked_metadata, merge_results


def arch_result(task_id: int, arch: str, *, srpm: bool) -> dict:
    base = f"tasks/{task_id % 10000}/{task_id}"
    return {"rpms": [f"{base}/foo-1-1.{arch}.rpm"], "srpms": [f"{base}/foo-1-1.src.rpm"] if srpm
            else [], "logs": [f"{base}/build.log"], "brootid": task_id + 100}


def test_the_results_of_the_arches_as_complete_build_takes_them():
    subtasks = {"x86_64": 11, "noarch": 12}
    results = {11: arch_result(11, "x86_64", srpm=True), 12: arch_result(12, "noarch",
                                                                         srpm=False)}
    srpm, rpms, brmap, logs = merge_results(10, subtasks, results)
    assert srpm == "tasks/11/11/foo-1-1.src.rpm"
    assert rpms == ["tasks/11/11/foo-1-1.x86_64.rpm", "tasks/12/12/foo-1-1.noarch.rpm"]
    assert brmap == {"tasks/11/11/foo-1-1.x86_64.rpm": 111, "tasks/11/11/foo-1-1.src.rpm": 111,
                     "tasks/12/12/foo-1-1.noarch.rpm": 112}
    assert logs == {"x86_64": ["tasks/11/11/build.log"], "noarch": ["tasks/12/12/build.log"]}


@pytest.mark.parametrize("with_srpm,words", [
    ((True, True), "multiple builds returned a srpm.  task 10"),
    ((False, False), "could not find a built srpm"),
])
def test_one_srpm_or_kojids_error(with_srpm, words):
    subtasks = {"x86_64": 11, "aarch64": 12}
    results = {11: arch_result(11, "x86_64", srpm=with_srpm[0]),
               12: arch_result(12, "aarch64", srpm=with_srpm[1])}
    with pytest.raises(koji.BuildError, match=words.replace(".", r"\.")):
        merge_results(10, subtasks, results)


@pytest.mark.parametrize("value,words", [
    (["a"], "custom_user_metadata must be serializable to a JSON object"),
    ({"a": {1, 2}}, "custom_user_metadata is not JSON serializable"),
])
def test_custom_user_metadata_is_a_json_object(value, words):
    with pytest.raises(koji.BuildError, match=words):
        checked_metadata(value)
    assert checked_metadata({"a": [1]}) == {"a": [1]}
