"""InferenceClient task calls: zero-shot-image-classification, image-segmentation and object-detection (prompted,
default prompts, automatic mask generation), in the handler and over HTTP with huggingface_hub's own client."""

from __future__ import annotations

import io
import json
from contextlib import contextmanager
from dataclasses import replace

import httpx2
import numpy as np
import pytest
import requests
from huggingface_hub import InferenceClient, ObjectDetectionBoundingBox
from huggingface_hub.utils import _http
from PIL import Image

from sam3_core.api.request import parse_payload
from sam3_core.api.tasks import SEGMENTATION, ZERO_SHOT
from sam3_core.server.http_api import create_app
from sam3_core.service import SegmentationService
from sam3_core.settings import RequestSettings
from sam3_core.testing.support import serve_in_thread

from helpers import decode_mask, encode, iou, wait_until


def test_zero_shot_payload_answers_one_element_per_object(handler, image_b64):
    answer = handler({"inputs": image_b64, "parameters": {"candidate_labels": ["cat", "remote"]}})
    main = handler({"inputs": {"image": image_b64, "text_prompts": ["cat", "remote"]}})
    assert isinstance(answer, list) and len(answer) == main["num_objects"] > 0
    assert [item["label"] for item in answer] == main["labels"]
    assert [item["score"] for item in answer] == main["scores"]
    assert [item["mask"] for item in answer] == main["masks"]
    assert [[item["box"][key] for key in ("xmin", "ymin", "xmax", "ymax")] for item in answer] == main["boxes"]


def test_segmentation_payload_with_prompts_and_threshold(handler, image_b64):
    answer = handler(
        {"inputs": image_b64, "parameters": {"threshold": 0.6, "text_prompts": ["kitten"], "subtask": None}}
    )
    main = handler({"inputs": {"image": image_b64, "text_prompts": ["kitten"], "confidence_threshold": 0.6}})
    assert [set(item) for item in answer] == [{"label", "score", "mask", "box"}] * main["num_objects"]
    assert [item["score"] for item in answer] == main["scores"] and main["num_objects"] > 0


def test_task_detection_and_default_prompts(image_b64):
    limits = RequestSettings(default_prompts=("cat", "dog"))
    assert parse_payload({"inputs": image_b64, "parameters": {"candidate_labels": ["a"]}}, limits).task == ZERO_SHOT
    segmentation = parse_payload({"inputs": image_b64, "parameters": {"threshold": 0.2}}, limits)
    assert segmentation.task == SEGMENTATION and segmentation.text_prompts == ("cat", "dog")
    assert segmentation.confidence_threshold == 0.2 and not segmentation.automatic
    automatic = parse_payload({"inputs": image_b64}, RequestSettings())
    assert automatic.task == SEGMENTATION and automatic.automatic and automatic.prompt_types == ["visual"]
    main_form = parse_payload({"inputs": image_b64, "parameters": {"points": [[5, 5]], "point_labels": [1]}}, limits)
    assert main_form.task is None and not main_form.automatic
    with pytest.raises(ValueError, match="^candidate_labels: expected a non-empty list of strings"):
        parse_payload({"inputs": image_b64, "parameters": {"candidate_labels": [3]}}, limits)
    with pytest.raises(ValueError, match="^threshold: 2 is outside"):
        parse_payload({"inputs": image_b64, "parameters": {"threshold": 2}}, limits)


def test_automatic_mask_generation(handler, image, image_b64, monkeypatch):
    settings = handler.service.settings
    monkeypatch.setattr(handler.service, "settings", replace(settings, amg_points_per_side=4, amg_min_stability=0))
    answer = handler({"inputs": image_b64, "parameters": {"threshold": 0.0}})
    assert answer and all(item["label"] == "visual" for item in answer)
    masks = [decode_mask(item["mask"]) for item in answer]
    assert all(mask.shape == (image.height, image.width) for mask in masks)
    scores = [item["score"] for item in answer]
    assert scores == sorted(scores, reverse=True)
    monkeypatch.setattr(handler.service, "settings", replace(settings, amg_points_per_side=4, amg_min_stability=1))
    unstable = handler({"inputs": image_b64, "parameters": {"threshold": 0.0}})
    assert len(unstable) < len(answer), "fewer masks are perfectly stable"


@pytest.mark.slow
def test_inference_client_zero_shot_over_http(server, handler, image):
    client = InferenceClient(base_url=server)
    found = client.zero_shot_image_classification(encode(image), candidate_labels=["cat", "remote"])
    expected = handler({"inputs": encode(image), "parameters": {"candidate_labels": ["cat", "remote"]}})
    assert len(found) == len(expected) > 0
    assert [(item.label, item.score) for item in found] == [(item["label"], item["score"]) for item in expected]
    assert found[0].box == expected[0]["box"] and found[0].mask == expected[0]["mask"]


@pytest.mark.slow
def test_inference_client_image_segmentation_over_http(server, image):
    client = InferenceClient(base_url=server)
    segments = client.image_segmentation(encode(image), threshold=0.0)
    assert segments, "automatic mask generation finds objects (4x4 grid, no stability filter on the test server)"
    for segment in segments:
        assert segment.label == "visual" and 0.0 < segment.score <= 1.0
        assert isinstance(segment.mask, Image.Image) and segment.mask.size == image.size
    masks = [np.asarray(segment.mask) > 0 for segment in segments]
    assert all(iou(a, b) < 0.99 for i, a in enumerate(masks) for b in masks[i + 1 :]), "duplicates suppressed"


