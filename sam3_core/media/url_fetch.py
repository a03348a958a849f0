"""Download an image URL: only from the operator's allowlist (``SAM3_URL_HOSTS``), redirects included, within the
image byte limit and one deadline (``SAM3_URL_TIMEOUT_S``) for the whole download.

The deadline covers the request, the status line, the headers and the body: every socket operation after
connecting waits only for what is left of it, so a server that sends one byte at a time cannot hold a request
longer. Connecting waits at most the time left when it starts (name resolution is the system resolver's).
"""

from __future__ import annotations

import http.client
import io
import socket
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from sam3_core.errors import PayloadTooLarge, RequestError, brief, quote
from sam3_core.settings import RequestSettings


def fetch_url(
    url: str, settings: RequestSettings, field: str = "image", headers: Mapping[str, str] | None = None
) -> bytes:
    """The body at ``url``, at most ``max_image_bytes``, within ``url_timeout_s``. Without an allowlist every URL
    is refused (no server-side request forgery). ``headers`` go with the request (and with redirects, which stay
    on the allowed hosts)."""
    if not settings.url_hosts:
        raise RequestError(field, "URLs are not fetched; send the image bytes base64-encoded")
    check_url(url, settings, field)
    deadline = Deadline(settings.url_timeout_s)
    opener = urllib.request.build_opener(
        CheckedRedirects(settings, field), DeadlineHTTPHandler(deadline), DeadlineHTTPSHandler(deadline)
    )
    request = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with opener.open(request, timeout=settings.url_timeout_s) as response:
            data = response.read(settings.limits.max_image_bytes + 1)
    except RequestError:
        raise
    except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError, HTTPError, timeouts, bad answers
        if deadline.passed:
            raise RequestError(field, f"could not be fetched within {settings.url_timeout_s:g} s") from None
        raise RequestError(field, f"could not be fetched ({brief(exc)})") from None
    if len(data) > settings.limits.max_image_bytes:
        raise PayloadTooLarge(field, f"URL body is over the {settings.limits.max_image_bytes} byte limit")
    return data


def check_url(url: str, settings: RequestSettings, field: str) -> None:
    """Refuse ``url`` unless it is http(s) on an allowed host."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
    except ValueError:  # an unclosed "[" of an IPv6 address
        raise RequestError(field, f"URL {quote(url)} is not valid") from None
    if parts.scheme not in ("http", "https") or host.lower() not in settings.url_hosts:
        raise RequestError(field, f"URL host {quote(host)} is not in the allowed hosts (SAM3_URL_HOSTS)")


class Deadline:
    """A point in time ``seconds`` from now."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self.end

    def left(self) -> float:
        """Seconds left; ``TimeoutError`` once none are."""
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no complete answer within {self.seconds:g} s")
        return left


class CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to an allowed URL."""

    def __init__(self, settings: RequestSettings, field: str) -> None:
        self.settings, self.field = settings, field

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: N802 - urllib's name
        check_url(newurl, self.settings, self.field)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class DeadlineHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_with_deadline(http.client.HTTPConnection, self.deadline), req)


class DeadlineHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_with_deadline(http.client.HTTPSConnection, self.deadline), req)


def _with_deadline(base: type[http.client.HTTPConnection], deadline: Deadline) -> type[http.client.HTTPConnection]:
    class Connection(base):  # type: ignore[valid-type, misc]
        def connect(self) -> None:
            self.timeout = deadline.left()
            super().connect()  # TCP, and TLS for https
            self.sock = DeadlineSocket(self.sock, deadline)

    return Connection


class DeadlineSocket:
    """A connected socket whose sends and reads (through ``makefile``) each wait only until the deadline."""

    def __init__(self, sock: socket.socket, deadline: Deadline) -> None:
        self._sock, self._deadline = sock, deadline

    def __getattr__(self, name: str) -> Any:  # close, fileno, ...: the socket's own
        return getattr(self._sock, name)

    def arm(self) -> None:
        self._sock.settimeout(self._deadline.left())

    def sendall(self, data: bytes) -> None:
        self.arm()
        self._sock.sendall(data)

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(_ArmedReader(self._sock.makefile("rb", buffering=0), self.arm))


class _ArmedReader(io.RawIOBase):
    """The socket's raw reader, calling ``arm`` before each read."""

    def __init__(self, raw: io.RawIOBase, arm: Any) -> None:
        super().__init__()
        self._raw, self._arm = raw, arm

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        self._arm()
        return self._raw.readinto(buffer)

    def close(self) -> None:
        self._raw.close()  # lets the socket close once the connection has closed it too
        super().close()
