"""Other SAM clients' request styles (sam3_core.api.vocabulary, request.payload_parts): the names they send read
as the main API's, the transformers processors' nesting with its own objects, options beside ``inputs``, base64
with line breaks, and every top-level key either read or refused, never dropped. Parsing is checked on its own
(cheap); the answers through the real handler on the tiny checkpoint."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from sam3_core.api.request import parse_payload
from sam3_core.errors import RequestError
from sam3_core.settings import RequestSettings

from helpers import decode_mask, encode, iou, scene

SETTINGS = RequestSettings()
IMAGE = scene(64, 48)
B64 = base64.b64encode(encode(IMAGE)).decode()


def parsed(payload):
    request = parse_payload(payload, SETTINGS)
    return {
        "task": request.task,
        "text_prompts": request.text_prompts,
        "confidence_threshold": request.confidence_threshold,
        "objects": request.visual_objects,
        "exemplars": request.work().exemplar_boxes,
        "multimask_output": request.multimask_output,
    }


SAME = {
    # name: (a request in another client's style, the main-API request it means)
    "prompt": ({"inputs": {"image": B64, "prompt": "cat"}}, {"inputs": {"image": B64, "text_prompts": ["cat"]}}),
    "prompts": (
        {"inputs": {"image": B64, "prompts": ["cat", "dog"], "threshold": 0.2}},
        {"inputs": {"image": B64, "text_prompts": ["cat", "dog"], "confidence_threshold": 0.2}},
    ),
    "parameters of the Hugging Face convention": (
        {"inputs": "data:image/png;base64," + B64, "parameters": {"prompt": "buildings", "threshold": 0.3}},
        {"inputs": B64, "parameters": {"text_prompts": ["buildings"], "threshold": 0.3}},
    ),
    "options beside an image": (
        {"inputs": B64, "prompt": "cat", "threshold": 0.1},
        {"inputs": B64, "parameters": {"text_prompts": ["cat"], "threshold": 0.1}},
    ),
    "options beside an inputs object": (
        {"inputs": {"image": B64, "text_prompts": ["cat"]}, "confidence_threshold": 0.7, "options": {"use_cache": 1}},
        {"inputs": {"image": B64, "text_prompts": ["cat"], "confidence_threshold": 0.7}},
    ),
    "one object's points (SamProcessor)": (
        {"inputs": {"image": B64, "input_points": [[[10, 10], [20, 30]]], "input_labels": [[1, 0]]}},
        {"inputs": {"image": B64, "points": [[10, 10], [20, 30]], "point_labels": [1, 0]}},
    ),
    "boxes without the image level": (
        {"inputs": {"image": B64, "input_boxes": [[1, 2, 30, 40], [5, 5, 60, 45]], "multimask_output": True}},
        {"inputs": {"image": B64, "boxes": [[1, 2, 30, 40], [5, 5, 60, 45]], "box_labels": [1, 1]}, "parameters": {}}
        | {"parameters": {"multimask_output": True}},
    ),
    "a box and its points (Sam3TrackerProcessor)": (
        {"inputs": {"image": B64, "input_boxes": [[[1, 2, 30, 40]]], "input_points": [[[[10, 10]]]]}},
        {
            "inputs": {
                "image": B64,
                "boxes": [[1, 2, 30, 40]],
                "box_labels": [1],
                "points": [[10, 10]],
                "point_labels": [1],
            }
        },
    ),
    "exemplar boxes with text": (
        {"inputs": {"image": B64, "prompt": "cat", "input_boxes": [[[1, 2, 30, 40]]]}},
        {"inputs": {"image": B64, "text_prompts": ["cat"], "boxes": [[1, 2, 30, 40]], "box_labels": [1]}},
    ),
    "restating fields that agree with the request": (
        {
            "inputs": {"image": B64, "text_prompts": ["cat"], "points": [[3, 4]], "prompt_types": ["visual", "text"]},
            "parameters": {"sam_version": "3.0", "return_masks": True, "return_scores": True, "return_boxes": True},
        },
        {"inputs": {"image": B64, "text_prompts": ["cat"], "points": [[3, 4]]}},
    ),
    "a prompt's type beside the prompt": (
        {
            "inputs": {
                "image": B64,
                "boxes": [[1, 2, 30, 40]],
                "prompt_type": "boxes",
                "polygon_format": "pixel_coordinates",
            }
        },
        {"inputs": {"image": B64, "boxes": [[1, 2, 30, 40]]}},
    ),
    "Gradio's keys beside the simple API": (
        {"data": [B64, "cat", 0.4], "fn_index": 0, "session_hash": "abc", "event_data": None},
        {"data": [B64, "cat", 0.4]},
    ),
}


@pytest.mark.parametrize("name", list(SAME))
def test_other_names_mean_the_main_request(name):
    other, main = SAME[name]
    assert parsed(other) == parsed(main)


def test_processor_objects_keep_their_grouping():
    points = [[[[10, 10], [20, 20]], [[30, 30]]]]
    request = parse_payload(
        {"inputs": {"image": B64, "input_points": points, "input_labels": [[[1, 0], [1]]]}}, SETTINGS
    )
    assert [(obj.points, obj.point_labels, obj.box) for obj in request.visual_objects] == [
        (((10.0, 10.0), (20.0, 20.0)), (1, 0), None),
        (((30.0, 30.0),), (1,), None),
    ], "two objects, as Sam3TrackerProcessor reads them (the main API's points would be one object)"
    paired = parse_payload(
        {"inputs": {"image": B64, "input_boxes": [[[0, 0, 20, 20], [25, 25, 60, 47]]], "input_points": points}},
        SETTINGS,
    )
    assert [obj.box for obj in paired.visual_objects] == [(0.0, 0.0, 20.0, 20.0), (25.0, 25.0, 60.0, 47.0)]
    assert [obj.point_labels for obj in paired.visual_objects] == [(1, 1), (1,)], "labels default to 1"
    with_text = parse_payload({"inputs": {"image": B64, "prompt": "cat", "input_points": points}}, SETTINGS)
    assert len(with_text.visual_objects) == 2 and with_text.prompt_types == ["text", "visual"]


REFUSED = {
    # name: (payload, the error's field, what it says)
    "alias and main name": ({"inputs": {"image": B64, "prompt": "a", "text_prompts": ["b"]}}, "prompt", "same field"),
    "two aliases": ({"inputs": {"image": B64, "prompt": "a", "prompts": ["b"]}}, "prompts", "as 'prompt'"),
    "threshold twice": (
        {"inputs": B64, "parameters": {"threshold": 0.2, "confidence_threshold": 0.3}},
        "threshold",
        "",
    ),
    "beside and in parameters": (
        {"inputs": B64, "prompt": "a", "parameters": {"prompt": "b"}},
        "prompt",
        "give it once",
    ),
    "labels and prompt": ({"inputs": B64, "parameters": {"candidate_labels": ["a"], "prompt": "b"}}, "candidate_", ""),
    "misspelt beside inputs": (
        {"inputs": {"image": B64, "prompt": "a"}, "promt": "b"},
        "promt",
        "did you mean 'prompt'",
    ),
    "unknown option": ({"inputs": {"image": B64, "prompt": "a"}, "options": {"wait": 1}}, "options.wait", "unknown"),
    "inputs and data": ({"inputs": {"image": B64, "prompt": "a"}, "data": [B64, "a"]}, "data", "not both"),
    "unknown key beside data": ({"data": [B64, "cat"], "threshold": 0.2}, "threshold", "simple API"),
    "processor points beside points": (
        {"inputs": {"image": B64, "input_points": [[[1, 1]]], "points": [[2, 2]], "point_labels": [1]}},
        "input_points",
        "same field as 'points'",
    ),
    "main labels for processor points": (
        {"inputs": {"image": B64, "input_points": [[[1, 1]]], "point_labels": [1]}},
        "point_labels",
        "input_labels",
    ),
    "labels without points": (
        {"inputs": {"image": B64, "input_labels": [[1]]}},
        "input_labels",
        "without input_points",
    ),
    "two images' points": (
        {"inputs": {"image": B64, "input_points": [[[1, 1]], [[2, 2]]]}},
        "input_points",
        "2 images",
    ),
    "points too shallow": ({"inputs": {"image": B64, "input_points": [[1, 1]]}}, "input_points", "expected [[[["),
    "a bad coordinate": ({"inputs": {"image": B64, "input_points": [[[[1, "x"]]]]}}, "input_points[0][0][0][1]", ""),
    "a point outside": (
        {"inputs": {"image": B64, "input_points": [[[[1, 1]], [[99, 1]]]]}},
        "input_points[0][1][0]",
        "",
    ),
    "boxes and groups that do not pair": (
        {"inputs": {"image": B64, "input_boxes": [[1, 1, 9, 9]], "input_points": [[[[1, 1]], [[2, 2]]]]}},
        "input_boxes",
        "one group per box",
    ),
    "labels of the wrong length": (
        {"inputs": {"image": B64, "input_points": [[[[1, 1], [2, 2]]]], "input_labels": [[[1]]]}},
        "input_labels[0][0]",
        "1 labels for 2 points",
    ),
    "a prompt type the request contradicts": (
        {"inputs": {"image": B64, "text_prompts": ["cat"], "prompt_type": "points"}},
        "prompt_type",
        "says 'points', but the request's prompts are ['text']",
    ),
    "points asked for, only a box given": (
        {"inputs": {"image": B64, "boxes": [[1, 2, 30, 40]], "prompt_type": "point"}},
        "prompt_type",
        "says 'point'",
    ),
    "the answer's prompt types contradicted": (
        {"inputs": {"image": B64, "text_prompts": ["cat"], "prompt_types": ["text", "visual"]}},
        "prompt_types",
        "the request's prompts are ['text']",
    ),
    "an unknown prompt type": (
        {"inputs": {"image": B64, "prompt": "cat", "prompt_type": "mask"}},
        "prompt_type",
        "one of",
    ),
    "masks asked not to be returned": (
        {"inputs": {"image": B64, "prompt": "cat", "return_masks": False}},
        "return_masks",
        "every answer carries the masks",
    ),
    "another SAM version": (
        {"inputs": {"image": B64, "prompt": "cat", "sam_version": "2.1"}},
        "sam_version",
        "SAM 3.0",
    ),
    "polygons in another convention": (
        {"inputs": {"image": B64, "prompt": "cat", "polygon_format": "normalized"}},
        "polygon_format",
        "pixels only",
    ),
    "an unknown field still refused": (
        {"inputs": {"image": B64, "prompt": "cat", "return_mask": True}},
        "return_mask",
        "did you mean 'return_masks'",
    ),
    "an empty prompt under another name": ({"inputs": {"image": B64, "prompts": ["a", " "]}}, "prompts[1]", "empty"),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_ambiguous_or_unknown_names_are_refused(name):
    payload, field, problem = REFUSED[name]
    with pytest.raises(RequestError) as caught:
        parse_payload(payload, SETTINGS)
    message = str(caught.value)
    assert message.startswith(f"{field}") and problem in message and len(message) < 300, message


def test_base64_with_line_breaks_reads_as_the_same_image():
    wrapped = base64.encodebytes(encode(IMAGE)).decode()  # a line break every 76 characters
    assert "\n" in wrapped.strip()
    with_breaks = parse_payload({"inputs": {"image": wrapped, "text_prompts": ["cat"]}}, SETTINGS)
    plain = parse_payload({"inputs": {"image": B64, "text_prompts": ["cat"]}}, SETTINGS)
    assert np.array_equal(np.asarray(with_breaks.image.pixels()), np.asarray(plain.image.pixels()))


def test_hugging_face_convention_answers_the_task_list(handler, image_b64):
    """The issue's request: an image as inputs, prompt and threshold in parameters (or beside inputs)."""
    answer = handler(
        {"inputs": "data:image/png;base64," + image_b64, "parameters": {"prompt": "cat", "threshold": 0.0}}
    )
    beside = handler({"inputs": image_b64, "prompt": "cat", "threshold": 0.0})
    main = handler({"inputs": {"image": image_b64, "text_prompts": ["cat"], "confidence_threshold": 0.0}})
    assert answer == beside and len(answer) == main["num_objects"] > 0
    assert [item["label"] for item in answer] == ["cat"] * main["num_objects"], "not segment-everything's 'visual'"
    assert [item["mask"] for item in answer] == main["masks"] and [item["score"] for item in answer] == main["scores"]
    assert [list(item["box"].values()) for item in answer] == main["boxes"]
    assert all(list(item["box"]) == ["xmin", "ymin", "xmax", "ymax"] for item in answer)


def test_processor_objects_answer_as_each_object_alone(handler, image_b64):
    every = {"image": image_b64, "confidence_threshold": 0.0}  # random weights: keep each object, whatever its score
    both = handler(
        {"inputs": {**every, "input_points": [[[[80, 60]], [[240, 180], [200, 100]]]],
                    "input_labels": [[[1], [1, 0]]]}}
    )  # fmt: skip
    first = handler({"inputs": {**every, "points": [[80, 60]], "point_labels": [1]}})
    second = handler({"inputs": {**every, "points": [[240, 180], [200, 100]], "point_labels": [1, 0]}})
    assert both["num_objects"] == 2 and both["labels"] == ["visual", "visual"]
    for index, alone in enumerate((first, second)):
        assert abs(both["scores"][index] - alone["scores"][0]) <= 1e-4
        assert iou(decode_mask(both["masks"][index]), decode_mask(alone["masks"][0])) >= 0.999
