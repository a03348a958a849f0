"""The Video tab's editor: one video session per uploaded clip (the service's session requests, docs/VIDEO.md),
and what the player shows of it.

The page prompts the frame shown (a concept, or clicks that add or fix an object), propagates (each frame's
objects sent to the player as soon as the service has them), removes objects, and downloads what the session has
found. ``Edit`` holds a browser tab's session: its id, the clip and sampling it was started with, and every frame's
objects as the service last answered them (what the downloads are made of). Views for the player
(``static/video.js``): ``frames_view`` (the sampled frames, no objects yet) and ``update_view`` (objects of some
frames; the frames named replace what the player had for them).

Coordinates are pixels of the source frame (boxes ``[x1, y1, x2, y2]``) unless a name says *display*.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sam3_core.media.video_io import Sampling
from sam3_core.settings import RequestSettings
from sam3_core.ui.render import colour, display_size, hex_colour, is_dark
from sam3_core.ui.video import DISPLAY_MAX_SIDE, Clip, display_counts, display_frames

Call = Callable[[dict], Any]


@dataclass
class Edit:
    """A browser tab's video session: ``video`` is start_session's description; ``found`` maps a source frame
    index to the objects on it (``object_id`` -> ``{"label", "score", "box", "rle"}``)."""

    clip: Clip
    token: int
    session_id: str
    sampling: Sampling
    video: dict[str, Any]
    found: dict[int, dict[int, dict]] = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
        """The player's frame size (display width, height)."""
        return display_size((self.video["width"], self.video["height"]), DISPLAY_MAX_SIDE)

    @property
    def object_ids(self) -> set[int]:
        return {object_id for objects in self.found.values() for object_id in objects}

    def request(self, kind: str, **fields: Any) -> dict:
        return {"inputs": {"type": kind, "session_id": self.session_id, **fields}}

    def record(self, frame_index: int, objects: list[dict]) -> None:
        """The service's objects on one frame (an ``add_prompt`` answer or a propagated frame) replace what was
        known there."""
        self.found[frame_index] = {
            obj["object_id"]: {key: obj[key] for key in ("label", "score", "box", "rle")} for obj in objects
        }

    def forget(self, object_id: int) -> None:
        for objects in self.found.values():
            objects.pop(object_id, None)

    def response(self) -> dict[str, Any]:
        """What the session found, in the one-shot video response's format (objects by id, one entry per frame
        each is on)."""
        objects: dict[int, dict] = {}
        for frame_index in self.video["frame_indices"]:
            for object_id, entry in sorted(self.found.get(frame_index, {}).items()):
                obj = objects.setdefault(
                    object_id, {"object_id": object_id, "label": entry["label"], "score": 0.0, "frames": []}
                )
                obj["score"] = max(obj["score"], entry["score"])
                obj["frames"].append({"frame_index": frame_index, **{k: entry[k] for k in ("score", "box", "rle")}})
        listed = [objects[object_id] for object_id in sorted(objects)]
        return {"video": self.video, "num_objects": len(listed), "objects": listed, "success": True}


def start(call: Call, clip: Clip, sampling: Sampling, token: int, options: dict, settings: RequestSettings) -> Edit:
    """A new session of ``clip`` (its sampled frames kept by the service), with detection ``options``."""
    fields: dict[str, Any] = {"max_frames": sampling.max_frames, **options}
    fields |= {"fps": sampling.fps} if sampling.fps else {"frame_stride": sampling.frame_stride}
    started = call({"inputs": {"type": "start_session", "video": clip.raw, **fields}})
    return Edit(clip, token, started["session_id"], sampling, started["video"])


def frames_view(edit: Edit, settings: RequestSettings, message: str) -> dict[str, Any]:
    """The player's view of a new session: every sampled frame (display JPEGs), no object yet. ``source``: the
    frames' size in the source (what clicks are measured in)."""
    video = edit.video
    sources = display_frames(edit.clip, edit.sampling, video["frame_indices"], settings)
    times = video.get("timestamps") or [None] * len(video["frame_indices"])
    frames = [
        {"index": index, "time": time, "src": sources[index]}
        for index, time in zip(video["frame_indices"], times, strict=True)
    ]
    width, height = edit.size
    source = [video["width"], video["height"]]
    return {"kind": "session", "token": edit.token, "width": width, "height": height, "source": source,
            "frames": frames, "objects": [], "message": message, "level": "info", "id": uuid.uuid4().hex}  # fmt: skip


def player_entry(obj: dict, edit: Edit) -> dict[str, Any]:
    """One object of one frame for the player: ``object_id``, ``label``, ``score``, ``colour`` and ``dark`` (by
    id: the same on every frame and after every update), display ``box`` and mask ``counts``."""
    size = edit.size
    kx, ky = size[0] / edit.video["width"], size[1] / edit.video["height"]
    x1, y1, x2, y2 = obj["box"]
    return {
        "object_id": obj["object_id"],
        "label": obj["label"],
        "score": obj["score"],
        "colour": hex_colour(obj["object_id"]),
        "dark": is_dark(colour(obj["object_id"])),
        "box": [round(x1 * kx, 1), round(y1 * ky, 1), round(x2 * kx, 1), round(y2 * ky, 1)],
        "counts": display_counts(obj["rle"], size),
    }


def update_view(edit: Edit, frames: Iterable[tuple[int, list[dict]]], message: str, level: str = "info",
                **extra: Any) -> dict[str, Any]:  # fmt: skip
    """The player's view of some frames' objects (``(source frame index, the service's objects there)``), recorded
    in ``edit`` on the way. ``extra``: e.g. ``selected`` (the object the next clicks go to), ``done``."""
    position = {index: number for number, index in enumerate(edit.video["frame_indices"])}
    updates = []
    for frame_index, objects in frames:
        edit.record(frame_index, objects)
        entries = [player_entry(obj, edit) for obj in objects]
        updates.append({"position": position[frame_index], "objects": entries})
    return {"kind": "update", "token": edit.token, "updates": updates, "message": message, "level": level,
            "id": uuid.uuid4().hex, **extra}  # fmt: skip


def propagation(call: Call, stream: Callable[[dict], Iterator[dict]] | None, edit: Edit) -> Iterator[tuple[int, list]]:
    """``(source frame index, objects)`` of each frame a propagation both ways reaches, as the service gives them:
    streamed when the page has the service's stream, else from the whole answer."""
    request = edit.request("propagate_in_video", propagation_direction="both")
    if stream is not None:
        for item in stream(request):
            if "error" in item:
                raise ValueError(item["error"])
            if "frame_index" in item:
                yield item["frame_index"], item["objects"]
        return
    answer = call(request)
    by_frame: dict[int, list[dict]] = {index: [] for index in answer["video"]["frame_indices"]}
    for obj in answer["objects"]:
        for entry in obj["frames"]:
            by_frame[entry["frame_index"]].append({"object_id": obj["object_id"], "label": obj["label"], **entry})
    yield from by_frame.items()
