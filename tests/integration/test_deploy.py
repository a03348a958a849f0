"""sam3-deploy: the built endpoint repository, the dry run, and the Hub calls (the Hub is mocked: it is the
one thing that cannot run here)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sam3_core.cli import deploy

from fake_hub import FakeHub

ROOT = Path(__file__).resolve().parents[2]


def test_dry_run_builds_the_repository_and_prints_the_plan(tmp_path):
    build = tmp_path / "repo"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "sam3_core.cli.deploy",
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
    assert {
        "handler.py",
        "requirements.txt",
        "requirements-runtime.txt",
        "README.md",
        "sam3_core/model/engine.py",
    } <= files
    assert "toolkit_compat/pyproject.toml" in files
    assert not any("__pycache__" in name or name.startswith(("tests", "scripts")) for name in files)
    assert (build / "README.md").read_text() == (ROOT / "model_card.md").read_text()
    pins = dict(line.split("==") for line in (build / "requirements.txt").read_text().splitlines() if "==" in line)
    assert int(pins["torch"].split(".")[1]) >= 6, "transformers 5 needs torch >= 2.6; the image has 2.5.1"


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


@pytest.fixture
def hub(tiny_checkpoint):
    """The fake Hub (tests/fake_hub.py) behind the real huggingface_hub, holding a gated facebook/sam3."""
    fake = FakeHub(user="me", token="hf_write_token")
    fake.add_model("facebook/sam3", tiny_checkpoint, gated=True)
    with fake.install():
        yield fake


def uploaded(hub: FakeHub, repo_id: str) -> set[str]:
    return set(hub.repos[repo_id]["files"])


def test_deploy_with_defaults_creates_a_toolkit_endpoint_pointed_at_the_hub(tmp_path, hub):
    build = tmp_path / "r"
    assert deploy.main(["--repo", "me/sam3", "--build-dir", str(build), "--token", "hf_write_token"]) == 0
    assert hub.repos["me/sam3"]["private"] is True
    local = {str(path.relative_to(build)) for path in build.rglob("*") if path.is_file()}
    assert uploaded(hub, "me/sam3") == local and "toolkit_compat/sam3_toolkit_compat.pth" in local
    (payload,) = hub.endpoints
    assert payload["type"] == "authenticated" and payload["name"] == "sam3"
    assert payload["model"]["image"] == {"huggingface": {}} and payload["model"]["task"] == "custom"
    assert payload["model"]["env"] == {"SAM3_MODEL_ID": "facebook/sam3"}
    assert payload["model"]["secrets"] == {"HF_TOKEN": "hf_write_token"}
    assert payload["compute"]["scaling"] == {"minReplica": 0, "maxReplica": 1, "scaleToZeroTimeout": 15}
    assert payload["compute"]["accelerator"] == "gpu" and payload["compute"]["instanceType"] == "nvidia-l4"


def test_deploy_with_weights_and_a_custom_container(tmp_path, hub, tiny_checkpoint):
    argv = ["--repo", "me/sam3", "--build-dir", str(tmp_path / "r"), "--with-weights", "--token", "hf_write_token"]
    argv += ["--container", "ghcr.io/me/sam3:1", "--min-replica", "1", "--max-replica", "4", "--access", "private"]
    assert deploy.main(argv) == 0
    files = uploaded(hub, "me/sam3")
    assert {"model.safetensors", "config.json", "handler.py"} <= files
    weights = hub.repos["me/sam3"]["files"]["model.safetensors"]
    assert weights == (tiny_checkpoint / "model.safetensors").read_bytes(), "the weights the Hub served"
    (payload,) = hub.endpoints
    assert payload["model"]["image"] == {"custom": {"url": "ghcr.io/me/sam3:1", "healthRoute": "/health", "port": 8080}}
    assert "env" not in payload["model"] and "secrets" not in payload["model"], "the container reads /repository"
    assert payload["type"] == "private" and payload["compute"]["scaling"]["maxReplica"] == 4
    assert (
        "scaleToZeroTimeout" not in payload["compute"]["scaling"]
        or not payload["compute"]["scaling"]["scaleToZeroTimeout"]
    )


def test_a_pinned_revision_is_deployed_and_printed_in_the_plan(tmp_path, tiny_checkpoint, capsys):
    """--revision: the endpoint's SAM3_MODEL_REVISION without weights; with --with-weights the weights (and their
    licence) copied at that revision, every read of facebook/sam3 at it; a revision the Hub lacks stops first."""
    weights = tmp_path / "hub-sam3"
    shutil.copytree(tiny_checkpoint, weights)
    (weights / "LICENSE").write_text("the SAM licence")
    hub = FakeHub(user="me", token="hf_write_token")
    hub.add_model("facebook/sam3", weights, gated=True, tags=("v1.0",))
    argv = ["--repo", "me/sam3", "--token", "hf_write_token", "--revision", "v1.0"]
    with hub.install():
        assert deploy.main([*argv, "--build-dir", str(tmp_path / "a")]) == 0
        assert "facebook/sam3 revision: v1.0" in capsys.readouterr().out
        assert deploy.main([*argv, "--build-dir", str(tmp_path / "b"), "--with-weights", "--name", "sam3-b"]) == 0
        commit = hub.commits("facebook/sam3")["v1.0"]
        assert f"facebook/sam3 revision: v1.0, commit {commit}, copied into the repository" in capsys.readouterr().out
        assert deploy.main(["--repo", "me/sam3", "--token", "hf_write_token", "--revision", "v9"]) == 2
    assert "--revision 'v9'" in capsys.readouterr().err
    first, second = hub.endpoints
    assert first["model"]["env"] == {"SAM3_MODEL_ID": "facebook/sam3", "SAM3_MODEL_REVISION": "v1.0"}
    assert "env" not in second["model"] and "LICENSE" in uploaded(hub, "me/sam3")
    reads = [revision for repo, revision in hub.revisions if repo == "facebook/sam3"]
    assert reads[:-1] and set(reads[:-1]) <= {"v1.0", hub.commits("facebook/sam3")["v1.0"]} and reads[-1] == "v9"
    assert "v1.0" in reads


def run_deploy(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sam3_core.cli.deploy", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
    )


def test_no_token_without_weights_exits_2_with_one_line_before_anything(tmp_path):
    build = tmp_path / "r"
    for extra in ([], ["--dry-run"]):
        completed = run_deploy(["--repo", "me/sam3", "--build-dir", str(build), *extra])
        assert completed.returncode == 2 and completed.stdout == ""
        assert len(completed.stderr.strip().splitlines()) == 1 and "HF_TOKEN" in completed.stderr
        assert not build.exists(), "nothing built, nothing uploaded"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--name", "SAM3 endpoint"], "--name"),
        (["--access", "protected"], "--access"),
        (["--max-replica", "0"], "--max-replica"),
        (["--min-replica", "-1"], "--min-replica"),
    ],
)
def test_bad_arguments_stop_before_the_hub(tmp_path, hub, capsys, argv, message):
    with pytest.raises(SystemExit) as stopped:
        deploy.main(["--repo", "me/sam3", "--build-dir", str(tmp_path / "r"), "--token", "hf_write_token", *argv])
    assert stopped.value.code == 2 and message in capsys.readouterr().err.splitlines()[-1]
    assert hub.requests == [] and not (tmp_path / "r").exists()


def test_a_refused_token_or_no_access_to_the_weights_stops_before_uploading(tmp_path, hub, capsys):
    argv = ["--repo", "me/sam3", "--build-dir", str(tmp_path / "r")]
    assert deploy.main([*argv, "--token", "hf_wrong"]) == 2
    assert "refused" in capsys.readouterr().err and "me/sam3" not in hub.repos
    assert deploy.main(["--repo", "someone/sam3", "--build-dir", str(tmp_path / "r"), "--token", "hf_write_token"]) == 2
    assert "someone/sam3" in capsys.readouterr().err and hub.endpoints == []
    hub.tokens["hf_no_licence"] = False  # a valid token whose account has not accepted facebook/sam3's licence
    assert deploy.main([*argv, "--token", "hf_no_licence"]) == 2
    assert "accept its licence" in capsys.readouterr().err
    assert all(not request.startswith("POST") for request in hub.requests), "nothing created or uploaded"
