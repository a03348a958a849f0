"""The local server over real HTTP on loopback: routes, payload forms, status codes, concurrent clients."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from helpers import SEED_EXAMPLES as EXAMPLES
from helpers import b64, encode, scene, seed_payload

pytestmark = pytest.mark.slow  # starts servers, processes or a browser (make test-fast skips it)

ROOT = Path(__file__).resolve().parents[1]


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
        ({"data": b"junk", "headers": {"content-type": "image/png"}}, 400, "image: is not a recognised image"),
    ],
)
def test_error_statuses(server, image_b64, kwargs, status, words):
    response = requests.post(server + "/", timeout=60, **kwargs)
    assert response.status_code == status
    body = response.json()
    assert body["success"] is False and words in body["error"]
    ok = requests.post(server + "/", json={"inputs": {"image": image_b64, "text_prompts": ["cat"]}}, timeout=60)
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
        for answer in answers:
            assert answer.status_code == 200 and answer.json() == expected
