#!/usr/bin/env python3
"""Resident memory of large requests: one request's peak, or idle memory after rounds of concurrent ones.

    python -m scripts.memory_probe CHECKPOINT_DIR [--objects 100] [--picture photo|blank-jpeg|zero-png]
        [--size 4032x3024]
    python -m scripts.memory_probe CHECKPOINT_DIR --threads 4 --rounds 3 [--objects 20]

The request: a 4032x3024 JPEG (one request: ``--picture`` of ``--size``, see ``picture``), 5 text prompts,
threshold 0, polygons on, at most ``--objects`` objects (the tiny checkpoint gives 20 queries per text prompt, so
up to 100). Loads the service, sends one warm-up request on a small image, then prints JSON:
- one request: ``rss_before_mb`` (after warm-up), ``peak_delta_mb`` (peak RSS during the request minus that,
  from ``VmHWM`` reset just before the request), objects returned, its CPU time and page faults (``Usage``);
- ``--threads N --rounds R``: R rounds of N requests at once from N threads (kept across rounds, as a server's
  worker threads are), each on its own crop of the picture (a new size), each answer serialised to JSON;
  ``rss_before_mb`` (after warm-up), ``peak_delta_mb`` (peak RSS over all rounds minus that), ``idle_rss_mb``: RSS
  after each round with nothing in flight, and each round's CPU time and page faults (``Usage``; the first large
  round is the allocator's warm-up). Run it with ``SAM3_FEATURE_CACHE_MB=0`` (every request pays the backbone,
  and no cache fills up): what stays is what the request path keeps.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import resource
import time
from concurrent.futures import ThreadPoolExecutor

from PIL import Image

from sam3_core.testing.support import memory_mb, reset_peak_memory, synthetic_image


class Usage:
    """CPU seconds (all threads; in the kernel) and minor page faults (fresh memory touched for the first time:
    the kernel maps in and zeroes a page) since the last ``step``."""

    def __init__(self) -> None:
        self._last = resource.getrusage(resource.RUSAGE_SELF)

    def step(self) -> dict:
        now, last = resource.getrusage(resource.RUSAGE_SELF), self._last
        self._last = now
        return {
            "cpu_s": round(now.ru_utime + now.ru_stime - last.ru_utime - last.ru_stime, 2),
            "kernel_cpu_s": round(now.ru_stime - last.ru_stime, 2),
            "minor_faults": now.ru_minflt - last.ru_minflt,
        }


def one_request(service, payload: dict) -> dict:
    reset_peak_memory()
    before = memory_mb("VmRSS")
    usage = Usage()
    started = time.perf_counter()
    response = service(payload)
    seconds = time.perf_counter() - started
    return {
        "objects": response["num_objects"],
        "image": response["original_image_size"],
        "rss_before_mb": round(before, 1),
        "peak_delta_mb": round(memory_mb("VmHWM") - before, 1),
        "rss_after_mb": round(memory_mb("VmRSS"), 1),
        "seconds": round(seconds, 2),
        **usage.step(),
    }


def concurrent_rounds(service, payloads: list[dict], threads: int) -> dict:
    reset_peak_memory()
    before, idle, rounds = memory_mb("VmRSS"), [], []
    usage = Usage()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for start in range(0, len(payloads), threads):
            list(pool.map(lambda payload: len(json.dumps(service(payload))), payloads[start : start + threads]))
            idle.append(round(memory_mb("VmRSS"), 1))
            rounds.append(usage.step())
    peak = round(memory_mb("VmHWM") - before, 1)
    return {
        "threads": threads,
        "rss_before_mb": round(before, 1),
        "peak_delta_mb": peak,
        "idle_rss_mb": idle,
        "rounds": rounds,
    }


def encode(image: Image.Image, fmt: str = "JPEG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def picture(kind: str, width: int, height: int) -> bytes:
    """The encoded image of one request: ``photo`` (the synthetic picture with noise, JPEG quality 90),
    ``blank-jpeg`` (a JPEG's headers and the first bytes of its scan: libjpeg fills the rest, 633 bytes for
    7000x7000) or ``zero-png`` (a black PNG, 143 kB for 7000x7000)."""
    if kind == "photo":
        return encode(synthetic_image(width, height, seed=0), quality=90)
    if kind == "zero-png":
        return encode(Image.new("RGB", (width, height)), "PNG", optimize=True)
    full = encode(Image.new("RGB", (width, height), (128, 128, 128)), quality=50)
    scan = full.index(b"\xff\xda")  # start of scan, then its 2-byte header length
    return full[: scan + 2 + int.from_bytes(full[scan + 2 : scan + 4], "big") + 8] + b"\xff\xd9"


def large_payload(encoded: bytes, objects: int) -> dict:
    """The large request: 5 text prompts at threshold 0, polygons on, at most ``objects`` objects."""
    prompts = ["cat", "dog", "person", "car", "tree"]
    inputs = {"image": base64.b64encode(encoded).decode(), "text_prompts": prompts}
    inputs.update(confidence_threshold=0.0, max_objects=objects, vectorize=True)
    return {"inputs": inputs}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--objects", type=int, default=100)
    parser.add_argument("--threads", type=int, default=0, help="requests at once per round (0: one request)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--picture", choices=["photo", "blank-jpeg", "zero-png"], default="photo")
    parser.add_argument("--size", default="4032x3024", help="WxH of the one request's picture")
    args = parser.parse_args()
    width, height = (int(side) for side in args.size.lower().split("x"))
    from sam3_core.loading import load_service
    from sam3_core.settings import Settings

    service = load_service(Settings.from_env(), model=args.checkpoint)
    small = io.BytesIO()
    synthetic_image(64, 64, seed=0).save(small, "PNG")
    service({"inputs": {"image": base64.b64encode(small.getvalue()).decode(), "text_prompts": ["warm up"]}})

    if args.threads:
        scene = synthetic_image(4032, 3024)
        sizes = [(4032 - n, 3024 - n) for n in range(args.threads * args.rounds)]
        payloads = [large_payload(encode(scene.crop((0, 0, *size)), quality=90), args.objects) for size in sizes]
        del scene
        result = concurrent_rounds(service, payloads, args.threads)
    else:
        encoded = picture(args.picture, width, height)
        result = {"encoded_bytes": len(encoded), **one_request(service, large_payload(encoded, args.objects))}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
