"""``scripts.benchmark playback`` runs (no model): every contender encodes every frame of the clip and reports."""

from __future__ import annotations

import json

from scripts.benchmark import main


def test_playback_reports_each_contender(tmp_path):
    out = tmp_path / "playback.json"
    assert main(["playback", "--frames", "4", "--video-size", "64x48", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [row["contender"] for row in rows] == ["JPEG frames (chosen)", "VP8 WebM", "animated WebP", "GIF"]
    assert all(row["frames"] == 4 and row["base64_bytes"] > 0 and row["seconds"] >= 0 for row in rows)
