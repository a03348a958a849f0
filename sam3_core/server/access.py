"""An optional access token for ``sam3-serve`` (``SAM3_API_TOKEN``), taken in the form each client sends it.

Accepted, any one of them carrying the token:
- ``Authorization: Bearer <token>`` (``huggingface_hub.InferenceClient``'s ``token=``, Roboflow-style clients);
- ``Authorization: Token <token>`` (Label Studio's and Django REST framework's form);
- ``Authorization: Basic ...`` whose password (or, with an empty password, user name) is the token (Label
  Studio's "Basic Authentication" of an ML backend);
- a ``Token: <token>`` header (X-AnyLabeling's remote server client).

Candidates are compared by their SHA-256 digests with ``hmac.compare_digest``: the time taken depends neither on
how much of the token a guess gets right nor on the token's length. The token is never logged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterator, Mapping

SCHEMES = ("bearer", "token")  # Authorization schemes that carry the token itself
CHALLENGE = 'Bearer realm="sam3", Basic realm="sam3"'
REFUSAL = "missing or wrong API token: send Authorization: Bearer <SAM3_API_TOKEN>"


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def presented(headers: Mapping[str, str]) -> Iterator[str]:
    """Every token a request presents, in any of the accepted forms."""
    scheme, _, value = headers.get("authorization", "").strip().partition(" ")
    value = value.strip()
    if scheme.lower() in SCHEMES:
        yield value
    elif scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return
        yield password or user
    if headers.get("token"):
        yield headers["token"].strip()


class AccessToken:
    """The server's token, kept only as its digest."""

    def __init__(self, token: str) -> None:
        self._digest = _digest(token)

    def admits(self, headers: Mapping[str, str]) -> bool:
        """Whether the request presents the token (every candidate is compared, so the time does not depend on
        which form matched)."""
        matched = False
        for candidate in presented(headers):
            matched |= hmac.compare_digest(_digest(candidate), self._digest)
        return matched

    def gradio_login(self, username: str, password: str) -> bool:
        """The web UI's login form: any user name, the token as password."""
        return hmac.compare_digest(_digest(password), self._digest)
