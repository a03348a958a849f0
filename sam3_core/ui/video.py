"""What the web UI's Video tab plays: the tracked frames at display size and each object's masks on them.

Playback is a small canvas player in the page (``static/video.js``), not an encoded video: the sampled frames go
to the page as JPEGs (at most ``DISPLAY_MAX_SIDE`` pixels on the long side) and each object's mask on each frame as
COCO compressed RLE at that size, which the page decodes and tints over the frame. So every object keeps its colour
on every frame, can be hidden from the legend, and the player steps frame by frame (play/pause, slider) - none of
which a video with burnt-in overlays allows. The cost: the JPEG frames are about 3x the size of a VP8 WebM or an
animated WebP of the same frames, and much faster to make (``scripts.benchmark playback``, docs/BENCHMARKS.md); this
OpenCV writes no H.264, which is what browsers play in an MP4.

Coordinates are pixels of the source frame (origin top-left, boxes ``[x1, y1, x2, y2]``) unless a name says
*display*.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from sam3_core.masks import rle
from sam3_core.media.video_io import Sampling, open_video
from sam3_core.settings import RequestSettings
from sam3_core.ui.render import colour, data_url, display_size, hex_colour, is_dark

DISPLAY_MAX_SIDE = 640
JPEG_QUALITY = 80


@dataclass(frozen=True)
class Clip:
    """An uploaded video: the file as sent, its name, frame size and frame rate (``None`` when unknown)."""

    raw: bytes
    name: str
    width: int
    height: int
    fps: float | None


def frame_jpeg(pixels: np.ndarray, size: tuple[int, int]) -> str:
    """An RGB frame at ``size`` (display width, height) as a JPEG data URL."""
    if pixels.shape[1::-1] != size:
        pixels = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=JPEG_QUALITY)
    return data_url(buffer.getvalue(), "image/jpeg")


def open_clip(raw: bytes, name: str, settings: RequestSettings) -> tuple[Clip, str]:
    """The clip and its first frame at display size (a JPEG data URL). Raises ``ValueError`` (the service's
    ``RequestError``) for a file that is not a readable video or is over the limits."""
    with open_video(raw, Sampling(max_frames=1), settings) as source:
        first = next(iter(source.frames()))
        clip = Clip(raw, name, source.width, source.height, source.fps)
    return clip, frame_jpeg(first.pixels, display_size((clip.width, clip.height), DISPLAY_MAX_SIDE))


def display_frames(clip: Clip, sampling: Sampling, indices: Iterable[int], settings: RequestSettings) -> dict[int, str]:
    """The frames of ``clip`` with the given source ``indices`` (those a response tracked, sampled with the same
    ``sampling``) as display-size JPEG data URLs, by index. Decodes the clip again, one frame at a time."""
    wanted = set(indices)
    size = display_size((clip.width, clip.height), DISPLAY_MAX_SIDE)
    found: dict[int, str] = {}
    with open_video(clip.raw, sampling, settings) as source:
        for frame in source.frames():
            if frame.index in wanted:
                found[frame.index] = frame_jpeg(frame.pixels, size)
            if len(found) == len(wanted):
                break
    return found


def display_counts(mask_rle: dict, size: tuple[int, int]) -> str:
    """A response mask (COCO RLE at the frame's size) as compressed RLE counts at ``size`` (display width,
    height); unchanged when the frame is shown at its own size."""
    height, width = mask_rle["size"]
    if (width, height) == size and isinstance(mask_rle["counts"], str):
        return mask_rle["counts"]
    mask = rle.decode(mask_rle).view(np.uint8)
    if (width, height) != size:
        mask = cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)
    return rle.compress_counts(rle.run_lengths(mask))


def player_objects(response: dict, positions: dict[int, int], size: tuple[int, int]) -> list[dict]:
    """One entry per object of a video ``response`` for the player: ``object_id``, ``label``, ``score``,
    ``colour`` (``#rrggbb``, the same on every frame), ``dark`` and ``tracks``: per position in the played frames
    (``positions`` maps a source frame index to it) ``null`` or ``{"box": display xyxy, "score", "counts"}``."""
    video = response["video"]
    kx, ky = size[0] / video["width"], size[1] / video["height"]
    objects = []
    for number, found in enumerate(response["objects"]):
        tracks: list[dict | None] = [None] * len(positions)
        for entry in found["frames"]:
            position = positions.get(entry["frame_index"])
            if position is None:
                continue
            x1, y1, x2, y2 = entry["box"]
            tracks[position] = {
                "box": [round(x1 * kx, 1), round(y1 * ky, 1), round(x2 * kx, 1), round(y2 * ky, 1)],
                "score": entry["score"],
                "counts": display_counts(entry["rle"], size),
            }
        objects.append(
            {
                "object_id": found["object_id"],
                "label": found["label"],
                "score": found["score"],
                "colour": hex_colour(number),
                "dark": is_dark(colour(number)),
                "tracks": tracks,
            }
        )
    return objects


def player_view(clip: Clip, response: dict, sampling: Sampling, settings: RequestSettings) -> dict:
    """What the player needs for ``response`` on ``clip``: ``width``/``height`` (display), ``frames`` (``index``,
    ``time`` in seconds or ``None``, ``src``), ``objects`` (``player_objects``)."""
    video = response["video"]
    size = display_size((video["width"], video["height"]), DISPLAY_MAX_SIDE)
    indices = video["frame_indices"]
    sources = display_frames(clip, sampling, indices, settings)
    times = video.get("timestamps") or [None] * len(indices)
    frames = [
        {"index": index, "time": time, "src": sources[index]}
        for index, time in zip(indices, times, strict=True)
        if index in sources
    ]
    positions = {frame["index"]: position for position, frame in enumerate(frames)}
    return {
        "width": size[0],
        "height": size[1],
        "frames": frames,
        "objects": player_objects(response, positions, size),
    }
