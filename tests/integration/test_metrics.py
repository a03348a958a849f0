"""``GET /metrics`` over real HTTP: the app in a uvicorn thread around the real handler, its page read with
prometheus_client's own parser. Requests counted by route and status, every stage timed, batch sizes, cache hits
and misses, the queue gauges; no prompt text on the page."""

from __future__ import annotations

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from sam3_core.server.http_api import create_app
from sam3_core.testing.support import serve_in_thread

SECRET = "zebra crossing at dusk"  # a prompt that must not reach the page


@pytest.fixture
def metrics_url(handler):
    url, server = serve_in_thread(create_app(lambda: handler))
    yield url
    server.should_exit = True
    handler.service.observers.clear()


def scrape(url: str) -> tuple[str, dict]:
    """The page, and its samples: ``(name, sorted label items) -> value``."""
    page = requests.get(url + "/metrics", timeout=30)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(page.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return page.text, samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_requests_stages_batches_and_caches(metrics_url, image_b64):
    _, before = scrape(metrics_url)
    good = {"inputs": {"image": image_b64, "text_prompts": [SECRET], "confidence_threshold": 0.0}}
    assert requests.post(metrics_url + "/", json=good, timeout=120).status_code == 200
    assert requests.post(metrics_url + "/api/sam2_compatible", json=good, timeout=120).status_code == 200
    bad = {"inputs": {"image": image_b64, "text_prompts": [SECRET], "confidence_threshold": 7}}
    assert requests.post(metrics_url + "/", json=bad, timeout=60).status_code == 400
    page, after = scrape(metrics_url)

    def delta(name: str, **labels) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("sam3_requests_total", method="POST", route="/", status="200") == 1
    assert delta("sam3_requests_total", method="POST", route="/", status="400") == 1
    assert delta("sam3_requests_total", method="POST", route="/api/sam2_compatible", status="200") == 1
    assert delta("sam3_request_seconds_count", method="POST", route="/") == 2
    assert delta("sam3_stage_seconds_count", stage="wait") == 3, "every request waits for a place, the bad one too"
    for stage in ("decode", "queue", "backbone", "prompts", "postprocess"):
        assert delta("sam3_stage_seconds_count", stage=stage) == 2, stage
        assert delta("sam3_stage_seconds_sum", stage=stage) >= 0
    assert delta("sam3_stage_seconds_sum", stage="backbone") > 0, "the first of the two ran the ViT"
    assert delta("sam3_batch_images_count") == 2 and delta("sam3_batch_images_sum") == 2
    assert delta("sam3_cache_lookups_total", cache="feature", result="hit") >= 1, "the same picture twice"
    assert delta("sam3_cache_lookups_total", cache="text", result="hit") >= 1, "the same prompt twice"
    assert value(after, "sam3_cache_bytes", cache="feature") > 0
    assert value(after, "sam3_model_loaded") == 1
    assert value(after, "sam3_requests_in_progress", state="active") == 0
    assert ("sam3_requests_in_progress", (("state", "waiting"),)) in after
    assert ("sam3_engine_queue_jobs", ()) in after
    assert "zebra" not in page and "dusk" not in page, "no prompt text on the page"
