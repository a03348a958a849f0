"""What the adapters' routes share: a tool's JSON request translated through the handler by ``HandlerHost.call``
(so it waits, is limited, cancelled and logged as every request), and its refusals logged with their reason
(some tools show only the status) and answered with the reason as both ``error`` and ``message`` (the field
Roboflow's clients read)."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sam3_core.server.http_api import HandlerHost, json_response, parse_json

LOG = logging.getLogger("sam3_core.adapters")
Answer = Callable[[dict], Any]  # a main-API payload -> the handler's answer
KEPT_HEADERS = ("retry-after", "www-authenticate")
Translate = Callable[[Any, Answer], Any]  # (the tool's request body, answer) -> the tool's answer


def explained(tool: str, endpoint: Callable[[Request], Awaitable[Response]]) -> Callable:
    """``endpoint`` (a guarded one: its 401s are logged already) whose refusals are logged as one line and
    answered with the reason as ``message`` too."""

    async def wrapper(request: Request) -> Response:
        return with_reason(tool, request, await endpoint(request))

    return wrapper


def with_reason(tool: str, request: Request, response: Response) -> Response:
    """``response``, and when it is a refusal, logged (but a 401, which the guard logs) and answered with
    ``message`` too."""
    if response.status_code < 400 or not response.body:
        return response
    try:
        body = json.loads(response.body)
    except ValueError:
        return response
    reason = body.get("error") if isinstance(body, dict) else None
    if not isinstance(reason, str):
        return response
    if response.status_code != 401:
        LOG.warning("%s %s %s: %d %s", tool, request.method, request.url.path, response.status_code, reason)
    answer = json_response({**body, "message": reason}, response.status_code)
    answer.headers.update({k: v for k, v in response.headers.items() if k.lower() in KEPT_HEADERS})
    return answer


def translated(host: HandlerHost, translate: Translate, max_body_bytes: int) -> Callable:
    """An endpoint that reads a JSON body and answers ``translate(body, answer)``, ``answer`` being the handler
    (cancelled when the client goes away)."""

    async def endpoint(request: Request) -> Response:
        body = await parse_json(request, max_body_bytes)

        def work(handler: Any, payload: Any, cancel: Any) -> Any:
            return translate(payload, lambda main: handler(main, cancel=cancel))

        return await host.call(body, request, work)

    return endpoint
