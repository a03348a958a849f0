"""Every request example of the seed's API page, verbatim, through the handler.

The examples are ``tests/data/seed_examples.json`` (loaded by helpers.py): each ``requests.post(URL, json=...)``
call's ``json`` argument on the page, as written there, evaluated with ``image_b64`` bound to a local image (and
``true``/``false`` as the page writes them). Where ``../shared`` is present, a test checks the file against the
page itself.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers import SEED_EXAMPLES as EXAMPLES
from helpers import decode_mask, seed_payload

SEED_PAGE = Path(__file__).resolve().parents[3] / "shared" / "seed" / "sam3-space-api.txt"
RESPONSE_KEYS = {"masks", "scores", "num_objects", "sam_version", "prompt_types", "success", "boxes", "labels"}


def examples_on_page(text: str) -> list[tuple[str, str]]:
    """``(route, json_source)`` for every ``requests.post`` call on the page, in page order."""
    examples = []
    for match in re.finditer(r'requests\.post\(\s*"(?P<url>[^"]+)",\s*json=', text):
        start = end = match.end()
        depth = 0
        while True:  # to the brace that closes the json={...} argument
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            end += 1
            if depth == 0:
                break
        examples.append((match.group("url").rsplit("/", 1)[-1], text[start:end]))
    return examples


@pytest.mark.skipif(not SEED_PAGE.is_file(), reason="../shared/seed is absent (plain clone)")
def test_the_committed_examples_are_the_pages():
    assert examples_on_page(SEED_PAGE.read_text()) == EXAMPLES


def test_the_page_has_all_six_examples():
    assert [route for route, _ in EXAMPLES] == ["predict"] + ["sam2_compatible"] * 5


@pytest.mark.parametrize("route,source", EXAMPLES, ids=[f"example{i}" for i in range(len(EXAMPLES))])
def test_seed_example_verbatim(handler, image, image_b64, route, source):
    payload = seed_payload(source, image_b64)
    response = handler(payload)
    assert set(response) >= RESPONSE_KEYS
    assert response["success"] is True and response["sam_version"] == "3.0"
    count = response["num_objects"]
    assert (
        len(response["masks"]) == len(response["scores"]) == len(response["boxes"]) == len(response["labels"]) == count
    )
    assert all(isinstance(score, float) and 0.0 <= score <= 1.0 for score in response["scores"])
    for mask in response["masks"]:
        assert decode_mask(mask).shape == (image.height, image.width)
    for box in response["boxes"]:
        assert len(box) == 4 and 0 <= box[0] <= box[2] <= image.width and 0 <= box[1] <= box[3] <= image.height
    inputs = payload.get("inputs", {})
    expected_types = (["text"] if inputs.get("text_prompts") or route == "predict" else []) + (
        ["visual"] if inputs.get("boxes") or inputs.get("points") else []
    )
    assert response["prompt_types"] == expected_types
    assert all(score > 0.5 for score in response["scores"])  # every example asks for confidence 0.5
    if inputs.get("vectorize"):
        assert count > 0, "the polygon checks need objects"
        assert response["polygon_format"] == "pixel_coordinates"
        assert response["original_image_size"] == [image.width, image.height]
        assert len(response["polygons"]) == count
        assert all(all(len(vertex) == 2 for vertex in polygon) for polygon in response["polygons"])
    else:
        assert "polygons" not in response
