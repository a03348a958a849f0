"""Each class of bad input gets a short ValueError naming the field, and the handler keeps serving."""

from __future__ import annotations

import base64

import pytest

from sam3_core.errors import PayloadTooLarge, RequestError

from helpers import b64, encode, png_claiming, scene

GOOD = {"text_prompts": ["cat"], "confidence_threshold": 0.5}
SMALL = b64(encode(scene(64, 48)))
HUGE = 10**400  # an integer beyond float's range (JSON parses 400 digits into one)
GIANT = 10**5000  # beyond the digits Python's str() writes
LONG = "x" * 100_000


def nested(depth: int) -> list:
    """``[[[...]]]``, ``depth`` lists deep (built without recursion)."""
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


CASES = {
    # name: (inputs overrides or a whole payload, field the message must start with, words it must contain)
    "undecodable base64": ({"image": "%%%not base64%%%"}, "image", "base64"),
    "bad base64 length": ({"image": "abcde"}, "image", "base64"),
    "bytes that are not an image": (
        {"image": base64.b64encode(b"hello, not an image").decode()},
        "image",
        "not a recognised image",
    ),
    "zip bytes": ({"image": b64(b"PK\x03\x04" + bytes(100))}, "image", "not a recognised image"),
    "svg": ({"image": b64(b"<svg xmlns='http://www.w3.org/2000/svg'/>")}, "image", "not a recognised image"),
    "truncated png": ({"image": b64(encode(scene())[:300])}, "image", "decoded"),
    "empty image": ({"image": ""}, "image", "empty"),
    "missing image": ({"image": None}, "image", "missing"),
    "image of wrong type": ({"image": 12345}, "image", "base64 string"),
    "url image": ({"image": "https://example.com/cat.jpg"}, "image", "URLs are not fetched"),
    "data uri of text": ({"image": "data:text/plain;base64,aGVsbG8="}, "image", "image/*"),
    "decompression bomb": ({"image": b64(png_claiming(60000, 60000))}, "image", "pixel limit"),
    "no prompt at all": ({"text_prompts": [], "points": None}, "prompts", "no prompt"),
    "only negative boxes": ({"text_prompts": [], "boxes": [[1, 1, 9, 9]], "box_labels": [0]}, "prompts", "negative"),
    "point labels too few": ({"points": [[10, 10], [5, 5]], "point_labels": [1]}, "point_labels", "1 labels for 2"),
    "box labels wrong length": ({"boxes": [[1, 1, 9, 9]], "box_labels": [1, 0]}, "box_labels", "2 labels for 1 boxes"),
    "point of wrong shape": ({"points": [[1, 2, 3]], "point_labels": [1]}, "points[0]", "2 numbers"),
    "nested points": ({"points": [[[1, 2]]], "point_labels": [1]}, "points[0]", "2 numbers"),
    "box of wrong shape": ({"boxes": [[1, 2, 3]], "box_labels": [1]}, "boxes[0]", "4 numbers"),
    "points not a list": ({"points": "10,10", "point_labels": [1]}, "points", "expected a list"),
    "nan coordinate": ({"points": [[float("nan"), 1]], "point_labels": [1]}, "points[0][0]", "finite"),
    "infinite coordinate": ({"boxes": [[0, 0, float("inf"), 5]], "box_labels": [1]}, "boxes[0][2]", "finite"),
    "string coordinate": ({"points": [["10", 10]], "point_labels": [1]}, "points[0][0]", "number"),
    "bool coordinate": ({"points": [[True, 10]], "point_labels": [1]}, "points[0][0]", "number"),
    "label 2": ({"points": [[10, 10]], "point_labels": [2]}, "point_labels[0]", "0 or 1"),
    "label -1": ({"boxes": [[1, 1, 9, 9]], "box_labels": [-1]}, "box_labels[0]", "0 or 1"),
    "threshold above 1": ({"confidence_threshold": 1.5}, "confidence_threshold", "outside [0, 1]"),
    "threshold below 0": ({"confidence_threshold": -0.1}, "confidence_threshold", "outside [0, 1]"),
    "threshold as string": ({"confidence_threshold": "0.5"}, "confidence_threshold", "number"),
    "negative epsilon": ({"simplify_epsilon": -1}, "simplify_epsilon", "outside"),
    "vectorize as string": ({"vectorize": "yes"}, "vectorize", "true or false"),
    "text prompt not a string": ({"text_prompts": ["cat", 7]}, "text_prompts[1]", "string"),
    "empty text prompt": ({"text_prompts": ["  "]}, "text_prompts[0]", "empty"),
    "too many prompts": ({"text_prompts": ["cat"] * 33}, "text_prompts", "limit is 32"),
    "too many points": ({"points": [[1, 1]] * 65, "point_labels": [1] * 65}, "points", "limit is 64"),
    "too many boxes": ({"boxes": [[1, 1, 9, 9]] * 65, "box_labels": [1] * 65}, "boxes", "limit is 64"),
    "prompt too many characters": ({"text_prompts": ["cat " * 100]}, "text_prompts[0]", "characters"),
    "prompt too many tokens": ({"text_prompts": [" ".join(["cat"] * 40)]}, "text_prompts[0]", "tokens"),
    "box with x2 <= x1": ({"boxes": [[50, 10, 40, 20]], "box_labels": [1]}, "boxes[0]", "x2 > x1"),
    "box outside the image": ({"boxes": [[100, 100, 200, 200]], "box_labels": [1]}, "boxes[0]", "outside"),
    "point outside the image": ({"points": [[65, 10]], "point_labels": [1]}, "points[0]", "outside"),
    "misspelt field": ({"confidence_treshold": 0.3}, "confidence_treshold", "did you mean 'confidence_threshold'"),
    "unknown field": ({"colour": "red"}, "colour", "unknown field; accepted fields are image,"),
    "huge integer threshold": ({"confidence_threshold": HUGE}, "confidence_threshold", "too large"),
    "huge integer epsilon": ({"simplify_epsilon": -HUGE}, "simplify_epsilon", "too large"),
    "huge integer max_objects": ({"max_objects": HUGE}, "max_objects", "too large"),
    "huge integer coordinate": ({"points": [[HUGE, 1]], "point_labels": [1]}, "points[0][0]", "too large"),
    "huge integer box": ({"boxes": [[0, 0, 5, GIANT]], "box_labels": [1]}, "boxes[0][3]", "too large"),
    "huge integer label": ({"points": [[1, 1]], "point_labels": [GIANT]}, "point_labels[0]", "0 or 1"),
    "nested label": ({"points": [[1, 1]], "point_labels": [nested(100_000)]}, "point_labels[0]", "0 or 1"),
    "nested prompts": ({"text_prompts": nested(100_000)}, "text_prompts[0]", "string"),
    "lone surrogate in a prompt": ({"text_prompts": ["\ud800cat"]}, "text_prompts[0]", "surrogate"),
    "lone low surrogate in a prompt": ({"text_prompts": ["cat", "dog\udfff"]}, "text_prompts[1]", "surrogate"),
}
PAYLOADS = {
    "payload not an object": ([1, 2, 3], "payload", "JSON object"),
    "payload without inputs": ({"image": SMALL}, "payload", "'inputs'"),
    "inputs neither object nor image": ({"inputs": 42}, "inputs", "object of fields or an image"),
    "inputs a list of images": ({"inputs": [SMALL]}, "inputs[0]", "expected an object of fields, got str"),
    "inputs an empty list": ({"inputs": []}, "inputs", "empty list"),
    "parameters not an object": ({"inputs": SMALL, "parameters": [1]}, "parameters", "object"),
    "simple api without text": ({"data": [SMALL]}, "data", "list"),
    "simple api text not a string": ({"data": [SMALL, ["cat"], 0.5]}, "data[1]", "string"),
    "simple api bad threshold": ({"data": [SMALL, "cat", 2]}, "confidence_threshold", "outside"),
    "simple api huge threshold": ({"data": [SMALL, "cat", HUGE]}, "confidence_threshold", "too large"),
    "simple api surrogate": ({"data": [SMALL, "\ud83dcat"]}, "text_prompts[0]", "surrogate"),
    "candidate label surrogate": (
        {"inputs": SMALL, "parameters": {"candidate_labels": ["\ud800"]}},
        "text_prompts[0]",
        "surrogate",
    ),
    "huge integer parameter": ({"inputs": SMALL, "parameters": {"threshold": HUGE}}, "threshold", "large"),
    # The toolkit's form for a binary body: a PIL image and the query string's parameters as text or integers.
    "query threshold of 400 digits": (
        {"inputs": scene(64, 48), "parameters": {"threshold": "1" + "0" * 400}},
        "threshold",
        "too large",
    ),
    "query threshold as a huge integer": (
        {"inputs": scene(64, 48), "parameters": {"text_prompts": "cat", "confidence_threshold": HUGE}},
        "confidence_threshold",
        "too large",
    ),
    "query points of 400 digits": (
        {"inputs": scene(64, 48), "parameters": {"points": "1" + "0" * 400 + ",5", "point_labels": "1"}},
        "points[0][0]",
        "too large",
    ),
    "query points as a giant integer": (
        {"inputs": scene(64, 48), "parameters": {"points": GIANT, "point_labels": 1}},
        "points",
        "large",
    ),
}


