"""X-AnyLabeling's video routes over the video sessions (docs/VIDEO.md, "Sessions"), for its SAM3 video model
(``batch_processing_mode: "video"``): the client sends every frame once, prompts text on a frame, and
propagates from there, writing each frame's shapes next to its image.

- ``POST /v1/video/init`` ``{"model", "frames": [data URIs], "start_frame_index"}`` starts a session with the
  frames (no sampling: frame ``i`` is the client's ``i``-th image); ``{"data": {"session_id", "num_frames",
  "start_frame_index"}}``.
- ``POST /v1/video/prompt`` ``{"session_id", "model", "text_prompt", "frame_index", "params": {"conf_threshold",
  "epsilon_factor"}}``: the concepts (comma-separated) on that frame; or ``{"points" (fractions of the frame),
  "point_labels", "obj_id"}``: clicks making (or refining) that object, as a session takes Meta's points;
  ``{"data": {"frame_index", "num_objects", "masks": [shapes]}}``.
- ``POST /v1/video/propagate/stream`` ``{"session_id", "model", "start_frame"[, "end_frame" (inclusive)]}``:
  forward from ``start_frame``, as server-sent events: ``started``, ``progress`` per frame as it is known, then
  ``completed`` with every frame's shapes (``{"results": {"<frame>": {"masks": [shapes]}}}``), or ``error``.
- ``POST /v1/video/cleanup/{session_id}``: closes the session.

Shapes are as ``/v1/predict``'s: a closed polygon per part of each object's mask (simplified by
``epsilon_factor`` of its outline, the session's last prompt's when propagating), labelled with its concept,
``group_id`` the object's id + 1, as X-AnyLabeling's reference server numbers them.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from sam3_core.adapters.xanylabeling.protocol import POLYGON, closed_polygons, concepts
from sam3_core.api.values import parse_list, parse_number, parse_object
from sam3_core.errors import RequestError
from sam3_core.masks import rle

Answer = Callable[[dict], Any]
DEFAULT_EPSILON = 0.001


def _session_id(body: Mapping) -> str:
    session_id = body.get("session_id")
    if not isinstance(session_id, str) or not session_id:
        raise RequestError("session_id", "expected the id /v1/video/init answered")
    return session_id


def _epsilon(params: Mapping) -> float:
    value = params.get("epsilon_factor")
    return DEFAULT_EPSILON if value is None else parse_number(value, "params.epsilon_factor", 0.0, 1.0)


def frame_shapes(objects: list[dict], epsilon_factor: float) -> list[dict]:
    """A session answer's objects on one frame (``object_id``, ``label``, ``score``, ``rle``) as shapes."""
    shapes = []
    for obj in objects:
        shape = {"label": obj["label"], "score": obj["score"], "group_id": obj["object_id"] + 1}
        polygons = closed_polygons(np.ascontiguousarray(rle.decode(obj["rle"])), epsilon_factor)
        shapes += [{**shape, "shape_type": POLYGON, "points": points} for points in polygons]
    return shapes


def init(body: object, answer: Answer) -> dict:
    """``/v1/video/init``: a session over the client's frames."""
    body = parse_object(body, "body")
    frames = parse_list(body.get("frames"), "frames")
    started = answer({"inputs": {"type": "start_session", "video": frames}})
    data = {"session_id": started["session_id"], "num_frames": started["video"]["num_frames"], "start_frame_index": 0}
    return {"success": True, "data": data}


class Fineness:
    """The ``epsilon_factor`` of each session's last prompt (the propagation request carries none), for the
    ``KEPT`` most recent sessions."""

    KEPT = 1024

    def __init__(self) -> None:
        self._by_session: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, session_id: str, epsilon: float) -> None:
        with self._lock:
            self._by_session[session_id] = epsilon
            self._by_session.move_to_end(session_id)
            while len(self._by_session) > self.KEPT:
                self._by_session.popitem(last=False)

    def of(self, session_id: str) -> float:
        with self._lock:
            return self._by_session.get(session_id, DEFAULT_EPSILON)


def prompt(body: object, answer: Answer, fineness: Fineness) -> dict:
    """``/v1/video/prompt``: a text prompt on a frame; that frame's shapes."""
    body = parse_object(body, "body")
    params = parse_object(body.get("params") or {}, "params")
    frame_index = int(parse_number(body.get("frame_index"), "frame_index", 0, 10**9, integer=True))
    inputs: dict[str, Any] = {"type": "add_prompt", "session_id": _session_id(body), "frame_index": frame_index}
    if body.get("points") is not None:  # clicks: fractions of the frame with an object id, as Meta's sessions take
        inputs.update(points=body["points"], point_labels=body.get("point_labels"), obj_id=body.get("obj_id"))
    elif body.get("text_prompt"):
        inputs["text_prompts"] = concepts(body["text_prompt"])
        if params.get("conf_threshold"):  # the client sends 0.0 until its field is set: the session's default then
            conf = parse_number(params["conf_threshold"], "params.conf_threshold", 0.0, 1.0)
            inputs["confidence_threshold"] = conf
    else:
        raise RequestError("text_prompt", "expected the concepts to find, comma-separated, or points")
    found = answer({"inputs": inputs})
    fineness.remember(inputs["session_id"], _epsilon(params))
    shapes = frame_shapes(found["objects"], _epsilon(params))
    return {"success": True, "data": {"frame_index": frame_index, "num_objects": found["num_objects"], "masks": shapes}}


def propagation_payload(body: object) -> dict:
    """``/v1/video/propagate/stream``'s body as a session ``propagate_in_video`` request (forward)."""
    body = parse_object(body, "body")
    inputs: dict[str, Any] = {
        "type": "propagate_in_video",
        "session_id": _session_id(body),
        "propagation_direction": "forward",
    }
    start = body.get("start_frame")
    if start is not None:
        inputs["start_frame_index"] = int(parse_number(start, "start_frame", 0, 10**9, integer=True))
    end = body.get("end_frame")
    if end is not None:
        end = int(parse_number(end, "end_frame", 0, 10**9, integer=True))
        inputs["max_frame_num_to_track"] = max(0, end - (start or 0))
    return {"inputs": inputs}


class PropagationEvents:
    """Session stream items (``session_response.stream_propagation``) as X-AnyLabeling's server-sent events."""

    def __init__(self, epsilon_factor: float) -> None:
        self.epsilon_factor = epsilon_factor
        self.results: dict[str, dict] = {}
        self.total = 0

    def __call__(self, item: Mapping) -> bytes:
        events = []
        if "error" in item:
            events.append({"type": "error", "message": item["error"]})
        elif "video_frames" in item:
            self.total = item["video_frames"]
            events.append({"type": "started", "total_frames": self.total, "start_frame_index": 0})
        elif "frame_index" in item:
            index = item["frame_index"]
            self.results[str(index)] = {"masks": frame_shapes(item["objects"], self.epsilon_factor)}
            events.append({"type": "progress", "current_frame": index, "total_frames": self.total})
        elif item.get("done"):
            events.append({"type": "completed", "results": self.results})
        return b"".join(f"data: {json.dumps(event)}\n\n".encode() for event in events)
