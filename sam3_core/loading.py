"""The one way to load SAM3 for serving: weights, device and dtype, engine, warm-up, each step logged.

Used by the endpoint handler, the HTTP server, the Space app, the batch labeller and the benchmarks.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from sam3_core.media.image_io import refuse_oversized_images_in_pil
from sam3_core.model.allocator import configure_allocator
from sam3_core.model.checkpoint import CheckpointSource, local_directory, resolve_source, select_device
from sam3_core.model.engine import Sam3Engine
from sam3_core.service import SegmentationService
from sam3_core.settings import Settings

LOG = logging.getLogger("sam3_core")
RANDOM_MARKER = "TINY_RANDOM_CHECKPOINT.json"  # written by sam3_core.testing.tiny_checkpoint


def load_service(
    settings: Settings, repository: str | os.PathLike | None = None, model: str | None = None
) -> SegmentationService:
    """A ready service. Weights: ``model`` (a Hub id or directory chosen by the caller) when given, else the rule
    of ``checkpoint.resolve_source`` (``SAM3_MODEL_ID``, then a checkpoint in ``repository``, then
    ``facebook/sam3``)."""
    started = time.perf_counter()
    configure_allocator()  # before the weights: large buffers are returned to the system when freed
    # Also where the inference toolkit decodes a binary request body, before the handler sees it.
    refuse_oversized_images_in_pil(settings.request.limits.max_image_pixels)
    source = CheckpointSource(model, "chosen by the caller") if model else resolve_source(repository, settings.model)
    LOG.info("SAM3 weights: %s (%s)", source.location, source.reason)
    device, dtype = select_device(settings.model)
    directory = local_directory(source, settings.model.hf_token, settings.model.revision)
    engine = Sam3Engine.from_directory(
        directory, device, dtype, settings.engine, max_batch_images=settings.request.limits.max_batch_images
    )
    engine.warm_up()
    seconds = time.perf_counter() - started
    LOG.info("SAM3 ready on %s (%s) in %.1f s", device, str(dtype).removeprefix("torch."), seconds)
    return SegmentationService(engine, settings.request, random_weights=has_random_weights(directory))


def has_random_weights(directory: str | os.PathLike) -> bool:
    """Whether ``directory`` holds a randomly initialised checkpoint (``sam3-make-tiny`` marks the ones it writes
    with ``TINY_RANDOM_CHECKPOINT.json``); the web UI then says so on the page."""
    marker = Path(directory) / RANDOM_MARKER
    try:
        return bool(json.loads(marker.read_text()).get("random_weights", True))
    except FileNotFoundError:
        return False
    except (OSError, ValueError, AttributeError):  # unreadable or malformed: the marker is there, so say random
        return True
