"""Roboflow's SAM3 routes on ``sam3-serve``: ``POST /sam3/concept_segment``, ``/sam3/visual_segment`` and
``/sam3/embed_image`` (``sam3_core.adapters.roboflow.segment``). Roboflow's clients send their API key in the
JSON body by default; with ``SAM3_API_TOKEN`` set, configure them to send it as ``Authorization: Bearer``
(``inference-sdk``: ``api_key_transport="header"``)."""

from __future__ import annotations

from collections.abc import Callable

from starlette.routing import Route

from sam3_core.adapters.http_routes import explained, translated
from sam3_core.adapters.roboflow.segment import concept_segment, embed_image, visual_segment
from sam3_core.server.http_api import HandlerHost, RouteFactory
from sam3_core.server.metrics import ServerMetrics
from sam3_core.settings import Limits

TOOL = "roboflow"


def roboflow_routes(limits: Limits, max_body_bytes: int) -> RouteFactory:
    """The routes' factory for ``create_app(extra_routes=...)``."""

    def factory(host: HandlerHost, metrics: ServerMetrics, guard: Callable[[Callable, str], Callable]) -> list[Route]:
        routes = {
            "/sam3/concept_segment": lambda body, answer: concept_segment(body, answer, limits),
            "/sam3/visual_segment": lambda body, answer: visual_segment(body, answer, limits),
            "/sam3/embed_image": embed_image,
        }
        made = []
        for path, translate in routes.items():
            endpoint = translated(host, translate, max_body_bytes)
            made.append(Route(path, explained(TOOL, guard(endpoint, path)), methods=["POST"]))
        return made

    return factory
