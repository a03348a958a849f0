"""Runs in an environment of ``cvat-sdk[masks]`` and ``cvat-cli`` (CVAT's own code): the project's function file
is loaded by cvat-cli's loader from ``-p`` parameters as a user types them, run as CVAT's drivers run it (the
detector with ``annotate_task``'s context and its label mapping and checks; the interactor through the agent's
worker jobs, which keep ``preprocess_image``'s result per frame), and its masks decoded by ``cvat_sdk.masks``.
What came out is written to the work folder (masks as ``.npy``) and summarised as JSON on stdout.

    SAM3_API_TOKEN=... python drive_cvat.py FUNCTION_FILE SERVER_URL IMAGE WORK_FOLDER
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import numpy as np
import PIL.Image
from cvat_cli._internal import agent_driver, agent_driver_interaction
from cvat_cli._internal.common import FunctionLoader
from cvat_cli._internal.parsers import parse_function_parameter
from cvat_sdk import models
from cvat_sdk.auto_annotation.driver import _AnnotationMapper, _DetectionFunctionContextImpl
from cvat_sdk.masks import decode_mask


def load(function_file: str, *parameters: str):
    """The function as ``cvat-cli ... --function-file F -p name=type:value ...`` loads it."""
    return FunctionLoader(None, Path(function_file), dict(map(parse_function_parameter, parameters))).load()


def task_label(name: str, label_id: int, kind: str) -> models.Label:
    return models.Label._from_openapi_data(name=name, id=label_id, type=kind, attributes=[], sublabels=[])


def detect(function, image, work: Path, name: str, conv_mask_to_poly: bool, labels: list) -> list[dict]:
    """The detector on one frame as ``annotate_task`` runs it: shapes checked and mapped to the task's labels."""
    mapper = _AnnotationMapper(
        logging.getLogger("cvat"),
        function.spec.labels,
        labels,
        allow_unmatched_labels=False,
        conv_mask_to_poly=conv_mask_to_poly,
    )
    context = _DetectionFunctionContextImpl(
        frame_name="scene.png", conf_threshold=0.1, conv_mask_to_poly=conv_mask_to_poly
    )
    _, shapes = mapper.validate_and_remap(function.detect(context, image), 7)
    found = []
    for index, shape in enumerate(shapes):
        entry = {"label_id": shape.label_id, "type": str(shape.type), "score": shape.score, "frame": shape.frame}
        if str(shape.type) == "mask":
            mask = decode_mask(shape.points, image_width=image.width, image_height=image.height)
            np.save(work / f"{name}-{index}.npy", mask)
        else:
            entry["points"] = shape.points
        found.append(entry)
    return found


def main(function_file: str, url: str, image_path: str, work_folder: str) -> None:
    work, image = Path(work_folder), PIL.Image.open(image_path).convert("RGB")
    endpoint = f"endpoint=str:{url}/"
    detector = load(function_file, endpoint, "labels=str:disc, square")
    out: dict = {"spec": [(label.name, label.id, label.type) for label in detector.spec.labels]}
    masks_task = [task_label("disc", 31, "mask"), task_label("square", 32, "any")]
    out["masks"] = detect(detector, image, work, "detect", False, masks_task)
    polygons_task = [task_label("disc", 31, "polygon"), task_label("square", 32, "any")]
    out["polygons"] = detect(detector, image, work, "polygon", True, polygons_task)

    clicks = load(function_file, endpoint, "kind=str:interactive")
    driver = agent_driver_interaction.AgentInteractionFunctionDriver
    out["interactor_fields"] = driver.get_remote_function_fields(clicks.spec)
    driver.init_worker(None)
    agent_driver.set_worker_current_function(clicks)
    key = (1, 0, ())  # (task, frame, region) as the agent keys a frame
    prompts = [
        agent_driver_interaction._InteractionPromptsImpl(pos_points=((100.0, 90.0),), neg_points=(), bounding_box=None),
        agent_driver_interaction._InteractionPromptsImpl(
            pos_points=((100.0, 90.0),), neg_points=((20.0, 20.0),), bounding_box=((40.0, 40.0), (200.0, 180.0))
        ),
    ]
    out["clicks"] = []
    for index, prompt in enumerate(prompts):
        cached = agent_driver_interaction._worker_job_interact_from_cache(key, prompt)
        shapes = cached if cached is not None else agent_driver_interaction._worker_job_interact(key, image, prompt)
        [shape] = shapes
        np.save(
            work / f"click-{index}.npy", decode_mask(shape.points, image_width=image.width, image_height=image.height)
        )
        confidence = [float(attribute.value) for attribute in shape.attributes]
        out["clicks"].append({"type": shape.type, "from_cache": cached is not None, "confidence": confidence})
    try:
        os.environ["WRONG_TOKEN"] = "not-the-token"
        load(function_file, endpoint, "labels=str:disc", "token_env=str:WRONG_TOKEN").detect(
            _DetectionFunctionContextImpl(frame_name="x", conf_threshold=None, conv_mask_to_poly=False), image
        )
    except Exception as error:  # noqa: BLE001 - what CVAT would report for the frame
        out["refused"] = f"{type(error).__name__}: {error}"
    print(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:])
