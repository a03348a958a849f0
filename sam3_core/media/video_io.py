"""Decode a request's video one sampled frame at a time, refusing what is over the limits before decoding pixels.

A video is either an encoded file (base64 text or bytes: MP4, WebM, AVI, MOV, MKV, animated GIF, whatever the FFmpeg
inside OpenCV reads) or a list of frames (each a base64 image, as ``image_io`` accepts). Files are decoded with
``cv2.VideoCapture``, which the project already depends on (``opencv-python-headless`` ships FFmpeg) - no new
dependency. ``VideoCapture`` reads only from a path or a URL, so the file is written to a temporary file that is
unlinked at once and read through its descriptor (``/proc/self/fd``): nothing is left on disk even when the process
is killed. Frames come out one at a time: only the current frame is held in memory, never the whole video.

Sampling, in this order: ``frame_stride`` k keeps frames 0, k, 2k, ...; or ``fps`` keeps the first frame at or
after each multiple of 1/fps seconds (every frame when the source is slower); then ``max_frames`` stops after that
many kept frames. Frame indices are 0-based positions in the source; a frame's timestamp is index / source fps.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from sam3_core.errors import PayloadTooLarge, RequestError
from sam3_core.media.image_io import decode_base64, decode_image
from sam3_core.settings import Limits, RequestSettings

READABLE = "MP4, WebM, AVI, MOV, MKV or GIF"
PROC_FDS = "/proc/self/fd"  # a descriptor's path on Linux: the file can be unlinked while it is read


@dataclass(frozen=True)
class Sampling:
    """Which source frames are tracked (see the module docstring). ``fps`` and ``frame_stride`` exclude each other."""

    frame_stride: int = 1
    fps: float | None = None
    max_frames: int | None = None


@dataclass(frozen=True)
class Frame:
    """One sampled frame: ``index`` in the source, ``timestamp`` in seconds (``None`` for a frame list) and
    ``pixels``, ``(height, width, 3)`` uint8 RGB."""

    index: int
    timestamp: float | None
    pixels: np.ndarray


class VideoSource:
    """An opened video: ``width``, ``height``, source ``fps`` (``None`` for a frame list), ``frames()``.

    Use as a context manager: ``close()`` releases the decoder and deletes the temporary file.
    """

    width: int
    height: int
    fps: float | None

    def frames(self) -> Iterator[Frame]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_frame_size(width: int, height: int, limits: Limits, field: str) -> None:
    if width < 1 or height < 1:
        raise RequestError(field, f"has no pixels ({width}x{height})")
    if width * height > limits.max_video_frame_pixels:
        raise PayloadTooLarge(
            field,
            f"frames are {width}x{height} = {width * height} pixels, over the {limits.max_video_frame_pixels} "
            "pixel limit per frame",
        )


class _Sampler:
    """Decides frame by frame what ``Sampling`` keeps, and enforces the frame and duration limits."""

    def __init__(self, sampling: Sampling, source_fps: float | None, limits: Limits, field: str) -> None:
        self.sampling, self.source_fps, self.limits, self.field = sampling, source_fps, limits, field
        self.kept = 0
        self._next_time = 0.0

    def done(self) -> bool:
        return self.sampling.max_frames is not None and self.kept >= self.sampling.max_frames

    def keep(self, index: int) -> bool:
        """Whether source frame ``index`` is tracked; raises when the video is over a limit."""
        limits = self.limits
        if self.source_fps and index / self.source_fps > limits.max_video_seconds:
            raise PayloadTooLarge(
                self.field, f"is longer than the {limits.max_video_seconds:g} s limit; send a shorter clip"
            )
        if self.sampling.fps is not None and self.source_fps:
            time = index / self.source_fps
            if time + 1e-6 < self._next_time:
                return False
            # The next kept frame: the first at or after the next multiple of 1/fps seconds.
            self._next_time = (math.floor(time * self.sampling.fps + 1e-6) + 1) / self.sampling.fps
        elif index % self.sampling.frame_stride:
            return False
        self.kept += 1
        if self.kept > limits.max_video_frames:
            raise PayloadTooLarge(
                self.field,
                f"has more than the {limits.max_video_frames} frame limit after sampling; "
                "send max_frames, frame_stride or fps",
            )
        return True

    def expect(self, frame_count: int) -> None:
        """Refuse up front what a frame count read from the container already says is over the limits."""
        limits = self.limits
        if self.source_fps and (frame_count - 1) / self.source_fps > limits.max_video_seconds:
            seconds = (frame_count - 1) / self.source_fps
            limit = limits.max_video_seconds
            problem = f"is {seconds:.1f} s long, over the {limit:g} s limit; send a shorter clip"
            raise PayloadTooLarge(self.field, problem)
        if self.sampling.fps is not None and self.source_fps:
            kept = math.ceil(frame_count / self.source_fps * min(self.sampling.fps, self.source_fps))
        else:
            kept = math.ceil(frame_count / self.sampling.frame_stride)
        if self.sampling.max_frames is not None:
            kept = min(kept, self.sampling.max_frames)
        if kept > limits.max_video_frames:
            raise PayloadTooLarge(
                self.field,
                f"has {kept} frames after sampling, over the {limits.max_video_frames} frame limit; "
                "send max_frames, frame_stride or fps",
            )


class _FileVideo(VideoSource):
    def __init__(self, raw: bytes, sampling: Sampling, limits: Limits, field: str) -> None:
        self.field, self.limits, self.sampling = field, limits, sampling
        self.capture: cv2.VideoCapture | None = None
        self.handle, self.path = _anonymous_file(raw)
        try:
            self.capture = cv2.VideoCapture(self.path, cv2.CAP_FFMPEG)
            if not self.capture.isOpened():
                raise RequestError(field, f"is not a video this server can read ({READABLE}), or it is corrupt")
            self.width = int(self.capture.get(cv2.CAP_PROP_FRAME_WIDTH))
            self.height = int(self.capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
            fps = self.capture.get(cv2.CAP_PROP_FPS)
            self.fps = float(fps) if math.isfinite(fps) and 0 < fps <= 1000 else None
            _check_frame_size(self.width, self.height, limits, field)
            self.sampler = _Sampler(sampling, self.fps, limits, field)
            count = self.capture.get(cv2.CAP_PROP_FRAME_COUNT)
            if math.isfinite(count) and count > 0:
                self.sampler.expect(int(count))
        except BaseException:
            self.close()
            raise

    def frames(self) -> Iterator[Frame]:
        index = -1
        while not self.sampler.done():
            index += 1
            if not self.capture.grab():  # the end (or a truncated file: the frames before the damage count)
                break
            if not self.sampler.keep(index):
                continue
            ok, bgr = self.capture.retrieve()
            if not ok or bgr is None:
                break
            if bgr.shape[:2] != (self.height, self.width):
                height, width = bgr.shape[:2]
                raise RequestError(
                    self.field, f"frame {index} is {width}x{height}, the video is {self.width}x{self.height}"
                )
            timestamp = index / self.fps if self.fps else None
            yield Frame(index, timestamp, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        if self.sampler.kept == 0:
            raise RequestError(self.field, "holds no frames that could be decoded")

    def close(self) -> None:
        if self.capture is not None:
            self.capture.release()
            self.capture = None
        if self.handle is not None:
            os.close(self.handle)
            self.handle = None
        if not self.path.startswith(PROC_FDS) and os.path.exists(self.path):
            os.unlink(self.path)
        self.path = ""


def _anonymous_file(raw: bytes) -> tuple[int, str]:
    """``raw`` in a temporary file that no process death can leave behind: ``(descriptor, path to open)``.

    Where the system has ``/proc/self/fd`` (Linux, the endpoint's), the file is unlinked as soon as it is written
    and opened through its descriptor: the kernel frees it when the descriptor closes, even on SIGKILL. Elsewhere
    the path is the file's own and ``close()`` deletes it.
    """
    handle, path = tempfile.mkstemp(prefix="sam3-video-")
    try:
        with os.fdopen(handle, "wb", closefd=False) as file:
            file.write(raw)
        if os.path.isdir(PROC_FDS):
            os.unlink(path)
            path = f"{PROC_FDS}/{handle}"
    except BaseException:
        os.close(handle)
        if os.path.exists(path):
            os.unlink(path)
        raise
    return handle, path


class _FrameList(VideoSource):
    fps = None

    def __init__(self, items: Sequence, sampling: Sampling, settings: RequestSettings, field: str) -> None:
        limits = settings.limits
        self.items, self.settings, self.field = items, settings, field
        if sampling.fps is not None:
            raise RequestError("fps", "needs a video file: a list of frames has no time base (use frame_stride)")
        self.sampler = _Sampler(sampling, None, limits, field)
        self.sampler.expect(len(items))
        total = 0
        for index, item in enumerate(items):
            if not isinstance(item, str):
                raise RequestError(f"{field}[{index}]", f"expected a base64 image, got {type(item).__name__}")
            total += len(item) * 3 // 4
            if total > limits.max_video_bytes:
                raise PayloadTooLarge(field, f"frames are over the {limits.max_video_bytes} byte limit together")
        first = self._decode(0)
        self.width, self.height = first.shape[1], first.shape[0]
        _check_frame_size(self.width, self.height, limits, f"{field}[0]")
        self._first: np.ndarray | None = first

    def _decode(self, index: int) -> np.ndarray:
        image = decode_image(self.items[index], self.settings, f"{self.field}[{index}]")
        return np.array(image)  # writable: the image processor makes a tensor of it

    def frames(self) -> Iterator[Frame]:
        for index in range(len(self.items)):
            if self.sampler.done():
                break
            if not self.sampler.keep(index):
                continue
            pixels = self._first if index == 0 and self._first is not None else self._decode(index)
            self._first = None
            if pixels.shape[:2] != (self.height, self.width):
                height, width = pixels.shape[:2]
                raise RequestError(
                    f"{self.field}[{index}]", f"is {width}x{height}, the first frame is {self.width}x{self.height}"
                )
            yield Frame(index, None, pixels)


def _video_bytes(value: str | bytes | bytearray | memoryview, limits: Limits, field: str) -> bytes:
    if isinstance(value, str):
        if len(value) > limits.max_video_bytes * 4 // 3 + 1024:
            raise PayloadTooLarge(field, f"is larger than the {limits.max_video_bytes} byte limit")
        raw = decode_base64(value, field, media=("video/", "image/gif"), example="video/mp4")
    else:
        raw = bytes(value)
    if not raw:
        raise RequestError(field, "is empty")
    if len(raw) > limits.max_video_bytes:
        raise PayloadTooLarge(field, f"is {len(raw)} bytes, over the {limits.max_video_bytes} byte limit")
    return raw


def check_video_value(value: object, field: str = "video") -> None:
    """Refuse a ``video`` value of the wrong type (before any decoding)."""
    if value is None:
        raise RequestError(field, "is missing")
    if isinstance(value, (list, tuple)):
        if not value:
            raise RequestError(field, "is an empty list of frames")
        return
    if not isinstance(value, (str, bytes, bytearray, memoryview)):
        raise RequestError(
            field, f"expected a base64 video file or a list of base64 frames, got {type(value).__name__}"
        )


def open_video(value: object, sampling: Sampling, settings: RequestSettings, field: str = "video") -> VideoSource:
    """The request's video, opened and checked against the limits (frame size, duration and frame count where the
    container states them; every limit again while decoding). Raises ``RequestError`` naming ``field``."""
    check_video_value(value, field)
    if isinstance(value, (list, tuple)):
        return _FrameList(value, sampling, settings, field)
    return _FileVideo(_video_bytes(value, settings.limits, field), sampling, settings.limits, field)
