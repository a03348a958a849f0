"""``GET /metrics``: what an operator watches, in the Prometheus text format (``prometheus_client``).

Counted as requests are answered (a few dictionary lookups and counter increments per request):
- ``sam3_requests_total{method, route, status}``: every answer of the HTTP routes, by route and status code;
- ``sam3_request_seconds{method, route}``: their latency, from arrival to the answer;
- ``sam3_stage_seconds{stage}``: the service's stages per image request (``wait`` for a place among
  ``SAM3_MAX_ACTIVE``, ``decode``, ``queue`` for the engine, ``backbone``, ``prompts``, ``postprocess``);
- ``sam3_batch_images``: the images of the engine batch each image request ran in;
- ``sam3_labelstudio_requests_total{kind, status}``: Label Studio backend requests by kind (``health``,
  ``setup``, ``preannotation``, ``interactive``, ``webhook``) and status code.

Read when scraped (no cost per request): requests holding a place and waiting for one, jobs waiting for the
engine, the feature and text caches' hits, misses and bytes, the video sessions open and the bytes they hold
(frames, detections, tracker state: ``sam3_video_sessions``, ``sam3_video_session_bytes``), and GPU memory
allocated and its peak. Nothing about a request's content is recorded: no prompt text, no image, no client
address.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Service record key -> stage label (sam3_core.service: milliseconds).
STAGES = {
    "wait_ms": "wait",
    "decode_ms": "decode",
    "queue_ms": "queue",
    "backbone_ms": "backbone",
    "prompts_ms": "prompts",
    "postprocess_ms": "postprocess",
}
SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
BATCH_IMAGES = (1, 2, 4, 8, 16, 32, 64)


class ServerMetrics:
    """One server's metrics, in a registry of their own (two apps in one process do not mix)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "sam3_requests",
            "Answers of the HTTP routes, by method, route and status code",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "sam3_request_seconds",
            "Time from a request's arrival to its answer",
            ["method", "route"],
            buckets=SECONDS,
            registry=self.registry,
        )
        self.stages = Histogram(
            "sam3_stage_seconds",
            "Time an image request spent in each stage",
            ["stage"],
            buckets=SECONDS,
            registry=self.registry,
        )
        self.batch_images = Histogram(
            "sam3_batch_images",
            "Images in the engine batch an image request ran in",
            buckets=BATCH_IMAGES,
            registry=self.registry,
        )
        self.label_studio = Counter(
            "sam3_labelstudio_requests",
            "Label Studio backend requests, by kind and status code",
            ["kind", "status"],
            registry=self.registry,
        )
        self._stage = {key: self.stages.labels(stage) for key, stage in STAGES.items()}
        self._service: Any = None
        self.registry.register(_ScrapeTime(self))

    def attach(self, handler: Any) -> None:
        """Observe ``handler``'s service (``EndpointHandler.service``, or a ``SegmentationService`` itself), once it
        is loaded."""
        service = getattr(handler, "service", handler)
        if isinstance(getattr(service, "observers", None), list):
            self._service = service
            service.observers.append(self.observe_record)

    def observe_answer(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def observe_label_studio(self, kind: str, status: int) -> None:
        self.label_studio.labels(kind, str(status)).inc()

    def observe_record(self, record: dict[str, Any]) -> None:
        """A service request record (``sam3_core.service``): its stage times and batch size, when it had them."""
        for key, stage in self._stage.items():
            value = record.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                stage.observe(value / 1000.0)
        if isinstance(record.get("batch_images"), int):
            self.batch_images.observe(record["batch_images"])

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _ScrapeTime:
    """The figures read when ``/metrics`` is scraped."""

    def __init__(self, metrics: ServerMetrics) -> None:
        self.metrics = metrics

    def describe(self) -> list[Metric]:
        return []  # collected fresh at each scrape; nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        service = self.metrics._service
        loaded = GaugeMetricFamily("sam3_model_loaded", "1 once the model is loaded and serving")
        loaded.add_metric([], float(service is not None))
        yield loaded
        if service is not None:
            places = GaugeMetricFamily("sam3_requests_in_progress", "Image requests by state", labels=["state"])
            places.add_metric(["active"], service.active.in_use())
            places.add_metric(["waiting"], service.active.waiting())
            yield places
            engine = service.engine
            pending = GaugeMetricFamily("sam3_engine_queue_jobs", "Image jobs waiting for an engine batch")
            pending.add_metric([], engine.batches.waiting())
            yield pending
            yield from _cache_metrics({"feature": engine.feature_cache, "text": engine.text_cache})
            sessions = GaugeMetricFamily("sam3_video_sessions", "Video sessions open")
            sessions.add_metric([], len(service.sessions))
            yield sessions
            held = GaugeMetricFamily(
                "sam3_video_session_bytes", "Bytes open sessions hold: frames (PNG), detections (RLE), tracker state"
            )
            held.add_metric([], service.sessions.nbytes)
            yield held
        if torch.cuda.is_available():
            memory = GaugeMetricFamily("sam3_gpu_memory_bytes", "GPU memory allocated by tensors", labels=["kind"])
            memory.add_metric(["allocated"], torch.cuda.memory_allocated())
            memory.add_metric(["peak"], torch.cuda.max_memory_allocated())
            yield memory


def _cache_metrics(caches: dict[str, Any]) -> Iterator[Metric]:
    lookups = CounterMetricFamily("sam3_cache_lookups", "Lookups by cache and result", labels=["cache", "result"])
    size = GaugeMetricFamily("sam3_cache_bytes", "Bytes held by each cache", labels=["cache"])
    for name, cache in caches.items():
        lookups.add_metric([name, "hit"], cache.hits)
        lookups.add_metric([name, "miss"], cache.misses)
        size.add_metric([name], cache.nbytes)
    yield lookups
    yield size
