"""The X-AnyLabeling and Roboflow adapters in process, over the real handler: every malformed request gets a
short error naming the field as the tool sent it (and the next request works); prompts that share exemplar boxes
share a main-API element; thresholds keep scores at or above them. Their clients run in tests/clients."""

from __future__ import annotations

import numpy as np
import pytest

from sam3_core.adapters.roboflow.segment import (
    _strictly_below,
    concept_prompts,
    concept_segment,
    group_prompts,
    visual_segment,
)
from sam3_core.adapters.xanylabeling import video
from sam3_core.adapters.xanylabeling.protocol import predict
from sam3_core.errors import RequestError
from sam3_core.settings import Limits

from helpers import b64, encode, scene

IMAGE = b64(encode(scene(64, 48)))
LIMITS = Limits()
ROBOFLOW_IMAGE = {"type": "base64", "value": IMAGE}

CONCEPT_REFUSALS = {
    "no prompts": ({}, "prompts", "expected a list"),
    "too many prompts": ({"prompts": [{"text": "cat"}] * 17}, "prompts", "send 1 to 16"),
    "a prompt that is not an object": ({"prompts": ["cat"]}, "prompts[0]", "expected an object"),
    "neither text nor boxes": ({"prompts": [{"type": "text"}]}, "prompts[0]", "needs a text or boxes"),
    "visual without boxes": ({"prompts": [{"type": "visual", "text": "cat"}]}, "prompts[0].boxes", "needs at least"),
    "another type": ({"prompts": [{"type": "mask", "text": "cat"}]}, "prompts[0].type", "'text' or 'visual'"),
    "a box without its height": (
        {"prompts": [{"boxes": [{"x": 1, "y": 2, "width": 3}]}]},
        "prompts[0].boxes[0].height",
        "expected a number",
    ),
    "a negative width": (
        {"prompts": [{"boxes": [{"x": 1, "y": 2, "width": -3, "height": 4}]}]},
        "prompts[0].boxes[0]",
        "negative",
    ),
    "labels that do not match the boxes": (
        {"prompts": [{"boxes": [{"x0": 1, "y0": 2, "x1": 3, "y1": 4}], "box_labels": [1, 0]}]},
        "prompts[0].box_labels",
        "2 labels for 1 boxes",
    ),
    "a threshold above 1": (
        {"prompts": [{"text": "cat", "output_prob_thresh": 2}]},
        "prompts[0].output_prob_thresh",
        "",
    ),
    "a blank text": ({"prompts": [{"text": "  "}]}, "prompts[0].text", "is empty"),
    "a text over the length limit": ({"prompts": [{"text": "cat " * 200}]}, "prompts[0].text", "characters"),
    "another mask format": ({"prompts": [{"text": "cat"}], "format": "png"}, "format", "polygon, json, rle"),
    "a numpy image": ({"prompts": [{"text": "cat"}], "image": {"type": "numpy", "value": ""}}, "image.type", ""),
    "an image that is not one": (
        {"prompts": [{"text": "cat"}], "image": {"type": "base64", "value": "aGVsbG8="}},
        "image",
        "",
    ),
}
VISUAL_REFUSALS = {
    "no prompts": ({}, "prompts", "at least one"),
    "a prompt with neither points nor a box": ({"prompts": {"prompts": [{}]}}, "prompts[0]", "points or a box"),
    "a point without y": ({"prompts": [{"points": [{"x": 1}]}]}, "prompts[0].points[0].y", "expected a number"),
    "a point outside the image": ({"prompts": [{"points": [{"x": 100, "y": 1}]}]}, "prompts[0].points[0]", "outside"),
    "multimask as text": ({"prompts": [{"points": [{"x": 1, "y": 1}]}], "multimask_output": "yes"}, "multimask", ""),
}
X_ANYLABELING_REFUSALS = {
    "another model": ({"model": "yolo"}, "model", "segment_anything_3"),
    "marks that are not a list": ({"params": {"marks": {"type": "point"}}}, "params.marks", "expected a list"),
    "another mark": ({"params": {"marks": [{"type": "polygon"}]}}, "params.marks[0].type", "auto_grid"),
    "a box of three numbers": (
        {"params": {"marks": [{"type": "rectangle", "data": [1, 2, 3], "label": 1}]}},
        "params.marks[0].data",
        "4 numbers",
    ),
    "a label of 2": (
        {"params": {"marks": [{"type": "point", "data": [1, 2], "label": 2}]}},
        "params.marks[0].label",
        "1 (positive) or 0",
    ),
    "a confidence above 1": ({"params": {"text_prompt": "cat", "conf_threshold": 1.5}}, "params.conf_threshold", ""),
    "another task": ({"params": {"text_prompt": "cat", "current_task": "mask"}}, "params.current_task", "polygon"),
    "a text prompt that is a list": ({"params": {"text_prompt": ["cat"]}}, "params.text_prompt", "a string"),
}


