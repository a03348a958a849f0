"""Roboflow's own client (``inference-sdk``'s ``InferenceHTTPClient``, its key sent as ``Authorization: Bearer``)
against ``sam3-serve``'s SAM3 routes: its answers are the main API's for the same prompts, in Roboflow's
conventions (concept boxes anchored at their top-left corner, visual boxes at their centre; thresholds keep
scores at or above the value); a refusal reaches it with its reason; a key sent only in the body is refused."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as coco_mask

from helpers import b64, decode_mask, fill_polygon, iou
from tool_clients import TOKEN, run_driver


@pytest.fixture(scope="module")
def received(tools_url, scene_file):
    return run_driver("roboflow", "drive_roboflow.py", tools_url, TOKEN, str(scene_file))


def main_answer(handler, scene_file, **fields):
    return handler({"inputs": {"image": b64(scene_file.read_bytes()), **fields}})


def rle_mask(prediction) -> np.ndarray:
    assert prediction["format"] == "rle"
    encoded = dict(prediction["masks"], counts=prediction["masks"]["counts"].encode())
    return coco_mask.decode(encoded).astype(bool)


def assert_same_instances(predictions, answer, label, threshold):
    """``predictions`` are ``answer``'s instances of ``label`` scored at or above ``threshold``, in order, within
    the tolerance of a batch (a request's prompts run as one batch of main-API elements: other kernels)."""
    expected = [k for k, (name, score) in enumerate(zip(answer["labels"], answer["scores"], strict=True))
                if name == label and score >= threshold]  # fmt: skip
    assert len(predictions) == len(expected) > 0
    for prediction, k in zip(predictions, expected, strict=True):
        assert prediction["confidence"] == pytest.approx(answer["scores"][k], abs=1e-4)
        assert iou(rle_mask(prediction), decode_mask(answer["masks"][k])) >= 0.999


def test_text_prompts_with_their_own_thresholds(received, handler, scene_file):
    disc, square = received["concept_text"]["prompt_results"]
    assert disc["echo"] == {"prompt_index": 0, "type": "text", "text": "disc", "num_boxes": 0}
    answer = main_answer(handler, scene_file, text_prompts=["disc", "square"], confidence_threshold=0.05)
    assert_same_instances(disc["predictions"], answer, "disc", 0.1)
    assert_same_instances(square["predictions"], answer, "square", 0.2316)  # 5 of 20


def test_exemplar_boxes_are_anchored_at_their_top_left_corner(received, handler, scene_file):
    with_text, boxes_alone = received["concept_boxes"]["prompt_results"]
    assert with_text["echo"]["type"] == boxes_alone["echo"]["type"] == "visual"
    answer = main_answer(
        handler, scene_file, text_prompts=["disc"], boxes=[[40, 30, 120, 90]], confidence_threshold=0.05
    )
    assert_same_instances(with_text["predictions"], answer, "disc", 0.1)
    visual = main_answer(
        handler, scene_file, text_prompts=["visual"], boxes=[[150, 100, 260, 200]], confidence_threshold=0.05
    )
    assert_same_instances(boxes_alone["predictions"], visual, "visual", 0.1)


def test_nms_keeps_no_two_instances_that_overlap_more(received):
    results = received["concept_polygons_nms"]["prompt_results"]
    kept = [prediction for result in results for prediction in result["predictions"]]
    assert kept and all(prediction["format"] == "polygon" for prediction in kept)
    drawn = []
    for prediction in kept:
        mask = np.zeros((240, 320), bool)
        for polygon in prediction["masks"]:
            mask |= fill_polygon(polygon, mask.shape)
        drawn.append(mask)
    before = received["concept_text"]["prompt_results"]
    assert len(kept) < sum(len(result["predictions"]) for result in before)  # the random masks overlap a lot
    for i in range(len(drawn)):
        for j in range(i):
            assert iou(drawn[i], drawn[j]) <= 0.55  # 0.5 on the masks; outlines through pixel centres differ a bit


def test_visual_prompts_are_one_object_each_with_centred_boxes(received, handler, scene_file):
    click, box = received["visual"]["predictions"]
    clicked = main_answer(handler, scene_file, points=[[100, 90], [20, 20]], point_labels=[1, 0],
                          multimask_output=True, confidence_threshold=0)  # fmt: skip
    boxed = main_answer(handler, scene_file, boxes=[[40, 40, 200, 180]], multimask_output=True, confidence_threshold=0)
    for prediction, answer in ((click, clicked), (box, boxed)):
        assert prediction["confidence"] == pytest.approx(answer["scores"][0], abs=1e-6)
        assert iou(rle_mask(prediction), decode_mask(answer["masks"][0])) >= 0.999


def test_embed_answers_the_image_id(received):
    assert received["embed"]["image_id"] == "scene-1"
    assert len(received["embed_digest"]["image_id"]) == 40


def test_a_refusal_reaches_the_client_with_its_reason_and_the_key_goes_in_a_header(received):
    assert received["refused"] == {"status": 400, "message": "prompts[0].boxes[0].y: expected a number, got NoneType"}
    assert received["key_in_body"]["status"] == 401
    assert TOKEN not in received["key_in_body"]["message"]
