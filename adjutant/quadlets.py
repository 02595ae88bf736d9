"""`adjutant quadlets`: podman quadlets for what adjutant needs before any
build, written from kojid.conf: an `.image` unit per image the settings
name (task_image, createrepo_image), so systemd pulls them at boot and a
timer refreshes them, and no build waits for a pull.

Quadlet turns `<name>.image` in /etc/containers/systemd into
`<name>-image.service` at `systemctl daemon-reload` (podman's
system generator).  Only registry images are written: a `localhost/` image
is built on the host and has nothing to pull.

Quadlet's `.image` files came with podman 4.8; an older podman's generator
ignores them (EL9 had 4.6 before 9.4).  There the same unit is written as a
plain service instead, `<name>-image.service` beside the timer, doing what
quadlet's does (`podman image pull`), so the timer and `Before=` hold either
way; the admin enables it, as the timer.
"""

from __future__ import annotations

import re
from pathlib import Path

from adjutant.atomic import write_atomically
from adjutant.config import Config

QUADLET_DIR = Path("/etc/containers/systemd")
PREFIX = "adjutant-"
IMAGE_QUADLETS_SINCE = (4, 8)  # podman's first release with .image quadlets


def unit_stem(image: str) -> str:
    """'registry.fedoraproject.org/fedora:41' -> 'adjutant-fedora-41'."""
    last = image.rsplit("/", 1)[-1]
    return PREFIX + re.sub(r"[^A-Za-z0-9]+", "-", last).strip("-").lower()


def _unit_section(image: str) -> str:
    return (f"# Written by `adjutant quadlets` from kojid.conf: keeps {image} pulled.\n"
            "[Unit]\n"
            f"Description=adjutant: the image {image}\n"
            "Wants=network-online.target\n"
            "After=network-online.target\n"
            "Before=adjutant.service\n\n")


_INSTALL = "[Install]\nWantedBy=multi-user.target\n"


def image_quadlet(image: str) -> str:
    return f"{_unit_section(image)}[Image]\nImage={image}\n\n{_INSTALL}"


def image_service(image: str, podman: str = "/usr/bin/podman") -> str:
    """What quadlet makes of image_quadlet, for a podman without .image quadlets."""
    return (f"{_unit_section(image)}[Service]\n"
            "Type=oneshot\n"
            "RemainAfterExit=yes\n"
            f"ExecStart={podman} image pull {image}\n\n{_INSTALL}")


def timer_unit(image: str, stem: str) -> str:
    return (f"# Written by `adjutant quadlets`: pulls {image} again every day.\n"
            "[Unit]\n"
            f"Description=adjutant: refresh the image {image}\n\n"
            "[Timer]\n"
            "OnCalendar=daily\n"
            "RandomizedDelaySec=1h\n"
            "Persistent=true\n"
            f"Unit={stem}-image.service\n\n"
            "[Install]\n"
            "WantedBy=timers.target\n")


def images(config: Config) -> list[str]:
    named = [config.task_image, config.createrepo_image]
    return sorted({i for i in named if i and not i.startswith("localhost/")})


def files(config: Config, *, image_quadlets: bool = True) -> dict[str, str]:
    """{file name: text}: <stem>.image in QUADLET_DIR (or, without image_quadlets,
    the plain <stem>-image.service), <stem>-refresh.timer beside the units
    (quadlet has no timers of its own)."""
    made: dict[str, str] = {}
    for image in images(config):
        stem = unit_stem(image)
        if image_quadlets:
            made[f"{stem}.image"] = image_quadlet(image)
        else:
            made[f"{stem}-image.service"] = image_service(image, str(config.podman))
        made[f"{stem}-refresh.timer"] = timer_unit(image, stem)
    return made


def has_image_quadlets(podman_version: tuple[int, ...]) -> bool:
    return podman_version >= IMAGE_QUADLETS_SINCE


def write(config: Config, quadlet_dir: Path = QUADLET_DIR,
          unit_dir: Path = Path("/etc/systemd/system"), *,
          image_quadlets: bool = True) -> list[Path]:
    written = []
    for name, text in files(config, image_quadlets=image_quadlets).items():
        directory = quadlet_dir if name.endswith(".image") else unit_dir
        directory.mkdir(parents=True, exist_ok=True)
        write_atomically(directory / name, text, mode=0o644)
        written.append(directory / name)
    return written
