"""Server-side fault statuses over real HTTP on loopback: the app in a uvicorn thread around the real handler, with
faults injected into the engine (out of memory, a crash while encoding, a slow request for overload)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import torch
import uvicorn

import sam3_core.api.response
from sam3_core.server.http_api import create_app

from helpers import free_port

pytestmark = pytest.mark.slow  # starts servers, processes or a browser (make test-fast skips it)


def serve_in_thread(app) -> tuple[str, uvicorn.Server]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/health", timeout=1).status_code in (200, 500, 503):
                return url, server
        except requests.ConnectionError:
            time.sleep(0.05)
    raise AssertionError("server did not start")


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

    monkeypatch.setattr(handler.engine, "_concepts", exhausted)
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
        assert requests.get(url + "/health", timeout=5).status_code == 503
        assert requests.post(url + "/", json={"inputs": {}}, timeout=5).status_code == 503
        release.set()
        deadline = time.monotonic() + 10
        while requests.get(url + "/health", timeout=5).status_code == 503 and time.monotonic() < deadline:
            time.sleep(0.05)
        failed = requests.get(url + "/health", timeout=5)
        assert failed.status_code == 500 and "no weights" in failed.json()["error"]
    finally:
        server.should_exit = True
