"""SAM3 in CVAT: an auto-annotation function (``cvat_sdk.auto_annotation``) that calls a SAM3 endpoint: a local
``sam3-serve``, its container, or an Inference Endpoint on the default image.

This one file is all a CVAT user needs besides ``pip install "cvat-sdk[masks]" cvat-cli``; it imports nothing of
the project and sends the main API's requests (docs/API.md) over HTTP.

Parameters (``-p name=type:value``):
- ``endpoint=str:URL``: where to POST, e.g. ``http://gpu-box:8000/`` (``sam3-serve``) or an Inference Endpoint's
  URL. The token, when the endpoint needs one, is read from the environment variable ``token_env`` names
  (``SAM3_API_TOKEN`` by default; ``HF_TOKEN`` for an Inference Endpoint) and sent as ``Authorization: Bearer``.
- ``labels=str:person,car``: the detector's labels, each a SAM3 concept prompt (every instance is found). The
  task's labels of these names receive masks (type ``mask`` or ``any``), or polygons with ``--conv-mask-to-poly``
  (type ``polygon`` or ``any``).
- ``kind=str:interactive``: the interactor instead (CVAT's agent): clicks and a box give one mask. The agent keeps
  ``preprocess_image``'s result per frame, and the endpoint keeps the frame's features, so the model's image
  encoder runs once per frame however many clicks follow.

Commands::

    # detector, in any CVAT: task 42's frames annotated here and uploaded
    cvat-cli --server-host https://cvat.example.com task auto-annotate 42 --function-file sam3_cvat.py \\
        -p endpoint=str:http://gpu-box:8000/ -p labels=str:person,car [--conf-threshold 0.4] [--conv-mask-to-poly]
    # interactor, CVAT Enterprise or Cloud: register it once, then serve it with an agent
    cvat-cli --server-host URL function create-native "SAM3 clicks" --function-file sam3_cvat.py \\
        -p kind=str:interactive -p endpoint=str:http://gpu-box:8000/
    cvat-cli --server-host URL function run-agent ID --function-file sam3_cvat.py \\
        -p kind=str:interactive -p endpoint=str:http://gpu-box:8000/

Coordinates are CVAT's and the endpoint's alike: pixels of the frame, x right, y down.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import urllib.error
import urllib.request

import cvat_sdk.auto_annotation as cvataa
import numpy as np
import PIL.Image
from cvat_sdk import models
from cvat_sdk.masks import encode_mask

DEFAULT_THRESHOLD = 0.5  # the endpoint's default confidence threshold, when CVAT gives none
ERROR_CHARS = 300


class EndpointError(RuntimeError):
    """The endpoint refused or failed a request; the message is its reason."""


class Endpoint:
    """The SAM3 endpoint: POSTs main-API payloads to ``url`` with the token of environment variable ``token_env``."""

    def __init__(self, url: str, token_env: str, timeout_s: float) -> None:
        self.url, self.timeout_s = url, timeout_s
        token = os.environ.get(token_env, "")
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def segment(self, inputs: dict) -> dict:
        """The main API's answer to ``{"inputs": inputs}``."""
        body = json.dumps({"inputs": inputs}).encode()
        request = urllib.request.Request(self.url, body, self.headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as error:
            reason = error.read().decode("utf-8", "replace")
            with contextlib.suppress(ValueError, AttributeError):
                reason = json.loads(reason).get("error", reason)
            raise EndpointError(f"{self.url} answered {error.code}: {str(reason)[:ERROR_CHARS]}") from None


def png_base64(image: PIL.Image.Image) -> str:
    """A frame as the base64 PNG the endpoint reads (lossless: the endpoint sees CVAT's pixels)."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def read_mask(png: str) -> np.ndarray:
    """An answer's mask (base64 PNG, 0/255) as the ``(H, W)`` bool array ``encode_mask`` takes."""
    with PIL.Image.open(io.BytesIO(base64.b64decode(png))) as picture:
        return np.asarray(picture.convert("L")) > 127


def just_below(threshold: float) -> float:
    """The endpoint keeps scores above its threshold; CVAT's keep those at or above theirs (then filtered here)."""
    return max(0.0, threshold - 1e-6)


class Sam3Concepts:
    """The detector: every label is a concept prompt; each instance is a mask (or a polygon: the endpoint's
    outline of the mask's largest part) with its score."""

    def __init__(self, endpoint: Endpoint, labels: list[str]) -> None:
        if not labels:
            raise ValueError("labels: give at least one, e.g. -p labels=str:person,car")
        self.endpoint, self.labels = endpoint, labels
        specs = [cvataa.label_spec(name, index, type="mask") for index, name in enumerate(labels)]
        self.spec = cvataa.DetectionFunctionSpec(labels=specs)

    def detect(self, context: cvataa.DetectionFunctionContext, image: PIL.Image.Image) -> list:
        threshold = DEFAULT_THRESHOLD if context.conf_threshold is None else context.conf_threshold
        answer = self.endpoint.segment(
            {
                "image": png_base64(image),
                "text_prompts": self.labels,
                "confidence_threshold": just_below(threshold),
                "vectorize": context.conv_mask_to_poly,
                "simplify_epsilon": 1.0,
            }
        )
        ids = {" ".join(name.split()): index for index, name in enumerate(self.labels)}
        shapes = []
        for index, (label, score) in enumerate(zip(answer["labels"], answer["scores"], strict=True)):
            if score < threshold or label not in ids:
                continue
            if context.conv_mask_to_poly:
                polygon = answer["polygons"][index]
                if len(polygon) >= 3:
                    points = [float(v) for point in polygon for v in point]
                    shapes.append(cvataa.polygon(ids[label], points, score=score))
                continue
            mask = read_mask(answer["masks"][index])
            if mask.any():
                shapes.append(cvataa.mask(ids[label], encode_mask(mask), score=score))
        return shapes


class Sam3Clicks:
    """The interactor: positive and negative clicks and an optional box give one mask (SAM2's prompts)."""

    spec = cvataa.InteractionFunctionSpec(min_pos_points=0, min_neg_points=0, min_bounding_boxes=0)

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    def preprocess_image(self, context: cvataa.InteractionFunctionContext, image: PIL.Image.Image) -> str:
        """The frame as the endpoint reads it, encoded once per frame (the agent keeps it across clicks)."""
        return png_base64(image)

    def detect(
        self, context: cvataa.InteractionFunctionContext, pp_image: str, prompts: cvataa.InteractionPrompts
    ) -> list[cvataa.InteractionResultShape]:
        points = [list(point) for point in (*prompts.pos_points, *prompts.neg_points)]
        inputs: dict = {"image": pp_image, "confidence_threshold": 0.0}
        if points:
            labels = [1] * len(prompts.pos_points) + [0] * len(prompts.neg_points)
            inputs.update(points=points, point_labels=labels)
        if prompts.bounding_box is not None:
            (x1, y1), (x2, y2) = prompts.bounding_box
            inputs.update(boxes=[[x1, y1, x2, y2]], box_labels=[1])
        if len(inputs) == 2:
            return []
        answer = self.endpoint.segment(inputs)
        if not answer["masks"]:
            return []
        mask = read_mask(answer["masks"][0])
        if not mask.any():
            return []
        confidence = models.AttributeValRequest(
            spec_id=int(cvataa.InteractionResultAttributes.CONFIDENCE), value=str(answer["scores"][0])
        )
        return [cvataa.InteractionResultShape(type="mask", points=encode_mask(mask), attributes=[confidence])]


def create(
    endpoint: str = "http://127.0.0.1:8000/",
    labels: str = "",
    kind: str = "detector",
    token_env: str = "SAM3_API_TOKEN",
    timeout_s: float = 300.0,
) -> Sam3Concepts | Sam3Clicks:
    """The function ``cvat-cli`` runs, from its ``-p`` parameters."""
    client = Endpoint(endpoint, token_env, timeout_s)
    if kind == "interactive":
        return Sam3Clicks(client)
    if kind != "detector":
        raise ValueError(f"kind: expected 'detector' or 'interactive', got {kind[:40]!r}")
    return Sam3Concepts(client, [name.strip() for name in labels.split(",") if name.strip()])
