"""A video request from the opened video to the documented JSON: frames decoded, tracked and encoded one at a time.

Each frame's masks are encoded (COCO RLE, ``sam3_core.masks.rle``) as soon as the tracker returns them, so the response
grows by a few hundred bytes per object per frame and no full-size mask outlives its frame. An object appears only
on the frames where it is visible. Text prompts are tracked by ``VideoTracker`` (label: the text prompt, score: the
detection score), visual prompts by ``VisualVideoTracker`` (label ``"visual"``, score: the tracker's presence score;
no object before the prompt frame).

Response (docs/VIDEO.md)::

    {"video": {"num_frames", "fps", "width", "height", "frame_indices", "timestamps"},
     "num_objects", "objects": [{"object_id", "label", "score",
                                 "frames": [{"frame_index", "score", "box", "rle"[, "polygon"]}, ...]}, ...],
     "sam_version", "prompt_types" (["text"] or ["visual"]), "success"[, "timings"]}

Boxes are pixel ``[x1, y1, x2, y2]`` of the frame (x2/y2 exclusive; the object's extent before the masks of one
prompt are made not to overlap); ``frame_index`` is the frame's 0-based
position in the video as sent (one of ``video.frame_indices``).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from sam3_core.api.response import SAM_VERSION
from sam3_core.api.video_request import VideoRequest
from sam3_core.masks import rle
from sam3_core.masks.encoding import mask_to_polygon
from sam3_core.media.video_io import open_video
from sam3_core.model.video import FrameObjects, VideoTracker
from sam3_core.model.video_visual import VisualVideoTracker, VisualVideoWork
from sam3_core.settings import RequestSettings


def frame_entry(
    mask: np.ndarray, box: list[float], frame_index: int, score: float, vectorize: bool, epsilon: float
) -> dict[str, Any]:
    """One object on one frame: ``mask`` is ``(height, width)`` bool, ``box`` pixel xyxy (x2/y2 exclusive); with
    ``vectorize``, its polygon simplified by ``epsilon`` pixels."""
    entry: dict[str, Any] = {
        "frame_index": frame_index,
        "score": round(score, 4),
        "box": [round(v, 2) for v in box],
        "rle": rle.encode(mask),
    }
    if vectorize:
        entry["polygon"] = mask_to_polygon(mask.view(np.uint8), epsilon)
    return entry


class TrackedObjects:
    """The response's ``objects`` gathered frame by frame (each frame's masks encoded as it comes, no pixels kept),
    and the ``(index, timestamp)`` of the frames seen, in order."""

    def __init__(self, vectorize: bool, epsilon: float) -> None:
        self.vectorize, self.epsilon = vectorize, epsilon
        self.by_id: dict[int, dict[str, Any]] = {}
        self.frames: list[tuple[int, float | None]] = []

    def add(self, result: FrameObjects) -> None:
        frame = result.frame
        self.frames.append((frame.index, frame.timestamp))
        masks, boxes = result.masks.numpy(), result.boxes.tolist()
        for row, object_id in enumerate(result.object_ids):
            score = result.scores[row]
            found = self.by_id.get(object_id)
            if found is None:
                found = self.by_id[object_id] = {
                    "object_id": object_id,
                    "label": result.labels[row],
                    "score": round(score, 4),
                    "frames": [],
                }
            found["score"] = max(found["score"], round(score, 4))
            entry = frame_entry(masks[row], boxes[row], frame.index, score, self.vectorize, self.epsilon)
            found["frames"].append(entry)

    @property
    def objects(self) -> list[dict[str, Any]]:
        return [self.by_id[object_id] for object_id in sorted(self.by_id)]


def video_description(
    frames: list[tuple[int, float | None]], width: int, height: int, fps: float | None
) -> dict[str, Any]:
    """The response's ``video``: the frames' count, ``(source index, timestamp)`` and the video's size and fps."""
    return {
        "num_frames": len(frames),
        "fps": None if fps is None else round(fps, 4),
        "width": width,
        "height": height,
        "frame_indices": [index for index, _ in frames],
        "timestamps": None if fps is None else [round(stamp, 4) for _, stamp in frames],
    }


def answer_video(
    tracker: VideoTracker, request: VideoRequest, settings: RequestSettings, cancel: threading.Event | None = None
) -> tuple[dict[str, Any], dict[str, float]]:
    """Track ``request`` through its video; returns the response and its timings (ms, and ``frames``)."""
    started = time.perf_counter()
    tracked = TrackedObjects(request.vectorize, request.simplify_epsilon)
    encode_s = 0.0
    with open_video(request.video, request.sampling, settings) as source:
        work = request.work
        if isinstance(work, VisualVideoWork):
            work.objects(source.width, source.height)  # prompts outside the frame: refused before decoding
            results = VisualVideoTracker(tracker).track(work, source.frames(), cancel)
        else:
            results = tracker.track(work, source.frames(), cancel)
        for result in results:
            began = time.perf_counter()
            tracked.add(result)
            encode_s += time.perf_counter() - began
        video = video_description(tracked.frames, source.width, source.height, source.fps)
    response = {
        "video": video,
        "num_objects": len(tracked.by_id),
        "objects": tracked.objects,
        "sam_version": SAM_VERSION,
        "prompt_types": request.prompt_types,
        "success": True,
    }
    frame_indices = video["frame_indices"]
    total_ms = (time.perf_counter() - started) * 1000.0
    timings = {"video_ms": round(total_ms, 2), "encode_ms": round(encode_s * 1000.0, 2)}
    timings["per_frame_ms"] = round(total_ms / max(1, len(frame_indices)), 2)
    if request.return_timings:
        response["timings"] = dict(timings)
    return response, timings
