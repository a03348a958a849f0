"""Stopping work nobody waits for any more.

A caller that may stop waiting (``sam3-serve``, when a client disconnects) passes a ``threading.Event`` along with
the request and sets it. The service and the engine look at it at stage boundaries (``check``) and while waiting
for the engine (``locked``), and raise ``Cancelled`` naming the stage that did not run. Callers that never cancel
(the endpoint handler's ``handler(data)``) pass nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

POLL_S = 0.05  # how often a wait for the engine looks at the event


class Cancelled(Exception):
    """The request's cancel event was set; ``stage`` is the stage that did not run."""

    def __init__(self, stage: str) -> None:
        super().__init__(f"cancelled before {stage}")
        self.stage = stage


def check(cancel: threading.Event | None, stage: str) -> None:
    """Raise ``Cancelled(stage)`` if ``cancel`` is set."""
    if cancel is not None and cancel.is_set():
        raise Cancelled(stage)


@contextmanager
def locked(lock: threading.Lock, cancel: threading.Event | None, stage: str) -> Iterator[None]:
    """Hold ``lock``; while waiting for it, give up with ``Cancelled(stage)`` once ``cancel`` is set."""
    if cancel is None:
        lock.acquire()
    else:
        while not lock.acquire(timeout=POLL_S):
            check(cancel, stage)
    try:
        yield
    finally:
        lock.release()
