"""X-AnyLabeling's remote-server routes on ``sam3-serve``: ``GET /v1/models`` and ``POST /v1/predict``
(``sam3_core.adapters.xanylabeling.protocol``), and its video routes ``POST /v1/video/init``, ``prompt``,
``propagate/stream`` and ``cleanup/{session_id}`` (``sam3_core.adapters.xanylabeling.video``). Its client sends
the token as a ``Token`` header, which ``SAM3_API_TOKEN`` accepts."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sam3_core.adapters.http_routes import explained, translated
from sam3_core.adapters.xanylabeling import video
from sam3_core.adapters.xanylabeling.protocol import model_list, predict
from sam3_core.errors import RequestError
from sam3_core.server.http_api import HandlerHost, RouteFactory, error_response, json_response, parse_json
from sam3_core.server.metrics import ServerMetrics

TOOL = "x-anylabeling"


def x_anylabeling_routes(display_name: str, max_body_bytes: int) -> RouteFactory:
    """The routes' factory for ``create_app(extra_routes=...)``; ``display_name`` is the model's name in the
    client's list."""
    models = model_list(display_name)
    fineness = video.Fineness()

    def factory(host: HandlerHost, metrics: ServerMetrics, guard: Callable[[Callable, str], Callable]) -> list[Route]:
        async def list_models(request: Request) -> Response:
            return json_response(models)

        async def propagate(request: Request) -> Response:
            try:
                payload = video.propagation_payload(await parse_json(request, max_body_bytes))
            except RequestError as error:
                return error_response(error.status_code, str(error))
            events = video.PropagationEvents(fineness.of(payload["inputs"]["session_id"]))
            return await host.stream(payload, request, events, "text/event-stream")

        async def cleanup(request: Request) -> Response:
            payload = {"inputs": {"type": "close_session", "session_id": request.path_params["session_id"]}}

            def work(handler, sent, cancel):
                handler(sent, cancel=cancel)
                return {"success": True, "data": {"message": "session closed"}}

            return await host.call(payload, request, work)

        routes = {
            "/v1/models": (list_models, "GET"),
            "/v1/predict": (translated(host, predict, max_body_bytes), "POST"),
            "/v1/video/init": (translated(host, video.init, max_body_bytes), "POST"),
            "/v1/video/prompt": (translated(host, partial(video.prompt, fineness=fineness), max_body_bytes), "POST"),
            "/v1/video/propagate/stream": (propagate, "POST"),
            "/v1/video/cleanup/{session_id}": (cleanup, "POST"),
        }
        return [
            Route(path, explained(TOOL, guard(endpoint, path)), methods=[method])
            for path, (endpoint, method) in routes.items()
        ]

    return factory
