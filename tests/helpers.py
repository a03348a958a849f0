"""Helpers the tests share (fixtures are in conftest.py): test pictures, encodings, masks and polygons."""

from __future__ import annotations

import ast
import base64
import contextlib
import io
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from sam3_core.testing.support import free_port, synthetic_image, wait_until_healthy

__all__ = ["free_port", "wait_until_healthy", "scene", "png_claiming", "encode", "b64", "decode_mask", "iou"]
__all__ += [
    "fill_polygon",
    "polygon_coverage",
    "SEED_EXAMPLES",
    "seed_payload",
    "running",
    "running_space",
    "same_answer",
    "wait_until",
]

SEED_DATA = Path(__file__).resolve().parent / "data" / "seed_examples.json"
# The seed page's request examples: (route, the json= argument's source text), in page order.
SEED_EXAMPLES = [(item["route"], item["json"]) for item in json.loads(SEED_DATA.read_text())["examples"]]


def scene(width: int = 320, height: int = 240) -> Image.Image:
    """The deterministic test picture (``synthetic_image``: gradient, disc, rectangle, triangle; no noise)."""
    return synthetic_image(width, height)


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` (a decompression bomb that is cheap to make)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def encode(image: Image.Image, fmt: str = "PNG", **save_args) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save_args)
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def decode_mask(png_b64: str) -> np.ndarray:
    """A response mask as a ``(H, W)`` bool array (asserting the documented 8-bit 0/255 PNG)."""
    raw = base64.b64decode(png_b64)
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(raw)) as png:
        assert png.mode == "L"
        mask = np.asarray(png)
    assert set(np.unique(mask).tolist()) <= {0, 255}
    return mask > 0


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def wait_until(condition, timeout_s: float = 30.0) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the condition"
        time.sleep(0.01)


def same_answer(answer: dict, alone: dict) -> None:
    """``answer`` (from a batch: of one request's images, or of requests that waited together) is the answer to the
    same input sent alone, within the batching tolerance: the same objects in the same order, scores within 1e-4,
    masks of IoU >= 0.999 (a batch runs other kernels than a single image)."""
    assert answer["labels"] == alone["labels"] and answer["num_objects"] == alone["num_objects"]
    assert answer["prompt_types"] == alone["prompt_types"]
    for a, b in zip(answer["scores"], alone["scores"], strict=True):
        assert abs(a - b) <= 1e-4
    for a, b in zip(answer["masks"], alone["masks"], strict=True):
        assert iou(decode_mask(a), decode_mask(b)) >= 0.999
    if "polygons" in alone:
        assert len(answer["polygons"]) == len(alone["polygons"])


def fill_polygon(polygon: list, shape: tuple[int, int]) -> np.ndarray:
    canvas = np.zeros(shape, dtype=np.uint8)
    if polygon:
        cv2.fillPoly(canvas, [np.asarray(polygon, dtype=np.int32).reshape(-1, 1, 2)], 255)
    return canvas > 0


def polygon_coverage(mask: np.ndarray) -> np.ndarray:
    """What polygons of ``mask``'s outlines can cover: its holes filled (background not reached from the border,
    found by flood fill) and its parts one pixel thick dropped (an outline through pixel centres encloses no area
    there). The random-weight checkpoints' masks are speckled, so polygons are compared with this."""
    height, width = mask.shape
    outside = np.ascontiguousarray(np.pad((~mask).astype(np.uint8), 1, constant_values=1))
    cv2.floodFill(outside, np.zeros((height + 4, width + 4), np.uint8), (0, 0), 2)
    filled = outside[1:-1, 1:-1] != 2
    count, parts, stats, _ = cv2.connectedComponentsWithStats(filled.astype(np.uint8), connectivity=8)
    thick = (stats[:, cv2.CC_STAT_WIDTH] > 1) & (stats[:, cv2.CC_STAT_HEIGHT] > 1)
    thick[0] = False  # the background
    return thick[parts]


def seed_payload(source: str, image_b64: str) -> Any:
    """A seed example's ``json=`` argument as the page's Python would build it."""
    tree = compile(ast.parse(source, mode="eval"), str(SEED_DATA), "eval")
    return eval(tree, {}, {"image_b64": image_b64, "true": True, "false": False})  # noqa: S307


@contextlib.contextmanager
def running(command: list[str], env: dict[str, str], port: int) -> Iterator[tuple[str, subprocess.Popen]]:
    """A server ``command`` (listening on loopback ``port``) on the CPU, with a 4x4 automatic-mask grid and no
    stability filter (so random weights still yield objects): ``(url, process)`` once ``/health`` answers 200;
    stopped (SIGTERM) at the end. Its output goes to a temporary file (a pipe nobody reads would fill up)."""
    env = {**os.environ, "SAM3_DEVICE": "cpu", "SAM3_AMG_POINTS_PER_SIDE": "4", "SAM3_AMG_MIN_STABILITY": "0", **env}
    env["GRADIO_ANALYTICS_ENABLED"] = "False"
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(url, process, 180, output=lambda: log.seek(0) or log.read())
            yield url, process
        finally:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                raise


def running_space(checkpoint: Path) -> contextlib.AbstractContextManager[tuple[str, subprocess.Popen]]:
    """``sam3-app`` (the Space) with ``checkpoint``, on the loopback address and a free port that a Space's
    ``GRADIO_SERVER_NAME`` and ``GRADIO_SERVER_PORT`` name."""
    port = free_port()
    env = {"GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port)}
    return running([sys.executable, "-m", "sam3_core.cli.app", "--model", str(checkpoint)], env, port)
