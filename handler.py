"""Hugging Face Inference Endpoints custom handler for SAM3 (concept and visual prompts).

``EndpointHandler(path)`` loads SAM3 once; ``__call__(data)`` takes ``{"inputs": {...}}`` (or the simple
``{"data": [...]}`` and ``{"inputs": <image>, "parameters": {...}}`` forms) and returns the documented JSON.
Bad input raises ``sam3_core.RequestError`` (a ``ValueError``), which the toolkit answers with HTTP 400.
The request path: ``sam3_core.service.SegmentationService.__call__``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sam3_core.checkpoint import CheckpointSource, local_directory, resolve_source, select_device
from sam3_core.engine import Sam3Engine
from sam3_core.image_io import refuse_oversized_images_in_pil
from sam3_core.limits import Limits
from sam3_core.service import SegmentationService

LOG = logging.getLogger("sam3_core")


class EndpointHandler:
    def __init__(self, path: str = "", model: str | None = None, **kwargs: Any) -> None:
        """``path``: the endpoint repository (the toolkit passes it). ``model``: a Hub id or directory chosen by
        the caller (a local server), overriding the rule in ``sam3_core.checkpoint.resolve_source``."""
        started = time.perf_counter()
        limits = Limits.from_env()
        refuse_oversized_images_in_pil(limits.max_image_pixels)  # also where the toolkit decodes a binary body
        source = CheckpointSource(model, "chosen by the caller") if model else resolve_source(path)
        LOG.info("SAM3 weights: %s (%s)", source.location, source.reason)
        device, dtype = select_device()
        engine = Sam3Engine.from_directory(local_directory(source), device, dtype)
        engine.warm_up()
        self.service = SegmentationService(engine, limits)
        seconds = time.perf_counter() - started
        LOG.info("SAM3 ready on %s (%s) in %.1f s", device, str(dtype).removeprefix("torch."), seconds)

    @property
    def engine(self) -> Sam3Engine:
        return self.service.engine

    @property
    def limits(self) -> Limits:
        return self.service.limits

    def __call__(self, data: dict[str, Any]) -> dict[str, Any] | list[dict[str, Any]]:
        return self.service(data)
