"""Task handlers, one module per Koji method (srpm.py: its two SRPM methods), and
the table of them."""

from __future__ import annotations

from adjutant.tasks.base import TaskHandler
from adjutant.tasks.build import BuildHandler
from adjutant.tasks.buildarch import BuildArchHandler
from adjutant.tasks.chainbuild import ChainBuildHandler
from adjutant.tasks.createrepo import CreaterepoHandler
from adjutant.tasks.default import DefaultHandler
from adjutant.tasks.dependant import DependantTaskHandler
from adjutant.tasks.fork import ForkHandler
from adjutant.tasks.newrepo import NewRepoHandler
from adjutant.tasks.notification import BuildNotificationHandler, TagNotificationHandler
from adjutant.tasks.restart import RestartHandler, RestartHostsHandler, RestartVerifyHandler
from adjutant.tasks.sleep import SleepHandler
from adjutant.tasks.srpm import BuildSRPMFromSCMHandler, RebuildSRPMHandler
from adjutant.tasks.subtask import SubtaskHandler
from adjutant.tasks.tagbuild import TagBuildHandler
from adjutant.tasks.waitrepo import WaitrepoHandler
from adjutant.tasks.waittest import WaitTestHandler

HANDLER_CLASSES: tuple[type[TaskHandler], ...] = (
    BuildHandler,
    ChainBuildHandler,
    TagBuildHandler,
    WaitrepoHandler,
    NewRepoHandler,
    CreaterepoHandler,
    TagNotificationHandler,
    BuildNotificationHandler,
    BuildArchHandler,
    RebuildSRPMHandler,
    BuildSRPMFromSCMHandler,
    DependantTaskHandler,
    RestartHandler,
    RestartVerifyHandler,
    RestartHostsHandler,
    SleepHandler,
    ForkHandler,
    WaitTestHandler,
    SubtaskHandler,
    DefaultHandler,
)


def handler_table() -> dict[str, type[TaskHandler]]:
    """{method: handler class} for every method adjutant handles."""
    table: dict[str, type[TaskHandler]] = {}
    for cls in HANDLER_CLASSES:
        for method in cls.methods:
            if method in table:
                raise AssertionError(f"two handlers for {method}")
            table[method] = cls
    return table
