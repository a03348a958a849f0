"""The access token's forms (``sam3_core.server.access``) and when ``sam3-serve`` warns that it is open."""

from __future__ import annotations

import base64

from sam3_core.cli.serve import is_loopback
from sam3_core.server.access import AccessToken, presented


def test_each_form_presents_its_token_and_nothing_else_does():
    basic = "Basic " + base64.b64encode(b"user:tok").decode()
    assert list(presented({"authorization": "Bearer tok"})) == ["tok"]
    assert list(presented({"authorization": "token tok", "token": "other"})) == ["tok", "other"]
    assert list(presented({"authorization": basic})) == ["tok"]
    assert list(presented({"authorization": "Basic !!!"})) == []
    assert list(presented({"authorization": "Digest tok"})) == []
    access = AccessToken("tok")
    assert access.admits({"authorization": "Bearer nope", "token": "tok"})  # any form that carries it
    assert not access.admits({}) and not access.admits({"token": "tok "[:-1] + "x"})
    assert access.gradio_login("anyone", "tok") and not access.gradio_login("tok", "")


def test_only_loopback_addresses_count_as_private():
    assert all(is_loopback(host) for host in ("127.0.0.1", "::1", "localhost", "127.1.2.3"))
    assert not any(is_loopback(host) for host in ("0.0.0.0", "::", "192.168.1.20", "example.org"))
