"""Mask PNGs deflated from scanline changes: what PIL, OpenCV and zlib read back is the mask, pixel for pixel."""

from __future__ import annotations

import io
import json
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from sam3_core.masks import png_deflate
from sam3_core.masks.png_deflate import png_of_changes
from sam3_core.masks.scanlines import changes_of_mask, mask_of_changes
from scripts import benchmark


def masks(seed: int = 0, count: int = 150) -> list[np.ndarray]:
    """Edge cases, then random noise of every density and random rectangles (runs longer than 258 bytes)."""
    generator = np.random.default_rng(seed)
    found = [
        np.zeros((1, 1), np.uint8),
        np.full((1, 1), 255, np.uint8),
        np.full((3, 700), 255, np.uint8),  # on to the very end of the stream
        np.zeros((2, 1031), np.uint8),  # one run of 2,064 bytes: 8 full copies and a rest
        np.eye(9, dtype=np.uint8) * 255,
        np.tile(np.array([[0, 255], [255, 0]], np.uint8), (20, 31)),  # a change at every pixel
    ]
    for _ in range(count):
        height, width = generator.integers(1, 60), generator.integers(1, 700)
        found.append(((generator.random((height, width)) < generator.random()) * 255).astype(np.uint8))
        rectangle = np.zeros((height, width), np.uint8)
        top, left = generator.integers(0, height), generator.integers(0, width)
        rectangle[top : top + generator.integers(1, 40), left : left + generator.integers(1, 600)] = 255
        found.append(rectangle)
    return found


def decoded(png: bytes) -> tuple[np.ndarray, np.ndarray, Image.Image]:
    image = Image.open(io.BytesIO(png))
    image.load()
    return np.array(image), cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED), image


def test_every_mask_decodes_to_itself_in_pil_and_opencv():
    for mask in masks():
        png = png_of_changes(changes_of_mask(mask), *mask.shape)
        by_pil, by_opencv, image = decoded(png)
        assert image.mode == "L" and image.size == mask.shape[::-1]
        assert np.array_equal(by_pil, mask), mask.shape
        assert by_opencv.dtype == np.uint8 and np.array_equal(by_opencv, mask), mask.shape


def test_the_zlib_stream_checks_out_and_holds_the_scanlines():
    """zlib verifies the Adler-32 (summed from the runs) and the PNG chunk CRCs are right."""
    for mask in masks(seed=1, count=40):
        png = png_of_changes(changes_of_mask(mask), *mask.shape)
        chunks, position = {}, 8
        while position < len(png):
            (length,) = struct.unpack(">I", png[position : position + 4])
            kind, data = png[position + 4 : position + 8], png[position + 8 : position + 8 + length]
            (crc,) = struct.unpack(">I", png[position + 8 + length : position + 12 + length])
            assert crc == zlib.crc32(kind + data)
            chunks[kind] = data
            position += 12 + length
        scanlines = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(mask.shape[0], -1)
        assert not scanlines[:, 0].any(), "filter byte 0 (none) on every row"
        assert np.array_equal(scanlines[:, 1:], mask)


def test_many_blocks(monkeypatch):
    """Runs past ``RUNS_PER_BLOCK`` go into further blocks (a tiny block size here: many block boundaries)."""
    monkeypatch.setattr(png_deflate, "RUNS_PER_BLOCK", 7)
    for mask in masks(seed=2, count=30):
        by_pil, by_opencv, _ = decoded(png_of_changes(changes_of_mask(mask), *mask.shape))
        assert np.array_equal(by_pil, mask) and np.array_equal(by_opencv, mask)


def test_changes_round_trip():
    for mask in masks(seed=3, count=40):
        changes = changes_of_mask(mask)
        assert changes.dtype == np.int64 and np.all(np.diff(changes) > 0)
        assert np.array_equal(mask_of_changes(changes, *mask.shape), mask)


@pytest.mark.parametrize("kind", ["blob", "noise", "empty"])
def test_no_larger_than_opencv_at_12_mp(kind):
    """A 12 MP mask: the same pixels as OpenCV's PNG of the mask, in at most its size."""
    mask = np.zeros((3024, 4032), np.uint8)
    if kind == "blob":
        cv2.circle(mask, (2000, 1500), 700, 255, -1)
    elif kind == "noise":  # a random-weight model's mask: one change about every 28 pixels
        low = np.random.default_rng(0).standard_normal((288, 288)).astype(np.float32)
        mask = (cv2.resize(low, (4032, 3024), interpolation=cv2.INTER_LINEAR) > 0).astype(np.uint8) * 255
    ours = png_of_changes(changes_of_mask(mask), *mask.shape)
    opencv = cv2.imencode(".png", mask)[1].tobytes()
    assert np.array_equal(decoded(ours)[0], mask)
    assert len(ours) <= len(opencv)


def test_the_png_benchmark_runs_and_records_each_writer(tmp_path):
    """``python -m scripts.benchmark png`` (which checks that its PNG holds the mask): every mask kind, both writers."""
    out = tmp_path / "png.json"
    assert benchmark.main(["png", "--image", "320x240", "--repeat", "1", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [row["mask"] for row in rows] == ["disc", "random-weight noise", "empty"]
    assert rows[2]["changes"] == 0 < rows[0]["changes"] < rows[1]["changes"]
    assert all(row["opencv_bytes"] > 0 and row["changes_writer_bytes"] > 0 for row in rows)
