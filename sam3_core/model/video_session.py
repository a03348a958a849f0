"""An interactive video session for concept (text) prompts: the video decoded once and kept on the host, prompts
given on any frame, propagated forward, backward or both, objects removed, as Meta's SAM3 video predictor
(facebookresearch/sam3, ``sam3_video_predictor.py``) runs them, on transformers' ``Sam3VideoModel``.

- ``add_text(position, texts, options, exemplars)`` restarts the session with those concepts, as Meta's
  ``add_prompt`` does for text and boxes, and answers that frame's objects: the detector and tracker run on it
  alone. ``exemplars`` (``Exemplars``) are concept exemplar boxes on that frame: the detector reads them there,
  beside the text (on every visit of that frame); without text the concept is Meta's and transformers'
  ``"visual"`` placeholder and no other frame starts objects (Meta's ``allow_new_detections``: the objects the
  boxes found are tracked, nothing new is detected). transformers' video model takes text only: the exemplars
  reach its detector through ``frame_detector_prompts``.
- ``propagate(direction, start, count, options)`` runs the frames in order on a fresh transformers session with
  the session's concepts, as ``propagate_in_video_iterator`` does (hotstart included: each frame's objects are
  known ``hotstart_delay`` frames later, objects that do not persist are removed); ``both`` is forward from
  ``start`` (included), then backward from ``start - 1``, on the same session (Meta's order; transformers has no
  "both": it is its two passes in a row). Object ids are the model's, the same in every propagation with the
  same prompts.
- ``remove_object(object_id)``: the object is not reported again (each propagation recomputes the tracks from the
  prompts, so a removed object is hidden, not forgotten by the model).

Memory: frames are kept losslessly compressed (PNG, so the model reads exactly the decoded pixels) and decoded and
processed for the model only when it reads them (``frames_on_demand``); tracker
memories of frames more than the model's horizon behind the current one are dropped, except, in ``both``, those
the backward pass reads first. Each frame takes the engine's lock on its own
(``engine.turns``), so image requests wait for a frame, not for a propagation; the cancel event is looked at
between frames.

Positions are 0-based among the session's frames; coordinates are pixels of the frame, boxes xyxy with exclusive
x2/y2 (``FrameObjects``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from sam3_core.media.video_io import Frame
from sam3_core.model.concepts import exemplar_cxcywh
from sam3_core.model.transformers_internals import (
    forget_outside,
    frames_on_demand,
    hotstart_delay,
    note_hotstart_removed,
    propagation_order,
)
from sam3_core.model.video import FrameObjects, SessionOptions, VideoTracker

DIRECTIONS = {"forward": (False,), "backward": (True,), "both": (False, True)}
VISUAL = "visual"  # the concept of exemplar boxes without text (Meta's and transformers' placeholder)


@dataclass(frozen=True)
class Exemplars:
    """Concept exemplar boxes on one frame: ``boxes`` pixel xyxy of the frame, ``labels`` 1 (positive) or 0
    (negative), one per box."""

    boxes: tuple[tuple[float, float, float, float], ...]
    labels: tuple[int, ...]

    def for_detector(self, width: int, height: int, device: torch.device, dtype: torch.dtype):
        """``(boxes (1, k, 4) normalised cxcywh, labels (1, k) long)``, as ``Sam3Model`` takes exemplars."""
        scale = torch.tensor([width, height, width, height], dtype=torch.float32)
        cxcywh = exemplar_cxcywh(torch.tensor([self.boxes], dtype=torch.float32), scale)
        return cxcywh.to(device, dtype), torch.tensor([self.labels], dtype=torch.long, device=device)


class SessionFrames(Mapping[int, torch.Tensor]):
    """A session's frames: kept as lossless PNG, decoded and processed for the model when it reads one (a mapping
    from position to the processed frame, as a transformers session reads ``processed_frames``)."""

    def __init__(self, tracker: VideoTracker, frames: Sequence[Frame]) -> None:
        if not frames:
            raise ValueError("a session needs at least one frame")
        self.tracker = tracker
        self.height, self.width = frames[0].pixels.shape[:2]
        self.frames = [Frame(frame.index, frame.timestamp, NO_PIXELS) for frame in frames]
        self._png = [_png(frame.pixels) for frame in frames]

    @property
    def nbytes(self) -> int:
        """Bytes of the frames (lossless PNG)."""
        return sum(len(png) for png in self._png)

    def __getitem__(self, position: int) -> torch.Tensor:
        """Frame ``position`` as the model reads it: ``(3, S, S)`` in the engine's dtype, on its device."""
        engine = self.tracker.engine
        video = self.tracker.processor.video_processor  # as init_video_session(video=...) processes a video
        pixels = _pixels(self._png[position])[np.newaxis]
        processed = video(videos=[pixels], device=engine.device, return_tensors="pt").pixel_values_videos[0][0]
        return processed.to(engine.device, engine.dtype)

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.frames)))

    def __len__(self) -> int:
        return len(self.frames)


