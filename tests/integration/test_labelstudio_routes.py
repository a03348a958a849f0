"""The ``/labelstudio`` routes over real HTTP (the app in a uvicorn thread around the real handler): health and
setup answer at once, while the model loads too; a refused setup carries its reason in the URL Label Studio
prints; predictions wait for the model like every model route; ``/metrics`` counts requests by kind."""

from __future__ import annotations

import threading
import time

import requests
from prometheus_client.parser import text_string_to_metric_families

from sam3_core.adapters.labelstudio.backend import LabelStudioBackend
from sam3_core.adapters.labelstudio.routes import label_studio_routes
from sam3_core.server.http_api import create_app
from sam3_core.settings import Settings
from sam3_core.testing.support import serve_in_thread

from helpers import b64, encode, scene

BRUSH = '<BrushLabels name="m" toName="image"><Label value="kitten"/></BrushLabels>'
CONFIG = f'<View><Image name="image" value="$image"/>{BRUSH}</View>'
TASK = {"id": 1, "data": {"image": "data:image/png;base64," + b64(encode(scene()))}}


def label_studio_app(load):
    routes = label_studio_routes(LabelStudioBackend(Settings()), 10 * 1024 * 1024)
    return serve_in_thread(create_app(load, extra_routes=[routes]))


def counts(url: str) -> dict[tuple[str, str], float]:
    page = requests.get(url + "/metrics", timeout=30).text
    return {
        (sample.labels["kind"], sample.labels["status"]): sample.value
        for family in text_string_to_metric_families(page)
        for sample in family.samples
        if sample.name == "sam3_labelstudio_requests_total"
    }


def test_health_and_setup_answer_at_once_while_the_model_loads(handler):
    loaded = threading.Event()
    url, server = label_studio_app(lambda: loaded.wait(60) and handler)
    try:
        started = time.perf_counter()
        health = requests.get(url + "/labelstudio/health", timeout=5)
        setup = requests.post(url + "/labelstudio/setup", json={"project": "1.1", "schema": CONFIG}, timeout=5)
        assert time.perf_counter() - started < 1.0
        assert health.status_code == 200 and health.json()["status"] == "UP" and health.json()["model_loaded"] is False
        assert setup.status_code == 200 and setup.json() == {"model_version": "sam3"}
        waiting = requests.post(url + "/labelstudio/predict", json={"tasks": [TASK], "label_config": CONFIG}, timeout=5)
        assert waiting.status_code == 503 and "Retry-After" in waiting.headers
        loaded.set()
        answer = requests.post(url + "/labelstudio/predict", json={"tasks": [TASK], "label_config": CONFIG}, timeout=60)
        assert answer.status_code == 200 and answer.json()["results"][0]["result"]
        assert requests.get(url + "/labelstudio/health", timeout=5).json()["model_loaded"] is True
        assert requests.post(url + "/labelstudio/webhook", json={"action": "ANNOTATION_CREATED"}, timeout=5).ok
        assert counts(url) == {
            ("health", "200"): 2,
            ("setup", "200"): 1,
            ("preannotation", "503"): 1,
            ("preannotation", "200"): 1,
            ("webhook", "200"): 1,
        }
    finally:
        loaded.set()
        server.should_exit = True


def test_a_refused_setup_names_its_reason_in_the_url_label_studio_shows(handler):
    url, server = label_studio_app(lambda: handler)
    try:
        body = {"project": "1.1", "schema": '<View><Text name="t" value="$t"/></View>'}
        raw = requests.post(url + "/labelstudio/setup", json=body, allow_redirects=False, timeout=5)
        assert (
            raw.status_code == 303 and raw.json()["error"] == "schema: has no <Image> tag: this backend segments images"
        )
        followed = requests.post(url + "/labelstudio/setup", json=body, timeout=5)  # as Label Studio's requests does
        assert followed.status_code == 400
        assert followed.url == url + "/labelstudio/refused/schema-has-no-Image-tag-this-backend-segments-images"
        assert followed.json()["error"] == "schema has no Image tag this backend segments images"
        click = {"result": [{"type": "keypointlabels", "value": {"x": 50, "y": 50}}]}
        interactive = requests.post(
            url + "/labelstudio/predict",
            json={"tasks": [TASK], "label_config": CONFIG, "params": {"context": click}},
            timeout=30,
        )
        assert interactive.status_code == 400 and "original_width" in interactive.json()["error"]
        assert requests.post(url + "/labelstudio/predict", data=b"{", timeout=5).status_code == 400
        assert counts(url) == {("setup", "400"): 2, ("interactive", "400"): 1, ("preannotation", "400"): 1}
    finally:
        server.should_exit = True
