#!/usr/bin/env python3
"""Benchmark the handler against the straightforward transformers pipeline, side by side, in one run.

    python -m scripts.benchmark e2e --size tiny|full [--prompts 1,5,20] [--images 1008x1008,4032x3024] [--json F]
    python -m scripts.benchmark postprocess [--objects 50,100] [--masks blobs,noise] [--image 4032x3024] [--json F]
    python -m scripts.benchmark memory --size full [--json F]
    python -m scripts.benchmark automatic --size tiny|full [--grids 8,16] [--crop-layers 1] [--json F]
    python -m scripts.benchmark video --size tiny|full [--frames 300] [--video-size 1920x1080] [--prompts 1]
        [--max-objects 5]
    python -m scripts.benchmark playback --frames 48 --video-size 640x360
    python -m scripts.benchmark png [--image 4032x3024] [--repeat 5] [--json F]

Every contender runs in its own child process (so peak RSS is its own), on the same image and prompts:
- e2e (a) baseline: per prompt, Sam3Processor -> full Sam3Model forward -> post_process_instance_segmentation at
  the original size -> PIL PNG per mask; (b) the handler, caches empty; (c) the handler with the image cached,
  one new prompt; (d) the handler with the image cached, all prompts again.
- postprocess: K objects (synthetic low-resolution maps, 288x288, as the detector emits them: blobs, or noise as
  random weights give) to base64 PNGs at full size: transformers post_process_instance_segmentation + PIL (blobs
  only) vs this handler's response building, with its PNG writer chosen per mask, always from the scanline changes
  (the writer before the choice) and always zlib over the pixels.
- memory: resident memory after loading detector + tracker sharing one ViT (the engine) vs the two models loaded
  separately, float32.
- automatic: on one cached 640x480 image, one text prompt vs segment everything at each grid size (and, with
  ``--crop-layers``, with that many crop layers); and a click on another cached image sent while
  segment-everything runs, against the same click alone.
- video: a synthetic clip (``--frames`` frames of ``--video-size``, shapes moving over a picture, mp4v) tracked
  through the service with ``--prompts`` text prompts (at most ``--max-objects`` objects): resident memory of the
  service, after the first video request assembles the video tracker on its weights (against loading
  ``Sam3VideoModel`` beside it), peak RSS during the request and every 25 frames, and the time per frame.
- playback (no model, in this process): what the web UI's Video tab sends the page for a clip, JPEG frames for its
  canvas player, against the clip encoded as a VP8 WebM, an animated WebP and a GIF: encoding time, base64 size.
- png (no model, in this process): one mask's PNG at ``--image`` size, for a disc, a random-weight model's mask
  (noise upsampled from 288x288) and an empty mask: OpenCV's writer on the full-size mask (no row filter, RLE
  strategy, level 1: the writer before ``masks.png_deflate``) against ``png_of_changes`` on the mask's scanline
  changes; and the time to find those changes on the CPU, from the full-size mask and from the 288x288 map
  (``MaskCanvas.changes``, bilinear resize included). Median of ``--repeat`` runs, bytes of each file.
Checkpoints: ``--size tiny`` builds the tiny random one; ``--size full`` the default-size random one (real compute,
~3.4 GB, built once into checkpoints/). Results print as a table and go to ``--json``.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import platform
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

from sam3_core.testing.support import memory_mb, synthetic_image
from scripts.measuring import checkpoint, gpu_peak_mb, synchronize

PROMPT_WORDS = ["cat", "dog", "person", "car", "tree", "red ball", "chair", "bottle", "bird", "cup"] * 4


# ---- children ----------------------------------------------------------------------------------------------------


def child_e2e(args) -> dict:
    import torch

    from sam3_core.model.checkpoint import select_device
    from sam3_core.settings import Settings

    device, dtype = select_device(Settings.from_env().model)
    width, height = args.image
    image = synthetic_image(width, height, seed=0)
    prompts = PROMPT_WORDS[: args.prompts]
    path = checkpoint(args.size)
    result = {"contender": args.contender, "device": str(device), "dtype": str(dtype).removeprefix("torch.")}
    if args.contender == "baseline":
        from transformers import Sam3Model, Sam3Processor

        processor = Sam3Processor.from_pretrained(path)
        model = Sam3Model.from_pretrained(path, dtype=dtype).to(device).eval()

        def run(prompt_list):
            pngs = []
            for prompt in prompt_list:
                with torch.inference_mode():
                    inputs = processor(images=image, text=prompt, return_tensors="pt").to(device)
                    inputs["pixel_values"] = inputs["pixel_values"].to(dtype)
                    outputs = model(**inputs)
                    found = processor.post_process_instance_segmentation(
                        outputs, threshold=args.threshold, target_sizes=[(height, width)]
                    )[0]
                from PIL import Image

                for mask in found["masks"]:
                    buffer = io.BytesIO()
                    Image.fromarray((mask.cpu().numpy() * 255).astype("uint8")).save(buffer, "PNG")
                    pngs.append(base64.b64encode(buffer.getvalue()).decode())
            synchronize()
            return len(pngs)

        run(["warm up"])  # same warm-up courtesy the handler gets in __init__
        before = memory_mb()
        started = time.perf_counter()
        result["objects"] = run(prompts)
        result["total_ms"] = (time.perf_counter() - started) * 1000
    else:
        from sam3_core.loading import load_service
        from sam3_core.settings import Settings

        handler = load_service(Settings.from_env(), model=str(path))
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        image_b64 = base64.b64encode(buffer.getvalue()).decode()

        def request(prompt_list):
            payload = {"image": image_b64, "text_prompts": prompt_list, "confidence_threshold": args.threshold}
            started = time.perf_counter()
            response = handler({"inputs": {**payload, "return_timings": True}})
            synchronize()
            return (time.perf_counter() - started) * 1000, response

        before = memory_mb()
        for _ in range(args.repeat if device.type == "cuda" else 1):
            handler.engine.feature_cache.clear()
            handler.engine.text_cache.clear()
            cold_ms, response = request(prompts)
            result.setdefault("cold_runs_ms", []).append(cold_ms)
        result["total_ms"] = sorted(result["cold_runs_ms"])[len(result["cold_runs_ms"]) // 2]
        result["objects"] = response["num_objects"]
        result["stages_ms"] = response["timings"]
        new_prompt_ms, response = request(["a new prompt"])
        result["cached_image_new_prompt_ms"] = new_prompt_ms
        result["cached_stages_ms"] = response["timings"]
        result["cached_image_same_prompts_ms"] = request(prompts)[0]
        handler.engine.feature_cache.clear()
        handler.engine.text_cache.clear()
        result["cold_one_prompt_ms"] = request(prompts[:1])[0]
    result["peak_rss_delta_mb"] = memory_mb("VmHWM") - before
    result["gpu_peak_mb"] = gpu_peak_mb()
    return result


def child_automatic(args) -> dict:
    import threading

    from sam3_core.loading import load_service
    from sam3_core.settings import Settings

    handler = load_service(Settings.from_env(), model=str(checkpoint(args.size)))

    def b64(image) -> str:
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        return base64.b64encode(buffer.getvalue()).decode()

    image_b64 = b64(synthetic_image(640, 480, seed=0))
    click = {"image": b64(synthetic_image(320, 240, seed=1)), "points": [[100, 80]], "point_labels": [1]}

    def timed(payload: dict) -> tuple[float, dict]:
        started = time.perf_counter()
        response = handler({"inputs": payload})
        synchronize()
        return (time.perf_counter() - started) * 1000, response

    timed({"image": image_b64, "text_prompts": ["warm"]})  # both images cached from here on
    timed(click)
    # A first chunk of 64 points sets up that batch shape once (about 0.4 s on an H200): not part of the figures.
    timed({"image": image_b64, "automatic": {"points_per_side": 8}})
    result = {
        "text_prompt_ms": timed({"image": image_b64, "text_prompts": ["cat"]})[0],
        "click_alone_ms": timed(click)[0],
    }
    for grid in args.grids:
        payload = {"image": image_b64, "automatic": {"points_per_side": grid}, "confidence_threshold": 0.5}
        clicked: list[float] = []
        sender = threading.Timer(0.1, lambda done=clicked: done.append(timed(click)[0]))
        sender.start()
        total_ms, response = timed(payload)
        sender.join()
        result[f"grid{grid}"] = {"ms": total_ms, "objects": response["num_objects"], "click_meanwhile_ms": clicked[0]}
        if args.crop_layers:
            options = {"points_per_side": grid, "crop_n_layers": args.crop_layers}
            total_ms, response = timed({"image": image_b64, "automatic": options, "confidence_threshold": 0.5})
            result[f"grid{grid}"]["with_crops"] = {"ms": total_ms, "objects": response["num_objects"]}
    return result


def synthetic_outputs(count: int, queries: int = 200, seed: int = 0, kind: str = "blobs"):
    """Detector-like outputs: ``count`` queries above 0.5 with masks of ``kind``, the rest below. ``blobs``: one
    disc each (what a real object is like); ``noise``: Gaussian noise at 288x288, what random weights give (tens of
    thousands of runs per mask at full size, like foliage or hair)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    logits = torch.full((1, queries), -4.0)
    logits[0, :count] = 4.0
    masks = torch.full((1, queries, 288, 288), -8.0)
    yy, xx = torch.meshgrid(torch.arange(288.0), torch.arange(288.0), indexing="ij")
    for index in range(queries):
        if kind == "noise":
            masks[0, index] = torch.randn(288, 288, generator=generator)
            continue
        cy, cx = torch.randint(20, 268, (2,), generator=generator).tolist()
        radius = float(torch.randint(6, 40, (1,), generator=generator))
        masks[0, index] = 6.0 * (1 - ((yy - cy) ** 2 + (xx - cx) ** 2) / radius**2)
    boxes = torch.rand(1, queries, 4, generator=generator).sort(dim=-1).values
    return logits, masks, boxes


