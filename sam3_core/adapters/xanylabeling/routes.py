"""X-AnyLabeling's remote-server routes on ``sam3-serve``: ``GET /v1/models`` and ``POST /v1/predict``
(``sam3_core.adapters.xanylabeling.protocol``). Its client sends the token as a ``Token`` header, which
``SAM3_API_TOKEN`` accepts."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sam3_core.adapters.http_routes import explained, translated
from sam3_core.adapters.xanylabeling.protocol import model_list, predict
from sam3_core.server.http_api import HandlerHost, RouteFactory, json_response
from sam3_core.server.metrics import ServerMetrics

TOOL = "x-anylabeling"


def x_anylabeling_routes(display_name: str, max_body_bytes: int) -> RouteFactory:
    """The routes' factory for ``create_app(extra_routes=...)``; ``display_name`` is the model's name in the
    client's list."""
    models = model_list(display_name)

    def factory(host: HandlerHost, metrics: ServerMetrics, guard: Callable[[Callable, str], Callable]) -> list[Route]:
        async def list_models(request: Request) -> Response:
            return json_response(models)

        predict_endpoint = translated(host, predict, max_body_bytes)
        return [
            Route("/v1/models", explained(TOOL, guard(list_models, "/v1/models")), methods=["GET"]),
            Route("/v1/predict", explained(TOOL, guard(predict_endpoint, "/v1/predict")), methods=["POST"]),
        ]

    return factory
