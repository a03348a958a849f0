"""Image URLs: refused by default; with an operator allowlist, fetched from loopback within size and time limits."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sam3_core.errors import PayloadTooLarge, RequestError
from sam3_core.media.image_io import decode_image
from sam3_core.settings import Limits, RequestSettings, Settings

from helpers import encode, scene

PNG = encode(scene(40, 30))
DRIP_BYTES, DRIP_GAP_S = 30, 0.1  # 3 s in all, one byte at a time
STATUS = f"HTTP/1.0 200 OK\r\nContent-Length: {len(PNG)}\r\n".encode()


class Routes(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        if self.path == "/cat.png":
            self._send(200, PNG)
        elif self.path == "/big.png":
            self._send(200, PNG + b"\0" * 5000)
        elif self.path == "/away":
            self.send_response(302)
            self.send_header("Location", "http://localhost:1/cat.png")  # another host name
            self.end_headers()
        elif self.path == "/slow.png":
            time.sleep(3)
            self._send(200, PNG)
        elif self.path == "/drip-body.png":  # each byte in time for a per-read timeout, the whole body too late
            self._drip(STATUS + b"\r\n" + PNG[:-DRIP_BYTES], PNG[-DRIP_BYTES:], b"")
        elif self.path == "/drip-headers.png":
            self._drip(STATUS, b"X-Drip: " + b"d" * DRIP_BYTES + b"\r\n", b"\r\n" + PNG)
        elif self.path == "/garbage":
            self.wfile.write(b"not an HTTP answer\r\n\r\n")
        else:
            self._send(404, b"missing")

    def _send(self, status, body):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _drip(self, fast: bytes, slow: bytes, rest: bytes):
        """Send ``fast`` at once, then ``slow`` one byte every ``DRIP_GAP_S``, then ``rest``."""
        try:
            self.wfile.write(fast)
            for index in range(len(slow)):
                time.sleep(DRIP_GAP_S)
                self.wfile.write(slow[index : index + 1])
            self.wfile.write(rest)
        except OSError:  # the client gave up
            pass

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Routes)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


ALLOWED = RequestSettings(Limits(max_image_bytes=len(PNG) + 100), url_hosts=("127.0.0.1",), url_timeout_s=1)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1/cat.png", "https://example.com/a.jpg", "file:///etc/passwd", "FILE:/etc/passwd"]
)
def test_urls_are_refused_by_default(url):
    with pytest.raises(RequestError, match="URLs are not fetched"):
        decode_image(url, RequestSettings())


def test_allowed_host_is_fetched(site):
    assert decode_image(f"{site}/cat.png", ALLOWED).size == (40, 30)


@pytest.mark.parametrize(
    "path,error,words",
    [
        ("/big.png", PayloadTooLarge, "byte limit"),
        ("/away", RequestError, "not in the allowed hosts"),
        ("/slow.png", RequestError, "could not be fetched"),
        ("/nothing.png", RequestError, "could not be fetched"),
        ("/garbage", RequestError, "could not be fetched"),
    ],
)
def test_fetch_limits(site, path, error, words):
    with pytest.raises(error, match=words):
        decode_image(site + path, ALLOWED)


@pytest.mark.parametrize("path", ["/drip-body.png", "/drip-headers.png"])
def test_the_timeout_is_a_deadline_for_the_whole_download(site, path):
    environ = {"SAM3_URL_HOSTS": "127.0.0.1", "SAM3_URL_TIMEOUT_S": "0.5"}
    settings = Settings.from_env(environ).request
    assert decode_image(f"{site}/cat.png", settings).size == (40, 30)
    with pytest.raises(RequestError, match=r"^image: could not be fetched within 0\.5 s"):
        decode_image(site + path, settings)


def test_other_hosts_and_schemes_are_refused_even_with_an_allowlist():
    for url in ("http://10.0.0.1/cat.png", "file:///etc/passwd", "ftp://127.0.0.1/cat.png"):
        with pytest.raises(RequestError, match="not in the allowed hosts"):
            decode_image(url, ALLOWED)


def test_allowlist_from_the_environment():
    environ = {"SAM3_URL_HOSTS": " Images.Example.com, 127.0.0.1 ", "SAM3_URL_TIMEOUT_S": "3"}
    request = Settings.from_env(environ).request
    assert request.url_hosts == ("images.example.com", "127.0.0.1") and request.url_timeout_s == 3
