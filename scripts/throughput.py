#!/usr/bin/env python3
"""Throughput of the service, batching on against off in the same process, and many images per request against
as many single requests.

    python -m scripts.throughput [--size tiny|full] [--clients 1,4,16,64] [--requests-per-client 2]
        [--images-per-request 4,16] [--image 1008x1008] [--parity N] [--json F]

The service is loaded once, as the endpoint loads it (``loading.load_service``, the environment's settings). Every
request carries its own synthetic JPEG (base64, so every image runs the ViT) and one text prompt, and its answer is
serialised to JSON text as a server would.
- ``clients``: ``n`` threads each send ``--requests-per-client`` one-image requests, with the engine batching
  waiting requests (on: ``SAM3_MAX_BATCH_IMAGES``) and with every image run alone (off: today's serial engine).
- ``images_per_request``: one client sends N images in one request (``{"inputs": [...]}``), against the same N
  images sent one request after another.
- ``--parity N``: N images (text prompts and a click each, threshold 0) in one request against each alone: the
  largest score difference and the smallest mask IoU.
Reported: images/s, p50 and p99 latency per request, peak GPU memory (CUDA) and how far the resident memory rose
above its level at the start of the scenario (its peak, reset per scenario).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path
from typing import Any

from sam3_core.testing.support import memory_mb
from scripts.measuring import (
    checkpoint,
    gpu_peak_mb,
    jpeg_b64,
    log,
    machine,
    mask_iou,
    percentile,
    png_mask,
    reset_gpu_peak,
    synchronize,
)

PROMPT = ["cat"]


def run_clients(service: Any, images: list[str], clients: int, per_request: int = 1) -> dict:
    """``clients`` threads share ``images`` round-robin, ``per_request`` images per request: images/s and the
    latency of each request (milliseconds)."""
    latencies: list[float] = []
    lock = threading.Lock()

    def client(mine: list[str]) -> None:
        for start in range(0, len(mine), per_request):
            group = [{"image": image, "text_prompts": PROMPT} for image in mine[start : start + per_request]]
            began = time.perf_counter()
            answer = service({"inputs": group if per_request > 1 else group[0]})
            json.dumps(answer)
            with lock:
                latencies.append((time.perf_counter() - began) * 1000)

    threads = [threading.Thread(target=client, args=(images[index::clients],)) for index in range(clients)]
    reset_gpu_peak()
    rss_before = memory_mb()
    Path("/proc/self/clear_refs").write_text("5")  # the peak resident size (VmHWM) starts again from now
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    synchronize()
    elapsed = time.perf_counter() - started
    return {
        "images": len(images),
        "requests": len(latencies),
        "images_per_s": round(len(images) / elapsed, 3),
        "p50_ms": round(percentile(latencies, 0.5), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "gpu_peak_mb": gpu_peak_mb(),
        "rss_peak_growth_mb": round(memory_mb("VmHWM") - rss_before, 1),
    }


def batch_parity(service: Any, size: tuple[int, int], count: int = 3) -> dict:
    """``count`` distinct images (text prompts and a click each, threshold 0) in one request against each alone:
    the largest score difference and the smallest mask IoU (issue 21: <= 1e-4 and >= 0.999 in float32)."""
    width, height = size
    elements = [
        {
            "image": jpeg_b64(size, seed=500 + index),
            "text_prompts": ["cat", "dog"][: 1 + index % 2],
            "points": [[width // 3, height // 2]],
            "point_labels": [1],
            "confidence_threshold": 0.0,
            "max_objects": 20,
        }
        for index in range(count)
    ]

    service.engine.feature_cache.clear()
    together = service({"inputs": elements})
    service.engine.feature_cache.clear()
    alone = [service({"inputs": element}) for element in elements]
    score_diff, min_iou, objects = 0.0, 1.0, 0
    for batched, single in zip(together, alone, strict=True):
        if batched["labels"] != single["labels"]:
            return {"error": "different objects in the batch and alone"}
        objects += single["num_objects"]
        for a, b in zip(batched["scores"], single["scores"], strict=True):
            score_diff = max(score_diff, abs(a - b))
        for a, b in zip(batched["masks"], single["masks"], strict=True):
            min_iou = min(min_iou, mask_iou(png_mask(a), png_mask(b)))
    return {"images": count, "objects": objects, "max_score_diff": score_diff, "min_mask_iou": round(min_iou, 6)}


def measure(
    service: Any,
    clients: tuple[int, ...],
    requests_per_client: int,
    images_per_request: tuple[int, ...],
    size: tuple[int, int],
) -> dict:
    """Every scenario on ``service`` (its feature cache emptied before each): a dict of rows by scenario name."""
    engine = service.engine
    limit = engine.batches.max_images
    seeds = iter(range(1000, 10_000_000))
    results: dict[str, dict] = {}

    def fresh(count: int) -> list[str]:
        engine.feature_cache.clear()
        return [jpeg_b64(size, seed=next(seeds)) for _ in range(count)]

    if clients or images_per_request:
        run_clients(service, fresh(2), 1)  # warm-up: the prompt's text features cached, kernels chosen
    try:
        for count in clients:
            for batching in ("off", "on"):
                engine.batches.max_images = limit if batching == "on" else 1
                row = run_clients(service, fresh(count * requests_per_client), count)
                results[f"clients{count}_batching_{batching}"] = row
                log(f"{count} clients, batching {batching}: {row}")
        engine.batches.max_images = limit
        for count in images_per_request:
            images = fresh(count)
            singles = run_clients(service, images, 1)
            engine.feature_cache.clear()
            together = run_clients(service, images, 1, per_request=count)
            results[f"images{count}_single_requests"] = singles
            results[f"images{count}_one_request"] = together
            log(f"{count} images: one by one {singles}, in one request {together}")
    finally:
        engine.batches.max_images = limit
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=["tiny", "full"], default="tiny")
    parser.add_argument("--clients", default="1,4,16,64")
    parser.add_argument("--requests-per-client", type=int, default=2)
    parser.add_argument("--images-per-request", default="4,16")
    parser.add_argument("--image", default="1008x1008", help="image size WxH")
    parser.add_argument("--parity", type=int, default=0, help="also compare N images batched against alone")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)

    from sam3_core.loading import load_service
    from sam3_core.settings import Settings

    width, _, height = args.image.partition("x")
    size = (int(width), int(height or width))
    service = load_service(Settings.from_env(), model=str(checkpoint(args.size)))
    report = {
        "machine": machine(),
        "size": args.size,
        "image": list(size),
        "device": str(service.engine.device),
        "dtype": str(service.engine.dtype).removeprefix("torch."),
        "max_batch_images": service.engine.batches.max_images,
        "max_active": service.settings.max_active,
        "rows": measure(
            service,
            tuple(int(n) for n in args.clients.split(",") if n),
            args.requests_per_client,
            tuple(int(n) for n in args.images_per_request.split(",") if n),
            size,
        ),
    }
    if args.parity:
        report["batch_parity"] = batch_parity(service, size, args.parity)
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
