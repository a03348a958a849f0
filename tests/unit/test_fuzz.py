"""Property-based fuzzing of the payload parser and the whole handler: every generated payload is answered with a
response or a clean ``ValueError`` (``RequestError``) whose message is short, never any other exception.

Besides wrong types and edge values the generator draws integers beyond a float's range (up to 5,000 digits),
lone surrogates (what JSON's ``"\\ud800"`` escape parses into), lists and objects nested up to 20,000 deep,
and strings up to 20,000 characters, in every position: field names, values, images, data URI media types, URLs,
and the text parameters of the toolkit's binary-body form (the query string).

CI runs 2,000 parser payloads and 300 full-handler payloads; ``make fuzz SCALE=N`` runs N times more.
"""

from __future__ import annotations

import base64
import math
import operator
import os
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sam3_core.api.request import FIELDS, SegmentRequest, parse_payload
from sam3_core.errors import RequestError
from sam3_core.settings import Limits, RequestSettings

from helpers import b64, encode, scene

SCALE = int(os.environ.get("SAM3_FUZZ_SCALE", "1"))
SMALL_PNG = encode(scene(16, 12))
# A URL host the parser may fetch from: the discard port on loopback, where nothing listens.
LIMITS = RequestSettings(Limits(max_image_pixels=4_000_000), url_hosts=("127.0.0.1",), url_timeout_s=2)


def nested(depth: int, kind: type = list) -> object:
    """``[[[...]]]`` (or ``{"a": {"a": ...}}``) ``depth`` deep, built without recursion."""
    value: object = kind()
    for _ in range(depth):
        value = [value] if kind is list else {"a": value}
    return value


characters = st.characters(exclude_categories=())  # every code point, lone surrogates included (st.text() skips them)
short_text = st.text(characters, max_size=40)
long_text = st.builds(operator.mul, st.text(characters, min_size=1, max_size=3), st.integers(1_000, 20_000))
strings = short_text | long_text | st.sampled_from(["\ud800cat", "cat\udfff", "\udc80\udc80", "\x00", "\u202e"])
# Beyond a float's range; from 4,301 digits also beyond what str() writes (hypothesis may not repr those itself).
huge_integers = st.integers(309, 5000).map(lambda digits: 10**digits) | st.integers(2**1024, 2**1100).map(operator.neg)
numbers = (
    st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.floats(min_value=-5, max_value=40)
    | st.sampled_from([0, 1, -1, 2, 0.5, 1e308, -0.0, math.nan, math.inf, 10**400, -(10**400)])
    | huge_integers
)
deep = st.builds(nested, st.integers(100, 20_000), st.sampled_from([list, dict]))
scalars = st.none() | st.booleans() | numbers | strings | st.binary(max_size=40) | deep
keys = st.sampled_from([*FIELDS, "confidence_treshold", "colour"]) | strings
json_like = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(keys, children, max_size=5),
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
    strings.map(lambda mime: f"data:{mime};base64,aGVsbG8="),
    strings.map(lambda mime: f"data:image/{mime};base64,aGVsbG8="),
    strings.map(lambda rest: "http://" + rest),
    strings.map(lambda path: "http://127.0.0.1:9/" + path),
    json_like,
)
points = st.lists(st.lists(numbers, min_size=0, max_size=3), max_size=6) | json_like
boxes = st.lists(st.lists(numbers, min_size=3, max_size=5), max_size=6) | json_like
labels = st.lists(st.sampled_from([0, 1]) | numbers, max_size=6) | json_like
prompts = st.lists(strings | json_like, max_size=5) | strings | json_like
known_fields = st.fixed_dictionaries(
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
extra_fields = st.just({}) | st.dictionaries(keys, json_like, min_size=1, max_size=2)
fields = st.tuples(known_fields, extra_fields).map(lambda pair: {**pair[1], **pair[0]})
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


# The toolkit's binary-body form: a PIL image, and the query string's parameters as text (integers converted).
query_names = st.sampled_from([*FIELDS[1:], "threshold", "candidate_labels", "mask_threshold", "subtask"]) | strings
number_text = st.sampled_from(["1", "0.5", "-2", "1e999", "nan", "10_0", ""]) | st.integers(300, 5000).map(
    lambda digits: "1" + "0" * digits
)
query_text = strings | number_text | st.lists(number_text | short_text, max_size=9).map(",".join)
query_values = query_text | st.booleans() | numbers
query_payloads = st.dictionaries(query_names, query_values, max_size=6).map(
    lambda parameters: {"inputs": scene(16, 12), "parameters": parameters}
)

payloads = st.one_of(
    plausible(),
    plausible(),
    fields.map(lambda inputs: {"inputs": inputs}),
    st.tuples(images, fields).map(
        lambda pair: {"inputs": pair[0], "parameters": {k: v for k, v in pair[1].items() if k != "image"}}
    ),
    st.lists(images | st.text(max_size=20) | numbers | json_like, max_size=4).map(lambda data: {"data": data}),
    query_payloads,
    st.dictionaries(st.sampled_from(["inputs", "data", "parameters", "x"]), json_like, max_size=3),
    json_like,
)


def assert_clean(error: BaseException) -> None:
    """A ``RequestError`` whose message names the field, is one short line, and is valid Unicode."""
    assert isinstance(error, RequestError), repr(error)[:300]
    message = str(error)
    assert message.split(":", 1)[0] and "\n" not in message and len(message) < 300, message[:400]
    message.encode("utf-8")  # no lone surrogate echoed


@pytest.mark.slow
@settings(max_examples=2000 * SCALE, deadline=None, suppress_health_check=list(HealthCheck))
@given(payloads)
def test_parser_answers_a_request_or_a_clean_error(payload):
    try:
        request = parse_payload(payload, LIMITS)
    except ValueError as error:
        assert_clean(error)
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
    # Automatic requests: a 4x4 grid by default, for speed.
    monkeypatch.setattr(handler.service, "settings", replace(handler.service.settings, amg_points_per_side=4))
    try:
        response = handler(payload)
    except ValueError as error:
        assert_clean(error)
        field = error.field.split("[")[0]
        event(f"error on {field if field.isidentifier() else 'an unknown field'}")
        return
    if isinstance(response, list):  # an InferenceClient task's answer
        event(f"answered a task, {'some' if response else 'no'} objects")
        assert all({"label", "score", "mask"} <= set(item) for item in response)
        return
    event(f"answered, {'some' if response['num_objects'] else 'no'} objects")
    assert response["success"] is True
    assert response["num_objects"] == len(response["masks"]) == len(response["scores"]) == len(response["labels"])
