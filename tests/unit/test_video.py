"""Video tracking: COCO RLE, decoding and sampling, parity with the transformers streaming pipelines (concepts:
``Sam3VideoModel``; visual prompts: ``Sam3TrackerVideoModel``), bad videos and bad visual prompts (400 naming the
field, the next request served), the visual tracker's bounded session, cancelling between frames, and over HTTP.

Clips are written by the tests with ``cv2.VideoWriter`` (mp4v in .mp4 and MJPG in .avi: both written and read by
the OpenCV wheel the project uses): a few frames of 64x48 with a red square and a blue disc moving.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import requests
import torch
from safetensors.torch import load_file, save_file
from transformers import (
    Sam3Processor,
    Sam3TrackerProcessor,
    Sam3TrackerVideoModel,
    Sam3TrackerVideoProcessor,
    Sam3VideoModel,
    Sam3VideoProcessor,
)
from transformers.models.sam2_video.video_processing_sam2_video import Sam2VideoVideoProcessor

from sam3_core.cancel import Cancelled
from sam3_core.errors import PayloadTooLarge, RequestError
from sam3_core.masks import rle
from sam3_core.masks.postprocess import mask_box
from sam3_core.media.video_io import Frame, Sampling, open_video
from sam3_core.model.video import VideoTracker, VideoWork
from sam3_core.model.video_visual import VisualVideoTracker, VisualVideoWork
from sam3_core.service import SegmentationService
from sam3_core.settings import Limits, ModelSettings, RequestSettings, Settings

from clips import clip_frames, write_clip
from helpers import b64, encode, iou, scene

PROMPTS = ["red square", "blue disc"]
# Thresholds at which the tiny random checkpoint starts objects on the test clip (its scores are not calibrated),
# and a cap on the objects tracked at once (each costs a tracker pass per frame: the tests stay fast).
THRESHOLDS = {"confidence_threshold": 0.3, "new_object_threshold": 0.3, "max_objects": 3}
MIN_IOU = 0.99
SCORE_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> bytes:
    return write_clip(tmp_path_factory.mktemp("video") / "clip.mp4", clip_frames())


@pytest.fixture(scope="module")
def clip_b64(clip) -> str:
    return base64.b64encode(clip).decode()


def decoded(data: bytes, tmp_path: Path) -> list[np.ndarray]:
    """Every frame of an encoded clip as RGB, read independently of sam3_core."""
    path = tmp_path / "decoded.mp4"
    path.write_bytes(data)
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    capture.release()
    return frames


# ---- COCO RLE -------------------------------------------------------------------------------------------------


def masks_to_try() -> list[np.ndarray]:
    generator = np.random.default_rng(0)
    masks = [np.zeros((5, 7), bool), np.ones((5, 7), bool), np.eye(6, dtype=bool), np.zeros((1, 1), bool)]
    masks += [generator.random((h, w)) > p for h, w, p in [(48, 64, 0.5), (31, 17, 0.9), (200, 300, 0.02)]]
    big = np.zeros((480, 640), bool)
    big[100:300, 50:600] = True  # long runs: counts past 5-bit groups and large differences
    masks.append(big)
    return masks


def test_rle_round_trip():
    for mask in masks_to_try():
        encoded = rle.encode(mask)
        assert encoded["size"] == list(mask.shape) and isinstance(encoded["counts"], str)
        assert np.array_equal(rle.decode(encoded), mask)
        assert rle.decompress_counts(encoded["counts"]) == rle.run_lengths(mask)


def test_rle_matches_pycocotools():
    coco = pytest.importorskip("pycocotools.mask")
    for mask in masks_to_try():
        theirs = coco.encode(np.asfortranarray(mask.astype(np.uint8)))
        ours = rle.encode(mask)
        assert ours["counts"] == theirs["counts"].decode()
        assert np.array_equal(coco.decode({"size": ours["size"], "counts": ours["counts"].encode()}), mask)


# ---- decoding and sampling ------------------------------------------------------------------------------------


def indices(value, sampling: Sampling, settings: RequestSettings | None = None) -> list[int]:
    with open_video(value, sampling, settings or RequestSettings()) as source:
        return [frame.index for frame in source.frames()]


def test_sampling_and_frame_contents(tmp_path):
    frames = clip_frames(10)
    data = write_clip(tmp_path / "ten.avi", frames, fourcc="MJPG")
    assert indices(data, Sampling()) == list(range(10))
    assert indices(data, Sampling(frame_stride=3)) == [0, 3, 6, 9]
    assert indices(data, Sampling(fps=5.0)) == [0, 2, 4, 6, 8]  # a 10 fps source
    assert indices(data, Sampling(fps=50.0)) == list(range(10))
    assert indices(data, Sampling(frame_stride=2, max_frames=3)) == [0, 2, 4]
    with open_video(base64.b64encode(data).decode(), Sampling(), RequestSettings()) as source:
        assert (source.width, source.height, source.fps) == (64, 48, 10.0)
        first = next(source.frames())
        assert first.pixels.shape == (48, 64, 3) and first.timestamp == 0.0
        assert np.abs(first.pixels.astype(int) - frames[0]).mean() < 8  # RGB order, lossy codec
    assert indices("data:video/x-msvideo;base64," + base64.b64encode(data).decode(), Sampling(max_frames=2)) == [0, 1]
    with pytest.raises(RequestError, match="expected video"):
        indices("data:text/plain;base64," + base64.b64encode(data).decode(), Sampling())
    listed = [b64(encode(scene(64, 48))) for _ in range(5)]
    assert indices(listed, Sampling(frame_stride=2)) == [0, 2, 4]


def test_no_temporary_file_outlives_the_request(clip, tmp_path):
    """The video's temporary file is gone while it is read, so a process killed mid-request leaves nothing."""
    script = (
        "import os, signal, sys\n"
        "from sam3_core.settings import RequestSettings\n"
        "from sam3_core.media.video_io import Sampling, open_video\n"
        "source = open_video(open(sys.argv[1], 'rb').read(), Sampling(), RequestSettings())\n"
        "next(source.frames())\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    environment = {**os.environ, "TMPDIR": str(temporary), "PYTHONPATH": str(Path(__file__).parents[2])}
    (tmp_path / "clip.mp4").write_bytes(clip)
    killed = subprocess.run([sys.executable, "-c", script, str(tmp_path / "clip.mp4")], env=environment, timeout=120)
    assert killed.returncode == -signal.SIGKILL
    assert list(temporary.iterdir()) == []
    source = open_video(clip, Sampling(), RequestSettings())
    with source:
        list(source.frames())
    assert source.handle is None and source.path == ""  # the descriptor is closed
    with pytest.raises(RequestError):
        open_video(b"not a video at all" * 10, Sampling(), RequestSettings())


# ---- through the handler: parity with the transformers streaming pipeline --------------------------------------


def reference_tracking(checkpoint: Path, frames: list[np.ndarray]) -> list[dict]:
    """The transformers streaming pipeline, frame by frame, as its documentation runs it."""
    model = Sam3VideoModel.from_pretrained(checkpoint).eval()
    model.score_threshold_detection = THRESHOLDS["confidence_threshold"]
    model.new_det_thresh = THRESHOLDS["new_object_threshold"]
    model.max_num_objects = THRESHOLDS["max_objects"]
    image = Sam3Processor.from_pretrained(checkpoint)
    processor = Sam3VideoProcessor(
        image_processor=image.image_processor, video_processor=Sam2VideoVideoProcessor(), tokenizer=image.tokenizer
    )
    session = processor.init_video_session(inference_device="cpu", dtype=torch.float32)
    processor.add_text_prompt(session, PROMPTS)
    results = []
    with torch.inference_mode():
        for frame in frames:
            inputs = processor(images=frame, return_tensors="pt")
            output = model(inference_session=session, frame=inputs.pixel_values[0])
            results.append(processor.postprocess_outputs(session, output, original_sizes=inputs.original_sizes))
    return results


def test_video_matches_the_transformers_streaming_pipeline(handler, tiny_checkpoint, clip, clip_b64, tmp_path):
    response = handler({"inputs": {"video": clip_b64, "text_prompts": PROMPTS, **THRESHOLDS, "return_timings": True}})
    frames = decoded(clip, tmp_path)
    reference = reference_tracking(tiny_checkpoint, frames)
    video = response["video"]
    assert video["num_frames"] == len(frames) == 4
    assert video["frame_indices"] == [0, 1, 2, 3] and video["timestamps"] == [0.0, 0.1, 0.2, 0.3]
    assert (video["width"], video["height"], video["fps"]) == (64, 48, 10.0)
    assert response["num_objects"] == len(response["objects"]) and response["timings"]["per_frame_ms"] > 0
    ours = {obj["object_id"]: obj for obj in response["objects"]}
    compared = 0
    for frame_index, expected in enumerate(reference):
        ids = expected["object_ids"].tolist()
        on_frame = {
            object_id: entry
            for object_id, obj in ours.items()
            for entry in obj["frames"]
            if entry["frame_index"] == frame_index
        }
        assert sorted(on_frame) == ids, f"frame {frame_index}: objects {sorted(on_frame)}, reference {ids}"
        prompt_of = {obj: text for text, objs in expected["prompt_to_obj_ids"].items() for obj in objs}
        for row, object_id in enumerate(ids):
            entry = on_frame[object_id]
            assert ours[object_id]["label"] == prompt_of[object_id]
            assert abs(entry["score"] - float(expected["scores"][row])) <= SCORE_TOLERANCE
            mask = rle.decode(entry["rle"])
            assert mask.shape == (48, 64)
            assert iou(mask, expected["masks"][row].numpy()) >= MIN_IOU
            x1, y1, x2, y2 = expected["boxes"][row].tolist()  # inclusive pixel indices
            assert entry["box"] == [x1, y1, x2 + 1, y2 + 1]
            if mask.any():  # the box holds the mask (it may be empty where another object of its prompt won)
                rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
                assert x1 <= cols[0] and cols[-1] < x2 + 1 and y1 <= rows[0] and rows[-1] < y2 + 1
            compared += 1
    assert compared > 0, "the clip must produce tracked objects for the comparison to mean anything"
    for obj in response["objects"]:
        assert obj["score"] == max(entry["score"] for entry in obj["frames"])


def test_frame_list_and_sampling_through_the_handler(handler, clip_b64):
    frames = [b64(encode(scene(64, 48))) for _ in range(3)]
    listed = handler({"inputs": {"video": frames, "text_prompts": ["cat"], "vectorize": True, "max_objects": 2}})
    assert listed["video"]["fps"] is None and listed["video"]["timestamps"] is None
    assert listed["video"]["frame_indices"] == [0, 1, 2]
    for obj in listed["objects"]:
        assert all("polygon" in entry for entry in obj["frames"])
    sampled = handler(
        {"inputs": {"video": clip_b64, "text_prompts": ["cat"], "fps": 5, "max_frames": 1, "max_objects": 1}}
    )
    assert sampled["video"]["frame_indices"] == [0] and sampled["video"]["timestamps"] == [0.0]


# ---- bad videos ---------------------------------------------------------------------------------------------------


def small_limits(**limits) -> RequestSettings:
    return RequestSettings(limits=replace(Limits(), **limits))


def bad_cases(clip: bytes, tmp_path: Path) -> dict:
    """name: (inputs, settings or None, field the message starts with, words it contains)."""
    mp4 = base64.b64encode(clip).decode()
    empty = tmp_path / "empty.mp4"
    empty_writer = cv2.VideoWriter(str(empty), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    empty_writer.release()  # a container with no frames
    big = write_clip(tmp_path / "big.avi", clip_frames(2, 320, 240), fourcc="MJPG")
    return {
        "not a video": ({"video": b64(b"hello, this is text, not a video" * 20)}, None, "video", "not a video"),
        "zero frames": ({"video": b64(empty.read_bytes())}, None, "video", ""),
        "corrupt container": ({"video": mp4[: len(mp4) // 2 // 4 * 4]}, None, "video", ""),
        "garbage after a valid header": ({"video": b64(clip[:64] + bytes(2000))}, None, "video", ""),
        "not base64": ({"video": "%%% not base64 %%%"}, None, "video", "base64"),
        "empty": ({"video": ""}, None, "video", "empty"),
        "wrong type": ({"video": 12}, None, "video", "expected"),
        "empty frame list": ({"video": []}, None, "video", "empty"),
        "frame that is not an image": ({"video": [b64(encode(scene(64, 48))), "aGVsbG8="]}, None, "video[1]", ""),
        "frames of different sizes": (
            {"video": [b64(encode(scene(64, 48))), b64(encode(scene(32, 48)))]},
            None,
            "video[1]",
            "first frame",
        ),
        "too long": ({"video": mp4}, small_limits(max_video_seconds=0.2), "video", "s limit"),
        "too many frames": ({"video": mp4}, small_limits(max_video_frames=3), "video", "frame limit"),
        "too many pixels": ({"video": b64(big)}, small_limits(max_video_frame_pixels=64 * 48), "video", "pixel"),
        "too many bytes": ({"video": mp4}, small_limits(max_video_bytes=100), "video", "byte limit"),
        "no prompt": ({"video": mp4, "text_prompts": []}, None, "text_prompts", "at least one"),
        "points with text": ({"video": mp4, "points": [[1, 2]]}, None, "points", "not both"),
        "image and video": ({"video": mp4, "image": mp4}, None, "image", "not both"),
        "unknown field": ({"video": mp4, "max_frame": 3}, None, "max_frame", "did you mean 'max_frames'"),
        "prompt type contradicted": ({"video": mp4, "prompt_types": ["visual"]}, None, "prompt_types", "['text']"),
        "fps and stride": ({"video": mp4, "fps": 2, "frame_stride": 2}, None, "fps", "not both"),
        "fps of a frame list": ({"video": [b64(encode(scene(64, 48)))], "fps": 2}, None, "fps", "time base"),
        "stride zero": ({"video": mp4, "frame_stride": 0}, None, "frame_stride", "outside"),
        "max_frames over the limit": ({"video": mp4, "max_frames": 10**6}, None, "max_frames", "outside"),
    }


def test_bad_videos_get_a_short_error_naming_the_field_and_the_next_request_works(
    handler, clip, clip_b64, tmp_path, image_b64
):
    for name, (inputs, settings, field, words) in bad_cases(clip, tmp_path).items():
        service = handler.service if settings is None else SegmentationService(handler.engine, settings)
        # One frame at most, so that a video this check wrongly accepts costs little (the limits that depend on the
        # number of frames are checked on the frame counts the container states).
        base = {"text_prompts": ["cat"], "max_objects": 1, "max_frames": 1}
        if name in ("too many frames", "frame that is not an image", "frames of different sizes"):
            del base["max_frames"]  # decoded up to the second frame (a list's frames are decoded as they come)
        payload = {"inputs": {**base, **inputs}}
        try:
            service(payload)
        except RequestError as error:
            message, refused = str(error), error
        else:
            pytest.fail(f"{name}: accepted")
        assert message.startswith(field + ":"), f"{name}: {message}"
        assert words in message, f"{name}: {message}"
        assert len(message) < 200 and "Traceback" not in message, name
        if name.startswith("too "):
            assert isinstance(refused, PayloadTooLarge), name
    # The handler still serves videos and images.
    restating = {"prompt_type": "text", "return_masks": True}  # agrees with the request: honoured
    video = handler(
        {"inputs": {"video": clip_b64, "text_prompts": ["cat"], "max_frames": 1, "max_objects": 1}}
        | {"parameters": restating}
    )
    assert video["video"]["num_frames"] == 1
    assert handler({"inputs": {"image": image_b64, "text_prompts": ["cat"]}})["success"] is True


# ---- visual prompts: parity with Sam3TrackerVideoModel, bad prompts, a bounded session -------------------------------

OBJECT_SCORE_BIAS = "tracker_model.mask_decoder.pred_obj_score_head.proj_out.bias"
# Two positive boxes and the points (one positive, one negative) make three objects: ids 0 and 1 the boxes, 2 the
# points (README "Video: visual prompts"), drawn on frame 1 of the clip (the red square, the blue disc, the disc).
VISUAL_PROMPTS = {
    "boxes": [[6, 7, 24, 25], [30, 18, 62, 46]],
    "box_labels": [1, 1],
    "points": [[49, 34], [10, 40]],
    "point_labels": [1, 0],
}
REFERENCE_PROMPTS = [
    {"input_boxes": [[[6, 7, 24, 25]]]},
    {"input_boxes": [[[30, 18, 62, 46]]]},
    {"input_points": [[[[49, 34], [10, 40]]]], "input_labels": [[[1, 0]]]},
]


@pytest.fixture(scope="module")
def visual_checkpoint(tiny_checkpoint, tmp_path_factory) -> Path:
    """The tiny checkpoint with the tracker's object-score bias raised by 2. With the random weights every prompted
    object scores as absent on its prompt frame (``object_score_logits`` < 0), and the tracker then replaces its
    mask and memory by "no object": the prompt would not matter and a comparison could not fail. Raised, the
    prompts decide the masks."""
    directory = tmp_path_factory.mktemp("sam3-tiny-visual")
    for path in tiny_checkpoint.iterdir():
        if path.is_file() and path.name != "model.safetensors":
            shutil.copy(path, directory / path.name)
    tensors = load_file(tiny_checkpoint / "model.safetensors")
    tensors[OBJECT_SCORE_BIAS] = tensors[OBJECT_SCORE_BIAS] + 2.0
    save_file(tensors, directory / "model.safetensors", metadata={"format": "pt"})
    return directory


@pytest.fixture(scope="module")
def visual_handler(visual_checkpoint):
    from handler import EndpointHandler

    return EndpointHandler(str(visual_checkpoint), settings=Settings(model=ModelSettings(device="cpu")))


def reference_visual_tracking(checkpoint: Path, frames: list[np.ndarray], prompts: list[dict]) -> list[tuple]:
    """``Sam3TrackerVideoModel`` streaming as its documentation runs it, the prompts on the first of ``frames``
    (one object added at a time, the model run on the frame after each), then one call per frame: per frame
    ``(object_ids, presence scores, (n, height, width) bool masks)``. The tiny checkpoint has no video processor
    file, so the processor is assembled from its image processor."""
    model = Sam3TrackerVideoModel.from_pretrained(checkpoint).eval()
    processor = Sam3TrackerVideoProcessor(
        image_processor=Sam3TrackerProcessor.from_pretrained(checkpoint).image_processor,
        video_processor=Sam2VideoVideoProcessor(),
    )
    session = processor.init_video_session(inference_device="cpu", dtype=torch.float32)
    results = []
    with torch.inference_mode():
        for index, frame in enumerate(frames):
            inputs = processor(images=frame, return_tensors="pt")
            if index == 0:
                for object_id, prompt in enumerate(prompts):
                    processor.add_inputs_to_inference_session(
                        session, frame_idx=0, obj_ids=object_id, original_size=inputs.original_sizes[0], **prompt
                    )
                    pixels = inputs.pixel_values[0] if object_id == 0 else None
                    output = model(inference_session=session, frame=pixels, frame_idx=0)
            else:
                output = model(inference_session=session, frame=inputs.pixel_values[0])
            masks = processor.post_process_masks([output.pred_masks], original_sizes=inputs.original_sizes)[0][:, 0]
            results.append((list(output.object_ids), output.object_score_logits.sigmoid().flatten(), masks.numpy()))
    return results


def compare_visual(response: dict, reference: list[tuple], first_frame: int) -> dict:
    """Every frame of ``response`` from ``first_frame`` on against ``reference`` (``reference_visual_tracking``
    from that frame): the same objects visible (presence score above the default 0.5), scores, masks (IoU) and
    the box of each mask. Returns the compared entries by ``(object_id, frame_index)``."""
    entries = {
        (obj["object_id"], entry["frame_index"]): entry for obj in response["objects"] for entry in obj["frames"]
    }
    assert not [key for key in entries if key[1] < first_frame], "frames before the prompt frame have no objects"
    compared = {}
    for frame_index, (ids, scores, masks) in enumerate(reference, start=first_frame):
        visible = [row for row, score in enumerate(scores.tolist()) if score > 0.5]
        ours = sorted(object_id for object_id, index in entries if index == frame_index)
        assert ours == [ids[row] for row in visible], f"frame {frame_index}"
        for row in visible:
            entry = compared[(ids[row], frame_index)] = entries[(ids[row], frame_index)]
            assert abs(entry["score"] - float(scores[row])) <= SCORE_TOLERANCE
            mask = rle.decode(entry["rle"])
            assert mask.shape == (48, 64) and iou(mask, masks[row]) >= MIN_IOU
            assert entry["box"] == list(mask_box(mask))
    return compared


def test_visual_prompts_match_the_transformers_tracker(visual_handler, visual_checkpoint, tmp_path):
    data = write_clip(tmp_path / "three.mp4", clip_frames(3))
    response = visual_handler({"inputs": {"video": b64(data), **VISUAL_PROMPTS, "frame_index": 1}})
    frames = decoded(data, tmp_path)
    reference = reference_visual_tracking(visual_checkpoint, frames[1:], REFERENCE_PROMPTS)
    assert response["prompt_types"] == ["visual"] and response["video"]["frame_indices"] == [0, 1, 2]
    assert [obj["object_id"] for obj in response["objects"]] == [0, 1, 2]
    assert {obj["label"] for obj in response["objects"]} == {"visual"}
    compared = compare_visual(response, reference, first_frame=1)
    assert len(compared) == 6, "all three objects on both frames (the raised object score makes them visible)"
    first = [rle.decode(compared[(object_id, 1)]["rle"]).tobytes() for object_id in range(3)]
    assert len(set(first)) == 3, "the prompts give different masks, so a mix-up of objects would show"


def test_a_box_refined_by_points_matches_the_transformers_tracker(visual_handler, visual_checkpoint, tmp_path):
    """One positive box and points make one object (box + points prompt), on frame 0."""
    data = write_clip(tmp_path / "two.mp4", clip_frames(2))
    prompts = {"boxes": [[6, 7, 24, 25]], "box_labels": [1], "points": [[15, 15], [40, 40]], "point_labels": [1, 0]}
    response = visual_handler({"inputs": {"video": b64(data), **prompts}})
    reference_prompt = {
        "input_boxes": [[[6, 7, 24, 25]]],
        "input_points": [[[[15, 15], [40, 40]]]],
        "input_labels": [[[1, 0]]],
    }
    reference = reference_visual_tracking(visual_checkpoint, decoded(data, tmp_path), [reference_prompt])
    assert [obj["object_id"] for obj in response["objects"]] == [0]
    assert len(compare_visual(response, reference, first_frame=0)) == 2


def visual_bad_cases(mp4: str) -> dict:
    """name: (inputs, field the message starts with, words it contains)."""
    box = {"boxes": [[6, 7, 24, 25]], "box_labels": [1]}
    return {
        "frame_index past the end": ({**box, "frame_index": 10}, "frame_index", "past the last sampled frame"),
        "frame_index not an integer": ({**box, "frame_index": 1.5}, "frame_index", "integer"),
        "frame_index a string": ({**box, "frame_index": "1"}, "frame_index", "integer"),
        "frame_index negative": ({**box, "frame_index": -1}, "frame_index", "outside"),
        "frame_index not strided": ({**box, "frame_index": 1, "frame_stride": 2}, "frame_index", "not a sampled"),
        "frame_index past max_frames": ({**box, "frame_index": 2, "max_frames": 2}, "frame_index", "max_frames"),
        "frame_index skipped by fps": ({**box, "frame_index": 1, "fps": 5}, "frame_index", "not one of the sampled"),
        "point outside the frame": ({"points": [[100, 10]], "point_labels": [1]}, "points[0]", "64x48 frame"),
        "box outside the frame": ({"boxes": [[70, 50, 90, 60]], "box_labels": [1]}, "boxes[0]", "outside"),
        "negative points only": ({"points": [[10, 10]], "point_labels": [0]}, "point_labels", "every point"),
        "negative points beside boxes": (
            {
                "points": [[10, 10]],
                "point_labels": [0],
                "boxes": [[0, 0, 9, 9], [20, 20, 40, 40]],
                "box_labels": [1, 1],
            },
            "point_labels",
            "own object",
        ),
        "negative box": ({"boxes": [[6, 7, 24, 25]], "box_labels": [0]}, "box_labels[0]", "negative box"),
        "empty points": ({"points": [], "point_labels": []}, "points", "nothing to track"),
        "empty boxes": ({"boxes": [], "box_labels": []}, "boxes", "nothing to track"),
        "labels too few": (
            {"points": [[10, 10], [4, 4]], "point_labels": [1]},
            "point_labels",
            "1 labels for 2 points",
        ),
        "text and points": ({"points": [[10, 10]], "point_labels": [1], "text_prompts": ["cat"]}, "points", "not both"),
        "frame_index with text": ({"text_prompts": ["cat"], "frame_index": 0}, "frame_index", "visual prompts"),
        "new_object_threshold": ({**box, "new_object_threshold": 0.5}, "new_object_threshold", "text prompts"),
        "more objects than max_objects": (
            {"boxes": [[0, 0, 9, 9], [20, 20, 40, 40]], "box_labels": [1, 1], "max_objects": 1},
            "max_objects",
            "2 objects",
        ),
        "multimask_output": ({**box, "multimask_output": True}, "multimask_output", "images only"),
    }


def test_bad_visual_prompts_get_a_400_naming_the_field_and_the_next_request_works(handler, clip_b64):
    tracker = handler.service.video_tracker
    for name, (inputs, field, words) in visual_bad_cases(clip_b64).items():
        with pytest.raises(RequestError) as refused:
            handler.service({"inputs": {"video": clip_b64, **inputs}})
        message = str(refused.value)
        assert message.startswith(field + ":"), f"{name}: {message}"
        assert words in message and len(message) < 200, f"{name}: {message}"
    assert not handler.engine._lock.locked() and handler.service.video_tracker is tracker
    after = handler({"inputs": {"video": clip_b64, "points": [[20, 20]], "point_labels": [1], "max_frames": 1}})
    assert after["success"] and after["video"]["num_frames"] == 1 and after["prompt_types"] == ["visual"]


def test_visual_frames_below_the_trackers_visible_score_are_not_listed(handler, clip_b64):
    """At threshold 0 an object the tracker scores at or below 0.5 (it then empties the mask) is not listed with an
    empty mask (the plain tiny checkpoint scores its prompted objects low, so such frames occur)."""
    response = handler.service(
        {"inputs": {"video": clip_b64, "boxes": [[6, 7, 40, 30]], "box_labels": [1], "confidence_threshold": 0.0}}
    )
    entries = [entry for obj in response["objects"] for entry in obj["frames"]]
    assert all(rle.decode(entry["rle"]).any() and entry["score"] > 0.5 for entry in entries)


def test_visual_session_keeps_a_bounded_memory(visual_handler, monkeypatch):
    """Six frames past the prompt frame with the horizon set to 2 (the real one, 16, would need a longer and slower
    clip): the session keeps the current frame, the prompt frame's outputs and the last 3 frames' memories."""
    monkeypatch.setattr(VideoTracker, "memory_horizon", property(lambda self: 2))
    visual = VisualVideoTracker(visual_handler.service.video_tracker)
    session = visual.new_session()
    frames = [Frame(index, None, pixels) for index, pixels in enumerate(clip_frames(7))]
    work = VisualVideoWork(points=((49.0, 34.0),), point_labels=(1,), frame_index=1)
    sizes = []
    for result in visual.track(work, frames, session=session):
        outputs = session.output_dict_per_obj.get(0, {"cond_frame_outputs": {}, "non_cond_frame_outputs": {}})
        sizes.append(
            (
                len(session.processed_frames or {}),
                len(session.cache._vision_features),
                len(outputs["cond_frame_outputs"]),
                sorted(outputs["non_cond_frame_outputs"]),
                sum(len(tracked) for tracked in session.frames_tracked_per_obj.values()),
            )
        )
        assert result.object_ids in ([], [0])
    assert sizes[0] == (0, 0, 0, [], 0)  # frame 0: before the prompt frame, nothing tracked
    assert sizes[1] == (1, 1, 1, [], 0)  # the prompt frame: a conditioning output
    for position, size in enumerate(sizes[2:], start=1):
        assert size[:3] == (1, 1, 1) and size[4] <= 1, size
        assert size[3] == list(range(max(1, position - 2), position + 1)), size


def test_cancel_stops_visual_tracking_between_frames(handler):
    visual = VisualVideoTracker(handler.service.video_tracker)
    cancel = threading.Event()
    frames = [Frame(index, None, pixels) for index, pixels in enumerate(clip_frames(4))]
    tracked = visual.track(VisualVideoWork(boxes=((6, 7, 24, 25),), box_labels=(1,), frame_index=2), frames, cancel)
    assert next(tracked).object_ids == []  # frame 0: before the prompt frame
    cancel.set()
    with pytest.raises(Cancelled):
        next(tracked)
    assert not handler.engine._lock.locked()


# ---- cancelling and taking turns with image requests ---------------------------------------------------------------


def test_cancel_stops_between_frames(handler, clip):
    tracker = handler.service.video_tracker
    cancel = threading.Event()
    with open_video(clip, Sampling(), RequestSettings()) as source:
        frames = tracker.track(VideoWork(tuple(PROMPTS), max_objects=1), source.frames(), cancel)
        first = next(frames)
        assert first.frame.index == 0
        cancel.set()
        with pytest.raises(Cancelled):
            next(frames)
    assert not handler.engine._lock.locked()


# ---- over HTTP ---------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_video_over_http(server, clip_b64, image_b64):
    good = {"inputs": {"video": clip_b64, "text_prompts": PROMPTS, "max_frames": 2, **THRESHOLDS}}
    response = requests.post(server + "/", json=good, timeout=300)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["video"]["num_frames"] == 2 and body["num_objects"] == len(body["objects"])
    bad = requests.post(server + "/", json={"inputs": {"video": b64(b"not a video" * 50), "text_prompts": ["x"]}})
    assert bad.status_code == 400 and "video: " in bad.text
    after = requests.post(server + "/", json={"inputs": {"image": image_b64, "text_prompts": ["cat"]}}, timeout=60)
    assert after.status_code == 200
