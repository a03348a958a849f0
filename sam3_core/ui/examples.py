"""Example photos for the web UI, from scikit-image's data module (files inside the scikit-image wheel: nothing
is downloaded, nothing is committed here). Without scikit-image the page simply has no examples."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable

import numpy as np
from PIL import Image


def _stereo_left() -> np.ndarray:
    import skimage.data

    return skimage.data.stereo_motorcycle()[0]


def _named(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import skimage.data

        return getattr(skimage.data, name)()

    return load


# name shown -> loader of an (H, W, 3) uint8 array; each is a file bundled in the scikit-image 0.26 wheel
SOURCES: dict[str, Callable[[], np.ndarray]] = {
    "astronaut": _named("astronaut"),
    "chelsea": _named("chelsea"),
    "coffee": _named("coffee"),
    "rocket": _named("rocket"),
    "motorcycle": _stereo_left,
}


def available() -> list[str]:
    """The example names, or ``[]`` when scikit-image is not installed."""
    try:
        import skimage.data  # noqa: F401
    except ImportError:
        return []
    return list(SOURCES)


def example_png(name: str) -> bytes:
    """Example ``name`` as PNG bytes (the file the page then treats like an upload)."""
    if name not in SOURCES:
        raise ValueError(f"no example named {name!r}; choose one of {', '.join(SOURCES)}")
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(SOURCES[name]())[..., :3]).save(buffer, "PNG")
    return buffer.getvalue()


def thumbnail_url(name: str, side: int = 96) -> str:
    """Example ``name`` reduced to at most ``side`` pixels on its long side, as a JPEG data URL (the page's
    example strip)."""
    image = Image.fromarray(np.asarray(SOURCES[name]())[..., :3])
    image.thumbnail((side, side))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
