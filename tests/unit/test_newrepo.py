"""newRepo's own decisions (kojid NewRepoTask): its options and the arches
and content it reads from the directory the hub wrote."""

from __future__ import annotations

import koji
import pytest

from adjutant.tasks.newrepo import NewRepoHandler, legacy_opts, repo_arches


def test_the_legacy_parameters_become_opts():
    assert legacy_opts(None, None, None, None) is None
    assert legacy_opts(None, None, None, {"src": True}) == {"src": True}
    assert legacy_opts(1, None, 0, None) == {"src": True, "separate_src": False}


def test_legacy_parameters_with_opts_fail_the_task():
    with pytest.raises(koji.ParameterError, match="cannot be combined"):
        legacy_opts(True, None, None, {"debuginfo": True})


def test_arches_are_the_directories_with_a_pkglist(tmp_path):
    for arch in ("x86_64", "i386", "src"):
        (tmp_path / arch).mkdir()
        (tmp_path / arch / "pkglist").write_text("")
    (tmp_path / "groups").mkdir()
    (tmp_path / "groups" / "pkglist").write_text("")  # groups/ is never an arch
    (tmp_path / "aarch64").mkdir()  # no pkglist: not an arch of this repo
    (tmp_path / "repo.json").write_text("{}")
    assert repo_arches(tmp_path) == ["i386", "src", "x86_64"]


def test_an_arch_is_copied_only_when_pkglist_and_blocklist_are_the_same(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    for repo in (old, new):
        (repo / "x86_64").mkdir(parents=True)
        (repo / "x86_64" / "pkglist").write_text("toplink/packages/a/1/1/x86_64/a.rpm\n")
        (repo / "x86_64" / "blocklist").write_text("")
    assert NewRepoHandler.same_arch_content(old, new, "x86_64")
    (new / "x86_64" / "blocklist").write_text("b\n")
    assert not NewRepoHandler.same_arch_content(old, new, "x86_64")
    (new / "x86_64" / "blocklist").write_text("")
    (old / "x86_64" / "pkglist").unlink()
    assert not NewRepoHandler.same_arch_content(old, new, "x86_64")
