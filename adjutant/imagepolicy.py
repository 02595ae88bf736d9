"""Which image a task runs in.

Rules come from the hub (the build tag's extra data, key `adjutant.image_policy`,
a JSON list) and from kojid.conf (`[adjutant] image_policy`, the same form);
`[adjutant] task_image` is the last resort.  A rule is an object with `image`
and any of `tag`, `arch`, `method` (shell-style globs allowed):

    [{"tag": "f40-build", "arch": "aarch64", "image": "registry/f40-builder:aarch64"},
     {"tag": "f40-*", "image": "registry/f40-builder"},
     {"method": "buildSRPMFromSCM", "image": "registry/srpm-builder"},
     {"image": "registry/default-builder"}]

The most specific kind of rule wins, whatever the order: tag and arch, then
tag, then method, then a rule with none (the default); within a kind, the
first that matches.  The tag's rules come before kojid.conf's within each kind.
A bad rule is an error that names the tag (or file) and the rule's position.
"""

from __future__ import annotations

import fnmatch
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable, Optional

from adjutant.errors import AdjutantError

POLICY_KEY = "adjutant.image_policy"
RULE_KEYS = ("image", "tag", "arch", "method")


class PolicyError(AdjutantError):
    pass


@dataclass(frozen=True)
class ImageRule:
    image: str
    tag: Optional[str] = None
    arch: Optional[str] = None
    method: Optional[str] = None

    @property
    def rank(self) -> int:
        """0 = most specific."""
        if self.tag is not None and self.arch is not None:
            return 0
        if self.tag is not None:
            return 1
        if self.method is not None:
            return 2
        return 3

    def matches(self, *, tag: Optional[str], arch: Optional[str], method: str) -> bool:
        for pattern, value in ((self.tag, tag), (self.arch, arch), (self.method, method)):
            if pattern is not None and (value is None or not fnmatch.fnmatchcase(value, pattern)):
                return False
        return True


def parse_rules(value: Any, *, where: str) -> tuple[ImageRule, ...]:
    """Rules from a JSON text or an already decoded list; `where` names the source."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise PolicyError(f"{where}: {POLICY_KEY} is not valid JSON: {exc}") from None
    if not isinstance(value, list):
        raise PolicyError(f"{where}: {POLICY_KEY} must be a list of rules")
    rules = []
    for number, rule in enumerate(value, start=1):
        if not isinstance(rule, dict):
            raise PolicyError(f"{where}: {POLICY_KEY} rule {number} is not an object")
        unknown = sorted(set(rule) - set(RULE_KEYS))
        if unknown:
            raise PolicyError(f"{where}: {POLICY_KEY} rule {number}: unknown key "
                              f"{unknown[0]!r} (known: {', '.join(RULE_KEYS)})")
        for key in RULE_KEYS:
            if key in rule and (not isinstance(rule[key], str) or not rule[key].strip()):
                raise PolicyError(f"{where}: {POLICY_KEY} rule {number}: {key} must be "
                                  "a non-empty string")
        if "image" not in rule:
            raise PolicyError(f"{where}: {POLICY_KEY} rule {number} has no image")
        if "arch" in rule and "tag" not in rule:
            raise PolicyError(f"{where}: {POLICY_KEY} rule {number}: an arch rule needs a tag")
        rules.append(ImageRule(**rule))
    return tuple(rules)


def choose_image(rules: Sequence[ImageRule], *, tag: Optional[str], arch: Optional[str],
                 method: str, default: str) -> str:
    matching = [r for r in rules if r.matches(tag=tag, arch=arch, method=method)]
    if not matching:
        return default
    return min(matching, key=lambda r: r.rank).image  # min is stable: first of a rank


class PolicyCache:
    """A tag's parsed rules, kept for `ttl` seconds across tasks."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._entries: dict[str, tuple[float, tuple[ImageRule, ...]]] = {}

    def get(self, tag: str) -> Optional[tuple[ImageRule, ...]]:
        entry = self._entries.get(tag)
        if entry is None or self.clock() - entry[0] > self.ttl:
            return None
        return entry[1]

    def put(self, tag: str, rules: tuple[ImageRule, ...]) -> None:
        self._entries[tag] = (self.clock(), rules)
