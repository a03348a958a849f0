"""Request limits, each with a documented default and an environment override (read once at start-up)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Limits:
    """Upper bounds on what one request may ask for. Env var: ``SAM3_`` + the field name upper-cased."""

    max_image_pixels: int = 50_000_000  # width * height of the decoded image (a 12 MP photo is 12.2M)
    max_image_bytes: int = 50 * 1024 * 1024  # encoded image size, after base64 decoding
    max_text_prompts: int = 32
    max_prompt_chars: int = 256  # per text prompt; the model also reads at most 32 tokens (checked separately)
    max_points: int = 64
    max_boxes: int = 64
    max_objects: int = 100  # objects returned per request; the highest scores are kept
    # Image URLs are refused unless the operator lists the hosts they may come from (comma-separated).
    url_hosts: tuple[str, ...] = ()
    url_timeout_s: int = 10
    # Not a limit but read the same way: text prompts for image-segmentation task requests that bring none
    # (comma-separated; unset: segment everything).
    default_prompts: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Limits:
        """Defaults overridden by ``SAM3_*`` variables; a malformed value fails start-up loudly."""
        values: dict[str, object] = {}
        for spec in fields(cls):
            name = f"SAM3_{spec.name.upper()}"
            raw = environ.get(name)
            if raw is None or raw.strip() == "":
                continue
            if spec.name == "url_hosts":
                values[spec.name] = tuple(host.strip().lower() for host in raw.split(",") if host.strip())
                continue
            if spec.name == "default_prompts":
                values[spec.name] = tuple(prompt.strip() for prompt in raw.split(",") if prompt.strip())
                continue
            try:
                value = int(raw)
            except ValueError:
                raise ValueError(f"{name}={raw!r}: expected a positive integer") from None
            if value <= 0:
                raise ValueError(f"{name}={raw!r}: expected a positive integer")
            values[spec.name] = value
        return cls(**values)
