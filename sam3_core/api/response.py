"""Build the documented JSON response from engine predictions, one full-size mask per worker at a time.

A request's objects are dealt out to the encoder workers in interleaved shares; each worker renders its share one
object after another into one ``MaskCanvas`` (full-size buffers allocated once per share, not per object). A mask
comes back as its scanline changes: its PNG is deflated from them and its box read from them; the full-size mask
is only made on the host for a polygon. A dense mask (many runs, estimated from its low-resolution map:
``masks.encoding.is_dense``) comes back as the full-size host mask instead, and zlib writes its PNG.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

from sam3_core.api.request import SegmentRequest
from sam3_core.api.tasks import task_answer
from sam3_core.masks.encoding import is_dense, mask_to_polygon, png_base64
from sam3_core.masks.postprocess import MaskCanvas, mask_box
from sam3_core.masks.scanlines import box_of_changes, mask_of_changes
from sam3_core.model.engine import ObjectPrediction, Prediction

SAM_VERSION = "3.0"
# One worker per core, at most 8: 16 did not encode 100 masks of 12 MP faster than 8 on a 16-core H200 machine
# (docs/BENCHMARKS.md), and each holds a full-size canvas.
WORKERS = max(1, min(8, os.cpu_count() or 1))
_POOL = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="sam3-encode")
Rendered = tuple[str, list[float], list | None]


def _render(obj: ObjectPrediction, request: SegmentRequest, canvas: MaskCanvas) -> Rendered:
    """Upsample, apply exclusion boxes (to masks the prompts gave no box), encode: ``(png_base64, box_xyxy,
    polygon or None)``."""
    height, width = canvas.height, canvas.width
    exclusions = request.exclusion_boxes if obj.box is None else ()
    if is_dense(canvas.estimated_changes(obj.low_res, obj.threshold, obj.region), height, width):
        mask = canvas.mask(obj.low_res, obj.threshold, exclusions, region=obj.region)
        box = mask_box(mask) if obj.box is None else obj.box
        polygon = mask_to_polygon(mask, request.simplify_epsilon) if request.vectorize else None
        return png_base64(mask, height, width), [round(v, 2) for v in box], polygon
    changes = canvas.changes(obj.low_res, obj.threshold, exclusions, region=obj.region)
    box = box_of_changes(changes, width) if obj.box is None else obj.box
    polygon = None
    if request.vectorize:
        polygon = mask_to_polygon(mask_of_changes(changes, height, width), request.simplify_epsilon)
    return png_base64(changes, height, width), [round(v, 2) for v in box], polygon


def _render_share(objects: list[ObjectPrediction], request: SegmentRequest) -> list[Rendered]:
    width, height = request.image_size
    canvas = MaskCanvas(height, width)
    return [_render(obj, request, canvas) for obj in objects]


def _render_all(objects: list[ObjectPrediction], request: SegmentRequest) -> list[Rendered]:
    """Every object rendered, in order: worker ``k`` of ``n`` takes objects ``k, k + n, k + 2n, ...``."""
    shares = min(WORKERS, len(objects))
    done = list(_POOL.map(lambda k: _render_share(objects[k::shares], request), range(shares)))
    return [done[index % shares][index // shares] for index in range(len(objects))]


def build_response(request: SegmentRequest, prediction: Prediction) -> dict | list[dict]:
    """The response dict (JSON-ready: plain lists, floats, strings), see docs/API.md "Response"; for InferenceClient
    task requests the task's list: ``{"label", "score", "mask", "box"}`` per object (``api.tasks``)."""
    started = time.perf_counter()
    objects = prediction.objects
    rendered = _render_all(objects, request)
    response = {
        "masks": [png for png, _, _ in rendered],
        "scores": [obj.score for obj in objects],
        "num_objects": len(objects),
        "sam_version": SAM_VERSION,
        "prompt_types": request.prompt_types,
        "success": True,
        "boxes": [box for _, box, _ in rendered],
        "labels": [obj.label for obj in objects],
        "original_image_size": list(request.image_size),  # (width, height) of the upright image
    }
    if request.vectorize:
        response["polygons"] = [polygon for _, _, polygon in rendered]
        response["polygon_format"] = "pixel_coordinates"
    if request.task is not None:  # an InferenceClient task (sam3_core.api.tasks)
        return task_answer(response)
    if request.return_timings:
        timings = dict(prediction.timings)
        timings["decode_ms"] = request.decode_ms
        timings["postprocess_ms"] = (time.perf_counter() - started) * 1000.0
        response["timings"] = {k: (round(v, 2) if isinstance(v, float) else v) for k, v in timings.items()}
    return response
