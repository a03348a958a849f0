"""Video session requests answered (``sam3_core.api.session_request``), in the one-shot video response's format.

- ``start_session``: ``{"session_id", "video": {"num_frames", "fps", "width", "height", "frame_indices",
  "timestamps"}, "success"}``.
- ``add_prompt``: ``{"session_id", "frame_index", "num_objects", "objects": [{"object_id", "label", "score",
  "box", "rle"[, "polygon"]}], "success"}``: the prompt frame's objects.
- ``propagate_in_video``: ``{"session_id", "propagation_direction", "video": {... "frame_indices" of the frames
  tracked, in the order they were tracked}, "num_objects", "objects": [{"object_id", "label", "score",
  "frames": [...]}], "sam_version", "prompt_types", "success"}``, the one-shot response's fields.
- ``remove_object``, ``reset_session``, ``close_session``: ``{"session_id", "is_success": true, "success"}``.

Boxes are pixel xyxy with exclusive x2/y2, masks COCO RLE, as in the one-shot video response (docs/VIDEO.md).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from sam3_core.api.response import SAM_VERSION
from sam3_core.api.session_request import SessionRequest
from sam3_core.api.values import check_points_inside, clip_box
from sam3_core.api.video_response import TrackedObjects, frame_entry, video_description
from sam3_core.errors import RequestError
from sam3_core.media.video_io import open_video
from sam3_core.model.video import FrameObjects, SessionOptions, VideoTracker
from sam3_core.model.video_session import Exemplars, SessionFrames
from sam3_core.model.video_session_mixed import VideoSession
from sam3_core.model.work import VisualObject
from sam3_core.settings import RequestSettings
from sam3_core.video_sessions import OpenSession, SessionStore


def _options(base: SessionOptions, given: dict | None) -> SessionOptions:
    given = given or {}
    return SessionOptions(
        confidence_threshold=given.get("confidence_threshold", base.confidence_threshold),
        new_object_threshold=given.get("new_object_threshold", base.new_object_threshold),
        max_objects=given.get("max_objects", base.max_objects),
    )


def start_session(
    store: SessionStore, tracker: VideoTracker, request: SessionRequest, settings: RequestSettings
) -> dict[str, Any]:
    """Decode the video's sampled frames, keep them in a new session; its id and the video's description."""
    with open_video(request.video, request.sampling, settings) as source:
        frames = list(source.frames())
        width, height, fps = source.width, source.height, source.fps
    video = video_description([(frame.index, frame.timestamp) for frame in frames], width, height, fps)
    options = _options(SessionOptions(max_objects=settings.limits.max_objects), request.options)
    session_id = store.add(OpenSession(VideoSession(tracker, SessionFrames(tracker, frames)), video, options))
    return {"session_id": session_id, "video": video, "success": True}


def frame_listing(objects: FrameObjects, request: SessionRequest) -> list[dict[str, Any]]:
    """One frame's objects, in their order: ``{"object_id", "label", "score", "box", "rle"[, "polygon"]}``."""
    masks, boxes = objects.masks.numpy(), objects.boxes.tolist()
    listed = []
    for row, object_id in enumerate(objects.object_ids):
        score, epsilon = objects.scores[row], request.simplify_epsilon
        entry = frame_entry(masks[row], boxes[row], objects.frame.index, score, request.vectorize, epsilon)
        del entry["frame_index"]
        listed.append({"object_id": object_id, "label": objects.labels[row], **entry})
    return listed


def _visual_prompts(request: SessionRequest, session: VideoSession) -> list[tuple[int, VisualObject]]:
    """The request's clicks and boxes as ``(object id, object)``: points (in pixels) with their ``obj_id`` (and
    the one box given with it), or each box a new object."""
    width, height = session.width, session.height
    points = request.points
    if request.coordinates == "normalized":
        points = tuple((x * width, y * height) for x, y in points)
    check_points_inside(points, width, height, "frame")
    boxes = [clip_box(box, index, width, height) for index, box in enumerate(request.boxes)]
    if request.obj_id is not None:
        box = boxes[0] if boxes else None
        return [(request.obj_id, VisualObject(points, request.point_labels, box))]
    first = max(session.object_ids, default=-1) + 1
    return [(first + index, VisualObject(box=box)) for index, box in enumerate(boxes)]


