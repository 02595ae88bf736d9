"""RPM builds by the daemon against the hub emulator, in the test host: a real
repo made by rpmbuild and createrepo_c, real buildroots in podman, the hub's
buildroot records and uploads checked."""

from __future__ import annotations

import contextlib
import http.server
import json
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest

from tests.integration.build_site import CACHE_LIMIT, DIST, FAILED_KEPT, TAG, Site
from tests.integration.conftest import containers_of, sh
from tests.integration.daemon_support import SLEEPTIME, wait_for
from tests.integration.gitrepo import served_git_package
from tests.integration.rpmrepo import Package, rpmbuild
from tests.integration.served import served_repo

pytestmark = pytest.mark.integration

@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    from tests.conftest import require
    from tests.integration.conftest import in_test_host

    require(in_test_host(), "needs the test host")
    with tempfile.TemporaryDirectory(prefix="adjutant-builds-") as tmp:
        site = Site(Path(tmp))
        try:
            yield site
        finally:
            site.close()


def test_an_arch_package_builds_from_the_tags_repo(site: Site):
    task_id = site.build_arch(site.srpm_of("greeter"))
    assert site.wait_done(task_id) == "CLOSED", site.result(task_id)
    result = site.result(task_id)
    base = f"tasks/{task_id % 10000}/{task_id}"
    assert result["rpms"] == [f"{base}/greeter-1.0-1{DIST}.x86_64.rpm"]
    assert result["srpms"] == []
    assert f"{base}/build.log" in result["logs"] and f"{base}/root.log" in result["logs"]
    assert site.upload(task_id, f"greeter-1.0-1{DIST}.x86_64.rpm").is_file()
    # the BuildRequires came from the repo, and the hub's buildroot says so
    installed = site.upload(task_id, "installed_pkgs.log").read_text()
    assert "libgreet-devel-1.0-1.x86_64" in installed
    assert re.search(r"^gcc-\S+\.x86_64 ", installed, re.M)  # the distribution's gcc
    buildroot = site.admin.buildroot(result["brootid"])
    assert buildroot["task_id"] == task_id and buildroot["repo_id"] == site.repo_id
    assert buildroot["state"] == 3  # koji.BR_STATES["EXPIRED"]
    # every package in the buildroot is on the hub's list, and nothing else is
    listed = sorted(f"{r['name']}-{r['version']}-{r['release']}.{r['arch']}"
                    for r in site.admin.buildroot_rpms(result["brootid"]))
    in_root = sorted(re.sub(r"-\d+:", "-", line.split()[0])  # NEVRA: name-[E:]V-R.A
                     for line in installed.splitlines() if line.strip())
    assert listed == in_root
    assert {"libgreet-devel", "libgreet", "gcc", "bash", "rpm"} <= {
        r["name"] for r in site.admin.buildroot_rpms(result["brootid"])}
    # the bootstrap image's own packages (dnf, python3, git) are not in it
    assert not {"dnf", "python3", "git"} & {
        r["name"] for r in site.admin.buildroot_rpms(result["brootid"])}
    state_log = site.upload(task_id, "state.log").read_text()
    assert "Note: building as mockbuild (uid 1000)" in state_log
    assert "Finish: rpmbuild" in state_log
    # the unit's journal of every step (the first build prepares the buildroot)
    journal = site.upload(task_id, "container.log").read_text()
    assert "Start: installing the buildroot group build" in journal
    assert "Finish: rpmbuild" in journal


def test_an_autotools_package_builds_with_kojis_host_triplet(site: Site):
    """%configure passes --host=%{_host}; kojid's <arch>-<mockhost> is a
    triplet config.sub takes (mockhost alone, koji-linux-gnu, is not)."""
    task_id = site.build_arch(site.srpm_of("hello-auto"))
    assert site.wait_done(task_id) == "CLOSED", site.result(task_id)
    build_log = site.upload(task_id, "build.log").read_text()
    assert "--host=x86_64-koji-linux-gnu" in build_log
    assert "CONFIGURED FOR host='x86_64-koji-linux-gnu'" in build_log
    assert [Path(p).name for p in site.result(task_id)["rpms"]] == [
        f"hello-auto-1.0-1{DIST}.x86_64.rpm"]


def test_a_noarch_package_with_keep_srpm(site: Site):
    task_id = site.build_arch(site.srpm_of("hello-docs"), arch="noarch", keep_srpm=True)
    assert site.wait_done(task_id) == "CLOSED", site.result(task_id)
    result = site.result(task_id)
    assert [Path(p).name for p in result["rpms"]] == [f"hello-docs-1.0-1{DIST}.noarch.rpm"]
    assert [Path(p).name for p in result["srpms"]] == [f"hello-docs-1.0-1{DIST}.src.rpm"]
    # the hub compares noarch builds of different arches by these hashes
    rpmdiff = f"tasks/{task_id % 10000}/{task_id}/noarch_rpmdiff.json"
    assert rpmdiff in result["logs"]
    hashes = json.loads((site.topdir / "work" / rpmdiff).read_text())
    assert list(hashes) == [str(task_id)]  # kojid's key: the task id
    assert list(hashes[str(task_id)]) == [f"hello-docs-1.0-1{DIST}.noarch.rpm"]


