"""HTTP server mirroring the Hugging Face inference toolkit's contract, plus the seed Space's routes.

Routes:
- ``GET /``, ``GET /health``: 200 once the handler is loaded (503 while loading, 500 if loading failed); with
  the web UI at ``/`` (``sam3-app``), ``GET /`` is the page.
- ``POST /``, ``POST /predict``: a JSON body goes to the handler as is; a binary image body
  (``image/jpeg|png|webp|tiff|bmp|gif``, or no content type / ``application/octet-stream`` with a body that is
  not JSON, as ``InferenceClient`` sends an image without parameters) becomes
  ``{"inputs": <image bytes>, "parameters": <query parameters>}``. A video session's ``propagate_in_video``
  with ``Accept: application/x-ndjson`` is answered as it goes, one JSON line per frame (``HandlerHost.stream``).
- ``POST /api/sam2_compatible``: ``{"inputs": {...}}`` -> the response.
- ``POST /api/predict``: ``{"data": [image, text, threshold]}`` -> ``{"data": [response]}`` (Gradio-style).
- ``GET /metrics``: Prometheus metrics (``sam3_core.server.metrics``).
- With the web UI: the page (at ``/ui/`` or ``/``) and its Gradio API (``gradio_client``'s ``/predict`` and
  ``/sam2_compatible``) under it.

Errors: bad input 400 (oversized body or image 413) ``{"success": false, "error": "..."}``; out of memory or
too many requests waiting 503; anything else 500 with a short message and an id (details in the log). The
toolkit answers 400 to every handler exception; this server tells client errors from server faults. While the
model loads, every route but the page answers 503 with ``Retry-After`` and ``estimated_time`` (seconds), the
Hugging Face Inference API's convention for a model that is loading.

A client that disconnects: its request's work stops (``sam3_core.cancel``; one request log line, outcome
``cancelled``); one that goes away while sending its body gets one log line, no traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from sam3_core.api.request import QUERY_LIST_FIELDS, parse_query_value
from sam3_core.cancel import Cancelled
from sam3_core.errors import InternalError, PayloadTooLarge, RequestError, ServiceUnavailable, quote
from sam3_core.server.access import CHALLENGE, REFUSAL, AccessToken
from sam3_core.server.json_answer import encode_json
from sam3_core.server.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from sam3_core.server.metrics import ServerMetrics

LOG = logging.getLogger("sam3_core.server")
# Inference Endpoints' toolkit decodes no video content type, so the local server does not take raw videos either.
RAW_VIDEO_HINT = 'send a video base64 in a JSON body: {"inputs": {"video": "<base64>", "text_prompts": [...]}}'
IMAGE_TYPES = frozenset(f"image/{kind}" for kind in ("jpeg", "jpg", "png", "webp", "tiff", "bmp", "gif"))
CLIENT_GONE = 499  # the status of an answer nobody reads (the client disconnected), as nginx logs it
# A binary body with no content type (or a generic one) is an image unless it starts as JSON does.
UNTYPED = frozenset(("", "application/octet-stream"))
STREAMED = "application/x-ndjson"  # an Accept header with it asks for a streamed answer (propagate_in_video)
JSON_START = (b"", b"{", b"[", b'"')  # also an empty body: parse_json_body says it is empty
# How long loading is expected to take from its start (a full-size checkpoint from the local cache on the 2-core
# development box: docs/BENCHMARKS.md "Start-up"), and what a client is told once that has passed.
EXPECTED_LOAD_S = 60.0
STILL_LOADING_S = 10.0


def json_response(content: Any, status_code: int = 200) -> Response:
    return Response(encode_json(content), status_code=status_code, media_type="application/json")


def error_response(status_code: int, message: str) -> Response:
    return json_response({"success": False, "error": message}, status_code)


def loading_response(loading_for_s: float) -> Response:
    """503 for a request that arrives while the model loads: ``estimated_time`` (seconds, as the Inference API
    says it) and ``Retry-After`` (whole seconds)."""
    estimate = max(STILL_LOADING_S, EXPECTED_LOAD_S - loading_for_s)
    body = {"success": False, "error": "model is loading", "estimated_time": round(estimate, 1)}
    response = json_response(body, 503)
    response.headers["Retry-After"] = str(math.ceil(estimate))
    return response


def query_parameters(query: Any) -> dict[str, Any]:
    """Query string -> handler ``parameters``: numbers and true/false converted; list fields comma-separated
    (``points=10,20,30,40`` is ``[[10, 20], [30, 40]]``, ``boxes`` likewise by fours)."""
    parameters: dict[str, Any] = {}
    for name, text in query.multi_items():
        value = parse_query_value(name, text)
        if name in QUERY_LIST_FIELDS:
            parameters.setdefault(name, []).extend(value)
        else:
            parameters[name] = value
    return parameters


Work = Callable[[Any, Any, threading.Event], Any]  # (handler, payload, cancel) -> a JSON-ready answer
# (host, metrics, guard) -> more routes for the app; guard(endpoint, route) counts and maps errors as for the others.
RouteFactory = Callable[["HandlerHost", ServerMetrics, Callable[[Callable, str], Callable]], list[Route]]


def _handler_answer(handler: Any, payload: Any, cancel: threading.Event) -> Any:
    """The default ``Work``: the handler's own answer."""
    return handler(payload, cancel=cancel)