def payload_for(case):
    overrides = case[0]
    return {"inputs": {"image": SMALL, **GOOD, **overrides}}


@pytest.mark.parametrize("name", list(CASES) + list(PAYLOADS))
def test_bad_input_is_a_short_value_error_and_the_next_request_works(handler, name):
    payload, field, words = PAYLOADS[name] if name in PAYLOADS else (payload_for(CASES[name]), *CASES[name][1:])
    with pytest.raises(ValueError) as caught:
        handler(payload)
    error = caught.value
    assert isinstance(error, RequestError)
    assert str(error).startswith(f"{field}: "), str(error)
    assert words in str(error)
    assert len(str(error)) < 300 and "\n" not in str(error)
    response = handler({"inputs": {"image": SMALL, **GOOD}})
    assert response["success"] is True


def test_oversized_images_are_payload_too_large(handler):
    with pytest.raises(PayloadTooLarge):
        handler({"inputs": {"image": b64(png_claiming(60000, 60000)), **GOOD}})


def test_limits_follow_the_environment():
    from sam3_core.settings import Limits, Settings

    limits = Settings.from_env({"SAM3_MAX_POINTS": "2", "SAM3_MAX_IMAGE_PIXELS": "1000"}).request.limits
    assert limits.max_points == 2 and limits.max_image_pixels == 1000 and limits.max_boxes == Limits().max_boxes
    with pytest.raises(ValueError, match="SAM3_MAX_BOXES='many': expected a positive integer"):
        Settings.from_env({"SAM3_MAX_BOXES": "many"})


