"""Segment everything as a request: ``"automatic": true`` or SAM's automatic-mask-generator options, validated,
and a long run that does not hold other requests for its whole duration."""

from __future__ import annotations

import threading
import time

import pytest

from sam3_core.errors import RequestError

from helpers import b64, encode, scene

FEW = {"points_per_side": 4, "stability_score_thresh": 0.0}  # a 4x4 grid, no stability filter: random weights


def everything(handler, image_b64: str, **options) -> dict:
    payload = {"image": image_b64, "automatic": {**FEW, **options}, "confidence_threshold": 0.0}
    return handler({"inputs": payload})


def test_automatic_returns_visual_objects_and_its_options_filter_them(handler, image_b64):
    found = everything(handler, image_b64)
    assert found["num_objects"] > 0 and set(found["labels"]) == {"visual"} and found["prompt_types"] == ["visual"]
    # The image-segmentation task form (InferenceClient, the toolkit's binary body) takes the same options.
    task = handler({"inputs": image_b64, "parameters": {"automatic": FEW, "confidence_threshold": 0.0}})
    assert sorted(item["score"] for item in task) == sorted(found["scores"])
    assert everything(handler, image_b64, min_area=320 * 240 + 1)["num_objects"] == 0, "nothing covers more"
    assert everything(handler, image_b64, stability_score_thresh=1.0)["num_objects"] < found["num_objects"]
    fewer = everything(handler, image_b64, box_nms_thresh=0.05)["num_objects"]
    assert 0 < fewer <= everything(handler, image_b64, box_nms_thresh=1.0)["num_objects"]
    defaults = handler({"inputs": {"image": image_b64, "automatic": True, "confidence_threshold": 0.0}})
    assert defaults["prompt_types"] == ["visual"]


@pytest.mark.parametrize(
    "automatic,extra,message",
    [
        ({"points_per_sid": 4}, {}, "^automatic.points_per_sid: unknown option; did you mean 'points_per_side'"),
        ({"points_per_side": 65}, {}, "^automatic.points_per_side: "),
        ({"points_per_side": 2.5}, {}, "^automatic.points_per_side: "),
        ({"box_nms_thresh": 10**400}, {}, "^automatic.box_nms_thresh: "),
        ({"min_area": -1}, {}, "^automatic.min_area: "),
        ("yes", {}, "^automatic: expected true or an object"),
        (True, {"text_prompts": ["cat"]}, "^automatic: segments everything: send it without"),
    ],
)
def test_bad_automatic_options_name_the_option(handler, image_b64, automatic, extra, message):
    with pytest.raises(RequestError, match=message):
        handler({"inputs": {"image": image_b64, "automatic": automatic, **extra}})


def test_a_long_segment_everything_lets_a_click_through(handler):
    slow = b64(encode(scene(320, 240)))
    quick = {"image": b64(encode(scene(96, 64))), "points": [[30, 20]], "point_labels": [1]}
    handler({"inputs": quick})  # its features cached: the click is short
    finished: dict[str, float] = {}

    def run(name: str, payload: dict) -> None:
        handler({"inputs": payload})
        finished[name] = time.monotonic()

    long_run = threading.Thread(
        target=run, args=("automatic", {"image": slow, "automatic": {"points_per_side": 16}, "confidence_threshold": 0})
    )
    long_run.start()
    deadline = time.monotonic() + 60
    while not handler.engine._lock.locked() and time.monotonic() < deadline:
        time.sleep(0.005)
    run("click", quick)
    assert long_run.is_alive(), "the click was answered while segment-everything was still running"
    long_run.join(timeout=300)
    assert finished["click"] < finished["automatic"]
