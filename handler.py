"""Hugging Face Inference Endpoints custom handler for SAM3 (concept and visual prompts).

``EndpointHandler(path)`` loads SAM3 once; ``__call__(data)`` takes ``{"inputs": {...}}`` (or the simple
``{"data": [...]}`` and ``{"inputs": <image>, "parameters": {...}}`` forms) and returns the documented JSON.
Bad input raises ``sam3_core.RequestError`` (a ``ValueError``), which the toolkit answers with HTTP 400.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sam3_core.checkpoint import local_directory, resolve_source, select_device
from sam3_core.engine import Sam3Engine
from sam3_core.limits import Limits
from sam3_core.request import parse_payload
from sam3_core.response import build_response

LOG = logging.getLogger("sam3_core")


class EndpointHandler:
    def __init__(self, path: str = "", **kwargs: Any) -> None:
        started = time.perf_counter()
        self.limits = Limits.from_env()
        source = resolve_source(path)
        LOG.info("SAM3 weights: %s (%s)", source.location, source.reason)
        directory = local_directory(source)
        device, dtype = select_device()
        self.engine = Sam3Engine.from_directory(directory, device, dtype)
        self.engine.warm_up()
        LOG.info(
            "SAM3 ready on %s (%s) in %.1f s", device, str(dtype).removeprefix("torch."), time.perf_counter() - started
        )

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        request = parse_payload(data, self.limits)
        prediction = self.engine.predict(request)
        return build_response(request, prediction)
