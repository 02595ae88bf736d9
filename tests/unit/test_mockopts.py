"""The tag's mock.* extras, as kojid's genMockConfig hands them to mock."""

from __future__ import annotations

import pytest

from adjutant.buildroot.mockopts import MockOptions, mock_options
from adjutant.buildroot.script import Repo, deps_script, dnf_command, prepare_script
from adjutant.errors import AdjutantError

REPO = "file:///mnt/koji/repos/epel8-build/3/x86_64"


def test_the_tags_mock_extras_change_the_package_manager_line():
    options = mock_options({
        "mock.package_manager": "dnf5", "mock.releasever": "8", "mock.yum.module_hotfixes": 1,
        "mock.yum.best": "no", "mock.new_chroot": 0, "mock.use_bootstrap": True,
        "mock.module_setup_commands": [["enable", "nodejs:12"], ["disable", "python36"]],
        "mock.bootstrap_image": "registry.example.com/epel8-bootstrap:latest",
        "rpm.macro.dist": ".el8",
    }, tag="epel8-build")
    assert options.bootstrap_image == "registry.example.com/epel8-bootstrap:latest"
    assert options.not_applicable == ("mock.new_chroot", "mock.use_bootstrap")
    line = dnf_command(Repo(REPO, options))
    assert line.split()[0] == "dnf5"
    assert "--releasever=8" in line and "--setopt=koji.module_hotfixes=1" in line
    assert "--setopt=best=0" in line
    prepare = prepare_script(repo=Repo(REPO, options), group="build", packages=["bash"])
    assert prepare.index("module enable nodejs:12") < prepare.index(" install bash")
    assert "module disable python36" in prepare
    assert " builddep " in deps_script(repo=Repo(REPO, options), srpm="/adjutant/input.src.rpm",
                                       what="build requirements")


def test_without_mock_extras_it_is_dnf_as_before():
    line = dnf_command(Repo(REPO))
    assert line.startswith("dnf -y ") and "--releasever=koji" in line
    assert "module_hotfixes" not in line and "best=" not in line
    assert mock_options({}, tag="t") == MockOptions()


def test_yum_has_its_own_builddep():
    script = deps_script(repo=Repo(REPO, MockOptions(package_manager="yum")),
                         srpm="/adjutant/input.src.rpm", what="build requirements")
    assert "yum-builddep -y " in script


@pytest.mark.parametrize("extra,words", [
    ({"mock.package_manager": "apt"}, "is not one of dnf, dnf5, yum"),
    ({"mock.releasever": "8; rm -rf /"}, "is not a release version"),
    ({"mock.module_setup_commands": [["exec", "x"]]}, "is not a list of [action, module]"),
    ({"mock.module_setup_commands": [["enable", "--nogpgcheck x"]]}, "[action, module]"),
    ({"mock.bootstrap_image": "-it"}, "is not an image reference"),
])
def test_bad_mock_extras_name_the_tag_and_key(extra, words):
    with pytest.raises(AdjutantError) as raised:
        mock_options(extra, tag="f40-build")
    assert str(raised.value).startswith(f"tag f40-build: extra {next(iter(extra))}=")
    assert words in str(raised.value)
