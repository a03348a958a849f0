"""``SAM3_API_TOKEN`` over real HTTP (the app in a uvicorn thread around the real handler): every route but
``/health`` refuses a request without the token or with a wrong one (401, before its body is read, counted in
``/metrics``, one log line that holds no token), and admits it in each form clients send it. The real
``InferenceClient`` sends it as ``token=``; Label Studio as basic authentication. (X-AnyLabeling's, Roboflow's
and CVAT's clients send it through their own code in tests/clients.)"""

from __future__ import annotations

import base64
import logging
import socket
import time
import urllib.parse

import pytest
import requests
from huggingface_hub import InferenceClient

from sam3_core.adapters.registry import tool_routes
from sam3_core.server.access import AccessToken
from sam3_core.server.http_api import create_app
from sam3_core.settings import Settings
from sam3_core.testing.support import serve_in_thread

from chromium import WAIT_MS, browser_page
from helpers import b64, encode, scene

TOKEN = "s3cr3t-token-for-the-tests-0123456789"
WRONG = "s3cr3t-token-for-the-tests-0123456780"  # all but the last character right
IMAGE = b64(encode(scene()))
ROUTES = [
    ("GET", "/"),
    ("POST", "/"),
    ("POST", "/predict"),
    ("POST", "/api/sam2_compatible"),
    ("POST", "/api/predict"),
    ("GET", "/metrics"),
    ("GET", "/labelstudio/health"),
    ("POST", "/labelstudio/setup"),
    ("POST", "/labelstudio/predict"),
    ("POST", "/labelstudio/webhook"),
    ("GET", "/v1/models"),
    ("POST", "/v1/predict"),
    ("POST", "/sam3/concept_segment"),
    ("POST", "/sam3/visual_segment"),
    ("POST", "/sam3/embed_image"),
]


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture(scope="module")
def guarded_url(handler):
    routes = tool_routes(Settings(), 10 * 1024 * 1024)
    url, server = serve_in_thread(create_app(lambda: handler, extra_routes=routes, api_token=TOKEN))
    yield url
    server.should_exit = True


@pytest.mark.parametrize(("method", "route"), ROUTES)
def test_every_route_but_health_refuses_without_the_right_token(guarded_url, caplog, method, route):
    caplog.set_level(logging.INFO)
    for headers in ({}, {"Authorization": f"Bearer {WRONG}"}, {"Authorization": basic("me", WRONG)}, {"Token": ""}):
        refused = requests.request(method, guarded_url + route, json={"inputs": {}}, headers=headers, timeout=10)
        assert refused.status_code == 401 and refused.json()["error"].startswith("missing or wrong API token")
        assert "Bearer" in refused.headers["WWW-Authenticate"] and TOKEN not in refused.text
    admitted = requests.request(
        method, guarded_url + route, json={"inputs": {}}, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    )
    assert admitted.status_code != 401
    assert requests.get(guarded_url + "/health", timeout=10).status_code == 200  # what a load balancer polls
    assert TOKEN not in caplog.text and WRONG not in caplog.text
    assert "refused (401), missing or wrong API token" in caplog.text


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f"Bearer {TOKEN}"},
        {"Authorization": f"Token {TOKEN}"},
        {"Authorization": basic("label-studio", TOKEN)},
        {"Authorization": basic(TOKEN, "")},
        {"Token": TOKEN},  # X-AnyLabeling's header
    ],
)
def test_the_token_is_taken_in_each_form_clients_send_it(guarded_url, headers):
    payload = {"inputs": {"image": IMAGE, "text_prompts": ["kitten"]}}
    answer = requests.post(guarded_url + "/predict", json=payload, headers=headers, timeout=60)
    assert answer.status_code == 200 and answer.json()["success"] is True


