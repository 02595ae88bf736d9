"""How a task's end is told to the hub, and kept until the hub has it.

Encoding, exactly as kojid does it (koji/daemon.py TaskManager.runTask):
- success: host.closeTask(id, xmlrpcplus.dumps((result,), methodresponse=1,
  allow_none=1)), the serialized XML string;
- failure: host.failTask(id, xmlrpcplus.dumps(Fault(code, text))), code the
  exception's faultCode (1 without one).  The text is str(e) for koji's
  GenericError family; for anything else kojid sends a traceback, adjutant a
  one-line summary (the traceback goes to adjutant's own journal).

The outbox: a finished task's call is written to <state_dir>/outbox/<id>.json
before it is sent and removed once the hub has it, so a result survives an
unreachable hub and a restart of adjutant.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

from adjutant.atomic import write_atomically

CLOSE = "host.closeTask"
FAIL = "host.failTask"


def encode_result(value: Any) -> str:
    from koji import xmlrpcplus

    return xmlrpcplus.dumps((value,), methodresponse=1, allow_none=1)


def failure_text(exc: BaseException) -> str:
    import koji

    from adjutant.errors import AdjutantError

    # koji's errors and ours are written for people: their text is the reason
    if isinstance(exc, (koji.GenericError, AdjutantError)):
        return str(exc)
    if isinstance(exc, koji.xmlrpcplus.Fault):
        return exc.faultString
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"adjutant internal error: {type(exc).__name__}: {message}".rstrip(": ")


def encode_failure(exc: BaseException) -> str:
    from koji import xmlrpcplus

    code = getattr(exc, "faultCode", 1)
    return xmlrpcplus.dumps(xmlrpcplus.Fault(code, failure_text(exc)))


@dataclass(frozen=True)
class PendingResult:
    task_id: int
    method: str  # CLOSE or FAIL
    response: str
    summary: str  # one line for logs and for people
    created: float


class Outbox:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, task_id: int) -> Path:
        return self.directory / f"{task_id}.json"

    def put(self, task_id: int, method: str, response: str, summary: str) -> PendingResult:
        self.directory.mkdir(parents=True, exist_ok=True)
        entry = PendingResult(task_id, method, response, summary, time.time())
        # the result of a build must survive even a power cut before delivery
        write_atomically(self._path(task_id), json.dumps(asdict(entry)), sync=True)
        return entry

    def get(self, task_id: int) -> Optional[PendingResult]:
        try:
            return PendingResult(**json.loads(self._path(task_id).read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def pending(self) -> list[PendingResult]:
        if not self.directory.is_dir():
            return []
        entries = []
        for path in sorted(self.directory.glob("*.json")):
            entry = self.get(int(path.stem)) if path.stem.isdigit() else None
            if entry is not None:
                entries.append(entry)
        return entries

    def done(self, task_id: int) -> None:
        self._path(task_id).unlink(missing_ok=True)
