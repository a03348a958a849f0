"""Stopping work nobody waits for any more.

A caller that may stop waiting (``sam3-serve``, when a client disconnects) passes a ``threading.Event`` along with
the request and sets it. The service and the engine look at it at stage boundaries (``check``) and while waiting
for a place (``FairSlots.held``: among the requests worked on at once, or the engine), and raise ``Cancelled``
naming the stage that did not run. Callers that never cancel (the endpoint handler's ``handler(data)``) pass
nothing.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
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


class FairSlots:
    """``capacity`` places granted in arrival order. A long request that takes a place once per step
    (segment-everything takes the engine per chunk of grid points) queues behind the requests that arrived
    meanwhile instead of winning it straight back, as a ``threading.Lock`` lets the releasing thread do."""

    def __init__(self, capacity: int = 1) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._condition = threading.Condition()
        self._queue: deque[object] = deque()
        self._taken = 0

    @contextmanager
    def held(
        self,
        cancel: threading.Event | None,
        stage: str,
        places: int = 1,
        unless: Callable[[], bool] | None = None,
    ) -> Iterator[bool]:
        """Hold ``places`` places (at most ``capacity``: a larger job takes them all); while waiting, give up with
        ``Cancelled(stage)`` once ``cancel`` is set. ``unless``: looked at whenever a place is given back; once it
        is true the caller stops waiting and holds nothing (its work was done by a holder, see
        ``model.batching``). Yields whether the places are held."""
        places = min(max(places, 1), self.capacity)
        ticket = object()
        with self._condition:
            self._queue.append(ticket)
            granted = False
            try:
                while not (unless is not None and unless()):
                    if self._taken + places <= self.capacity and self._queue[0] is ticket:
                        granted = True
                        break
                    self._condition.wait(POLL_S if cancel is not None else None)
                    check(cancel, stage)
            except BaseException:
                self._queue.remove(ticket)
                self._condition.notify_all()
                raise
            if granted:
                self._queue.popleft()
                self._taken += places
            else:
                self._queue.remove(ticket)
            self._condition.notify_all()  # the next in line may take a place that is still free
        try:
            yield granted
        finally:
            if granted:
                with self._condition:
                    self._taken -= places
                    self._condition.notify_all()

    def in_use(self) -> int:
        """Places held now."""
        with self._condition:
            return self._taken

    def waiting(self) -> int:
        """Callers queued for a place now."""
        with self._condition:
            return len(self._queue)


class FairLock(FairSlots):
    """One place: a lock granted in arrival order (see ``FairSlots``)."""

    def __init__(self) -> None:
        super().__init__(1)

    def locked(self) -> bool:
        return self.in_use() > 0
