"""Decode request images into upright 8-bit RGB ``PIL.Image`` objects, refusing bombs before decoding pixels.

Accepted: a base64 string (standard or URL-safe alphabet, padding optional, optional ``data:image/...;base64,``
prefix), raw bytes, or a ``PIL.Image`` (what the inference toolkit builds from a binary request body). An
``http(s)://`` URL only when the operator allows its host (``SAM3_URL_HOSTS``, ``sam3_core.media.url_fetch``); never a
file path.
Formats: JPEG, PNG, WebP, BMP, TIFF, GIF (first frame). Every mode (16-bit, CMYK, palette, alpha, ...) becomes RGB.
EXIF orientation is applied, so every coordinate in requests and responses refers to the upright image.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
import threading
import warnings
from collections import OrderedDict

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from sam3_core.errors import PayloadTooLarge, RequestError, brief, quote
from sam3_core.media.url_fetch import fetch_url
from sam3_core.model.work import Picture
from sam3_core.settings import Limits, RequestSettings

ALLOWED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF", "MPO"})  # MPO: multi-picture JPEG
_DATA_URI = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^;,]*)*?);base64,", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")
_URL = re.compile(r"^(https?|file|ftp):", re.IGNORECASE)


def decode_base64(
    text: str, field: str = "image", media: tuple[str, ...] = ("image/",), example: str = "image/png"
) -> bytes:
    """Standard or URL-safe base64, with or without padding and a ``data:`` URI prefix, to bytes. A prefix's media
    type must start with one of ``media``; ``example`` is the one the error message shows."""
    text = text.strip()
    if text.lower().startswith("data:"):
        match = _DATA_URI.match(text)
        if match is None:
            raise RequestError(field, f"data URI must look like 'data:{example};base64,...'")
        mime = (match.group("mime") or "").lower()
        if mime and not mime.startswith(media):
            raise RequestError(field, f"data URI has media type {quote(mime)}, expected {media[0]}*")
        text = text[match.end() :]
    try:  # the common case, plain padded standard base64: no copies, no regex over megabytes
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        pass
    text = _WHITESPACE.sub("", text).replace("-", "+").replace("_", "/").rstrip("=")
    if not text:
        raise RequestError(field, "is empty")
    if len(text) % 4 == 1:
        raise RequestError(field, "is not valid base64 (bad length)")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(field, "is not valid base64") from None


def decode_image(value: object, settings: RequestSettings, field: str = "image") -> Image.Image:
    """Return the upright RGB image for a request's ``image`` value (see module docstring)."""
    if isinstance(value, Image.Image):
        _check_pixels(value, settings.limits, field)
        return _upright(value, field)
    return _upright(_open(encoded_bytes(value, settings, field), settings.limits, field), field)


def encoded_bytes(value: object, settings: RequestSettings, field: str = "image") -> bytes:
    """The image file a request's ``image`` value carries (base64 text, bytes, or an allowed URL), size-checked."""
    if isinstance(value, str) and _URL.match(value.strip()):
        raw = fetch_url(value.strip(), settings, field)
    elif isinstance(value, str):
        if len(value) > settings.limits.max_image_bytes * 4 // 3 + 1024:
            raise PayloadTooLarge(field, f"is larger than the {settings.limits.max_image_bytes} byte limit")
        raw = decode_base64(value, field)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
    elif value is None:
        raise RequestError(field, "is missing")
    else:
        raise RequestError(field, f"expected a base64 string or image bytes, got {type(value).__name__}")
    if not raw:
        raise RequestError(field, "is empty")
    _check_byte_count(len(raw), settings.limits, field)
    return raw


class _KnownImages:
    """Encoded images decoded successfully before: digest of what the client sent -> (upright size, byte count).

    A client that sends the same file again (every click on a picture in a segmentation UI) has its limits checked
    against these figures and its pixels decoded only if the engine no longer holds the picture's features.
    Bounded: ``capacity`` entries, least recently used dropped.
    """

    def __init__(self, capacity: int = 4096) -> None:
        self._entries: OrderedDict[str, tuple[tuple[int, int], int]] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[tuple[int, int], int] | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: str, size: tuple[int, int], byte_count: int) -> None:
        with self._lock:
            self._entries[key] = (size, byte_count)
            self._entries.move_to_end(key)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)


_KNOWN = _KnownImages()


