"""The Space (``sam3-app``) as the seed's drop-in, over real HTTP on loopback: the seed page's request examples
with ``requests``, the same through the real ``gradio_client``, the API page, the web page at the root."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
import requests
from gradio_client import Client
from gradio_client.exceptions import AppError

from helpers import SEED_EXAMPLES as EXAMPLES
from helpers import decode_mask, running_space, seed_payload

IDS = [f"example{i}" for i in range(len(EXAMPLES))]


@pytest.fixture(scope="module")
def client(space) -> Iterator[Client]:
    client = Client(space, verbose=False)
    yield client
    client.close()  # its session heartbeat


@pytest.mark.parametrize("route,source", EXAMPLES, ids=IDS)
def test_seed_examples_with_requests(space, image_b64, handler, route, source):
    payload = seed_payload(source, image_b64)
    response = requests.post(f"{space}/api/{route}", json=payload, timeout=60)
    assert response.status_code == 200, response.text[:300]
    expected = handler(payload)
    assert response.json() == ({"data": [expected]} if route == "predict" else expected)


def test_the_api_page_lists_the_seed_endpoints_only(client):
    api = client.view_api(print_info=False, return_format="dict")
    assert set(api["named_endpoints"]) == {"/predict", "/sam2_compatible"}
    assert not api["unnamed_endpoints"]
    endpoints = api["named_endpoints"]
    names = {name: [parameter["parameter_name"] for parameter in endpoints[name]["parameters"]] for name in endpoints}
    assert names == {"/predict": ["image", "text", "threshold"], "/sam2_compatible": ["payload"]}


@pytest.mark.parametrize("route,source", EXAMPLES, ids=IDS)
def test_seed_examples_with_gradio_client(client, image, image_b64, handler, route, source):
    payload = seed_payload(source, image_b64)
    if route == "predict":
        answer = client.predict(*payload["data"], api_name="/predict")
    else:
        answer = client.predict(payload, api_name="/sam2_compatible")
    assert answer == handler(payload) and answer["masks"]
    for mask in answer["masks"]:
        assert decode_mask(mask).shape == (image.height, image.width)


def test_gradio_client_threshold_is_optional(client, image_b64, handler):
    assert client.predict(image_b64, "cat", api_name="/predict") == handler({"data": [image_b64, "cat"]})


def test_many_images_in_one_request_through_the_seed_route(space, client, image_b64, handler):
    payload = {"inputs": [{"image": image_b64, "text_prompts": ["cat"]}, {"image": image_b64, "points": [[85, 95]],
               "point_labels": [1]}]}  # fmt: skip
    expected = handler(payload)
    assert isinstance(expected, list) and len(expected) == 2
    response = requests.post(f"{space}/api/sam2_compatible", json=payload, timeout=60)
    assert response.status_code == 200 and response.json() == expected
    assert client.predict(payload, api_name="/sam2_compatible") == expected


def test_gradio_client_gets_the_bad_input_message(client, image_b64):
    with pytest.raises(AppError, match="points"):
        client.predict({"inputs": {"image": image_b64, "points": [[1, 2, 3]]}}, api_name="/sam2_compatible")


def test_the_web_page_is_at_the_root(space):
    response = requests.get(space + "/", timeout=30)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert requests.get(space + "/health", timeout=10).json() == {"status": "ok"}


def test_the_space_stops_on_sigterm_while_a_page_is_open(tiny_checkpoint):
    with running_space(tiny_checkpoint) as (url, process):
        # An open page holds its session's heartbeat stream, which never ends by itself.
        heartbeat = requests.get(f"{url}/gradio_api/heartbeat/test-session", stream=True, timeout=30)
        lines = heartbeat.iter_lines()  # kept: a dropped iterator closes the connection
        assert next(lines) == b"data: ALIVE"
        process.terminate()
        assert process.wait(timeout=60) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it handled
        heartbeat.close()
