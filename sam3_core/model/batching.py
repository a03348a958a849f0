"""Requests that wait for the engine run together once it is free: no timer, so a request alone runs at once.

Each caller puts its jobs (one per image) in ``BatchQueue``'s pending list and waits for the engine's lock in
arrival order (``cancel.FairLock``). Whoever gets the lock takes every pending job, up to ``max_images``, runs
them as one batch (one ViT pass over the images, the detector over every image and prompt pair) and marks each
done; a caller whose jobs were all done by another holder stops waiting without taking the lock. A batch forms
only from requests that were already waiting, so batching adds no latency to a request on an idle engine.

A job carries its caller's cancel event: once set, the job leaves the pending list (or, when already taken, is
dropped at the next stage of its batch) and its caller raises ``Cancelled``; the rest of the batch goes on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sam3_core.cancel import Cancelled, FairLock
from sam3_core.model.work import SegmentationWork


@dataclass(eq=False)
class Job:
    """One image's work, in a batch or waiting for one. ``result``/``error``: set once, by the batch that ran it."""

    work: SegmentationWork
    cancel: threading.Event | None = None
    result: Any = None
    error: BaseException | None = None
    done: bool = False
    queued_at: float = field(default_factory=time.perf_counter)  # when it began waiting for a batch

    @property
    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()

    def finish(self, result: Any) -> None:
        self.result, self.done = result, True

    def fail(self, error: BaseException) -> None:
        self.error, self.done = error, True


@dataclass
class BatchQueue:
    """The engine's waiting room. ``run_batch(jobs)`` must finish or fail every job it is given."""

    lock: FairLock
    run_batch: Callable[[list[Job]], None]
    max_images: int = 16
    _pending: list[Job] = field(default_factory=list)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def run(self, works: Sequence[SegmentationWork], cancel: threading.Event | None = None) -> list[Job]:
        """Run ``works`` (together, and with whatever else is waiting); their finished jobs, in order. Raises
        ``Cancelled("engine")`` when ``cancel`` is set while waiting."""
        jobs = [Job(work, cancel) for work in works]
        with self._guard:
            self._pending.extend(jobs)

        def all_done() -> bool:
            return all(job.done for job in jobs)

        try:
            while not all_done():
                with self.lock.held(cancel, "engine", unless=all_done) as granted:
                    if granted:
                        batch = self._take()
                        if batch:
                            self.run_batch(batch)
        except Cancelled:
            with self._guard:
                self._pending = [job for job in self._pending if job not in jobs]
            raise
        return jobs

    def waiting(self) -> int:
        """Jobs waiting for a batch now."""
        with self._guard:
            return len(self._pending)

    def _take(self) -> list[Job]:
        """The next batch: pending jobs in arrival order, up to ``max_images`` (a cancelled one is dropped by the
        batch, before the ViT)."""
        with self._guard:
            batch, self._pending = self._pending[: self.max_images], self._pending[self.max_images :]
        return batch


def chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    """``items`` in consecutive slices of ``size`` (the last one shorter)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
