"""A tool whose extra is not installed stops with one line naming the pip install to run (docs/TOOLS.md)."""

from __future__ import annotations

import sys

import pytest

from sam3_core.cli import segment_folder, serve

from helpers import encode, scene


@pytest.mark.parametrize(
    ("main", "argv", "blocked", "extra"),
    [
        (segment_folder.main, ["--endpoint", "http://127.0.0.1:9"], "requests", "coco"),
        (segment_folder.main, [], "pycocotools", "coco"),
        (serve.main, ["--ui"], "gradio", "ui"),
        (serve.main, [], "uvicorn", "server"),
    ],
)
def test_a_missing_extra_is_one_line_naming_the_install(tmp_path, monkeypatch, capsys, main, argv, blocked, extra):
    monkeypatch.setitem(sys.modules, blocked, None)  # as if not installed: importing it raises ImportError
    if main is segment_folder.main:
        (tmp_path / "photo.png").write_bytes(encode(scene(32, 24)))
        argv = [str(tmp_path), "--prompts", "cat", "--out", str(tmp_path / "out.json"), *argv]
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert f"'{extra}' extra ({blocked} not installed)" in line and f"-e '.[{extra}]'" in line


def test_the_in_process_labeller_without_weights_points_at_the_tiny_checkpoint(tmp_path, monkeypatch):
    monkeypatch.delenv("SAM3_MODEL_ID", raising=False)
    (tmp_path / "photo.png").write_bytes(encode(scene(32, 24)))
    with pytest.raises(SystemExit) as stopped:
        segment_folder.main([str(tmp_path), "--prompts", "cat", "--out", str(tmp_path / "out.json"), "--quiet"])
    assert "no weights" in str(stopped.value) and "--model checkpoints/sam3-tiny" in str(stopped.value)
