"""The custom container (Dockerfile), run as a process: its exact CMD, in its /app layout, against a
/repository-shaped folder. There is no Docker engine here, so the image itself is not built: the environment is
this one, installed under the same constraints.txt with the same extra as the Dockerfile's only install step."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import requests
import torch

from sam3_core.cli import deploy

from helpers import free_port, wait_until_healthy

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions(name: str) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(rf"^{name}\s+(.+)$", DOCKERFILE, re.MULTILINE)]


def test_the_image_installs_what_the_tests_run_on():
    assert instructions("RUN") == ["pip install --no-cache-dir -c constraints.txt .[server]"]
    recipes = (ROOT / "Makefile").read_text().splitlines()
    installs = [line.split() for line in recipes if line.startswith("\t") and " -e " in line]
    assert installs and all("-c" in words and words[words.index("-c") + 1] == "constraints.txt" for words in installs)
    assert installs[0][-1] == ".[server]", "make serve installs what the container does"
    pins = dict(line.split("==") for line in (ROOT / "constraints.txt").read_text().splitlines() if "==" in line)
    assert torch.__version__.split("+")[0] == pins["torch"], "the tests run the container's torch"
    major, minor = (int(part) for part in pins["torch"].split(".")[:2])
    assert (major, minor) >= (2, 6), "transformers 5 disables PyTorch below 2.6"
    assert "torchvision" in pins, "SAM3's image processor needs torchvision"


def container_app(tmp_path: Path) -> Path:
    """/app as the Dockerfile's COPY lines lay it out."""
    app = tmp_path / "app"
    app.mkdir()
    for line in instructions("COPY"):
        *sources, destination = line.split()
        for source in sources:
            target = app / destination / (Path(source).name if destination.endswith("/") else "")
            if (ROOT / source).is_dir():
                shutil.copytree(ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / source, target)
    return app


def start_container(app: Path, repository: Path, extra_env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """The CMD with the image's ENV (HF_MODEL_DIR pointed at ``repository``, PORT at a free loopback port)."""
    env_line = " ".join(instructions("ENV"))
    image_env = dict(item.split("=", 1) for item in env_line.split())
    port = free_port()
    image_env |= {"HF_MODEL_DIR": str(repository), "PORT": str(port)}
    command = json.loads(instructions("CMD")[0])
    assert command[0] == "python"
    env = {"PATH": os.environ["PATH"], "HOME": str(app), "HF_HUB_OFFLINE": "1", **image_env, **extra_env}
    process = subprocess.Popen(
        [sys.executable, *command[1:]], cwd=app, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    return process, f"http://127.0.0.1:{port}"


def wait_healthy(process: subprocess.Popen, url: str) -> None:
    wait_until_healthy(url, process, 180, output=lambda: process.stdout.read() if process.poll() is not None else "")


def stop(process: subprocess.Popen) -> str:
    process.terminate()
    output, _ = process.communicate(timeout=30)
    return output


def test_uploaded_weights_in_the_repository_are_served(tmp_path, tiny_checkpoint, image_b64):
    """deploy.py --with-weights --container: the repository holds the checkpoint and no SAM3_MODEL_ID is set."""
    repository = tmp_path / "repository"
    deploy.build_repository(repository, with_weights=False, token=None)
    for item in tiny_checkpoint.iterdir():
        shutil.copy2(item, repository / item.name)
    process, url = start_container(container_app(tmp_path), repository, {})
    try:
        wait_healthy(process, url)
        answer = requests.post(url, json={"inputs": {"image": image_b64, "text_prompts": ["cat"]}}, timeout=60)
        assert answer.status_code == 200 and answer.json()["success"] is True
        bad = requests.post(url, json={"inputs": {"image": image_b64}}, timeout=60)
        assert bad.status_code == 400
    finally:
        output = stop(process)
    assert f"SAM3 weights: {repository} (the endpoint repository holds a SAM3 checkpoint)" in output
    assert "RANDOMLY INITIALISED" not in output, "a deployment never falls back to the tiny checkpoint"


def test_without_weights_in_the_repository_it_loads_sam3_model_id(tmp_path, tiny_checkpoint):
    repository = tmp_path / "repository"
    deploy.build_repository(repository, with_weights=False, token=None)
    process, url = start_container(container_app(tmp_path), repository, {"SAM3_MODEL_ID": str(tiny_checkpoint)})
    try:
        wait_healthy(process, url)
    finally:
        output = stop(process)
    assert f"SAM3 weights: {tiny_checkpoint} (set by env SAM3_MODEL_ID)" in output


def test_a_failed_load_exits_non_zero(tmp_path):
    """No weights anywhere (facebook/sam3 unreachable): the server exits instead of answering 500 for ever."""
    repository = tmp_path / "repository"
    deploy.build_repository(repository, with_weights=False, token=None)
    process, _ = start_container(container_app(tmp_path), repository, {})
    try:
        code = process.wait(timeout=180)
    finally:
        if process.poll() is None:
            process.kill()
    output = process.stdout.read()
    assert code != 0, output
    assert "loading the model failed" in output and "facebook/sam3" in output
