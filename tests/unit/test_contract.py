"""The three payload forms, response shape and ordering rules, exclusion boxes, thresholds, timings."""

from __future__ import annotations

import numpy as np

from helpers import decode_mask


def strip(response: dict) -> dict:
    return {key: value for key, value in response.items() if key != "timings"}


def test_three_payload_forms_give_the_same_response(handler, image, image_b64):
    main = handler({"inputs": {"image": image_b64, "text_prompts": ["kitten"], "confidence_threshold": 0.5}})
    simple = handler({"data": [image_b64, "kitten", 0.5]})
    hf_style = handler({"inputs": image, "parameters": {"text_prompts": ["kitten"], "confidence_threshold": 0.5}})
    assert main["num_objects"] > 0
    assert strip(main) == strip(simple) == strip(hf_style)
    assert handler({"data": [image_b64, "kitten"]})["scores"] == main["scores"], "threshold defaults to 0.5"


def test_defaults_are_those_documented(handler, image_b64):
    response = handler({"inputs": {"image": image_b64, "text_prompts": ["cat"]}})
    assert all(score > 0.5 for score in response["scores"])
    assert "polygons" not in response and "timings" not in response
    assert response["labels"] == ["cat"] * response["num_objects"]


def test_threshold_is_strictly_greater(handler, image_b64):
    everything = handler({"inputs": {"image": image_b64, "text_prompts": ["cat"], "confidence_threshold": 0.0}})
    cut = sorted(everything["scores"])[len(everything["scores"]) // 2]
    kept = handler({"inputs": {"image": image_b64, "text_prompts": ["cat"], "confidence_threshold": cut}})
    assert kept["scores"] == [score for score in everything["scores"] if score > cut]
    nothing = handler({"inputs": {"image": image_b64, "text_prompts": ["cat"], "confidence_threshold": 1.0}})
    assert nothing == {
        "masks": [],
        "scores": [],
        "num_objects": 0,
        "sam_version": "3.0",
        "prompt_types": ["text"],
        "success": True,
        "boxes": [],
        "labels": [],
        "original_image_size": [320, 240],
    }


def test_objects_are_in_prompt_order_then_by_score(handler, image_b64):
    inputs = {
        "image": image_b64,
        "text_prompts": ["kitten", "cat"],
        "points": [[85, 95]],
        "point_labels": [1],
        "confidence_threshold": 0.3,
    }
    response = handler({"inputs": inputs})
    labels, scores = response["labels"], response["scores"]
    assert labels == sorted(labels, key=["kitten", "cat", "visual"].index)
    assert {"kitten", "cat", "visual"} == set(labels)
    for label in ("kitten", "cat"):
        mine = [s for s, name in zip(scores, labels, strict=True) if name == label]
        assert mine == sorted(mine, reverse=True)
    assert response["prompt_types"] == ["text", "visual"]


def test_visual_boxes_come_from_the_mask(handler, image_b64):
    inputs = {"image": image_b64, "boxes": [[180, 30, 290, 110]], "box_labels": [1], "confidence_threshold": 0.0}
    response = handler({"inputs": inputs})
    mask = decode_mask(response["masks"][0])
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    assert response["boxes"][0] == [cols[0], rows[0], cols[-1] + 1, rows[-1] + 1]


def test_negative_box_removes_its_pixels_from_every_mask(handler, image_b64):
    base = {"image": image_b64, "points": [[85, 95]], "point_labels": [1], "multimask_output": True}
    plain = handler({"inputs": {**base, "confidence_threshold": 0.0}})
    excluded = handler(
        {"inputs": {**base, "boxes": [[50, 60, 150, 200]], "box_labels": [0], "confidence_threshold": 0.0}}
    )
    assert plain["scores"] == excluded["scores"] and plain["num_objects"] == 3
    for before, after in zip(plain["masks"], excluded["masks"], strict=True):
        before, after = decode_mask(before), decode_mask(after)
        assert not after[60:200, 50:150].any()
        outside = np.ones_like(before)
        outside[60:200, 50:150] = False
        assert np.array_equal(before & outside, after)
    assert any(decode_mask(m)[60:200, 50:150].any() for m in plain["masks"]), "the test needs pixels to remove"


def test_one_positive_box_with_points_is_one_object_several_boxes_are_several(handler, image_b64):
    points = {"points": [[85, 95]], "point_labels": [1], "confidence_threshold": 0.0}
    one = handler({"inputs": {"image": image_b64, "boxes": [[30, 40, 140, 150]], "box_labels": [1], **points}})
    two = handler(
        {
            "inputs": {
                "image": image_b64,
                "boxes": [[30, 40, 140, 150], [180, 30, 290, 110]],
                "box_labels": [1, 1],
                **points,
            }
        }
    )
    assert one["num_objects"] == 1 and two["num_objects"] == 3


def test_return_timings(handler, image_b64):
    inputs = {"image": image_b64, "text_prompts": ["cat"], "return_timings": True}
    timings = handler({"inputs": inputs})["timings"]
    assert {"decode_ms", "backbone_ms", "prompts_ms", "postprocess_ms", "cache_hit"} <= set(timings)
    assert all(timings[key] >= 0 for key in ("decode_ms", "backbone_ms", "prompts_ms", "postprocess_ms"))


def test_pil_image_inputs_of_any_mode(handler, image):
    response = handler({"inputs": image.convert("P"), "parameters": {"points": [[5, 5]], "point_labels": [1]}})
    assert response["success"] is True and response["prompt_types"] == ["visual"]


def test_points_and_boxes_without_labels_are_positive(handler, image_b64):
    """As SAM2 clients send them (the README's box example has no labels): the same answer as labels of 1."""
    every = {"image": image_b64, "confidence_threshold": 0.0}
    box = [[180, 30, 290, 110]]
    assert strip(handler({"inputs": {**every, "boxes": box}})) == strip(
        handler({"inputs": {**every, "boxes": box, "box_labels": [1]}})
    )
    points = [[85, 95], [200, 60]]
    unlabelled = handler({"inputs": {**every, "points": points}})
    assert unlabelled["num_objects"] == 1
    assert strip(unlabelled) == strip(handler({"inputs": {**every, "points": points, "point_labels": [1, 1]}}))
    assert strip(unlabelled) != strip(handler({"inputs": {**every, "points": points, "point_labels": [1, 0]}}))
