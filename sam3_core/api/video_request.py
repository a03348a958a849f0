"""Parse and validate a video request: ``{"inputs": {"video": ..., "text_prompts": [...], ...}}`` (concept
tracking) or ``{"inputs": {"video": ..., "points": ..., "point_labels": ..., "boxes": ..., "box_labels": ...,
"frame_index": 0}}`` (visual prompts on one frame, ``sam3_core.model.video_visual``); not both kinds in one request.

The video itself is opened later (``video_io.open_video``), by the pipeline that reads it frame by frame; the
fields here are checked first, so a bad field is refused before any decoding.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sam3_core.api.request import CLIENT_FIELDS, group_visual_objects, payload_parts
from sam3_core.api.restated import RESTATED, check_restated
from sam3_core.api.values import parse_number, unknown_name
from sam3_core.errors import RequestError
from sam3_core.media.video_io import Sampling, check_video_value
from sam3_core.model.video import VideoWork
from sam3_core.model.video_visual import VisualVideoWork
from sam3_core.settings import Limits, RequestSettings

# The fields a video request shares with an image request are checked by the image request's declaration
# (``CLIENT_FIELDS``: the same check, default and bounds); the video's own are checked here.
VIDEO_FIELDS = (
    "video",
    "text_prompts",
    "points",
    "point_labels",
    "boxes",
    "box_labels",
    "frame_index",
    "confidence_threshold",
    "new_object_threshold",
    "max_frames",
    "frame_stride",
    "fps",
    "max_objects",
    "vectorize",
    "simplify_epsilon",
    "return_timings",
)
# Image-only fields a video request may not carry, with what to do instead.
NOT_FOR_VIDEO = {
    "image": "send either 'image' or 'video', not both",
    "automatic": "segment-everything is for images only; send text_prompts",
    "multimask_output": "is for visual prompts on images only",
}


@dataclass(frozen=True)
class VideoRequest:
    """A validated video request; ``video`` is the client's value (base64 file or list of base64 frames);
    ``work``: text prompts (``VideoWork``) or visual prompts (``VisualVideoWork``)."""

    video: object
    work: VideoWork | VisualVideoWork
    sampling: Sampling
    vectorize: bool = False
    simplify_epsilon: float = 2.0
    return_timings: bool = False

    @property
    def text_prompts(self) -> tuple[str, ...]:
        return self.work.text_prompts if isinstance(self.work, VideoWork) else ()

    @property
    def prompt_types(self) -> list[str]:
        return ["text"] if isinstance(self.work, VideoWork) else ["visual"]


def is_video_payload(data: object) -> bool:
    """Whether ``data`` is a video request (``inputs`` or ``parameters`` carry a ``video`` field)."""
    if not isinstance(data, Mapping):
        return False
    inputs, parameters = data.get("inputs"), data.get("parameters")
    return (isinstance(inputs, Mapping) and "video" in inputs) or (
        isinstance(parameters, Mapping) and "video" in parameters
    )


def parse_sampling(fields: Mapping, limits: Limits) -> Sampling:
    """Which frames of a video are read: ``frame_stride`` or ``fps`` (not both), at most ``max_frames``."""

    def optional(name: str, low: float, high: float, integer: bool = False) -> float | None:
        given = fields.get(name)
        return None if given is None else parse_number(given, name, low, high, integer=integer)

    stride, fps = optional("frame_stride", 1, 10_000, integer=True), optional("fps", 0.001, 1000)
    if stride is not None and fps is not None:
        raise RequestError("fps", "give fps or frame_stride, not both")
    max_frames = optional("max_frames", 1, limits.max_video_frames, integer=True)
    return Sampling(
        frame_stride=1 if stride is None else int(stride),
        fps=fps,
        max_frames=None if max_frames is None else int(max_frames),
    )


def parse_video_payload(data: Mapping, settings: RequestSettings) -> VideoRequest:
    """Validate a video request (``is_video_payload``); raise ``RequestError`` naming the bad field."""
    inputs, parameters = payload_parts(data)
    if not isinstance(inputs, Mapping):
        raise RequestError("inputs", "expected an object of fields with the video in 'video'")
    fields = {**parameters, **inputs}
    for key in fields:
        if key in NOT_FOR_VIDEO:
            raise RequestError(key, NOT_FOR_VIDEO[key])
        if key not in VIDEO_FIELDS and key not in RESTATED:
            raise unknown_name(key, VIDEO_FIELDS, "unknown field for a video request")
    value = {key: fields.get(key) for key in VIDEO_FIELDS}
    check_video_value(value["video"])
    limits = settings.limits
    checked: dict[str, object] = {}

    def shared(name: str):
        """An image request's field, as an image request checks it (absent: its default)."""
        checked[name] = CLIENT_FIELDS[name].parse(name, value[name], limits, checked)
        return checked[name]

    prompts = shared("text_prompts")
    visual = [name for name in ("points", "boxes") if value[name] is not None]
    if prompts and visual:
        raise RequestError(visual[0], "send text_prompts or points/boxes in one video request, not both")
    if not prompts and not visual:
        raise RequestError("text_prompts", "a video request needs at least one text prompt, or points/boxes")

    def optional(name: str, low: float, high: float, integer: bool = False) -> float | None:
        given = value[name]
        return None if given is None else parse_number(given, name, low, high, integer=integer)

    sampling = parse_sampling(value, limits)
    max_objects, confidence = shared("max_objects"), shared("confidence_threshold")
    if prompts:
        for name in ("point_labels", "box_labels", "frame_index"):
            if value[name] is not None:
                raise RequestError(name, "is for visual prompts (points/boxes); text prompts are found on every frame")
        work: VideoWork | VisualVideoWork = VideoWork(
            text_prompts=prompts,
            confidence_threshold=confidence,
            new_object_threshold=optional("new_object_threshold", 0.0, 1.0),
            max_objects=max_objects,
        )
    else:
        if value["new_object_threshold"] is not None:
            raise RequestError("new_object_threshold", "is for text prompts; visual prompts start their objects")
        points, boxes = shared("points"), shared("boxes")
        point_labels, box_labels = shared("point_labels"), shared("box_labels")
        work = _visual_work(value, (points, point_labels, boxes, box_labels), sampling, confidence, max_objects)
    given = {"points": bool(value["points"]), "boxes": bool(value["boxes"])}
    check_restated(fields, ["text"] if prompts else ["visual"], given)
    return VideoRequest(
        video=value["video"],
        work=work,
        sampling=sampling,
        vectorize=shared("vectorize"),
        simplify_epsilon=shared("simplify_epsilon"),
        return_timings=shared("return_timings"),
    )


