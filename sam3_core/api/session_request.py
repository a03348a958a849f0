"""Video session requests: Meta's SAM3 video predictor's request types and field names (facebookresearch/sam3,
``sam3_video_predictor.py`` ``handle_request``), inside ``inputs``::

    {"inputs": {"type": "start_session", "video": "<base64>", "max_frames": 300}}
    {"inputs": {"type": "add_prompt", "session_id": "...", "frame_index": 40, "text": "person"}}
    {"inputs": {"type": "propagate_in_video", "session_id": "...", "propagation_direction": "both"}}
    {"inputs": {"type": "remove_object", "session_id": "...", "obj_id": 3}}
    {"inputs": {"type": "reset_session", "session_id": "..."}}   # and "close_session"

- ``start_session``: the video as a one-shot video request takes it (``video``, ``frame_stride``/``fps``,
  ``max_frames``, the same limits), and the session's detection options (``confidence_threshold``,
  ``new_object_threshold``, ``max_objects``). Meta's ``resource_path`` (a file on the server) is refused.
- ``add_prompt``: ``frame_index`` (one of the session's ``frame_indices``: the frame's position in the video as
  sent, as in the one-shot response) and ``text`` (Meta's, one concept) or ``text_prompts`` (a list); detection
  options for this prompt. As Meta's, a text prompt restarts the session with it. Or clicks and boxes
  (``_visual_prompt``): ``points`` with ``point_labels`` and ``obj_id`` (Meta's fractions of the frame, or pixels
  with ``"coordinates": "pixels"``: the field decides, never the values) and ``boxes`` (pixel xyxy, each a new
  object). Or Meta's ``bounding_boxes`` (``_exemplars``): concept exemplars, normalised ``[x, y, width,
  height]``, with ``bounding_box_labels``, alone or with text: like text, they restart the session.
- ``propagate_in_video``: ``propagation_direction`` (``both``, the default, ``forward`` or ``backward``),
  ``start_frame_index`` (default: the prompt's frame), ``max_frame_num_to_track`` (frames past the start, default
  all), ``vectorize``/``simplify_epsilon`` as for any answer.
- ``remove_object``: ``obj_id``; ``reset_session`` and ``close_session``: nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sam3_core.api.request import CLIENT_FIELDS, payload_parts
from sam3_core.api.values import parse_coordinate_list, parse_labels, parse_number, parse_text_prompts, unknown_name
from sam3_core.api.video_request import parse_sampling
from sam3_core.errors import RequestError
from sam3_core.media.video_io import Sampling, check_video_value
from sam3_core.settings import Limits, RequestSettings

OPTIONS = ("confidence_threshold", "new_object_threshold", "max_objects")
ANSWER = ("vectorize", "simplify_epsilon")
FIELDS = {
    "start_session": ("video", "frame_stride", "fps", "max_frames", *OPTIONS),
    "add_prompt": (
        "session_id",
        "frame_index",
        "text",
        "text_prompts",
        "points",
        "point_labels",
        "obj_id",
        "boxes",
        "box_labels",
        "coordinates",
        "bounding_boxes",
        "bounding_box_labels",
        *OPTIONS,
        *ANSWER,
    ),
    "propagate_in_video": (
        "session_id",
        "propagation_direction",
        "start_frame_index",
        "max_frame_num_to_track",
        *ANSWER,
    ),
    "remove_object": ("session_id", "obj_id"),
    "reset_session": ("session_id",),
    "close_session": ("session_id",),
}
DIRECTIONS = ("both", "forward", "backward")
EDGE = 1e-6  # how far past the frame's edge an exemplar box may reach (rounding of fractions)
COORDINATES = ("normalized", "pixels")  # of ``points``: Meta's fractions of the frame (default), or pixels
NOT_HERE = {
    "resource_path": "send the video itself as 'video' (base64 file or frames), as a one-shot video request does",
}


@dataclass(frozen=True)
class SessionRequest:
    """A validated session request; fields not given are ``None`` (the session's or the default applies)."""

    kind: str
    session_id: str | None = None
    video: object = None
    sampling: Sampling | None = None
    options: dict[str, float | int | None] | None = None  # detection options given, by name
    frame_index: int | None = None
    texts: tuple[str, ...] = ()
    direction: str = "both"
    start_frame_index: int | None = None
    max_frame_num_to_track: int | None = None
    obj_id: int | None = None
    points: tuple[tuple[float, float], ...] = ()
    point_labels: tuple[int, ...] = ()
    boxes: tuple[tuple[float, float, float, float], ...] = ()
    coordinates: str = "normalized"
    exemplar_boxes: tuple[tuple[float, float, float, float], ...] = ()  # Meta's normalised xywh
    exemplar_labels: tuple[int, ...] = ()
    vectorize: bool = False
    simplify_epsilon: float = 2.0


def is_session_payload(data: object) -> bool:
    """Whether ``data`` is a session request (``inputs`` is an object with a ``type``)."""
    return isinstance(data, Mapping) and isinstance(data.get("inputs"), Mapping) and "type" in data["inputs"]


def parse_session_payload(data: Mapping, settings: RequestSettings) -> SessionRequest:
    """Validate a session request (``is_session_payload``); ``RequestError`` naming the field."""
    inputs, parameters = payload_parts(data)
    fields = {**parameters, **inputs}
    kind = fields.pop("type")
    if kind not in FIELDS:
        raise unknown_name(str(kind)[:40], FIELDS, "unknown session request type", kind="types")
    if "type" in parameters:
        raise RequestError("type", "goes in 'inputs'")
    accepted = FIELDS[kind]
    for key in fields:
        if key in accepted:
            continue
        if key in NOT_HERE:
            raise RequestError(key, NOT_HERE[key])
        raise unknown_name(key, accepted, f"unknown field for {kind}")
    limits = settings.limits

    def integer(name: str, low: int, high: float) -> int | None:
        value = fields.get(name)
        return None if value is None else int(parse_number(value, name, low, high, integer=True))

    found: dict = {"kind": kind}
    if kind != "start_session":
        session_id = fields.get("session_id")
        if not isinstance(session_id, str) or not session_id:
            raise RequestError("session_id", "expected the id start_session answered")
        found["session_id"] = session_id[:100]
    if kind == "start_session":
        if fields.get("video") is None:
            raise RequestError("video", "start_session needs the video (base64 file or list of base64 frames)")
        check_video_value(fields["video"])
        found.update(video=fields["video"], sampling=parse_sampling(fields, limits))
    if kind in ("start_session", "add_prompt"):
        options: dict[str, float | int | None] = {}
        checked: dict = {}
        for name in ("confidence_threshold", "max_objects"):
            if fields.get(name) is not None:
                options[name] = CLIENT_FIELDS[name].parse(name, fields[name], limits, checked)
        if fields.get("new_object_threshold") is not None:
            options["new_object_threshold"] = parse_number(fields["new_object_threshold"], "new_object_threshold", 0, 1)
        found["options"] = options
    if kind == "add_prompt":
        found["frame_index"] = integer("frame_index", 0, 10**9)
        if found["frame_index"] is None:
            raise RequestError("frame_index", "add_prompt needs the frame the prompt is on")
        if fields.get("text") is not None and fields.get("text_prompts") is not None:
            raise RequestError("text", "give 'text' or 'text_prompts', not both")
        name = "text" if fields.get("text") is not None else "text_prompts"
        texts = parse_text_prompts(fields.get(name), limits) if fields.get(name) is not None else ()
        found.update(_exemplars(fields, limits, bool(texts)))
        found.update(_visual_prompt(fields, limits, bool(texts) or bool(found["exemplar_boxes"])))
        if not texts and not found["points"] and not found["boxes"] and not found["exemplar_boxes"]:
            raise RequestError("text", "add_prompt needs a text prompt, or points or boxes, or exemplar bounding_boxes")
        found["texts"] = texts
    if kind == "propagate_in_video":
        direction = fields.get("propagation_direction", "both")
        if direction not in DIRECTIONS:
            raise RequestError("propagation_direction", f"expected one of {', '.join(DIRECTIONS)}")
        found["direction"] = direction
        found["start_frame_index"] = integer("start_frame_index", 0, 10**9)
        found["max_frame_num_to_track"] = integer("max_frame_num_to_track", 0, limits.max_video_frames)
    if kind in ("add_prompt", "propagate_in_video"):
        checked = {}
        found["vectorize"] = CLIENT_FIELDS["vectorize"].parse("vectorize", fields.get("vectorize"), limits, checked)
        epsilon = fields.get("simplify_epsilon")
        found["simplify_epsilon"] = CLIENT_FIELDS["simplify_epsilon"].parse(
            "simplify_epsilon", epsilon, limits, checked
        )
    if kind == "remove_object":
        found["obj_id"] = integer("obj_id", 0, 10**9)
        if found["obj_id"] is None:
            raise RequestError("obj_id", "remove_object needs the object's id")
    return SessionRequest(**found)


def _exemplars(fields: Mapping, limits: Limits, text: bool) -> dict:
    """Meta's ``bounding_boxes``: concept exemplar boxes, ``[x, y, width, height]`` as fractions of the frame
    (top-left corner and size), with ``bounding_box_labels`` (1 positive, the default, or 0 negative); without
    text, at least one positive."""
    value, labels = fields.get("bounding_boxes"), fields.get("bounding_box_labels")
    if value is None:
        if labels is not None:
            raise RequestError("bounding_box_labels", "goes with bounding_boxes")
        return {"exemplar_boxes": (), "exemplar_labels": ()}
    boxes = parse_coordinate_list(value, "bounding_boxes", 4, limits.max_boxes)
    if not boxes:
        raise RequestError("bounding_boxes", "is empty: give at least one [x, y, width, height] box")
    for index, (x, y, width, height) in enumerate(boxes):
        inside = min(x, y) >= 0.0 and width > 0.0 and height > 0.0
        if not (inside and x + width <= 1.0 + EDGE and y + height <= 1.0 + EDGE):
            raise RequestError(
                f"bounding_boxes[{index}]",
                "expected [x, y, width, height] as fractions of the frame, inside it, width and height > 0",
            )
    labels = (1,) * len(boxes) if labels is None else parse_labels(labels, "bounding_box_labels", len(boxes), "boxes")
    if not text and 1 not in labels:
        raise RequestError("bounding_box_labels", "without text, at least one exemplar box must be positive (1)")
    return {"exemplar_boxes": tuple(tuple(box) for box in boxes), "exemplar_labels": labels}


def _visual_prompt(fields: Mapping, limits: Limits, text: bool) -> dict:
    """An ``add_prompt``'s clicks and boxes: ``points`` (Meta's fractions of the frame, or pixels with
    ``"coordinates": "pixels"``; with ``obj_id``: a new id adds an object, the id of one refines it) and ``boxes``
    (pixel xyxy, each a new object, or with one box and ``obj_id``, that object's box)."""
    given = [
        name for name in ("points", "boxes", "obj_id", "point_labels", "box_labels") if fields.get(name) is not None
    ]
    if text and given:
        raise RequestError(
            given[0], "give a concept (text, bounding_boxes) or clicks and boxes in one add_prompt, not both"
        )
    coordinates = fields.get("coordinates", "normalized")
    if coordinates not in COORDINATES:
        raise RequestError("coordinates", "expected 'normalized' (fractions of the frame, Meta's) or 'pixels'")
    checked: dict = {}
    points = CLIENT_FIELDS["points"].parse("points", fields.get("points"), limits, checked)
    checked["points"] = points
    labels = CLIENT_FIELDS["point_labels"].parse("point_labels", fields.get("point_labels"), limits, checked)
    boxes = CLIENT_FIELDS["boxes"].parse("boxes", fields.get("boxes"), limits, checked)
    checked["boxes"] = boxes
    box_labels = CLIENT_FIELDS["box_labels"].parse("box_labels", fields.get("box_labels"), limits, checked)
    if 0 in box_labels:
        raise RequestError("box_labels", "a box on a video makes an object: negative boxes are not taken")
    if coordinates == "normalized":
        for index, (x, y) in enumerate(points):
            if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                raise RequestError(f"points[{index}]", 'is outside [0, 1]: send "coordinates": "pixels" for pixels')
    obj_id = fields.get("obj_id")
    if obj_id is not None:
        obj_id = int(parse_number(obj_id, "obj_id", 0, 10**9, integer=True))
        if len(boxes) > 1:
            raise RequestError("obj_id", "goes with points or one box: each of several boxes is a new object")
    elif points:
        raise RequestError("obj_id", "points go with the id of the object they make or refine")
    return {
        "points": tuple(tuple(point) for point in points),
        "point_labels": tuple(labels),
        "boxes": tuple(tuple(box) for box in boxes),
        "obj_id": obj_id,
        "coordinates": coordinates,
    }