def read_image(value: object, settings: RequestSettings, field: str = "image") -> Picture:
    """The request's picture (see ``decode_image`` for what is accepted), named for the engine's feature cache by a
    digest of the client's base64 text or bytes; a file seen before is not decoded again here."""
    if isinstance(value, str) and not _URL.match(value.strip()):
        key = "base64:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    elif isinstance(value, (bytes, bytearray, memoryview)):
        key = "bytes:" + hashlib.sha256(value).hexdigest()[:32]
    else:  # a PIL image, a URL (fetched every time: its content may change), or a type decode_image refuses
        return Picture.of(decode_image(value, settings, field))
    known = _KNOWN.get(key)
    if known is not None:
        size, byte_count = known
        _check_byte_count(byte_count, settings.limits, field)
        _check_size(*size, settings.limits, field)
        return Picture(size, key, decode=lambda: decode_image(value, settings, field))
    raw = encoded_bytes(value, settings, field)
    image = _upright(_open(raw, settings.limits, field), field)
    _KNOWN.put(key, image.size, len(raw))
    return Picture(image.size, key, image)


def refuse_oversized_images_in_pil(max_pixels: int) -> None:
    """Make PIL itself refuse images over ``max_pixels`` in ``Image.open``, from the header, before decoding.

    The inference toolkit decodes a binary request body with PIL (``Image.open(...).convert("RGB")``) before the
    handler sees it; this process-wide setting is the handler's only hook there. PIL raises
    ``DecompressionBombError`` above twice ``Image.MAX_IMAGE_PIXELS`` (and only warns above it). ``_open`` below
    checks the limit itself either way.
    """
    Image.MAX_IMAGE_PIXELS = max(1, (max_pixels + 1) // 2)


def _open(raw: bytes, limits: Limits, field: str) -> Image.Image:
    """Parse only the header, check the format and pixel count, then decode."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # bomb warnings (our own pixel check follows), corrupt EXIF
            image = Image.open(io.BytesIO(raw))
    except Image.DecompressionBombError:
        raise PayloadTooLarge(field, f"has more than the {limits.max_image_pixels} pixel limit") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise RequestError(field, "is not a recognised image (JPEG, PNG, WebP, BMP, TIFF or GIF)") from None
    if image.format not in ALLOWED_FORMATS:
        raise RequestError(field, f"format {image.format} is not accepted (JPEG, PNG, WebP, BMP, TIFF or GIF)")
    _check_pixels(image, limits, field)
    try:
        image.seek(0)  # GIF/TIFF/WebP animations and multi-page files: the first frame
        image.load()
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise RequestError(field, f"could not be decoded ({brief(exc)})") from None
    return image


def _check_byte_count(byte_count: int, limits: Limits, field: str) -> None:
    if byte_count > limits.max_image_bytes:
        raise PayloadTooLarge(field, f"is {byte_count} bytes, over the {limits.max_image_bytes} byte limit")


def _check_pixels(image: Image.Image, limits: Limits, field: str) -> None:
    _check_size(*image.size, limits, field)


def _check_size(width: int, height: int, limits: Limits, field: str) -> None:
    if width < 1 or height < 1:
        raise RequestError(field, f"has no pixels ({width}x{height})")
    if width * height > limits.max_image_pixels:
        raise PayloadTooLarge(
            field, f"is {width}x{height} = {width * height} pixels, over the {limits.max_image_pixels} pixel limit"
        )


def _upright(image: Image.Image, field: str) -> Image.Image:
    try:
        return _to_upright_rgb(image)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise RequestError(field, f"could not be decoded ({brief(exc)})") from None


def _to_upright_rgb(image: Image.Image) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Corrupt EXIF data": handled below, not worth a log line
            upright = ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - a corrupt EXIF block must not reject an otherwise good image
        upright = image
    if upright is None:
        upright = image
    mode = upright.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16-bit greyscale (PNG, TIFF): scale 0..65535 to 0..255 instead of clipping at 255.
        grey = np.asarray(upright, dtype=np.float64) / 257.0
        upright = Image.fromarray(np.clip(np.rint(grey), 0, 255).astype(np.uint8), mode="L")
    elif mode == "F":
        grey = np.nan_to_num(np.asarray(upright, dtype=np.float64))
        upright = Image.fromarray(np.clip(np.rint(grey), 0, 255).astype(np.uint8), mode="L")
    elif mode in ("P", "PA") or (mode == "L" and "transparency" in upright.info):
        upright = upright.convert("RGBA")
    return upright if upright.mode == "RGB" else upright.convert("RGB")
