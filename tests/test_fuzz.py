"""Property-based fuzzing of the payload parser and the whole handler: every generated payload is answered with a
response or a clean ``ValueError`` (``RequestError``), never any other exception.

CI runs 2,000 parser payloads and 300 full-handler payloads; ``make fuzz SCALE=N`` runs N times more.
"""

from __future__ import annotations

import base64
import math
import os

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sam3_core.errors import RequestError
from sam3_core.request import FIELDS, SegmentRequest, parse_payload
from sam3_core.settings import Limits, RequestSettings

from helpers import b64, encode, scene

SCALE = int(os.environ.get("SAM3_FUZZ_SCALE", "1"))
SMALL_PNG = encode(scene(16, 12))
LIMITS = RequestSettings(Limits(max_image_pixels=4_000_000))

numbers = (
    st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.floats(min_value=-5, max_value=40)
    | st.sampled_from([0, 1, -1, 2, 0.5, 1e308, -0.0, math.nan, math.inf])
)
scalars = st.none() | st.booleans() | numbers | st.text(max_size=40) | st.binary(max_size=40)
json_like = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=25,
)
images = st.one_of(
    st.just(b64(SMALL_PNG)),
    st.just(SMALL_PNG),
    st.just("data:image/png;base64," + base64.urlsafe_b64encode(SMALL_PNG).decode().rstrip("=")),
    st.binary(max_size=200).map(lambda raw: base64.b64encode(raw).decode()),
    st.binary(max_size=200),
    st.binary(min_size=1, max_size=300).map(lambda junk: b64(SMALL_PNG[:60] + junk)),  # corrupt PNG body
    st.text(max_size=60),
    json_like,
)
points = st.lists(st.lists(numbers, min_size=0, max_size=3), max_size=6) | json_like
boxes = st.lists(st.lists(numbers, min_size=3, max_size=5), max_size=6) | json_like
labels = st.lists(st.sampled_from([0, 1]) | numbers, max_size=6) | json_like
prompts = st.lists(st.text(max_size=40) | json_like, max_size=5) | st.text(max_size=40) | json_like
fields = st.fixed_dictionaries(
    {"image": images},
    optional={
        "text_prompts": prompts,
        "points": points,
        "point_labels": labels,
        "boxes": boxes,
        "box_labels": labels,
        "multimask_output": st.booleans() | json_like,
        "confidence_threshold": numbers | json_like,
        "vectorize": st.booleans() | json_like,
        "simplify_epsilon": numbers | json_like,
        "max_objects": numbers | json_like,
        "return_timings": st.booleans(),
        "colour": json_like,
    },
)
IMAGES = {size: b64(encode(scene(*size))) for size in [(16, 12), (1, 1), (3, 40)]}


@st.composite
def plausible(draw):
    """Valid payloads with edge values (points on borders, boxes hanging off the image, thresholds 0 and 1,
    huge epsilons, one-pixel images), so inference, upsampling, exclusion and encoding see the corners."""
    width, height = size = draw(st.sampled_from(sorted(IMAGES)))
    x = st.floats(min_value=0, max_value=width)
    y = st.floats(min_value=0, max_value=height)
    extent = st.floats(min_value=0.01, max_value=60)
    point_count, box_count = draw(st.integers(0, 4)), draw(st.integers(0, 3))
    boxes = []
    for _ in range(box_count):
        x1, y1 = (
            draw(st.floats(min_value=-5, max_value=width - 0.01)),
            draw(st.floats(min_value=-5, max_value=height - 0.01)),
        )
        boxes.append([x1, y1, max(x1, 0) + draw(extent), max(y1, 0) + draw(extent)])
    text = draw(st.lists(st.sampled_from(["cat", "a dog", "x", "red ball", "é猫", "cat"]), max_size=3))
    if not text and not point_count and not box_count:
        point_count = 1
    return {
        "inputs": {
            "image": IMAGES[size],
            "text_prompts": text,
            "points": draw(st.lists(st.tuples(x, y).map(list), min_size=point_count, max_size=point_count)),
            "point_labels": draw(st.lists(st.sampled_from([0, 1]), min_size=point_count, max_size=point_count)),
            "boxes": boxes,
            "box_labels": draw(st.lists(st.sampled_from([0, 1]), min_size=box_count, max_size=box_count)),
            "multimask_output": draw(st.booleans()),
            "confidence_threshold": draw(st.sampled_from([0.0, 0.3, 0.5, 1.0])),
            "vectorize": draw(st.booleans()),
            "simplify_epsilon": draw(st.sampled_from([0.0, 0.5, 2.0, 1000.0])),
            "max_objects": draw(st.integers(1, 100)),
        }
    }


payloads = st.one_of(
    plausible(),
    plausible(),
    fields.map(lambda inputs: {"inputs": inputs}),
    st.tuples(images, fields).map(
        lambda pair: {"inputs": pair[0], "parameters": {k: v for k, v in pair[1].items() if k != "image"}}
    ),
    st.lists(images | st.text(max_size=20) | numbers | json_like, max_size=4).map(lambda data: {"data": data}),
    st.dictionaries(st.sampled_from(["inputs", "data", "parameters", "x"]), json_like, max_size=3),
    json_like,
)


@pytest.mark.slow
@settings(max_examples=2000 * SCALE, deadline=None, suppress_health_check=list(HealthCheck))
@given(payloads)
def test_parser_answers_a_request_or_a_clean_error(payload):
    try:
        request = parse_payload(payload, LIMITS)
    except RequestError as error:
        assert str(error).split(":", 1)[0] and "\n" not in str(error) and len(str(error)) < 400
        return
    assert isinstance(request, SegmentRequest)
    assert request.text_prompts or request.points or 1 in request.box_labels or request.automatic
    assert len(request.points) == len(request.point_labels) and len(request.boxes) == len(request.box_labels)
    assert all(math.isfinite(v) for box in request.boxes for v in box)
    assert 0.0 <= request.confidence_threshold <= 1.0 and set(FIELDS) >= {"image"}


@pytest.mark.slow
@settings(max_examples=300 * SCALE, deadline=None, suppress_health_check=list(HealthCheck))
@given(payload=payloads)
def test_handler_answers_a_response_or_a_clean_error(handler, monkeypatch, payload):
    monkeypatch.setattr(handler.engine, "amg_points_per_side", 4)  # automatic requests: a 4x4 grid, for speed
    try:
        response = handler(payload)
    except ValueError as error:
        assert isinstance(error, RequestError), repr(error)
        event(f"error on {error.field.split('[')[0]}")
        return
    if isinstance(response, list):  # an InferenceClient task's answer
        event(f"answered a task, {'some' if response else 'no'} objects")
        assert all({"label", "score", "mask"} <= set(item) for item in response)
        return
    event(f"answered, {'some' if response['num_objects'] else 'no'} objects")
    assert response["success"] is True
    assert response["num_objects"] == len(response["masks"]) == len(response["scores"]) == len(response["labels"])
