"""What a buildroot needs of the task it builds for: a `BuildContext`.

The task layer's TaskContext is one (tasks/base.py); the buildroot only
names the shape, so it never imports the layer above it."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Protocol

from adjutant.config import Config
from adjutant.hub.session import Hub
from adjutant.runner.outcome import Outcome
from adjutant.runner.spec import Mount, ResourceLimits, TaskSpec
from adjutant.untrusted import UntrustedDir

if TYPE_CHECKING:
    from adjutant.buildroot.services import BuildrootServices


class StepMemo(Protocol):
    """The task's record of steps done, kept across restarts."""

    def get(self, key: str) -> Any: ...

    def __contains__(self, key: str) -> bool: ...

    async def once(self, key: str, make: Callable[[], Awaitable[Any]]) -> Any: ...


class BuildContext(Protocol):
    task_id: int
    method: str
    config: Config
    hub: Hub  # the task's own subsession
    services: Optional[BuildrootServices]
    stopping: bool  # the daemon stops: the build goes on and is resumed
    lost: bool  # the task is no longer ours

    @property
    def memo(self) -> StepMemo: ...

    @property
    def workdir(self) -> Path: ...

    @property
    def private_dir(self) -> Path: ...

    @property
    def inputs(self) -> Path: ...

    async def in_workdir(self, function: Callable[[UntrustedDir], Any]) -> Any: ...

    def container_spec(
        self,
        command: Sequence[str],
        *,
        image: Optional[str] = None,
        mounts: Sequence[Mount] = (),
        environment: Optional[Mapping[str, str]] = None,
        network: bool = False,
        limits: Optional[ResourceLimits] = None,
        workdir: Optional[str] = None,
        action: str = "run",
        personality: Optional[str] = None,
    ) -> TaskSpec: ...

    async def run_container(self, step: str, spec: TaskSpec) -> Outcome: ...
