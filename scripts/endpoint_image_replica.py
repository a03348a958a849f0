#!/usr/bin/env python3
"""A replica of the default Inference Endpoints image, built from the inference toolkit's source, on this machine.

    python -m scripts.endpoint_image_replica build [--toolkit DIR]
    python -m scripts.endpoint_image_replica start REPOSITORY_DIR [--port 5000] [--env KEY=VALUE ...]

The default image (the toolkit's ``dockerfiles/pytorch/Dockerfile``) is a Python 3.11 environment with
``pip install ".[torch,st,diffusers]"`` of the toolkit (its ``setup.py`` pins: torch 2.5.1, transformers 4.51.3,
huggingface_hub 0.30.2, diffusers 0.33.1, peft 0.15.1, ...) and the toolkit's server copied to ``/app``. Its
``scripts/entrypoint.sh`` then runs ``pip install -r $HF_MODEL_DIR/requirements.txt`` and
``uvicorn webservice_starlette:app``. The replica does the same in a virtual environment under
``~/.cache/sam3-endpoint`` (``SAM3_REPLICA_CACHE``), keyed by the hash of the toolkit's pins and of the endpoint's
requirements, so a rebuild happens only when either changes. Differences from the real image, all deliberate:

- no CUDA base image (CPU here) and the toolkit's ``kenlm`` git pin is dropped (audio only; transformers'
  ``audio`` extra still installs ``kenlm`` from PyPI);
- what the toolkit leaves unpinned (starlette, uvicorn, torchvision, torchaudio, ...) resolves from PyPI as of
  the snapshot's date (``SOURCE_COMMIT``; ``pip install --uploaded-prior-to``), as it did when such an image
  was built; pip itself is the current release (older ones lack that option);
- the entrypoint is the toolkit's own ``entrypoint.sh`` with its fixed port 5000 replaced by ``--port``;
- the Hub is not reachable: the caller provides what the endpoint would download (see the endpoint test).

The first start records the cold-start cost of the endpoint's requirements (pip time, bytes added to the
environment, packages installed) in ``cold_start.json`` beside the environment.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the source checkout
DEFAULT_TOOLKIT = ROOT.parent / "shared" / "vendor" / "huggingface-inference-toolkit"
# What the endpoint repository's requirements.txt installs on top of the image; part of the cache key.
REQUIREMENT_FILES = ["requirements.txt", "requirements-runtime.txt", "toolkit_compat"]
REPLICA_VERSION = "2"
PYPI = "https://pypi.org/simple"


@dataclass(frozen=True)
class Replica:
    """A built replica: ``venv`` (the image's Python environment) and ``app`` (the image's ``/app``)."""

    root: Path
    venv: Path
    app: Path

    @property
    def cold_start_file(self) -> Path:
        return self.root / "cold_start.json"


def cache_root() -> Path:
    return Path(os.environ.get("SAM3_REPLICA_CACHE", Path.home() / ".cache" / "sam3-endpoint")).expanduser()


def _digest_paths(paths: list[Path], digest: hashlib._Hash) -> None:
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if "__pycache__" in file.parts:
                continue
            digest.update(str(file.relative_to(path.parent)).encode() + b"\0" + file.read_bytes() + b"\0")


def replica_key(toolkit: Path) -> str:
    """Hash of the image recipe (the toolkit's pins, Dockerfile, entrypoint) and of the endpoint's requirements."""
    digest = hashlib.sha256(f"{REPLICA_VERSION} {sys.version_info[:2]}".encode())
    recipe = ["SOURCE_COMMIT", "setup.py", "dockerfiles/pytorch/Dockerfile", "scripts/entrypoint.sh"]
    _digest_paths([toolkit / name for name in recipe], digest)
    _digest_paths([ROOT / name for name in REQUIREMENT_FILES], digest)
    return digest.hexdigest()[:16]


def snapshot_date(toolkit: Path) -> str:
    """The toolkit snapshot's commit date (``SOURCE_COMMIT`` names it), as pip's ``--uploaded-prior-to`` value."""
    match = re.search(r"\b(\d{4}-\d{2}-\d{2})\b", (toolkit / "SOURCE_COMMIT").read_text())
    if not match:
        raise RuntimeError(f"no date in {toolkit / 'SOURCE_COMMIT'}")
    return f"{match.group(1)}T23:59:59Z"


def _pypi_only_environment() -> dict[str, str]:
    """pip reads PyPI alone (local mirrors carry no upload times, so a date cap could not hold there)."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith("PIP_") or key == "PIP_CERT"}
    return environ | {"PIP_CONFIG_FILE": os.devnull, "PIP_INDEX_URL": PYPI, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def _run(command: list[str], **kwargs) -> None:
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True, **kwargs)


def build(toolkit: Path = DEFAULT_TOOLKIT) -> Replica:
    """The image's environment and ``/app``, built once per key (minutes the first time, then nothing)."""
    if not (toolkit / "setup.py").is_file():
        raise FileNotFoundError(f"no inference toolkit source at {toolkit}")
    root = cache_root() / f"replica-{replica_key(toolkit)}"
    replica = Replica(root, root / "venv", root / "app")
    if (root / "built").is_file():
        return replica
    for stale in cache_root().glob("replica-*"):  # one replica at a time: each is several GB
        shutil.rmtree(stale, ignore_errors=True)
    root.mkdir(parents=True)
    # The Dockerfile's "COPY . ." (the source may be read-only: copy before building in it).
    shutil.copytree(toolkit, replica.app, ignore=shutil.ignore_patterns(".git", "tests"))
    for path in [replica.app, *replica.app.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)
    setup = replica.app / "setup.py"
    setup.write_text("".join(line for line in setup.read_text().splitlines(True) if '"kenlm@git+' not in line))
    _run([sys.executable, "-m", "venv", str(replica.venv)])
    pip = [str(replica.venv / "bin" / "python"), "-m", "pip"]
    environment = _pypi_only_environment()
    _run([*pip, "install", "-q", "--upgrade", "pip"], env=environment)
    # The Dockerfile's install, resolved as of the snapshot's date.
    install = [*pip, "install", "-q", "--uploaded-prior-to", snapshot_date(toolkit), ".[torch,st,diffusers]"]
    _run(install, cwd=replica.app, env=environment)
    # The Dockerfile's two COPY lines: the server module at the top of /app.
    package = replica.app / "src" / "huggingface_inference_toolkit"
    shutil.copytree(package, replica.app / "huggingface_inference_toolkit")
    shutil.copy2(package / "webservice_starlette.py", replica.app / "webservice_starlette.py")
    entrypoint = (replica.app / "scripts" / "entrypoint.sh").read_text()
    if "PORT=5000" not in entrypoint:
        raise RuntimeError("the toolkit's entrypoint.sh no longer sets PORT=5000: update the replica")
    (replica.app / "entrypoint.sh").write_text(entrypoint.replace("PORT=5000", "PORT=${REPLICA_PORT:-5000}", 1))
    (root / "built").write_text(time.strftime("%Y-%m-%dT%H:%M:%S"))
    return replica


def _signal_group(process: subprocess.Popen, number: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, number)


def _directory_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


class ReplicaServer:
    """The image started on a repository, as Inference Endpoints does: ``HF_MODEL_DIR`` is the repository, ``env``
    the endpoint's environment and secrets; ``entrypoint.sh`` installs the repository's requirements, then runs
    uvicorn on ``port``. Output lines go to ``log_path`` prefixed with seconds since start."""

    def __init__(self, replica: Replica, repository: Path, port: int, env: dict[str, str], log_path: Path) -> None:
        self.replica, self.log_path = replica, log_path
        self.first_start = not replica.cold_start_file.exists()
        self._size_before = _directory_bytes(replica.venv) if self.first_start else 0
        self.pip_done_s: float | None = None
        self.installed: list[str] = []
        process_env = {
            "PATH": f"{replica.venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            "HOME": os.environ.get("HOME", "/root"),
            "HF_MODEL_DIR": str(repository),
            "REPLICA_PORT": str(port),
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            ["bash", str(replica.app / "entrypoint.sh")],
            cwd=replica.app,
            env=process_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: stop() ends the entrypoint's pip and server with it
        )
        self._copier = threading.Thread(target=self._copy_output, daemon=True)
        self._copier.start()

    def _copy_output(self) -> None:
        with open(self.log_path, "w") as log:
            for line in self.process.stdout:  # type: ignore[union-attr]
                elapsed = time.monotonic() - self.started
                if line.startswith("Successfully installed"):
                    self.pip_done_s = elapsed
                    self.installed = line.split()[2:]
                log.write(f"[{elapsed:7.1f}s] {line}")
                log.flush()

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def stop(self) -> None:
        """End the entrypoint and everything it started (its pip install, the server)."""
        if self.process.poll() is None:
            _signal_group(self.process, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                _signal_group(self.process, signal.SIGKILL)
                self.process.wait()
        self._copier.join(timeout=10)

    def cold_start(self, ready_after_s: float) -> dict:
        """The first start's cost of the endpoint's requirements (recorded once, then read back)."""
        if not self.first_start:
            return json.loads(self.replica.cold_start_file.read_text())
        figures = {
            "pip_install_s": None if self.pip_done_s is None else round(self.pip_done_s, 1),
            "healthy_after_s": round(ready_after_s, 1),
            "bytes_added_to_environment": _directory_bytes(self.replica.venv) - self._size_before,
            "packages_installed": self.installed,
        }
        self.replica.cold_start_file.write_text(json.dumps(figures, indent=1))
        return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--toolkit", type=Path, default=DEFAULT_TOOLKIT, help="the inference toolkit's source")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("build", help="build (or find) the replica and print where it is")
    starting = commands.add_parser("start", help="start a repository in the replica, as the entrypoint does")
    starting.add_argument("repository", type=Path)
    starting.add_argument("--port", type=int, default=5000)
    starting.add_argument("--env", action="append", default=[], help="KEY=VALUE of the endpoint (repeatable)")
    args = parser.parse_args(argv)
    replica = build(args.toolkit)
    print(f"replica: {replica.root}")
    if args.command == "start":
        env = dict(item.split("=", 1) for item in args.env)
        server = ReplicaServer(replica, args.repository.resolve(), args.port, env, replica.root / "server.log")
        print(f"started (pid {server.process.pid}); log: {server.log_path}", flush=True)
        try:
            return server.process.wait()
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