def _visual_work(
    value: dict, prompts: tuple, sampling: Sampling, confidence: float, max_objects: int
) -> VisualVideoWork:
    """Points and boxes as for an image (pixels, xyxy boxes, one 0/1 label each; ``prompts``: points, their
    labels, boxes, theirs, checked), with the video's rules: no negative boxes, every object needs a positive
    point or box, ``frame_index`` a frame the sampling keeps."""
    points, point_labels, boxes, box_labels = prompts
    if 0 in box_labels:
        index = box_labels.index(0)
        raise RequestError(
            f"box_labels[{index}]", "a negative box (0) is for images only; on video, mark background with points"
        )
    objects = group_visual_objects(points, point_labels, boxes, box_labels)
    if not objects:
        raise RequestError("points" if value["points"] is not None else "boxes", "is empty: nothing to track")
    for obj in objects:
        if obj.box is None and 1 not in obj.point_labels:
            problem = "every point is negative (0)"
            if boxes:
                problem += f" and the points form their own object beside {len(boxes)} boxes"
            raise RequestError("point_labels", problem + ": nothing to track; give a positive point or box")
    if len(objects) > max_objects:
        raise RequestError("max_objects", f"the prompts make {len(objects)} objects, over the limit of {max_objects}")
    frame_index = (
        0
        if value["frame_index"] is None
        else int(parse_number(value["frame_index"], "frame_index", 0, 10**9, integer=True))
    )
    stride = sampling.frame_stride
    if frame_index % stride:
        raise RequestError(
            "frame_index",
            f"{frame_index} is not a sampled frame: frame_stride {stride} keeps frames 0, {stride}, {2 * stride}, ...",
        )
    if sampling.fps is None and sampling.max_frames is not None and frame_index >= stride * sampling.max_frames:
        raise RequestError(
            "frame_index", f"{frame_index} is past the last frame max_frames {sampling.max_frames} keeps"
        )
    return VisualVideoWork(
        points=tuple((x, y) for x, y in points),
        point_labels=point_labels,
        boxes=tuple(boxes),
        box_labels=box_labels,
        frame_index=frame_index,
        confidence_threshold=confidence,
    )
