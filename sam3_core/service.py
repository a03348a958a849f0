"""One request from payload to JSON, with a structured log line and faults mapped to clean errors.

``SegmentationService.__call__``: ``parse_payload`` -> ``Sam3Engine.predict`` -> ``build_response``; many images
(``{"inputs": [...]}``): ``parse_batch_payload`` -> ``Sam3Engine.predict_many`` -> a response each; a video request
(a ``video`` field): ``parse_video_payload`` -> ``answer_video`` (tracking frame by frame, ``sam3_core.model.video``).
Bad input raises ``RequestError`` (``ValueError``, HTTP 400/413); out of memory raises ``ServiceUnavailable``
(503) after dropping caches and freeing GPU memory; any other fault raises ``InternalError`` (500) with an id
whose details are in the log. The service keeps serving after each of them. A caller may pass a
``threading.Event`` (``sam3_core.cancel``): once it is set, the request stops before its next stage with
``Cancelled`` (logged as outcome ``cancelled``, status 499).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import torch

from sam3_core.api.batch import batch_size, element_error, is_batch_payload, parse_batch_payload
from sam3_core.api.request import SegmentRequest, check_token_lengths, parse_payload
from sam3_core.api.response import build_response
from sam3_core.api.session_request import is_session_payload, parse_session_payload
from sam3_core.api.session_response import answer_session, stream_propagation
from sam3_core.api.video_request import is_video_payload, parse_video_payload
from sam3_core.api.video_response import answer_video
from sam3_core.cancel import Cancelled, FairSlots, check
from sam3_core.errors import InternalError, RequestError, ServiceUnavailable
from sam3_core.model.engine import Sam3Engine
from sam3_core.model.video import VideoTracker
from sam3_core.settings import RequestSettings
from sam3_core.video_sessions import SessionStore

LOG = logging.getLogger("sam3_core")
REQUEST_LOG = logging.getLogger("sam3_core.requests")
PROMPT_PREFIX = 12  # characters of each text prompt that may reach the log


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 2)


def describe(request: SegmentRequest) -> dict[str, Any]:
    """What the request log may say about a request: sizes and counts, a short prefix of at most 3 prompts."""
    return {
        "image": list(request.image_size),
        "text_prompts": len(request.text_prompts),
        "prompt_prefixes": [prompt[:PROMPT_PREFIX] for prompt in request.text_prompts[:3]],
        "points": len(request.points),
        "boxes": len(request.boxes),
    }


class SegmentationService:
    """Answers payloads from any number of threads: what ``EndpointHandler.__call__`` runs. At most
    ``settings.max_active`` requests are past their body at once (decoded, on the model or being answered); the
    others wait for a place in arrival order, so the working set is bounded however many requests arrive."""

    def __init__(self, engine: Sam3Engine, settings: RequestSettings, random_weights: bool = False) -> None:
        self.engine = engine
        self.settings = settings
        self.random_weights = random_weights  # the tiny random checkpoint (``tiny_checkpoint``): meaningless masks
        self.active = FairSlots(settings.max_active)
        # Called with each request's log record once it is answered (sam3_core.server.metrics); must not raise.
        self.observers: list[Callable[[dict[str, Any]], None]] = []
        self._video_tracker: VideoTracker | None = None
        self._video_lock = threading.Lock()
        self.sessions = SessionStore(settings.max_sessions, settings.session_ttl_s, settings.session_max_bytes)

    @property
    def video_tracker(self) -> VideoTracker:
        """The video tracker over the engine's weights, assembled on the first video request."""
        with self._video_lock:
            if self._video_tracker is None:
                if self.engine.directory is None:
                    raise RuntimeError("video tracking needs an engine loaded from a checkpoint directory")
                self._video_tracker = VideoTracker(self.engine, self.engine.directory)
            return self._video_tracker

    def __call__(self, data: Any, cancel: threading.Event | None = None) -> dict[str, Any] | list[dict[str, Any]]:
        """The response to ``data`` (a list of responses for ``{"inputs": [...]}``); ``cancel``: stop
        (``Cancelled``) at the next stage once it is set."""
        started = time.perf_counter()
        record: dict[str, Any] = {"event": "request", "id": uuid.uuid4().hex[:12]}
        with self._recorded(record, started):
            # A request of many images takes a place per image (all of them, beyond SAM3_MAX_ACTIVE).
            places = batch_size(data, self.settings) if is_batch_payload(data) else 1
            with self.active.held(cancel, "decode", places=places):
                record["wait_ms"] = _ms_since(started)
                check(cancel, "decode")
                if is_session_payload(data):
                    return self._session(data, cancel, record)
                if is_video_payload(data):
                    return self._video(data, cancel, record)
                if is_batch_payload(data):
                    return self._images(data, cancel, record)
                request = parse_payload(data, self.settings)
                record.update(describe(request))
                check_token_lengths(self.engine.token_counts(request.text_prompts), self.engine.max_text_tokens)
                prediction = self.engine.predict(request.work(), cancel)
                check(cancel, "postprocess")
                answered = time.perf_counter()
                response = build_response(request, prediction)
            record.update(outcome="ok", status=200, objects=len(prediction.objects), **prediction.timings)
            record.update(decode_ms=round(request.decode_ms, 2), postprocess_ms=_ms_since(answered))
            return response

    def stream(self, data: Any, cancel: threading.Event | None = None) -> Iterator[dict[str, Any]]:
        """A ``propagate_in_video`` session request answered as it goes: each frame's objects as soon as they are
        known (``session_response.stream_propagation``), then a summary; one log line at the end, as for any
        request (outcome ``cancelled`` when ``cancel`` stopped it)."""
        started = time.perf_counter()
        record: dict[str, Any] = {"event": "request", "id": uuid.uuid4().hex[:12], "streamed": True}
        with self._recorded(record, started), self.active.held(cancel, "decode"):
            record["wait_ms"] = _ms_since(started)
            request = parse_session_payload(data, self.settings) if is_session_payload(data) else None
            if request is None or request.kind != "propagate_in_video":
                raise RequestError("type", "only propagate_in_video is streamed; send the others as JSON requests")
            record.update(video=True, session=request.kind)
            frames = 0
            for item in stream_propagation(self.sessions, request, cancel):
                frames += "frame_index" in item
                yield item
            record.update(outcome="ok", status=200, frames=frames)

    @contextlib.contextmanager
    def _recorded(self, record: dict[str, Any], started: float) -> Iterator[None]:
        """Map a request's faults to the errors the servers answer, and log its record when it ends."""
        try:
            yield
        except Cancelled as stop:  # nobody waits for the answer (e.g. the client disconnected)
            record.update(outcome="cancelled", status=499, cancelled_before=stop.stage)
            raise
        except GeneratorExit:  # a streamed answer closed before its end
            record.update(outcome="cancelled", status=499, cancelled_before="stream")
            raise
        except RequestError as error:
            record.update(outcome="bad_request", status=error.status_code, error=str(error)[:200])
            raise
        except ServiceUnavailable as error:  # e.g. every video session in use
            record.update(outcome="unavailable", status=503, error=str(error)[:200])
            raise
        except torch.OutOfMemoryError:
            self.engine.release_memory()
            record.update(outcome="out_of_memory", status=503)
            raise ServiceUnavailable("out of memory: retry later or send a smaller request") from None
        except Exception as error:
            LOG.exception("request %s failed", record["id"])
            record.update(outcome="error", status=500, error=type(error).__name__)
            raise InternalError(f"internal error (id {record['id']})") from None
        finally:
            record["total_ms"] = _ms_since(started)
            REQUEST_LOG.info(json.dumps(record, default=str))
            for observe in self.observers:
                observe(record)

    def _images(self, data: Any, cancel: threading.Event | None, record: dict[str, Any]) -> list[dict[str, Any]]:
        """Many images in one request (``sam3_core.api.batch``): every element validated, then one
        ``predict_many``; faults are mapped by ``__call__``."""
        requests = parse_batch_payload(data, self.settings)
        record.update(images=len(requests), items=[describe(request) for request in requests[:3]])
        for index, request in enumerate(requests):
            try:
                check_token_lengths(self.engine.token_counts(request.text_prompts), self.engine.max_text_tokens)
            except RequestError as error:
                raise element_error(index, error) from None
        predictions = self.engine.predict_many([request.work() for request in requests], cancel)
        check(cancel, "postprocess")
        answered = time.perf_counter()
        responses = [
            build_response(request, prediction) for request, prediction in zip(requests, predictions, strict=True)
        ]
        timings = predictions[0].timings
        record.update(
            outcome="ok",
            status=200,
            objects=sum(len(prediction.objects) for prediction in predictions),
            decode_ms=round(sum(request.decode_ms for request in requests), 2),
            queue_ms=timings.get("queue_ms"),
            backbone_ms=timings.get("backbone_ms"),
            prompts_ms=timings.get("prompts_ms"),
            postprocess_ms=_ms_since(answered),
            batch_images=timings.get("batch_images"),
            cache_hits=sum(bool(prediction.timings.get("cache_hit")) for prediction in predictions),
        )
        return responses

    def _session(self, data: Any, cancel: threading.Event | None, record: dict[str, Any]) -> dict[str, Any]:
        """A video session request (``sam3_core.api.session_response``); faults are mapped by ``__call__``."""
        request = parse_session_payload(data, self.settings)
        record.update(video=True, session=request.kind, text_prompts=len(request.texts))
        record["prompt_prefixes"] = [prompt[:PROMPT_PREFIX] for prompt in request.texts[:3]]
        check_token_lengths(self.engine.token_counts(request.texts), self.engine.max_text_tokens)
        response = answer_session(self.sessions, self.video_tracker, request, self.settings, cancel)
        record.update(outcome="ok", status=200, objects=response.get("num_objects"))
        if "video" in response:
            record["frames"] = response["video"]["num_frames"]
        return response

    def _video(self, data: Any, cancel: threading.Event | None, record: dict[str, Any]) -> dict[str, Any]:
        """A video request (``sam3_core.api.video_response``); faults are mapped by ``__call__``."""
        request = parse_video_payload(data, self.settings)
        prompts = request.text_prompts
        record.update(
            video=True,
            prompt_types=request.prompt_types,
            text_prompts=len(prompts),
            prompt_prefixes=[prompt[:PROMPT_PREFIX] for prompt in prompts[:3]],
        )
        check_token_lengths(self.engine.token_counts(prompts), self.engine.max_text_tokens)
        tracker = self.video_tracker
        response, timings = answer_video(tracker, request, self.settings, cancel)
        video = response["video"]
        record.update(
            outcome="ok",
            status=200,
            objects=response["num_objects"],
            frames=video["num_frames"],
            frame_size=[video["width"], video["height"]],
            **timings,
        )
        return response
