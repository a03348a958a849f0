"""The same file sent again: recognised from what the client sent, limits still checked, pixels not decoded
while the engine holds the picture's features."""

from __future__ import annotations

import numpy as np
import pytest

from sam3_core.errors import PayloadTooLarge
from sam3_core.media.image_io import read_image
from sam3_core.model.work import Picture, SegmentationWork, VisualObject
from sam3_core.settings import Limits, RequestSettings

from helpers import b64, encode, scene


def test_a_file_seen_before_is_named_without_decoding_and_decodes_to_the_same_pixels():
    text = b64(encode(scene(97, 61), "PNG"))
    first = read_image(text, RequestSettings())
    again = read_image(text, RequestSettings())
    assert first.image is not None and again.image is None
    assert (again.key, again.size) == (first.key, first.size) == (first.key, (97, 61))
    assert np.array_equal(np.asarray(again.pixels()), np.asarray(first.pixels()))
    as_bytes = read_image(encode(scene(97, 61), "PNG"), RequestSettings())
    assert as_bytes.image is not None and as_bytes.key != first.key  # base64 text and raw bytes: separate names


def test_limits_are_checked_again_for_a_file_seen_before():
    text = b64(encode(scene(90, 80), "PNG"))
    read_image(text, RequestSettings())
    with pytest.raises(PayloadTooLarge, match="^image: .*pixel limit"):
        read_image(text, RequestSettings(limits=Limits(max_image_pixels=90 * 80 - 1)))
    with pytest.raises(PayloadTooLarge, match="^image: .*byte limit"):
        read_image(text, RequestSettings(limits=Limits(max_image_bytes=len(encode(scene(90, 80), "PNG")) - 1)))


def test_the_engine_decodes_nothing_for_a_picture_whose_features_it_holds(handler):
    image = scene(160, 120)
    decoded = []

    def decode():
        decoded.append(1)
        return image

    click = (VisualObject(points=((40.0, 30.0),), point_labels=(1,)),)
    every = {"visual_objects": click, "confidence_threshold": 0.0}  # random weights: keep the mask, whatever its score
    first = handler.engine.predict(SegmentationWork(image=Picture.of(image), **every))
    key = Picture.of(image).key
    again = handler.engine.predict(SegmentationWork(image=Picture((160, 120), key, decode=decode), **every))
    assert decoded == [] and again.timings["cache_hit"] is True
    assert again.objects[0].score == first.objects[0].score
    handler.engine.feature_cache.clear()
    handler.engine.predict(SegmentationWork(image=Picture((160, 120), key, decode=decode), **every))
    assert decoded == [1]  # features gone: the picture is decoded for the ViT


def test_a_repeated_request_answers_like_the_first(handler, image_b64):
    payload = {"inputs": {"image": image_b64, "points": [[60, 50]], "point_labels": [1], "return_timings": True}}
    handler.engine.feature_cache.clear()
    first = handler(payload)
    again = handler(payload)
    assert again["timings"]["cache_hit"] is True
    assert (again["masks"], again["scores"]) == (first["masks"], first["scores"])