async def cancel_on_disconnect(request: Request, cancel: threading.Event) -> None:
    """Set ``cancel`` when the client disconnects (call once the body has been read: what comes next is the
    disconnect, or the end of the response)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass
    cancel.set()


class HandlerHost:
    """Loads the handler in a background thread and runs calls in worker threads, bounded by ``max_waiting``.
    ``on_load_failure`` (if given) is called with the exception when loading fails, e.g. to stop the server.
    The handler is called as ``handler(payload, cancel=event)``; the event is set when the client disconnects."""

    def __init__(
        self,
        load: Callable[[], Any],
        max_waiting: int,
        on_load_failure: Callable[[BaseException], None] | None = None,
        on_loaded: Callable[[Any], None] | None = None,
    ) -> None:
        self._load = load
        self._on_load_failure = on_load_failure
        self._on_loaded = on_loaded
        self.handler: Any = None
        self.load_error: str | None = None
        self.load_started = time.monotonic()
        self._slots = threading.BoundedSemaphore(max_waiting)
        self._thread = threading.Thread(target=self._load_now, name="sam3-load", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _load_now(self) -> None:
        self.load_started = time.monotonic()
        try:
            handler = self._load()
            if self._on_loaded is not None:
                self._on_loaded(handler)
            self.handler = handler
        except Exception as exc:  # noqa: BLE001 - reported by /health and every request
            LOG.exception("loading the handler failed")
            self.load_error = f"{type(exc).__name__}: {exc}"
            if self._on_load_failure is not None:
                self._on_load_failure(exc)

    def model_info(self) -> dict[str, Any]:
        """``{"loaded": bool, "random_weights": bool}`` (random: the tiny random checkpoint), for the web UI."""
        random_weights = bool(getattr(self.handler, "random_weights", False))
        return {"loaded": self.handler is not None, "random_weights": random_weights}

    def call_sync(self, payload: Any) -> Any:
        """The handler's answer, for in-process callers (the web UI); raises while the model is loading."""
        if self.handler is None:
            raise RuntimeError(self.load_error or "the model is still loading, try again in a moment")
        return self.handler(payload)

    @property
    def service(self) -> Any:
        """The ``SegmentationService`` under the handler (``EndpointHandler.service``, or the handler itself, as
        ``sam3-serve`` loads it)."""
        return getattr(self.handler, "service", self.handler)

    def stream_sync(self, payload: Any) -> Iterator[dict[str, Any]]:
        """The service's streamed answer (``service.stream``), for in-process callers (the web UI)."""
        if self.handler is None:
            raise RuntimeError(self.load_error or "the model is still loading, try again in a moment")
        return self.service.stream(payload)

    def unavailable(self) -> Response | None:
        """The answer while there is no handler: 503 while it loads (``loading_response``), 500 once loading failed;
        None when the handler is ready."""
        if self.handler is not None:
            return None
        if self.load_error is not None:
            return error_response(500, self.load_error)
        return loading_response(time.monotonic() - self.load_started)

    def _admit(self, request: Request) -> Response | tuple[threading.Event, asyncio.Future]:
        """The refusal of a call (loading, too many waiting), or, its place taken, its cancel event and the task
        that sets it when the client disconnects."""
        if (refusal := self.unavailable()) is not None:
            return refusal
        if not self._slots.acquire(blocking=False):
            return error_response(503, "overloaded: too many requests waiting, retry later")
        cancel = threading.Event()
        return cancel, asyncio.ensure_future(cancel_on_disconnect(request, cancel))

    async def call(self, payload: Any, request: Request, work: Work | None = None) -> Response:
        """The handler's answer to ``payload`` (``request``'s body, already read) as a response; with ``work``,
        ``work(handler, payload, cancel)``'s answer (another protocol over the same handler)."""
        admitted = self._admit(request)
        if isinstance(admitted, Response):
            return admitted
        cancel, watcher = admitted
        try:
            return json_response(await run_in_threadpool(work or _handler_answer, self.handler, payload, cancel))
        except Exception as exc:  # noqa: BLE001 - answered as the error it is (_error_answer)
            return _error_answer(exc)
        finally:
            watcher.cancel()
            self._slots.release()

    async def stream(
        self,
        payload: Any,
        request: Request,
        render: Callable[[Any], bytes] | None = None,
        media_type: str = STREAMED,
    ) -> Response:
        """A streamed answer (``service.stream``): each item as it comes, as ``render(item)`` writes it (default:
        one JSON line, ``application/x-ndjson``). An error before the first item is an ordinary error answer;
        after it, the last item rendered is ``{"error": ...}``. When the client goes away, the work stops at its
        next frame."""
        render = render or _line
        admitted = self._admit(request)
        if isinstance(admitted, Response):
            return admitted
        cancel, watcher = admitted
        items = self.service.stream(payload, cancel)
        end = object()

        def advance() -> Any:
            return next(items, end)

        try:
            first = await run_in_threadpool(advance)
        except Exception as exc:  # noqa: BLE001 - answered as the error it is
            watcher.cancel()
            self._slots.release()
            return _error_answer(exc)

        async def lines():
            try:
                item = first
                while item is not end:
                    yield render(item)
                    item = await run_in_threadpool(advance)
            except Cancelled:
                return
            except Exception as exc:  # noqa: BLE001 - the stream has begun: its last line says what failed
                yield render({"error": json.loads(_error_answer(exc).body)["error"]})
            finally:
                cancel.set()  # a client that went away: the frame being tracked is the last
                watcher.cancel()
                with contextlib.suppress(ValueError):  # "already executing": it ends at its next frame anyway
                    items.close()  # at a yield (no model work): its session is released and its line logged
                self._slots.release()

        return StreamingResponse(lines(), media_type=media_type)


