"""sam3-segment-folder: COCO output that pycocotools reads, in-process and over HTTP, skips, retries, resume."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import requests
from pycocotools.coco import COCO

from sam3_core.testing.support import synthetic_image

from helpers import scene

ROOT = Path(__file__).resolve().parents[2]
COMMAND = [sys.executable, "-m", "sam3_core.cli.segment_folder"]
SIZES = [(120, 90), (96, 128), (150, 100), (64, 64), (200, 80), (90, 90)]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dataset")
    (root / "nested" / "deeper").mkdir(parents=True)
    for index, (width, height) in enumerate(SIZES):
        target = root / ("nested/deeper" if index == 4 else "nested" if index == 3 else ".") / f"img{index}.png"
        scene(width, height).save(target if index % 2 == 0 else target.with_suffix(".jpg"))
    (root / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    (root / "notes.txt").write_text("not an image, not listed")
    return root


def run(*args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    completed = subprocess.run(
        [*COMMAND, *args, "--quiet"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "SAM3_DEVICE": "cpu", **(env or {})},
    )
    if check:
        assert completed.returncode == 0, completed.stdout + completed.stderr[-3000:]
    return completed


def label(folder: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    """The folder, prompts "cat,dog" at threshold 0.3, into ``out``, plus ``extra`` options."""
    return run(str(folder), "--prompts", "cat,dog", "--out", str(out), "--threshold", "0.3", *extra)


def check_coco(path: Path, folder: Path) -> COCO:
    coco = COCO(str(path))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["cat", "dog"]
    assert len(coco.imgs) == len(SIZES), "every good image, the corrupt one skipped"
    for image in coco.imgs.values():
        with open(folder / image["file_name"], "rb"):
            pass
        assert (image["width"], image["height"]) in SIZES
    annotations = coco.loadAnns(coco.getAnnIds())
    assert annotations, "the check needs objects"
    for annotation in annotations:
        image = coco.imgs[annotation["image_id"]]
        mask = coco.annToMask(annotation)
        assert mask.shape == (image["height"], image["width"])
        assert 0.3 < annotation["score"] <= 1 and len(annotation["bbox"]) == 4
        if isinstance(annotation["segmentation"], dict):
            assert int(mask.sum()) == annotation["area"]
    return coco


def test_in_process_rle_with_masks(folder, tiny_checkpoint, tmp_path):
    out, masks = tmp_path / "coco.json", tmp_path / "masks"
    result = label(folder, out, "--model", str(tiny_checkpoint), "--masks-dir", str(masks))
    assert "corrupt.jpg" in result.stdout and "1 failed" in result.stdout
    coco = check_coco(out, folder)
    assert not out.with_name(out.name + ".partial.jsonl").exists(), "the journal goes once the run is complete"
    files = sorted(masks.iterdir())
    assert len(files) == len(coco.anns)
    first = coco.anns[1]
    from PIL import Image

    png = np.asarray(Image.open(masks / f"{first['image_id']:06d}_000.png")) > 0
    assert np.array_equal(png, coco.annToMask(first) > 0)


def test_against_the_local_server_with_polygons_and_concurrency(folder, server, tmp_path):
    out = tmp_path / "coco.json"
    label(folder, out, "--endpoint", server + "/", "--concurrency", "4", "--format", "polygon")
    coco = check_coco(out, folder)
    polygons = [a["segmentation"] for a in coco.anns.values() if isinstance(a["segmentation"], list)]
    assert polygons, "polygon format writes polygons (RLE only for contours of fewer than 3 vertices)"
    assert all(len(polygon) == 1 and len(polygon[0]) >= 6 for polygon in polygons)


def test_inputs_as_glob_and_list_file(folder, server, tmp_path):
    listing = tmp_path / "images.txt"
    listing.write_text(f"{folder / 'img0.png'}\n{folder / 'img2.png'}\n")
    for source, count in ((str(folder / "*.png"), 2), (str(listing), 2), (str(folder / "**" / "*.jpg"), 3)):
        out = tmp_path / "subset.json"
        run(source, "--prompts", "cat", "--out", str(out), "--endpoint", server + "/", "--threshold", "0.3")
        assert len(json.loads(out.read_text())["images"]) == count


class FlakyProxy(BaseHTTPRequestHandler):
    """Forwards to the real server, but answers 503 (with Retry-After: 0) to every other request, 429 to some."""

    upstream = ""
    count = 0
    lock = threading.Lock()

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with FlakyProxy.lock:
            FlakyProxy.count += 1
            number = FlakyProxy.count
        if number % 2 == 1:
            self.send_response(503 if number % 4 == 1 else 429)
            self.send_header("Retry-After", "0")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        answer = requests.post(self.upstream, data=body, headers={"content-type": "application/json"}, timeout=120)
        self.send_response(answer.status_code)
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    def log_message(self, *args):
        pass


def test_a_prompt_with_inner_spaces_names_its_category_as_the_service_does(folder, server, tmp_path):
    out = tmp_path / "spaces.json"
    run(str(folder / "img0.png"), "--prompts", " red   cat ", "--out", str(out), "--endpoint", server + "/",
        "--threshold", "0")  # fmt: skip
    written = json.loads(out.read_text())
    assert [category["name"] for category in written["categories"]] == ["red cat"]
    assert written["annotations"] and {a["category_id"] for a in written["annotations"]} == {1}


def assert_same_labels(coco: COCO, reference: COCO) -> None:
    """The same images and annotations, scores within 1e-4 and masks of IoU >= 0.999: images run in a batch (of
    one request, or of requests sent at once) go through other kernels than alone."""
    assert coco.imgs == reference.imgs and len(coco.anns) == len(reference.anns)
    for number, annotation in coco.anns.items():
        expected = reference.anns[number]
        assert (annotation["image_id"], annotation["category_id"]) == (expected["image_id"], expected["category_id"])
        assert abs(annotation["score"] - expected["score"]) <= 1e-4
        mask, expected_mask = coco.annToMask(annotation) > 0, reference.annToMask(expected) > 0
        assert (mask & expected_mask).sum() >= 0.999 * (mask | expected_mask).sum()


def test_retries_429_and_503_and_images_sent_together(folder, server, tmp_path):
    FlakyProxy.upstream = server + "/"
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), FlakyProxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        out, reference, together = tmp_path / "flaky.json", tmp_path / "direct.json", tmp_path / "together.json"
        url = f"http://127.0.0.1:{proxy.server_address[1]}/"
        label(folder, out, "--endpoint", url, "--concurrency", "2", "--rate", "50", "--images-per-request", "1")
        label(folder, reference, "--endpoint", server + "/", "--images-per-request", "1")
        assert FlakyProxy.count >= 2 * (len(SIZES) + 1)
        assert_same_labels(check_coco(out, folder), check_coco(reference, folder))
        # Three images per request, the corrupt one among them: its request is refused, its images are sent again
        # one by one, and the labels are those of one image per request.
        result = label(folder, together, "--endpoint", server + "/", "--images-per-request", "3")
        assert "corrupt.jpg" in result.stdout and "1 failed" in result.stdout
        assert_same_labels(check_coco(together, folder), check_coco(reference, folder))
    finally:
        proxy.shutdown()


# Two images per request: the journal fills request by request, so the run can be cut between them.
RESUMABLE = ["--prompts", "cat,dog", "--threshold", "0.3", "--images-per-request", "2"]


# The interrupted runs' folder: the test images and as many again of these, so that the run lasts a few seconds
# (an interruption lands in its middle, however fast the model) and ends with the corrupt image's failure.
MORE_PICTURES = 12


@pytest.fixture(scope="module")
def long_folder(folder, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("long")
    shutil.copytree(folder, root, dirs_exist_ok=True)
    for index in range(MORE_PICTURES):
        synthetic_image(320, 240, seed=index).save(root / f"more{index:02d}.png")
    return root


@pytest.fixture(scope="module")
def uninterrupted(long_folder, tiny_checkpoint, tmp_path_factory) -> str:
    """The COCO file of an uninterrupted in-process run: what a resumed run must reproduce."""
    out = tmp_path_factory.mktemp("whole") / "whole.json"
    run(str(long_folder), "--out", str(out), "--model", str(tiny_checkpoint), *RESUMABLE)
    return out.read_text()


def interrupt(folder: Path, model: Path, out: Path, sig: int, after: int) -> tuple[int, str, list[str]]:
    """An in-process run into ``out`` sent ``sig`` once its journal holds ``after`` lines: its exit status, its
    stderr and the journal's lines."""
    journal = out.with_name(out.name + ".partial.jsonl")
    process = subprocess.Popen(
        [*COMMAND, str(folder), "--out", str(out), "--model", str(model), *RESUMABLE, "--quiet"],
        env={**os.environ, "SAM3_DEVICE": "cpu"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        # As from a terminal: a suite started as a background job (``make test &``) passes SIGINT on ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if journal.exists() and len(journal.read_text().splitlines()) >= after:
            process.send_signal(sig)
            break
        time.sleep(0.02)
    _, stderr = process.communicate(timeout=120)
    return process.returncode, stderr, journal.read_text().splitlines() if journal.exists() else []


def test_interrupted_run_resumed_gives_the_same_file(long_folder, tiny_checkpoint, uninterrupted, tmp_path):
    cut = tmp_path / "cut.json"
    status, _, lines = interrupt(long_folder, tiny_checkpoint, cut, signal.SIGKILL, after=2)
    assert status == -signal.SIGKILL, "the run must be interrupted for this test to mean anything"
    assert not cut.exists()
    assert 2 <= len(lines) < len(SIZES) + 1 + MORE_PICTURES

    resumed = run(str(long_folder), "--out", str(cut), "--model", str(tiny_checkpoint), *RESUMABLE, "--resume")
    assert cut.read_text() == uninterrupted
    assert "1 failed" in resumed.stdout


def test_file_names_are_relative_to_the_image_root(folder, server, tmp_path):
    """One rule: relative to the directory, to a glob's folder before its first wildcard, or to the list file's
    folder; an image outside that root keeps its absolute path."""
    inside = folder / "subset.txt"
    inside.write_text("img0.png\nnested/img3.jpg\n")
    outside = tmp_path / "elsewhere.txt"
    outside.write_text(f"{folder / 'img0.png'}\n")
    try:
        cases = [
            (str(folder / "**" / "*.jpg"), {"img1.jpg", "img5.jpg", "nested/img3.jpg"}),
            (str(inside), {"img0.png", "nested/img3.jpg"}),
            (str(outside), {str((folder / "img0.png").resolve())}),
        ]
        for source, names in cases:
            out = tmp_path / "names.json"
            run(source, "--prompts", "cat", "--out", str(out), "--endpoint", server + "/", "--threshold", "0.3")
            assert {image["file_name"] for image in json.loads(out.read_text())["images"]} == names, source
    finally:
        inside.unlink()


def one_line_error(folder: Path, tmp_path: Path, *extra: str) -> str:
    env = {key: value for key, value in os.environ.items() if key not in ("SAM3_MODEL_ID", "HF_MODEL_DIR")}
    completed = subprocess.run(
        [*COMMAND, str(folder), "--prompts", "cat", "--out", str(tmp_path / "x.json"), *extra],
        capture_output=True,
        text=True,
        timeout=300,
        env={**env, "SAM3_DEVICE": "cpu"},
    )
    assert completed.returncode != 0 and "Traceback" not in completed.stderr
    assert len(completed.stderr.strip().splitlines()) == 1, completed.stderr[-2000:]
    return completed.stderr


def test_without_weights_it_says_how_to_give_them(folder, tmp_path):
    message = one_line_error(folder, tmp_path)
    assert "--model" in message and "SAM3_MODEL_ID" in message
    assert "does not exist" in one_line_error(folder, tmp_path, "--model", str(tmp_path / "no" / "such" / "dir"))


def test_first_ctrl_c_finishes_the_image_in_flight_and_asks_for_resume(
    long_folder, tiny_checkpoint, uninterrupted, tmp_path
):
    cut = tmp_path / "cut.json"
    status, stderr, lines = interrupt(long_folder, tiny_checkpoint, cut, signal.SIGINT, after=1)
    assert status == 130, stderr[-2000:]
    assert "Traceback" not in stderr and "--resume" in stderr
    assert not cut.exists()
    assert all(json.loads(line)["path"] for line in lines), "every line journalled whole"
    assert 1 <= len(lines) < len(SIZES) + 1 + MORE_PICTURES, "scheduling stopped: not every image was processed"

    run(str(long_folder), "--out", str(cut), "--model", str(tiny_checkpoint), *RESUMABLE, "--resume")
    assert cut.read_text() == uninterrupted
