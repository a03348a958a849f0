"""Image decoding: encodings, formats, modes, EXIF orientation; every coordinate is in upright pixels."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from sam3_core.media.image_io import decode_base64, decode_image
from sam3_core.settings import RequestSettings

from helpers import b64, decode_mask, encode, scene

LIMITS = RequestSettings()


def roundtrip(data) -> Image.Image:
    return decode_image(data, LIMITS)


def test_base64_variants_decode_to_the_same_bytes():
    raw = bytes(range(256)) * 3 + b"\xfb\xff"
    standard = base64.b64encode(raw).decode()
    urlsafe = base64.urlsafe_b64encode(raw).decode()
    assert "-" in urlsafe or "_" in urlsafe
    for text in (
        standard,
        urlsafe,
        urlsafe.rstrip("="),
        f"data:image/png;base64,{standard}",
        standard[:50] + "\n" + standard[50:],
    ):
        assert decode_base64(text) == raw


def test_data_uri_prefix_and_bytes_and_pil_give_the_same_pixels(image):
    png = encode(image)
    expected = np.asarray(image)
    for value in (png, b64(png), "data:image/png;base64," + b64(png), image, bytearray(png)):
        assert np.array_equal(np.asarray(roundtrip(value)), expected)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF"])
def test_formats(image, fmt):
    decoded = roundtrip(encode(image, fmt))
    assert decoded.mode == "RGB" and decoded.size == image.size


def test_gif_takes_the_first_frame():
    frames = [Image.new("RGB", (20, 10), color) for color in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    assert roundtrip(buffer.getvalue()).getpixel((5, 5)) == (255, 0, 0)


def test_multi_page_tiff_takes_the_first_page():
    pages = [Image.new("RGB", (20, 10), color) for color in ((0, 255, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    pages[0].save(buffer, "TIFF", save_all=True, append_images=pages[1:])
    assert roundtrip(buffer.getvalue()).getpixel((5, 5)) == (0, 255, 0)


def test_modes_become_rgb():
    grey16 = Image.fromarray(np.full((8, 8), 65535, dtype=np.uint16))
    assert roundtrip(encode(grey16)).getpixel((0, 0)) == (255, 255, 255), "16-bit white stays white, not clipped"
    half16 = Image.fromarray(np.full((8, 8), 32896, dtype=np.uint16))
    assert roundtrip(encode(half16)).getpixel((0, 0)) == (128, 128, 128)
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))
    assert roundtrip(encode(cmyk, "JPEG", quality=100)).getpixel((0, 0))[0] > 200
    palette = Image.new("P", (8, 8), 1)
    palette.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    palette.info["transparency"] = 0
    assert roundtrip(encode(palette)).getpixel((0, 0)) == (10, 200, 30)
    rgba = Image.new("RGBA", (8, 8), (1, 2, 3, 0))
    assert roundtrip(encode(rgba)).getpixel((0, 0)) == (1, 2, 3)
    assert roundtrip(encode(Image.new("1", (8, 8), 1))).getpixel((0, 0)) == (255, 255, 255)


def exif_rotated_jpeg(upright: Image.Image) -> bytes:
    """A JPEG stored rotated 90 degrees with EXIF orientation 6, whose upright view is ``upright``."""
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # counter-clockwise; orientation 6 turns it back
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(stored, "JPEG", quality=95, exif=exif.tobytes())


def test_exif_orientation_is_applied(image):
    data = exif_rotated_jpeg(image)
    with Image.open(io.BytesIO(data)) as stored:
        assert stored.size == (image.height, image.width)
    decoded = roundtrip(data)
    assert decoded.size == image.size
    assert np.abs(np.asarray(decoded, dtype=int) - np.asarray(image, dtype=int)).mean() < 3


def test_exif_request_uses_upright_coordinates(handler, image):
    """The same request on the EXIF-rotated JPEG and on its upright pixels gives the same answer."""
    data = exif_rotated_jpeg(image)
    upright_png = encode(roundtrip(data))
    common = {"points": [[85, 95]], "point_labels": [1], "boxes": [[30, 40, 140, 150]], "box_labels": [1]}
    rotated = handler({"inputs": {"image": b64(data), **common, "confidence_threshold": 0.0, "vectorize": True}})
    plain = handler({"inputs": {"image": b64(upright_png), **common, "confidence_threshold": 0.0, "vectorize": True}})
    assert rotated["original_image_size"] == [image.width, image.height]
    assert rotated["scores"] == plain["scores"] and rotated["boxes"] == plain["boxes"]
    assert decode_mask(rotated["masks"][0]).shape == (image.height, image.width)
    assert np.array_equal(decode_mask(rotated["masks"][0]), decode_mask(plain["masks"][0]))


def test_corrupt_exif_does_not_reject_the_image(image):
    data = bytearray(encode(image, "JPEG", exif=b"Exif\x00\x00" + b"\xff" * 40))
    assert roundtrip(bytes(data)).size == image.size


def test_tiny_images_work(handler):
    for size in ((1, 1), (1, 300), (300, 1)):
        tiny = b64(encode(scene(*size)))
        inputs = {"image": tiny, "text_prompts": ["cat"], "points": [[0.5, 0.5]], "point_labels": [1]}
        response = handler({"inputs": {**inputs, "confidence_threshold": 0.0}})
        assert response["num_objects"] > 0 and all(decode_mask(m).shape == size[::-1] for m in response["masks"])
