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
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Union

from adjutant.errors import ConfigError
from adjutant.quantities import parse_duration, parse_size
from adjutant.runner.properties import RLIMIT_PROPERTIES
from adjutant.runner.settings import RunnerSettings
from adjutant.runner.spec import ResourceLimits

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


def _parse_subid_name(text: str) -> str:
    """A user name of /etc/subuid, or empty for none."""
    value = text.strip()
    if value and not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", value):
        raise ValueError(f"{text!r} is not a user name of /etc/subuid (or empty for none)")
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


def _parse_text(text: str) -> str:
    return text.strip()


def _parse_optional_text(text: str) -> Optional[str]:
    return text.strip() or None


def _parse_optional_path(text: str) -> Optional[Path]:
    return _parse_path(text) if text.strip() else None


def _parse_url(text: str) -> str:
    value = text.strip()
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"{text!r} is not an http:// or https:// URL")
    return value.rstrip("/")


def _parse_proxy(text: str) -> Optional[str]:
    """yum_proxy: an http(s) URL without credentials, which would be in every
    installing container's command line and root.log."""
    if not text.strip():
        return None
    value = _parse_url(text)
    if "@" in value.split("://", 1)[1].split("/", 1)[0]:
        raise ValueError("a proxy URL with a user or password is refused: it would be "
                         "visible in the build containers and root.log")
    return value


def _parse_optional_int(text: str) -> Optional[int]:
    return _parse_int(text) if text.strip() else None


def _parse_non_negative_int(text: str) -> int:
    value = _parse_int(text)
    if value < 0:
        raise ValueError(f"{text!r} must not be negative")
    return value


def _parse_rlimit(text: str) -> str:
    parts = text.split()
    if not 1 <= len(parts) <= 2 or not all(p.isdigit() for p in parts):
        raise ValueError(f"{text!r} is not a limit: one number, or two (soft hard)")
    if len(parts) == 2 and int(parts[0]) > int(parts[1]):
        raise ValueError(f"{text!r}: the soft limit is above the hard limit")
    return " ".join(parts)


def _parse_pull_policy(text: str) -> str:
    value = text.strip()
    if value not in ("always", "if-missing", "never"):
        raise ValueError(f"{text!r} is not one of always, if-missing, never")
    return value


def _parse_image_policy(text: str) -> str:
    from adjutant.imagepolicy import PolicyError, parse_rules

    try:
        parse_rules(text, where="")
    except PolicyError as exc:
        raise ValueError(str(exc).lstrip(": ")) from None
    return text.strip()


def _parse_list(text: str) -> tuple[str, ...]:
    return tuple(text.replace(",", " ").split())


# kojid's settings that adjutant accepts so that an existing kojid.conf works
# unchanged, but has no use for (they configure mock, Maven, images, mail).
UNUSED = "kojid's; accepted so an existing kojid.conf works, not used by adjutant."
# kojid's settings of tasks adjutant refuses for now (distRepo, the image
# tasks); read by nothing until they come.
NOT_YET = ("kojid's, for tasks adjutant refuses for now (distRepo; the image tasks): "
           "accepted, not used yet.")


