"""createrepo's command lines and script, as kojid's CreaterepoTask runs them."""

from __future__ import annotations

import subprocess

import pytest

from adjutant import createrepo
from adjutant.createrepo import Job

REPODIR = "/mnt/koji/repos/f40-build/7/x86_64"
COMPS = "/mnt/koji/repos/f40-build/7/groups/comps.xml"


def test_createrepo_reads_the_pkglist_against_the_repo_dir():
    job = Job(arch="x86_64", repodir=REPODIR, groupdata=COMPS)
    assert createrepo.createrepo_argv(job) == [
        "createrepo_c", "--error-exit-val", "-vd", "-o", "/builddir/repo",
        "-i", f"{REPODIR}/pkglist", "-g", COMPS, REPODIR]


def test_createrepo_updates_the_old_repodata_and_skips_stat_when_asked():
    job = Job(arch="x86_64", repodir=REPODIR, update=True, skip_stat=True)
    assert createrepo.createrepo_argv(job)[-3:] == ["--update", "--skip-stat", REPODIR]
    job = Job(arch="x86_64", repodir=REPODIR, update=True, skip_stat=False)
    assert createrepo.createrepo_argv(job)[-2:] == ["--update", REPODIR]


def test_an_empty_pkglist_makes_an_empty_repo_with_no_update():
    job = Job(arch="x86_64", repodir=REPODIR, has_packages=False, update=True)
    assert createrepo.createrepo_argv(job) == [
        "createrepo_c", "--error-exit-val", "-vd", "-o", "/builddir/repo", "/builddir/repo"]
    assert "EMPTY_REPO" in createrepo.script(job)
    assert "cp -r" not in createrepo.script(job)


def test_use_createrepo_c_off_runs_the_images_createrepo():
    job = Job(arch="x86_64", repodir=REPODIR, use_createrepo_c=False)
    assert createrepo.createrepo_argv(job)[:2] == ["createrepo", "-vd"]


@pytest.mark.parametrize(("mode", "head"), [
    ("koji", ["mergerepo_c", "--koji", "-b", f"{REPODIR}/blocklist"]),
    ("simple", ["mergerepo_c", "--koji", "--simple", "-b", f"{REPODIR}/blocklist"]),
    ("bare", ["mergerepo_c", "--pkgorigins", "--all"]),
])
def test_mergerepo_per_merge_mode(mode, head):
    job = Job(arch="x86_64", repodir=REPODIR, groupdata=COMPS, merge_mode=mode,
              external_urls=("https://mirror.example/f40/x86_64/",))
    argv = createrepo.mergerepo_argv(job, arch_expand=True)
    assert argv == [*head, "-a", "x86_64", "-o", "/builddir/repo", "--arch-expand",
                    "-g", COMPS, "-r", "file:///builddir/repo-premerge/",
                    "-r", "https://mirror.example/f40/x86_64/"]
    assert "--arch-expand" not in createrepo.mergerepo_argv(job, arch_expand=False)


def test_external_urls_take_the_arch_and_skip_repos_of_other_arches():
    repos = [{"url": "https://a.example/$arch/", "arches": None},
             {"url": "https://b.example/$arch/os/", "arches": "aarch64 ppc64le"},
             {"url": "https://c.example/$arch/", "arches": "x86_64 i386"}]
    assert createrepo.external_urls(repos, "x86_64") == (
        "https://a.example/x86_64/", "https://c.example/x86_64/")
    assert createrepo.external_urls(repos, "aarch64") == (
        "https://a.example/aarch64/", "https://b.example/aarch64/os/")


def test_mixed_merge_modes_are_refused_as_kojid_does():
    assert createrepo.merge_mode([]) == "koji"
    assert createrepo.merge_mode([{"merge_mode": "bare"}, {"merge_mode": "bare"}]) == "bare"
    with pytest.raises(createrepo.CreaterepoError, match="multiple merge modes"):
        createrepo.merge_mode([{"merge_mode": "koji"}, {"merge_mode": "simple"}])


def test_the_script_is_valid_bash_and_quotes_what_it_is_given():
    job = Job(arch="x86_64", repodir="/mnt/koji/repos/it's/7/x86_64", groupdata=COMPS,
              update=True, external_urls=("https://m.example/a b/",))
    text = createrepo.script(job)
    subprocess.run(["bash", "-n"], input=text, text=True, check=True)
    assert "'/mnt/koji/repos/it'\"'\"'s/7/x86_64/pkglist'" in text
    assert "'https://m.example/a b/'" in text
    # the old repodata first, its origins dropped, then createrepo, then the merge
    order = [text.index(s) for s in ("cp -r /adjutant-oldrepodata", "pkgorigins.gz",
                                     "createrepo_c", "mv /builddir/repo", "mergerepo_c --koji")]
    assert order == sorted(order)


def test_the_version_check_picks_arch_expand_as_kojid_does(tmp_path):
    """The script's at_least() against fake mergerepo_c versions."""
    job = Job(arch="x86_64", repodir=REPODIR, external_urls=("https://m.example/",))
    text = createrepo.script(job)
    start = text.index("version=$(")
    check = text[start:text.index("mv /builddir/repo")]
    for version, expected in (("0.15.11", "yes"), ("0.21.1", "yes"), ("0.15.10", "no"),
                              ("0.9.0", "no"), ("", "no")):
        fake = tmp_path / "mergerepo_c"
        fake.write_text(f"#!/bin/sh\necho 'Version: {version} (Features: DeltaRPM )'\n")
        fake.chmod(0o755)
        probe = check + "if at_least 0.15.11; then echo yes; else echo no; fi\n"
        out = subprocess.run(["bash", "-c", probe], text=True, capture_output=True, check=True,
                             env={"PATH": f"{tmp_path}:/usr/bin:/bin"})
        assert out.stdout.strip() == expected, version
