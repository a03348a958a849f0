"""Shared fixtures: a tiny random SAM3 checkpoint (generated once per session), the handler, test images."""

from __future__ import annotations

import base64
import io
import os
import socket
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import requests
from PIL import Image, ImageDraw

from sam3_core.tiny_checkpoint import make_checkpoint


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("sam3-tiny"), seed=0)


@pytest.fixture(scope="session")
def handler(tiny_checkpoint, monkeypatch_session):
    monkeypatch_session.delenv("SAM3_MODEL_ID", raising=False)
    monkeypatch_session.setenv("SAM3_DEVICE", "cpu")
    from handler import EndpointHandler

    return EndpointHandler(str(tiny_checkpoint))


@pytest.fixture(scope="session")
def monkeypatch_session():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def server(tiny_checkpoint):
    """sam3-serve on a free loopback port with the tiny checkpoint (2 MB body limit) and the web UI at /ui,
    until the session ends."""
    port = free_port()
    # Automatic mask generation: a 4x4 grid and no stability filter, so random weights still yield objects.
    env = {**os.environ, "SAM3_DEVICE": "cpu", "SAM3_AMG_POINTS_PER_SIDE": "4", "SAM3_AMG_MIN_STABILITY": "0"}
    env["GRADIO_ANALYTICS_ENABLED"] = "False"
    command = [sys.executable, "-m", "sam3_core.cli.serve", "--model", str(tiny_checkpoint)]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--max-body-mb", "2", "--ui"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            status = requests.get(f"{url}/health", timeout=2).status_code
        except requests.ConnectionError:
            status = None
        if status == 200:
            break
        assert process.poll() is None, process.stdout.read()
        time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("server did not become healthy")
    yield url
    process.terminate()
    process.wait(timeout=20)


def scene(width: int = 320, height: int = 240) -> Image.Image:
    """A deterministic non-square RGB test picture: background gradient, a disc, a rectangle, a triangle."""
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // width, y * 255 // height, (x + y) * 127 // (width + height)], axis=-1)
    image = Image.fromarray(base.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    draw.ellipse([40, 50, 130, 140], fill=(230, 40, 40))
    draw.rectangle([180, 30, 290, 110], fill=(40, 200, 60))
    draw.polygon([(200, 220), (300, 220), (250, 140)], fill=(30, 30, 220))
    return image


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


@pytest.fixture(scope="session")
def image() -> Image.Image:
    return scene()


@pytest.fixture(scope="session")
def image_b64(image) -> str:
    return b64(encode(image))


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


def fill_polygon(polygon: list, shape: tuple[int, int]) -> np.ndarray:
    canvas = np.zeros(shape, dtype=np.uint8)
    if polygon:
        cv2.fillPoly(canvas, [np.asarray(polygon, dtype=np.int32).reshape(-1, 1, 2)], 255)
    return canvas > 0


def pytest_terminal_summary(terminalreporter):
    """Print the worst parity figures measured against the transformers reference (for the closing notes)."""
    figures = getattr(sys.modules.get("test_parity"), "PARITY_FIGURES", None)
    if not figures:
        return
    terminalreporter.section("parity with the transformers reference (tiny checkpoint, CPU)")
    for kind, row in figures.items():
        terminalreporter.write_line(
            f"{kind:24s} objects={row['objects']:4d}  max |score diff|={row['max_score_diff']:.2e}  "
            f"min mask IoU={row['min_iou']:.6f}"
        )
