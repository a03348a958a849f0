"""The PNG writer chosen per mask: a dense mask (many runs) is written by zlib from its pixels, the others from
their scanline changes; both give the same pixels, boxes and polygons."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import sam3_core.masks.encoding
from sam3_core.api.request import SegmentRequest
from sam3_core.api.response import build_response
from sam3_core.masks.encoding import is_dense, png_base64
from sam3_core.masks.postprocess import MaskCanvas
from sam3_core.masks.scanlines import mask_of_changes
from sam3_core.model.engine import ObjectPrediction, Prediction
from sam3_core.model.work import Picture

from helpers import decode_mask


def maps(seed: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    blob = torch.full((288, 288), -1.0)
    blob[100:140, 30:95] = torch.randn(40, 65, generator=generator).abs()
    return {"noise": torch.randn(288, 288, generator=generator), "blob": blob, "empty": torch.full((288, 288), -1.0)}


@pytest.mark.parametrize("region", [None, (10, 20, 170, 130)])
def test_the_host_mask_is_the_mask_the_changes_describe(region):
    canvas = MaskCanvas(150, 200)
    exclusions = [(30.0, 5.0, 120.0, 12.0), (-8.0, 25.0, 2.6, 300.0)]
    for seed in range(3):
        for kind, low in maps(seed).items():
            expected = mask_of_changes(canvas.changes(low, 0.0, exclusions, region=region), 150, 200)
            assert np.array_equal(canvas.mask(low, 0.0, exclusions, region=region), expected), kind


def test_the_estimate_of_the_changes_is_close_for_dense_and_smooth_masks():
    canvas = MaskCanvas(3024, 4032)
    for kind, low in maps(0).items():
        actual = canvas.changes(low, 0.0).size
        estimate = canvas.estimated_changes(low, 0.0)
        assert (actual == estimate == 0) or 0.5 <= estimate / actual <= 2, kind  # the choice needs no more
    assert is_dense(canvas.estimated_changes(maps(0)["noise"], 0.0), 3024, 4032)
    assert not is_dense(canvas.estimated_changes(maps(0)["blob"], 0.0), 3024, 4032)


def test_both_writers_give_the_same_pixels():
    canvas = MaskCanvas(301, 417)
    for kind, low in maps(1).items():
        changes = canvas.changes(low, 0.0)
        from_changes = decode_mask(png_base64(changes, 301, 417))
        from_pixels = decode_mask(png_base64(canvas.mask(low, 0.0), 301, 417))
        assert np.array_equal(from_changes, from_pixels) and np.array_equal(
            from_pixels, mask_of_changes(changes, 301, 417) > 0
        ), kind


def test_a_response_is_the_same_whichever_writer_runs(monkeypatch):
    """Visual objects (box from the mask) with exclusion boxes, and polygons: every writer choice gives the same."""
    image = Picture.of(Image.new("RGB", (417, 301)))
    request = SegmentRequest(
        image=image,
        points=((50.0, 60.0),),
        point_labels=(1,),
        boxes=((0.0, 0.0, 40.0, 30.0),),
        box_labels=(0,),
        vectorize=True,
    )
    objects = [ObjectPrediction("visual", 0.9, low, 0.0) for low in maps(2).values()]
    answers = []
    for dense_pixels in (0, float("inf"), sam3_core.masks.encoding.DENSE_PIXELS):
        monkeypatch.setattr(sam3_core.masks.encoding, "DENSE_PIXELS", dense_pixels)
        answers.append(build_response(request, Prediction(objects)))
    for answer in answers[1:]:
        assert answer["boxes"] == answers[0]["boxes"] and answer["polygons"] == answers[0]["polygons"]
        for mask, first in zip(answer["masks"], answers[0]["masks"], strict=True):
            assert np.array_equal(decode_mask(mask), decode_mask(first))
    assert not decode_mask(answers[0]["masks"][0])[:30, :40].any(), "the negative box clears its pixels"