def test_dynamic_build_requirements_are_installed(site: Site):
    task_id = site.build_arch(site.srpm_of("dynamic-br"), arch="noarch")
    assert site.wait_done(task_id) == "CLOSED", site.result(task_id)


def test_logs_reach_the_hub_while_the_build_runs(site: Site):
    task_id = site.build_arch(site.slow_srpm.name, arch="noarch")
    build_log = site.upload(task_id, "build.log")
    wait_for(lambda: build_log.exists() and "HALFWAY THERE" in build_log.read_text(), 180,
             "build.log on the hub")
    assert site.state(task_id) == "OPEN", "the log must arrive before the task ends"
    assert site.wait_done(task_id) == "CLOSED", site.result(task_id)


@pytest.mark.parametrize("name,arch,words", [
    ("wants-network", "noarch", "rpmbuild failed"),
    ("needs-missing", "noarch", "could not install the build requirements: "
                                "no package provides libnope-devel"),
    ("broken-build", "noarch", "rpmbuild failed"),
    ("corrupt", "noarch", "corrupt-1.0-1.src.rpm is not a valid RPM"),
    ("only-aarch64", "x86_64", "only-aarch64-1.0-1 does not build on x86_64 "
                               "(ExclusiveArch: aarch64)"),
])
def test_failures_say_why(site: Site, name, arch, words):
    import koji

    task_id = site.build_arch(site.srpm_of(name), arch=arch)
    assert site.wait_done(task_id) == "FAILED"
    fault = site.result(task_id)
    assert isinstance(fault, koji.xmlrpcplus.Fault)
    assert fault.faultString.startswith(words), fault.faultString
    if name == "broken-build":
        assert "error: it broke" in fault.faultString  # the tail of build.log
    if name == "wants-network":
        assert "Network is unreachable" in fault.faultString, fault.faultString


def test_a_second_build_starts_from_the_cached_buildroot(site: Site):
    first = site.build_arch(site.srpm_of("hello-docs"), arch="noarch")
    assert site.wait_done(first) == "CLOSED"
    second = site.build_arch(site.srpm_of("hello-docs"), arch="noarch")
    assert site.wait_done(second) == "CLOSED"
    state_log = site.upload(second, "state.log").read_text()
    assert "Start: buildroot from the prepared root" in state_log
    assert "installing the buildroot group" not in state_log


@contextlib.contextmanager
def daemon_over_topurl(site: Site, address: str, name: str, **changes: object) -> Iterator[str]:
    """The site's daemon with topdir not mounted (an empty directory): the
    hub's files only over topurl, and a buildroot_dir of its own (`name`), so
    that its first build prepares its root over topurl too.  Yields the
    topurl; the daemon is as before afterwards."""
    unmounted = site.tmp / "unmounted-koji"
    unmounted.mkdir(exist_ok=True)
    roots = Path(f"{site.buildroot_dir}-{name}")
    topurl = site.hub.topurl_at(address)
    site.daemon.stop()
    site.write_config(topdir=unmounted, topurl=topurl, buildroot_dir=roots, **changes)
    site.daemon.start()
    try:
        yield topurl
    finally:
        # a task's clean-up (its view unmounted) comes after its close: wait for it,
        # as the daemon started next has another buildroot_dir
        wait_for(lambda: str(roots) not in Path("/proc/self/mountinfo").read_text(), 60,
                 "the tasks' views over topurl to be unmounted")
        site.daemon.stop()
        site.write_config()
        site.daemon.start()
        if str(roots) not in Path("/proc/self/mountinfo").read_text():
            shutil.rmtree(roots, ignore_errors=True)


@pytest.fixture
def over_topurl(site: Site, test_address: str) -> Iterator[str]:
    with daemon_over_topurl(site, test_address, "topurl") as topurl:
        yield topurl