def _exemplars(request: SessionRequest, session: VideoSession) -> Exemplars | None:
    """Meta's exemplar ``bounding_boxes`` (normalised xywh) as pixel xyxy boxes of the frame."""
    if not request.exemplar_boxes:
        return None
    width, height = session.width, session.height
    boxes = tuple((x * width, y * height, (x + w) * width, (y + h) * height) for x, y, w, h in request.exemplar_boxes)
    return Exemplars(boxes, request.exemplar_labels)


def _prompt_answer(request: SessionRequest, found: OpenSession, cancel: threading.Event | None) -> dict[str, Any]:
    position = found.position(request.frame_index, "frame_index")
    found.options = _options(found.options, request.options)
    session = found.session
    if request.texts or request.exemplar_boxes:  # a concept starts the session over with it (Meta's add_prompt)
        objects = session.add_text(position, request.texts, found.options, cancel, _exemplars(request, session))
    else:
        objects = session.add_visual(position, _visual_prompts(request, session), found.options, cancel)
    listed = frame_listing(objects, request)
    return {
        "session_id": request.session_id,
        "frame_index": request.frame_index,
        "num_objects": len(listed),
        "objects": listed,
        "success": True,
    }


def propagated(found: OpenSession, request: SessionRequest, cancel: threading.Event | None) -> Iterator[FrameObjects]:
    """The frames propagation reaches, as they are known (checked before the first frame is computed)."""
    start = (
        None if request.start_frame_index is None else found.position(request.start_frame_index, "start_frame_index")
    )
    if not found.session.prompt_types:
        raise RequestError("session_id", "the session has no prompt yet: add_prompt first")
    frames = found.session.propagate(request.direction, start, request.max_frame_num_to_track, found.options, cancel)
    return _within_size(found, frames)


def _within_size(found: OpenSession, frames: Iterator[FrameObjects]) -> Iterator[FrameObjects]:
    """``frames``, stopped by ``OpenSession.check_size`` once the session holds too much (what it tracked is
    kept)."""
    for result in frames:
        found.check_size()
        yield result


def _propagate_answer(request: SessionRequest, found: OpenSession, cancel: threading.Event | None) -> dict[str, Any]:
    tracked = TrackedObjects(request.vectorize, request.simplify_epsilon)
    for result in propagated(found, request, cancel):
        tracked.add(result)
    video = found.video
    return {
        "session_id": request.session_id,
        "propagation_direction": request.direction,
        "video": video_description(tracked.frames, video["width"], video["height"], video["fps"]),
        "num_objects": len(tracked.by_id),
        "objects": tracked.objects,
        "sam_version": SAM_VERSION,
        "prompt_types": found.session.prompt_types,
        "success": True,
    }


def stream_propagation(
    store: SessionStore, request: SessionRequest, cancel: threading.Event | None = None
) -> Iterator[dict[str, Any]]:
    """A ``propagate_in_video`` answer as it goes: first ``{"session_id", "propagation_direction",
    "video_frames"}`` (the session's frame count), then ``{"frame_index", "objects": [{"object_id", "label",
    "score", "box", "rle"[, "polygon"]}]}`` per frame as soon as it is known, then ``{"session_id",
    "propagation_direction", "num_frames", "frame_indices", "done": true}``. The session is held meanwhile."""
    indices = []
    with store.using(request.session_id) as found:
        frames = propagated(found, request, cancel)  # checked before the first line
        yield {
            "session_id": request.session_id,
            "propagation_direction": request.direction,
            "video_frames": found.video["num_frames"],
        }
        for result in frames:
            indices.append(result.frame.index)
            objects = sorted(frame_listing(result, request), key=lambda obj: obj["object_id"])
            yield {"frame_index": result.frame.index, "objects": objects}
    yield {
        "session_id": request.session_id,
        "propagation_direction": request.direction,
        "num_frames": len(indices),
        "frame_indices": indices,
        "done": True,
    }


def answer_session(
    store: SessionStore,
    tracker: VideoTracker,
    request: SessionRequest,
    settings: RequestSettings,
    cancel: threading.Event | None = None,
) -> dict[str, Any]:
    """The answer to any session request (see the module docstring)."""
    if request.kind == "start_session":
        return start_session(store, tracker, request, settings)
    done = {"session_id": request.session_id, "is_success": True, "success": True}
    if request.kind == "close_session":
        store.close(request.session_id)
        return done
    with store.using(request.session_id) as found:
        if request.kind == "add_prompt":
            return _prompt_answer(request, found, cancel)
        if request.kind == "propagate_in_video":
            return _propagate_answer(request, found, cancel)
        if request.kind == "remove_object":
            found.session.remove_object(request.obj_id)
        else:  # reset_session
            found.session.reset()
        return done
