"""The cgroup v2 test host: the Debian 13 test-host root booted as a QEMU VM.

nspawn on this machine's kernel can give a guest only cgroup v1 (its
controllers are bound to v1 hierarchies), so the hosts Koji sites mostly run
(Fedora, EL9, EL10: the unified hierarchy) are tested in a VM instead:

- the root is the nspawn host's, plus Debian's kernel, made into a raw
  ext4 image once (`mke2fs -d`) and booted with `snapshot=on`, so every boot
  starts from the pristine image and `down` throws the changes away;
- Debian's generic kernel boots the image without a bootloader (its initrd
  brings NVMe); 9p and overlay are modules of the root, loaded at boot;
- the working tree (read-only), the build directory (read-only) and a control
  directory are shared in with 9p (QEMU's -virtfs);
- there is no network device at all: commands go in, and their output and
  exit status come out, through the control directory (vm_agent.py).

TCG (no KVM) runs it: on these machines KVM is nested in a microVM and does
not work (with -cpu host: "KVM internal error. Suberror: 1" before the first
console line; with -cpu max, an MSR refused); ADJUTANT_TESTHOST_ACCEL=kvm
tries it where it may.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Callable, Optional

from adjutant.process import run, spawn

MEMORY_MIB = 6144
DISK_SIZE = "16G"  # sparse; the boot's writes go to QEMU's snapshot file
CTL_MOUNT = "/var/lib/adjutant-vm"  # the control directory, inside
TIME_SCALE = "4"  # for tests/integration's waits
BOOT_TIMEOUT = 900  # seconds: TCG boots in about two minutes, a slow machine in more

FSTAB = "/dev/nvme0n1 / ext4 rw,relatime 0 1\n"
# The shares are mounted by the agent's unit, late: an fstab 9p mount runs
# before udev has bound the virtio devices, and fails the boot.
SHARES = (("src", "/src", "ro"), ("build", "{build}", "ro"), ("ctl", "{ctl}", "rw"))
MOUNT_OPTIONS = "trans=virtio,version=9p2000.L,msize=524288,cache=none"
MODULES = "virtio_pci\n9pnet_virtio\n9p\noverlay\n"
AGENT_UNIT = """\
[Unit]
Description=adjutant's test host agent (runs what tests/host/testhost --vm run asks)
After=multi-user.target

[Service]
ExecStartPre=/usr/sbin/modprobe -a virtio_pci 9pnet_virtio 9p overlay
{mounts}
ExecStart=/usr/bin/python3 /src/tests/host/vm_agent.py {ctl}

