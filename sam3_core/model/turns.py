"""The engine's turns: its lock taken one step of a long job at a time, and the device's queue.

A long job (segment-everything's grid chunks and crops, a video's frames) takes the engine once per step, so
requests that arrive meanwhile wait for a step, not for the whole job. The engine composes this; the jobs that
run over the engine (``model.generator``, ``model.video``) take its turns without knowing the engine.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager

import torch

from sam3_core.cancel import FairLock


class EngineTurns:
    """Turns on ``lock`` (requests take it in arrival order) for work on ``device``."""

    def __init__(self, lock: FairLock, device: torch.device) -> None:
        self.lock = lock
        self.device = device

    def turn(self, cancel: threading.Event | None, stage: str) -> AbstractContextManager[None]:
        """The engine's lock for one step; while waiting, ``Cancelled(stage)`` once ``cancel`` is set."""
        return self.lock.held(cancel, stage)

    def synchronize(self) -> None:
        """Wait for the device's queued work (a no-op on the CPU), so a step's time is its own."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
