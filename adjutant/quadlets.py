"""`adjutant quadlets`: podman quadlets for what adjutant needs before any
build, written from kojid.conf: an `.image` unit per image the settings
name (task_image, createrepo_image), so systemd pulls them at boot and a
timer refreshes them, and no build waits for a pull.

Quadlet turns `<name>.image` in /etc/containers/systemd into
`<name>-image.service` at `systemctl daemon-reload` (podman's
system generator).  Only registry images are written: a `localhost/` image
is built on the host and has nothing to pull.
"""

from __future__ import annotations

import re
from pathlib import Path

from adjutant.atomic import write_atomically
from adjutant.config import Config

QUADLET_DIR = Path("/etc/containers/systemd")
PREFIX = "adjutant-"


def unit_stem(image: str) -> str:
    """'registry.fedoraproject.org/fedora:41' -> 'adjutant-fedora-41'."""
    last = image.rsplit("/", 1)[-1]
    return PREFIX + re.sub(r"[^A-Za-z0-9]+", "-", last).strip("-").lower()


def image_quadlet(image: str) -> str:
    return (f"# Written by `adjutant quadlets` from kojid.conf: keeps {image} pulled.\n"
            "[Unit]\n"
            f"Description=adjutant: the image {image}\n"
            "Wants=network-online.target\n"
            "After=network-online.target\n"
            "Before=adjutant.service\n\n"
            "[Image]\n"
            f"Image={image}\n\n"
            "[Install]\n"
            "WantedBy=multi-user.target\n")


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


def files(config: Config) -> dict[str, str]:
    """{file name: text}: <stem>.image in QUADLET_DIR, <stem>-refresh.timer
    beside the units (quadlet has no timers of its own)."""
    made: dict[str, str] = {}
    for image in images(config):
        stem = unit_stem(image)
        made[f"{stem}.image"] = image_quadlet(image)
        made[f"{stem}-refresh.timer"] = timer_unit(image, stem)
    return made


def write(config: Config, quadlet_dir: Path = QUADLET_DIR,
          unit_dir: Path = Path("/etc/systemd/system")) -> list[Path]:
    written = []
    for name, text in files(config).items():
        directory = quadlet_dir if name.endswith(".image") else unit_dir
        directory.mkdir(parents=True, exist_ok=True)
        write_atomically(directory / name, text, mode=0o644)
        written.append(directory / name)
    return written