def test_box_partly_outside_is_clipped(handler):
    inputs = {"image": SMALL, "boxes": [[-20, -10, 30, 400]], "box_labels": [1], "confidence_threshold": 0.0}
    from sam3_core.api.request import parse_payload
    from sam3_core.settings import RequestSettings

    assert parse_payload({"inputs": inputs}, RequestSettings()).boxes == ((0.0, 0.0, 30.0, 48.0),)
    assert handler({"inputs": inputs})["success"] is True


LONG_TEXT = {
    # name: (payload quoting 100 kB of client text somewhere, field the message must start with)
    "unknown field name": ({"inputs": {"image": SMALL, **GOOD, LONG: 1}}, "'xxx"),
    "unknown field name like a field": ({"inputs": {"image": SMALL, **GOOD, "confidence_" + LONG: 1}}, "'conf"),
    "unknown query parameter": ({"inputs": scene(64, 48), "parameters": {**GOOD, LONG: LONG}}, "'xxx"),
    "data URI media type": ({"inputs": {**GOOD, "image": f"data:text/{LONG};base64,aGVsbG8="}}, "image"),
    "label as text": ({"inputs": {"image": SMALL, **GOOD, "points": [[1, 1]], "point_labels": [LONG]}}, "point_"),
    "prompt": ({"inputs": {"image": SMALL, "text_prompts": [LONG]}}, "text_prompts[0]"),
    "prompt of lone surrogates": ({"inputs": {"image": SMALL, "text_prompts": ["\udc80" * 100_000]}}, "text_"),
    "image text": ({"inputs": {**GOOD, "image": "\udc80" + LONG}}, "image"),
    "URL": ({"inputs": {**GOOD, "image": "https://" + LONG}}, "image"),
}


@pytest.mark.parametrize("name", list(LONG_TEXT))
def test_client_text_in_errors_is_a_short_prefix(handler, name):
    payload, field = LONG_TEXT[name]
    with pytest.raises(RequestError) as caught:
        handler(payload)
    message = str(caught.value)
    assert message.startswith(field) and len(message) < 300, message[:400]
    assert message.encode("utf-8"), "no lone surrogates in the message"


def test_an_allowed_url_host_is_quoted_short():
    from sam3_core.media.image_io import decode_image
    from sam3_core.settings import RequestSettings

    settings = RequestSettings(url_hosts=("images.example.com",))
    for url in ("http://" + LONG + "/a.png", "http://[" + LONG, "http://\ud800" + LONG):
        with pytest.raises(RequestError) as caught:
            decode_image(url, settings)
        assert str(caught.value).startswith("image: ") and len(str(caught.value)) < 300, str(caught.value)[:400]
