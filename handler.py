"""Hugging Face Inference Endpoints custom handler for SAM3 (concept and visual prompts).

``EndpointHandler(path)`` reads the settings from the environment once and loads SAM3 (``sam3_core.loading``);
``__call__(data)`` takes ``{"inputs": {...}}`` (or the simple ``{"data": [...]}`` and
``{"inputs": <image>, "parameters": {...}}`` forms) and returns the documented JSON. Bad input raises
``sam3_core.RequestError`` (a ``ValueError``), which the toolkit answers with HTTP 400.
The request path: ``sam3_core.service.SegmentationService.__call__``.
"""

from __future__ import annotations

import threading
from typing import Any

from sam3_core.loading import load_service
from sam3_core.model.engine import Sam3Engine
from sam3_core.settings import Settings


class EndpointHandler:
    def __init__(self, path: str = "", model: str | None = None, settings: Settings | None = None, **kwargs: Any):
        """``path``: the endpoint repository (the toolkit passes it). ``model``: a Hub id or directory chosen by
        the caller, overriding ``SAM3_MODEL_ID`` and the repository. ``settings``: default ``Settings.from_env()``."""
        self.service = load_service(settings or Settings.from_env(), path, model)

    @property
    def engine(self) -> Sam3Engine:
        return self.service.engine

    def __call__(
        self, data: dict[str, Any], cancel: threading.Event | None = None
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """The response to ``data``. ``cancel`` (optional): once set, the work stops at its next stage with
        ``sam3_core.cancel.Cancelled`` (``sam3-serve`` sets it when the client disconnects)."""
        return self.service(data, cancel)
