"""Prepared buildroots and task views: the pure parts (mount lines, keys)."""

from __future__ import annotations

from pathlib import Path

import pytest

from adjutant.buildroot.roots import RootKey, overlay_mount_argv, overlay_mounts
from adjutant.errors import AdjutantError

MOUNTINFO = (
    "22 1 253:1 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
    "95 22 0:51 / /var/lib/adjutant/buildroots/views/12/root rw,relatime shared:50 - overlay "
    "overlay rw,lowerdir=/var/lib/adjutant/buildroots/roots/f40-7-x86_64-build-ab/root,"
    "upperdir=/var/lib/adjutant/buildroots/views/12/upper,"
    "workdir=/var/lib/adjutant/buildroots/views/12/work\n"
    "96 22 0:52 / /var/lib/containers/storage/overlay/x/merged rw - overlay overlay "
    "rw,lowerdir=/a:/b,upperdir=/u,workdir=/w\n"
    "97 22 0:53 / /with\\040space rw - tmpfs tmpfs rw\n"
)


def test_overlay_mounts_are_read_from_mountinfo():
    found = overlay_mounts(MOUNTINFO)
    assert found["/var/lib/adjutant/buildroots/views/12/root"] == \
        "/var/lib/adjutant/buildroots/roots/f40-7-x86_64-build-ab/root"
    assert found["/var/lib/containers/storage/overlay/x/merged"] == "/a:/b"
    assert len(found) == 2  # tmpfs is not an overlay


def test_overlay_mount_argv_is_exact():
    views = Path("/var/lib/adjutant/buildroots/views/12")
    assert overlay_mount_argv(lower=Path("/r/root"), upper=views / "upper", work=views / "work",
                              target=views / "root") == [
        "mount", "-t", "overlay", "overlay", "-o",
        f"lowerdir=/r/root,upperdir={views}/upper,workdir={views}/work",
        f"{views}/root"]


@pytest.mark.parametrize("bad", ["/var/lib/a,b", "/var/lib/a:b", "/var/lib/a b", "/x=y"])
def test_a_path_overlay_options_cannot_carry_is_refused(bad):
    with pytest.raises(AdjutantError, match="buildroot_dir"):
        overlay_mount_argv(lower=Path(bad), upper=Path("/u"), work=Path("/w"), target=Path("/t"))


def test_root_keys_differ_by_every_part():
    base = RootKey("sha256:1", "f40-build", 7, "x86_64", "build")
    others = [RootKey("sha256:2", "f40-build", 7, "x86_64", "build"),
              RootKey("sha256:1", "f41-build", 7, "x86_64", "build"),
              RootKey("sha256:1", "f40-build", 8, "x86_64", "build"),
              RootKey("sha256:1", "f40-build", 7, "aarch64", "build"),
              RootKey("sha256:1", "f40-build", 7, "x86_64", "srpm-build")]
    assert len({base.name, *(o.name for o in others)}) == 6
    assert base.name.startswith("f40-build-7-x86_64-build-")
    assert RootKey("i", "a/../b c", 1, "x", "g").name.startswith("a_.._b_c-1-x-g-")