class ForwardProxy(http.server.ThreadingHTTPServer):
    """An HTTP proxy on the test host's address: forwards each GET and keeps its URL."""

    def __init__(self, address: str) -> None:
        self.seen: list[str] = []
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy.seen.append(self.path)
                try:
                    with direct.open(self.path, timeout=60) as answer:
                        body, status = answer.read(), answer.status
                except urllib.error.HTTPError as error:
                    body, status = error.read(), error.code
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        super().__init__((address, 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://{self.server_address[0]}:{self.server_address[1]}"


def test_the_package_managers_downloads_go_through_yum_proxy(site: Site, test_address: str):
    proxy = ForwardProxy(test_address)
    repo_id = site.new_repo()  # in no cache yet
    try:
        with daemon_over_topurl(site, test_address, "proxy", yum_proxy=proxy.url) as topurl:
            task_id = site.build_arch(site.srpm_of("greeter"), repo_id=repo_id)
            assert site.wait_done(task_id) == "CLOSED", site.result(task_id)
    finally:
        proxy.shutdown()
        proxy.server_close()
    base = f"{topurl}/repos/{TAG}/{repo_id}/x86_64/"
    assert f"{base}repodata/repomd.xml" in proxy.seen
    assert any(url.endswith("/libgreet-devel-1.0-1.x86_64.rpm") for url in proxy.seen)
    assert all(url.startswith(base) for url in proxy.seen), proxy.seen
    assert f"--setopt=proxy={proxy.url}" in site.upload(task_id, "root.log").read_text()


def test_a_repo_over_topurl_builds_and_each_rpm_is_downloaded_once(site: Site,
                                                                    over_topurl: str):
    def repo_rpms_served() -> list[str]:
        return [p for p in site.hub.served(".rpm") if not p.startswith("/kojifiles/work/")]

    before = len(repo_rpms_served())
    first = site.build_arch(site.srpm_of("greeter"))
    assert site.wait_done(first) == "CLOSED", site.result(first)
    fetched = repo_rpms_served()[before:]
    # the build group and the BuildRequires, all from the hub's repo over topurl
    assert any("/libgreet-devel-1.0-1.x86_64.rpm" in p for p in fetched), fetched
    assert any("/bash-" in p for p in fetched) and len(fetched) == len(set(fetched))
    state_log = site.upload(first, "state.log").read_text()
    assert f"packages downloaded from {over_topurl}/repos/{TAG}/{site.repo_id}/x86_64" \
        in state_log
    installed = site.upload(first, "installed_pkgs.log").read_text()
    assert "libgreet-devel-1.0-1.x86_64" in installed

    # the next build on this host: its root is cached, its BuildRequires are in
    # the host's package cache; the hub serves it no rpm of the repo again
    middle = len(repo_rpms_served())
    second = site.build_arch(site.srpm_of("greeter"))
    assert site.wait_done(second) == "CLOSED", site.result(second)
    assert repo_rpms_served()[middle:] == []
    assert "Note: 0 packages of" not in site.upload(second, "state.log").read_text()
    assert "libgreet-devel-1.0-1.x86_64" in site.upload(second, "installed_pkgs.log").read_text()


def test_a_repo_the_hub_does_not_serve_fails_the_task_naming_the_url(site: Site,
                                                                     over_topurl: str):
    repo_id = site.admin.add_repo(TAG, rpms=site.repo_rpm_names(), groups=site.groups)
    task_id = site.build_arch(site.srpm_of("greeter"), repo_id=repo_id)
    assert site.wait_done(task_id) == "FAILED"
    url = f"{over_topurl}/repos/{TAG}/{repo_id}/x86_64/repodata/repomd.xml"
    assert site.result(task_id).faultString == f"cannot fetch {url}: HTTP 404 Not Found"


def test_a_build_requirement_from_an_external_repo_installs(site: Site, test_address: str):
    """A tag with an external repo (kojid's merge: mergerepo_c --koji): its
    package installs from the external repo's own URL, and the hub's
    buildroot list says it is external."""
    import koji

    work = site.tmp / "external"
    extra = Package(name="libextra-devel", arch="")
    [rpm] = [p for p in rpmbuild(extra.spec(), work) if not p.name.endswith(".src.rpm")]
    with served_repo(work / "www", [rpm], test_address) as url:
        tag = "adj-build-ext"
        site.admin.add_tag(tag, arches=("x86_64",), extra={"rpm.macro.dist": DIST})
        site.admin.add_external_repo("extra-repo", url)
        site.admin.add_tag_external_repo(tag, "extra-repo", 5)
        repo_id = site.admin.add_repo(tag, rpms=site.repo_rpm_names(), groups=site.groups)
        site.admin.createrepo(repo_id)
        user = Package(name="uses-extra", build_requires=("libextra-devel",))
        [srpm] = rpmbuild(user.spec(), work, binary=False)
        shutil.copy(srpm, site.topdir / "work" / "srpms" / srpm.name)
        task_id = site.admin.create_task("buildArch", [f"srpms/{srpm.name}", tag, "noarch",
                                                       False, {"repo_id": repo_id}])
        assert site.wait_done(task_id) == "CLOSED", site.result(task_id)
    installed = site.upload(task_id, "installed_pkgs.log").read_text()
    assert re.search(r"^libextra-devel-1\.0-1\S*\.x86_64 ", installed, re.M), installed
    listed = {r["name"]: r for r in site.admin.buildroot_rpms(site.result(task_id)["brootid"])}
    assert listed["libextra-devel"]["external_repo_name"] == "extra-repo"
    assert listed["bash"]["external_repo_id"] == 0  # kojihub's INTERNAL
    assert koji.BR_STATES["EXPIRED"] == site.admin.buildroot(
        site.result(task_id)["brootid"])["state"]


def add_tag_with_repo(site: Site, tag: str, extra: dict) -> int:
    site.admin.add_tag(tag, arches=("x86_64",), extra=extra)
    repo_id = site.admin.add_repo(tag, rpms=site.repo_rpm_names(), groups=site.groups)
    site.admin.createrepo(repo_id)
    return repo_id


def make_image_with_a_foreign_rpm(site: Site, image: str) -> str:
    """An image like the buildroot image, with one RPM that no Koji repo has
    (as a Fedora base image has its own): its NVRA."""
    [rpm] = [p for p in rpmbuild(Package(name="from-the-image").spec(), site.tmp / "foreign")
             if not p.name.endswith(".src.rpm")]
    sh("podman", "run", "--name", "make-alt", "--replace", "--network=none",
       "-v", f"{rpm.parent}:/in:ro", "localhost/adjutant-buildroot:trixie",
       "rpm", "-i", "--nodeps", f"/in/{rpm.name}")
    sh("podman", "commit", "--quiet", "make-alt", image)
    sh("podman", "rm", "make-alt")
    return rpm.name[: -len(".rpm")]


def test_the_tags_image_policy_chooses_the_image(site: Site):
    foreign = make_image_with_a_foreign_rpm(site, "localhost/adjutant-alt:1")
    policy = [{"tag": "adj-policy", "arch": "x86_64", "image": "localhost/adjutant-alt:1"},
              {"image": "localhost/never-used:1"}]
    repo_id = add_tag_with_repo(site, "adj-policy", {"adjutant.image_policy": policy})
    task_id = site.admin.create_task("buildArch", [f"srpms/{site.srpm_of('hello-docs')}",
                                                   "adj-policy", "noarch", False,
                                                   {"repo_id": repo_id}])
    assert site.wait_done(task_id) == "CLOSED", site.result(task_id)
    state_log = site.upload(task_id, "state.log").read_text()
    assert "(bootstrap image localhost/adjutant-alt:1)" in state_log
    # the image only bootstraps: its own RPM is not in the buildroot at all
    assert foreign not in site.upload(task_id, "installed_pkgs.log").read_text()
    assert "not in the hub's buildroot list" not in state_log
    listed = {r["name"] for r in site.admin.buildroot_rpms(site.result(task_id)["brootid"])}
    assert "from-the-image" not in listed and "bash" in listed


def test_builds_starting_together_prepare_one_buildroot(site: Site):
    repo_id = add_tag_with_repo(site, "adj-together", {})
    srpm = f"srpms/{site.srpm_of('hello-docs')}"
    params = [srpm, "adj-together", "noarch", False, {"repo_id": repo_id}]
    tasks = [site.admin.create_task("buildArch", params) for _ in range(2)]
    for task_id in tasks:
        assert site.wait_done(task_id) == "CLOSED", site.result(task_id)
    notes = [site.upload(t, "state.log").read_text() for t in tasks]
    assert sum("Start: buildroot prepared into" in n for n in notes) == 1
    assert sum("Start: buildroot from the prepared root" in n for n in notes) == 1


def fault_on_new_tag(site: Site, tag: str, policy: object) -> str:
    """Build hello-docs on a new tag with this image policy; it must fail: the text."""
    import koji

    repo_id = add_tag_with_repo(site, tag, {"adjutant.image_policy": policy})
    srpm = f"srpms/{site.srpm_of('hello-docs')}"
    task_id = site.admin.create_task("buildArch", [srpm, tag, "noarch", False,
                                                   {"repo_id": repo_id}])
    assert site.wait_done(task_id) == "FAILED"
    fault = site.result(task_id)
    assert isinstance(fault, koji.xmlrpcplus.Fault)
    return fault.faultString


def test_a_missing_image_fails_the_task_naming_it(site: Site):
    text = fault_on_new_tag(site, "adj-missing",
                            [{"tag": "adj-missing", "image": "localhost/no-such-builder:1"}])
    assert text.startswith("cannot pull image localhost/no-such-builder:1: ")


def test_a_bad_image_policy_fails_the_task_naming_the_tag(site: Site):
    text = fault_on_new_tag(site, "adj-badpolicy", [{"tag": "x"}])
    assert text == "tag adj-badpolicy: adjutant.image_policy rule 1 has no image"


def test_rebuild_srpm_applies_the_tags_macros(site: Site):
    task_id = site.admin.create_task("rebuildSRPM", [f"srpms/{site.srpm_of('hello-docs')}", TAG,
                                                     {"repo_id": site.repo_id}])
    assert site.wait_done(task_id) == "CLOSED", site.result(task_id)
    result = site.result(task_id)
    assert Path(result["srpm"]).name == f"hello-docs-1.0-1{DIST}.src.rpm"
    assert result["brootid"]


def test_the_hub_imports_what_the_build_tasks_returned(site: Site):
    """What kojid's parent build task does with its children's results:
    initBuild, then completeBuild with the SRPM, the RPMs, the buildroot map and
    the logs, which the hub's import_build checks and moves into place."""
    import koji

    srpm_task = site.admin.create_task("rebuildSRPM", [f"srpms/{site.srpm_of('greeter')}", TAG,
                                                      {"repo_id": site.repo_id}])
    assert site.wait_done(srpm_task) == "CLOSED", site.result(srpm_task)
    srpm = site.result(srpm_task)
    params = [srpm["srpm"], TAG, "x86_64", False, {"repo_id": site.repo_id}]
    arch_task = site.admin.create_task("buildArch", params, arch="x86_64")
    assert site.wait_done(arch_task) == "CLOSED", site.result(arch_task)
    built = site.result(arch_task)

    # a second host plays the parent `build` task's part
    site.admin.add_host("parent.example.com", channels=("createrepo",), password="p")
    parent = site.admin.create_task("build", ["git+https://x/greeter.git#1", TAG, {}],
                                    channel="createrepo")
    site.admin.assign(parent, "parent.example.com")
    session = koji.ClientSession(site.hub.url, {"user": "parent.example.com", "password": "p"})
    session.login()
    session.exclusiveSession()
    session.host.openTask(parent)
    data = {"name": "greeter", "version": "1.0", "release": f"1{DIST}", "epoch": None,
            "task_id": parent, "source": srpm["source"]["source"], "extra": None}
    build_id = session.host.initBuild(data)
    brmap = {srpm["srpm"]: srpm["brootid"], **{r: built["brootid"] for r in built["rpms"]}}
    session.host.completeBuild(parent, build_id, srpm["srpm"], built["rpms"], brmap,
                               {"src": srpm["logs"], "x86_64": built["logs"]})
    build = site.admin.build(build_id)
    assert build["state"] == koji.BUILD_STATES["COMPLETE"]
    packages = site.topdir / "packages" / "greeter" / "1.0" / f"1{DIST}"
    assert (packages / "x86_64" / f"greeter-1.0-1{DIST}.x86_64.rpm").is_file()
    assert (packages / "src" / f"greeter-1.0-1{DIST}.src.rpm").is_file()
    assert (packages / "data" / "logs" / "x86_64" / "build.log").is_file()


@pytest.fixture
def git_server(tmp_path: Path) -> Iterator[str]:
    with served_git_package(tmp_path) as url:
        yield url


def test_srpm_from_scm_then_its_binary_build(site: Site, git_server: str):
    task_id = site.admin.create_task("buildSRPMFromSCM", [git_server, TAG,
                                                          {"repo_id": site.repo_id}])
    assert site.wait_done(task_id) == "CLOSED", site.result(task_id)
    result = site.result(task_id)
    assert Path(result["srpm"]).name == f"pkgfromgit-1.0-1{DIST}.src.rpm"
    commit = result["source"]["source"].rsplit("#", 1)[1]
    assert len(commit) == 40 and result["source"]["url"] == git_server
    assert "checkout.log" in [Path(p).name for p in result["logs"]]
    # the parent build task would hand this SRPM to buildArch
    binary = site.admin.create_task("buildArch", [result["srpm"], TAG, "noarch", False,
                                                  {"repo_id": site.repo_id}])
    assert site.wait_done(binary) == "CLOSED", site.result(binary)


def test_an_scm_not_allowed_is_refused_with_a_reason(site: Site):
    import koji

    task_id = site.admin.create_task("buildSRPMFromSCM", [
        "git+https://elsewhere.example.org/pkg.git#main", TAG, {"repo_id": site.repo_id}])
    assert site.wait_done(task_id) == "FAILED"
    fault = site.result(task_id)
    assert isinstance(fault, koji.xmlrpcplus.Fault)
    assert "is not in the list of allowed SCMs" in fault.faultString


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_a_build_survives_the_daemon_going_away(site: Site, how: str):
    task_id = site.build_arch(site.slow_srpm.name, arch="noarch")
    build_log = site.upload(task_id, "build.log")
    wait_for(lambda: build_log.exists() and "HALFWAY THERE" in build_log.read_text(), 180,
             "the build to be under way")
    if how == "SIGKILL":
        site.daemon.kill()
    else:
        site.daemon.terminate()  # systemctl stop: a restart of adjutant mid-build
        brootid = site.admin.buildroots(taskID=task_id)[0]["id"]
        import koji

        assert site.admin.buildroot(brootid)["state"] == koji.BR_STATES["BUILDING"]
    site.daemon.start()
    assert site.wait_done(task_id) == "CLOSED", site.result(task_id)
    assert site.admin.count_calls("host.newBuildRoot", task_id) == 1
    assert site.admin.count_calls("host.closeTask", task_id) == 1
    assert site.admin.count_calls("host.freeTasks", task_id) == 0
    result = site.result(task_id)
    assert site.admin.buildroot(result["brootid"])["state"] == 3  # EXPIRED


def test_the_tags_mock_extras_change_what_the_buildroot_does(site: Site):
    """mock.releasever and mock.yum.module_hotfixes shape the package manager's
    command (root.log says it), other mock.* keys are named as not applicable,
    and mock.package_manager / mock.bootstrap_image choose what runs."""
    extras = {"mock.releasever": "42", "mock.yum.module_hotfixes": 1, "mock.new_chroot": 0}
    site.admin.set_tag_extra(TAG, **extras)
    try:
        repo_id = site.new_repo()
    finally:
        site.admin.remove_tag_extra(TAG, *extras)
    task_id = site.build_arch(site.srpm_of("greeter"), repo_id=repo_id)
    assert site.wait_done(task_id) == "CLOSED", site.result(task_id)
    root_log = site.upload(task_id, "root.log").read_text()
    assert "--releasever=42" in root_log and "--setopt=koji.module_hotfixes=1" in root_log
    assert "builddep /adjutant/input.src.rpm" in root_log
    state_log = site.upload(task_id, "state.log").read_text()
    assert "not applicable here: mock.new_chroot" in state_log

    for key, value, words in [
        ("mock.bootstrap_image", "localhost/adj-none:1", "localhost/adj-none:1"),
        # the test image has dnf 4 only: the tag asked for dnf5, and dnf5 it got
        ("mock.package_manager", "dnf5", "dnf5: command not found"),
    ]:
        site.admin.set_tag_extra(TAG, **{key: value})
        try:
            repo_id = site.new_repo()
        finally:
            site.admin.remove_tag_extra(TAG, key)
        task_id = site.build_arch(site.srpm_of("greeter"), repo_id=repo_id)
        assert site.wait_done(task_id) == "FAILED"
        assert words in str(site.result(task_id)), site.result(task_id)


def test_a_failed_builds_work_directory_is_kept_for_its_lifetime(site: Site):
    task_id = site.build_arch(site.srpm_of("broken-build"), arch="noarch")
    assert site.wait_done(task_id) == "FAILED"
    workdir = site.workdir_of(task_id)
    wait_for(lambda: f"its work directory {workdir} is kept until" in site.daemon.journal(),
             10, "the daemon to say where the failed build is kept")
    failed_at = time.monotonic()
    assert (workdir / "result" / "build.log").is_file()
    assert not task_units(task_id) and not containers_of(task_id)
    took = wait_for(lambda: not workdir.exists(), FAILED_KEPT + 10, "the kept directory to go")
    assert time.monotonic() - failed_at >= FAILED_KEPT - 2, f"removed after {took:.1f} s"


def test_an_i686_build_finds_its_i386_repo_and_sees_a_32_bit_machine(site: Site):
    tag, repo_id, srpm = site.tag_32bit()
    task_id = site.admin.create_task("buildArch", [f"srpms/{srpm.name}", tag, "i686", False,
                                                   {"repo_id": repo_id}],
                                     arch="i386")  # kojid: the subtask arch is canonical
    assert site.wait_done(task_id) == "CLOSED", site.result(task_id)
    result = site.result(task_id)
    assert [Path(p).name for p in result["rpms"]] == [f"arch-probe-1.0-1{DIST}.i686.rpm"]
    build_log = site.upload(task_id, "build.log").read_text()
    assert "UNAME i686" in build_log  # the 32-bit personality, as mock's setarch
    assert "TARGET i686 i686-koji-linux-gnu" in build_log  # %_host as kojid sets it
    assert "LONG_BIT 32" in build_log and "GCC 32-bit" in build_log  # an i686 root's tools
    assert site.admin.buildroot(result["brootid"])["arch"] == "i386"
    # every package of the root is the tag's i686 or noarch one, on the hub's list
    listed = site.admin.buildroot_rpms(result["brootid"])
    assert listed and {r["arch"] for r in listed} <= {"i686", "noarch"}, listed


def task_units(task_id: int) -> list[str]:
    """The task's units systemd has loaded, in any state."""
    listed = sh("systemctl", "list-units", "--all", "--plain", "--no-legend",
                f"adjutant-task-{task_id}.service").stdout
    return [line.split()[0] for line in listed.splitlines() if line.strip()]


def container_command(task_id: int) -> str:
    return sh("podman", "ps", "--no-trunc", "--format", "{{.Command}}",
              "--filter", f"label=io.adjutant.task={task_id}").stdout.strip()


def cancel_and_watch(site: Site, task_id: int, cancel: Callable[[], object]) -> float:
    """Cancel a running build; returns the seconds until its container was gone.
    While the container is there its work dir must be too; afterwards the task
    is CANCELED, no unit of it is loaded and its work dir is removed."""
    workdir = site.workdir_of(task_id)
    assert workdir.is_dir() and containers_of(task_id)
    cancel()
    start = time.monotonic()
    while containers_of(task_id):
        assert workdir.is_dir(), "the work dir was removed while the container ran"
        assert time.monotonic() - start < SLEEPTIME + 2, "the container outlived poll + 2 s"
    gone = time.monotonic() - start
    assert site.state(task_id) == "CANCELED"
    wait_for(lambda: not task_units(task_id), 5, f"no unit of task {task_id} loaded")
    wait_for(lambda: not workdir.exists(), 5, f"the work dir of task {task_id} to go")
    assert site.admin.count_calls("host.closeTask", task_id) == 0
    assert site.admin.count_calls("host.failTask", task_id) == 0
    # its buildroot, if it had one yet, is expired (kojid's updateBuildroots)
    wait_for(lambda: all(b["state"] == 3 for b in site.admin.buildroots(taskID=task_id)), 5,
             f"the buildroot of task {task_id} to be EXPIRED")
    print(f"cancel to container gone: {gone:.2f} s")
    return gone


def hub_log_has(site: Site, task_id: int, name: str, text: str) -> bool:
    path = site.upload(task_id, name)
    return path.is_file() and text in path.read_text(errors="replace")


@pytest.mark.parametrize("what", ["buildArch", "parent"])
def test_cancel_during_rpmbuild(site: Site, what: str):
    parent = site.parent_task() if what == "parent" else None
    task_id = site.build_arch(site.long_srpm.name, arch="noarch", parent=parent)
    wait_for(lambda: hub_log_has(site, task_id, "build.log", "long line 3"), 120,
             "rpmbuild to be under way (its build.log on the hub)")
    cancel_and_watch(site, task_id, lambda: site.admin.cancel(parent or task_id))
    if parent is not None:
        assert site.state(parent) == "CANCELED"


def test_cancel_during_the_buildroot_preparation(site: Site):
    roots = site.buildroot_dir / "roots"

    def prepared() -> set[str]:
        return {p.name for p in roots.iterdir() if p.is_dir()} if roots.is_dir() else set()

    before = prepared()
    repo_id = site.new_repo(slow_setup=True)
    task_id = site.build_arch(site.long_srpm.name, arch="noarch", repo_id=repo_id)
    # the group's slow-setup package holds the preparation for 20 s
    wait_for(lambda: "/adjutant/prepare.sh" in container_command(task_id), 120,
             "the buildroot preparation to be under way")
    cancel_and_watch(site, task_id, lambda: site.admin.cancel(task_id))
    # the half-made buildroot was not kept, nor its view
    wait_for(lambda: prepared() == before, 5, "the unfinished preparation to go")
    assert not (site.buildroot_dir / "views" / str(task_id)).exists()


def test_cancel_during_the_result_upload(site: Site):
    """The build's container is done; its RPM is on its (slow) way to the hub."""
    site.admin.slow_down("upload:.rpm", 8, times=3)
    try:
        task_id = site.build_arch(site.srpm_of("hello-docs"), arch="noarch")
        wait_for(lambda: site.admin.slowed_left("upload:.rpm") < 3, 120,
                 "the RPM's upload to be under way")
        assert not containers_of(task_id)
        site.admin.cancel(task_id)
        took = wait_for(lambda: not site.workdir_of(task_id).exists()
                        and not task_units(task_id), SLEEPTIME + 2,
                        "the task to be let go")
    finally:
        site.admin.slow_down("upload:.rpm", 0, times=0)
    print(f"cancel during the upload to the task let go: {took:.2f} s")
    assert site.state(task_id) == "CANCELED"
    assert site.admin.count_calls("host.closeTask", task_id) == 0
    assert site.admin.count_calls("host.failTask", task_id) == 0
    again = site.build_arch(site.srpm_of("hello-docs"), arch="noarch")
    assert site.wait_done(again) == "CLOSED", site.result(again)


def test_an_upload_refused_before_the_poll_sees_the_cancel(site: Site):
    """With a 30 s poll, the hub's refusal of the task's log upload is what the
    daemon sees first: it polls at once and stops the task as a cancel, rather
    than failing it with the refusal and leaving its unit behind."""
    config = site.daemon.config_file
    normal = config.read_text()
    site.daemon.stop()
    config.write_text(normal.replace(f"sleeptime = {SLEEPTIME}\n", "sleeptime = 30\n"))
    try:
        site.daemon.start()
        task_id = site.build_arch(site.long_srpm.name, arch="noarch")
        wait_for(lambda: hub_log_has(site, task_id, "build.log", "long line 3"), 120,
                 "rpmbuild to be under way")
        cancel_and_watch(site, task_id, lambda: site.admin.cancel(task_id))
    finally:
        site.daemon.stop()
        config.write_text(normal)
        site.daemon.start()


def test_adjutant_shell_runs_a_command_in_a_running_build(site: Site):
    """adjutant shell TASK -- CMD: into the build's own container, as the
    step's user (the build user, never root)."""
    import sys

    task_id = site.build_arch(site.long_srpm.name, arch="noarch")
    try:
        wait_for(lambda: hub_log_has(site, task_id, "build.log", "long line 3"), 120,
                 "rpmbuild to be under way")
        shown = subprocess.run([sys.executable, "-m", "adjutant", "shell",
                                "--config", str(site.daemon.config_file), str(task_id),
                                "--", "sh", "-c", "id -u; pwd"],
                               capture_output=True, text=True, check=False)
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout.split() == ["1000", "/builddir"]
    finally:
        cancel_and_watch(site, task_id, lambda: site.admin.cancel(task_id))


def build_local(site: Site, tmp_path: Path, address: str,
                name: str) -> subprocess.CompletedProcess[str]:
    """`adjutant build-local` of the package `name`, as a packager runs it:
    the hub's files over topurl only (no topdir here), results in out/."""
    import sys

    from tests.integration.daemon_support import write_config

    (tmp_path / "koji").mkdir()
    config = write_config(tmp_path, site.hub, topurl=site.hub.topurl_at(address))
    return subprocess.run(
        [sys.executable, "-m", "adjutant", "build-local", str(site.packages.srpms[name]),
         "--tag", TAG, "--resultdir", str(tmp_path / "out"), "--config", str(config)],
        capture_output=True, text=True, check=False)


def left_of_local_build(tmp_path: Path, output: str) -> list[str]:
    """What a local build left behind: its units, containers, scratch."""
    from adjutant.config import load

    [task_id] = set(re.findall(r"started as adjutant-task-(\d+)\.service", output))
    assert int(task_id) >= 2**31  # above any Koji task id
    unit = f"adjutant-task-{task_id}.service"
    left = sh("systemctl", "list-units", "--all", "--no-legend", unit).stdout.split()[:1]
    left += [n for n in sh("podman", "ps", "--all", "--format", "{{.Names}}").stdout.split()
             if n == f"adjutant-task-{task_id}"]
    scratch = load(tmp_path / "kojid.conf").buildroot_dir / "local"
    return left + [str(p) for p in scratch.iterdir()]


def test_build_local_rebuilds_in_the_tags_buildroot_with_no_hub_task(
        site: Site, tmp_path: Path, test_address: str):
    """`adjutant build-local` beside the running daemon: the buildroot a
    buildArch's from the tag's repo over topurl, the RPMs and logs in
    --resultdir; the hub only read (no task, no buildroot record)."""
    tasks, buildroots = len(site.admin.tasks()), site.admin.count_calls("host.newBuildRoot")
    import koji

    # the tag's newest READY repo, as the hub gives it to any client
    repo_id = koji.ClientSession(site.hub.url).getRepo(TAG, state=koji.REPO_READY)["id"]
    built = build_local(site, tmp_path, test_address, "greeter")
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    assert f"greeter-1.0-1 for x86_64 in tag {TAG}'s repo {repo_id} from {site.hub.url}" \
        in built.stdout
    steps = re.findall(r"\] (\S+): started as adjutant-task-", built.stdout)
    assert steps == ["buildroot-prepare", "deps", "build"], built.stdout
    out = tmp_path / "out"
    assert (out / f"greeter-1.0-1{DIST}.x86_64.rpm").is_file()
    assert f"wrote {out}/greeter-1.0-1{DIST}.x86_64.rpm" in built.stdout
    assert "libgreet-devel" in (out / "root.log").read_text()  # from the tag's repo
    assert (out / "build.log").is_file() and (out / "state.log").is_file()
    assert len(site.admin.tasks()) == tasks
    assert site.admin.count_calls("host.newBuildRoot") == buildroots
    assert site.hub.served(f"/repos/{TAG}/{repo_id}/x86_64/repodata/repomd.xml")
    assert left_of_local_build(tmp_path, built.stdout) == []


def test_build_local_says_why_a_build_failed(site: Site, tmp_path: Path, test_address: str):
    failed = build_local(site, tmp_path, test_address, "needs-missing")
    assert failed.returncode == 1, failed.stdout
    assert failed.stderr.startswith(
        "adjutant: build-local of needs-missing-1.0-1.src.rpm failed: could not install the "
        "build requirements: no package provides libnope-devel"), failed.stderr
    assert f"logs: {tmp_path / 'out'}/" in failed.stdout
    assert "libnope-devel" in (tmp_path / "out" / "root.log").read_text()
    assert left_of_local_build(tmp_path, failed.stdout) == []

def test_no_build_left_a_container_or_unit(site: Site):
    time.sleep(0)  # runs last in this module: every task above has finished
    leftovers = sh("podman", "ps", "--all", "--format", "{{.Names}}").stdout.split()
    assert [n for n in leftovers if n.startswith("adjutant-task-")] == []
    units = sh("systemctl", "list-units", "--all", "--plain", "--no-legend",
               "adjutant-task-*").stdout
    assert units == ""
    assert subprocess.run(["podman", "image", "exists", "localhost/adjutant-buildroot:trixie"],
                          check=False).returncode == 0
    # this module prepared more buildroots than the limit; the daemon kept the limit
    roots = site.buildroot_dir / "roots"
    index = json.loads((roots / "index.json").read_text())
    assert 1 <= len(index) <= CACHE_LIMIT, index
    # (a failed preparation's unfinished root stays with its failed task)
    present = {p.name for p in roots.iterdir() if (p / "root").is_dir()
               and ".partial-" not in p.name}
    assert set(index) == present
    # no task's view is left mounted or on disk
    assert not (site.buildroot_dir / "views").exists() or \
        list((site.buildroot_dir / "views").iterdir()) == []
    assert str(site.buildroot_dir) not in Path("/proc/self/mountinfo").read_text()


def test_adjutant_files_and_prune_on_a_kept_failed_build(site: Site):
    """A failed build's kept work directory: `adjutant files` says where it
    and the task's other files are; `adjutant prune --all` removes it now
    (and every prepared root not in use: so after the check of the cache)."""
    import sys

    task_id = site.build_arch(site.srpm_of("broken-build"), arch="noarch")
    assert site.wait_done(task_id) == "FAILED"
    workdir = site.workdir_of(task_id)
    wait_for(lambda: f"its work directory {workdir} is kept until" in site.daemon.journal(),
             10, "the daemon to keep the failed build")
    config = str(site.daemon.config_file)
    shown = subprocess.run([sys.executable, "-m", "adjutant", "files", str(task_id),
                            "--config", config], capture_output=True, text=True, check=False)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == f"task {task_id}: unit adjutant-task-{task_id}.service " \
        "(systemctl status, journalctl -u)"
    [work] = [line for line in lines if "work directory (the containers')" in line]
    assert work.endswith(f"{workdir}  [present]"), shown.stdout
    assert any("kept failed work directory record" in line and line.endswith("[present]")
               for line in lines), shown.stdout
    pruned = subprocess.run([sys.executable, "-m", "adjutant", "prune", "--all",
                             "--config", config], capture_output=True, text=True, check=False)
    assert pruned.returncode == 0, pruned.stderr
    assert not workdir.exists(), pruned.stdout
    assert str(task_id) in pruned.stdout, pruned.stdout
