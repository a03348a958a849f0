"""The clients' fixtures: a server with every adapter's routes and a token, the picture they send; the tools'
environments are installed in the background from collection on (``tool_clients.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sam3_core.adapters.registry import tool_routes
from sam3_core.server.http_api import create_app
from sam3_core.settings import Settings
from sam3_core.testing.support import serve_in_thread

from helpers import encode, scene
from tool_clients import BACKGROUND, HERE, TOKEN, install_all


def pytest_collection_finish(session):
    BACKGROUND.begin_when_collected(session, HERE, install_all)


def pytest_sessionfinish(session):
    BACKGROUND.finish()


@pytest.fixture(scope="session")
def tools_url(handler) -> str:
    """A server with every adapter's routes over the session's handler, which needs ``TOKEN``."""
    app = create_app(lambda: handler, extra_routes=tool_routes(Settings(), 16 * 1024 * 1024), api_token=TOKEN)
    url, server = serve_in_thread(app)
    yield url
    server.should_exit = True


@pytest.fixture(scope="session")
def scene_file(tmp_path_factory) -> Path:
    """The test picture as the PNG file a tool reads from disk."""
    path = tmp_path_factory.mktemp("tool-clients") / "scene.png"
    path.write_bytes(encode(scene()))
    return path
