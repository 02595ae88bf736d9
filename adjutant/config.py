"""adjutant's settings: one declared table, read from kojid.conf.

Every setting is one field of `Config`, declared with `setting()`: its INI
section, parser, default and documentation live together, and the file
parser, the error messages and the generated docs page (`adjutant config
docs`) are all derived from the fields.  An existing kojid.conf works as it
is: `[kojid]` keys keep kojid's names, meanings and defaults; adjutant's own
settings go in an `[adjutant]` section of the same file.

A bad file, an unknown key or a bad value raises `ConfigError` with one line
naming the file, the section and key, the value and the rule it broke.
"""

from __future__ import annotations

import configparser
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Union

from adjutant.errors import ConfigError
from adjutant.quantities import parse_duration, parse_size

KOJID = "kojid"
ADJUTANT = "adjutant"
DEFAULT_CONFIG_FILE = Path("/etc/kojid/kojid.conf")


def _parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "yes", "true", "on"):
        return True
    if value in ("0", "no", "false", "off"):
        return False
    raise ValueError(f"{text!r} is not a boolean (use yes or no)")


def _parse_int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None


def _parse_positive_int(text: str) -> int:
    value = _parse_int(text)
    if value < 1:
        raise ValueError(f"{text!r} must be at least 1")
    return value


def _parse_path(text: str) -> Path:
    value = text.strip()
    if not value.startswith("/"):
        raise ValueError(f"{text!r} is not an absolute path")
    return Path(value)


def _parse_optional_size(text: str) -> Optional[int]:
    """A size, or empty / 'infinity' for no limit."""
    if text.strip().lower() in ("", "infinity", "none"):
        return None
    size = parse_size(text)
    if size < 4 * 1024**2:
        raise ValueError(f"{text!r} is below the 4M a container needs")
    return size


def _parse_optional_cpus(text: str) -> Optional[float]:
    """CPUs as a number (1.5 = one and a half CPUs), or empty for no limit."""
    if text.strip().lower() in ("", "infinity", "none", "0"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number of CPUs (examples: 2, 0.5)") from None
    if value <= 0:
        raise ValueError(f"{text!r} must be more than 0")
    return value


def _parse_duration_seconds(text: str) -> float:
    value = parse_duration(text)
    if value <= 0:
        raise ValueError(f"{text!r} must be longer than 0 s")
    return value


def _parse_io_weight(text: str) -> int:
    value = _parse_int(text)
    if not 1 <= value <= 10000:
        raise ValueError(f"{text!r} is outside systemd's IOWeight range 1..10000")
    return value


def _parse_word(text: str) -> str:
    value = text.strip()
    if not value or any(c.isspace() for c in value):
        raise ValueError(f"{text!r} must be one word")
    return value


def setting(
    default: Any,
    *,
    section: str,
    parse: Callable[[str], Any],
    doc: str,
    kind: str,
) -> Any:
    """Declare one setting (a dataclass field carrying its INI section and parser)."""
    return field(
        default=default,
        metadata={"section": section, "parse": parse, "doc": doc, "kind": kind},
    )


@dataclass(frozen=True)
class Config:
    # ---- [adjutant]: task units -------------------------------------------------
    log_dir: Path = setting(
        Path("/mnt/koji/logs"), section=ADJUTANT, parse=_parse_path, kind="path",
        doc="Each task's unit journal is copied to <log_dir>/<task id>/container.log.",
    )  # fmt: skip
    state_dir: Path = setting(
        Path("/var/lib/adjutant"), section=ADJUTANT, parse=_parse_path, kind="path",
        doc="What a restarted adjutant needs to finish its tasks: each task's spec, "
            "journal cursor and exit record, under <state_dir>/tasks/<task id>/.",
    )  # fmt: skip
    task_slice: str = setting(
        "adjutant.slice", section=ADJUTANT, parse=_parse_word, kind="unit name",
        doc="The systemd slice every task unit runs in; its limits bound all tasks together.",
    )  # fmt: skip
    podman: Path = setting(
        Path("/usr/bin/podman"), section=ADJUTANT, parse=_parse_path, kind="path",
        doc="The podman binary task units run.",
    )  # fmt: skip
    task_image: str = setting(
        "localhost/adjutant-buildroot:latest", section=ADJUTANT, parse=_parse_word,
        kind="image reference", doc="The image a task runs in when nothing chooses another.",
    )  # fmt: skip
    task_memory_max: Optional[int] = setting(
        None, section=ADJUTANT, parse=_parse_optional_size, kind="size",
        doc="Memory limit of one task (MemoryMax= on cgroup v2, MemoryLimit= on v1); "
            "empty for none. A task over it is killed and reported as killed for memory.",
    )  # fmt: skip
    task_cpus: Optional[float] = setting(
        None, section=ADJUTANT, parse=_parse_optional_cpus, kind="number",
        doc="CPU limit of one task in CPUs (CPUQuota=); empty for none.",
    )  # fmt: skip
    task_tasks_max: int = setting(
        32768, section=ADJUTANT, parse=_parse_positive_int, kind="integer",
        doc="Most processes and threads one task may have (TasksMax=).",
    )  # fmt: skip
    task_io_weight: int = setting(
        100, section=ADJUTANT, parse=_parse_io_weight, kind="integer",
        doc="IO weight of one task, 1..10000 (IOWeight= on v2, BlockIOWeight= on v1).",
    )  # fmt: skip
    task_runtime_max: float = setting(
        86400.0, section=ADJUTANT, parse=_parse_duration_seconds, kind="duration",
        doc="Longest a task unit may run (RuntimeMaxSec=); past it the task is stopped "
            "and reported as timed out.",
    )  # fmt: skip
    task_stop_timeout: float = setting(
        30.0, section=ADJUTANT, parse=_parse_duration_seconds, kind="duration",
        doc="How long a stopping task gets after SIGTERM before everything in its unit "
            "is killed (TimeoutStopSec=).",
    )  # fmt: skip
    cancel_grace: float = setting(
        2.0, section=ADJUTANT, parse=_parse_duration_seconds, kind="duration",
        doc="After a cancel, how long a task gets to end on SIGTERM before its whole "
            "unit is killed with SIGKILL.",
    )  # fmt: skip

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)