[Install]
WantedBy=multi-user.target
"""


def recipe() -> str:
    """What of this file goes into the built disk image (for the build key)."""
    import inspect

    parts = [FSTAB, repr(SHARES), MOUNT_OPTIONS, MODULES, AGENT_UNIT, DISK_SIZE,
             inspect.getsource(finish_root), inspect.getsource(import_images)]
    return "\n".join(parts)


def finish_root(root: Path, work: Path, build_mount: str) -> None:
    """The VM's own files in the root: where the shares mount, the modules the
    shares and podman need, the agent; the kernel and initrd copied out."""
    (root / "etc/fstab").write_text(FSTAB)
    for path in ("/src", build_mount, CTL_MOUNT, "/mnt/koji"):
        (root / path.lstrip("/")).mkdir(parents=True, exist_ok=True)
    (root / "etc/modules-load.d").mkdir(parents=True, exist_ok=True)
    (root / "etc/modules-load.d/adjutant-vm.conf").write_text(MODULES)
    (root / "etc/hostname").write_text("adjutant-testvm\n")
    units = root / "etc/systemd/system"
    mounts = "\n".join(
        f"ExecStartPre=/usr/bin/mount -t 9p -o {MOUNT_OPTIONS},{mode} {tag} "
        + path.format(build=build_mount, ctl=CTL_MOUNT) for tag, path, mode in SHARES)
    (units / "adjutant-vm-agent.service").write_text(
        AGENT_UNIT.format(mounts=mounts, ctl=CTL_MOUNT))
    wants = units / "multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    link = wants / "adjutant-vm-agent.service"
    if not link.is_symlink():
        link.symlink_to("../adjutant-vm-agent.service")
    kernels = sorted((root / "boot").glob("vmlinuz-*"))
    if not kernels:
        raise SystemExit(f"testhost: no kernel in {root / 'boot'}")
    shutil.copy2(kernels[-1], work / "vmlinuz")
    initrds = sorted((root / "boot").glob("initrd.img-*"))
    if initrds:
        shutil.copy2(initrds[-1], work / "initrd.img")


def import_images(root: Path, images: list[tuple[str, Path]]) -> None:
    """`podman import` of the buildroot images into the root's own storage, in a
    chroot, here: in the VM, under TCG, one import takes minutes."""
    bound = root / "var/tmp/adjutant-images"
    # the root a mount point of its own: podman's layer unpacking remounts /
    mounts = [(["--bind", str(root)], root),
              (["-t", "proc", "proc"], root / "proc"), (["--bind", "/dev"], root / "dev"),
              (["-t", "tmpfs", "tmpfs"], root / "run"),
              (["--bind", str(images[0][1].parent)], bound)]
    done = []
    try:
        for how, where in mounts:
            where.mkdir(parents=True, exist_ok=True)
            run(["mount", *how, str(where)])
            done.append(where)
        for name, tarball in images:
            run(["chroot", str(root), "env", "PODMAN_IGNORE_CGROUPSV1_WARNING=1",
                 "podman", "--storage-driver=overlay", "--cgroup-manager",
                 "cgroupfs", "--events-backend", "none", "import", "-q",
                 f"/var/tmp/adjutant-images/{tarball.name}", name])
    finally:
        for where in reversed(done):
            run(["umount", "--lazy", str(where)])
    bound.rmdir()


def make_disk(root: Path, work: Path) -> None:
    """The root as a raw ext4 image (the root directory is then not needed)."""
    run(["mke2fs", "-q", "-t", "ext4", "-L", "adjutant-vm", "-d", str(root),
         str(work / "root.img"), DISK_SIZE])
    shutil.rmtree(root)


def qemu_argv(done: Path, repo: Path, ctl: Path, console: Path, accel: str) -> list[str]:
    """The VM: 2 CPUs, the disk as NVMe, three 9p shares, no network."""
    argv = [
        "qemu-system-x86_64", "-name", "adjutant-testvm", "-machine", "q35",
        # a bigger translation cache than the default: fewer retranslations
        "-accel", "tcg,thread=multi,tb-size=1024" if accel == "tcg" else "kvm",
        "-cpu", "max" if accel == "tcg" else "host", "-smp", "2", "-m", str(MEMORY_MIB),
        "-display", "none", "-monitor", "none", "-serial", f"file:{console}",
        "-no-reboot", "-nic", "none",
        "-kernel", str(done / "vmlinuz"),
        "-append", "root=/dev/nvme0n1 rw console=ttyS0 panic=-1 "
                   "systemd.unified_cgroup_hierarchy=1",
        "-drive", f"file={done / 'root.img'},if=none,id=disk,format=raw,snapshot=on",
        "-device", "nvme,serial=adjutant0,drive=disk",
    ]
    if (done / "initrd.img").exists():
        argv += ["-initrd", str(done / "initrd.img")]
    for tag, path, readonly in (("src", repo, True), ("build", done, True), ("ctl", ctl, False)):
        argv += ["-virtfs", f"local,path={path},mount_tag={tag},security_model=none"
                 + (",readonly=on" if readonly else "")]
    return argv


class Guest:
    """The running VM, through its run directory."""

    def __init__(self, run_dir: Path, *, environment: dict[str, str]) -> None:
        self.run_dir = run_dir
        self.ctl = run_dir / "ctl"
        # TCG is several times slower: the tests' waits allow for it
        self.environment = {**environment, "ADJUTANT_TEST_TIME_SCALE": TIME_SCALE}
        self._ids = itertools.count()

    def qemu_pid(self) -> Optional[int]:
        try:
            pid = int((self.run_dir / "qemu").read_text())
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except (OSError, ValueError):
            return None
        return pid if comm.startswith("qemu") else None

    def running(self) -> bool:
        return self.qemu_pid() is not None and (self.ctl / "ready").exists()

    def up(self, done: Path, repo: Path, build_mount: str, images: list[tuple[str, str]],
           say: Callable[[str], None]) -> None:
        booted = (self.run_dir / "booted").read_text().strip() \
            if (self.run_dir / "booted").exists() else ""
        if self.running() and booted == f"{done} {repo}":
            say(f"test VM already up (qemu pid {self.qemu_pid()})")
            return
        self.down(say, quiet=True)
        for sub in ("req", "out"):
            (self.ctl / sub).mkdir(parents=True)
        accel = os.environ.get("ADJUTANT_TESTHOST_ACCEL", "tcg")
        console = self.run_dir / "console.log"
        say(f"booting the test VM (QEMU, {accel}; console: {console})")
        started = time.monotonic()
        with (self.run_dir / "qemu.log").open("w") as out:
            proc = spawn(qemu_argv(done, repo, self.ctl, console, accel), output=out)
        (self.run_dir / "qemu").write_text(f"{proc.pid}\n")
        deadline = started + BOOT_TIMEOUT
        while not (self.ctl / "ready").exists():
            if proc.poll() is not None:
                tail = console.read_text(errors="replace")[-3000:] if console.exists() else ""
                raise SystemExit(f"testhost: qemu exited with {proc.returncode}:\n{tail}")
            if time.monotonic() > deadline:
                raise SystemExit(f"testhost: the VM's agent was not up after {BOOT_TIMEOUT} s; "
                                 f"see {console}")
            time.sleep(0.5)
        say(f"test VM agent up after {time.monotonic() - started:.0f} s")
        state = self.capture(["systemctl", "is-system-running", "--wait"]).strip()
        if state != "running":
            failed = self.capture(["systemctl", "--failed", "--no-legend", "--plain"])
            say(f"test VM is {state}; failed units:\n{failed}")
        for name, tarball in images:
            if self.run(["podman", "image", "exists", name], quiet=True) == 0:
                continue  # imported into the disk image when it was built
            say(f"importing the buildroot image as {name}")
            if self.run(["podman", "import", "-q", f"{build_mount}/{tarball}", name],
                        quiet=True) != 0:
                raise SystemExit(f"testhost: podman import of {tarball} failed in the VM")
        cgroup = self.capture(["stat", "-f", "-c", "%T", "/sys/fs/cgroup"]).strip()
        (self.run_dir / "booted").write_text(f"{done} {repo}\n")
        say(f"test VM up in {time.monotonic() - started:.0f} s: /sys/fs/cgroup is {cgroup}")

    def down(self, say: Callable[[str], None], *, quiet: bool = False) -> None:
        pid = self.qemu_pid()
        if pid is not None:
            if not quiet:
                say("powering off the test VM")
            if (self.ctl / "ready").exists():
                self._submit(["systemctl", "poweroff"])
            deadline = time.monotonic() + 60
            while self.qemu_pid() is not None and time.monotonic() < deadline:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
                time.sleep(0.5)
            if self.qemu_pid() is not None:
                os.kill(pid, signal.SIGKILL)  # the disk is a snapshot: nothing is lost
        if self.run_dir.exists():
            shutil.rmtree(self.run_dir)
        if not quiet:
            say("test VM is down")

    def _submit(self, argv: list[str]) -> str:
        ident = f"{os.getpid()}-{next(self._ids)}-{time.monotonic_ns()}"
        request = self.ctl / "req" / f"{ident}.json"
        temporary = self.ctl / f"{ident}.json.tmp"
        temporary.write_text(json.dumps({"argv": argv, "env": self.environment}))
        os.rename(temporary, request)
        return ident

    def run(self, argv: list[str], *, quiet: bool = False, sink=None) -> int:
        """Run `argv` in the VM from /src; its output printed as it comes (or
        given to `sink`); its exit status (128 + N for a signal N)."""
        if not self.running():
            raise SystemExit("testhost: the test VM is not running: tests/host/testhost --vm up")
        ident = self._submit(argv)
        out, rc = self.ctl / "out" / f"{ident}.out", self.ctl / "out" / f"{ident}.rc"
        offset = 0
        try:
            while True:
                finished = rc.exists()
                if out.exists():
                    with out.open("rb") as handle:
                        handle.seek(offset)
                        chunk = handle.read()
                    offset += len(chunk)
                    if chunk and sink is not None:
                        sink(chunk)
                    elif chunk and not quiet:
                        sys.stdout.buffer.write(chunk)
                        sys.stdout.flush()
                if finished:
                    status = int(rc.read_text())
                    break
                time.sleep(0.1)
        except KeyboardInterrupt:
            (self.ctl / "req" / f"{ident}.kill").write_text("")
            raise
        for path in (out, rc):
            path.unlink(missing_ok=True)
        return 128 - status if status < 0 else status

    def capture(self, argv: list[str]) -> str:
        chunks: list[bytes] = []
        self.run(argv, sink=chunks.append)
        return b"".join(chunks).decode(errors="replace")
