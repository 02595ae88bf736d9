"""What all tasks of the daemon share for their buildroots: `BuildrootServices`
(the image rules, the prepared roots, the packages fetched over topurl and
the buildroots' id range), made once by the worker."""

from __future__ import annotations

from typing import Optional

from adjutant.buildroot.downloads import PackageCache
from adjutant.buildroot.roots import RootCache
from adjutant.buildroot.script import BUILD_GID, BUILD_UID
from adjutant.config import Config, build_id_range
from adjutant.imagepolicy import PolicyCache, parse_rules


class BuildrootServices:
    """What all tasks of the daemon share: the image rules, the prepared
    roots and the buildroots' id range."""

    def __init__(self, config: Config) -> None:
        self.policies = PolicyCache(config.image_policy_ttl)
        self.cache = RootCache(config)
        # packages fetched over topurl, for as many repos as roots are kept
        self.downloads = PackageCache(config.buildroot_dir / "downloads",
                                      keep=config.buildroot_cache_roots)
        self.config_rules = parse_rules(config.image_policy, where="kojid.conf [adjutant]")
        self.ids = build_id_range(config, "kojid.conf")

    @property
    def idmap(self) -> Optional[str]:
        """podman's uid/gid map of every buildroot container (TaskSpec.idmap)."""
        return f"{self.ids[0]}:{self.ids[1]}" if self.ids else None

    def host_ids(self, uid: int, gid: int) -> tuple[int, int]:
        """The host uid and gid of an id pair inside a buildroot."""
        start = self.ids[0] if self.ids else 0
        return start + uid, start + gid

    @property
    def root_owner(self) -> tuple[int, int]:
        """Who root of a buildroot is on the host: the owner of a new root."""
        return self.host_ids(0, 0)

    @property
    def build_owner(self) -> tuple[int, int]:
        """Who the build user (mockbuild) is on the host: the owner of what the
        daemon makes in a task's work directory."""
        return self.host_ids(BUILD_UID, BUILD_GID)