class ToolkitTransport:
    """What the inference toolkit does with the requests ``InferenceClient`` sends, at huggingface_hub's HTTP
    transport: a JSON body is the payload; an image body becomes ``{"inputs": <PIL image>}`` with the query string
    as ``parameters``; any other content type is refused (400), as the toolkit's deserializers refuse it. The
    handler's answer (or its ``ValueError``, as a 400) goes back as JSON."""

    ENDPOINT = "sam3.endpoints.example"

    def __init__(self, handler) -> None:
        self.handler = handler
        self.content_types: list[str | None] = []

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.host != self.ENDPOINT:
            # huggingface_hub's own calls to the Hub (its agent-harness list, fetched once per process when its
            # headers are first built) are not the endpoint's: the Hub cannot be reached here.
            return httpx2.Response(404)
        content_type = request.headers.get("content-type")
        self.content_types.append(content_type)
        if content_type == "application/json":
            payload = json.loads(request.content)
        elif content_type and content_type.startswith("image/"):
            payload = {"inputs": Image.open(io.BytesIO(request.content)), "parameters": dict(request.url.params)}
        else:
            return httpx2.Response(400, json={"error": f'Content type "{content_type}" not supported.'})
        try:
            return httpx2.Response(200, json=self.handler(payload))
        except ValueError as error:
            return httpx2.Response(400, json={"error": str(error)})

    @contextmanager
    def installed(self):
        previous = _http._GLOBAL_CLIENT_FACTORY
        _http.set_client_factory(lambda: httpx2.Client(transport=httpx2.MockTransport(self.handle)))
        try:
            yield InferenceClient(base_url=f"https://{self.ENDPOINT}")
        finally:
            _http.set_client_factory(previous)


def with_default_prompts(handler, prompts: tuple[str, ...]) -> SegmentationService:
    """The handler's engine served as a deployment with ``SAM3_DEFAULT_PROMPTS`` set."""
    return SegmentationService(handler.engine, replace(handler.service.settings, default_prompts=prompts))


def main_boxes(answer: dict) -> list[dict]:
    return [dict(zip(("xmin", "ymin", "xmax", "ymax"), box, strict=True)) for box in answer["boxes"]]


def test_inference_client_tasks_through_the_handler(handler, image, image_b64):
    """The three tasks, as the client sends and parses them, with SAM3_DEFAULT_PROMPTS set and a threshold."""
    service = with_default_prompts(handler, ("cat", "remote"))
    main = service({"inputs": {"image": image_b64, "text_prompts": ["cat", "remote"], "confidence_threshold": 0.0}})
    transport = ToolkitTransport(service)
    with transport.installed() as client:
        detected = client.object_detection(encode(image), threshold=0.0)
        segments = client.image_segmentation(encode(image), threshold=0.0)
        classified = client.zero_shot_image_classification(encode(image), candidate_labels=["cat", "dog"])
    assert len(detected) == len(segments) == main["num_objects"] > 0, "no prompt: the deployment's default prompts"
    assert [item.label for item in detected] == main["labels"] and [item.score for item in detected] == main["scores"]
    assert all(isinstance(item.box, ObjectDetectionBoundingBox) for item in detected)
    assert [vars(item.box) for item in detected] == main_boxes(main), "pixel xyxy, as the client reads boxes"
    assert [np.asarray(item.mask) > 0 for item in segments][0].shape == (image.height, image.width)
    for segment, mask in zip(segments, main["masks"], strict=True):
        assert np.array_equal(np.asarray(segment.mask) > 0, decode_mask(mask))
    assert classified and {item.label for item in classified} <= {"cat", "dog"}
    assert transport.content_types == ["application/json"] * 3


@pytest.mark.slow
def test_inference_client_object_detection_and_untyped_image_over_http(server, image, image_b64):
    """Against sam3-serve: no prompt, no default prompts: segment everything (a 4x4 grid on the test server). With
    no parameter the client sends the image bytes with no content type; sam3-serve reads them as the image."""
    client = InferenceClient(base_url=server)
    everything = {"inputs": {"image": image_b64, "automatic": True, "confidence_threshold": 0.0}}
    main = requests.post(server, json=everything, timeout=300).json()
    detected = client.object_detection(encode(image), threshold=0.0)
    assert [vars(item.box) for item in detected] == main_boxes(main) and main["num_objects"] > 0
    assert [item.score for item in detected] == main["scores"] and {item.label for item in detected} == {"visual"}
    untyped = client.image_segmentation(encode(image))  # confidence_threshold 0.5: a subset of the masks
    assert all(segment.score > 0.5 and segment.label == "visual" for segment in untyped)
    assert [segment.score for segment in untyped] == [score for score in main["scores"] if score > 0.5]


@pytest.mark.slow
def test_inference_client_with_default_prompts_over_http(handler, image):
    """The app sam3-serve runs, around a deployment with SAM3_DEFAULT_PROMPTS set: a task call without a prompt."""
    url, server = serve_in_thread(create_app(lambda: with_default_prompts(handler, ("cat",))))
    try:
        wait_until(lambda: requests.get(url + "/health", timeout=5).status_code == 200)
        segments = InferenceClient(base_url=url).image_segmentation(encode(image), threshold=0.0)
        detected = InferenceClient(base_url=url).object_detection(encode(image))
    finally:
        server.should_exit = True
    assert segments and {segment.label for segment in segments} == {"cat"}
    assert all(item.score > 0.5 for item in detected) and {item.label for item in detected} <= {"cat"}
