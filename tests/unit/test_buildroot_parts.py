"""The buildroot's pure parts: image policy, macros, comps, SCM URLs, the
container scripts, buildroot lists, dnf failures named."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from adjutant.buildroot.comps import CompsError, group_packages
from adjutant.buildroot.failure import missing_packages
from adjutant.buildroot.macros import build_environment, build_macros, macros_file
from adjutant.buildroot.records import (
    classify_rpms,
    parse_rpm_list,
    read_pkgorigins,
    read_rpmlist_ids,
    strip_epoch,
)
from adjutant.buildroot.script import (
    EXIT_MORE_DEPS,
    Repo,
    build_script,
    checkout_script,
    deps_script,
    prepare_script,
)
from adjutant.config import Config
from adjutant.errors import AdjutantError
from adjutant.imagepolicy import ImageRule, PolicyCache, PolicyError, choose_image, parse_rules
from adjutant.scm import ScmError, allowed_source_cmd, parse_allowed_scms, parse_scm_url

RULES = [
    {"image": "default"},
    {"method": "buildSRPMFromSCM", "image": "srpm"},
    {"tag": "f40-*", "image": "f40"},
    {"tag": "f40-build", "arch": "aarch64", "image": "f40-arm"},
]


@pytest.mark.parametrize("tag,arch,method,image", [
    ("f40-build", "aarch64", "buildArch", "f40-arm"),   # tag+arch beats everything
    ("f40-build", "x86_64", "buildArch", "f40"),        # tag beats method and default
    ("f40-build", "x86_64", "buildSRPMFromSCM", "f40"),
    ("el9-build", "x86_64", "buildSRPMFromSCM", "srpm"),  # method beats default
    ("el9-build", "x86_64", "buildArch", "default"),
    (None, None, "sleep", "default"),
])
def test_the_most_specific_rule_wins_whatever_the_order(tag, arch, method, image):
    rules = parse_rules(RULES, where="tag t")
    assert choose_image(rules, tag=tag, arch=arch, method=method, default="cfg") == image


def test_no_rule_means_the_configured_image():
    assert choose_image((), tag="t", arch="x86_64", method="buildArch", default="cfg") == "cfg"


@pytest.mark.parametrize("value,words", [
    ("not json", "tag f40-build: adjutant.image_policy is not valid JSON"),
    ('{"image": "x"}', "must be a list of rules"),
    ('[{"tag": "x"}]', "rule 1 has no image"),
    ('[{"image": "a"}, {"image": "b", "colour": "red"}]', "rule 2: unknown key 'colour'"),
    ('[{"image": ""}]', "rule 1: image must be a non-empty string"),
    ('[{"arch": "x86_64", "image": "a"}]', "rule 1: an arch rule needs a tag"),
])
def test_bad_rules_name_the_tag_and_the_rule(value, words):
    with pytest.raises(PolicyError) as caught:
        parse_rules(value, where="tag f40-build")
    assert words in str(caught.value)


def test_policy_cache_expires():
    now = [0.0]
    cache = PolicyCache(300, clock=lambda: now[0])
    rules = (ImageRule("x"),)
    cache.put("t", rules)
    now[0] = 299
    assert cache.get("t") == rules
    now[0] = 301
    assert cache.get("t") is None


def test_a_bad_image_policy_in_the_config_is_a_config_error(tmp_path: Path):
    from adjutant import config as config_module

    path = tmp_path / "kojid.conf"
    path.write_text('[adjutant]\nimage_policy = [{"tag": "x"}]\n')
    with pytest.raises(AdjutantError, match=r"\[adjutant\] image_policy = .*rule 1 has no image"):
        config_module.load(path)


def test_macros_as_kojid_sets_them():
    config = Config(packager="Koji Builders", vendor="Example", distribution="Example Linux",
                    mockhost="redhat-linux-gnu")
    extra = {"rpm.macro.dist": ".fc40", "rpm.macro.fedora": "40", "mock.new_chroot": 0,
             "rpm.env.LANG": "C.UTF-8"}
    macros = build_macros(extra, config, tag="f40-build", target_arch="x86_64")
    assert macros["dist"] == ".fc40" and macros["fedora"] == "40"
    assert macros["packager"] == "Koji Builders" and macros["vendor"] == "Example"
    assert macros["distribution"] == "Example Linux"
    assert macros["_host"] == "x86_64-redhat-linux-gnu" and macros["_host_cpu"] == "x86_64"
    # kojid's default mockhost with the target arch: what autotools' config.sub takes
    i686 = build_macros({}, Config(), tag="f40-build", target_arch="i686")
    assert i686["_host"] == "i686-koji-linux-gnu" and i686["_host_cpu"] == "i686"
    assert "%dist .fc40\n" in macros_file(macros)
    assert build_environment(extra, tag="f40-build") == {"LANG": "C.UTF-8"}
    with pytest.raises(AdjutantError, match=r"tag f40-build: extra 'rpm\.macro\.bad name'"):
        build_macros({"rpm.macro.bad name": "1"}, config, tag="f40-build",
                     target_arch="x86_64")


COMPS = """<?xml version="1.0"?>
<comps>
  <group><id>build</id><name>build</name>
    <packagelist>
      <packagereq type="mandatory">bash</packagereq>
      <packagereq type="default">gcc</packagereq>
      <packagereq type="optional">emacs</packagereq>
      <packagereq>rpm-build</packagereq>
    </packagelist>
  </group>
  <group><id>srpm-build</id><name>srpm-build</name><packagelist/></group>
