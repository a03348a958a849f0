"""Server-side fault statuses over real HTTP on loopback: the app in a uvicorn thread around the real handler, with
faults injected into the engine (out of memory, a crash while encoding, a slow request for overload)."""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import torch

import sam3_core.api.response
from sam3_core.server.http_api import create_app
from sam3_core.testing.support import serve_in_thread


@pytest.fixture
def app_url(handler):
    url, server = serve_in_thread(create_app(lambda: handler, max_waiting=1))
    deadline = time.monotonic() + 30
    while requests.get(url + "/health", timeout=5).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    yield url
    server.should_exit = True


def post(url, image_b64, **inputs):
    return requests.post(
        url + "/", json={"inputs": {"image": image_b64, "text_prompts": ["cat"], **inputs}}, timeout=60
    )


def test_out_of_memory_is_503_then_service_resumes(app_url, handler, image_b64, monkeypatch):
    def exhausted(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(handler.engine.concepts, "detect", exhausted)
    answer = post(app_url, image_b64)
    assert answer.status_code == 503 and answer.json() == {
        "success": False,
        "error": "out of memory: retry later or send a smaller request",
    }
    monkeypatch.undo()
    assert post(app_url, image_b64).status_code == 200


def test_crash_is_500_with_an_id_then_service_resumes(app_url, image_b64, monkeypatch):
    monkeypatch.setattr(sam3_core.api.response, "png_base64", lambda *changes_and_size: 1 / 0)
    answer = post(app_url, image_b64, confidence_threshold=0.0)
    assert answer.status_code == 500 and answer.json()["error"].startswith("internal error (id ")
    assert "ZeroDivisionError" not in answer.text, "no internals in the answer"
    monkeypatch.undo()
    assert post(app_url, image_b64).status_code == 200


def test_overload_is_503(app_url, handler, image_b64, monkeypatch):
    original = handler.engine.predict
    monkeypatch.setattr(handler.engine, "predict", lambda *args: time.sleep(1.5) or original(*args))
    with ThreadPoolExecutor(max_workers=3) as pool:
        answers = list(pool.map(lambda _: post(app_url, image_b64), range(3)))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses[0] == 200 and 503 in statuses
    assert all("overloaded" in a.json()["error"] for a in answers if a.status_code == 503)


def test_health_while_loading_and_after_a_failed_load():
    release = threading.Event()

    def load_that_fails():
        release.wait(30)
        raise RuntimeError("no weights")

    url, server = serve_in_thread(create_app(load_that_fails))
    try:
        for route in ("/health", "/", "/predict", "/api/sam2_compatible", "/api/predict"):
            send = requests.get if route == "/health" else requests.post
            loading = send(url + route, json={"inputs": {}}, timeout=5)
            estimate = loading.json()["estimated_time"]  # the Inference API's convention for a model loading
            assert loading.status_code == 503 and loading.json()["error"] == "model is loading", route
            assert 0 < estimate <= 60 and loading.headers["Retry-After"] == str(math.ceil(estimate)), route
        release.set()
        deadline = time.monotonic() + 10
        while requests.get(url + "/health", timeout=5).status_code == 503 and time.monotonic() < deadline:
            time.sleep(0.05)
        failed = requests.get(url + "/health", timeout=5)
        assert failed.status_code == 500 and "no weights" in failed.json()["error"]
    finally:
        server.should_exit = True