def child_postprocess(args) -> dict:
    import torch
    from PIL import Image
    from transformers import Sam3ImageProcessor
    from transformers.models.sam3.modeling_sam3 import Sam3ImageSegmentationOutput

    import sam3_core.masks.encoding
    from sam3_core.api.request import SegmentRequest
    from sam3_core.api.response import build_response
    from sam3_core.model.engine import ObjectPrediction, Prediction
    from sam3_core.model.work import Picture

    width, height = args.image
    logits, masks, boxes = synthetic_outputs(args.objects, kind=args.masks)
    result = {"contender": args.contender, "objects": args.objects, "masks": args.masks}
    # The PNG writer: chosen per mask (the handler), or always from the changes / always zlib over the pixels.
    sam3_core.masks.encoding.DENSE_PIXELS = {"changes-writer": 0, "zlib-writer": float("inf")}.get(
        args.contender, sam3_core.masks.encoding.DENSE_PIXELS
    )
    before = memory_mb()
    started = time.perf_counter()
    if args.contender == "baseline":
        outputs = Sam3ImageSegmentationOutput(
            pred_logits=logits, pred_masks=masks, pred_boxes=boxes, presence_logits=torch.full((1, 1), 10.0)
        )
        found = Sam3ImageProcessor().post_process_instance_segmentation(
            outputs, threshold=0.5, target_sizes=[(height, width)]
        )[0]
        pngs = []
        for mask in found["masks"]:
            buffer = io.BytesIO()
            Image.fromarray((mask.numpy() * 255).astype("uint8")).save(buffer, "PNG")
            pngs.append(base64.b64encode(buffer.getvalue()).decode())
        kept = len(pngs)
    else:
        # The same selection the engine makes (score > threshold), then the handler's response building.
        scores = (logits.sigmoid() * torch.tensor(10.0).sigmoid())[0]
        keep = torch.nonzero(scores > 0.5).flatten()
        probabilities = masks[0, keep].sigmoid()
        objects = [
            ObjectPrediction("cat", float(scores[q]), probabilities[i], 0.5, tuple(boxes[0, q].tolist()))
            for i, q in enumerate(keep.tolist())
        ]
        request = SegmentRequest(image=Picture.of(Image.new("RGB", (width, height))), text_prompts=("cat",))
        kept = build_response(request, Prediction(objects))["num_objects"]
    result["total_ms"] = (time.perf_counter() - started) * 1000
    result["kept"] = kept
    result["peak_rss_delta_mb"] = memory_mb("VmHWM") - before
    return result


