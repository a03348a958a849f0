"""The repository deploy.py uploads, started on a replica of the default Inference Endpoints image.

The replica (``python -m scripts.endpoint_image_replica``) is the inference toolkit from ``../shared/vendor`` installed
with its own pins, started by its own ``entrypoint.sh``: ``pip install -r $HF_MODEL_DIR/requirements.txt``, then
``uvicorn webservice_starlette:app``, with deploy.py's defaults (``SAM3_MODEL_ID=facebook/sam3``, the ``HF_TOKEN``
secret); ``conftest.py`` here starts it when the tests are collected, so its build overlaps the rest of the suite.

First run: about 4 minutes to build the image (downloads torch 2.5.1), then the endpoint's first start installs
its requirements; later runs reuse both. Without ``../shared`` the test is skipped.
"""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import pytest
import requests
from huggingface_hub import InferenceClient
from PIL import Image

from helpers import SEED_EXAMPLES as EXAMPLES
from helpers import decode_mask, encode, scene, seed_payload

ROOT = Path(__file__).resolve().parents[2]
TOOLKIT = ROOT.parent / "shared" / "vendor" / "huggingface-inference-toolkit"
# The replica runs the endpoint's own stack (torch 2.6.0, torchvision 0.21.0, pillow 11.3 from the image), the
# in-process reference this checkout's (torch 2.14.1, torchvision 0.29.1, pillow 12.3): the same objects and labels,
# scores apart by up to 0.0055 on the tiny checkpoint (the registry's releases of 2026-12-02).
CROSS_STACK_SCORE_TOLERANCE = 1e-2
CALLER_TOKEN = "hf_caller_token_value"  # sent as a caller's client does (the platform, not the image, checks it)

pytestmark = [
    pytest.mark.endpoint_image,
    pytest.mark.skipif(not TOOLKIT.is_dir(), reason="../shared/vendor/huggingface-inference-toolkit is absent"),
]


def test_the_endpoint_starts_with_deploy_defaults(endpoint):
    url, server = endpoint
    log = server.log()
    assert "Installing custom dependencies from" in log
    assert "SAM3 weights: facebook/sam3 (set by env SAM3_MODEL_ID)" in log
    assert re.search(r"SAM3 ready on cpu", log)
    assert requests.get(url + "/health", timeout=5).text == "Ok"


@pytest.mark.parametrize("route,source", EXAMPLES, ids=[f"example{i}" for i in range(len(EXAMPLES))])
def test_seed_examples(endpoint, handler, image, image_b64, route, source):
    url, _ = endpoint
    payload = seed_payload(source, image_b64)
    response = requests.post(url, json=payload, timeout=120)
    if route == "predict":
        # The toolkit itself refuses a body without "inputs" before the handler sees it (README: toolkit path).
        assert response.status_code == 400 and "Body needs to provide a inputs key" in response.json()["error"]
        return
    assert response.status_code == 200, response.text[:500]
    answer, expected = response.json(), handler(payload)
    assert answer["success"] is True and answer["labels"] == expected["labels"]
    assert answer["scores"] == pytest.approx(expected["scores"], abs=CROSS_STACK_SCORE_TOLERANCE)
    for mask in answer["masks"]:
        assert decode_mask(mask).shape == (image.height, image.width)


def test_binary_image_body_with_query_parameters(endpoint, handler, image):
    url, _ = endpoint
    body = encode(image, "PNG")
    query = "?text_prompts=cat,dog&confidence_threshold=0.2&points=85,95&point_labels=1"
    response = requests.post(url + query, data=body, headers={"content-type": "image/png"}, timeout=120)
    assert response.status_code == 200, response.text[:500]
    answer = response.json()
    expected = handler(
        {"inputs": {"image": base64.b64encode(body).decode(), "text_prompts": ["cat", "dog"]}}
        | {"parameters": {"confidence_threshold": 0.2, "points": [[85, 95]], "point_labels": [1]}}
    )
    assert answer["labels"] == expected["labels"] and answer["prompt_types"] == ["text", "visual"]
    assert answer["scores"] == pytest.approx(expected["scores"], abs=CROSS_STACK_SCORE_TOLERANCE)


def test_toolkit_path_differences(endpoint, image_b64):
    """What the toolkit does before the handler is called (docs/DEPLOYING.md: "The default image")."""
    url, _ = endpoint
    body = json.dumps({"inputs": {"image": image_b64, "text_prompts": ["cat"]}})
    refused = requests.post(url, data=body, headers={"content-type": "application/json; charset=utf-8"}, timeout=60)
    assert refused.status_code == 400, "the toolkit knows only 'application/json' and '...; charset=UTF-8'"
    # A small PNG of 9000 x 9000 zeros (81 MP, over the 50 MP default): PIL refuses it from the header, in the
    # toolkit's own decoder, because the handler set PIL's limit to its own; it is never decoded.
    bomb = io.BytesIO()
    Image.new("L", (9000, 9000)).save(bomb, "PNG")
    answer = requests.post(url, data=bomb.getvalue(), headers={"content-type": "image/png"}, timeout=60)
    assert answer.status_code == 400 and "decompression bomb" in answer.json()["error"]
    assert requests.post(url, data=body, headers={"content-type": "application/json"}, timeout=60).ok


