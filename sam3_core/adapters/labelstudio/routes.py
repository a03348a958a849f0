"""Label Studio's ML backend routes, under ``/labelstudio`` (the URL a user gives Label Studio's "Connect model"):

- ``GET /labelstudio/health`` (and ``GET /labelstudio``): ``{"status": "UP", ...}`` at once, while the model
  loads too (Label Studio gives it 1 s); 500 once loading has failed;
- ``POST /labelstudio/setup``: checks the labeling config and extra params, answers the model version at once
  (Label Studio gives it 3 s; no model work, no waiting for a running request). A refusal is a ``303`` to
  ``/labelstudio/refused/<the-reason-in-words>``, which answers 400: Label Studio shows only the failed URL of an
  error ("400 Client Error: Bad Request for url: ..."), so the reason travels in the URL it shows;
- ``POST /labelstudio/predict``: pre-annotation of tasks, or an interactive prediction
  (``sam3_core.adapters.labelstudio.backend``); like every model route, 503 while the model loads;
- ``POST /labelstudio/webhook``: annotation events; this backend does not train, so they are acknowledged.

Each answer is counted in ``sam3_labelstudio_requests_total{kind, status}``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sam3_core.adapters.labelstudio.backend import LabelStudioBackend
from sam3_core.adapters.labelstudio.prompts import describe_context
from sam3_core.errors import RequestError
from sam3_core.server.http_api import (
    HandlerHost,
    RouteFactory,
    error_response,
    json_response,
    parse_json,
    read_body,
)
from sam3_core.server.metrics import ServerMetrics

PREFIX = "/labelstudio"
WEBHOOK_BODY_BYTES = 16 * 1024 * 1024  # an event carries a whole annotation; it is read and dropped
REASON_CHARS = 200


def reason_path(message: str) -> str:
    """The path of a refusal whose last segment is ``message`` in words joined by hyphens (URL-safe as is)."""
    words = re.sub(r"[^A-Za-z0-9_.]+", "-", message).strip("-")[:REASON_CHARS]
    return f"{PREFIX}/refused/{words}"


def label_studio_routes(backend: LabelStudioBackend, max_body_bytes: int) -> RouteFactory:
    """The routes' factory for ``create_app(extra_routes=...)``."""

    def factory(host: HandlerHost, metrics: ServerMetrics, guard: Callable[[Callable, str], Callable]) -> list[Route]:
        def counted(endpoint: Callable[[Request], Awaitable[Response]], route: str, kind: str) -> Callable:
            guarded = guard(endpoint, PREFIX + route)

            async def wrapper(request: Request) -> Response:
                response = await guarded(request)
                status = getattr(request.state, "status", response.status_code)
                metrics.observe_label_studio(getattr(request.state, "kind", kind), status)
                return response

            return wrapper

        async def health(request: Request) -> Response:
            if host.load_error is not None:
                return json_response({"status": "ERROR", "error": host.load_error}, 500)
            loaded = host.handler is not None
            answer = {"status": "UP", "model_class": "SAM3", "model_version": backend.model_version}
            return json_response({**answer, "model_loaded": loaded})

        async def setup(request: Request) -> Response:
            try:
                return json_response(backend.setup(await parse_json(request, max_body_bytes)))
            except RequestError as error:
                request.state.status = error.status_code
                response = error_response(error.status_code, str(error))
                response.status_code = 303
                response.headers["Location"] = reason_path(str(error))
                return response

        async def refused(request: Request) -> Response:
            return error_response(400, request.path_params["reason"].replace("-", " "))

        async def predict(request: Request) -> Response:
            body = await parse_json(request, max_body_bytes)
            params = body.get("params") if isinstance(body, dict) else None
            request.state.kind = describe_context(params.get("context") if isinstance(params, dict) else None)

            def work(handler: Any, body: Any, cancel: Any) -> dict[str, Any]:
                return backend.predict(body, lambda payload: handler(payload, cancel=cancel))

            return await host.call(body, request, work)

        async def webhook(request: Request) -> Response:
            await read_body(request, WEBHOOK_BODY_BYTES)
            return json_response({"status": "ok", "detail": "this backend does not train; event ignored"})

        return [
            Route(PREFIX, counted(health, "", "health"), methods=["GET"]),
            Route(PREFIX + "/health", counted(health, "/health", "health"), methods=["GET"]),
            Route(PREFIX + "/setup", counted(setup, "/setup", "setup"), methods=["POST"]),
            Route(PREFIX + "/refused/{reason}", guard(refused, PREFIX + "/refused"), methods=["GET"]),
            Route(PREFIX + "/predict", counted(predict, "/predict", "preannotation"), methods=["POST"]),
            Route(PREFIX + "/webhook", counted(webhook, "/webhook", "webhook"), methods=["POST"]),
        ]

    return factory
