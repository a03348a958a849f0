#!/usr/bin/env python3
"""Load and soak test of the local server on loopback (bounded in requests and time; stops by itself).

    python -m scripts.loadtest [--large] [--model DIR] [--clients N] [--warmup N] [--soak N] [--abandon-every K]
                  [--max-seconds 7200] [--json F]

Starts ``sam3-serve`` on a free loopback port (the tiny random checkpoint unless ``--model``), then ``--clients``
concurrent clients send requests, every one with its own image (its own width x height), and check each answer
against their own request: status 200, ``original_image_size`` and every mask's PNG size equal to that image's
size, labels as asked. Two phases: ``--warmup`` requests (caches fill, the process reaches its working size), then
``--soak`` more. The server's resident memory (VmRSS) is read when it is idle (nothing in flight: its CPU time
stands still) after each phase; the growth is their difference. ``--sample-every`` requests it is also sampled
under load, for the report.

Modes (the defaults of the options above):
- default: 8 clients, 800 + 1,000 requests of about 100x100 pixels, a text prompt and a click, up to 3 objects;
- ``--large``: 16 clients, 50 + 250 requests of about 12 MP (JPEG), 5 text prompts at threshold 0, up to 100
  objects, polygons on, and every 10th client closes its connection 1 s after sending (abandons the request).
An abandoned request is not a failure; a request that answers before its client gives up is checked as any other.
Prints throughput, p50/p95/p99 latency, failures, mix-ups, idle RSS at start and after each phase, and the growth
between the phases; exits 1 on any failure or mix-up.
"""

from __future__ import annotations

import argparse
import base64
import functools
import io
import json
import os
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import requests
from PIL import Image

from sam3_core.testing.support import free_port, memory_mb, synthetic_image, wait_until_healthy

LARGE_PROMPTS = ["cat", "dog", "person", "car", "tree"]


@dataclass(frozen=True)
class Mode:
    """Defaults and the request of one mode: ``request(number)`` -> (payload, image (width, height), labels)."""

    clients: int
    warmup: int
    soak: int
    abandon_every: int
    timeout_s: float
    request: Callable[[int], tuple[dict, tuple[int, int], set[str]]]


def png_b64(image: Image.Image, fmt: str = "PNG", **options) -> str:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return base64.b64encode(buffer.getvalue()).decode()


