#!/usr/bin/env python3
"""A text-prompted video session against transformers' own session API, on any checkpoint (the tests run the tiny
one; this runs the full-size one too, a few frames).

    python -m scripts.session_parity --size tiny|full [--model DIR] [--frames 3] [--video-size 640x360]
        [--threshold 0.2] [--json F]

The frames are synthetic pictures (each its own), sent to the session as PNG so that both sides read the same
pixels. The service, loaded as the endpoint loads it (CPU, float32): ``start_session``, ``add_prompt`` (one
concept on frame 0), ``propagate_in_video`` forward. The reference: ``Sam3VideoModel`` and ``Sam3VideoProcessor``
from the same checkpoint, with the same thresholds and mask clean-up, ``init_video_session`` + ``add_text_prompt``
+ ``propagate_in_video_iterator`` from frame 0. Reported: per frame, whether the object ids are the same, the
largest score difference and the smallest mask IoU; the exit status is 1 when the ids differ, a score differs by
more than 1e-3 or a mask IoU is under 0.99. With random weights the scores sit around 0.25: ``--threshold 0.2``
keeps objects to compare.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
from pathlib import Path

import numpy as np

from scripts.benchmark import parse_size
from scripts.measuring import checkpoint, log, machine, mask_iou

PROMPT = "object"
MIN_IOU, SCORE_TOLERANCE = 0.99, 1e-3


def png_b64(pixels: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("tiny", "full"), default="tiny")
    parser.add_argument("--model", help="a checkpoint directory instead of --size's")
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--video-size", type=parse_size, default=(640, 360))
    parser.add_argument("--threshold", type=float, default=0.2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    import torch
    from transformers import Sam3VideoModel, Sam3VideoProcessor

    from sam3_core.loading import load_service
    from sam3_core.masks import rle
    from sam3_core.model.transformers_internals import use_video_postprocessing
    from sam3_core.model.video_postprocess import CvUtils
    from sam3_core.model.video_postprocess import mask_iou as video_mask_iou
    from sam3_core.settings import ModelSettings, Settings
    from sam3_core.testing.support import synthetic_image

    model_dir = args.model or str(checkpoint(args.size))
    width, height = args.video_size
    frames = [np.asarray(synthetic_image(width, height, seed=index)) for index in range(args.frames)]
    options = {"confidence_threshold": args.threshold, "new_object_threshold": args.threshold, "max_objects": 5}

    log("the session, through the service")
    service = load_service(Settings(model=ModelSettings(device="cpu")), model=model_dir)
    started = service({"inputs": {"type": "start_session", "video": [png_b64(f) for f in frames], **options}})
    session = {"session_id": started["session_id"]}
    service({"inputs": {"type": "add_prompt", **session, "frame_index": 0, "text": PROMPT}})
    answer = service({"inputs": {"type": "propagate_in_video", **session, "propagation_direction": "forward"}})
    ours: dict[int, dict[int, dict]] = {}
    for obj in answer["objects"]:
        for entry in obj["frames"]:
            ours.setdefault(entry["frame_index"], {})[obj["object_id"]] = entry
    del service

    log("the reference: transformers' session API")
    use_video_postprocessing(CvUtils(), video_mask_iou)  # the clean-up the service gives the video model
    model = Sam3VideoModel.from_pretrained(model_dir).eval()
    model.score_threshold_detection, model.new_det_thresh = args.threshold, args.threshold
    model.max_num_objects = options["max_objects"]
    processor = Sam3VideoProcessor.from_pretrained(model_dir)
    reference = processor.init_video_session(video=frames, inference_device="cpu", dtype=torch.float32)
    processor.add_text_prompt(reference, [PROMPT])

    rows, worst_iou, worst_score, same_ids = [], 1.0, 0.0, True
    with torch.inference_mode():
        for output in model.propagate_in_video_iterator(reference, start_frame_idx=0):
            expected = processor.postprocess_outputs(reference, output)
            ids = expected["object_ids"].tolist()
            found = ours.get(output.frame_idx, {})
            row = {"frame": output.frame_idx, "objects": len(ids), "same_ids": sorted(found) == ids}
            same_ids &= row["same_ids"]
            for number, object_id in enumerate(ids):
                if object_id not in found:
                    continue
                mask = expected["masks"][number].numpy()
                ours_mask = rle.decode(found[object_id]["rle"])
                iou = mask_iou(mask, ours_mask)
                score = abs(found[object_id]["score"] - float(expected["scores"][number]))
                worst_iou, worst_score = min(worst_iou, iou), max(worst_score, score)
            rows.append(row)
            log(f"frame {output.frame_idx}: {row}")

    report = {
        "machine": machine(),
        "checkpoint": args.size if not args.model else args.model,
        "frames": args.frames,
        "video_size": [width, height],
        "threshold": args.threshold,
        "objects_compared": sum(row["objects"] for row in rows),
        "same_ids_every_frame": same_ids,
        "max_abs_score_diff": worst_score,
        "min_mask_iou": worst_iou,
        "frames_in_order": [row["frame"] for row in rows] == answer["video"]["frame_indices"],
        "per_frame": rows,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)
    good = same_ids and report["frames_in_order"] and worst_iou >= MIN_IOU and worst_score <= SCORE_TOLERANCE
    return 0 if good else 1


if __name__ == "__main__":
    raise SystemExit(main())