</comps>
"""


def test_comps_groups(tmp_path: Path):
    comps = tmp_path / "comps.xml"
    comps.write_text(COMPS)
    assert group_packages(comps, "build") == ("bash", "gcc", "rpm-build")
    with pytest.raises(CompsError, match="no group appliance-build"):
        group_packages(comps, "appliance-build")
    with pytest.raises(CompsError, match="lists no packages"):
        group_packages(comps, "srpm-build")


def test_scm_urls_in_kojis_form():
    scm = parse_scm_url("git+https://src.example.com/rpms/foo.git?pkg/foo#v1.2")
    assert scm.clone_url == "https://src.example.com/rpms/foo.git"
    assert (scm.subdir, scm.ref) == ("pkg/foo", "v1.2")
    assert scm.with_commit("abc123") == "git+https://src.example.com/rpms/foo.git?pkg/foo#abc123"
    assert parse_scm_url("git://host/repo.git#main").clone_url == "git://host/repo.git"


@pytest.mark.parametrize("url,words", [
    ("svn+https://host/repo#1", "only git URLs"),
    ("git+https://host/repo.git", "no revision given"),
    ("git+https://user:secret@host/repo.git#1", "a password in the SCM URL is not allowed"),
    ("git+https://host/repo.git?../etc#1", "leaves the checkout"),
])
def test_bad_scm_urls(url, words):
    with pytest.raises(ScmError, match=words):
        parse_scm_url(url)


def test_allowed_scms():
    entries = parse_allowed_scms("src.example.com:/rpms/*:false:fedpkg,sources "
                                 "git.example.com:/*:no: *.internal:/pkgs/*")
    rpms = parse_scm_url("git+https://src.example.com/rpms/foo.git#1")
    assert allowed_source_cmd(rpms, entries) == ("fedpkg", "sources")
    assert allowed_source_cmd(parse_scm_url("git://git.example.com/x.git#1"), entries) is None
    assert allowed_source_cmd(parse_scm_url("git://a.internal/pkgs/x.git#1"),
                              entries) == ("make", "sources")
    with pytest.raises(ScmError, match="is not in the list of allowed SCMs"):
        allowed_source_cmd(parse_scm_url("git+https://evil.example.org/x.git#1"), entries)


def _bash_syntax(script: str) -> None:
    result = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr


def test_scripts_are_valid_bash_and_quote_what_they_are_given():
    repo = Repo("file:///mnt/koji/repos/f40-build/7/x86_64")
    hostile = "x'; rm -rf / #"
    scripts = [
        prepare_script(repo=repo, group="build", packages=["bash", hostile]),
        build_script(target="x86_64", macros={"dist": ".fc40", "evil": hostile},
                     environment={"E": hostile}),
        deps_script(repo=repo, srpm="/adjutant/input.src.rpm", what="build requirements"),
        checkout_script(clone_url="https://h/r.git", ref=hostile, subdir="", source_cmd=["make"]),
    ]
    for script in scripts:
        _bash_syntax(script)
    assert "'x'\"'\"'; rm -rf / #'" in scripts[0]  # a package name, as one quoted word
    assert "--repofrompath=koji,file:///mnt/koji/repos/f40-build/7/x86_64 --repo=koji" \
        in scripts[0]
    assert "--network" not in scripts[1]


def test_requirements_are_never_arguments_of_roots_dnf():
    """The BuildRequires are read by `dnf builddep` from the SRPM's header (a
    file of the daemon's under a fixed name, read-only at /adjutant); the
    tag's macros and environment reach only the build user's rpmbuild, in the
    buildroot, never root's rpm or dnf, which are the bootstrap's."""
    repo = Repo("file:///mnt/koji/repos/f40-build/7/x86_64")
    deps = deps_script(repo=repo, srpm="/adjutant/input.src.rpm", what="build requirements")
    dnf_lines = [line for line in deps.splitlines() if line.lstrip().startswith("dnf ")]
    assert len(dnf_lines) == 1
    assert dnf_lines[0].split()[-5:] == ["/adjutant/input.src.rpm", ">>", '"$R/root.log"',
                                         "2>&1", "\\"]
    assert " --installroot=/buildroot " in dnf_lines[0]
    build = build_script(target="x86_64", macros={"__dnf": "/tmp/evil"},
                         environment={"LD_PRELOAD": "/tmp/evil.so"})
    assert not [line for line in build.splitlines() if line.lstrip().startswith("dnf ")]
    assert "/etc/rpm" not in build and "export LD_PRELOAD" not in build
    assert "LD_PRELOAD=/tmp/evil.so" in build.split("BUILD_ENV=(env ")[1].split(")")[0]
    for line in build.splitlines():
        if "rpmbuild " in line and not re.search(r"state |fail |^ *\"rpmbuild", line):
            assert line.lstrip().startswith('"${BUILD_ENV[@]}" rpmbuild')
    # a build step that finds itself root stops
    assert "adjutant never builds as root" in build
    # a generated round ends the step for the daemon to install what it wants
    assert f"exit {EXIT_MORE_DEPS}" in build


@pytest.mark.parametrize("text", ["x'; echo INJECTED; '", "$(echo INJECTED)",
                                  "`echo INJECTED`", 'say "hi" to $HOME'])
def test_messages_reach_state_log_and_failures_as_written(tmp_path: Path, text):
    from adjutant.buildroot.script import or_fail, say

    stubs = ('state() { printf "%s" "$*" > state.out; }\n'
             'fail() { printf "%s|%s|%s" "$1" "$2" "$3" > fail.out; }\n')
    script = stubs + say(text) + "false \\\n" + or_fail(text, text, 21)
    result = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True,
                            text=True, check=False)
    assert "INJECTED" not in result.stdout + result.stderr
    assert (tmp_path / "state.out").read_text() == text
    assert (tmp_path / "fail.out").read_text() == f"{text}|{text}|21"


RPM_LIST = ("bash\t5.2\t1.fc40\t(none)\tx86_64\tabcdef\t8000000\t1700000000\n"
            "gpg-pubkey\tdeadbeef\t1\t(none)\t(none)\t(none)\t0\t0\n"
            "perl-libs\t5.38\t2.fc40\t4\tx86_64\t012345\t900\t1700000001\n")


def test_buildroot_lists_for_the_hub(tmp_path: Path):
    rpms = parse_rpm_list(RPM_LIST)
    assert rpms == [
        {"name": "bash", "version": "5.2", "release": "1.fc40", "epoch": None, "arch": "x86_64",
         "payloadhash": "abcdef", "size": 8000000, "buildtime": 1700000000},
        {"name": "perl-libs", "version": "5.38", "release": "2.fc40", "epoch": 4,
         "arch": "x86_64", "payloadhash": "012345", "size": 900, "buildtime": 1700000001},
    ]
    rpmlist = tmp_path / "rpmlist.jsonl"
    rpmlist.write_text('{"id": 17, "name": "bash", "version": "5.2", "release": "1.fc40", '
                       '"arch": "x86_64"}\n')
    ids = read_rpmlist_ids(rpmlist)
    listed, foreign = classify_rpms(rpms, ids=ids, external_repos=[], origins=None, repo_id=7,
                                    arch="x86_64")
    assert [r["id"] for r in listed] == [17]
    assert foreign == ["perl-libs-5.38-2.fc40.x86_64"]  # from the base image, not the repo
    everything, none = classify_rpms(rpms, ids={}, external_repos=[], origins=None,
                                     repo_id=7, arch="x86_64")
    assert (len(everything), none) == (2, [])  # no rpmlist.jsonl: send all, as before 1.35
    with pytest.raises(AdjutantError, match="line 1 is malformed"):
        parse_rpm_list("bash\t5.2\n")


def test_missing_packages_are_named_from_dnfs_log(tmp_path: Path):
    log = tmp_path / "root.log"
    log.write_text("Last metadata expiration check\nNo match for argument: libnope-devel\n"
                   "Error: Unable to find a match: libnope-devel\n"
                   " - nothing provides libz.so.1()(64bit) needed by foo-1-1.x86_64\n")
    assert missing_packages(log.read_text()) == ["no package provides libnope-devel",
                                     "no package provides libz.so.1()(64bit)"]


def test_external_rpms_are_marked_by_their_origin(tmp_path: Path):
    import gzip

    arch = tmp_path / "x86_64"
    (arch / "repodata").mkdir(parents=True)
    with gzip.open(arch / "repodata" / "abc-pkgorigins.gz", "wt") as out:
        out.write("bash-5.2-1.fc40.x86_64\tfile:///mnt/koji/work/tasks/1/1/repo_7_premerge/\n"
                  "1:perl-libs-5.38-2.fc40.x86_64\thttps://mirror.example.com/el9/x86_64/\n")
    (arch / "repodata" / "repomd.xml").write_text(
        '<?xml version="1.0"?><repomd xmlns="http://linux.duke.edu/metadata/repo">'
        '<data type="primary"><location href="repodata/p.xml.gz"/></data>'
        '<data type="origin"><location href="repodata/abc-pkgorigins.gz"/></data></repomd>')
    origins = read_pkgorigins(arch)
    assert origins == {
        "bash-5.2-1.fc40.x86_64": "file:///mnt/koji/work/tasks/1/1/repo_7_premerge/",
        "perl-libs-5.38-2.fc40.x86_64": "https://mirror.example.com/el9/x86_64/"}
    external = [{"external_repo_id": 4, "external_repo_name": "el9",
                 "url": "https://mirror.example.com/el9/$arch/"}]
    listed, foreign = classify_rpms(parse_rpm_list(RPM_LIST), ids={}, external_repos=external,
                                    origins=origins, repo_id=7, arch="x86_64")
    assert foreign == []
    assert "location" not in listed[0]  # internal, matched by NVRA
    assert listed[1]["location"] == 4 and listed[1]["external_repo"] == external[0]


def test_epochs_are_taken_off_origin_keys():
    assert strip_epoch("bash-5.2-1.x86_64") == "bash-5.2-1.x86_64"
    assert strip_epoch("1:bash-5.2-1.x86_64") == "bash-5.2-1.x86_64"


@pytest.mark.parametrize("selinux", [False, True])
def test_build_mounts_and_their_selinux_labels(selinux):
    from adjutant.buildroot.mounts import build_mounts, install_mounts
    from adjutant.runner.podman import mount_options

    mounts = build_mounts(workdir=Path("/var/tmp/koji/tasks/7/7"),
                          inputs=Path("/var/lib/adjutant/worker/7/files/inputs"),
                          selinux=selinux)
    mounts += install_mounts(root=Path("/var/lib/adjutant/buildroots/views/7/root"),
                             dnf_cache=Path("/var/lib/adjutant/buildroots/views/7/dnf"),
                             repo_dir=Path("/mnt/koji/repos/f40-build/9"),
                             packages=Path("/mnt/koji/packages"), selinux=selinux)
    z, big_z = (",z", ",Z") if selinux else ("", "")
    assert mount_options(mounts) == [
        "--volume", f"/var/tmp/koji/tasks/7/7:/builddir:rw{big_z}",
        "--volume", f"/var/lib/adjutant/worker/7/files/inputs:/adjutant:ro{big_z}",
        # the root a bootstrap installs into: an overlay, whose label is the mount's
        "--volume", "/var/lib/adjutant/buildroots/views/7/root:/buildroot:rw",
        "--volume", f"/var/lib/adjutant/buildroots/views/7/dnf:/var/cache/adjutant-dnf:rw{big_z}",
        "--volume", f"/mnt/koji/repos/f40-build/9:/mnt/koji/repos/f40-build/9:ro{z}",
        # never relabelled: all of Koji's packages
        "--volume", "/mnt/koji/packages:/mnt/koji/packages:ro",
    ]


def test_a_repo_over_topurl_mounts_nothing_of_topdir():
    from adjutant.buildroot.mounts import install_mounts
    from adjutant.runner.podman import mount_options

    mounts = install_mounts(root=Path("/b/views/7/root"), dnf_cache=Path("/b/views/7/dnf"),
                            repo_dir=None, packages=Path("/mnt/koji/packages"),
                            selinux=False)
    assert mount_options(mounts) == [
        "--volume", "/b/views/7/root:/buildroot:rw",
        "--volume", "/b/views/7/dnf:/var/cache/adjutant-dnf:rw",
    ]


@pytest.mark.parametrize("target,host,personality", [
    ("i686", "x86_64", "LINUX32"), ("i386", "x86_64", "LINUX32"), ("athlon", "x86_64", "LINUX32"),
    ("armv7hl", "aarch64", "LINUX32"), ("ppc", "ppc64", "LINUX32"),
    ("x86_64", "x86_64", None), ("noarch", "x86_64", None), ("aarch64", "aarch64", None),
    ("i686", "i686", None),
])
def test_32_bit_builds_on_64_bit_hosts_get_the_32_bit_personality(target, host, personality):
    from adjutant.buildroot.arches import personality_for

    assert personality_for(target, host) == personality