class ConceptSession:
    """One video's session for concepts (see the module docstring). Not thread-safe: the caller runs one
    operation at a time."""

    def __init__(self, tracker: VideoTracker, frames: SessionFrames) -> None:
        self.tracker = tracker
        self.video = frames
        self.frames, self.height, self.width = frames.frames, frames.height, frames.width
        self.reset()

    @property
    def nbytes(self) -> int:
        return self.video.nbytes

    @property
    def prompted(self) -> bool:
        """Whether the session has a concept (text, exemplar boxes or both)."""
        return bool(self.texts) or self.exemplars is not None

    def _fresh(self):
        """A new transformers session over the frames, with the concepts."""
        engine = self.tracker.engine
        processor = self.tracker.processor
        session = processor.init_video_session(inference_device=engine.device, dtype=engine.dtype)
        frames_on_demand(session, self.video, self.height, self.width)
        processor.add_text_prompt(session, list(self.texts) or [VISUAL])
        return session

    def _run(self, session, position: int, reverse: bool, options: SessionOptions, cancel: threading.Event | None):
        """The model on frame ``position`` (``VideoTracker.step``), the exemplars read there if they are its."""
        engine = self.tracker.engine
        here = self.exemplars is not None and self.prompt_position == position
        exemplars = self.exemplars.for_detector(self.width, self.height, engine.device, engine.dtype) if here else None
        new_objects = bool(self.texts) or here
        return self.tracker.step(
            session, position, options, cancel, reverse=reverse, exemplars=exemplars, new_objects=new_objects
        )

    def add_text(
        self,
        position: int,
        texts: Sequence[str],
        options: SessionOptions,
        cancel: threading.Event | None = None,
        exemplars: Exemplars | None = None,
    ) -> FrameObjects:
        """Restart the session with concepts ``texts`` and/or ``exemplars`` prompted on frame ``position``; that
        frame's objects."""
        if not texts and exemplars is None:
            raise ValueError("a concept prompt needs text or exemplar boxes")
        self.reset()
        self.texts, self.prompt_position, self.exemplars = tuple(texts), position, exemplars
        session = self._fresh()
        output = self._run(session, position, False, options, cancel)
        return self._objects(session, output, position)

    def propagate(
        self,
        direction: str,
        start: int | None,
        count: int | None,
        options: SessionOptions,
        cancel: threading.Event | None = None,
    ) -> Iterator[FrameObjects]:
        """The objects of each frame propagation reaches, in the order they are known (see the module docstring).
        ``start``: the first frame (default: the prompt's); ``count``: how many frames past it at most."""
        if not self.prompted:
            raise ValueError("add a prompt before propagating")
        start = self.prompt_position if start is None else start
        session = self._fresh()
        model = self.tracker.model
        horizon, delay = self.tracker.memory_horizon, hotstart_delay(model)
        passes = DIRECTIONS[direction]
        for reverse in passes:
            order = propagation_order(model, session, start, count, reverse)
            held: list[tuple[int, object]] = []
            for step, position in enumerate(order):
                output = self._run(session, position, reverse, options, cancel)
                _forget(session, position, reverse, horizon, start if len(passes) > 1 and not reverse else None)
                if delay > 0:
                    held.append((position, output))
                    note_hotstart_removed(session, output)
                    last = step == len(order) - 1
                    ready, held = (held, []) if last else (held[:1], held[1:]) if len(held) >= delay else ([], held)
                else:
                    ready = [(position, output)]
                for shown, shown_output in ready:
                    yield self._objects(session, shown_output, shown)

    def _objects(self, session, output, position: int) -> FrameObjects:
        frame, size = self.frames[position], (self.height, self.width)
        return self.tracker.frame_objects(session, output, frame, frozenset(self.hidden), size)

    def remove_object(self, object_id: int) -> None:
        self.hidden.add(object_id)

    def reset(self) -> None:
        """Back to no prompt (Meta's ``reset_session``)."""
        self.texts: tuple[str, ...] = ()
        self.exemplars: Exemplars | None = None
        self.prompt_position: int | None = None
        self.hidden: set[int] = set()


NO_PIXELS = np.zeros((0, 0, 3), dtype=np.uint8)  # the frames a session answers with carry their index, not pixels
PNG_FAST = [cv2.IMWRITE_PNG_COMPRESSION, 1]


def _png(pixels: np.ndarray) -> bytes:
    """A frame (``(height, width, 3)`` uint8 RGB) as it is kept: lossless PNG, quick to write."""
    ok, encoded = cv2.imencode(".png", pixels[:, :, ::-1], PNG_FAST)
    if not ok:
        raise RuntimeError("PNG encoding of a frame failed")
    return encoded.tobytes()


def _pixels(png: bytes) -> np.ndarray:
    """The frame ``_png`` kept, as ``(height, width, 3)`` uint8 RGB."""
    return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1].copy()


def _forget(session, position: int, reverse: bool, horizon: int, also_near: int | None) -> None:
    """Drop memories the next frames do not read: those more than ``horizon`` frames behind ``position`` in the
    pass's direction, but, with ``also_near`` (a forward pass that a backward one from there follows), not those
    within ``horizon`` after it."""

    def keep(index: int) -> bool:
        behind = index >= position - horizon if not reverse else index <= position + horizon
        return behind or (also_near is not None and also_near <= index <= also_near + horizon)

    forget_outside(session, keep)
