"""The machine's own network is never touched by the suite.

The test host runs in a network namespace of its own (tests/host/testhost,
`--private-network`): podman's bridge, netavark's firewall rules and every
test server live in there.  This test runs on the machine itself, outside
the test host: it takes the machine's links, addresses, routes and firewall
rules, runs a build with an SCM checkout (the one step whose container has
network) inside the test host, and checks that nothing of the machine's
changed, and that the test host's namespace is not the machine's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, require

TESTHOST = REPO / "tests" / "host" / "testhost"
SCM_BUILD_TEST = "tests/integration/test_builds.py::test_srpm_from_scm_then_its_binary_build"


def machine_network() -> dict[str, str]:
    """What the machine's own namespace has: links, addresses, routes, rules."""
    views = {
        "links": ["ip", "-o", "link", "show"],
        "addresses": ["ip", "-o", "address", "show"],
        "routes": ["ip", "route", "show", "table", "all"],
    }
    if shutil.which("nft"):
        views["nftables"] = ["nft", "list", "ruleset"]
    if shutil.which("iptables-save"):
        views["iptables"] = ["iptables-save"]
    found = {}
    for name, argv in views.items():
        done = subprocess.run(argv, capture_output=True, text=True, check=True)
        # iptables-save stamps its output with the time; the rules are the rest
        found[name] = "\n".join(line for line in done.stdout.splitlines()
                                if not line.startswith("#"))
    return found


def leader_of_testhost() -> int:
    status = subprocess.run([sys.executable, str(TESTHOST), "status"], capture_output=True,
                            text=True, check=False)
    assert status.returncode == 0, status.stdout + status.stderr
    return int(status.stdout.split("systemd pid ")[1].split(",")[0])


@pytest.fixture(scope="module")
def testhost_up() -> int:
    require(os.geteuid() == 0 and shutil.which("systemd-nspawn") is not None
            and shutil.which("ip") is not None,
            "needs root, systemd-nspawn and ip to boot the test host")
    subprocess.run([sys.executable, str(TESTHOST), "up"], check=True)
    return leader_of_testhost()


def test_the_test_host_has_its_own_network_namespace(testhost_up: int):
    ours = os.readlink("/proc/self/ns/net")
    theirs = os.readlink(f"/proc/{testhost_up}/ns/net")
    assert theirs != ours
    inside = subprocess.run([sys.executable, str(TESTHOST), "run", "ip", "-o", "link", "show"],
                            capture_output=True, text=True, check=True).stdout
    machine_links = {line.split(":")[1].strip() for line in machine_network()["links"]
                     .splitlines()}
    inside_links = {line.split(":")[1].strip() for line in inside.splitlines()}
    assert "lo" in inside_links
    # nothing of the machine's (its ethernet, its bridges) is in there
    assert not (inside_links - {"lo", "podman0"}) & (machine_links - {"lo"})


def test_a_build_with_network_leaves_the_machine_network_as_it_was(testhost_up: int):
    before = machine_network()
    env = dict(os.environ)
    build = subprocess.run(
        [sys.executable, str(TESTHOST), "run", "python3", "-m", "pytest", "-p",
         "no:cacheprovider", "-q", SCM_BUILD_TEST],
        capture_output=True, text=True, check=False, env=env, cwd=Path(REPO),
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-2000:]
    # the checkout fetched from 10.88.0.1, podman's bridge inside the test host
    # (netavark removes the bridge again when the last container using it ends)
    assert "1 passed" in build.stdout
    after = machine_network()
    for view in before:
        assert after[view] == before[view], f"the machine's {view} changed"
