"""A read deadline for ``sam3-serve``'s connections: uvicorn's h11 protocol plus one timer per connection.

A connection has ``timeout_s`` seconds to deliver a whole request, headers and body, from the moment it is ready
for one (when it opens, and when the previous response is complete). When the time is up it is closed; a client
that had begun a request is answered ``408 Request Timeout`` first. The timer stops once the request has arrived,
so the work that follows is not limited. (uvicorn itself bounds only the idle time between requests.)
"""

from __future__ import annotations

import asyncio
import logging

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

LOG = logging.getLogger("sam3_core.server")
_MESSAGE = b"request timeout: the request did not arrive in time"
REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_MESSAGE), _MESSAGE)
)
_ARRIVING = (h11.IDLE, h11.SEND_BODY)  # the client's states while its request is not complete


class ReadDeadlineProtocol(H11Protocol):
    """``H11Protocol`` that closes a connection whose request does not arrive within ``timeout_s`` seconds."""

    timeout_s: float = 30.0
    _deadline: asyncio.TimerHandle | None = None
    _begun = False  # bytes of a request have arrived since the deadline was set

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._set_deadline()

    def data_received(self, data: bytes) -> None:
        self._begun = True
        super().data_received(data)

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state not in _ARRIVING:  # the request is complete (or the connection is done with)
            self._clear_deadline()

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self._clear_deadline()  # the connection belongs to the WebSocket protocol from here on
        super().handle_websocket_upgrade(event)

    def on_response_complete(self) -> None:
        self._set_deadline()  # first: a pipelined request that is already complete clears it again
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._clear_deadline()
        super().connection_lost(exc)

    def _set_deadline(self) -> None:
        self._clear_deadline()
        self._begun = False
        self._deadline = self.loop.call_later(self.timeout_s, self._deadline_passed)

    def _clear_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _deadline_passed(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._begun and self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):  # begun, and nothing answered
            LOG.info("closing a connection: its request did not arrive within %g s (408)", self.timeout_s)
            self.transport.write(REQUEST_TIMEOUT)
        self.transport.close()


def with_read_deadline(timeout_s: float) -> type[ReadDeadlineProtocol]:
    """The protocol class for ``uvicorn.Config(http=...)`` with a read deadline of ``timeout_s`` seconds."""
    return type("ReadDeadlineProtocol", (ReadDeadlineProtocol,), {"timeout_s": timeout_s})
