"""An image on this host before a task's container runs from it: pulled as
the image_pull setting says, as one of the task's steps (its own unit)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Callable

from adjutant.buildroot.context import BuildContext
from adjutant.process import run_async
from adjutant.runner.podman import image_id_argv
from adjutant.runner.spec import ResourceLimits


class ImageError(Exception):
    """The image is not here and cannot be pulled; the text says why."""


async def ensure_image(ctx: BuildContext, image: str,
                       note: Callable[[str], Awaitable[None]]) -> str:  # fmt: skip
    """Pull `image` as the pull policy says; returns its image id.  `note`
    tells the task's log that a pull starts."""
    config = ctx.config
    # one podman call when the image is there (inspect fails for a missing one)
    found = await run_async(image_id_argv(podman=config.podman, image=image), accept=(0, 125),
                            timeout=300)  # fmt: skip
    present = found.returncode == 0 and bool(found.stdout.strip())
    policy = config.image_pull
    if policy == "always" or (policy == "if-missing" and not present):
        await note(f"Start: pulling image {image}")
        spec = ctx.container_spec(
            (), action="pull", image=image,
            limits=ResourceLimits(runtime_max=config.image_pull_timeout))  # fmt: skip
        outcome = await ctx.run_container(f"pull:{image}", spec)
        if not outcome.ok:
            reason = outcome.log_tail[-1] if outcome.log_tail else outcome.message
            raise ImageError(f"cannot pull image {image}: {reason}")
        found = await run_async(image_id_argv(podman=config.podman, image=image), timeout=300)
    elif not present:
        raise ImageError(f"image {image} is not on this host and image_pull is never")
    return found.stdout.strip()
