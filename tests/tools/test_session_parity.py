"""scripts.session_parity on the tiny checkpoint: the session and transformers' session API agree, and the
report says so (the full-size figures: docs/BENCHMARKS.md, "Video sessions")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_short_run_compares_objects_and_agrees(tiny_checkpoint, tmp_path):
    report = tmp_path / "parity.json"
    command = [sys.executable, "-m", "scripts.session_parity", "--model", str(tiny_checkpoint), "--frames", "3"]
    options = ["--video-size", "160x120", "--threshold", "0.1", "--json", str(report)]
    completed = subprocess.run([*command, *options], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    result = json.loads(report.read_text())
    assert result["objects_compared"] > 0, "random weights at 0.1 must give objects to compare"
    assert result["same_ids_every_frame"] and result["frames_in_order"]
    assert result["min_mask_iou"] >= 0.99 and result["max_abs_score_diff"] <= 1e-3
    assert [row["frame"] for row in result["per_frame"]] == [0, 1, 2]