def _line(item: Any) -> bytes:
    """One JSON line of a streamed answer."""
    body = encode_json(item)
    return (body if isinstance(body, bytes) else body.encode("utf-8")) + b"\n"


def _error_answer(exc: Exception) -> Response:
    """The answer for a fault of the handler: its status and short message (never a traceback)."""
    if isinstance(exc, Cancelled):  # the client has gone; the service logged it
        return Response(status_code=CLIENT_GONE)
    if isinstance(exc, RequestError):
        return error_response(exc.status_code, str(exc))
    if isinstance(exc, ValueError):  # the toolkit's convention: a handler ValueError is the client's fault
        return error_response(400, str(exc)[:300])
    if isinstance(exc, (ServiceUnavailable, InternalError)):  # already logged and cleaned up by the service
        return error_response(exc.status_code, str(exc))
    error_id = uuid.uuid4().hex[:12]
    LOG.error("request %s failed", error_id, exc_info=exc)
    return error_response(500, f"internal error (id {error_id})")


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge("body", f"is {declared} bytes, over the {limit} byte limit")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge("body", f"is over the {limit} byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


async def parse_json(request: Request, limit: int) -> Any:
    return parse_json_body(await read_body(request, limit))


def parse_json_body(body: bytes) -> Any:
    if not body.strip():
        raise RequestError("body", "is empty; send a JSON object")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError("body", f"is not valid JSON ({str(exc)[:80]})") from None
    except RecursionError:
        raise RequestError("body", "is nested too deeply") from None


def create_app(
    load: Callable[[], Any],
    max_body_bytes: int = 80 * 1024 * 1024,
    max_waiting: int = 64,
    ui_path: str | None = None,
    on_load_failure: Callable[[BaseException], None] | None = None,
    extra_routes: Sequence[RouteFactory] = (),
    api_token: str | None = None,
) -> Starlette:
    """The ASGI app. ``load`` builds the handler (called once, in a background thread, at start-up); when it
    fails, ``/health`` answers 500 and ``on_load_failure`` is called (``sam3-serve`` then exits non-zero).
    ``ui_path``: also serve the Gradio web UI (``sam3_core.ui.page``, with its API endpoints ``/predict`` and
    ``/sam2_compatible``) there: ``"/ui"`` (``sam3-serve --ui``; ``/ui`` redirects to ``/ui/``) or ``"/"`` (the
    Space, ``sam3-app``: the page replaces ``GET /``, health is ``GET /health``). ``extra_routes``: more
    protocols over the same handler (``sam3_core.adapters.labelstudio.routes``). ``api_token``
    (``SAM3_API_TOKEN``): every route but ``GET /health`` answers 401 unless the request presents it
    (``sam3_core.server.access``), before its body is read; the web UI asks for it at a login form (any user
    name, the token as password), or takes it from ``<ui>/token#token=<token>`` (``static/token_login.html``).
    With a UI the server must call ``app.state.end_streams()`` when it begins to shut down (``sam3-serve``
    does): an open page's session heartbeat is a response that never ends by itself, and uvicorn waits for
    every response."""
    metrics = ServerMetrics()
    host = HandlerHost(load, max_waiting, on_load_failure, on_loaded=metrics.attach)
    access = AccessToken(api_token) if api_token else None

    def guarded(endpoint: Callable, route: str) -> Callable:
        async def wrapper(request: Request) -> Response:
            started = time.perf_counter()
            try:
                if access is not None and route != "/health" and not access.admits(request.headers):
                    LOG.warning("%s %s: refused (401), missing or wrong API token", request.method, request.url.path)
                    response = error_response(401, REFUSAL)
                    response.headers["WWW-Authenticate"] = CHALLENGE
                else:
                    response = await endpoint(request)
            except RequestError as exc:
                response = error_response(exc.status_code, str(exc))
            except ClientDisconnect:
                LOG.info("%s %s: the client went away before its body was complete", request.method, request.url.path)
                response = Response(status_code=CLIENT_GONE)
            metrics.observe_answer(request.method, route, response.status_code, time.perf_counter() - started)
            return response

        return wrapper

    async def health(request: Request) -> Response:
        return host.unavailable() or json_response({"status": "ok"})

    async def predict(request: Request) -> Response:
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type in IMAGE_TYPES or media_type in UNTYPED:
            body = await read_body(request, max_body_bytes)
            if media_type in IMAGE_TYPES or body[:64].lstrip()[:1] not in JSON_START:
                payload = {"inputs": body, "parameters": query_parameters(request.query_params)}
            else:
                payload = parse_json_body(body)
        elif media_type == "application/json":
            payload = await parse_json(request, max_body_bytes)
            if STREAMED in request.headers.get("accept", ""):
                return await host.stream(payload, request)
        elif media_type.startswith("video/"):  # the toolkit refuses these before the handler: no raw videos there
            return error_response(415, f"content-type {quote(media_type)}: {RAW_VIDEO_HINT}")
        else:
            return error_response(415, f"content-type {quote(media_type)}: send application/json or an image")
        return await host.call(payload, request)

    async def sam2_compatible(request: Request) -> Response:
        return await host.call(await parse_json(request, max_body_bytes), request)

    async def gradio_predict(request: Request) -> Response:
        response = await host.call(await parse_json(request, max_body_bytes), request)
        if response.status_code != 200:
            return response
        return Response(b'{"data":[' + response.body + b"]}", media_type="application/json")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        host.start()
        yield

    async def metrics_page(request: Request) -> Response:
        return Response(metrics.exposition(), media_type=METRICS_CONTENT_TYPE)

    routes = [
        Route("/health", guarded(health, "/health"), methods=["GET"]),
        Route("/", guarded(predict, "/"), methods=["POST"]),
        Route("/predict", guarded(predict, "/predict"), methods=["POST"]),
        Route("/api/sam2_compatible", guarded(sam2_compatible, "/api/sam2_compatible"), methods=["POST"]),
        Route("/api/predict", guarded(gradio_predict, "/api/predict"), methods=["POST"]),
        Route("/metrics", guarded(metrics_page, "/metrics"), methods=["GET"]),
    ]
    if ui_path != "/":
        routes.insert(0, Route("/", guarded(health, "/"), methods=["GET"]))
    for factory in extra_routes:
        routes += factory(host, metrics, guarded)
    if ui_path is None:
        app = Starlette(routes=routes, lifespan=lifespan)
        app.state.host, app.state.metrics = host, metrics
        return app
    import gradio as gr
    from fastapi import FastAPI

    from sam3_core.ui.page import build_ui, static_text

    if access is not None:  # <ui>/token#token=...: the token from the URL fragment, posted to the login form
        login_page = static_text("token_login.html")

        async def token_page(request: Request) -> Response:
            return Response(login_page, media_type="text/html", headers={"Cache-Control": "no-store"})

        routes.append(Route(ui_path.rstrip("/") + "/token", token_page, methods=["GET"]))
    # The routes in this app itself, not in a mount at "/": then its router redirects /ui to /ui/ too.
    app = FastAPI(routes=routes, lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.host, app.state.metrics = host, metrics
    page = build_ui(host.call_sync, host.model_info, stream=host.stream_sync)
    login = access.gradio_login if access is not None else None
    app = gr.mount_gradio_app(app, page, path=ui_path, auth=login)  # after the routes: they come first
    app.state.end_streams = app.routes[-1].app.stop_event.set  # a page's heartbeat stream ends only on this
    return app
