"""A short run of scripts.loadtest in CI: concurrent clients with distinct images, some abandoning their requests,
no failure, no mix-up, bounded memory growth (the full runs and their figures: docs/RELIABILITY.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_short_load_and_soak(tiny_checkpoint, tmp_path):
    report = tmp_path / "load.json"
    command = [sys.executable, "-m", "scripts.loadtest", "--model", str(tiny_checkpoint)]
    options = ["--clients", "4", "--warmup", "80", "--soak", "60", "--abandon-every", "7", "--sample-every", "10"]
    completed = subprocess.run(
        [*command, *options, "--max-seconds", "400", "--json", str(report)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    result = json.loads(report.read_text())
    assert completed.returncode == 0, completed.stdout + completed.stderr[-2000:]
    # Every 7th client gives up after 1 s; a request that answers sooner is checked like the others.
    assert result["requests"] + result["abandoned"] == 140 and result["failures"] == 0 and result["mixups"] == 0
    assert result["p99_ms"] > 0 and result["throughput_rps"] > 0
    # The 50 MB drift target is for the full 1,000-request soak after 800 warm-up requests (docs/RELIABILITY.md). In
    # this short run the process is still warming up (caches, allocator, per-shape kernels): idle RSS was measured
    # to grow 40-85 MB between request 80 and 140, so the bound here only catches gross per-request leaks.
    assert result["rss_drift_mb"] < 150, result["rss_samples"]