def png_writers(width: int, height: int, repeat: int) -> list[dict]:
    """The ``png`` mode's rows: per mask kind, each contender's median seconds and file size."""
    import cv2
    import numpy as np
    import torch

    from sam3_core.masks.png_deflate import png_of_changes
    from sam3_core.masks.postprocess import MaskCanvas
    from sam3_core.masks.scanlines import changes_of_mask, mask_of_changes

    previous = [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE, cv2.IMWRITE_PNG_STRATEGY]
    previous += [cv2.IMWRITE_PNG_STRATEGY_RLE, cv2.IMWRITE_PNG_COMPRESSION, 1]
    yy, xx = torch.meshgrid(torch.arange(288.0), torch.arange(288.0), indexing="ij")
    maps = {
        "disc": 6.0 * (1 - ((yy - 140) ** 2 + (xx - 150) ** 2) / 60.0**2),
        "random-weight noise": torch.randn(288, 288, generator=torch.Generator().manual_seed(0)),
        "empty": torch.full((288, 288), -8.0),
    }

    def median_seconds(call) -> tuple[float, object]:
        times, result = [], None
        for _ in range(repeat):
            started = time.perf_counter()
            result = call()
            times.append(time.perf_counter() - started)
        return sorted(times)[len(times) // 2], result

    rows, canvas = [], MaskCanvas(height, width)
    for kind, low_res in maps.items():
        from_map, changes = median_seconds(partial(canvas.changes, low_res, 0.0))
        mask = mask_of_changes(changes, height, width)
        from_mask, _ = median_seconds(partial(changes_of_mask, mask))
        opencv, (_, opencv_png) = median_seconds(partial(cv2.imencode, ".png", mask, previous))
        ours, our_png = median_seconds(partial(png_of_changes, changes, height, width))
        decoded = cv2.imdecode(np.frombuffer(our_png, np.uint8), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(decoded, mask), "the PNG must hold the mask"
        rows.append({
            "mask": kind, "changes": int(changes.size), "opencv_s": opencv, "opencv_bytes": int(opencv_png.size),
            "changes_writer_s": ours, "changes_writer_bytes": len(our_png),
            "changes_from_mask_s": from_mask, "changes_from_map_s": from_map,
        })  # fmt: skip
    return rows


def child_memory(args) -> dict:
    import gc

    import torch

    path = checkpoint(args.size)
    before = memory_mb()
    if args.contender == "separate":
        from transformers import Sam3Model, Sam3TrackerModel

        models = [Sam3Model.from_pretrained(path, dtype=torch.float32), Sam3TrackerModel.from_pretrained(path)]
    else:
        from sam3_core.model.engine import Sam3Engine

        models = [Sam3Engine.from_directory(path, torch.device("cpu"), torch.float32)]
    gc.collect()
    params = {id(p): p for m in models for module in _modules(m) for p in module.parameters()}
    # Weights may still be lazily mapped from the safetensors file: read every one (as inference does) so the
    # resident figure is the steady state of a serving process.
    checksum = sum(float(p.detach().float().abs().sum()) for p in params.values())
    return {
        "checksum": checksum,
        "contender": args.contender,
        "resident_mb": memory_mb() - before,
        "peak_rss_delta_mb": memory_mb("VmHWM") - before,
        "unique_parameters_m": sum(p.numel() for p in params.values()) / 1e6,
    }


def synthetic_clip(path: Path, frames: int, width: int, height: int) -> None:
    """An MPEG-4 (mp4v) clip of ``frames`` frames of ``width`` x ``height``: a square and a disc moving over a
    picture."""
    import cv2
    import numpy as np

    background = cv2.cvtColor(np.asarray(synthetic_image(width, height, seed=0)), cv2.COLOR_RGB2BGR)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (width, height))
    side = max(8, height // 6)
    for index in range(frames):
        frame = background.copy()
        x = (index * 7) % max(1, width - side)
        frame[height // 4 : height // 4 + side, x : x + side] = (30, 30, 220)
        cv2.circle(frame, (width - 1 - x, 3 * height // 4), side // 2, (220, 60, 30), -1)
        writer.write(frame)
    writer.release()


def playback_encodings(frames: int, width: int, height: int) -> list[dict]:
    """The Video tab's playback choice against encoded videos, one synthetic clip: its ``frames`` frames of
    ``width`` x ``height``, at the player's display size (``ui_video.display_size``), as the page receives them
    (JPEG data URLs, ``ui_video.frame_jpeg``: the choice) and as a VP8 WebM (OpenCV), an animated WebP and a GIF
    (Pillow), each with its encoding time and base64 size. No model runs; overlays are left out of all four (the
    player draws them; an encoded video would carry them too)."""
    import tempfile

    import cv2
    from PIL import Image

    from sam3_core.ui.video import DISPLAY_MAX_SIDE, display_size, frame_jpeg

    with tempfile.TemporaryDirectory() as folder:
        clip = Path(folder) / "clip.mp4"
        synthetic_clip(clip, frames, width, height)
        capture = cv2.VideoCapture(str(clip))
        pixels = []
        while len(pixels) < frames:
            ok, bgr = capture.read()
            if not ok:
                break
            pixels.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        capture.release()
        width, height = display_size((width, height), DISPLAY_MAX_SIDE)
        pixels = [cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA) for frame in pixels]

        def jpeg_frames() -> int:
            return sum(len(frame_jpeg(frame, (width, height))) for frame in pixels)

        def webm() -> int:
            path = Path(folder) / "clip.webm"
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"VP80"), 30.0, (width, height))
            for frame in pixels:
                writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            writer.release()
            return 4 * -(-path.stat().st_size // 3)  # its base64 length

        def pillow(fmt: str) -> int:
            buffer = io.BytesIO()
            images = [Image.fromarray(frame) for frame in pixels]
            images[0].save(buffer, fmt, save_all=True, append_images=images[1:], duration=33, loop=0)
            return 4 * -(-buffer.tell() // 3)

        rows = []
        contenders = [("JPEG frames (chosen)", jpeg_frames), ("VP8 WebM", webm)]
        contenders += [("animated WebP", lambda: pillow("WEBP")), ("GIF", lambda: pillow("GIF"))]
        for name, encode in contenders:
            started = time.perf_counter()
            size = encode()
            rows.append({"contender": name, "frames": len(pixels), "seconds": round(time.perf_counter() - started, 2),
                         "base64_bytes": size})  # fmt: skip
    return rows


def child_video(args) -> dict:
    import tempfile

    import torch

    from sam3_core.testing.support import reset_peak_memory

    path = checkpoint(args.size)
    if args.contender == "separate":
        from transformers import Sam3VideoModel

        from sam3_core.model.engine import Sam3Engine

        before = memory_mb()
        engine = Sam3Engine.from_directory(path, torch.device("cpu"), torch.float32)
        loaded = memory_mb()
        video = Sam3VideoModel.from_pretrained(path, dtype=torch.float32)
        sum(float(p.detach().abs().sum()) for p in video.parameters())  # resident, as in use
        del engine
        return {"engine_mb": loaded - before, "video_model_mb": memory_mb() - loaded}

    from sam3_core.loading import load_service
    from sam3_core.settings import ModelSettings, Settings

    before = memory_mb()
    service = load_service(Settings(model=ModelSettings(device="cpu", dtype="float32")), model=str(path))
    loaded = memory_mb()
    tracker = service.video_tracker
    sum(float(p.detach().abs().sum()) for p in tracker.model.parameters())
    assembled = memory_mb()
    width, height = args.image
    with tempfile.TemporaryDirectory() as folder:
        clip = Path(folder) / "clip.mp4"
        synthetic_clip(clip, args.frames, width, height)
        video_b64 = base64.b64encode(clip.read_bytes()).decode()
    prompts = PROMPT_WORDS[: args.prompts]
    payload = {"video": video_b64, "text_prompts": prompts, "max_objects": args.max_objects, "return_timings": True}
    progress: list[dict] = []
    track = tracker.track

    def watched(*call, **kwargs):  # RSS every 25 frames, as the request runs
        for count, result in enumerate(track(*call, **kwargs), 1):
            if count % 25 == 0 or count == 1:
                progress.append({"frame": count, "rss_mb": round(memory_mb(), 1), "peak_mb": memory_mb("VmHWM")})
                seconds = time.perf_counter() - started
                print(f"video: frame {count}, {seconds:.0f} s, {json.dumps(progress[-1])}", file=sys.stderr, flush=True)
            yield result

    tracker.track = watched
    reset_peak_memory()
    idle = memory_mb()
    started = time.perf_counter()
    response = service({"inputs": payload})
    seconds = time.perf_counter() - started
    return {
        "frames": response["video"]["num_frames"],
        "video_size": f"{width}x{height}",
        "prompts": len(prompts),
        "objects": response["num_objects"],
        "response_mb": len(json.dumps(response)) / 1e6,
        "service_mb": loaded - before,
        "video_tracker_added_mb": assembled - loaded,
        "idle_before_request_mb": idle,
        "peak_during_request_mb": memory_mb("VmHWM"),
        "peak_delta_mb": memory_mb("VmHWM") - idle,
        "rss_after_mb": memory_mb(),
        "seconds": seconds,
        "per_frame_ms": seconds * 1000.0 / max(1, response["video"]["num_frames"]),
        "timings": response["timings"],
        "progress": progress,
    }


def _modules(model):
    return [model.detector, model.tracker] if hasattr(model, "detector") else [model]


# ---- parent --------------------------------------------------------------------------------------------------------


def run_child(mode: str, extra: list[str]) -> dict:
    command = [sys.executable, "-m", "scripts.benchmark", mode, "--child", *extra]
    completed = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if completed.returncode != 0:
        sys.stderr.write(completed.stderr[-4000:])
        raise SystemExit(f"child failed: {' '.join(command)}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return f"{os.cpu_count()} CPU cores ({cpu}), {gpu}, torch {torch.__version__}"


def parse_size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    return int(width), int(height or width)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["e2e", "postprocess", "memory", "automatic", "video", "playback", "png"])
    parser.add_argument("--size", choices=["tiny", "full"], default="tiny")
    parser.add_argument("--prompts", default="1,5")
    parser.add_argument("--images", default="1008x1008")
    parser.add_argument("--objects", default="50,100")
    parser.add_argument("--masks", default="blobs,noise", help="postprocess: mask kinds (blobs, noise)")
    parser.add_argument("--grids", default="8,16", help="automatic: points per side")
    parser.add_argument("--crop-layers", type=int, default=0, help="automatic: also time each grid with crop layers")
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--repeat", type=int, default=5, help="GPU: cold runs per contender (median reported)")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--contender", help=argparse.SUPPRESS)
    parser.add_argument("--image", type=parse_size, default=(4032, 3024), help="postprocess: image size WxH")
    parser.add_argument("--frames", type=int, default=300, help="video: frames of the synthetic clip")
    parser.add_argument("--max-objects", type=int, default=5, help="video: objects tracked at most")
    parser.add_argument("--video-size", type=parse_size, default=(1920, 1080), help="video: frame size WxH")
    args = parser.parse_args(argv)

    if args.child:
        args.prompts = int(args.prompts)
        args.objects = int(args.objects)
        if args.mode == "video":
            args.image = args.video_size
        args.grids = [int(grid) for grid in args.grids.split(",")]
        child = {
            "e2e": child_e2e,
            "postprocess": child_postprocess,
            "memory": child_memory,
            "automatic": child_automatic,
            "video": child_video,
        }
        child = child[args.mode]
        print(json.dumps(child(args)))
        return 0

    rows = []
    common = ["--size", args.size, "--threshold", str(args.threshold), "--repeat", str(args.repeat)]
    if args.mode == "e2e":
        checkpoint(args.size)
        for size in args.images.split(","):
            for prompts in args.prompts.split(","):
                cell = [*common, "--image", size, "--prompts", prompts, "--objects", "0"]
                baseline = run_child("e2e", [*cell, "--contender", "baseline"])
                ours = run_child("e2e", [*cell, "--contender", "handler"])
                rows.append({"image": size, "prompts": int(prompts), "baseline": baseline, "handler": ours})
                print_e2e(rows[-1])
    elif args.mode == "postprocess":
        for kind in args.masks.split(","):
            for objects in args.objects.split(","):
                cell = ["--image", f"{args.image[0]}x{args.image[1]}", "--objects", objects, "--prompts", "0"]
                cell += ["--masks", kind]
                row = {"objects": int(objects), "masks": kind}
                for contender in ("baseline", "handler", "changes-writer", "zlib-writer"):
                    if contender != "baseline" or kind == "blobs":  # transformers on noise: 15 GB, a minute
                        row[contender] = run_child("postprocess", [*cell, "--contender", contender])
                rows.append(row)
                print_postprocess(rows[-1], args.image)
    elif args.mode == "automatic":
        cell = [*common, "--prompts", "0", "--objects", "0", "--grids", args.grids]
        row = run_child("automatic", [*cell, "--crop-layers", str(args.crop_layers)])
        rows.append(row)
        for grid in args.grids.split(","):
            figures = row[f"grid{grid}"]
            print(
                f"automatic ({args.size}, 640x480 cached): {grid}x{grid} points {figures['ms']:.0f} ms "
                f"({figures['objects']} objects) = {figures['ms'] / row['text_prompt_ms']:.1f}x one text prompt "
                f"({row['text_prompt_ms']:.0f} ms); a click sent meanwhile {figures['click_meanwhile_ms']:.0f} ms "
                f"(alone {row['click_alone_ms']:.0f} ms)"
            )
            if "with_crops" in figures:
                crops = figures["with_crops"]
                print(f"    with crop_n_layers {args.crop_layers}: {crops['ms']:.0f} ms ({crops['objects']} objects)")
    elif args.mode == "playback":
        rows = playback_encodings(args.frames, *args.video_size)
        for row in rows:
            print(f"playback {row['frames']} frames {args.video_size[0]}x{args.video_size[1]}: {row['contender']:<22}"
                  f"{row['base64_bytes'] / 1e6:6.2f} MB base64, {row['seconds']:6.2f} s to encode")  # fmt: skip
    elif args.mode == "png":
        rows = png_writers(*args.image, args.repeat)
        for row in rows:
            print(
                f"png {args.image[0]}x{args.image[1]} {row['mask']} ({row['changes']} changes): OpenCV "
                f"{row['opencv_s'] * 1e3:.1f} ms {row['opencv_bytes'] / 1e3:.1f} kB | from changes "
                f"{row['changes_writer_s'] * 1e3:.1f} ms {row['changes_writer_bytes'] / 1e3:.1f} kB = "
                f"{row['opencv_s'] / row['changes_writer_s']:.1f}x faster | finding the changes: from the mask "
                f"{row['changes_from_mask_s'] * 1e3:.1f} ms, from the 288x288 map "
                f"{row['changes_from_map_s'] * 1e3:.1f} ms"
            )
    elif args.mode == "video":
        checkpoint(args.size)
        size = f"{args.video_size[0]}x{args.video_size[1]}"
        cell = [*common, "--prompts", args.prompts, "--objects", "0", "--frames", str(args.frames)]
        cell += ["--max-objects", str(args.max_objects)]
        row = run_child("video", [*cell, "--video-size", size, "--contender", "service"])
        separate = run_child("video", [*cell, "--video-size", size, "--contender", "separate"])
        rows.append({"service": row, "separate": separate})
        print(
            f"video ({args.size}, CPU float32): {row['frames']} frames of {size}, {row['prompts']} prompt(s), "
            f"{row['objects']} objects: {row['per_frame_ms']:.0f} ms per frame; service {row['service_mb']:.0f} MB, "
            f"video tracker on its weights +{row['video_tracker_added_mb']:.0f} MB (Sam3VideoModel loaded beside "
            f"it: +{separate['video_model_mb']:.0f} MB); peak during the request +{row['peak_delta_mb']:.0f} MB "
            f"over idle {row['idle_before_request_mb']:.0f} MB; response {row['response_mb']:.2f} MB\n"
            "    RSS (MB) after frame: " + ", ".join(f"{p['frame']}: {p['rss_mb']:.0f}" for p in row["progress"])
        )
    else:
        checkpoint(args.size)
        cell = [*common, "--prompts", "0", "--objects", "0"]
        separate = run_child("memory", [*cell, "--contender", "separate"])
        shared = run_child("memory", [*cell, "--contender", "engine"])
        rows.append({"separate": separate, "engine": shared})
        print(
            f"memory ({args.size}, float32): two models {separate['resident_mb']:.0f} MB resident "
            f"({separate['unique_parameters_m']:.0f}M params), engine {shared['resident_mb']:.0f} MB "
            f"({shared['unique_parameters_m']:.0f}M params): {separate['resident_mb'] - shared['resident_mb']:.0f} MB "
            f"less; peak during load {separate['peak_rss_delta_mb']:.0f} vs {shared['peak_rss_delta_mb']:.0f} MB"
        )
    report = {"mode": args.mode, "size": args.size, "machine": machine(), "rows": rows}
    print(f"machine: {report['machine']}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


def print_e2e(row: dict) -> None:
    base, ours = row["baseline"], row["handler"]
    stages = ", ".join(f"{k} {v}" for k, v in ours["stages_ms"].items())
    gpu = f", GPU peak {ours['gpu_peak_mb']:.0f} vs {base['gpu_peak_mb']:.0f} MB" if ours["gpu_peak_mb"] else ""
    print(
        f"e2e {row['image']} x{row['prompts']} prompts ({ours['device']}, {ours['dtype']}): "
        f"baseline {base['total_ms']:.0f} ms ({base['objects']} obj) | handler cold {ours['total_ms']:.0f} ms "
        f"({ours['objects']} obj) = {base['total_ms'] / ours['total_ms']:.2f}x | cached image + 1 new prompt "
        f"{ours['cached_image_new_prompt_ms']:.0f} ms = "
        f"{ours['cold_one_prompt_ms'] / ours['cached_image_new_prompt_ms']:.1f}x "
        f"faster than cold 1-prompt {ours['cold_one_prompt_ms']:.0f} ms | cached same prompts "
        f"{ours['cached_image_same_prompts_ms']:.0f} ms | peak RSS +{base['peak_rss_delta_mb']:.0f} vs "
        f"+{ours['peak_rss_delta_mb']:.0f} MB{gpu}\n    handler stages: {stages}"
    )


def print_postprocess(row: dict, image: tuple[int, int]) -> None:
    ours = row["handler"]
    line = f"postprocess {row['objects']} {row['masks']} masks at {image[0]}x{image[1]}: "
    line += f"handler {ours['total_ms']:.0f} ms (+{ours['peak_rss_delta_mb']:.0f} MB peak)"
    for name in ("baseline", "changes-writer", "zlib-writer"):
        if name in row:
            other = row[name]
            line += f" | {name} {other['total_ms']:.0f} ms (+{other['peak_rss_delta_mb']:.0f} MB peak)"
            line += f" = {other['total_ms'] / ours['total_ms']:.2f}x the handler's time"
    print(line)


if __name__ == "__main__":
    raise SystemExit(main())
