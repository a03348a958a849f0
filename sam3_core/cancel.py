"""Stopping work nobody waits for any more.

A caller that may stop waiting (``sam3-serve``, when a client disconnects) passes a ``threading.Event`` along with
the request and sets it. The service and the engine look at it at stage boundaries (``check``) and while waiting
for the engine (``FairLock.held``), and raise ``Cancelled`` naming the stage that did not run. Callers that never cancel
(the endpoint handler's ``handler(data)``) pass nothing.
"""

from __future__ import annotations

import threading
from collections import deque
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


class FairLock:
    """A lock granted in arrival order. A long request that takes it once per step (segment-everything takes it
    per chunk of grid points) queues behind the requests that arrived meanwhile instead of winning it straight back,
    as a ``threading.Lock`` lets the releasing thread do."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._queue: deque[object] = deque()
        self._held = False

    @contextmanager
    def held(self, cancel: threading.Event | None, stage: str) -> Iterator[None]:
        """Hold the lock; while waiting for it, give up with ``Cancelled(stage)`` once ``cancel`` is set."""
        ticket = object()
        with self._condition:
            self._queue.append(ticket)
            try:
                while self._held or self._queue[0] is not ticket:
                    self._condition.wait(POLL_S if cancel is not None else None)
                    check(cancel, stage)
            except BaseException:
                self._queue.remove(ticket)
                self._condition.notify_all()
                raise
            self._queue.popleft()
            self._held = True
        try:
            yield
        finally:
            with self._condition:
                self._held = False
                self._condition.notify_all()

    def locked(self) -> bool:
        with self._condition:
            return self._held
