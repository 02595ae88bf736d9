"""The image a buildroot's containers run from: which one (`buildroot_image`,
the tag's image policy, then kojid.conf's, else a default), and on this host
before a task's container runs from it (`ensure_image`): pulled as the
image_pull setting says, as one of the task's steps (its own unit)."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any, Callable

from adjutant.buildroot.context import BuildContext
from adjutant.buildroot.services import BuildrootServices
from adjutant.imagepolicy import POLICY_KEY, choose_image, parse_rules
from adjutant.process import run_async
from adjutant.runner.podman import image_id_argv
from adjutant.runner.spec import ResourceLimits


class ImageError(Exception):
    """The image is not here and cannot be pulled; the text says why."""


def buildroot_image(services: BuildrootServices, *, tag: str, extra: Mapping[str, Any],
                    arch: str, method: str, default: str) -> str:
    """The image for a task of `method` building `tag` (whose extra holds its
    image policy, kept for the policy's TTL) for `arch`: the tag's rules, then
    kojid.conf's, else `default`."""
    rules = services.policies.get(tag)
    if rules is None:
        rules = parse_rules(extra.get(POLICY_KEY), where=f"tag {tag}")
        services.policies.put(tag, rules)
    return choose_image([*rules, *services.config_rules], tag=tag, arch=arch, method=method,
                        default=default)


async def ensure_image(ctx: BuildContext, image: str,
                       note: Callable[[str], Awaitable[None]]) -> str:
    """Pull `image` as the pull policy says; returns its image id.  `note`
    tells the task's log that a pull starts."""
    config = ctx.config
    # one podman call when the image is there (inspect fails for a missing one)
    found = await run_async(image_id_argv(podman=config.podman, image=image), accept=(0, 125),
                            timeout=300)
    present = found.returncode == 0 and bool(found.stdout.strip())
    policy = config.image_pull
    if policy == "always" or (policy == "if-missing" and not present):
        await note(f"Start: pulling image {image}")
        spec = ctx.container_spec(
            (), action="pull", image=image,
            limits=ResourceLimits(runtime_max=config.image_pull_timeout))
        outcome = await ctx.run_container(f"pull:{image}", spec)
        if not outcome.ok:
            reason = outcome.log_tail[-1] if outcome.log_tail else outcome.message
            raise ImageError(f"cannot pull image {image}: {reason}")
        found = await run_async(image_id_argv(podman=config.podman, image=image), timeout=300)
    elif not present:
        raise ImageError(f"image {image} is not on this host and image_pull is never")
    return found.stdout.strip()
