"""A short run of scripts.session_bench in CI: the one-shot request and a session track the same frames, and the
memory is back once every session is closed (the figures: docs/BENCHMARKS.md, "Video sessions")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_short_run_reports_sessions_beside_the_one_shot_request(tiny_checkpoint, tmp_path):
    report = tmp_path / "sessions.json"
    command = [sys.executable, "-m", "scripts.session_bench", "--model", str(tiny_checkpoint), "--frames", "4"]
    options = ["--sessions", "2", "--video-size", "160x120", "--json", str(report)]
    completed = subprocess.run([*command, *options], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stdout + completed.stderr[-2000:]
    result = json.loads(report.read_text())
    assert result["one_shot_s_per_frame"] > 0 and result["session_forward_s_per_frame"] > 0
    assert result["session_both_s_per_frame"] > 0 and result["frames"] == 4
    assert result["session_refined_forward_s_per_frame"] is None or result["session_refined_forward_s_per_frame"] > 0
    assert result["clicks_forward_s_per_frame"] > 0 and result["clicks_both_s_per_frame"] > 0
    memory = result["rss_mb"]
    assert memory["2_sessions"] >= memory["after_warm_up"] and memory["frames_held_by_open_sessions"] >= 0
    assert result["rss_back_within_5_percent"] is True, memory