def settings_table() -> tuple[dataclasses.Field, ...]:
    return dataclasses.fields(Config)


def _lookup() -> dict[tuple[str, str], dataclasses.Field]:
    return {(f.metadata["section"], f.name): f for f in settings_table()}


def parse_values(
    values: Mapping[str, Mapping[str, str]], *, source: str, ignore_sections: tuple[str, ...] = ()
) -> Config:
    """Build a Config from {section: {key: text}}; `source` names the file in errors."""
    known = _lookup()
    sections = {f.metadata["section"] for f in settings_table()}
    changes: dict[str, Any] = {}
    for section, keys in values.items():
        if section in ignore_sections:
            continue
        if section not in sections:
            raise ConfigError(
                f"{source}: unknown section [{section}] (known: "
                + ", ".join(f"[{s}]" for s in sorted(sections))
                + ")"
            )
        for key, text in keys.items():
            entry = known.get((section, key))
            if entry is None:
                raise ConfigError(f"{source}: [{section}] unknown key {key!r}")
            try:
                changes[entry.name] = entry.metadata["parse"](text)
            except ValueError as exc:
                raise ConfigError(f"{source}: [{section}] {key} = {text!r}: {exc}") from None
    return Config(**changes)


def load(path: Union[str, Path] = DEFAULT_CONFIG_FILE) -> Config:
    """Read kojid.conf (or another file of its form)."""
    parser = configparser.ConfigParser(interpolation=None, default_section="__no_defaults__")
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except configparser.Error as exc:
        first_line = str(exc).splitlines()[0]
        raise ConfigError(f"{path}: not a valid INI file: {first_line}") from None
    values = {name: dict(parser.items(name)) for name in parser.sections()}
    return parse_values(values, source=str(path))


def docs_markdown() -> str:
    """The settings reference page, generated from the table."""
    lines = [
        "# adjutant settings",
        "",
        "Generated from `adjutant/config.py` by `adjutant config docs`; do not edit.",
        "",
    ]
    for section in (KOJID, ADJUTANT):
        rows = [f for f in settings_table() if f.metadata["section"] == section]
        if not rows:
            continue
        lines += [f"## [{section}]", "", "| key | kind | default | meaning |", "|---|---|---|---|"]
        for f in rows:
            default = "(none)" if f.default is None else f"`{f.default}`"
            lines.append(f"| `{f.name}` | {f.metadata['kind']} | {default} | {f.metadata['doc']} |")
        lines.append("")
    return "\n".join(lines)
