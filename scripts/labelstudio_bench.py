#!/usr/bin/env python3
"""Pre-annotation throughput of the Label Studio backend against the main API on the same images, in one run.

    python -m scripts.labelstudio_bench --size tiny|full [--tasks 16] [--per-request 1,16] [--image 640x480]
        [--labels kitten,person] [--threshold 0.5] [--clicks 10] [--json F]

One service, loaded as the endpoint loads it, in this process. ``--tasks`` synthetic JPEG images (each its own, so
every image runs the ViT) are pre-annotated with every label of a brush project as a concept prompt:
- main API: ``{"inputs": [{"image": ..., "text_prompts": labels}, ...]}``, ``--per-request`` images per call;
- Label Studio: ``/predict`` bodies of ``--per-request`` tasks (images as ``data:`` URIs, so no Label Studio
  server is involved), through ``LabelStudioBackend.predict``: the same model work, plus each mask as brush RLE.
Both use ``--threshold`` (Label Studio: the project's extra param, set by ``/setup``); random weights score about
0.25, so the full-size checkpoint finds nothing at the default 0.5. Each answer is serialised to JSON as the
server would send it. The feature and text caches are emptied before each contender, which run one after the
other at each size. Prints tasks/s, the ratio, and peak RSS growth.

Then ``--clicks`` clicks on one image whose features are cached (what a user of the editor's smart keypoint
does), each through the main API (``points``, threshold 0) and as Label Studio's interactive ``/predict`` (a
``keypointlabels`` context): the median milliseconds of each, the image's first click not counted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from sam3_core.server.json_answer import encode_json
from sam3_core.testing.support import memory_mb, reset_peak_memory
from scripts.benchmark import parse_size
from scripts.measuring import checkpoint, jpeg_b64, machine


def brush_config(labels: list[str]) -> str:
    choices = "".join(f'<Label value="{label}"/>' for label in labels)
    output = f'<BrushLabels name="mask" toName="image">{choices}</BrushLabels>'
    return f'<View><Image name="image" value="$image"/>{output}</View>'


def run(contender, images: list[str], per_request: int, service) -> dict:
    service.engine.release_memory()
    reset_peak_memory()
    before = memory_mb("VmRSS")
    started = time.perf_counter()
    objects = 0
    for start in range(0, len(images), per_request):
        answer = contender(images[start : start + per_request])
        objects += answer[1]
        encode_json(answer[0])
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 2),
        "tasks_per_s": round(len(images) / seconds, 4),
        "objects": objects,
        "peak_rss_growth_mb": round(memory_mb("VmHWM") - before, 1),
    }


def clicks(service, backend, config: str, image: str, size: tuple[int, int], count: int) -> dict:
    """Median ms of ``count`` clicks on ``image`` (features cached by a first click) through each path."""
    width, height = size
    task = {"id": 1, "data": {"image": "data:image/jpeg;base64," + image}}
    service({"inputs": {"image": image, "points": [[width / 2, height / 2]]}})  # the ViT, once
    timings: dict[str, list[float]] = {"main_api_ms": [], "label_studio_ms": []}
    for k in range(count):
        x, y = (k + 1) / (count + 1), 0.5
        started = time.perf_counter()
        encode_json(
            service({"inputs": {"image": image, "points": [[x * width, y * height]], "confidence_threshold": 0}})
        )
        timings["main_api_ms"].append((time.perf_counter() - started) * 1000)
        value = {"x": 100 * x, "y": 100 * y, "keypointlabels": ["kitten"]}
        click = {"type": "keypointlabels", "value": value, "original_width": width, "original_height": height}
        body = {"tasks": [task], "label_config": config, "params": {"context": {"result": [click]}}}
        started = time.perf_counter()
        encode_json(backend.predict(body, service))
        timings["label_studio_ms"].append((time.perf_counter() - started) * 1000)
    return {name: round(statistics.median(values), 1) for name, values in timings.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=["tiny", "full"], default="tiny")
    parser.add_argument("--model", help="a checkpoint directory instead of --size's generated one")
    parser.add_argument("--tasks", type=int, default=16)
    parser.add_argument("--per-request", default="1,16")
    parser.add_argument("--image", type=parse_size, default=(640, 480))
    parser.add_argument("--labels", default="kitten,person")
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--clicks", type=int, default=10)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)

    from sam3_core.adapters.labelstudio.backend import LabelStudioBackend
    from sam3_core.loading import load_service
    from sam3_core.settings import ModelSettings, Settings

    labels = args.labels.split(",")
    settings = Settings(model=ModelSettings(device="cpu"))
    service = load_service(settings, model=args.model or str(checkpoint(args.size)))
    backend = LabelStudioBackend(settings)
    images = [jpeg_b64(args.image, seed=seed) for seed in range(args.tasks)]
    config = brush_config(labels)
    backend.setup({"project": "bench", "schema": config, "extra_params": {"confidence_threshold": args.threshold}})
    options = {"text_prompts": labels, "confidence_threshold": args.threshold}

    def main_api(batch: list[str]) -> tuple[object, int]:
        answers = service({"inputs": [{"image": image, **options} for image in batch]})
        return answers, sum(answer["num_objects"] for answer in answers)

    def label_studio(batch: list[str]) -> tuple[object, int]:
        tasks = [{"id": k, "data": {"image": "data:image/jpeg;base64," + image}} for k, image in enumerate(batch)]
        answer = backend.predict({"tasks": tasks, "label_config": config, "project": "bench"}, service)
        return answer, sum(len(prediction["result"]) for prediction in answer["results"])

    rows = []
    for per_request in (int(size) for size in args.per_request.split(",") if size and args.tasks):
        row = {"per_request": per_request, "tasks": args.tasks}
        row["main_api"] = run(main_api, images, per_request, service)
        row["label_studio"] = run(label_studio, images, per_request, service)
        rows.append(row)
        main_figures, ls_figures = row["main_api"], row["label_studio"]
        print(
            f"{args.size} {args.image[0]}x{args.image[1]}, {args.tasks} tasks, {per_request} per request, "
            f"{len(labels)} labels: main API {main_figures['tasks_per_s']:.3f} tasks/s ({main_figures['objects']} "
            f"objects, +{main_figures['peak_rss_growth_mb']:.0f} MB) | Label Studio {ls_figures['tasks_per_s']:.3f} "
            f"tasks/s ({ls_figures['objects']} regions, +{ls_figures['peak_rss_growth_mb']:.0f} MB) = "
            f"{ls_figures['tasks_per_s'] / main_figures['tasks_per_s']:.2f}x",
            flush=True,
        )
    report = {"size": args.size, "image": list(args.image), "labels": labels, "threshold": args.threshold}
    if args.clicks:
        report["clicks"] = clicks(service, backend, config, jpeg_b64(args.image, seed=10_000), args.image, args.clicks)
        main_ms, ls_ms = report["clicks"]["main_api_ms"], report["clicks"]["label_studio_ms"]
        print(
            f"{args.size}: a click on a cached image: main API {main_ms:.1f} ms, Label Studio {ls_ms:.1f} ms (median)"
        )
    report |= {"machine": machine(), "rows": rows}
    print(f"machine: {report['machine']}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
