#!/usr/bin/env python3
"""Load and soak test of the local server on loopback (bounded in requests and time; stops by itself).

    sam3-loadtest [--model DIR] [--clients 8] [--requests 100] [--soak 1000]
                               [--max-seconds 1800] [--json F]

Starts ``sam3-serve`` on a free loopback port (the tiny random checkpoint unless ``--model``), then:
1. load: ``--clients`` concurrent clients each send ``--requests`` requests, every one with its own image (its
   own width x height), a text prompt and a click, and check the answer against their own request: status 200,
   ``original_image_size`` and every mask's PNG size equal to that image's size, labels as asked;
2. soak: ``--soak`` more requests from the same clients. The server's resident memory (VmRSS) is read with
   nothing in flight after the load phase (the warm-up) and after the soak; the drift is their difference.
   ``--sample-every`` requests it is also sampled under load, for the report.
Prints throughput, p50/p95/p99 latency, failures, mix-ups and RSS drift; exits 1 on any failure or mix-up.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import struct
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from sam3_core.cli.support import free_port, memory_mb, synthetic_image, wait_until_healthy


def image_for(number: int) -> tuple[str, tuple[int, int]]:
    """A distinct image per request number: its size encodes the number, its pixels are seeded by it."""
    width, height = 48 + number % 157, 40 + (number // 157) % 131
    buffer = io.BytesIO()
    synthetic_image(width, height, seed=number).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode(), (width, height)


def png_size(png_b64: str) -> tuple[int, int]:
    raw = base64.b64decode(png_b64)
    return struct.unpack(">II", raw[16:24])  # IHDR width, height


class Server:
    def __init__(self, model: str | None, cache_mb: int) -> None:
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
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

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
    server = Server(args.model, args.cache_mb)
    try:
        server.wait_healthy(300)
        return drive(server, args)
    finally:
        server.stop()


def drive(server: Server, args) -> dict:
    total = args.clients * args.requests + args.soak
    lock = threading.Lock()
    latencies: list[float] = []
    failures: list[str] = []
    mixups: list[str] = []
    rss_samples: list[tuple[int, float]] = []
    deadline = time.monotonic() + args.max_seconds
    done = 0

    def one(number: int, session: requests.Session) -> None:
        nonlocal done
        image_b64, (width, height) = image_for(number)
        payload = {
            "inputs": {
                "image": image_b64,
                "text_prompts": ["cat"],
                "points": [[width / 2, height / 2]],
                "point_labels": [1],
                "confidence_threshold": 0.0,
                "max_objects": 3,
                "vectorize": True,
            }
        }
        started = time.perf_counter()
        try:
            response = session.post(f"{server.url}/api/sam2_compatible", json=payload, timeout=120)
        except requests.RequestException as exc:
            failures.append(f"#{number}: {type(exc).__name__}")
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
        if set(body["labels"]) - {"cat", "visual"}:
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
        time.sleep(0.5)
        return memory_mb("VmRSS", server.process.pid)

    started = time.perf_counter()
    load = args.clients * args.requests
    rss_after_load = phase(range(load))  # the load phase is the warm-up: caches full, allocator grown
    rss_after_soak = phase(range(load, total))
    wall = time.perf_counter() - started
    ordered = sorted(latencies)

    def percentile(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")

    result = {
        "requests": len(latencies),
        "planned": total,
        "clients": args.clients,
        "failures": len(failures),
        "mixups": len(mixups),
        "examples": (failures + mixups)[:5],
        "throughput_rps": len(latencies) / wall if wall else 0.0,
        "p50_ms": percentile(0.50),
        "p95_ms": percentile(0.95),
        "p99_ms": percentile(0.99),
        # Both read with nothing in flight: samples taken under load swing by tens of MB with the requests.
        "rss_after_warmup_mb": rss_after_load,
        "rss_end_mb": rss_after_soak,
        "rss_drift_mb": rss_after_soak - rss_after_load,
        "rss_samples": rss_samples,
        "wall_s": wall,
    }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="checkpoint directory or Hub id (default: the tiny random checkpoint)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=100, help="per client, in the load phase")
    parser.add_argument("--soak", type=int, default=1000, help="further requests in the soak phase")
    parser.add_argument("--sample-every", type=int, default=50, help="requests between RSS samples")
    parser.add_argument("--cache-mb", type=int, default=128, help="server's SAM3_FEATURE_CACHE_MB")
    parser.add_argument("--max-seconds", type=float, default=1800)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    result = run(args)
    print(
        f"{result['requests']}/{result['planned']} requests, {result['clients']} clients, {result['wall_s']:.1f} s: "
        f"{result['throughput_rps']:.1f} req/s, p50 {result['p50_ms']:.0f} ms, p95 {result['p95_ms']:.0f} ms, "
        f"p99 {result['p99_ms']:.0f} ms; failures {result['failures']}, mix-ups {result['mixups']}; server RSS "
        f"{result['rss_after_warmup_mb']:.0f} MB after warm-up -> {result['rss_end_mb']:.0f} MB "
        f"(drift {result['rss_drift_mb']:+.1f} MB)"
    )
    for example in result["examples"]:
        print("  ", example)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0 if result["failures"] == result["mixups"] == 0 and result["requests"] == result["planned"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