def test_inference_client_tasks(endpoint, handler, image):
    """The task calls answer what the handler answers in-process (random weights may find nothing at all)."""
    url, _ = endpoint
    client = InferenceClient(base_url=url, api_key=CALLER_TOKEN)
    png = encode(image, "PNG")
    png_b64 = base64.b64encode(png).decode()
    found = client.zero_shot_image_classification(png, candidate_labels=["cat", "remote"])
    expected = handler({"inputs": png_b64, "parameters": {"candidate_labels": ["cat", "remote"]}})
    assert [element.label for element in found] == [element["label"] for element in expected]
    assert [element.score for element in found] == pytest.approx(
        [element["score"] for element in expected], abs=CROSS_STACK_SCORE_TOLERANCE
    )
    segments = client.image_segmentation(png, threshold=0.0)
    expected = handler({"inputs": png_b64, "parameters": {"threshold": 0.0}})
    assert [segment.label for segment in segments] == [element["label"] for element in expected]
    assert all(isinstance(segment.mask, Image.Image) and segment.mask.size == image.size for segment in segments)


def test_bad_input_is_a_clear_400_and_the_next_request_works(endpoint, image_b64):
    url, _ = endpoint
    bad = requests.post(url, json={"inputs": {"image": "not an image!", "text_prompts": ["cat"]}}, timeout=60)
    assert bad.status_code == 400 and bad.json()["error"].startswith("image")
    bad = requests.post(
        url, json={"inputs": {"image": image_b64, "points": [[1, 2]], "point_labels": [1, 0]}}, timeout=60
    )
    assert bad.status_code == 400 and "point_labels" in bad.json()["error"]
    good = requests.post(url, json={"inputs": {"image": image_b64, "text_prompts": ["cat"]}}, timeout=60)
    assert good.status_code == 200 and good.json()["success"] is True


def test_many_images_in_one_request_through_the_toolkit(endpoint, handler, image_b64):
    """The toolkit passes a list of inputs through to the handler and its list answer back."""
    url, _ = endpoint
    elements = [{"image": image_b64, "text_prompts": ["cat"]}, {"image": image_b64, "points": [[85, 95]]}]
    elements[1]["point_labels"] = [1, 1]
    bad = requests.post(url, json={"inputs": elements}, timeout=60)
    assert bad.status_code == 400 and bad.json()["error"].startswith("inputs[1].point_labels")
    elements[1]["point_labels"] = [1]
    response = requests.post(url, json={"inputs": elements}, timeout=120)
    assert response.status_code == 200, response.text[:500]
    expected = handler({"inputs": elements})
    assert [answer["labels"] for answer in response.json()] == [answer["labels"] for answer in expected]
    for answer, reference in zip(response.json(), expected, strict=True):
        assert answer["scores"] == pytest.approx(reference["scores"], abs=CROSS_STACK_SCORE_TOLERANCE)


def test_a_large_scene_round_trips(endpoint):
    """A bigger JPEG through the toolkit's JSON path: masks come back at the input size."""
    url, _ = endpoint
    big = scene(1280, 960)
    buffer = io.BytesIO()
    big.save(buffer, "JPEG", quality=90)
    payload = {
        "inputs": {
            "image": base64.b64encode(buffer.getvalue()).decode(),
            "boxes": [[100, 100, 600, 500]],
            "box_labels": [1],
        }
    }
    response = requests.post(url, json=payload | {"parameters": {}}, timeout=120)
    assert response.status_code == 200
    assert decode_mask(response.json()["masks"][0]).shape == (960, 1280)


def test_a_video_session_through_the_toolkit(endpoint, image_b64):
    """Sessions live in the handler the toolkit keeps: start, prompt, propagate, close; an unknown session is the
    toolkit's 400 naming ``session_id``."""
    url, _ = endpoint

    def call(**inputs):
        return requests.post(url, json={"inputs": inputs}, timeout=300)

    started = call(type="start_session", video=[image_b64] * 3)
    assert started.status_code == 200, started.text[:300]
    session_id = started.json()["session_id"]
    prompted = call(type="add_prompt", session_id=session_id, frame_index=0, text="cat", confidence_threshold=0.1)
    assert prompted.status_code == 200 and prompted.json()["frame_index"] == 0, prompted.text[:300]
    propagated = call(type="propagate_in_video", session_id=session_id, propagation_direction="forward")
    assert propagated.status_code == 200 and propagated.json()["video"]["frame_indices"] == [0, 1, 2]
    assert call(type="close_session", session_id=session_id).json()["is_success"] is True
    gone = call(type="reset_session", session_id=session_id)
    assert gone.status_code == 400 and gone.json()["error"].startswith("session_id: unknown")