def refused(call, body, field, words):
    with pytest.raises(RequestError) as caught:
        call(body)
    message = str(caught.value)
    assert message.startswith(field) and words in message and len(message) < 200, message


X_ANYLABELING_VIDEO_REFUSALS = {
    "no session": ({"text_prompt": "cat", "frame_index": 0}, "session_id", "/v1/video/init"),
    "a click beyond the frame": (
        {"session_id": "x", "frame_index": 0, "points": [[1.5, 0.5]], "point_labels": [1], "obj_id": 10000},
        "points[0]",
        "outside [0, 1]",
    ),
    "no prompt": ({"session_id": "x", "frame_index": 0}, "text_prompt", "or points"),
    "an unknown session": ({"session_id": "gone", "frame_index": 0, "text_prompt": "cat"}, "session_id", "unknown"),
}


@pytest.mark.parametrize("name", list(X_ANYLABELING_VIDEO_REFUSALS))
def test_x_anylabeling_video_refusals_name_the_field(handler, name):
    body, field, words = X_ANYLABELING_VIDEO_REFUSALS[name]
    refused(lambda sent: video.prompt(sent, handler, video.Fineness()), body, field, words)


def test_x_anylabeling_propagation_reads_its_range():
    payload = video.propagation_payload({"session_id": "s", "start_frame": 3, "end_frame": 7})
    assert payload == {
        "inputs": {
            "type": "propagate_in_video",
            "session_id": "s",
            "propagation_direction": "forward",
            "start_frame_index": 3,
            "max_frame_num_to_track": 4,
        }
    }
    refused(video.propagation_payload, {"session_id": "s", "start_frame": -1}, "start_frame", "outside")


@pytest.mark.parametrize("name", list(CONCEPT_REFUSALS))
def test_roboflow_concept_refusals_name_the_field(handler, name):
    body, field, words = CONCEPT_REFUSALS[name]
    refused(lambda sent: concept_segment({"image": ROBOFLOW_IMAGE, **sent}, handler, LIMITS), body, field, words)


@pytest.mark.parametrize("name", list(VISUAL_REFUSALS))
def test_roboflow_visual_refusals_name_the_field(handler, name):
    body, field, words = VISUAL_REFUSALS[name]
    refused(lambda sent: visual_segment({"image": ROBOFLOW_IMAGE, **sent}, handler, LIMITS), body, field, words)


@pytest.mark.parametrize("name", list(X_ANYLABELING_REFUSALS))
def test_x_anylabeling_refusals_name_the_field(handler, name):
    body, field, words = X_ANYLABELING_REFUSALS[name]
    sent = {"model": "segment_anything_3", "image": "data:image/png;base64," + IMAGE, **body}
    refused(lambda payload: predict(payload, handler), sent, field, words)


def test_after_refusals_the_next_requests_work(handler):
    answer = concept_segment(
        {"image": ROBOFLOW_IMAGE, "prompts": [{"text": "cat"}], "output_prob_thresh": 0}, handler, LIMITS
    )
    assert answer["prompt_results"][0]["predictions"]
    shapes = predict(
        {"image": "data:image/png;base64," + IMAGE, "params": {"marks": [{"type": "point", "data": [9, 9]}]}}, handler
    )
    assert shapes["data"]["shapes"] and shapes["data"]["shapes"][0]["label"] == "AUTOLABEL_OBJECT"


def test_prompts_that_share_exemplars_share_an_element_but_never_a_text():
    box = {"x0": 1, "y0": 1, "x1": 9, "y1": 9}
    prompts = concept_prompts(
        {
            "prompts": [
                {"text": "cat"},
                {"text": "dog"},
                {"text": "cat"},
                {"text": "cat", "boxes": [box]},
                {"boxes": [box]},
            ]
        },
        LIMITS,
    )
    assert group_prompts(prompts) == [[0, 1], [2], [3, 4]]
    assert [prompt.text for prompt in prompts] == ["cat", "dog", "cat", "cat", "visual"]


@pytest.mark.parametrize("threshold", [0.5, 0.2316, 1.0, 1e-9])
def test_a_threshold_keeps_scores_at_or_above_it(threshold):
    below = _strictly_below(threshold)
    assert below < threshold and np.float32(threshold) > np.float32(below)  # a score equal to it passes ">"
    assert _strictly_below(0.0) == 0.0
