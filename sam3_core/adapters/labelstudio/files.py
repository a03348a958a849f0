"""The image of a Label Studio task: read from Label Studio itself, an allowed URL, or a ``data:`` URI.

- Label Studio's own files (uploads ``/data/upload/...``, local storage ``/data/local-files/?d=...``, or any URL
  on the host of ``LABEL_STUDIO_URL``) are fetched from ``LABEL_STUDIO_URL`` with ``LABEL_STUDIO_API_KEY``: a
  legacy token is sent as ``Authorization: Token <key>``; a personal access token (a JWT refresh token) is
  exchanged at ``/api/token/refresh/`` for an access token, sent as ``Bearer``, and renewed before it expires.
  Redirects stay on that host, so the key reaches no other. The key is never logged nor put in an error.
- Other ``http(s)`` URLs go through the allow-listed URL fetcher (``SAM3_URL_HOSTS``), without the key.
- ``data:image/...;base64,`` URIs are decoded by the main API's image reader.
- Anything else (``s3://``, ``gs://``, ``azure-blob://`` and other cloud storage) is refused, naming the scheme.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import threading
import time
import urllib.parse
import urllib.request

from sam3_core.errors import RequestError, brief, quote
from sam3_core.media.url_fetch import fetch_url
from sam3_core.settings import LabelStudioSettings, RequestSettings

REFRESH_PATH = "/api/token/refresh/"
RENEW_BEFORE_S = 30.0  # an access token is renewed this long before it expires


def jwt_claims(token: str) -> dict | None:
    """The claims of a JSON Web Token read without verifying it (Label Studio verifies its own tokens); None for
    anything that is not a JWT (a legacy token)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError):
        return None
    return claims if isinstance(claims, dict) else None


class LabelStudioToken:
    """The ``Authorization`` header for requests to Label Studio, from a legacy token or a personal access token."""

    def __init__(self, base_url: str, api_key: str, timeout_s: float) -> None:
        self._base_url, self._key, self._timeout_s = base_url, api_key, timeout_s
        claims = jwt_claims(api_key)
        self._refresh = claims is not None and claims.get("token_type") == "refresh"
        self._plain = f"Bearer {api_key}" if claims is not None and not self._refresh else f"Token {api_key}"
        self._access: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()

    def header(self, field: str) -> str:
        if not self._refresh:
            return self._plain
        with self._lock:
            if self._access is None or time.time() > self._expires - RENEW_BEFORE_S:
                self._access = self._renew(field)
                expires = (jwt_claims(self._access) or {}).get("exp")
                self._expires = float(expires) if isinstance(expires, (int, float)) else time.time() + 60.0
            return f"Bearer {self._access}"

    def _renew(self, field: str) -> str:
        body = json.dumps({"refresh": self._key}).encode()
        request = urllib.request.Request(
            self._base_url + REFRESH_PATH, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:
                access = json.loads(response.read(65536)).get("access")
        except (OSError, ValueError, AttributeError) as exc:
            problem = f"Label Studio did not accept LABEL_STUDIO_API_KEY ({brief(exc, 60)})"
            raise RequestError(field, problem) from None
        if not isinstance(access, str) or not access:
            raise RequestError(field, "Label Studio's token refresh gave no access token")
        return access


class TaskImages:
    """Reads task images for the Label Studio backend (see the module docstring)."""

    def __init__(self, label_studio: LabelStudioSettings, request: RequestSettings) -> None:
        self._request = request
        self._base_url = (label_studio.url or "").strip().rstrip("/")
        parts = urllib.parse.urlsplit(self._base_url)
        self._host = (parts.hostname or "").lower()
        self._netloc = parts.netloc.lower()
        self._own_files = dataclasses.replace(request, url_hosts=(self._host,))
        self._token = (
            LabelStudioToken(self._base_url, label_studio.api_key, request.url_timeout_s)
            if (self._host and label_studio.api_key)
            else None
        )

    def read(self, url: object, field: str) -> bytes | str:
        """The image at ``url`` (a task's data value) as bytes, or a ``data:`` URI for the image reader."""
        if not isinstance(url, str) or not url.strip():
            raise RequestError(field, "is missing: the task has no image URL")
        url = url.strip()
        if url[:5].lower() == "data:":
            return url
        if url.startswith("/") and not url.startswith("//"):
            return self._from_label_studio(url, field)
        parts = urllib.parse.urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme in ("http", "https"):
            if self._netloc and parts.netloc.lower() == self._netloc:
                return self._from_label_studio(url, field)
            return fetch_url(url, self._request, field)
        raise RequestError(
            field,
            f"is a {quote(scheme or url, 20)} URL: this backend reads Label Studio's uploads and local storage, "
            "http(s) URLs on SAM3_URL_HOSTS and data: URIs, not cloud storage",
        )

    def _from_label_studio(self, url: str, field: str) -> bytes:
        if not self._host:
            raise RequestError(field, "is a Label Studio file: set LABEL_STUDIO_URL (and LABEL_STUDIO_API_KEY)")
        if self._token is None:
            raise RequestError(field, "is a Label Studio file: set LABEL_STUDIO_API_KEY so it can be read")
        absolute = self._base_url + url if url.startswith("/") else url
        return fetch_url(absolute, self._own_files, field, headers={"Authorization": self._token.header(field)})
