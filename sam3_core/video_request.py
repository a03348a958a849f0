"""Parse and validate a video request: ``{"inputs": {"video": ..., "text_prompts": [...], ...}}``.

The video itself is opened later (``video_io.open_video``), by the pipeline that reads it frame by frame; the
fields here are checked first, so a bad field is refused before any decoding.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass

from sam3_core.errors import QUOTE_CHARS, RequestError, quote
from sam3_core.request import _boolean, _number, _text_prompts
from sam3_core.settings import RequestSettings
from sam3_core.video import VideoWork
from sam3_core.video_io import Sampling, check_video_value

VIDEO_FIELDS = (
    "video",
    "text_prompts",
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
    "points": "visual prompts are not supported for video yet; send text_prompts",
    "boxes": "visual prompts are not supported for video yet; send text_prompts",
    "point_labels": "visual prompts are not supported for video yet; send text_prompts",
    "box_labels": "visual prompts are not supported for video yet; send text_prompts",
    "automatic": "segment-everything is for images only; send text_prompts",
    "multimask_output": "is for visual prompts on images only",
}


@dataclass(frozen=True)
class VideoRequest:
    """A validated video request; ``video`` is the client's value (base64 file or list of base64 frames)."""

    video: object
    work: VideoWork
    sampling: Sampling
    vectorize: bool = False
    simplify_epsilon: float = 2.0
    return_timings: bool = False

    @property
    def text_prompts(self) -> tuple[str, ...]:
        return self.work.text_prompts


def is_video_payload(data: object) -> bool:
    """Whether ``data`` is a video request (``inputs`` or ``parameters`` carry a ``video`` field)."""
    if not isinstance(data, Mapping):
        return False
    inputs, parameters = data.get("inputs"), data.get("parameters")
    return (isinstance(inputs, Mapping) and "video" in inputs) or (
        isinstance(parameters, Mapping) and "video" in parameters
    )


def parse_video_payload(data: Mapping, settings: RequestSettings) -> VideoRequest:
    """Validate a video request (``is_video_payload``); raise ``RequestError`` naming the bad field."""
    inputs, parameters = data.get("inputs"), data.get("parameters")
    if parameters is not None and not isinstance(parameters, Mapping):
        raise RequestError("parameters", f"expected an object, got {type(parameters).__name__}")
    if not isinstance(inputs, Mapping):
        raise RequestError("inputs", "expected an object of fields with the video in 'video'")
    fields = {**(parameters or {}), **inputs}
    for key in fields:
        if key in NOT_FOR_VIDEO:
            raise RequestError(key, NOT_FOR_VIDEO[key])
        if key not in VIDEO_FIELDS:
            name = key if isinstance(key, str) else f"<{type(key).__name__}>"
            close = difflib.get_close_matches(name, VIDEO_FIELDS, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"accepted fields are {', '.join(VIDEO_FIELDS)}"
            shown = name if name.isidentifier() and len(name) <= QUOTE_CHARS else quote(name)
            raise RequestError(shown, f"unknown field for a video request; {hint}")
    value = {key: fields.get(key) for key in VIDEO_FIELDS}
    check_video_value(value["video"])
    limits = settings.limits
    prompts = _text_prompts([] if value["text_prompts"] is None else value["text_prompts"], limits)
    if not prompts:
        raise RequestError("text_prompts", "a video request needs at least one text prompt")

    def optional(name: str, low: float, high: float, integer: bool = False) -> float | None:
        given = value[name]
        return None if given is None else _number(given, name, low, high, integer=integer)

    def flag(name: str) -> bool:
        return False if value[name] is None else _boolean(value[name], name)

    stride, fps = optional("frame_stride", 1, 10_000, integer=True), optional("fps", 0.001, 1000)
    if stride is not None and fps is not None:
        raise RequestError("fps", "give fps or frame_stride, not both")
    max_frames = optional("max_frames", 1, limits.max_video_frames, integer=True)
    max_objects = optional("max_objects", 1, limits.max_objects, integer=True)
    confidence = optional("confidence_threshold", 0.0, 1.0)
    work = VideoWork(
        text_prompts=prompts,
        confidence_threshold=0.5 if confidence is None else confidence,
        new_object_threshold=optional("new_object_threshold", 0.0, 1.0),
        max_objects=limits.max_objects if max_objects is None else int(max_objects),
    )
    return VideoRequest(
        video=value["video"],
        work=work,
        sampling=Sampling(
            frame_stride=1 if stride is None else int(stride),
            fps=fps,
            max_frames=None if max_frames is None else int(max_frames),
        ),
        vectorize=flag("vectorize"),
        simplify_epsilon=2.0 if value["simplify_epsilon"] is None else optional("simplify_epsilon", 0.0, 1e6),
        return_timings=flag("return_timings"),
    )
