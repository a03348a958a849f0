#!/usr/bin/env python3
"""Peak resident memory of one large request: a 4032x3024 JPEG whose answer holds 100 objects.

    sam3-memory-probe CHECKPOINT_DIR [--objects 100]

Loads the handler, sends one warm-up request on a small image, then the large request, and prints JSON:
``rss_before_mb`` (after warm-up), ``peak_delta_mb`` (peak RSS during the request minus that, from ``VmHWM``
reset just before the request), objects returned.
The tiny checkpoint gives 20 queries per text prompt, so 5 prompts at threshold 0 yield 100 objects.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import time

from sam3_core.cli.support import memory_mb, reset_peak_memory, synthetic_image


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--objects", type=int, default=100)
    args = parser.parse_args()
    from sam3_core.loading import load_service
    from sam3_core.settings import Settings

    handler = load_service(Settings.from_env(), model=args.checkpoint)
    small = io.BytesIO()
    synthetic_image(64, 64, seed=0).save(small, "PNG")
    handler({"inputs": {"image": base64.b64encode(small.getvalue()).decode(), "text_prompts": ["warm up"]}})

    large = io.BytesIO()
    synthetic_image(4032, 3024, seed=0).save(large, "JPEG", quality=90)
    payload = {
        "inputs": {
            "image": base64.b64encode(large.getvalue()).decode(),
            "text_prompts": ["cat", "dog", "person", "car", "tree"],
            "confidence_threshold": 0.0,
            "max_objects": args.objects,
            "vectorize": True,
        }
    }
    del large
    reset_peak_memory()
    before = memory_mb("VmRSS")
    started = time.perf_counter()
    response = handler(payload)
    seconds = time.perf_counter() - started
    result = {
        "objects": response["num_objects"],
        "image": response["original_image_size"],
        "rss_before_mb": round(before, 1),
        "peak_delta_mb": round(memory_mb("VmHWM") - before, 1),
        "rss_after_mb": round(memory_mb("VmRSS"), 1),
        "seconds": round(seconds, 2),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
