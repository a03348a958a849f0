"""The local server over real HTTP on loopback: routes, payload forms, status codes, concurrent clients."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from helpers import SEED_EXAMPLES as EXAMPLES
from helpers import b64, encode, same_answer, scene, seed_payload

ROOT = Path(__file__).resolve().parents[2]
SMALL = b64(encode(scene(32, 24)))
JPEG = encode(scene(32, 24), "JPEG")
JSON = {"content-type": "application/json"}


def json_text(inputs: str) -> str:
    """A JSON body whose inputs hold the small image, a cat prompt and ``inputs`` (JSON text, spliced as is)."""
    return f'{{"inputs": {{"image": "{SMALL}", "text_prompts": ["cat"], {inputs}}}}}'


def test_health_routes(server):
    for path in ("/", "/health"):
        response = requests.get(server + path, timeout=10)
        assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.parametrize("route,source", EXAMPLES, ids=[f"example{i}" for i in range(len(EXAMPLES))])
def test_seed_examples_over_http(server, image_b64, handler, route, source):
    payload = seed_payload(source, image_b64)
    response = requests.post(f"{server}/api/{route}", json=payload, timeout=60)
    assert response.status_code == 200
    body = response.json()
    result = body["data"][0] if route == "predict" else body
    assert set(body) == ({"data"} if route == "predict" else set(result))
    assert result == handler(payload), "HTTP answers exactly what the handler answers"


def test_post_root_with_json_and_charset(server, image_b64, handler):
    payload = {"inputs": {"image": image_b64, "points": [[85, 95]], "point_labels": [1], "confidence_threshold": 0}}
    response = requests.post(
        server + "/",
        data=json.dumps(payload),
        headers={"content-type": "application/json; charset=utf-8"},
        timeout=60,
    )
    assert response.status_code == 200 and response.json() == handler(payload)


def test_raw_jpeg_body_with_query_parameters(server, handler):
    jpeg = encode(scene(), "JPEG", quality=90)
    query = "text_prompts=cat,dog&confidence_threshold=0.3&vectorize=true&points=85,95&point_labels=1"
    response = requests.post(f"{server}/predict?{query}", data=jpeg, headers={"content-type": "image/jpeg"}, timeout=60)
    assert response.status_code == 200
    expected = handler(
        {
            "inputs": jpeg,
            "parameters": {
                "text_prompts": ["cat", "dog"],
                "confidence_threshold": 0.3,
                "vectorize": True,
                "points": [[85, 95]],
                "point_labels": [1],
            },
        }
    )
    assert response.json() == expected and expected["num_objects"] > 0


@pytest.mark.parametrize(
    "kwargs,status,words",
    [
        ({"data": "{not json", "headers": {"content-type": "application/json"}}, 400, "body: is not valid JSON"),
        ({"data": b"", "headers": {"content-type": "application/json"}}, 400, "body: is empty"),
        ({"json": {"inputs": {"image": "%%%", "text_prompts": ["cat"]}}}, 400, "image: is not valid base64"),
        ({"json": {"inputs": {"text_prompts": ["cat"], "image": b64(b"notanimage")}}}, 400, "not a recognised image"),
        ({"data": b"x" * (3 * 1024 * 1024), "headers": {"content-type": "image/png"}}, 413, "body: "),
        ({"data": b"hello", "headers": {"content-type": "text/plain"}}, 415, "content-type"),
        ({"data": b"\0\0\0\x1cftypisom", "headers": {"content-type": "video/mp4"}}, 415, '{"inputs": {"video":'),
        ({"data": b"junk", "headers": {"content-type": "image/png"}}, 400, "image: is not a recognised image"),
    ],
)
def test_error_statuses(server, image_b64, kwargs, status, words):
    response = requests.post(server + "/", timeout=60, **kwargs)
    assert response.status_code == status, response.text[:300]
    body = response.json()
    assert body["success"] is False and words in body["error"] and len(response.content) < 400, body["error"][:300]
    ok = requests.post(server + "/", json={"inputs": {"image": image_b64, "text_prompts": ["cat"]}}, timeout=60)
    assert ok.status_code == 200


BINARY = {"data": JPEG, "headers": {"content-type": "image/jpeg"}}
HOSTILE = {
    # name: (requests.post arguments, status, what the error starts with)
    "400-digit threshold": ({"data": json_text('"confidence_threshold": 1' + "0" * 400)}, 400, "confidence_threshold"),
    "400-digit coordinate": ({"data": json_text('"points": [[1' + "0" * 400 + ", 1]]")}, 400, "points[0][0]"),
    "4400-digit integer": ({"data": json_text('"max_objects": -1' + "0" * 4400)}, 400, "body: is not valid JSON"),
    "400-digit query number": ({**BINARY, "params": {"max_objects": "1" + "0" * 400}}, 400, "max_objects"),
    "400-digit query point": ({**BINARY, "params": {"points": "1" + "0" * 400 + ",1"}}, 400, "points[0][0]"),
    "lone surrogate in a prompt": ({"data": json_text('"text_prompts": ["\\ud800cat"]')}, 400, "text_prompts[0]"),
    "lone surrogate in a key": ({"data": json_text('"colour\\udfff": 1')}, 400, "'colour\\udfff': unknown"),
    "100k [": ({"data": b"[" * 100_000}, 400, "body: is nested too deeply"),
    "100k [ in a field": ({"data": json_text('"points": ' + "[" * 100_000)}, 400, "body: is nested too deeply"),
    "50k objects deep": ({"data": b'{"inputs": ' * 50_000}, 400, "body: is nested too deeply"),
    "200 kB media type": (
        {"json": {"inputs": {"image": "data:text/" + "x" * 200_000 + ";base64,aGVsbG8=", "text_prompts": ["cat"]}}},
        400,
        "image: data URI has media type 'text/xxx",
    ),
    "100 kB key": ({"json": {"inputs": {"image": SMALL, "text_prompts": ["cat"], "x" * 100_000: 1}}}, 400, "'xxx"),
    "8 kB content-type": ({"data": b"hello", "headers": {"content-type": "text/" + "x" * 8000}}, 415, "content-type"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_values_get_a_short_json_error(server, name):
    """Huge integers, lone surrogates, deep nesting and long client text: a short JSON error naming the field,
    then the next request works."""
    kwargs, status, start = HOSTILE[name]
    kwargs = {"headers": JSON, **kwargs}
    response = requests.post(server + "/", timeout=60, **kwargs)
    assert response.status_code == status, response.text[:300]
    body = response.json()
    assert body["success"] is False and body["error"].startswith(start), body["error"][:300]
    assert len(response.content) < 300, body["error"][:300]
    ok = requests.post(server + "/", json={"inputs": {"image": SMALL, "text_prompts": ["cat"]}}, timeout=60)
    assert ok.status_code == 200


def test_eight_concurrent_clients_each_get_their_own_answer(server, handler):
    def job(index: int):
        image = scene(200 + 16 * index, 150 + 8 * index)
        payload = {
            "inputs": {
                "image": b64(encode(image)),
                "text_prompts": ["cat"],
                "points": [[20 + index, 30]],
                "point_labels": [1],
            }
        }
        payload["inputs"]["confidence_threshold"] = 0.3
        answers = [requests.post(server + "/api/sam2_compatible", json=payload, timeout=120) for _ in range(3)]
        return payload, answers

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(job, range(8)))
    for payload, answers in results:
        expected = handler(payload)
        assert expected["num_objects"] > 0
        for answer in answers:  # requests that waited together ran as one batch
            assert answer.status_code == 200
            same_answer(answer.json(), expected)


def test_many_images_in_one_request_over_http(server, handler):
    elements = [
        {"image": b64(encode(scene(200 + 40 * index, 150))), "text_prompts": ["cat"], "confidence_threshold": 0.3}
        for index in range(3)
    ]
    response = requests.post(server + "/", json={"inputs": elements}, timeout=120)
    assert response.status_code == 200, response.text[:300]
    assert response.json() == handler({"inputs": elements}), "the same batch in process"
    too_many = requests.post(server + "/", json={"inputs": elements * 6}, timeout=60)
    assert too_many.status_code == 413 and too_many.json()["error"].startswith("inputs: has 18 images, at most 16")
    bad = requests.post(server + "/", json={"inputs": [*elements[:2], {**elements[2], "image": "%%%"}]}, timeout=60)
    assert bad.status_code == 400 and bad.json()["error"].startswith("inputs[2].image: ")


def test_ui_without_the_slash_redirects(server):
    response = requests.get(server + "/ui", timeout=30)
    assert [hop.status_code for hop in response.history] == [307] and response.url == server + "/ui/"
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
