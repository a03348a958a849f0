"""Other tools' own client code, each installed from the package registry into an environment of its own under
``~/.cache/sam3-tool-clients`` (their pins differ from the project's: OpenCV builds, numpy ranges), started as
soon as the tests are collected, in the background, while the rest of the suite runs; these tests run late
(``tests/conftest.py``). Where a tool cannot be installed, its tests skip with one line.

- X-AnyLabeling: ``x-anylabeling-cvhub`` without its GUI-only dependencies (its remote-server client needs Qt's
  core, run headless on the ``offscreen`` platform);
- Roboflow: ``inference-sdk`` (``InferenceHTTPClient``);
- CVAT: ``cvat-sdk[masks]`` and ``cvat-cli``, whose private driver pieces the CVAT driver script uses, hence pinned.

Each runs a driver script of this folder in its environment against a ``sam3-serve`` app on loopback that has
every adapter's routes and an API token (``conftest.py``).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from background import BackgroundStart, NotInstallable, installed_environment

HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("SAM3_TOOL_CLIENTS_CACHE", Path.home() / ".cache" / "sam3-tool-clients"))
INSTALL_TIMEOUT_S = 1200
DRIVER_TIMEOUT_S = 600
TOKEN = "tool-clients-token-0123456789"
ENVIRONMENTS = {
    "x-anylabeling": [
        ["--no-deps", "x-anylabeling-cvhub==4.2.1"],
        [
            "PyQt6==6.9.1",
            "opencv-python-headless>=4.10",
            "numpy>=2",
            "requests",
            "PyYAML",
            "termcolor",
            "pillow",
            "natsort",
            "importlib_metadata",
            "packaging",
            "markdown",
            "openai",
            "jsonlines",
            "json_repair",
            "qimage2ndarray",
            "tqdm",
        ],
    ],
    "roboflow": [["inference-sdk==1.8.3"]],
    "cvat": [["cvat-sdk[masks]==2.80.0", "cvat-cli==2.80.0"]],
}

BACKGROUND = BackgroundStart("sam3-tool-clients-")


def install_all(work: Path) -> dict[str, Path | NotInstallable]:
    """Each tool's environment ``bin`` folder (or why it could not be installed), one after the other."""
    made: dict[str, Path | NotInstallable] = {}
    for name, installs in ENVIRONMENTS.items():
        digest = hashlib.sha256(json.dumps(installs).encode()).hexdigest()[:10]
        try:
            made[name] = installed_environment(
                BACKGROUND, CACHE / f"{name}-{digest}", installs, work / f"{name}.log", INSTALL_TIMEOUT_S
            )
        except NotInstallable as reason:
            made[name] = reason
    return made


def tool_python(name: str) -> Path:
    """The Python of tool ``name``'s environment, once installed (skips the test where it cannot be)."""
    made = BACKGROUND.result()[name]
    if isinstance(made, NotInstallable):
        pytest.skip(f"{name}'s client is not installable here: {made}")
    return made / "python"


def run_driver(name: str, script: str, *arguments: str, env: dict[str, str] | None = None) -> Any:
    """The JSON a driver script of this folder prints, run in tool ``name``'s environment."""
    command = [str(tool_python(name)), str(HERE / script), *arguments]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=DRIVER_TIMEOUT_S, env={**os.environ, **(env or {})}
    )
    assert done.returncode == 0, f"{script} failed:\n{done.stderr[-3000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])
