"""The replica of the default endpoint image, started as soon as the tests are collected.

Building the image and the endpoint's first start are mostly downloads (minutes on a fresh machine); started in a
background thread when the tests are collected, they overlap the rest of the suite, and these tests run last
(``tests/conftest.py``). The endpoint gets exactly the environment and secrets in deploy.py's plan; the one
stand-in: the Hub cannot be reached here, so ``facebook/sam3`` is the tiny random checkpoint placed in a Hub cache
(``HF_HUB_CACHE``, with ``HF_HUB_OFFLINE=1``), which the real loading code reads as it would a download.
"""

from __future__ import annotations

import filecmp
import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from sam3_core.testing.tiny_checkpoint import make_checkpoint

from background import BackgroundStart
from helpers import wait_until_healthy

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TOOLKIT = ROOT.parent / "shared" / "vendor" / "huggingface-inference-toolkit"
TOKEN = "hf_replica_token_value"
START_TIMEOUT_S = 1500

# The build, then the replica's server, ended with the session.
BACKGROUND = BackgroundStart("sam3-endpoint-image-")


def deploy_dry_run(build: Path) -> dict:
    """deploy.py with its defaults (and a token): the endpoint settings it would send, secrets filled in."""
    completed = subprocess.run(
        [sys.executable, "-m", "sam3_core.cli.deploy", "--repo", "me/sam3-endpoint", "--dry-run"]
        + ["--build-dir", str(build)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HF_TOKEN": TOKEN, "HOME": str(build.parent)},
    )
    assert completed.returncode == 0, completed.stderr
    plan = json.loads(completed.stdout.split("inference endpoint:", 1)[1].split("\ndry run:", 1)[0])
    assert plan["secrets"] == {"HF_TOKEN": "***"}, "the token travels as a secret, never printed"
    plan["secrets"] = {"HF_TOKEN": TOKEN}
    return plan


def hub_cache_with(checkpoint: Path, cache: Path, repo_id: str = "facebook/sam3") -> Path:
    """A Hugging Face Hub cache holding ``checkpoint`` as ``repo_id`` at revision main (what a download leaves)."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(checkpoint, repo / "snapshots" / commit)
    return cache


def port_outside_the_ephemeral_range() -> int:
    """A free loopback port just below the kernel's ephemeral range, which ``free_port()`` (bind to port 0: the
    servers other tests start while the replica installs its requirements) never hands out."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for port in range(max(1024, low - 1000), low):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port below {low}")


def start_endpoint(work: Path, checkpoint: Path):
    """Build (or find) the replica and start the deploy.py repository on it, serving ``checkpoint`` as
    ``facebook/sam3``: (url, server, seconds until healthy)."""
    from scripts.endpoint_image_replica import ReplicaServer, build

    plan = deploy_dry_run(work / "repository")
    builder = BACKGROUND.process(
        [sys.executable, "-m", "scripts.endpoint_image_replica", "--toolkit", str(TOOLKIT), "build"],
        work / "build.log",
        cwd=ROOT,
    )
    if builder.wait() != 0:
        raise RuntimeError(f"the replica's build failed:\n{(work / 'build.log').read_text()[-4000:]}")
    replica = build(TOOLKIT)  # built: found at once
    env = {**plan["env"], **plan["secrets"]}
    env |= {"HF_HUB_CACHE": str(hub_cache_with(checkpoint, work / "hub")), "HF_HUB_OFFLINE": "1"}
    port = port_outside_the_ephemeral_range()
    server = BACKGROUND.adopt(lambda: ReplicaServer(replica, work / "repository", port, env, work / "server.log"))
    url = f"http://127.0.0.1:{port}"
    wait_until_healthy(url, server.process, START_TIMEOUT_S, output=server.log)
    return url, server, time.monotonic() - server.started


def pytest_collection_finish(session):
    if session.config.option.collectonly:
        return
    if TOOLKIT.is_dir() and any(item.path.is_relative_to(HERE) for item in session.items):
        work = BACKGROUND.open_work()
        # Made here, not in the thread: torch's random generator is global, and the session's own tiny checkpoint
        # (the in-process reference's weights) is made meanwhile from the same seed.
        with torch.random.fork_rng(devices=[]):  # the tests' random state stays as it was
            checkpoint = make_checkpoint(work / "sam3-tiny")
        BACKGROUND.begin(lambda: start_endpoint(work, checkpoint))


def pytest_sessionfinish(session):
    BACKGROUND.finish()


@pytest.fixture(scope="session")
def endpoint(tiny_checkpoint):
    """The replica serving the deploy.py repository on a loopback port: (url, server log reader)."""
    if not BACKGROUND.begun:
        pytest.skip("the replica was not started (../shared/vendor/huggingface-inference-toolkit is absent)")
    url, server, healthy_after_s = BACKGROUND.result()  # the start's own steps are bounded
    served = BACKGROUND.work / "sam3-tiny"
    same = filecmp.cmp(served / "model.safetensors", tiny_checkpoint / "model.safetensors", shallow=False)
    assert same, "the replica serves the weights the in-process reference runs"
    figures = server.cold_start(healthy_after_s)
    print(f"\nendpoint image replica, first start of the requirements: {json.dumps(figures)}")
    print(f"this start: pip install {server.pip_done_s or 0:.1f} s, healthy after {healthy_after_s:.1f} s")
    return url, server
