"""Errors a client can cause. The inference toolkit (and ``sam3-serve``) turn a ``ValueError`` into HTTP 400.

Client text in a message is always a short prefix, through ``quote``.
"""

from __future__ import annotations

QUOTE_CHARS = 40  # the most characters of client text an error message quotes


def quote(text: str, limit: int = QUOTE_CHARS) -> str:
    """``text`` as an error message may quote it: its ``repr`` (unprintable characters and lone surrogates
    escaped), cut to ``limit`` characters and marked ``...`` when cut."""
    shown = repr(text[:limit])
    if len(text) > limit or len(shown) > limit + 2:
        return shown[: limit + 1] + "..."
    return shown


def brief(exc: BaseException, limit: int = 120) -> str:
    """An exception's message for an error message (a decoder's or downloader's complaint), at most ``limit``
    characters."""
    text = str(exc) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


class RequestError(ValueError):
    """Bad input. ``str(error)`` is short and starts with the offending field, e.g. ``"points[2]: not a number"``."""

    status_code = 400
    element: int | None = None  # in a many-images request, the index of the image whose field it is

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class PayloadTooLarge(RequestError):
    """The request asks for more work or data than the configured limits allow (HTTP 413 from a server)."""

    status_code = 413


class ServiceUnavailable(RuntimeError):
    """Transient server-side exhaustion (out of GPU memory, overloaded): retry later (HTTP 503)."""

    status_code = 503


class InternalError(RuntimeError):
    """An unexpected fault, reported to the client as a short message with an id (HTTP 500); details are logged."""

    status_code = 500
