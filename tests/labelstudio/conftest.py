"""A real Label Studio, installed from the package registry and started as soon as the tests are collected.

Label Studio is installed (``label-studio``, the version ``LABEL_STUDIO_PIN`` names, with its own
``label-studio-sdk``) into a virtual environment of its own under ``~/.cache/sam3-label-studio`` (its
dependencies pin numpy and OpenCV releases other than the project's), then started on loopback with sqlite in a
temporary data directory, an admin user and a legacy API token. Installing and the first start (database
migrations) take minutes on a fresh machine: a background thread does both while the rest of the suite runs, and
these tests run late (``tests/conftest.py``). Where the package cannot be installed, the tests skip with one line.

Label Studio refuses ML backends on loopback addresses by default; it is started with ``ML_BLOCK_LOCAL_IP=false``
and ``SSRF_PROTECTION_ENABLED=false``, as a user running both on one machine must (docs/LABEL_STUDIO.md).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import pytest

from sam3_core.testing.support import free_port, wait_until_healthy

from background import BackgroundStart, NotInstallable, installed_environment

HERE = Path(__file__).resolve().parent
LABEL_STUDIO_PIN = "label-studio==1.23.2"
# Label Studio 1.23.2 asks for any sentry-sdk, and sentry-sdk 3 refuses an option it passes at start
# ("Unknown option 'send_default_pii'"): the server exits before it answers.
WITH_IT = ("sentry-sdk<3",)
CACHE = Path(os.environ.get("SAM3_LABEL_STUDIO_CACHE", Path.home() / ".cache" / "sam3-label-studio"))
TOKEN = "0123456789abcdef0123456789abcdef01234567"  # the admin's legacy API token
INSTALL_TIMEOUT_S = 1200
START_TIMEOUT_S = 900

BACKGROUND = BackgroundStart("sam3-label-studio-")


class RunningLabelStudio(NamedTuple):
    url: str
    bin_dir: Path  # its environment's executables (python, label-studio)
    token: str  # the admin's legacy API token
    email: str = "admin@example.com"  # the admin's login
    password: str = "sam3-tests-only"


def installed_label_studio(log: Path) -> Path:
    """The environment's ``bin`` folder, installing ``LABEL_STUDIO_PIN`` (and ``WITH_IT``) first unless it is
    cached (under a name of both)."""
    name = "-".join(pin.replace("==", "-").replace("<", "-below-") for pin in (LABEL_STUDIO_PIN, *WITH_IT))
    return installed_environment(BACKGROUND, CACHE / name, [[LABEL_STUDIO_PIN, *WITH_IT]], log, INSTALL_TIMEOUT_S)


def start_label_studio(work: Path) -> RunningLabelStudio:
    """Install (or find) Label Studio and start it."""
    bin_dir = installed_label_studio(work / "install.log")
    port = free_port()
    env = {
        **os.environ,
        "ML_BLOCK_LOCAL_IP": "false",
        "SSRF_PROTECTION_ENABLED": "false",
        "LABEL_STUDIO_BASE_DATA_DIR": str(work / "data"),
        "DJANGO_DB": "sqlite",
    }
    command = [str(bin_dir / "label-studio"), "start", "--no-browser", "--data-dir", str(work / "data")]
    admin = RunningLabelStudio(f"http://127.0.0.1:{port}", bin_dir, TOKEN)
    command += ["--port", str(port), "--internal-host", "127.0.0.1", "--username", admin.email]
    command += ["--password", admin.password, "--user-token", TOKEN, "--enable-legacy-api-token"]
    server = BACKGROUND.process(command, work / "server.log", env=env, cwd=work)
    wait_until_healthy(admin.url, server, START_TIMEOUT_S, output=lambda: (work / "server.log").read_text())
    return admin


def pytest_collection_finish(session):
    BACKGROUND.begin_when_collected(session, HERE, start_label_studio)


def pytest_sessionfinish(session):
    BACKGROUND.finish()


@pytest.fixture(scope="session")
def label_studio() -> RunningLabelStudio:
    """The running Label Studio."""
    try:
        return BACKGROUND.result()
    except NotInstallable as reason:
        pytest.skip(f"Label Studio is not installable here: {reason}")
