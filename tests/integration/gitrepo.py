"""A package's git repository served over HTTP (git's dumb protocol) to
podman's bridge network, where the checkout container is."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from tests.integration.conftest import sh
from tests.integration.rpmrepo import Package
from tests.integration.served import served_directory

NAME = "pkgfromgit"


@contextlib.contextmanager
def served_git_package(tmp_path: Path, name: str = NAME,
                       build_requires: tuple[str, ...] = ()) -> Iterator[str]:
    """Serve a git repository of the package `name` (its Source0 made by its
    `make sources`); yields its SCM URL (…#main)."""
    work = tmp_path / f"{name}-git"
    work.mkdir()
    (work / f"{name}.spec").write_text(
        # Source0 comes from the source command (make sources), not from git
        Package(name=name, extra="Source0: fetched.txt", build_requires=build_requires,
                prep="grep -q fetched %{SOURCE0}").spec())
    (work / "Makefile").write_text("sources:\n\techo fetched > fetched.txt\n")

    def git(*args: str, cwd: Path = work) -> str:
        return sh("git", "-c", "user.name=t", "-c", "user.email=t@t", *args,
                  cwd=cwd).stdout.strip()

    git("init", "-q", "-b", "main")
    git("add", ".")
    git("commit", "-q", "-m", "package")
    bare = tmp_path / f"{name}-serve" / f"{name}.git"
    bare.parent.mkdir()
    git("clone", "-q", "--bare", str(work), str(bare), cwd=tmp_path)
    git("update-server-info", cwd=bare)
    # podman creates its bridge (and 10.88.0.1) only when a container needs it; it is
    # the test host's own, in its own network namespace (tests/host/testhost)
    with served_directory(bare.parent, "0.0.0.0") as port:
        yield f"git+http://10.88.0.1:{port}/{name}.git#main"
