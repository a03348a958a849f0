"""Visual prompts on video (SAM2 semantics): points and boxes on one frame, each object tracked through the rest.

The client draws its prompts on one frame, ``frame_index``: the 0-based position of that frame in the video as
sent (the numbering of the response's ``frame_index``), which must be one of the sampled frames. Objects are made
as on an image without text (``request.group_visual_objects``): each positive box is one object, all points
together one object, and with exactly one positive box the points refine that box's object. Object ids are
0, 1, ... in that order. Frames before ``frame_index`` are decoded and listed but carry no objects (tracking
runs forward only: the video is streamed, never held whole).

The tracker is transformers' ``Sam3TrackerVideoModel`` as the ``VideoTracker``'s video model already holds it
(``model.tracker_model``: the engine's prompt encoder and mask decoder, its own memory layers; no vision encoder),
fed the engine's ViT output through the tracker neck (``Sam3VideoModel.get_vision_features_for_tracker``), so no
weights are copied. Frames go one at a time through its streaming API (``forward(frame=...)``), each under the
engine's lock (``engine.turn``), the cancel event looked at between frames. The session keeps only the current
frame, the prompt frame's outputs and the last ``memory_horizon`` frames' memories.

A frame lists an object when its presence score, ``sigmoid(object_score_logits)`` (the tracker's own "the object
is visible" test is a score above 0.5), is strictly above ``confidence_threshold`` and its mask is not empty (at or
below 0.5 the tracker empties the mask, so a threshold under 0.5 lists no more than 0.5 does). Coordinates are
pixels of the frame, origin top-left: points ``[x, y]`` inside ``[0, width] x [0, height]``, boxes ``[x1, y1, x2,
y2]`` (clipped to the frame), as for images.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch
from transformers import Sam3TrackerVideoProcessor

from sam3_core.api.request import group_visual_objects
from sam3_core.api.values import check_points_inside, clip_box
from sam3_core.cancel import check
from sam3_core.errors import RequestError
from sam3_core.masks.postprocess import mask_box
from sam3_core.media.video_io import Frame
from sam3_core.model.transformers_internals import (
    Sam2VideoVideoProcessor,
    Sam3TrackerVideoInferenceSession,
    cache_tracker_frame,
    forget_before,
    forget_tracked,
    video_tracker,
    vit,
)
from sam3_core.model.video import FrameObjects, VideoTracker
from sam3_core.model.work import Box, Point, VisualObject

LABEL = "visual"


@dataclass(frozen=True)
class VisualVideoWork:
    """Visual prompts for a video as the client gave them (validated numbers and 0/1 labels, not yet checked
    against the frame size: ``objects`` does that once the video is open).

    ``frame_index``: the source frame the prompts are drawn on (see the module docstring).
    ``confidence_threshold``: an object is listed on a frame when its presence score is strictly above it.
    """

    points: tuple[Point, ...] = ()
    point_labels: tuple[int, ...] = ()
    boxes: tuple[Box, ...] = ()
    box_labels: tuple[int, ...] = ()
    frame_index: int = 0
    confidence_threshold: float = 0.5

    def objects(self, width: int, height: int) -> list[VisualObject]:
        """The tracked objects on a ``width`` x ``height`` frame (boxes clipped to it); raises ``RequestError``
        naming a point outside the frame or a box that lies outside it."""
        check_points_inside(self.points, width, height, "frame")
        boxes = [clip_box(box, index, width, height) for index, box in enumerate(self.boxes)]
        return group_visual_objects(self.points, self.point_labels, boxes, self.box_labels)


class VisualVideoTracker:
    """Tracks visual prompts through a stream of frames on the ``VideoTracker``'s model (thread-safe)."""

    def __init__(self, video: VideoTracker) -> None:
        self.video = video
        self.processor = Sam3TrackerVideoProcessor(
            image_processor=video.engine.tracker_processor.image_processor,
            video_processor=Sam2VideoVideoProcessor(),
        )

    def new_session(self) -> Sam3TrackerVideoInferenceSession:
        engine = self.video.engine
        return self.processor.init_video_session(inference_device=engine.device, dtype=engine.dtype)

    def track(
        self,
        work: VisualVideoWork,
        frames: Iterable[Frame],
        cancel: threading.Event | None = None,
        session: Sam3TrackerVideoInferenceSession | None = None,
    ) -> Iterator[FrameObjects]:
        """The objects of each frame of ``frames`` (decoded lazily), in order; ``session``: the tracker session
        to use (a fresh one by default). Raises ``RequestError`` naming ``frame_index`` when that frame is not
        among ``frames``, ``Cancelled`` before the next frame once ``cancel`` is set."""
        engine, horizon = self.video.engine, self.video.memory_horizon
        session = session if session is not None else self.new_session()
        objects: list[VisualObject] | None = None
        position = 0  # the model's frame number: the position of a frame among those tracked
        last = None
        for frame in frames:
            last = frame.index
            check(cancel, "video frame")
            height, width = frame.pixels.shape[:2]
            if objects is None:
                if frame.index < work.frame_index:
                    yield _empty(frame)
                    continue
                if frame.index > work.frame_index:
                    raise RequestError(
                        "frame_index",
                        f"frame {work.frame_index} is not one of the sampled frames (the next is {frame.index})",
                    )
                objects = work.objects(width, height)
            with torch.inference_mode():
                pixels = self.processor(images=frame.pixels, device=engine.device, return_tensors="pt").pixel_values
            inputs = [prompt_inputs(n, obj, (height, width)) for n, obj in enumerate(objects)] if position == 0 else ()
            output = self.step(
                session, position, cancel, frame=pixels[0].to(engine.device, engine.dtype), inputs=inputs
            )
            objects = self.frame_objects(output, frame, (height, width), work.confidence_threshold)
            _forget(session, position, horizon)
            position += 1
            yield objects
        if objects is None:
            raise RequestError("frame_index", f"frame {work.frame_index} is past the last sampled frame ({last})")

    def frame_objects(
        self, output, frame: Frame, size: tuple[int, int], threshold: float, hidden: frozenset[int] = frozenset()
    ) -> FrameObjects:
        """The tracker's ``output`` on ``frame`` (masks at ``size`` ``(height, width)``): the objects whose presence
        score is strictly above ``threshold`` and whose mask is not empty, but those in ``hidden``."""
        with torch.inference_mode():
            masks = self.processor.post_process_masks([output.pred_masks], original_sizes=[list(size)])[0]
            scores = output.object_score_logits.float().sigmoid().flatten().cpu()
        # The tracker empties the mask of an object it scores at or below 0.5: such a frame does not list it.
        shown = masks[:, 0].flatten(1).any(dim=1).tolist()
        keep = [
            row
            for row, object_id in enumerate(output.object_ids)
            if scores[row] > threshold and shown[row] and object_id not in hidden
        ]
        kept = masks[keep, 0].cpu()
        return FrameObjects(
            frame=frame,
            object_ids=[output.object_ids[row] for row in keep],
            labels=[LABEL] * len(keep),
            scores=[float(scores[row]) for row in keep],
            masks=kept,
            boxes=torch.tensor([mask_box(mask) for mask in kept.numpy()], dtype=torch.float32).reshape(-1, 4),
        )

    def step(
        self,
        session: Sam3TrackerVideoInferenceSession,
        position: int,
        cancel: threading.Event | None = None,
        *,
        frame: torch.Tensor | None = None,
        reverse: bool = False,
        inputs: Sequence[dict] = (),
    ):
        """The tracker on frame ``position`` of ``session``, under the engine's lock: every visual pass runs its
        frames through here, the one-shot request's stream and the sessions alike.

        The frame's features are the engine's ViT and the video model's tracker neck over ``frame`` (``(3, S, S)``
        as the model reads it: a streamed session, the one-shot request) or over the session's own frame. Each of
        ``inputs`` (``add_inputs_to_inference_session``'s arguments for this frame: ``prompt_inputs``) is added,
        then the model run, one after another: each run computes the objects given since the last and reuses the
        others' outputs on the frame, as transformers does. Without inputs the model runs once. Raises
        ``Cancelled`` before the frame once ``cancel`` is set; the last output."""
        video, engine = self.video, self.video.engine
        model = video.model
        check(cancel, "video frame")
        with engine.turns.turn(cancel, "video frame"), torch.inference_mode():
            pixels = frame if frame is not None else session.get_frame(position)
            cache_tracker_frame(model, session, position, vit(engine.detector, pixels[None]))
            output = None
            for given in inputs or (None,):
                if given is not None:
                    self.processor.add_inputs_to_inference_session(session, frame_idx=position, **given)
                output = video_tracker(model)(
                    inference_session=session, frame=frame, frame_idx=position, reverse=reverse
                )
                frame = None  # a streamed frame is the session's once the model has read it
            engine.turns.synchronize()
        return output


def prompt_inputs(object_id: int, obj: VisualObject, size: tuple[int, int]) -> dict:
    """``add_inputs_to_inference_session``'s arguments for object ``object_id`` with ``obj``'s points (and their
    labels) and box, pixels of a frame of ``size`` ``(height, width)``, for one object on one frame."""
    prompt: dict = {"obj_ids": object_id, "original_size": size}
    if obj.points:
        prompt["input_points"] = [[[list(point) for point in obj.points]]]
        prompt["input_labels"] = [[list(obj.point_labels)]]
    if obj.box is not None:
        prompt["input_boxes"] = [[list(obj.box)]]
    return prompt


def _empty(frame: Frame) -> FrameObjects:
    height, width = frame.pixels.shape[:2]
    return FrameObjects(frame, [], [], [], torch.zeros((0, height, width), dtype=torch.bool), torch.zeros((0, 4)))


def _forget(session: Sam3TrackerVideoInferenceSession, position: int, horizon: int) -> None:
    """``forget_before``, and the per-frame "tracked" marks the tracker no longer reads (``forget_tracked``)."""
    forget_before(session, position, horizon)
    forget_tracked(session, position)
