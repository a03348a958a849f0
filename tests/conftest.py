"""Shared fixtures: a tiny random SAM3 checkpoint (generated once per session), the handler, the server, test
images. Helpers that are not fixtures are in helpers.py.

Tests are filed by cost: ``unit/`` runs in process (a few of its tests are marked slow by hand); everything in
``integration/`` (servers, subprocesses, the container), ``browser/``, ``endpoint_image/`` and ``tools/`` (the
``scripts/`` tools) is marked slow here, so ``make test-fast`` (``-m "not slow"``) skips it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PIL import Image

from sam3_core.settings import ModelSettings, Settings
from sam3_core.testing.tiny_checkpoint import make_checkpoint

from helpers import b64, encode, free_port, running, running_space, scene

TESTS = Path(__file__).resolve().parent
IN_PROCESS = TESTS / "unit"
ENDPOINT_IMAGE = TESTS / "endpoint_image"
LABEL_STUDIO = TESTS / "labelstudio"
TOOL_CLIENTS = TESTS / "clients"


def pytest_collection_modifyitems(items):
    """Mark every test outside ``tests/unit`` slow: its folder says what it costs. The other tools' clients, the
    Label Studio tests, then the endpoint-image tests, run last: their environments, Label Studio and the replica
    start in the background meanwhile (``clients/conftest.py``, ``labelstudio/conftest.py``,
    ``endpoint_image/conftest.py``)."""
    for item in items:
        if not item.path.is_relative_to(IN_PROCESS):
            item.add_marker(pytest.mark.slow)
    last = (TOOL_CLIENTS, LABEL_STUDIO, ENDPOINT_IMAGE)
    items.sort(key=lambda item: next((1 + k for k, folder in enumerate(last) if item.path.is_relative_to(folder)), 0))


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("sam3-tiny"))


@pytest.fixture(scope="session")
def handler(tiny_checkpoint):
    """The endpoint handler on the tiny checkpoint, CPU, default settings otherwise."""
    from handler import EndpointHandler

    return EndpointHandler(str(tiny_checkpoint), settings=Settings(model=ModelSettings(device="cpu")))


@pytest.fixture(scope="session")
def server(tiny_checkpoint):
    """sam3-serve on a free loopback port with the tiny checkpoint (2 MB body limit) and the web UI at /ui,
    until the session ends."""
    port = free_port()
    command = [sys.executable, "-m", "sam3_core.cli.serve", "--model", str(tiny_checkpoint)]
    with running([*command, "--port", str(port), "--max-body-mb", "2", "--ui"], {}, port) as (url, _):
        yield url


@pytest.fixture(scope="session")
def space(tiny_checkpoint):
    """sam3-app (the Space) with the tiny checkpoint, until the session ends."""
    with running_space(tiny_checkpoint) as (url, _):
        yield url


@pytest.fixture(scope="session")
def image() -> Image.Image:
    return scene()


@pytest.fixture(scope="session")
def image_b64(image) -> str:
    return b64(encode(image))


def pytest_terminal_summary(terminalreporter):
    """Print the worst parity figures measured against the transformers reference (for the closing notes)."""
    figures = getattr(sys.modules.get("test_parity"), "PARITY_FIGURES", None)
    if not figures:
        return
    terminalreporter.section("parity with the transformers reference (tiny checkpoint, CPU)")
    for kind, row in figures.items():
        terminalreporter.write_line(
            f"{kind:24s} objects={row['objects']:4d}  max |score diff|={row['max_score_diff']:.2e}  "
            f"min mask IoU={row['min_iou']:.6f}"
        )
