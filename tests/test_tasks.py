"""InferenceClient task calls: zero-shot-image-classification, image-segmentation and object-detection (prompted,
default prompts, automatic mask generation), in the handler and over HTTP with huggingface_hub's own client."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from huggingface_hub import InferenceClient
from PIL import Image

from sam3_core.api.request import parse_payload
from sam3_core.api.tasks import SEGMENTATION, ZERO_SHOT
from sam3_core.settings import RequestSettings

from helpers import decode_mask, encode, iou


def test_zero_shot_payload_answers_one_element_per_object(handler, image_b64):
    answer = handler({"inputs": image_b64, "parameters": {"candidate_labels": ["cat", "remote"]}})
    main = handler({"inputs": {"image": image_b64, "text_prompts": ["cat", "remote"]}})
    assert isinstance(answer, list) and len(answer) == main["num_objects"] > 0
    assert [item["label"] for item in answer] == main["labels"]
    assert [item["score"] for item in answer] == main["scores"]
    assert [item["mask"] for item in answer] == main["masks"]
    assert [[item["box"][key] for key in ("xmin", "ymin", "xmax", "ymax")] for item in answer] == main["boxes"]


def test_segmentation_payload_with_prompts_and_threshold(handler, image_b64):
    answer = handler({"inputs": image_b64, "parameters": {"threshold": 0.6, "text_prompts": ["dog"], "subtask": None}})
    main = handler({"inputs": {"image": image_b64, "text_prompts": ["dog"], "confidence_threshold": 0.6}})
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
