"""A corpus of hostile images, generated here, through the full handler: a response or a clean ValueError."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from sam3_core.errors import RequestError

from helpers import b64, encode, png_claiming, scene


def animated_gif() -> bytes:
    frames = [Image.new("P", (30, 20), index) for index in range(3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], loop=0, duration=50)
    return buffer.getvalue()


def multipage_tiff() -> bytes:
    buffer = io.BytesIO()
    scene(30, 20).save(buffer, "TIFF", save_all=True, append_images=[scene(60, 40)])
    return buffer.getvalue()


def palette_with_transparency() -> bytes:
    image = Image.new("P", (30, 20), 0)
    image.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    image.info["transparency"] = 0
    return encode(image)


def corrupt_exif_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    data = bytearray(encode(scene(30, 20), "JPEG", exif=exif.tobytes()))
    start = data.find(b"Exif")
    data[start + 10 : start + 30] = b"\xff" * 20  # scramble the TIFF header inside the EXIF block
    return bytes(data)


CORPUS = {
    "truncated jpeg": lambda: encode(scene(), "JPEG")[:2000],
    "png claiming 60000x60000": lambda: png_claiming(60000, 60000),
    "png claiming 0x0": lambda: png_claiming(0, 0),
    "1x1": lambda: encode(scene(1, 1)),
    "16-bit png": lambda: encode(Image.fromarray(np.arange(600, dtype=np.uint16).reshape(20, 30) * 100)),
    "cmyk jpeg": lambda: encode(scene(30, 20).convert("CMYK"), "JPEG"),
    "palette with transparency": palette_with_transparency,
    "animated gif": animated_gif,
    "multi-page tiff": multipage_tiff,
    "corrupt exif": corrupt_exif_jpeg,
    "svg": lambda: (
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'
    ),
    "html": lambda: b"<!doctype html><html><body><img src=x onerror=alert(1)></body></html>",
    "zip": lambda: b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(200),
    "random bytes": lambda: np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
    "jpeg header only": lambda: b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
}


@pytest.mark.parametrize("name", list(CORPUS))
def test_hostile_image(handler, name):
    payload = {
        "inputs": {"image": b64(CORPUS[name]()), "text_prompts": ["cat"], "points": [[0.5, 0.5]], "point_labels": [1]}
    }
    try:
        response = handler(payload)
    except ValueError as error:
        assert isinstance(error, RequestError) and str(error).startswith("image: ")
    else:
        assert response["success"] is True
        assert response["num_objects"] == len(response["masks"])
    assert handler({"inputs": {"image": b64(encode(scene(40, 30))), "text_prompts": ["cat"]}})["success"]
