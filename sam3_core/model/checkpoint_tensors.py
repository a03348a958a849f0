"""Every tensor the models read is in the checkpoint: checked at start, so a checkpoint that lacks one is refused
instead of serving with part of the model left random.

A ``facebook/sam3`` checkpoint is one ``Sam3VideoModel`` state dict (``model.safetensors``, or shards named by
``model.safetensors.index.json``): ``detector_model.*`` (the detector, and the ViT both models read),
``tracker_model.*`` (the tracker's prompt encoder and mask decoder, and the video tracker's memory) and
``tracker_neck.*``. What the detector and the tracker could not load is what ``from_pretrained`` reports (its
``output_loading_info``; a tensor of another shape is transformers' own error there); the video tracker's own
tensors (its memory attention, memory encoder, object pointers) are looked up by name and shape in the files'
headers, without building the video model or reading a tensor.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
import transformers
from safetensors import safe_open
from transformers import Sam3VideoConfig, Sam3VideoModel

LOG = logging.getLogger("sam3_core")
INDEX = "model.safetensors.index.json"
VIDEO_TRACKER_PREFIX = "tracker_model."
NAMES_SHOWN = 5  # names quoted in a message; the count says how many there are


class IncompleteCheckpoint(RuntimeError):
    """The checkpoint lacks tensors a model reads: raised at start, naming them."""


def weight_files(directory: str | Path) -> list[Path]:
    """The checkpoint's safetensors files: the shards its index names, else ``model.safetensors`` (never any
    other safetensors file the directory may hold)."""
    root = Path(directory)
    index = root / INDEX
    if index.is_file():
        return [root / name for name in sorted(set(json.loads(index.read_text())["weight_map"].values()))]
    return [root / "model.safetensors"]


def tensor_shapes(directory: str | Path) -> dict[str, tuple[int, ...]]:
    """The shape of each tensor the checkpoint holds, by name, read from the files' headers (no tensor is read)."""
    shapes: dict[str, tuple[int, ...]] = {}
    for path in weight_files(directory):
        with safe_open(str(path), framework="pt") as file:
            shapes.update((name, tuple(file.get_slice(name).get_shape())) for name in file.keys())  # noqa: SIM118
    return shapes


def model_shapes(config: Sam3VideoConfig) -> dict[str, tuple[int, ...]]:
    """The checkpoint names and shapes of every tensor of ``Sam3VideoModel`` (the model the checkpoint stores; its
    ``tracker_model.*`` are the video tracker's), from a model built on the meta device (no memory)."""
    with torch.device("meta"):
        model = Sam3VideoModel(config)
    return {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}


def _listed(names: Iterable[str]) -> str:
    names = sorted(names)
    shown = ", ".join(names[:NAMES_SHOWN])
    return f"{len(names)} ({shown}{', ...' if len(names) > NAMES_SHOWN else ''})"


def require_complete(
    directory: str | Path, config: Sam3VideoConfig, loading_info: Mapping[str, Mapping[str, Iterable[str]]]
) -> None:
    """Raise ``IncompleteCheckpoint`` when the checkpoint in ``directory`` lacks a tensor that a model reads:
    ``loading_info`` holds ``from_pretrained``'s report for each model loaded (``{"detector": info, ...}``),
    the video tracker's tensors are looked up by name and shape. Tensors no model reads are logged as a warning
    (named), and named in the error when something is missing too (a renamed tensor shows on both sides)."""
    present = tensor_shapes(directory)
    missing = {part: sorted(info.get("missing_keys", ())) for part, info in loading_info.items()}
    expected = model_shapes(config)
    wanted = {name: shape for name, shape in expected.items() if name.startswith(VIDEO_TRACKER_PREFIX)}
    missing["video tracker"] = sorted(wanted.keys() - present.keys())
    reshaped = [name for name, shape in wanted.items() if name in present and present[name] != shape]
    unexpected = present.keys() - expected.keys()
    gaps = [f"{part}: {_listed(names)}" for part, names in missing.items() if names]
    if reshaped:
        gaps.append(f"video tracker, of another shape: {_listed(reshaped)}")
    if gaps:
        version = transformers.__version__
        message = f"the checkpoint in {directory} lacks tensors transformers {version} reads: " + "; ".join(gaps)
        if unexpected:
            message += f"; holds tensors no model reads: {_listed(unexpected)}"
        raise IncompleteCheckpoint(message)
    if unexpected:
        LOG.warning("the checkpoint holds tensors no model reads (ignored): %s", _listed(unexpected))
