"""What the tools (and the tests) share: loopback ports, process memory, synthetic pictures, waiting for a server."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image, ImageDraw


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def memory_mb(field: str = "VmRSS", pid: int | str = "self") -> float:
    """``VmRSS`` (resident now) or ``VmHWM`` (peak resident) of a process, in MB, from ``/proc/PID/status``."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def reset_peak_memory() -> None:
    """Reset this process's ``VmHWM`` to its current RSS (Linux >= 4.0): the next peak is the next step's own."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def synthetic_image(width: int = 320, height: int = 240, seed: int | None = None) -> Image.Image:
    """A deterministic RGB picture: a gradient, a red disc, a green rectangle and a blue triangle (fixed pixel
    positions, so the default 320 x 240 has them all), plus uniform noise in [0, 40) when ``seed`` is given."""
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // width, y * 255 // height, (x + y) * 127 // (width + height)], axis=-1)
    if seed is not None:
        base = np.clip(base + np.random.default_rng(seed).integers(0, 40, size=(height, width, 3)), 0, 255)
    image = Image.fromarray(base.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    draw.ellipse([40, 50, 130, 140], fill=(230, 40, 40))
    draw.rectangle([180, 30, 290, 110], fill=(40, 200, 60))
    draw.polygon([(200, 220), (300, 220), (250, 140)], fill=(30, 30, 220))
    return image


def wait_until_healthy(
    url: str, process: subprocess.Popen, timeout_s: float, output: Callable[[], str] = lambda: ""
) -> None:
    """Poll ``url/health`` until it answers 200; raise ``RuntimeError`` (with the tail of ``output()``) when the
    process exits or ``timeout_s`` passes."""
    import requests

    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode}:\n{output()[-4000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server was not healthy after {timeout_s:.0f} s:\n{output()[-4000:]}")
        try:
            if requests.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):  # not listening yet, or too busy starting to answer
            pass
        time.sleep(0.3)


def serve_in_thread(app) -> tuple[str, Any]:
    """``app`` served by uvicorn in a daemon thread on a free loopback port: ``(url, server)`` once ``/health``
    answers at all (set ``server.should_exit`` to stop it)."""
    import requests
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/health", timeout=1).status_code in (200, 500, 503):
                return url, server
        except requests.ConnectionError:
            time.sleep(0.05)
    raise AssertionError("server did not start")
