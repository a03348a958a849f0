"""A short run of scripts/loadtest.py in CI: concurrent clients with distinct images, no failure, no mix-up,
bounded memory drift (the full run and its figures: docs/RELIABILITY.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_short_load_and_soak(tiny_checkpoint, tmp_path):
    report = tmp_path / "load.json"
    command = [sys.executable, str(ROOT / "scripts" / "loadtest.py"), "--model", str(tiny_checkpoint)]
    options = ["--clients", "4", "--requests", "6", "--soak", "66", "--warmup", "30", "--sample-every", "6"]
    completed = subprocess.run(
        [*command, *options, "--max-seconds", "400", "--json", str(report)], capture_output=True, text=True, timeout=600
    )
    result = json.loads(report.read_text())
    assert completed.returncode == 0, completed.stdout + completed.stderr[-2000:]
    assert result["requests"] == 90 and result["failures"] == 0 and result["mixups"] == 0
    assert result["p99_ms"] > 0 and result["throughput_rps"] > 0
    assert result["rss_drift_mb"] < 50, result["rss_samples"]  # growth is a leak; a fall is the allocator giving back
