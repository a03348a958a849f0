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
from sam3_core.model.video import VideoTracker
from sam3_core.model.video_visual import VisualVideoTracker, VisualVideoWork
from sam3_core.settings import RequestSettings


def _frame_entry(
    mask: np.ndarray, box: list[float], frame_index: int, score: float, request: VideoRequest
) -> dict[str, Any]:
    """One object on one frame: ``mask`` is ``(height, width)`` bool, ``box`` pixel xyxy (x2/y2 exclusive)."""
    entry: dict[str, Any] = {
        "frame_index": frame_index,
        "score": round(score, 4),
        "box": [round(v, 2) for v in box],
        "rle": rle.encode(mask),
    }
    if request.vectorize:
        entry["polygon"] = mask_to_polygon(mask.view(np.uint8), request.simplify_epsilon)
    return entry


def answer_video(
    tracker: VideoTracker, request: VideoRequest, settings: RequestSettings, cancel: threading.Event | None = None
) -> tuple[dict[str, Any], dict[str, float]]:
    """Track ``request`` through its video; returns the response and its timings (ms, and ``frames``)."""
    started = time.perf_counter()
    objects: dict[int, dict[str, Any]] = {}
    frame_indices: list[int] = []
    timestamps: list[float | None] = []
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
            frame = result.frame
            frame_indices.append(frame.index)
            timestamps.append(None if frame.timestamp is None else round(frame.timestamp, 4))
            masks, boxes = result.masks.numpy(), result.boxes.tolist()
            for row, object_id in enumerate(result.object_ids):
                score = result.scores[row]
                found = objects.get(object_id)
                if found is None:
                    found = objects[object_id] = {
                        "object_id": object_id,
                        "label": result.labels[row],
                        "score": round(score, 4),
                        "frames": [],
                    }
                found["score"] = max(found["score"], round(score, 4))
                found["frames"].append(_frame_entry(masks[row], boxes[row], frame.index, score, request))
            encode_s += time.perf_counter() - began
        video = {
            "num_frames": len(frame_indices),
            "fps": None if source.fps is None else round(source.fps, 4),
            "width": source.width,
            "height": source.height,
            "frame_indices": frame_indices,
            "timestamps": None if source.fps is None else timestamps,
        }
    response = {
        "video": video,
        "num_objects": len(objects),
        "objects": [objects[object_id] for object_id in sorted(objects)],
        "sam_version": SAM_VERSION,
        "prompt_types": request.prompt_types,
        "success": True,
    }
    total_ms = (time.perf_counter() - started) * 1000.0
    timings = {"video_ms": round(total_ms, 2), "encode_ms": round(encode_s * 1000.0, 2)}
    timings["per_frame_ms"] = round(total_ms / max(1, len(frame_indices)), 2)
    if request.return_timings:
        response["timings"] = dict(timings)
    return response, timings
