"""scripts/deploy.py: the built endpoint repository, the dry run, and the Hub calls (the Hub is mocked: it is the
one thing that cannot run here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import huggingface_hub
import pytest

import deploy

ROOT = Path(__file__).resolve().parents[1]


def test_dry_run_builds_the_repository_and_prints_the_plan(tmp_path):
    build = tmp_path / "repo"
    completed = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "deploy.py"),
            "--repo",
            "me/sam3-endpoint",
            "--dry-run",
            "--build-dir",
            str(build),
            "--max-replica",
            "3",
            "--token",
            "hf_secret_value",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert "dry run: nothing was uploaded or created" in completed.stdout
    assert '"task": "custom"' in completed.stdout and '"max_replica": 3' in completed.stdout
    assert "hf_secret_value" not in completed.stdout, "secrets are never printed"
    files = {str(path.relative_to(build)) for path in build.rglob("*") if path.is_file()}
    assert {"handler.py", "requirements.txt", "README.md", "sam3_core/engine.py", "sam3_core/server.py"} <= files
    assert not any("__pycache__" in name or name.startswith(("tests", "scripts")) for name in files)
    assert (build / "README.md").read_text() == (ROOT / "model_card.md").read_text()
    assert "torch" not in [
        line.split(">")[0].split("=")[0].strip() for line in (build / "requirements.txt").read_text().splitlines()
    ]


def test_the_built_repository_serves(tmp_path, tiny_checkpoint, image_b64, monkeypatch):
    """The folder that gets uploaded is a working endpoint: import its handler and answer a request."""
    build = tmp_path / "repo"
    deploy.build_repository(build, with_weights=False, token=None)
    code = (
        "import sys, json; sys.path.insert(0, sys.argv[1]); from handler import EndpointHandler;"
        "h = EndpointHandler(sys.argv[1]); r = h({'inputs': {'image': sys.argv[2], 'text_prompts': ['cat']}});"
        "print(json.dumps([r['success'], r['sam_version']]))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code, str(build), image_b64],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={
            "SAM3_MODEL_ID": str(tiny_checkpoint),
            "SAM3_DEVICE": "cpu",
            "PATH": "/usr/bin:/bin",
            "HF_HUB_OFFLINE": "1",
        },
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip().splitlines()[-1] == '[true, "3.0"]'


class FakeHub:
    """Records the calls HfApi would make."""

    calls: list = []

    def __init__(self, token=None):
        FakeHub.calls.append(("HfApi", token))

    def create_repo(self, repo_id, **kwargs):
        FakeHub.calls.append(("create_repo", repo_id, kwargs))

    def upload_folder(self, **kwargs):
        FakeHub.calls.append(
            ("upload_folder", sorted(p.name for p in Path(kwargs["folder_path"]).iterdir()), kwargs["repo_id"])
        )

    def create_inference_endpoint(self, **kwargs):
        FakeHub.calls.append(("create_inference_endpoint", kwargs))
        return type("Endpoint", (), {"name": kwargs["name"], "status": "pending"})()


@pytest.fixture
def fake_hub(monkeypatch):
    FakeHub.calls = []
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeHub)
    downloads = []
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo, **kw: downloads.append((repo, kw)))
    return downloads


def test_deploy_without_weights_points_the_endpoint_at_the_hub(tmp_path, fake_hub):
    assert (
        deploy.main(["--repo", "me/sam3", "--build-dir", str(tmp_path / "r"), "--token", "hf_x", "--name", "seg"]) == 0
    )
    names = [call[0] for call in FakeHub.calls]
    assert names == ["HfApi", "create_repo", "upload_folder", "create_inference_endpoint"]
    assert FakeHub.calls[1] == ("create_repo", "me/sam3", {"repo_type": "model", "private": True, "exist_ok": True})
    assert FakeHub.calls[2][1] == ["README.md", "handler.py", "requirements.txt", "sam3_core"]
    settings = FakeHub.calls[3][1]
    assert settings["task"] == "custom" and settings["repository"] == "me/sam3" and settings["name"] == "seg"
    assert settings["env"] == {"SAM3_MODEL_ID": "facebook/sam3"} and settings["secrets"] == {"HF_TOKEN": "hf_x"}
    assert (settings["min_replica"], settings["max_replica"], settings["accelerator"]) == (0, 1, "gpu")
    assert fake_hub == []


def test_deploy_with_weights_and_a_custom_container(tmp_path, fake_hub):
    argv = [
        "--repo",
        "me/sam3",
        "--build-dir",
        str(tmp_path / "r"),
        "--with-weights",
        "--token",
        "hf_x",
        "--container",
        "ghcr.io/me/sam3:1",
        "--min-replica",
        "1",
        "--max-replica",
        "4",
    ]
    assert deploy.main(argv) == 0
    assert fake_hub == [
        ("facebook/sam3", {"token": "hf_x", "allow_patterns": deploy.WEIGHT_PATTERNS, "local_dir": tmp_path / "r"})
    ]
    settings = FakeHub.calls[-1][1]
    assert settings["env"] == {} and settings["secrets"] == {}
    assert settings["custom_image"] == {"url": "ghcr.io/me/sam3:1", "health_route": "/health", "port": 8080}
    assert "scale_to_zero_timeout" not in settings and settings["max_replica"] == 4
