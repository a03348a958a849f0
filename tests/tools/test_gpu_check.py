"""The one-shot GPU check (``scripts.gpu_check``) in its CPU smoke mode: every phase runs and reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from scripts.gpu_check import SMOKE_PLAN

ROOT = Path(__file__).resolve().parents[2]  # python -m scripts.NAME runs from the checkout


def test_smoke_run_reports_every_phase(tmp_path):
    out = tmp_path / "gpu_check.json"
    command = [sys.executable, "-m", "scripts.gpu_check", "--smoke", "--skip", "compile", "--json", str(out)]
    command += ["--budget-s", "3600"]  # the budget is for a GPU machine's minutes; here every phase must run
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    report = json.loads(out.read_text())
    assert "gpu_check summary" in completed.stdout

    parity = report["parity"]["tiny"]
    assert parity["concept_queries"] > 0
    for key in ("concept_top20_mask_iou_min", "concept_top20_mask_iou_median", "visual_mask_iou_min"):
        assert 0.0 <= parity[key] <= 1.0, key
    for key in ("concept_max_abs_score_diff", "concept_mean_abs_score_diff", "visual_max_abs_score_diff"):
        assert 0.0 <= parity[key] < 1.0, key

    latency = report["latency"]
    scenarios = [
        f"text{n}_{size}_{state}"
        for n in SMOKE_PLAN.prompt_counts
        for size in ("1008", "12mp")
        for state in ("cold", "cached")
    ]
    scenarios += ["click_1008_cached", "click_12mp_cached", "objects100_12mp_cold"]
    for key in scenarios:
        figures = latency[key]
        assert 0 < figures["min_ms"] <= figures["median_ms"] <= figures["p90_ms"], key
        assert figures["stages_ms"]["cache_hit"] is key.endswith("cached"), key
    # Threshold 0 keeps every query (the tiny model has 20; the real one 200, capped at 100).
    assert 0 < latency["objects100_12mp_cold"]["objects"] <= 100
    for key in ("text1_1008_cold", f"text{SMOKE_PLAN.prompt_counts[-1]}_12mp_cold"):
        assert latency["plain_pipeline"][key]["median_ms"] > 0

    throughput = report["throughput"]
    for clients in SMOKE_PLAN.clients:
        for batching in ("off", "on"):
            figures = throughput[f"clients{clients}_batching_{batching}"]
            assert figures["requests"] == clients * SMOKE_PLAN.requests_per_client
            assert 0 < figures["p50_ms"] <= figures["p99_ms"] and figures["images_per_s"] > 0
    for count in SMOKE_PLAN.images_per_request:
        assert throughput[f"images{count}_single_requests"]["requests"] == count
        assert throughput[f"images{count}_one_request"]["requests"] == 1
    parity = throughput["batch_parity"]
    assert parity["objects"] > 0 and parity["max_score_diff"] <= 1e-4 and parity["min_mask_iou"] >= 0.999
    assert report["compile"] == {"skipped": "--skip"}
    assert report["video"]["frames"] == SMOKE_PLAN.video_frames and report["video"]["per_frame_ms"] > 0
    sessions = report["sessions"]
    for name in ("boxes1_forward", "boxes10_forward", "text_forward"):
        assert sessions[name]["frames_per_s"] > 0, name
    assert sessions["boxes10_forward"]["objects_prompted"] == 10 and sessions["boxes10_forward"]["objects_listed"] <= 10
