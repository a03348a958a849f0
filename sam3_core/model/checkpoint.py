"""Where the SAM3 weights come from, and on which device and dtype they run.

Source, first match wins: ``SAM3_MODEL_ID`` (a Hub id or a local directory); the endpoint's ``path`` when it
holds a SAM3 checkpoint; otherwise the Hub model ``facebook/sam3`` (gated: needs ``HF_TOKEN``). A checkpoint is
the ``facebook/sam3`` layout: ``config.json`` of model type ``sam3_video``, safetensors weights, processor and
tokenizer files. From the Hub, ``SAM3_MODEL_REVISION`` (a commit or tag) pins what is downloaded; unset, the
repository's ``main`` as it is at each start.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from sam3_core.settings import DTYPE_NAMES, ModelSettings

LOG = logging.getLogger("sam3_core")
HUB_DEFAULT = "facebook/sam3"
# What is downloaded: the configs, the processor and tokenizer files, and the weights the models load (one file
# or the shards its index names; no other safetensors file the repository may hold, such as another format's).
HUB_FILES = ["*.json", "*.txt", "model.safetensors", "model-*-of-*.safetensors"]
# What goes along with the weights when they are copied into an endpoint repository: the licence they come under.
LICENCE_FILES = ["LICENSE*", "LICENCE*"]
DTYPES = {name: getattr(torch, name) for name in DTYPE_NAMES}


@dataclass(frozen=True)
class CheckpointSource:
    """A Hub id or local directory, and the reason it was chosen (logged at start-up)."""

    location: str
    reason: str


def is_sam3_checkpoint(directory: str | os.PathLike) -> bool:
    """True when ``directory`` holds a ``sam3_video`` config and safetensors weights."""
    root = Path(directory)
    config = root / "config.json"
    if not config.is_file():
        return False
    try:
        model_type = json.loads(config.read_text()).get("model_type")
    except (OSError, ValueError):
        return False
    has_weights = (root / "model.safetensors").is_file() or (root / "model.safetensors.index.json").is_file()
    return model_type == "sam3_video" and has_weights


def resolve_source(path: str | os.PathLike | None, model: ModelSettings) -> CheckpointSource:
    """Apply the precedence rule above; never touches the network."""
    configured = (model.model_id or "").strip()
    if configured:
        return CheckpointSource(configured, "set by env SAM3_MODEL_ID")
    if path and is_sam3_checkpoint(path):
        return CheckpointSource(str(path), "the endpoint repository holds a SAM3 checkpoint")
    return CheckpointSource(HUB_DEFAULT, f"SAM3_MODEL_ID is unset and {str(path or '')!r} holds no SAM3 checkpoint")


def local_directory(source: CheckpointSource, token: str | None = None, revision: str | None = None) -> Path:
    """The checkpoint as a local directory: as is when local, else downloaded from the Hub with ``token`` at
    ``revision`` (None: ``main``)."""
    candidate = Path(source.location).expanduser()
    if candidate.is_dir():
        if not is_sam3_checkpoint(candidate):
            raise RuntimeError(f"{candidate} is not a SAM3 checkpoint (needs a sam3_video config.json + safetensors)")
        return candidate
    from huggingface_hub import snapshot_download

    pinned = revision or "main (unpinned: SAM3_MODEL_REVISION pins it)"
    LOG.info("downloading %s at revision %s from the Hugging Face Hub", source.location, pinned)
    directory = Path(snapshot_download(source.location, revision=revision, token=token, allow_patterns=HUB_FILES))
    if not is_sam3_checkpoint(directory):
        raise RuntimeError(f"Hub repository {source.location} is not a SAM3 checkpoint (sam3_video layout)")
    return directory


def select_device(model: ModelSettings) -> tuple[torch.device, torch.dtype]:
    """CUDA when available, else CPU; bfloat16 on GPUs that support it (else float16), float32 on CPU.

    ``model.device`` (``SAM3_DEVICE``, e.g. ``cpu``, ``cuda:1``) and ``model.dtype`` (``SAM3_DTYPE``) override.
    """
    requested = (model.device or "").strip()
    device = torch.device(requested or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"SAM3_DEVICE={requested} but CUDA is not available")
    if model.dtype:
        return device, DTYPES[model.dtype]
    if device.type == "cuda":
        return device, torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return device, torch.float32
