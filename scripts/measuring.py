"""What the measuring scripts share (the GPU check, throughput, the /metrics cost, the benchmarks): the generated
checkpoints, timing on the device, GPU peaks, synthetic inputs, mask comparisons, the machine's description.
"""

from __future__ import annotations

import base64
import io
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Generated checkpoints, in the working directory.
CHECKPOINTS = {"tiny": Path("checkpoints") / "sam3-tiny", "full": Path("checkpoints") / "sam3-full-random"}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def machine() -> dict:
    import torch
    import transformers

    return {
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "cpu_cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "transformers": transformers.__version__,
    }


def checkpoint(size: str) -> Path:
    from sam3_core.model.checkpoint import is_sam3_checkpoint
    from sam3_core.testing.tiny_checkpoint import make_checkpoint

    path = CHECKPOINTS[size]
    if not is_sam3_checkpoint(path):
        started = time.perf_counter()
        make_checkpoint(path, full=size == "full")
        log(f"built the {size} random checkpoint in {time.perf_counter() - started:.0f} s")
    return path


def synchronize() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def reset_gpu_peak() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def gpu_peak_mb() -> float | None:
    import torch

    return round(torch.cuda.max_memory_allocated() / 2**20, 1) if torch.cuda.is_available() else None


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def timed(call: Callable[[], Any], runs: int, before: Callable[[], None] = lambda: None, warm: int = 1) -> dict:
    """``warm`` untimed calls, then ``runs`` timed ones (``before`` runs untimed ahead of each): milliseconds."""
    for _ in range(warm):
        before()
        call()
    reset_gpu_peak()
    times = []
    for _ in range(runs):
        before()
        synchronize()
        started = time.perf_counter()
        call()
        synchronize()
        times.append((time.perf_counter() - started) * 1000)
    return {
        "median_ms": round(statistics.median(times), 2),
        "p90_ms": round(percentile(times, 0.9), 2),
        "min_ms": round(min(times), 2),
        "runs": runs,
        "gpu_peak_mb": gpu_peak_mb(),
    }


def jpeg_b64(size: tuple[int, int], seed: int) -> str:
    """A synthetic photo-like picture (shapes on a gradient, noise) as base64 JPEG, what a client sends."""
    from sam3_core.testing.support import synthetic_image

    buffer = io.BytesIO()
    synthetic_image(*size, seed=seed).save(buffer, "JPEG", quality=90)
    return base64.b64encode(buffer.getvalue()).decode()


def mask_iou(a, b) -> float:
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


def png_mask(text: str):
    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(base64.b64decode(text)))) > 127
