#!/usr/bin/env python3
"""One prepared check of SAM3 serving on a GPU machine: parity, latency, throughput, video, compile.

    python -m scripts.gpu_check [--smoke] [--json OUT] [--budget-s 420]

Started from the repository root on a bare machine (no network; torch, transformers, pillow, numpy, opencv and
huggingface_hub installed), it builds the random checkpoints itself (``checkpoints/``), loads them with the real
loading code (``loading.load_service``) and runs, in this order, each phase on its own so that one failure or an
exhausted time budget leaves the others' results:

1. ``parity``: float32 vs bfloat16 on the tiny and the full-size checkpoint. Concepts: the reference
   ``Sam3Model`` forward on the same pixels and prompts, per query (200 per prompt): score differences, and mask
   IoU (logit > 0 at 288x288) of the 20 best fp32 queries. Visual prompts, through the service: score difference
   and IoU of the returned full-size masks.
2. ``latency``: the service end to end, base64 JPEG in, JSON text out, bf16 (on a GPU) on the full checkpoint:
   1, 5 and 20 text prompts at 1008x1008 and 12 MP, cold (caches emptied) and cached (same image and prompts),
   a click on a cached image, 12 MP with 100 objects (threshold 0); median and p90 of several runs, peak GPU
   memory per scenario. The plain transformers pipeline (``Sam3Processor`` -> ``Sam3Model`` ->
   ``post_process_instance_segmentation`` -> PIL PNG -> base64) on the same inputs, for the ratio.
   Also the largest prompt count with the default prompt batch (``SAM3_PROMPT_BATCH``) and with one batch.
3. ``throughput`` (``scripts.throughput``): 1, 4, 16 and 64 client threads sending distinct images, the engine
   batching waiting requests and running each image alone (today's serial engine), and 4 or 16 images in one
   request against as many single requests: images/s, p50 and p99 latency, peak GPU memory; and 3 images in
   one request against each alone (largest score difference, smallest mask IoU).
4. ``video``: concept tracking (two prompts, at most 5 objects) through a synthetic 30-frame 1280x720 clip: time
   per frame, peak GPU memory.
5. ``sessions``: a video session over the same kind of clip (frames sent as a list): start, then forward
   propagation of 1 and of 10 boxed objects (the tracker) and of two text prompts (detector and tracker, at most
   ``plan.video_objects``), then a click handing a text-found object to the tracker and a propagation both ways:
   frames per second of each propagation, peak GPU memory, and the GPU memory still held after the requests
   (a waiting session holds none but the service's caches).
6. ``compile``: the same service with ``SAM3_COMPILE=1`` (compile time, then the cold and click scenarios, and
   the largest score difference from the eager service on one request).

``--smoke`` runs every phase on the tiny checkpoint only, small images and few runs (CPU is fine): what the test
suite runs. Results print as they come, a summary table last, and go to ``--json`` (rewritten after each phase).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts.measuring import (
    checkpoint,
    gpu_peak_mb,
    jpeg_b64,
    log,
    machine,
    mask_iou,
    png_mask,
    reset_gpu_peak,
    synchronize,
    timed,
)

PROMPT_WORDS = ["cat", "dog", "person", "car", "tree", "red ball", "chair", "bottle", "bird", "cup"] * 2


@dataclass(frozen=True)
class Plan:
    """What one run measures: the checkpoints, image sizes (width, height) and how many timed runs."""

    sizes: tuple[str, ...]  # checkpoints, the first one is used for parity only when there are two
    small: tuple[int, int]
    large: tuple[int, int]
    prompt_counts: tuple[int, ...]
    runs_small: int
    runs_large: int
    clients: tuple[int, ...]
    requests_per_client: int
    images_per_request: tuple[int, ...]
    video_frames: int = 30
    video_size: tuple[int, int] = (1280, 720)
    video_objects: int = 5
    parity_images: int = 3  # images in one request compared with each alone (throughput phase)


FULL_PLAN = Plan(("tiny", "full"), (1008, 1008), (4000, 3000), (1, 5, 20), 10, 5, (1, 4, 16, 64), 3, (4, 16))
SMOKE_PLAN = Plan(("tiny",), (320, 240), (1600, 1200), (1, 2), 1, 1, (1, 3), 1, (2,), 2, (160, 120), 1, 2)


# ---- measuring ----------------------------------------------------------------------------------------------------


# ---- inputs -------------------------------------------------------------------------------------------------------


def load(size: str, device: str, dtype: str, compile_vit: bool = False):
    """The service as the endpoint loads it (``loading.load_service``), with its load time in seconds."""
    from sam3_core.loading import load_service
    from sam3_core.settings import Settings

    environ = {**os.environ, "SAM3_DEVICE": device, "SAM3_DTYPE": dtype, "SAM3_COMPILE": "1" if compile_vit else "0"}
    started = time.perf_counter()
    service = load_service(Settings.from_env(environ), model=str(checkpoint(size)))
    return service, time.perf_counter() - started


def release(*objects: Any) -> None:
    import gc

    import torch

    del objects
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def ask(service, **inputs: Any) -> dict:
    """One request end to end, the response serialised to JSON text as a server would."""
    response = service({"inputs": inputs})
    json.dumps(response)
    return response


def clear_caches(service) -> None:
    service.engine.feature_cache.clear()
    service.engine.text_cache.clear()


# ---- phases -------------------------------------------------------------------------------------------------------


def parity(plan: Plan, device: str) -> dict:
    """float32 vs bfloat16 on each checkpoint (see the module docstring)."""
    import numpy as np
    import torch
    from PIL import Image

    results = {}
    image_b64 = jpeg_b64(plan.small, seed=1)
    from sam3_core.media.image_io import decode_base64

    image = Image.open(io.BytesIO(decode_base64(image_b64))).convert("RGB")
    width, height = image.size
    box = [width * 0.2, height * 0.2, width * 0.7, height * 0.8]
    point = [width * 0.3, height * 0.4]
    prompts = PROMPT_WORDS[: min(3, plan.prompt_counts[-1])]
    for size in plan.sizes:
        outputs = {}
        for dtype in ("float32", "bfloat16"):
            service, _ = load(size, device, dtype)
            engine = service.engine
            with torch.inference_mode():
                inputs = engine.processor(images=[image] * len(prompts), text=prompts, return_tensors="pt")
                inputs = inputs.to(engine.device)
                inputs["pixel_values"] = inputs["pixel_values"].to(engine.dtype)
                found = engine.detector(**inputs)
                scores = (found.pred_logits.float().sigmoid() * found.presence_logits.float().sigmoid()).cpu()
                masks = (found.pred_masks.float() > 0).cpu()
            visual = [
                ask(service, image=image_b64, boxes=[box], box_labels=[1], confidence_threshold=0),
                ask(service, image=image_b64, points=[point], point_labels=[1], confidence_threshold=0),
            ]
            outputs[dtype] = (scores, masks, visual)
            release(service, engine, found)
        (scores32, masks32, visual32), (scores16, masks16, visual16) = outputs["float32"], outputs["bfloat16"]
        best = scores32.topk(min(20, scores32.shape[1]), dim=1).indices
        ious = [mask_iou(masks32[p, q].numpy(), masks16[p, q].numpy()) for p in range(len(prompts)) for q in best[p]]
        visual_ious, visual_diffs = [], []
        for answer32, answer16 in zip(visual32, visual16, strict=True):
            visual_diffs.append(abs(answer32["scores"][0] - answer16["scores"][0]))
            visual_ious.append(mask_iou(*(png_mask(answer["masks"][0]) for answer in (answer32, answer16))))
        results[size] = {
            "concept_queries": int(scores32.numel()),
            "concept_max_abs_score_diff": round(float((scores32 - scores16).abs().max()), 5),
            "concept_mean_abs_score_diff": round(float((scores32 - scores16).abs().mean()), 6),
            "concept_top20_mask_iou_min": round(min(ious), 4),
            "concept_top20_mask_iou_median": round(float(np.median(ious)), 4),
            "visual_max_abs_score_diff": round(max(visual_diffs), 5),
            "visual_mask_iou_min": round(min(visual_ious), 4),
        }
        log(f"parity {size}: {results[size]}")
    return results


def scenario(service, request: dict, runs: int, cold: bool) -> dict:
    """Time ``request`` (caches emptied before each run when ``cold``), then one more run for its stage times."""
    empty = (lambda: clear_caches(service)) if cold else (lambda: None)
    figures = timed(lambda: ask(service, **request), runs, before=empty)
    empty()
    figures["stages_ms"] = ask(service, **request, return_timings=True)["timings"]
    return figures


def latency(plan: Plan, device: str, dtype: str, size: str, compile_vit: bool = False) -> dict:
    """The service's scenarios (and, without compile, the plain pipeline's) on one checkpoint."""
    service, load_s = load(size, device, dtype, compile_vit)
    results: dict[str, Any] = {"checkpoint": size, "dtype": dtype, "load_s": round(load_s, 1)}
    try:
        check = ask(service, image=jpeg_b64(plan.small, seed=4), text_prompts=["cat"], confidence_threshold=0.0)
        results["check_scores"] = check["scores"]
        for name, image_size, runs in (("1008", plan.small, plan.runs_small), ("12mp", plan.large, plan.runs_large)):
            image_b64 = jpeg_b64(image_size, seed=2)
            for count in plan.prompt_counts if not compile_vit else plan.prompt_counts[:1]:
                request = {"image": image_b64, "text_prompts": PROMPT_WORDS[:count]}
                for state in ("cold", "cached"):
                    key = f"text{count}_{name}_{state}"
                    results[key] = scenario(service, request, runs, cold=state == "cold")
                    log(f"{key}: {results[key]}")
            width, height = image_size
            # A different point each time, as a user clicking around: only the image is cached.
            points = [[(37 + 97 * k) % width, (53 + 61 * k) % height] for k in range(runs * 2 + 2)]
            ask(service, image=image_b64, text_prompts=["warm"])
            clicks = iter(points)
            key = f"click_{name}_cached"
            results[key] = timed(
                lambda b64=image_b64, clicks=clicks: ask(service, image=b64, points=[next(clicks)], point_labels=[1]),
                runs * 2,
            )
            results[key]["stages_ms"] = ask(
                service, image=image_b64, points=[points[-1]], point_labels=[1], return_timings=True
            )["timings"]
            log(f"{key}: {results[key]}")
        if not compile_vit:
            # Text prompts per detector batch (SAM3_PROMPT_BATCH): the default against one batch for all 20.
            request = {"image": jpeg_b64(plan.small, seed=2), "text_prompts": PROMPT_WORDS[: plan.prompt_counts[-1]]}
            default_batch = service.engine.prompt_batch
            for batch in (default_batch, plan.prompt_counts[-1]):
                service.engine.prompt_batch = batch
                key = f"text{plan.prompt_counts[-1]}_1008_cached_batch{batch}"
                results[key] = scenario(service, request, plan.runs_small, cold=False)
                log(f"{key}: {results[key]}")
            service.engine.prompt_batch = default_batch
            many = {"image": jpeg_b64(plan.large, seed=3), "text_prompts": ["object"], "confidence_threshold": 0.0}
            results["objects100_12mp_cold"] = scenario(service, many, plan.runs_large, cold=True)
            results["objects100_12mp_cold"]["objects"] = ask(service, **many)["num_objects"]
            log(f"objects100_12mp_cold: {results['objects100_12mp_cold']}")
    finally:
        release(service)
    if not compile_vit:
        results["plain_pipeline"] = plain_pipeline(plan, device, dtype, size)
    return results


def plain_pipeline(plan: Plan, device: str, dtype: str, size: str) -> dict:
    """The straightforward transformers pipeline, per prompt, same inputs: the baseline for the ratio."""
    import torch
    from PIL import Image
    from transformers import Sam3Model, Sam3Processor

    from sam3_core.media.image_io import decode_base64

    path = checkpoint(size)
    torch_dtype = getattr(torch, dtype)
    processor = Sam3Processor.from_pretrained(path)
    model = Sam3Model.from_pretrained(path, dtype=torch_dtype).to(device).eval()
    results = {}
    try:
        for name, image_size, runs in (("1008", plan.small, plan.runs_small), ("12mp", plan.large, plan.runs_large)):
            image_b64 = jpeg_b64(image_size, seed=2)
            for count in plan.prompt_counts[:2]:
                prompts = PROMPT_WORDS[:count]

                def run(image_b64=image_b64, prompts=prompts):
                    image = Image.open(io.BytesIO(decode_base64(image_b64))).convert("RGB")
                    masks = []
                    for prompt in prompts:
                        with torch.inference_mode():
                            inputs = processor(images=image, text=prompt, return_tensors="pt").to(device)
                            inputs["pixel_values"] = inputs["pixel_values"].to(torch_dtype)
                            found = processor.post_process_instance_segmentation(
                                model(**inputs), threshold=0.5, target_sizes=[image.size[::-1]]
                            )[0]
                        for mask in found["masks"]:
                            buffer = io.BytesIO()
                            Image.fromarray((mask.cpu().numpy() * 255).astype("uint8")).save(buffer, "PNG")
                            masks.append(base64.b64encode(buffer.getvalue()).decode())
                    json.dumps({"masks": masks})

                results[f"text{count}_{name}_cold"] = timed(run, runs)
                log(f"plain pipeline {name} x{count}: {results[f'text{count}_{name}_cold']}")
    finally:
        release(model, processor)
    return results


def throughput(plan: Plan, device: str, dtype: str, size: str) -> dict:
    """``scripts.throughput``: 1-64 clients with batching off and on, N images in one request against N single
    requests (distinct ``plan.small`` JPEGs, one text prompt each)."""
    from scripts.throughput import batch_parity, measure

    service, _ = load(size, device, dtype)
    try:
        rows = measure(service, plan.clients, plan.requests_per_client, plan.images_per_request, plan.small)
        return {**rows, "batch_parity": batch_parity(service, plan.small, plan.parity_images)}
    finally:
        release(service)


def video(plan: Plan, device: str, dtype: str, size: str) -> dict:
    """Concept tracking through a synthetic clip (``plan.video_frames`` frames of ``plan.video_size``, shapes
    moving over a picture): time per frame and peak GPU memory, after one untimed frame that assembles the video
    tracker. Thresholds 0.2: the random weights score everything about 0.25, so objects are tracked (at most
    ``plan.video_objects``)."""
    import tempfile

    from scripts.benchmark import synthetic_clip

    service, _ = load(size, device, dtype)
    try:
        with tempfile.TemporaryDirectory() as folder:
            clip = Path(folder) / "clip.mp4"
            synthetic_clip(clip, plan.video_frames, *plan.video_size)
            data = base64.b64encode(clip.read_bytes()).decode()
        request = {"video": data, "text_prompts": ["cat", "person"], "max_objects": plan.video_objects}
        request |= {"confidence_threshold": 0.2, "new_object_threshold": 0.2}
        ask(service, **request, max_frames=1)
        reset_gpu_peak()
        started = time.perf_counter()
        response = ask(service, **request)
        synchronize()
        seconds = time.perf_counter() - started
        frames = response["video"]["num_frames"]
        result = {
            "frames": frames,
            "frame_size": list(plan.video_size),
            "objects": response["num_objects"],
            "per_frame_ms": round(seconds * 1000 / max(1, frames), 1),
            "total_s": round(seconds, 2),
            "gpu_peak_mb": gpu_peak_mb(),
            "response_mb": round(len(json.dumps(response)) / 1e6, 3),
        }
        log(f"video: {result}")
        return result
    finally:
        release(service)


def sessions(plan: Plan, device: str, dtype: str, size: str) -> dict:
    """Video sessions (phase 5 in the module docstring). The boxed objects are tracked whatever their masks; the
    random weights leave many empty, so the answers list fewer (``objects_listed``)."""
    service, _ = load(size, device, dtype)
    width, height = plan.video_size
    frames = [jpeg_b64(plan.video_size, seed=index) for index in range(plan.video_frames)]
    try:
        started = ask(service, type="start_session", video=frames, confidence_threshold=0.0)
        session_id = started["session_id"]
        on = {"type": "add_prompt", "session_id": session_id}
        forward = {"type": "propagate_in_video", "session_id": session_id, "propagation_direction": "forward"}
        ask(service, **on, frame_index=0, boxes=[[0, 0, width / 2, height / 2]])
        ask(service, **forward, max_frame_num_to_track=1)  # untimed: the video model is assembled on first use
        result: dict[str, Any] = {"frames": plan.video_frames, "frame_size": list(plan.video_size)}

        def propagation(name: str, **fields: Any) -> None:
            reset_gpu_peak()
            began = time.perf_counter()
            answer = ask(service, **{**forward, **fields})
            synchronize()
            seconds = time.perf_counter() - began
            frames_done = answer["video"]["num_frames"]
            result[name] = {
                "frames_per_s": round(frames_done / seconds, 2),
                "objects_listed": answer["num_objects"],
                "gpu_peak_mb": gpu_peak_mb(),
            }
            log(f"sessions {name}: {result[name]}")

        for count in (1, 10):
            ask(service, type="reset_session", session_id=session_id)
            side = width / count
            boxes = [[index * side, 0, (index + 1) * side, height] for index in range(count)]
            ask(service, **on, frame_index=0, boxes=boxes)
            propagation(f"boxes{count}_forward")
            result[f"boxes{count}_forward"]["objects_prompted"] = count
        text = {"text_prompts": ["cat", "person"], "max_objects": plan.video_objects, "confidence_threshold": 0.2}
        found = ask(service, **on, frame_index=0, **text)["objects"]
        propagation("text_forward")
        if found:
            box = found[0]["box"]
            point = [(box[0] + box[2]) / 2 / width, (box[1] + box[3]) / 2 / height]
            ask(service, **on, frame_index=0, points=[point], point_labels=[1], obj_id=found[0]["object_id"])
            propagation("text_and_click_both", propagation_direction="both")
        ask(service, type="close_session", session_id=session_id)
        release()
        result["gpu_held_after_close_mb"] = gpu_allocated_mb()
        return result
    finally:
        release(service)


def gpu_allocated_mb() -> float | None:
    import torch

    return round(torch.cuda.memory_allocated() / 2**20, 1) if torch.cuda.is_available() else None


# ---- the run ------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny checkpoint, small images, few runs (CPU is fine)")
    parser.add_argument("--json", help="write the results here (after each phase)")
    parser.add_argument("--budget-s", type=float, default=420.0, help="skip phases that start after this long")
    parser.add_argument("--skip", default="", help="comma-separated phases to skip")
    args = parser.parse_args(argv)

    import torch

    plan = SMOKE_PLAN if args.smoke else FULL_PLAN
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = "bfloat16" if device == "cuda" else "float32"
    size = plan.sizes[-1]
    report: dict[str, Any] = {"machine": machine(), "smoke": args.smoke, "device": device, "dtype": dtype}
    log(f"machine: {report['machine']}")
    phases: list[tuple[str, Callable[[], dict]]] = [
        ("parity", lambda: parity(plan, device)),
        ("latency", lambda: latency(plan, device, dtype, size)),
        ("throughput", lambda: throughput(plan, device, dtype, size)),
        ("video", lambda: video(plan, device, dtype, size)),
        ("sessions", lambda: sessions(plan, device, dtype, size)),
        ("compile", lambda: latency(plan, device, dtype, size, compile_vit=True)),
    ]
    started = time.perf_counter()
    for name, phase in phases:
        if name in args.skip.split(","):
            report[name] = {"skipped": "--skip"}
        elif time.perf_counter() - started > args.budget_s:
            report[name] = {"skipped": f"time budget of {args.budget_s:.0f} s spent"}
        else:
            phase_started = time.perf_counter()
            try:
                report[name] = phase()
            except Exception as error:  # one phase's failure must not lose the others' results
                report[name] = {"error": f"{type(error).__name__}: {error}"[:500]}
                traceback.print_exc()
            report[name]["phase_s"] = round(time.perf_counter() - phase_started, 1)
        log(f"phase {name} done")
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2))
    eager, compiled = (report[name].get("check_scores") for name in ("latency", "compile"))
    if eager and compiled:
        report["compile"]["max_abs_score_diff_vs_eager"] = max(abs(a - b) for a, b in zip(eager, compiled, strict=True))
    report["total_s"] = round(time.perf_counter() - started, 1)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    print_summary(report)
    failed = [name for name, _ in phases if "error" in report[name]]
    return 1 if failed else 0


def print_summary(report: dict) -> None:
    print(f"\n== gpu_check summary ({report['machine']}, {report['dtype']}, total {report['total_s']} s) ==")
    for name in ("parity", "latency", "throughput", "video", "sessions", "compile"):
        section = report[name]
        if "error" in section or "skipped" in section:
            print(f"{name}: {section.get('error') or section.get('skipped')}")
            continue
        for key, value in section.items():
            if isinstance(value, dict) and "median_ms" in value:
                print(
                    f"{name:12s} {key:26s} median {value['median_ms']:9.1f} ms  p90 {value['p90_ms']:9.1f} ms  "
                    f"GPU peak {value['gpu_peak_mb']} MB"
                )
            elif isinstance(value, dict):
                for inner, figures in value.items():
                    print(f"{name:12s} {key}.{inner}: {figures}")
            elif key != "check_scores":
                print(f"{name:12s} {key}: {value}")


if __name__ == "__main__":
    sys.exit(main())