@dataclass(frozen=True)
class Config:
    # ---- [kojid]: kojid's own keys, names, meanings and defaults ----------------
    server: Optional[str] = setting(
        None, section=KOJID, parse=_parse_url, kind="URL",
        doc="The hub's XML-RPC URL, e.g. https://koji.example.com/kojihub. Required.",
    )
    topurl: Optional[str] = setting(
        None, section=KOJID, parse=_parse_url, kind="URL",
        doc="Base URL of the hub's files (work/, repos/, packages/). Required.",
    )
    topdir: Path = setting(
        Path("/mnt/koji"), section=KOJID, parse=_parse_path, kind="path",
        doc=("Where the hub's files are mounted. A repo that is not under it is read "
             "over topurl."),
    )
    workdir: Path = setting(
        Path("/var/tmp/koji"), section=KOJID, parse=_parse_path, kind="path",
        doc="Task work directories: <workdir>/tasks/<id % 10000>/<id>.",
    )
    sleeptime: int = setting(
        15, section=KOJID, parse=_parse_positive_int, kind="seconds",
        doc="Seconds between polls of the hub when no task was taken.",
    )
    maxjobs: int = setting(
        10, section=KOJID, parse=_parse_positive_int, kind="integer",
        doc="Most tasks this host runs at once, whatever their weight.",
    )
    minspace: int = setting(
        8192, section=KOJID, parse=_parse_non_negative_int, kind="MiB",
        doc="Take no task while the work directory's file system has less free space (MiB).",
    )
    cert: Optional[Path] = setting(
        None, section=KOJID, parse=_parse_optional_path, kind="path",
        doc="Client certificate (PEM with key) for SSL login; default /etc/kojid/client.crt "
            "if that file exists.",
    )
    serverca: Optional[Path] = setting(
        None, section=KOJID, parse=_parse_optional_path, kind="path",
        doc="CA that signed the hub's certificate; default /etc/kojid/serverca.crt if that "
            "file exists, else the system's CAs.",
    )
    user: Optional[str] = setting(
        None, section=KOJID, parse=_parse_optional_text, kind="text",
        doc="User name for password login (used when there is no certificate).",
    )
    password: Optional[str] = setting(
        None, section=KOJID, parse=_parse_optional_text, kind="text",
        doc="Password for password login. Never logged, never given to a task.",
    )
    krb_principal: Optional[str] = setting(
        None, section=KOJID, parse=_parse_optional_text, kind="text",
        doc="Kerberos principal for GSSAPI login; default host_principal_format with this "
            "host's name.",
    )
    host_principal_format: str = setting(
        "compile/%s@EXAMPLE.COM", section=KOJID, parse=_parse_text, kind="text",
        doc="Principal for GSSAPI login when krb_principal is not set; %s is the host name.",
    )
    keytab: Path = setting(
        Path("/etc/kojid/kojid.keytab"), section=KOJID, parse=_parse_path, kind="path",
        doc="Keytab for GSSAPI login.",
    )
    ccache: Path = setting(
        Path("/var/tmp/kojid.ccache"), section=KOJID, parse=_parse_path, kind="path",
        doc="Credential cache for GSSAPI login.",
    )
    no_ssl_verify: bool = setting(
        False, section=KOJID, parse=_parse_bool, kind="boolean",
        doc="Do not verify the hub's certificate (for tests only).",
    )
    timeout: Optional[int] = setting(
        None, section=KOJID, parse=_parse_optional_int, kind="seconds",
        doc="Time-out of one hub request; empty for koji's default.",
    )
    retry_interval: int = setting(
        60, section=KOJID, parse=_parse_non_negative_int, kind="seconds",
        doc="Seconds between retries of a failed hub call.",
    )
    max_retries: int = setting(
        120, section=KOJID, parse=_parse_non_negative_int, kind="integer",
        doc="Retries of a failed hub call before it is given up (a finished task's result "
            "is kept and delivered later all the same).",
    )
    offline_retry: bool = setting(
        True, section=KOJID, parse=_parse_bool, kind="boolean",
        doc="Keep retrying, without counting, while the hub says it is offline.",
    )
    offline_retry_interval: int = setting(
        120, section=KOJID, parse=_parse_non_negative_int, kind="seconds",
        doc="Seconds between retries while the hub is offline.",
    )
    use_fast_upload: bool = setting(
        True, section=KOJID, parse=_parse_bool, kind="boolean",
        doc="Upload files with fastUpload (checked chunks) rather than the legacy uploadFile.",
    )
    packager: str = setting(
        "Koji", section=KOJID, parse=_parse_text, kind="text",
        doc="%packager of the RPMs built here.",
    )
    vendor: str = setting(
        "Koji", section=KOJID, parse=_parse_text, kind="text",
        doc="%vendor of the RPMs built here.",
    )
    distribution: str = setting(
        "Koji", section=KOJID, parse=_parse_text, kind="text",
        doc="%distribution of the RPMs built here.",
    )
    rpmbuild_timeout: int = setting(
        86400, section=KOJID, parse=_parse_positive_int, kind="seconds",
        doc="Longest a build may run; its unit's RuntimeMaxSec=.",
    )
    allowed_scms: str = setting(
        "", section=KOJID, parse=_parse_text, kind="text",
        doc="SCMs builds may check out from: host:repository[:use_common[:source_cmd]], "
            "space separated.",
    )
    allowed_scms_use_config: bool = setting(
        True, section=KOJID, parse=_parse_bool, kind="boolean",
        doc="Check SCM URLs against allowed_scms.",
    )
    allowed_scms_use_policy: bool = setting(
        False, section=KOJID, parse=_parse_bool, kind="boolean",
        doc="Check SCM URLs against the hub's build_from_scm policy.",
    )
    allow_password_in_scm_url: bool = setting(
        False, section=KOJID, parse=_parse_bool, kind="boolean",
        doc="Allow a password in an SCM URL.",
    )
    scm_credentials_dir: Optional[Path] = setting(
        None, section=KOJID, parse=_parse_optional_path, kind="path",
        doc="Credentials for SCM checkouts; bound into the checkout container only.",
    )
    support_rpm_source_layout: bool = setting(
        True, section=KOJID, parse=_parse_bool, kind="boolean",
        doc="Accept SCM checkouts with a SPECS/ and SOURCES/ layout.",
    )
    use_createrepo_c: bool = setting(
        True, section=KOJID, parse=_parse_bool, kind="boolean",
        doc=("createrepo runs createrepo_c --error-exit-val; off: the image's createrepo "
             "(kojid's CreaterepoTask)."),
    )
    createrepo_skip_stat: bool = setting(
        True, section=KOJID, parse=_parse_bool, kind="boolean",
        doc=("createrepo --update trusts the old repodata of a package whose path is "
             "unchanged (--skip-stat)."),
    )
    createrepo_update: bool = setting(
        True, section=KOJID, parse=_parse_bool, kind="boolean",
        doc=("createrepo updates the previous repo's repodata (--update) instead of reading "
             "every package again; newRepo then also looks for a parent tag's repo."),
    )
    copy_old_repodata: bool = setting(
        False, section=KOJID, parse=_parse_bool, kind="boolean",
        doc=("newRepo copies the previous repo's repodata of an arch whose pkglist, "
             "blocklist, comps and options are unchanged (and no external repos), instead "
             "of a createrepo subtask."),
    )
    distrepo_skip_stat: bool = setting(
        False, section=KOJID, parse=_parse_bool, kind="boolean",
        doc=NOT_YET,
    )
    build_arch_can_fail: bool = setting(
        False, section=KOJID, parse=_parse_bool, kind="boolean",
        doc=("A build's other arches go on when one fails (the build still fails, once "
             "all are done), unless the build asks fail_fast; off: the first failure "
             "cancels the rest (kojid's BuildTask)."),
    )
    literal_task_arches: str = setting(
        "", section=KOJID, parse=_parse_text, kind="text",
        doc=("Globs of arches a build's subtasks keep as they are, instead of their "
             "canonical arch (i686 stays i686, not i386), for the hub's scheduler."),
    )
    xz_options: str = setting(
        "-z6T0", section=KOJID, parse=_parse_text, kind="text",
        doc=NOT_YET,
    )
    log_level: Optional[str] = setting(
        None, section=KOJID, parse=_parse_optional_text, kind="text",
        doc="Log level of the daemon (DEBUG, INFO, WARNING, ERROR).",
    )
    log_timestamps: bool = setting(
        False, section=KOJID, parse=_parse_bool, kind="boolean", doc=UNUSED,
    )
    admin_emails: str = setting(
        "", section=KOJID, parse=_parse_text, kind="text", doc=UNUSED,
    )
    pluginpath: str = setting(
        "/usr/lib/koji-builder-plugins", section=KOJID, parse=_parse_text, kind="text",
        doc=UNUSED,
    )
    plugin: tuple[str, ...] = setting(
        (), section=KOJID, parse=_parse_list, kind="list",
        doc="kojid builder plugins; adjutant cannot load them and says so at start.",
    )
    plugins: tuple[str, ...] = setting(
        (), section=KOJID, parse=_parse_list, kind="list", doc="The same as plugin.",
    )
    task_avail_delay: int = setting(
        300, section=KOJID, parse=_parse_non_negative_int, kind="seconds", doc=UNUSED,
    )
    buildroot_basic_cleanup_delay: int = setting(
        120, section=KOJID, parse=_parse_non_negative_int, kind="seconds", doc=UNUSED,
    )
    buildroot_final_cleanup_delay: int = setting(
        86400, section=KOJID, parse=_parse_non_negative_int, kind="seconds", doc=UNUSED,
    )
    failed_buildroot_lifetime: int = setting(
        14400, section=KOJID, parse=_parse_non_negative_int, kind="seconds",
        doc="How long a failed task's work directory (its build tree and logs) is kept "
            "for an admin to look at; the daemon's log says where.  0 removes it at once.",
    )
    mockdir: Path = setting(
        Path("/var/lib/mock"), section=KOJID, parse=_parse_path, kind="path", doc=UNUSED,
    )
    mockuser: str = setting(
        "kojibuilder", section=KOJID, parse=_parse_text, kind="text", doc=UNUSED,
    )
    mockhost: str = setting(
        "koji-linux-gnu", section=KOJID, parse=_parse_text, kind="text",
        doc="The vendor-os part of %_host: kojid sets %_host to <target arch>-<mockhost>.",
    )
    chroot_tmpdir: str = setting(
        "/chroot_tmpdir", section=KOJID, parse=_parse_text, kind="text", doc=UNUSED,
    )
    mock_bootstrap_image: bool = setting(
        False, section=KOJID, parse=_parse_bool, kind="boolean", doc=UNUSED,
    )
    yum_proxy: Optional[str] = setting(
        None, section=KOJID, parse=_parse_proxy, kind="URL",
        doc=("Proxy of the package manager's downloads (a repo over topurl, external "
             "repos), as kojid gives it to mock; without a user or password."),
    )
    maven_repo_ignore: str = setting(
        "*.md5 *.sha1 maven-metadata*.xml _maven.repositories resolver-status.properties "
        "*.lastUpdated", section=KOJID, parse=_parse_text, kind="text", doc=UNUSED,
    )
    oz_install_timeout: int = setting(
        0, section=KOJID, parse=_parse_non_negative_int, kind="seconds", doc=UNUSED,
    )
    allow_noverifyssl: bool = setting(
        False, section=KOJID, parse=_parse_bool, kind="boolean", doc=UNUSED,
    )
    smtphost: str = setting(
        "example.com", section=KOJID, parse=_parse_text, kind="text",
        doc="The SMTP server (host[:port]) the tag and build notification tasks mail through.",
    )
    smtp_user: Optional[str] = setting(
        None, section=KOJID, parse=_parse_optional_text, kind="text",
        doc="The SMTP login of the notification tasks (with smtp_pass; none: no login).",
    )
    smtp_pass: Optional[str] = setting(
        None, section=KOJID, parse=_parse_optional_text, kind="text",
        doc="The SMTP password of smtp_user; never logged.",
    )
    from_addr: str = setting(
        "Koji Build System <buildsys@example.com>", section=KOJID, parse=_parse_text,
        kind="text", doc="The From: of the notification mails.",
    )
    rlimits: tuple[tuple[str, str], ...] = setting(
        (), section=KOJID, parse=_parse_rlimit, kind="RLIMIT_* keys",
        doc="RLIMIT_NOFILE = 4096 or = 4096 8192 (soft, hard): resource limits, applied to "
            "every task unit as LimitNOFILE= and so on (kojid applied them to itself).",
    )
    pkgurl: Optional[str] = setting(
        None, section=KOJID, parse=_parse_optional_text, kind="URL",
        doc="Obsolete in kojid too; accepted and ignored.",
    )

    # ---- [adjutant]: the daemon ----------------------------------------------
    force_lock: bool = setting(
        True, section=ADJUTANT, parse=_parse_bool, kind="boolean",
        doc="Take over the host's exclusive hub session if another (a crashed adjutant) "
            "holds it, as kojid.service's --force-lock does.",
    )

    # ---- [adjutant]: images and buildroots ------------------------------------
    image_policy: str = setting(
        "", section=ADJUTANT, parse=_parse_image_policy, kind="JSON",
        doc="Rules choosing a task's image, as in a tag's adjutant.image_policy extra "
            "(docs: adjutant/imagepolicy.py); the tag's rules come first.",
    )
    image_policy_ttl: float = setting(
        300.0, section=ADJUTANT, parse=_parse_duration_seconds, kind="duration",
        doc="How long a tag's image rules are reused before they are read again.",
    )
    image_pull: str = setting(
        "if-missing", section=ADJUTANT, parse=_parse_pull_policy, kind="always|if-missing|never",
        doc="When to pull a task's image: before every task, only when it is not here, "
            "or never (a missing image fails the task).",
    )
    image_pull_timeout: float = setting(
        600.0, section=ADJUTANT, parse=_parse_duration_seconds, kind="duration",
        doc="Longest an image pull may take.",
    )
    buildroot_cache_roots: int = setting(
        8, section=ADJUTANT, parse=_parse_non_negative_int, kind="integer",
        doc="Prepared buildroots kept for reuse (one per bootstrap image, tag, repo, arch and "
            "group); the least recently used go first, never one a task uses. 0 keeps none "
            "beyond the builds running. The packages fetched over topurl are kept for as "
            "many repos (buildroot_dir/downloads).",
    )
    buildroot_dir: Path = setting(
        Path("/var/lib/adjutant/buildroots"), section=ADJUTANT, parse=_parse_path, kind="path",
        doc="Prepared buildroots (roots/) and each task's copy-on-write view of one "
            "(views/<task id>/, an overlay mount).  Root's own: on a local filesystem that "
            "overlayfs takes as an upper directory (not overlayfs itself, not NFS).",
    )

    # ---- [adjutant]: task units -------------------------------------------------
    log_dir: Path = setting(
        Path("/mnt/koji/logs"), section=ADJUTANT, parse=_parse_path, kind="path",
        doc="Each task's unit journal is copied to <log_dir>/<task id>/container.log.",
    )
    state_dir: Path = setting(
        Path("/var/lib/adjutant"), section=ADJUTANT, parse=_parse_path, kind="path",
        doc="What a restarted adjutant needs to finish its tasks: each task's spec, "
            "journal cursor and exit record, under <state_dir>/tasks/<task id>/.",
    )
    task_slice: str = setting(
        "adjutant.slice", section=ADJUTANT, parse=_parse_word, kind="unit name",
        doc="The systemd slice every task unit runs in; its limits bound all tasks together.",
    )
    podman: Path = setting(
        Path("/usr/bin/podman"), section=ADJUTANT, parse=_parse_path, kind="path",
        doc="The podman binary task units run.",
    )
    task_image: str = setting(
        "localhost/adjutant-buildroot:latest", section=ADJUTANT, parse=_parse_word,
        kind="image reference", doc="The image a task runs in when nothing chooses another.",
    )
    createrepo_image: str = setting(
        "", section=ADJUTANT, parse=_parse_text, kind="image reference",
        doc="The image createrepo runs in: it must have createrepo_c and mergerepo_c; "
            "empty: task_image.",
    )
    task_log_max_size: int = setting(
        1024**3, section=ADJUTANT, parse=parse_size, kind="size",
        doc="The most of one task log that is kept and sent: the copy of the unit's "
            "journal (container.log) stops there, and each log reaches the hub up to "
            "there, both with a closing note saying so (journalctl -u keeps the rest, within "
            "journald's own limits).",
    )
    build_ids: str = setting(
        "adjutant", section=ADJUTANT, parse=_parse_subid_name, kind="subid name",
        doc="The name of an entry of /etc/subuid and /etc/subgid (the RPM adds "
            "'adjutant:1879048192:65536' to both): every container of a buildroot runs in a "
            "user namespace mapping its uids and gids 0-65535 to that range, so neither "
            "container root (which installs the packages) nor the build user (uid 1000) is "
            "a host account.  One range for all builds: a cached buildroot's files belong "
            "to it, and every task's view of one uses them as they are.  Empty runs "
            "buildroots in the host's user namespace (not recommended: container root is "
            "host root).",
    )
    task_memory_max: Optional[int] = setting(
        None, section=ADJUTANT, parse=_parse_optional_size, kind="size",
        doc="Memory limit of one task (MemoryMax= on cgroup v2, MemoryLimit= on v1); "
            "empty for none. A task over it is killed and reported as killed for memory.",
    )
    task_cpus: Optional[float] = setting(
        None, section=ADJUTANT, parse=_parse_optional_cpus, kind="number",
        doc="CPU limit of one task in CPUs (CPUQuota=); empty for none.",
    )
    task_tasks_max: int = setting(
        32768, section=ADJUTANT, parse=_parse_positive_int, kind="integer",
        doc="Most processes and threads one task may have (TasksMax=).",
    )
    task_io_weight: int = setting(
        100, section=ADJUTANT, parse=_parse_io_weight, kind="integer",
        doc="IO weight of one task, 1..10000 (IOWeight= on v2, BlockIOWeight= on v1).",
    )
    task_runtime_max: float = setting(
        86400.0, section=ADJUTANT, parse=_parse_duration_seconds, kind="duration",
        doc="Longest a task unit may run (RuntimeMaxSec=); past it the task is stopped "
            "and reported as timed out.",
    )
    task_stop_timeout: float = setting(
        30.0, section=ADJUTANT, parse=_parse_duration_seconds, kind="duration",
        doc="How long a stopping task gets after SIGTERM before everything in its unit "
            "is killed (TimeoutStopSec=).",
    )
    cancel_grace: float = setting(
        2.0, section=ADJUTANT, parse=_parse_duration_seconds, kind="duration",
        doc="After a cancel, how long a task gets to end on SIGTERM before its whole "
            "unit is killed with SIGKILL.",
    )

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
    rlimits: list[tuple[str, str]] = []
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
            if section == KOJID and key.upper().startswith("RLIMIT_"):
                name = key.upper()
                if name not in RLIMIT_PROPERTIES:
                    raise ConfigError(f"{source}: [{section}] unknown resource limit {name!r}")
                try:
                    rlimits.append((name, _parse_rlimit(text)))
                except ValueError as exc:
                    raise ConfigError(f"{source}: [{section}] {name} = {text!r}: {exc}") from None
                continue
            entry = known.get((section, key))
            if entry is None:
                raise ConfigError(f"{source}: [{section}] unknown key {key!r}")
            try:
                changes[entry.name] = entry.metadata["parse"](text)
            except ValueError as exc:
                raise ConfigError(f"{source}: [{section}] {key} = {text!r}: {exc}") from None
    if rlimits:
        changes["rlimits"] = tuple(sorted(rlimits))
    return Config(**changes)


