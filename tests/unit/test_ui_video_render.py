"""The Video tab's rendering (``sam3_core.ui.video``) without a model or a browser: a clip written here, a response
built by hand in the documented shape."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
from PIL import Image

from sam3_core.errors import RequestError
from sam3_core.masks import rle
from sam3_core.media.video_io import Sampling
from sam3_core.settings import RequestSettings
from sam3_core.ui.video import DISPLAY_MAX_SIDE, display_counts, open_clip, player_view

from clips import disc, disc_frames, disc_response, write_clip

SETTINGS = RequestSettings()


def test_a_small_clip_plays_at_its_size_with_the_masks_as_sent(tmp_path):
    clip, poster = open_clip(write_clip(tmp_path / "c.mp4", disc_frames(6, (160, 120))), "c.mp4", SETTINGS)
    assert (clip.width, clip.height, clip.fps) == (160, 120, 10.0) and poster.startswith("data:image/jpeg;base64,")
    sampling = Sampling(frame_stride=2, max_frames=3)
    response = disc_response((160, 120), [0, 2, 4], 10.0)
    view = player_view(clip, response, sampling, SETTINGS)
    assert (view["width"], view["height"]) == (160, 120)
    assert [(f["index"], f["time"]) for f in view["frames"]] == [(0, 0.0), (2, 0.2), (4, 0.4)]
    ball, hole = view["objects"]
    assert (ball["object_id"], ball["label"], hole["object_id"]) == (7, "ball", 9)
    assert ball["colour"] != hole["colour"]  # a colour per object, the same on every frame
    assert [track is not None for track in hole["tracks"]] == [False, True, False]
    assert ball["tracks"][1]["counts"] == response["objects"][0]["frames"][1]["rle"]["counts"]  # as sent
    assert ball["tracks"][0]["box"] == [1.0, 2.0, 3.0, 4.0]


def test_a_large_clip_is_shown_at_640_with_masks_and_boxes_scaled(tmp_path, capsys):
    size = (1280, 720)
    clip, _ = open_clip(write_clip(tmp_path / "big.mp4", disc_frames(48, size), fps=24.0), "big.mp4", SETTINGS)
    indices = list(range(48))
    response = disc_response(size, indices, 24.0)
    started = time.perf_counter()
    view = player_view(clip, response, Sampling(max_frames=48), SETTINGS)
    seconds = time.perf_counter() - started
    assert (view["width"], view["height"]) == (DISPLAY_MAX_SIDE, 360) and len(view["frames"]) == 48
    hole = view["objects"][1]["tracks"][1]
    assert hole["box"] == [320.0, 0.0, 640.0, 180.0]
    shown = rle.decode({"size": [360, 640], "counts": hole["counts"]})
    expected = cv2.resize(disc(size, (1220, 40), 30).view(np.uint8), (640, 360), interpolation=cv2.INTER_NEAREST)
    assert np.array_equal(shown, expected.astype(bool))
    megabytes = sum(len(frame["src"]) for frame in view["frames"]) / 1e6
    with capsys.disabled():
        print(f"\nplayer view of 48 frames 1280x720 -> 640x360: {megabytes:.2f} MB of frames, {seconds:.2f} s")


def test_display_counts_pass_through_and_resize():
    mask = disc((64, 48), (20, 20), 10)
    encoded = rle.encode(mask)
    assert display_counts(encoded, (64, 48)) == encoded["counts"]
    half = rle.decode({"size": [24, 32], "counts": display_counts(encoded, (32, 24))})
    assert half.shape == (24, 32) and half[10, 10] and not half[0, 0]


def test_a_file_that_is_not_a_video():
    with pytest.raises(RequestError, match="video"):
        open_clip(b"these are notes", "notes.mp4", SETTINGS)


def test_gif_and_webm_open(tmp_path):
    """What the upload button offers besides MP4: an animated GIF (Pillow) and a VP8 WebM (this OpenCV writes it)."""
    frames = [Image.fromarray(np.full((48, 64, 3), 40 * index, np.uint8)) for index in range(4)]
    gif = tmp_path / "c.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100, loop=0)
    clip, _ = open_clip(gif.read_bytes(), gif.name, SETTINGS)
    assert (clip.width, clip.height) == (64, 48)
    webm = tmp_path / "c.webm"
    writer = cv2.VideoWriter(str(webm), cv2.VideoWriter_fourcc(*"VP80"), 10.0, (64, 48))
    assert writer.isOpened()
    for frame in frames:
        writer.write(np.asarray(frame))
    writer.release()
    clip, _ = open_clip(webm.read_bytes(), webm.name, SETTINGS)
    assert (clip.width, clip.height, clip.fps) == (64, 48, 10.0)
