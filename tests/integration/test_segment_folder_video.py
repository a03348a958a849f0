"""sam3-segment-folder with videos: a YouTube-VIS file next to the COCO file, masks equal to the service's for the
same request, one entry per sampled frame, a corrupt video skipped, resume, and against sam3-serve.

The clips are written with OpenCV (``tests/clips.py``): a red square and a blue disc moving, a few frames.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from sam3_core.masks import rle
from sam3_core.masks.ytvis import annotations_from_video_response, build_ytvis, rle_area, video_entry

from clips import clip_frames, write_clip
from helpers import scene

COMMAND = [sys.executable, "-m", "sam3_core.cli.segment_folder"]
PROMPTS = ["red square", "blue disc"]
# Thresholds at which the tiny random checkpoint starts objects (as in test_video), few objects (each costs a
# tracker pass per frame), every second frame.
TRACKING = {"confidence_threshold": 0.3, "new_object_threshold": 0.3, "max_objects": 2}
OPTIONS = ["--prompts", ",".join(PROMPTS), "--threshold", "0.3", "--new-object-threshold", "0.3"]
OPTIONS += ["--max-objects", "2"]
# Frames, width, height, codec. Every second frame (or 5 fps of these 10 fps clips) samples frames 0 and 2 of
# both: CPU tracking is slow, so the service's answers for those frames are computed once (``service``) and
# every run is compared with them.
CLIPS = {"clips/a.mp4": (3, 64, 48, "mp4v"), "clips/b.avi": (4, 80, 56, "MJPG")}
SAMPLED = [0, 2]


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    """Two clips in a subfolder, an image and a corrupt video (sorted: broken.mp4, clips/a.mp4, clips/b.avi,
    photo.png)."""
    root = tmp_path_factory.mktemp("media")
    (root / "clips").mkdir()
    for name, (count, width, height, codec) in CLIPS.items():
        write_clip(root / name, clip_frames(count, width, height), fourcc=codec)
    scene(72, 54).save(root / "photo.png")
    (root / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not really a video" * 8)
    return root


def label(media: Path, out: Path, *extra: str, check: bool = True) -> subprocess.CompletedProcess:
    completed = subprocess.run(
        [*COMMAND, str(media), "--out", str(out), *OPTIONS, *extra, "--quiet"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "SAM3_DEVICE": "cpu"},
    )
    if check:
        assert completed.returncode == 0, completed.stdout + completed.stderr[-3000:]
    return completed


@pytest.fixture(scope="module")
def whole(media, tiny_checkpoint, tmp_path_factory) -> tuple[str, Path]:
    """An uninterrupted in-process run, every second frame: its stdout and its ``--out`` path."""
    out = tmp_path_factory.mktemp("whole") / "labels.json"
    completed = label(media, out, "--model", str(tiny_checkpoint), "--frame-stride", "2")
    return completed.stdout, out


@pytest.fixture(scope="module")
def service(media, handler) -> dict[str, dict]:
    """What the in-process service answers for each clip with the options the runs use, every second frame."""
    answers = {}
    for name in CLIPS:
        video = base64.b64encode((media / name).read_bytes()).decode()
        answers[name] = handler({"inputs": {"video": video, "text_prompts": PROMPTS, **TRACKING, "frame_stride": 2}})
    return answers


def check_against_service(ytvis: dict, service: dict[str, dict]) -> int:
    """The YTVIS document's structure, pycocotools decoding, and equality with the service's answers; returns the
    number of (object, frame) masks compared."""
    assert [c["name"] for c in ytvis["categories"]] == PROMPTS and [c["id"] for c in ytvis["categories"]] == [1, 2]
    videos = {video["file_name"]: video for video in ytvis["videos"]}
    assert sorted(videos) == sorted(CLIPS), "both clips, the corrupt video skipped"
    assert [video["id"] for video in ytvis["videos"]] == [2, 3], "ids in input order among the videos (broken: 1)"
    assert [a["id"] for a in ytvis["annotations"]] == list(range(1, len(ytvis["annotations"]) + 1))
    compared = 0
    for name, (_, width, height, _codec) in CLIPS.items():
        video = videos[name]
        indices = SAMPLED
        assert (video["width"], video["height"], video["fps"]) == (width, height, 10.0)
        assert video["frame_indices"] == indices and video["length"] == len(indices)
        assert video["timestamps"] == [round(index / 10.0, 4) for index in indices]
        response = service[name]
        assert response["video"]["frame_indices"] == indices
        ours = [a for a in ytvis["annotations"] if a["video_id"] == video["id"]]
        objects = sorted(response["objects"], key=lambda o: o["object_id"])
        assert len(ours) == len(objects) > 0, "the check needs tracked objects"
        for annotation, obj in zip(ours, objects, strict=True):
            assert annotation["category_id"] == PROMPTS.index(obj["label"]) + 1
            assert annotation["object_id"] == obj["object_id"] and annotation["score"] == obj["score"]
            assert annotation["iscrowd"] == 0 and (annotation["width"], annotation["height"]) == (width, height)
            lists = annotation["segmentations"], annotation["bboxes"], annotation["areas"]
            assert all(len(values) == len(indices) for values in lists), "one entry per sampled frame"
            entries = {entry["frame_index"]: entry for entry in obj["frames"]}
            for position, index in enumerate(indices):
                segmentation, box, area = (values[position] for values in lists)
                if index not in entries:
                    assert segmentation is None and box is None and area is None
                    continue
                entry = entries[index]
                assert isinstance(segmentation["counts"], str)
                mask = mask_utils.decode({"size": segmentation["size"], "counts": segmentation["counts"].encode()})
                assert mask.shape == (height, width)
                assert np.array_equal(mask.astype(bool), rle.decode(entry["rle"])), f"{name} frame {index}"
                assert area == int(mask.sum()) == int(mask_utils.area(mask_utils.encode(mask)))
                x1, y1, x2, y2 = entry["box"]
                assert box == pytest.approx([x1, y1, x2 - x1, y2 - y1], abs=0.011)
                compared += 1
    return compared


def test_videos_and_an_image_in_process(whole, service):
    stdout, out = whole
    assert "broken.mp4" in stdout and "1 failed" in stdout
    coco = COCO(str(out))
    assert [image["file_name"] for image in coco.imgs.values()] == ["photo.png"], "images only in the COCO file"
    assert coco.imgs[1]["width"] == 72
    ytvis_path = out.with_name("labels.videos.json")
    assert ytvis_path.exists() and not out.with_name(out.name + ".partial.jsonl").exists()
    ytvis = json.loads(ytvis_path.read_text())
    assert check_against_service(ytvis, service) > 0


def test_interrupted_run_resumed_gives_the_same_files(media, whole, tiny_checkpoint, tmp_path):
    _, reference = whole
    cut = tmp_path / "labels.json"
    journal = cut.with_name(cut.name + ".partial.jsonl")
    command = [*COMMAND, str(media), "--out", str(cut), *OPTIONS, "--frame-stride", "2", "--quiet"]
    process = subprocess.Popen(
        [*command, "--model", str(tiny_checkpoint)],
        env={**os.environ, "SAM3_DEVICE": "cpu"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:  # the corrupt video and the first clip journalled
        if journal.exists() and len(journal.read_text().splitlines()) >= 2:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "the run must be interrupted for this test to mean anything"
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    assert 2 <= len(lines) < 4 and any("video" in line for line in lines), "a finished video is one journal line"
    assert not cut.exists() and not cut.with_name("labels.videos.json").exists()

    resumed = label(media, cut, "--model", str(tiny_checkpoint), "--frame-stride", "2", "--resume")
    assert "1 failed" in resumed.stdout
    assert cut.read_text() == reference.read_text()
    assert cut.with_name("labels.videos.json").read_text() == reference.with_name("labels.videos.json").read_text()


def test_against_the_local_server_at_5_fps(media, server, service, tmp_path):
    """5 fps of a 10 fps clip samples the frames every second frame does: the same answers as the service's."""
    out, videos = tmp_path / "images.json", tmp_path / "tracks" / "videos.json"
    completed = label(
        media, out, "--endpoint", server + "/", "--concurrency", "2", "--video-out", str(videos), "--fps", "5",
    )  # fmt: skip
    assert "broken.mp4" in completed.stdout and "1 failed" in completed.stdout
    assert out.exists() and not out.with_name("images.videos.json").exists(), "--video-out names the YTVIS file"
    assert check_against_service(json.loads(videos.read_text()), service) > 0