def test_inference_client_sends_it_as_its_token(guarded_url, handler):
    found = InferenceClient(base_url=guarded_url, token=TOKEN).zero_shot_image_classification(
        encode(scene()), candidate_labels=["kitten", "car"]
    )
    assert len(found) == len(
        handler({"inputs": encode(scene()), "parameters": {"candidate_labels": ["kitten", "car"]}})
    )
    with pytest.raises(Exception, match="401"):
        InferenceClient(base_url=guarded_url, token=WRONG).zero_shot_image_classification(
            encode(scene()), candidate_labels=["kitten", "car"]
        )


def test_a_refused_request_is_answered_before_its_body_and_counted(guarded_url):
    host, port = urllib.parse.urlsplit(guarded_url).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        # A body of 50 MB is announced and never sent: reading it would wait until the timeout.
        connection.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
        connection.sendall(b"Content-Length: 50000000\r\n\r\n")
        started = time.monotonic()
        status_line = connection.recv(4096).split(b"\r\n", 1)[0]
    assert status_line.endswith(b"401 Unauthorized") and time.monotonic() - started < 5
    page = requests.get(guarded_url + "/metrics", headers={"Token": TOKEN}, timeout=10).text
    assert 'sam3_requests_total{method="POST",route="/predict",status="401"}' in page


def test_the_time_to_refuse_does_not_depend_on_the_tokens_length():
    """The same wrong guess against a short and a long token, and a guess that is right but for its last
    character: the medians of many comparisons agree (digests of fixed length are compared in constant time)."""

    def batch_ns(access: AccessToken, guess: str) -> int:
        headers = {"authorization": f"Bearer {guess}"}
        started = time.perf_counter_ns()
        for _ in range(200):
            access.admits(headers)
        return time.perf_counter_ns() - started

    short, long = AccessToken("x" * 8), AccessToken("x" * 4096)
    guess = "y" * 8
    cases = [(short, guess), (long, guess), (short, "x" * 7 + "y")]
    samples: list[list[int]] = [[] for _ in cases]
    for _ in range(31):  # the cases take turns, so that a load on the machine weighs on all three alike
        for index, (access, guessed) in enumerate(cases):
            samples[index].append(batch_ns(access, guessed))
    figures = [sorted(taken)[len(taken) // 2] for taken in samples]
    assert max(figures) / min(figures) < 1.5, figures


def test_the_web_ui_asks_for_the_token_at_its_login(handler):
    url, server = serve_in_thread(create_app(lambda: handler, ui_path="/ui", api_token=TOKEN))
    try:
        assert requests.get(url + "/ui/config", timeout=30).status_code == 401  # the page's API, before a login
        assert (
            requests.post(url + "/ui/login", data={"username": "me", "password": WRONG}, timeout=30).status_code == 400
        )
        session = requests.Session()
        login = session.post(url + "/ui/login", data={"username": "me", "password": TOKEN}, timeout=30)
        assert login.status_code == 200 and login.json() == {"success": True}
        assert session.get(url + "/ui/config", timeout=30).status_code == 200
    finally:
        server.should_exit = True


def test_the_web_ui_takes_the_token_from_the_url_fragment(handler):
    """``/ui/token#token=...`` in the real browser: a wrong token is refused on the page, the right one signs in
    and opens the UI; the token leaves the address bar and never reaches the server's log."""
    url, server = serve_in_thread(create_app(lambda: handler, ui_path="/ui", api_token=TOKEN))
    errors: list[str] = []
    try:
        with browser_page(f"{url}/ui/token#token={WRONG}", errors) as page:
            page.wait_for_function("document.body.innerText.includes('refused this token')", timeout=WAIT_MS)
            assert "#" not in page.url
            page.goto("about:blank")  # else the next address differs by its fragment only: no new page load
            page.goto(f"{url}/ui/token#token={urllib.parse.quote(TOKEN)}", wait_until="domcontentloaded")
            page.wait_for_url(f"{url}/ui/", timeout=WAIT_MS, wait_until="commit")
            status = page.evaluate("fetch('config').then((answer) => answer.status)")
            assert status == 200, status  # the page's API answers: signed in
    finally:
        server.should_exit = True
    assert not errors, errors
