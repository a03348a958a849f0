"""An interactive video session for visual prompts (SAM2's semantics on a video): objects made by boxes or clicks
on any frame, refined by more clicks on any frame, tracked forward, backward or both.

It runs transformers' ``Sam3TrackerVideoModel`` through its session API, as ``Sam3TrackerVideoProcessor`` and the
model document it: ``add_inputs_to_inference_session`` for each object prompted on a frame, the model on that
frame, then the model on each frame in the order ``propagate_in_video_iterator`` visits them (forward from the
start frame; backward from it, itself included; ``both``: forward, then backward from the frame before the
start). The session's state persists between requests, so a click on frame 40 makes frame 40 a conditioning frame
of that object and the next propagation carries it.

What the session keeps of each tracked frame is what the model reads back (``compact_tracker_outputs``: memory
features and object pointers; not the full-size masks), so a long video's state grows by the memories alone.

The tracker is the ``VideoTracker``'s (the engine's prompt encoder and mask decoder, no vision encoder of its
own): each frame's features are the engine's ViT through the video model's tracker neck, cached in the session
before the model reads the frame (``cache_tracker_frame``), as the one-shot visual path does. Frames come from the
session's ``SessionFrames``; each takes the engine's lock on its own, the cancel event looked at between frames.

Objects are listed on a frame as the one-shot visual path lists them (presence score strictly above the
confidence threshold, mask not empty). Coordinates are pixels of the frame: points ``[x, y]``, boxes
``[x1, y1, x2, y2]``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import torch

from sam3_core.model.transformers_internals import (
    compact_tracker_outputs,
    drop_frame_features,
    frames_on_demand,
    tracker_state_bytes,
)
from sam3_core.model.video import FrameObjects, VideoTracker
from sam3_core.model.video_session import SessionFrames
from sam3_core.model.video_visual import VisualVideoTracker, prompt_inputs
from sam3_core.model.work import VisualObject

DIRECTIONS = {"forward": (False,), "backward": (True,), "both": (False, True)}


class VisualSession:
    """One video's session for visual prompts (see the module docstring); one operation at a time."""

    def __init__(self, tracker: VideoTracker, frames: SessionFrames) -> None:
        self.tracker, self.video = tracker, frames
        self.frames, self.height, self.width = frames.frames, frames.height, frames.width
        # The one-shot path's tracker: its frame step, its prompts' processor, how it lists a frame's objects.
        self.listing = VisualVideoTracker(tracker)
        self.reset()

    @property
    def state_bytes(self) -> int:
        """Bytes of the tracker state kept between requests (memories and object pointers, on the host)."""
        return tracker_state_bytes(self.session)

    @property
    def object_ids(self) -> set[int]:
        return set(self._objects)

    def reset(self) -> None:
        """Back to no object (Meta's ``reset_session``)."""
        engine = self.tracker.engine
        # The state kept between requests (each object's outputs per frame) on the host: a session holds no device
        # memory while it waits, but the one frame's features the model read last (dropped after each request).
        self.session = self.listing.processor.init_video_session(
            inference_device=engine.device, inference_state_device="cpu", dtype=engine.dtype
        )
        frames_on_demand(self.session, self.video, self.height, self.width)
        self._objects: set[int] = set()
        self.prompt_positions: set[int] = set()
        self.hidden: set[int] = set()

    def _run(self, position: int, reverse: bool, cancel: threading.Event | None, inputs: Sequence[dict] = ()):
        """The tracker on frame ``position`` (``VisualVideoTracker.step``), given ``inputs`` there first; what the
        session keeps of the frame compacted after."""
        output = self.listing.step(self.session, position, cancel, reverse=reverse, inputs=inputs)
        compact_tracker_outputs(self.session, position)
        return output

    def _listed(self, output, position: int, threshold: float) -> FrameObjects:
        size = (self.height, self.width)
        return self.listing.frame_objects(output, self.frames[position], size, threshold, frozenset(self.hidden))

    def add(
        self,
        position: int,
        prompts: Sequence[tuple[int, VisualObject]],
        threshold: float,
        cancel: threading.Event | None = None,
    ) -> FrameObjects:
        """Prompt objects on frame ``position``: ``(object id, its points and/or box)`` each (a new id adds an
        object; an id the session has refines it there, replacing what that frame had for it); the frame's
        objects."""
        size = (self.height, self.width)
        inputs = [prompt_inputs(object_id, obj, size) for object_id, obj in prompts]
        output = self._run(position, False, cancel, inputs)  # one after another, as the one-shot path adds them
        for object_id, _ in prompts:
            self._objects.add(object_id)
            self.hidden.discard(object_id)
        self.prompt_positions.add(position)
        listed = self._listed(output, position, threshold)
        drop_frame_features(self.session)
        return listed

    def seed(self, position: int, object_id: int, mask: torch.Tensor, cancel: threading.Event | None = None) -> None:
        """Condition object ``object_id`` on ``mask`` (``(height, width)`` bool) on frame ``position``, as
        transformers' video model conditions its tracker on a new detection (a mask input on that frame)."""
        self._run(position, False, cancel, [{"obj_ids": [object_id], "input_masks": [mask]}])
        self._objects.add(object_id)
        self.hidden.discard(object_id)
        self.prompt_positions.add(position)
        drop_frame_features(self.session)

    def propagate(
        self,
        direction: str,
        start: int | None,
        count: int | None,
        threshold: float,
        cancel: threading.Event | None = None,
    ) -> Iterator[FrameObjects]:
        """Each frame's objects, in the order the frames are tracked. ``start``: default the earliest prompted
        frame; ``count``: frames past it at most."""
        if not self.prompt_positions:
            raise ValueError("add a prompt before propagating")
        start = min(self.prompt_positions) if start is None else start
        count = len(self.frames) if count is None else count
        passes = DIRECTIONS[direction]
        for reverse in passes:
            if reverse:
                order = list(range(start, max(start - count, 0) - 1, -1)) if start > 0 else []  # as transformers
                order = order[1:] if len(passes) > 1 else order  # "both": the start frame is the forward pass's
            else:
                order = list(range(start, min(start + count, len(self.frames) - 1) + 1))
            for position in order:
                yield self._listed(self._run(position, reverse, cancel), position, threshold)
        drop_frame_features(self.session)  # the last frame's features: not kept while the session waits

    def remove_object(self, object_id: int) -> None:
        self.hidden.add(object_id)
