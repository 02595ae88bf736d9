"""The arches a build builds and where its tasks run, against kojid's rules
(BuildTask.getArchList and choose_taskarch), as a table."""

from __future__ import annotations

import pytest

from adjutant.tasks.arches import ArchError, build_arches, task_arch

TAG = "x86_64 i686 aarch64"


@pytest.mark.parametrize("case", [
    ((), (), (), None, None, False, ["x86_64", "i686", "aarch64"]),
    # BuildArch: noarch replaces the list
    (("noarch",), (), (), None, None, False, ["noarch"]),
    # ExclusiveArch narrows, as written (i386 is not i686)
    ((), ("x86_64", "i386"), (), None, None, False, ["x86_64"]),
    ((), (), ("aarch64",), None, None, False, ["x86_64", "i686"]),
    # ExclusiveArch: noarch (with arched ones) adds noarch
    ((), ("noarch", "x86_64"), (), None, None, False, ["x86_64", "noarch"]),
    (("noarch",), (), ("noarch",), None, None, False, None),
    # the package's extra_arches, kept only if the tag builds them canonically
    ((), (), (), "ppc64le i386", None, False, ["x86_64", "i686", "aarch64", "i386"]),
    # arch_override: scratch builds only, and only the tag's arches
    ((), (), (), None, "aarch64 s390x", True, ["aarch64"]),
    ((), (), (), None, "aarch64", False, ["x86_64", "i686", "aarch64"]),
    ((), ("s390x",), (), None, None, False, None),
])
def test_build_arches_as_kojid_chooses_them(case):
    build_arch, exclusive, exclude, extra, override, scratch, expected = case
    kwargs = dict(tag_arches=TAG, tag="f40-build", build_arch=build_arch,
                  exclusive_arch=exclusive, exclude_arch=exclude, extra_arches=extra,
                  arch_override=override, scratch=scratch)
    if expected is None:
        with pytest.raises(ArchError, match=r"^No matching arches were found$"):
            build_arches(**kwargs)
    else:
        assert build_arches(**kwargs) == expected


def test_a_tag_without_arches_is_named():
    with pytest.raises(ArchError, match=r"^No arches for tag f40-build$"):
        build_arches(tag_arches="", tag="f40-build", build_arch=(), exclusive_arch=(),
                     exclude_arch=())


@pytest.mark.parametrize("arch,kwargs,expected", [
    ("i686", {}, "i386"),  # canonical, as the scheduler matches hosts
    ("armv7hl", {}, "armhfp"),
    ("i686", {"literal_task_arches": "i?86"}, "i686"),
    ("noarch", {}, "noarch"),
    # a noarch package that builds on some arches only: one of them
    ("noarch", {"exclusive_arch": ("aarch64",)}, "aarch64"),
    ("noarch", {"exclude_arch": ("x86_64", "i686")}, "aarch64"),
    ("noarch", {"noarch_arches": "aarch64 s390x"}, "aarch64"),
    # narrowed to all the tag's arches: noarch again
    ("noarch", {"exclusive_arch": ("x86_64", "i386", "aarch64")}, "noarch"),
])
def test_task_arch_as_kojid_chooses_it(arch, kwargs, expected):
    assert task_arch(arch, tag_arches=TAG, choose=lambda arches: arches[0], **kwargs) == expected


def test_no_valid_arch_for_noarch_is_kojids_error():
    with pytest.raises(ArchError) as raised:
        task_arch("noarch", tag_arches=TAG, exclusive_arch=("s390x",))
    assert str(raised.value) == ("No valid arches were found. tag ['x86_64', 'i386', 'aarch64'], "
                                 "extra None,exclusive ['s390x'], exclude []")