def image_for(number: int) -> tuple[str, tuple[int, int]]:
    """A distinct small image per request number: its size encodes the number, its pixels are seeded by it."""
    width, height = 48 + number % 157, 40 + (number // 157) % 131
    return png_b64(synthetic_image(width, height, seed=number)), (width, height)


def small_request(number: int) -> tuple[dict, tuple[int, int], set[str]]:
    image, (width, height) = image_for(number)
    inputs = {"image": image, "text_prompts": ["cat"], "points": [[width / 2, height / 2]], "point_labels": [1]}
    inputs.update(confidence_threshold=0.0, max_objects=3, vectorize=True)
    return {"inputs": inputs}, (width, height), {"cat", "visual"}


@functools.cache
def _large_scene() -> Image.Image:
    return synthetic_image(4000, 3000)


def large_request(number: int) -> tuple[dict, tuple[int, int], set[str]]:
    """About 12 MP: the same scene cropped to a size that encodes the number (so a new image for the server)."""
    width, height = 4000 - number % 100, 3000 - (number // 100) % 100
    image = png_b64(_large_scene().crop((0, 0, width, height)), "JPEG", quality=90)
    inputs = {"image": image, "text_prompts": LARGE_PROMPTS, "confidence_threshold": 0.0, "max_objects": 100}
    inputs["vectorize"] = True
    return {"inputs": inputs}, (width, height), set(LARGE_PROMPTS)


MODES = {
    "default": Mode(clients=8, warmup=800, soak=1000, abandon_every=0, timeout_s=120, request=small_request),
    "large": Mode(clients=16, warmup=50, soak=250, abandon_every=10, timeout_s=900, request=large_request),
}
ABANDON_AFTER_S = 1.0  # an abandoning client closes its connection this long after sending the request


def png_size(png_b64: str) -> tuple[int, int]:
    raw = base64.b64decode(png_b64)
    return struct.unpack(">II", raw[16:24])  # IHDR width, height


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads), from ``/proc/PID/stat``."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_rss(pid: int, timeout_s: float = 900) -> float:
    """The RSS of ``pid`` once it is idle: under 0.05 s of CPU in each of two consecutive seconds (so requests its
    clients abandoned have finished too)."""
    deadline = time.monotonic() + timeout_s
    quiet, before = 0, cpu_seconds(pid)
    while quiet < 2 and time.monotonic() < deadline:
        time.sleep(1.0)
        now = cpu_seconds(pid)
        quiet = quiet + 1 if now - before < 0.05 else 0
        before = now
    return memory_mb("VmRSS", pid)


class Server:
    def __init__(self, model: str | None, cache_mb: int, log: str | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "sam3_core.cli.serve", "--port", str(self.port)]
        if model:
            command += ["--model", model]
        env = {
            **os.environ,
            "SAM3_FEATURE_CACHE_MB": str(cache_mb),
            "SAM3_DEVICE": os.environ.get("SAM3_DEVICE", "cpu"),
        }
        output = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below, the child keeps it
        self.process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        if log:
            output.close()

    def wait_healthy(self, seconds: float) -> None:
        try:
            wait_until_healthy(self.url, self.process, seconds)
        except RuntimeError as error:
            raise SystemExit(str(error)) from None

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def run(args) -> dict:
    server = Server(args.model, args.cache_mb, args.server_log)
    try:
        server.wait_healthy(300)
        return drive(server, args)
    finally:
        server.stop()


def drive(server: Server, args) -> dict:
    mode = MODES[args.mode]
    total = args.warmup + args.soak
    lock = threading.Lock()
    latencies: list[float] = []
    failures: list[str] = []
    mixups: list[str] = []
    abandoned: list[int] = []
    rss_samples: list[tuple[int, float]] = []
    deadline = time.monotonic() + args.max_seconds
    done = 0

    def one(number: int, session: requests.Session) -> None:
        nonlocal done
        payload, (width, height), labels = mode.request(number)
        abandon = args.abandon_every > 0 and number % args.abandon_every == args.abandon_every - 1
        started = time.perf_counter()
        try:
            timeout = (10, ABANDON_AFTER_S if abandon else mode.timeout_s)
            response = session.post(f"{server.url}/api/sam2_compatible", json=payload, timeout=timeout)
        except requests.ReadTimeout as exc:
            if abandon:  # requests closes the connection on a read timeout: the server answers nobody
                abandoned.append(number)
            else:
                failures.append(f"#{number}: {type(exc).__name__}")
            return
        except requests.RequestException as exc:
            failures.append(f"#{number}: {type(exc).__name__} {str(exc)[:200]}")
            return
        elapsed = time.perf_counter() - started
        with lock:
            done += 1
            latencies.append(elapsed)
            if done % args.sample_every == 0:
                rss_samples.append((done, memory_mb("VmRSS", server.process.pid)))
        if response.status_code != 200:
            failures.append(f"#{number}: HTTP {response.status_code} {response.text[:100]}")
            return
        body = response.json()
        sizes = {png_size(mask) for mask in body["masks"]}
        if body["original_image_size"] != [width, height] or sizes - {(width, height)} or not body["masks"]:
            mixups.append(f"#{number}: asked {width}x{height}, got {body['original_image_size']} masks {sizes}")
        if set(body["labels"]) - labels:
            mixups.append(f"#{number}: labels {body['labels']}")

    def client(numbers) -> None:
        with requests.Session() as session:
            while time.monotonic() < deadline:
                with lock:
                    number = next(numbers, None)
                if number is None:
                    return
                one(number, session)

    def phase(numbers: range) -> float:
        """Run ``numbers`` through the clients; then, with nothing in flight, the server's RSS."""
        numbers = iter(numbers)
        with ThreadPoolExecutor(max_workers=args.clients) as pool:
            for _ in range(args.clients):
                pool.submit(client, numbers)
        return idle_rss(server.process.pid)

    rss_start = idle_rss(server.process.pid)  # loaded and warmed up by its own start-up, no request yet
    started = time.perf_counter()
    rss_after_warmup = phase(range(args.warmup))  # caches full, allocator grown
    rss_end = phase(range(args.warmup, total))
    wall = time.perf_counter() - started
    ordered = sorted(latencies)

    def percentile(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")

    return {
        "mode": args.mode,
        "requests": len(latencies),
        "abandoned": len(abandoned),
        "planned": total,
        "clients": args.clients,
        "failures": len(failures),
        "mixups": len(mixups),
        "examples": (failures + mixups)[:5],
        "throughput_rps": len(latencies) / wall if wall else 0.0,
        "p50_ms": percentile(0.50),
        "p95_ms": percentile(0.95),
        "p99_ms": percentile(0.99),
        # Both read with nothing in flight: samples taken under load swing with the requests' working memory.
        "rss_start_mb": rss_start,
        "rss_after_warmup_mb": rss_after_warmup,
        "rss_end_mb": rss_end,
        "rss_drift_mb": rss_end - rss_after_warmup,
        "rss_samples": rss_samples,
        "wall_s": wall,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", dest="mode", action="store_const", const="large", default="default")
    parser.add_argument("--model", help="checkpoint directory or Hub id (default: the tiny random checkpoint)")
    parser.add_argument("--clients", type=int)
    parser.add_argument("--warmup", type=int, help="requests before the first idle RSS reading")
    parser.add_argument("--soak", type=int, help="further requests before the second")
    parser.add_argument("--abandon-every", type=int, help="every K-th request is abandoned (0: none)")
    parser.add_argument("--sample-every", type=int, default=50, help="requests between RSS samples under load")
    parser.add_argument("--cache-mb", type=int, default=128, help="server's SAM3_FEATURE_CACHE_MB")
    parser.add_argument("--max-seconds", type=float, default=7200)
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--server-log", help="write the server's output here")
    args = parser.parse_args(argv)
    mode = MODES[args.mode]
    for name in ("clients", "warmup", "soak", "abandon_every"):
        if getattr(args, name) is None:
            setattr(args, name, getattr(mode, name))
    result = run(args)
    print(
        f"{result['requests']}/{result['planned']} requests answered ({result['abandoned']} abandoned), "
        f"{result['clients']} clients, {result['wall_s']:.1f} s: {result['throughput_rps']:.2f} req/s, "
        f"p50 {result['p50_ms']:.0f} ms, p95 {result['p95_ms']:.0f} ms, p99 {result['p99_ms']:.0f} ms; "
        f"failures {result['failures']}, mix-ups {result['mixups']}; idle server RSS: "
        f"{result['rss_start_mb']:.0f} MB at start, {result['rss_after_warmup_mb']:.0f} MB after {args.warmup} "
        f"requests, {result['rss_end_mb']:.0f} MB after {result['planned']} (growth {result['rss_drift_mb']:+.1f} MB)"
    )
    for example in result["examples"]:
        print("  ", example)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    complete = result["requests"] + result["abandoned"] == result["planned"]
    return 0 if result["failures"] == result["mixups"] == 0 and complete else 1


if __name__ == "__main__":
    raise SystemExit(main())
