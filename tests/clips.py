"""Video clips and video responses the tests make: frames drawn here, written with the OpenCV the project uses
(mp4v in .mp4 and MJPG in .avi are both written and read by its wheel), and a video response built by hand in the
documented shape. Frames are RGB ``(height, width, 3)`` uint8; sizes are ``(width, height)``."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from sam3_core.masks import rle


def clip_frames(count: int = 4, width: int = 64, height: int = 48) -> list[np.ndarray]:
    """``count`` frames: a red square moving right, a blue disc moving left."""
    frames = []
    for index in range(count):
        frame = np.full((height, width, 3), 40, np.uint8)
        x = 4 + 3 * index
        frame[8 : 8 + 16, x : x + 16] = (220, 30, 30)
        cv2.circle(frame, (width - 12 - 3 * index, height - 14), 9, (30, 30, 220), -1)
        frames.append(frame)
    return frames


def disc_frames(count: int, size: tuple[int, int]) -> list[np.ndarray]:
    """``count`` frames: a red disc moving right, 10 pixels a frame (``disc_response``'s object 7)."""
    width, height = size
    frames = []
    for index in range(count):
        frame = np.full((height, width, 3), 50, np.uint8)
        cv2.circle(frame, (40 + 10 * index, height // 2), height // 5, (220, 40, 40), -1)
        frames.append(frame)
    return frames


def write_clip(path: Path, frames: list[np.ndarray], fourcc: str = "mp4v", fps: float = 10.0) -> bytes:
    """``frames`` written to ``path`` as a video; the file's bytes."""
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    assert writer.isOpened(), f"this OpenCV cannot write {fourcc}"
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path.read_bytes()


def disc(size: tuple[int, int], centre: tuple[int, int], radius: int) -> np.ndarray:
    """A ``(height, width)`` bool mask of a filled disc."""
    mask = np.zeros(size[::-1], np.uint8)
    cv2.circle(mask, centre, radius, 1, -1)
    return mask.astype(bool)


def disc_response(size: tuple[int, int], indices: list[int], fps: float) -> dict:
    """A video response for ``disc_frames`` tracked on the source frames ``indices``: object 7 ("ball", the disc)
    on every frame, object 9 ("hole") on the second frame only."""
    width, height = size
    first = {"object_id": 7, "label": "ball", "score": 0.9, "frames": []}
    for index in indices:
        mask = disc(size, (40 + 10 * index, height // 2), height // 5)
        first["frames"].append(
            {"frame_index": index, "score": 0.9, "box": [1.0, 2.0, 3.0, 4.0], "rle": rle.encode(mask)}
        )
    second_mask = disc(size, (width - 60, 40), 30)
    second = {"object_id": 9, "label": "hole", "score": 0.4, "frames": [
        {"frame_index": indices[1], "score": 0.4, "box": [width / 2, 0.0, float(width), height / 2],
         "rle": rle.encode(second_mask)}]}  # fmt: skip
    video = {"num_frames": len(indices), "fps": fps, "width": width, "height": height, "frame_indices": indices,
             "timestamps": [index / fps for index in indices]}  # fmt: skip
    return {"video": video, "num_objects": 2, "objects": [first, second], "success": True}
