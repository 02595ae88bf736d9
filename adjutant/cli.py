"""The `adjutant` command.

    adjutant run-task --task-id N [--image IMG] [limits] -- COMMAND...
        run one command as task N's unit, follow it, print the outcome
    adjutant config docs
        print the settings reference, generated from the settings table
    adjutant config check [FILE]
        read a kojid.conf and say whether adjutant accepts it
    adjutant status [--config FILE] [--json]
        the host as the hub sees it, and each task unit as systemd sees it
    adjutant quadlets [--config FILE] [--print]
        write .image quadlets for the images the settings name
    adjutant logs TASK [-f]
        the task unit's journal (or the copy in log_dir once journald has let it go)
    adjutant prune [--all]
        cached buildroots, package caches and kept failed work directories past their limits
    adjutant shell [--config FILE] TASK [-- COMMAND]
        a shell in a task's running buildroot, or in a failed task's kept one
    adjutant cancel [--config FILE] [--timeout T] TASK
        cancel a task this host runs, through the hub, and wait for its unit to go
    adjutant build-local SRPM --tag TAG [--arch A] [--hub URL] [--resultdir DIR]
        rebuild an SRPM in the tag's Koji buildroot on this machine, no hub task
    adjutant check [--config FILE] [--json]
        is this host ready to build: each check OK, WARN or FAIL, with the fix

Errors meant for people (AdjutantError) are printed as one line, without a
traceback, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Any, Optional

from adjutant import config as config_module
from adjutant.errors import AdjutantError
from adjutant.quantities import parse_duration, parse_size


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _load_config(path: Optional[Path]) -> config_module.Config:
    if path is None:
        return config_module.Config()
    return config_module.load(path)


async def _run_task(args: argparse.Namespace) -> int:
    from adjutant.runner.properties import task_unit_name
    from adjutant.runner.runner import TaskRunner
    from adjutant.runner.spec import ResourceLimits, TaskSpec

    config = _load_config(args.config)
    defaults = config_module.task_limits(config)
    limits = ResourceLimits(
        memory_max=args.memory if args.memory is not None else defaults.memory_max,
        cpus=args.cpus if args.cpus is not None else defaults.cpus,
        tasks_max=defaults.tasks_max,
        io_weight=defaults.io_weight,
        runtime_max=args.timeout if args.timeout is not None else defaults.runtime_max,
    )
    command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not command:
        raise AdjutantError("run-task needs a command after --")
    spec = TaskSpec(
        task_id=args.task_id, image=args.image or config.task_image, command=tuple(command),
        description=f"adjutant task {args.task_id}: {' '.join(command)[:60]}", limits=limits,
    )
    runner = TaskRunner(config_module.runner_settings(config))
    await runner.open(reattach=False)
    try:
        await runner.launch(spec)
        unit = task_unit_name(args.task_id)
        print(f"started {unit}")
        print(f"  status:  systemctl status {unit}")
        print(f"  journal: journalctl -u {unit}")
        print(f"  log:     {runner.log_path_for(spec)}", flush=True)
        outcome = await runner.wait(args.task_id)
        print(outcome.summary())
        for line in outcome.log_tail[-10:]:
            print(f"  | {line}")
        if not args.keep:
            await runner.release(args.task_id)
        return 0 if outcome.ok else 1
    finally:
        await runner.close()


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="adjutant", description="A systemd-native Koji builder.")
    parser.add_argument("--verbose", "-v", action="store_true", help="log debugging detail")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run-task", help="run one command as a task unit and wait for it")
    run.add_argument("--config", type=Path, help="kojid.conf to read (default: built-in defaults)")
    run.add_argument("--task-id", type=int, required=True)
    run.add_argument("--image", help="container image (default: task_image)")
    run.add_argument("--memory", type=_size, help="memory limit, e.g. 512M")
    run.add_argument("--cpus", type=float, help="CPU limit in CPUs, e.g. 1.5")
    run.add_argument("--timeout", type=_duration, help="run-time limit, e.g. 90s, 2h")
    run.add_argument("--keep", action="store_true",
                     help="keep the unit and state after it ends (default: release them)")
    run.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- COMMAND")

    daemon = sub.add_parser("daemon", help="run the build worker (what adjutant.service runs)")
    daemon.add_argument("--config", type=Path, default=config_module.DEFAULT_CONFIG_FILE)
    drain = sub.add_parser("drain", help="stop every task of this host and free it on the hub "
                           "(stop the daemon first)")
    drain.add_argument("--config", type=Path, default=config_module.DEFAULT_CONFIG_FILE)

    check = sub.add_parser("check", help="is this host ready to build? (each check: OK, WARN "
                           "or FAIL, with the fix; exit status 1 on a FAIL)")
    check.add_argument("--config", type=Path, default=config_module.DEFAULT_CONFIG_FILE)
    check.add_argument("--json", action="store_true", help="the checks as JSON")

    status = sub.add_parser("status", help="the host as the hub sees it, and each task unit "
                            "(state, age, CPU, memory against its limit, log)")
    status.add_argument("--config", type=Path, default=config_module.DEFAULT_CONFIG_FILE)
    status.add_argument("--json", action="store_true", help="as JSON")

    quadlets = sub.add_parser("quadlets", help="write .image quadlets (and refresh timers) for "
                              "the images kojid.conf names; then systemctl daemon-reload")
    quadlets.add_argument("--config", type=Path, default=config_module.DEFAULT_CONFIG_FILE)
    quadlets.add_argument("--print", action="store_true", dest="print_only",
                          help="print them instead of writing them")

    logs = sub.add_parser("logs", help="a task's log: its unit's journal, else the copy in "
                          "log_dir")
    logs.add_argument("task_id", type=int, metavar="TASK")
    logs.add_argument("-f", "--follow", action="store_true", help="follow it as it grows")
    logs.add_argument("--config", type=Path, default=config_module.DEFAULT_CONFIG_FILE)

    prune = sub.add_parser("prune", help="remove prepared buildroots, package caches and kept "
                           "failed work directories past their limits now")
    prune.add_argument("--all", action="store_true",
                       help="every prepared root not in use and every kept work directory")
    prune.add_argument("--config", type=Path, default=config_module.DEFAULT_CONFIG_FILE)

    shell = sub.add_parser("shell", help="a shell (or COMMAND) in a task's buildroot: its "
                           "running container, or a failed task's kept one")
    shell.add_argument("task_id", type=int, metavar="TASK")
    shell.add_argument("--config", type=Path, default=config_module.DEFAULT_CONFIG_FILE)
    shell.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- COMMAND")

    _add_cancel(sub)
    _add_build_local(sub)

    files = sub.add_parser("files", help="where every file of a task is on this host")
    files.add_argument("task_id", type=int, metavar="TASK")
    files.add_argument("--config", type=Path, default=config_module.DEFAULT_CONFIG_FILE)

    cfg = sub.add_parser("config", help="settings")
    cfg_sub = cfg.add_subparsers(dest="config_command", required=True)
    cfg_sub.add_parser("docs", help="print the settings reference (markdown)")
    cfg_check = cfg_sub.add_parser("check", help="read a kojid.conf and report the first problem")
    cfg_check.add_argument("file", type=Path, nargs="?",
                           default=config_module.DEFAULT_CONFIG_FILE)
    return parser


def _add_cancel(sub: Any) -> None:
    cancel = sub.add_parser(
        "cancel", help="cancel a task this host runs, through the hub (the running daemon "
        "asks it), and wait until it is CANCELED and its unit gone; exit status 0 done, "
        "1 refused, 3 asked but not done yet")
    cancel.add_argument("task_id", type=int, metavar="TASK")
    cancel.add_argument("--timeout", type=_duration, default=120.0,
                        help="how long to wait for it (default 120s)")
    cancel.add_argument("--config", type=Path, default=config_module.DEFAULT_CONFIG_FILE)


def _add_build_local(sub: Any) -> None:
    local = sub.add_parser(
        "build-local", help="rebuild an SRPM in the buildroot Koji would give it (the tag's "
        "repo, build config and image), here, with no hub task; as root (each step is a "
        "unit); exit status 0 built, 1 failed")
    local.add_argument("srpm", type=Path, metavar="SRPM", help="the source RPM to rebuild")
    local.add_argument("--tag", required=True, help="the build tag whose repo makes the root")
    local.add_argument("--arch", help="the arch to build for (default: this machine's)")
    local.add_argument("--hub", help="the hub's URL (default: server in the config, else the "
                       "koji profile's)")
    local.add_argument("--topurl", help="the hub's files (default: topurl in the config, else "
                       "the koji profile's)")
    local.add_argument("--profile", default="koji", help="koji client profile (default koji)")
    local.add_argument("--resultdir", type=Path, default=Path("results"),
                       help="where the RPMs and logs go (default ./results)")
    local.add_argument("--config", type=Path, help="kojid.conf for the buildroot settings "
                       f"(default {config_module.DEFAULT_CONFIG_FILE} if it exists)")


def _daemon(args: argparse.Namespace) -> int:
    from adjutant import daemon

    config = daemon.load_config(args.config)
    if config.log_level and not args.verbose:
        logging.getLogger().setLevel(config.log_level.upper())
    daemon.warn_about_unused(config)
    serve = daemon.serve if args.command == "daemon" else daemon.drain
    code = asyncio.run(serve(config))
    if code == daemon.RESTART:
        daemon.reexecute()
    return code


def _check(args: argparse.Namespace) -> int:
    from adjutant import check

    return check.main(config_module.load(args.config), as_json=args.json,
                      out=lambda text: print(text, flush=True))


def _status(args: argparse.Namespace) -> int:
    from adjutant import status

    code, text = status.main(config_module.load(args.config), as_json=args.json)
    print(text)
    return code


def _quadlets(args: argparse.Namespace) -> int:
    from adjutant import quadlets
    from adjutant.check import podman_version, version_tuple
    from adjutant.process import CommandError

    config = config_module.load(args.config)
    try:
        version = podman_version(config.podman)
    except (CommandError, OSError) as exc:
        raise AdjutantError(f"quadlets: {config.podman} cannot say its version: {exc}") from exc
    image_quadlets = quadlets.has_image_quadlets(version_tuple(version))
    if not image_quadlets:
        print(f"podman {version} has no .image quadlets (4.8 and newer): plain "
              "<name>-image.service units instead; enable them as the timers",
              file=sys.stderr)
    if args.print_only:
        for name, text in quadlets.files(config, image_quadlets=image_quadlets).items():
            print(f"# {name}\n{text}")
        return 0
    for path in quadlets.write(config, image_quadlets=image_quadlets):
        print(path)
    return 0


def _logs(args: argparse.Namespace) -> int:
    """The task unit's journal (journalctl -u, following with -f); when the
    journal has nothing of it any more, the copy in log_dir."""
    from adjutant.process import run
    from adjutant.runner.properties import task_unit_name
    from adjutant.runner.state import container_log_path

    unit = task_unit_name(args.task_id)
    argv = ["journalctl", "--no-pager", "-o", "cat", "-u", unit]
    if args.follow:
        return run([*argv, "-f"], capture=False, accept=(0, 1, 130, -2)).returncode
    shown = run(argv, accept=(0, 1))
    if shown.stdout.strip():
        print(shown.stdout, end="")
        return 0
    copy = container_log_path(_load_config(args.config).log_dir, args.task_id)
    if copy.is_file():
        print(copy.read_text(errors="replace"), end="")
        return 0
    raise AdjutantError(f"task {args.task_id}: nothing in the journal for {unit}, and no {copy}")


def _prune(args: argparse.Namespace) -> int:
    from adjutant.prune import prune

    print(asyncio.run(prune(config_module.load(args.config), everything=args.all)).render())
    return 0


def _shell(args: argparse.Namespace) -> int:
    from adjutant.process import run
    from adjutant.shell import shell_argv

    command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    argv = shell_argv(config_module.load(args.config), args.task_id, command,
                      tty=sys.stdin.isatty())
    return run(argv, capture=False, accept=range(-64, 256), stdin_inherit=True).returncode


def _cancel(args: argparse.Namespace) -> int:
    from adjutant import cancel

    return cancel.main(config_module.load(args.config), args.task_id, timeout=args.timeout,
                       out=lambda text: print(text, flush=True))


def _build_local(args: argparse.Namespace) -> int:
    from adjutant import local

    path = args.config
    if path is None and config_module.DEFAULT_CONFIG_FILE.is_file():
        path = config_module.DEFAULT_CONFIG_FILE
    config = local.with_hub(_load_config(path), hub=args.hub, topurl=args.topurl,
                            profile=args.profile)
    return local.main(config, args.srpm, tag=args.tag, arch=args.arch,
                      resultdir=args.resultdir, out=lambda text: print(text, flush=True))


def _files(args: argparse.Namespace) -> int:
    from adjutant.worker.taskfiles import describe_files

    print(describe_files(_load_config(args.config), args.task_id))
    return 0


def _config(args: argparse.Namespace) -> int:
    if args.config_command == "docs":
        print(config_module.docs_markdown())
        return 0
    checked = config_module.load(args.file)
    config_module.build_id_range(checked, str(args.file))
    print(f"{args.file}: ok")
    return 0


COMMANDS = {
    "run-task": lambda args: asyncio.run(_run_task(args)),
    "daemon": _daemon, "drain": _daemon, "check": _check, "status": _status,
    "quadlets": _quadlets, "logs": _logs, "prune": _prune, "shell": _shell, "cancel": _cancel,
    "build-local": _build_local, "files": _files,
    "config": _config,
}


def _log_handler(command: str) -> Optional[logging.Handler]:
    """The daemon under systemd (its stderr is the journal: JOURNAL_STREAM)
    logs to journald directly, so each line about a task carries its fields
    (ADJUTANT_TASK_ID, KOJI_METHOD, KOJI_TASK_STATE); None: stderr."""
    if command != "daemon" or not os.environ.get("JOURNAL_STREAM"):
        return None
    try:
        from systemd.journal import JournalHandler
    except ImportError:
        return None
    return JournalHandler(SYSLOG_IDENTIFIER="adjutant")


def main(argv: Optional[list[str]] = None) -> int:
    args = _build_parser().parse_args(argv)
    quiet = logging.INFO if args.command == "daemon" else logging.WARNING
    journal = _log_handler(args.command)
    logging.basicConfig(level=logging.DEBUG if args.verbose else quiet,
                        format="adjutant: %(message)s" if journal is None else "%(message)s",
                        handlers=[journal] if journal is not None else None)
    try:
        return int(COMMANDS[args.command](args))
    except AdjutantError as exc:
        print(f"adjutant: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