def require_hub(config: Config, source: str) -> None:
    """The daemon needs the hub: server and topurl have no defaults."""
    for key in ("server", "topurl"):
        if getattr(config, key) is None:
            raise ConfigError(f"{source}: [{KOJID}] {key} is required")


def runner_settings(config: Config) -> RunnerSettings:
    """What the runner needs of kojid.conf (it reads nothing else)."""
    return RunnerSettings(
        podman=config.podman, log_dir=config.log_dir, state_dir=config.state_dir,
        task_slice=config.task_slice, task_stop_timeout=config.task_stop_timeout,
        cancel_grace=config.cancel_grace, rlimits=tuple(config.rlimits),
        log_max_bytes=config.task_log_max_size,
    )


def task_limits(config: Config) -> ResourceLimits:
    """The configured limits of one task's unit."""
    return ResourceLimits(
        memory_max=config.task_memory_max, cpus=config.task_cpus,
        tasks_max=config.task_tasks_max, io_weight=config.task_io_weight,
        runtime_max=config.task_runtime_max,
    )


SUBID_FILES = (Path("/etc/subuid"), Path("/etc/subgid"))
BUILD_ID_COUNT = 65536  # ids 0-65535 inside a buildroot, as a distribution has


def build_id_range(config: Config, source: str,
                   files: tuple[Path, ...] = SUBID_FILES) -> Optional[tuple[int, int]]:
    """The host ids (start, count) of buildroot containers: the build_ids entry,
    the same range in /etc/subuid and /etc/subgid; None when build_ids is empty."""
    name = config.build_ids
    if not name:
        return None
    found: list[tuple[int, int]] = []
    for path in files:
        try:
            lines = path.read_text().splitlines()
        except OSError:
            lines = []
        ranges = [line.split(":") for line in lines if line.startswith(f"{name}:")]
        usable = [(int(r[1]), int(r[2])) for r in ranges
                  if len(r) == 3 and r[1].isdigit() and r[2].isdigit()
                  and int(r[2]) >= BUILD_ID_COUNT]
        if not usable:
            raise ConfigError(
                f"{source}: [{ADJUTANT}] build_ids = {name} needs a range of at least "
                f"{BUILD_ID_COUNT} ids for {name!r} in {path} (add '{name}:1879048192:65536'), "
                "or set build_ids to empty")
        found.append(usable[0])
    if len(set(found)) > 1:
        raise ConfigError(f"{source}: [{ADJUTANT}] build_ids = {name}: its ranges in "
                          f"{' and '.join(map(str, files))} differ; buildroots need the same "
                          "range for uids and gids")
    return found[0][0], BUILD_ID_COUNT


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
