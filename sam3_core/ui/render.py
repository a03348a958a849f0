"""What the web UI draws: the picture at display size, one tinted layer per object, the full-size overlay.

Coordinates are pixels of the upright image (origin top-left, boxes ``[x1, y1, x2, y2]``) unless a name says
*display*: the page shows the picture at most ``DISPLAY_MAX_SIDE`` pixels on its long side, and every per-click
rendering happens at that size (a 12 MP photo is never tinted at full size to answer a click). Marker, line and
label sizes are chosen for the size the picture is drawn at, not for its pixel count.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

PALETTE = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
           (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (170, 110, 40)]  # fmt: skip
DISPLAY_MAX_SIDE = 1280
TINT = 0.5  # the opacity of a mask's colour over the picture


@dataclass(frozen=True)
class Picture:
    """An uploaded picture: the file as sent (re-sent with every click, so the service's feature cache, keyed by
    the file's bytes, answers) and its upright RGB pixels."""

    raw: bytes
    image: Image.Image
    name: str

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels."""
        return self.image.size


def colour(index: int) -> tuple[int, int, int]:
    """The RGB colour of object ``index`` (the legend's swatch, its layer and its outline)."""
    return PALETTE[index % len(PALETTE)]


def hex_colour(index: int) -> str:
    return "#{:02x}{:02x}{:02x}".format(*colour(index))


def is_dark(rgb: tuple[int, int, int]) -> bool:
    """Whether white text reads better than black on ``rgb``."""
    red, green, blue = rgb
    return 0.299 * red + 0.587 * green + 0.114 * blue < 150


def display_size(size: tuple[int, int], max_side: int = DISPLAY_MAX_SIDE) -> tuple[int, int]:
    """``size`` (width, height) scaled down to fit ``max_side`` on its long side (never up)."""
    width, height = size
    scale = min(1.0, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def data_url(data: bytes, media_type: str) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


def display_picture(image: Image.Image) -> str:
    """The picture at display size as a JPEG data URL (what the page shows and clicks land on)."""
    small = image.convert("RGB")
    if small.size != display_size(image.size):
        small = small.resize(display_size(image.size), Image.Resampling.BILINEAR, reducing_gap=2.0)
    buffer = io.BytesIO()
    small.save(buffer, "JPEG", quality=90)
    return data_url(buffer.getvalue(), "image/jpeg")


def decode_mask(png_b64: str) -> np.ndarray:
    """A response mask (base64 PNG, 0/255) as a ``(H, W)`` uint8 array, 0 or 255."""
    mask = cv2.imdecode(np.frombuffer(base64.b64decode(png_b64), np.uint8), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise ValueError("a mask in the response is not a PNG")
    return mask


def mask_layer(mask: np.ndarray, index: int, size: tuple[int, int]) -> str:
    """Object ``index``'s mask (full size, 0/255) as a PNG data URL of ``size`` (display width, height): its
    colour at ``TINT`` opacity inside, opaque along the outline, transparent elsewhere. A 3-colour palette PNG
    (a few tens of milliseconds for a 12 MP mask, most of it in ``cv2.resize`` and the outline)."""
    small = cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST) if mask.shape[::-1] != size else mask
    indices = (small >= 128).astype(np.uint8)  # 0 outside, 1 inside
    contours, _ = cv2.findContours(indices, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(indices, contours, -1, 2, 2)  # 2 on the outline
    layer = Image.fromarray(indices, "P")
    layer.putpalette([0, 0, 0, *colour(index), *colour(index)])
    buffer = io.BytesIO()
    layer.save(buffer, "PNG", compress_level=1, transparency=bytes([0, round(255 * TINT), 255]))
    return data_url(buffer.getvalue(), "image/png")


def objects_for_display(response: dict, image_size: tuple[int, int]) -> list[dict]:
    """One entry per object of a handler ``response`` for the page: ``index``, ``label``, ``score``, ``colour``
    (``#rrggbb``), ``box`` (pixel xyxy of the full image) and ``layer`` (``mask_layer`` at display size)."""
    size = display_size(image_size)
    objects = []
    for index, (png, label, score, box) in enumerate(
        zip(response["masks"], response["labels"], response["scores"], response["boxes"], strict=True)
    ):
        objects.append(
            {
                "index": index,
                "label": label,
                "score": round(float(score), 4),
                "colour": hex_colour(index),
                "dark": is_dark(colour(index)),
                "box": [round(float(v), 2) for v in box],
                "layer": mask_layer(decode_mask(png), index, size),
            }
        )
    return objects


def full_overlay(image: Image.Image, response: dict, shown: list[int] | None = None) -> Image.Image:
    """The picture at full size with the objects in ``shown`` (indices; default all) tinted in their colours,
    outlined, boxed and labelled (label and score), lines and text sized for the picture's size."""
    canvas = np.asarray(image.convert("RGB")).copy()
    indices = range(len(response["masks"])) if shown is None else [i for i in shown if 0 <= i < len(response["masks"])]
    long_side = max(image.size)
    thickness = max(2, round(long_side / 500))
    font_scale = max(0.5, long_side / 1600)
    for index in indices:
        mask = decode_mask(response["masks"][index]) > 0
        tint = np.array(colour(index), np.float32)
        canvas[mask] = (canvas[mask].astype(np.float32) * (1 - TINT) + tint * TINT).astype(np.uint8)
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(canvas, contours, -1, colour(index), thickness)
    for index in indices:
        x1, y1, x2, y2 = (int(round(v)) for v in response["boxes"][index])
        cv2.rectangle(canvas, (x1, y1), (max(x1, x2 - 1), max(y1, y2 - 1)), colour(index), thickness)
        text = f"{response['labels'][index]} {response['scores'][index]:.2f}"
        (width, height), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
        top = max(0, y1 - height - base - 2 * thickness)
        cv2.rectangle(canvas, (x1, top), (x1 + width + 2 * thickness, top + height + base + 2 * thickness),
                      colour(index), -1)  # fmt: skip
        ink = (255, 255, 255) if is_dark(colour(index)) else (0, 0, 0)
        cv2.putText(canvas, text, (x1 + thickness, top + height + thickness), cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                    ink, max(1, thickness // 2), cv2.LINE_AA)  # fmt: skip
    return Image.fromarray(canvas)
