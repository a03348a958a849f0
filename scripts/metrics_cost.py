#!/usr/bin/env python3
"""What ``/metrics`` costs sam3-serve: requests with the metrics counted against the same app with them off, in
one run, and the counting and a scrape on their own.

    python -m scripts.metrics_cost [--size tiny|full] [--requests 40] [--image 1008x1008] [--json F]

The app is ``create_app`` around the service, loaded as the endpoint loads it, served by uvicorn on loopback.
Requests alternate between the two arms (off: the service's observers removed and the answer counter a no-op;
on: as served), so drift in the machine's speed falls on both. Every request carries its own synthetic JPEG
(base64) and one text prompt. Reported: median and p90 latency per arm and their ratio; the per-request counting
(``observe_answer`` and ``observe_record`` on a real record) in microseconds, median of 20,000; a scrape of
``/metrics`` in milliseconds, median of 50.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import requests

from scripts.measuring import checkpoint, jpeg_b64, log, machine, percentile


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=["tiny", "full"], default="tiny")
    parser.add_argument("--requests", type=int, default=40, help="requests per arm")
    parser.add_argument("--image", default="1008x1008")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)

    from sam3_core.loading import load_service
    from sam3_core.server.http_api import create_app
    from sam3_core.settings import Settings
    from sam3_core.testing.support import serve_in_thread

    width, _, height = args.image.partition("x")
    service = load_service(Settings.from_env(), "", str(checkpoint(args.size)))
    app = create_app(lambda: service)
    metrics = app.state.metrics
    url, server = serve_in_thread(app)
    while requests.get(url + "/health", timeout=5).status_code != 200:  # the service is loaded: a moment
        time.sleep(0.1)
    counted, observers = metrics.observe_answer, list(service.observers)

    def set_arm(on: bool) -> None:
        metrics.observe_answer = counted if on else (lambda *args: None)
        service.observers[:] = observers if on else []

    latencies: dict[str, list[float]] = {"off": [], "on": []}
    images = [jpeg_b64((int(width), int(height or width)), seed) for seed in range(2 * args.requests + 1)]
    session = requests.Session()
    session.post(url, json={"inputs": {"image": images[-1], "text_prompts": ["cat"]}}, timeout=600)  # warm-up
    for index in range(2 * args.requests):
        arm = "on" if index % 2 else "off"
        set_arm(arm == "on")
        started = time.perf_counter()
        answer = session.post(url, json={"inputs": {"image": images[index], "text_prompts": ["cat"]}}, timeout=600)
        latencies[arm].append((time.perf_counter() - started) * 1000.0)
        assert answer.status_code == 200, answer.text[:200]
    set_arm(True)
    record = {"wait_ms": 0.1, "decode_ms": 12.0, "queue_ms": 0.2, "backbone_ms": 300.0, "prompts_ms": 80.0}
    record.update(postprocess_ms=9.0, batch_images=1, outcome="ok", status=200)
    calls = 20_000
    started = time.perf_counter()
    for _ in range(calls):
        metrics.observe_answer("POST", "/", 200, 0.4)
        metrics.observe_record(record)
    counting_us = (time.perf_counter() - started) / calls * 1e6
    scrapes = []
    for _ in range(50):
        started = time.perf_counter()
        page = session.get(url + "/metrics", timeout=30)
        scrapes.append((time.perf_counter() - started) * 1000.0)
    server.should_exit = True
    report = {
        "machine": machine(),
        "size": args.size,
        "image": args.image,
        "requests_per_arm": args.requests,
        "off": {"p50_ms": statistics.median(latencies["off"]), "p90_ms": percentile(latencies["off"], 0.9)},
        "on": {"p50_ms": statistics.median(latencies["on"]), "p90_ms": percentile(latencies["on"], 0.9)},
        "counting_us_per_request": counting_us,
        "scrape_ms_p50": statistics.median(scrapes),
        "page_bytes": len(page.content),
    }
    report["p50_ratio_on_over_off"] = report["on"]["p50_ms"] / report["off"]["p50_ms"]
    log(
        f"metrics ({args.size}, {args.image}, {args.requests} requests per arm): off p50 {report['off']['p50_ms']:.0f} "
        f"ms p90 {report['off']['p90_ms']:.0f} | on p50 {report['on']['p50_ms']:.0f} ms p90 "
        f"{report['on']['p90_ms']:.0f} | on/off {report['p50_ratio_on_over_off']:.3f} | counting "
        f"{counting_us:.1f} us per request | scrape {report['scrape_ms_p50']:.1f} ms ({report['page_bytes']} bytes)"
    )
    log(f"machine: {report['machine']}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
