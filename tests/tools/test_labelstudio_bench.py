"""A short run of scripts.labelstudio_bench in CI: both contenders pre-annotate the same tasks and find the same
objects, and both answer clicks (the figures: docs/BENCHMARKS.md, "Label Studio pre-annotation")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_short_run_reports_both_paths(tiny_checkpoint, tmp_path):
    report = tmp_path / "lsb.json"
    command = [sys.executable, "-m", "scripts.labelstudio_bench", "--model", str(tiny_checkpoint), "--tasks", "3"]
    options = ["--per-request", "1,3", "--threshold", "0", "--clicks", "2", "--image", "320x240"]
    completed = subprocess.run(
        [*command, *options, "--json", str(report)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr[-2000:]
    result = json.loads(report.read_text())
    assert [row["per_request"] for row in result["rows"]] == [1, 3]
    for row in result["rows"]:
        assert row["main_api"]["objects"] == row["label_studio"]["objects"] > 0
        assert row["main_api"]["tasks_per_s"] > 0 and row["label_studio"]["tasks_per_s"] > 0
    assert result["clicks"]["main_api_ms"] > 0 and result["clicks"]["label_studio_ms"] > 0