def test_only_videos_write_only_the_ytvis_file(media, server, tmp_path):
    out = tmp_path / "labels"
    label(media / "clips" / "*.avi", out, "--endpoint", server + "/", "--max-frames", "1", "--max-objects", "1")
    assert not out.exists()
    ytvis = json.loads(out.with_name("labels.videos.json").read_text())
    assert [(v["id"], v["file_name"], v["frame_indices"]) for v in ytvis["videos"]] == [(1, "b.avi", [0])]
    assert all(len(a["segmentations"]) == len(a["bboxes"]) == len(a["areas"]) == 1 for a in ytvis["annotations"])


def test_ytvis_from_a_made_up_response():
    """Frames where an object is not visible are null; areas come from the run lengths; boxes become xywh."""
    mask = np.zeros((4, 6), bool)
    mask[1:3, 2:5] = True
    response = {
        "video": {"num_frames": 3, "fps": 2.0, "width": 6, "height": 4, "frame_indices": [3, 6, 9],
                  "timestamps": [1.5, 3.0, 4.5]},
        "objects": [
            {"object_id": 7, "label": "dog", "score": 0.8,
             "frames": [{"frame_index": 6, "score": 0.8, "box": [2, 1, 5, 3], "rle": rle.encode(mask)}]},
            {"object_id": 2, "label": "cat", "score": 0.6,
             "frames": [{"frame_index": 3, "score": 0.6, "box": [0.5, 0, 6, 4], "rle": rle.encode(~mask)},
                        {"frame_index": 9, "score": 0.5, "box": [0, 0, 1, 1], "rle": rle.encode(mask & False)}]},
        ],
    }  # fmt: skip
    annotations = annotations_from_video_response(response, {"cat": 1, "dog": 2})
    assert [a["object_id"] for a in annotations] == [2, 7]
    cat, dog = annotations
    assert dog["bboxes"] == [None, [2, 1, 3, 2], None] and dog["areas"] == [None, 6, None]
    assert dog["segmentations"][0] is None and dog["category_id"] == 2
    assert cat["areas"] == [18, None, 0] and cat["bboxes"][0] == [0.5, 0, 5.5, 4]
    assert rle_area(rle.encode(mask)) == 6
    document = build_ytvis([("x.mp4", None), ("y.mp4", {"video": video_entry(response), "annotations": annotations})],
                           ["cat", "dog"])  # fmt: skip
    (video,) = document["videos"]
    assert video == {"id": 2, "file_name": "y.mp4", "width": 6, "height": 4, "length": 3, "fps": 2.0,
                     "frame_indices": [3, 6, 9], "timestamps": [1.5, 3.0, 4.5]}  # fmt: skip
    assert [(a["id"], a["video_id"]) for a in document["annotations"]] == [(1, 2), (2, 2)]
