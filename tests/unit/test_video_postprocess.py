"""The video model's clean-up without the Hub kernel (``model.video_postprocess.CvUtils``), checked against
independent references: connected components against scikit-image's 8-connected labelling, NMS against
torchvision's greedy box NMS; then transformers' own callers with it: holes filled, sprinkles removed,
duplicate detections suppressed, and the video path handing it to transformers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.measure import label as skimage_label
from torchvision.ops import box_iou, nms
from transformers.models.sam3_video import modeling_sam3_video as video

from sam3_core.model.video_postprocess import CvUtils, mask_iou

from clips import clip_frames, write_clip
from helpers import b64


def random_masks(count: int, height: int, width: int, density: float, seed: int) -> torch.Tensor:
    generator = np.random.default_rng(seed)
    return torch.from_numpy((generator.random((count, 1, height, width)) < density).astype(np.uint8))


@pytest.mark.parametrize(("height", "width", "density"), [(16, 16, 0.5), (17, 23, 0.3), (9, 40, 0.6), (1, 1, 1.0)])
def test_components_are_the_8_connected_ones_with_their_areas(height, width, density):
    masks = random_masks(6, height, width, density, seed=height * width)
    labels, counts = CvUtils.cc_2d(masks * 7, get_counts=True)  # any nonzero byte is foreground
    assert labels.dtype == counts.dtype == torch.int32 and labels.shape == counts.shape == masks.shape
    for index in range(masks.shape[0]):
        mask = masks[index, 0].numpy().astype(bool)
        reference = skimage_label(mask, connectivity=2)
        areas = np.bincount(reference.ravel())
        expected = np.where(mask, areas[reference], 0)
        assert np.array_equal(counts[index, 0].numpy(), expected)
        ours = labels[index, 0].numpy()
        assert np.array_equal(ours == 0, ~mask)
        pairs = set(zip(ours[mask].tolist(), reference[mask].tolist(), strict=True))  # the same partition
        assert len(pairs) == len({a for a, _ in pairs}) == len({b for _, b in pairs})


def test_a_diagonal_is_one_component_and_counts_can_be_skipped():
    diagonal = torch.eye(4, dtype=torch.uint8).reshape(1, 1, 4, 4)
    labels, counts = CvUtils.cc_2d(diagonal, get_counts=True)
    assert set(counts[diagonal.bool()].tolist()) == {4} and len(set(labels[diagonal.bool()].tolist())) == 1
    assert not CvUtils.cc_2d(diagonal, get_counts=False)[1].any()


@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.9])
def test_nms_keeps_what_torchvisions_greedy_nms_keeps(threshold):
    generator = torch.Generator().manual_seed(7)
    corners = torch.rand((60, 2), generator=generator) * 80
    boxes = torch.cat([corners, corners + 5 + torch.rand((60, 2), generator=generator) * 30], dim=1)
    scores = torch.rand(60, generator=generator)
    kept = CvUtils.generic_nms(box_iou(boxes, boxes), scores, threshold)
    assert kept.dtype == torch.int64 and kept.tolist() == nms(boxes, scores, threshold).tolist()


def test_nms_breaks_ties_by_the_lower_index_and_suppresses_strictly_above():
    ious = torch.tensor([[1.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 1.0]])
    scores = torch.tensor([0.8, 0.8, 0.9])
    assert CvUtils.generic_nms(ious, scores, 0.5).tolist() == [2, 0, 1]  # 0.5 is not above 0.5
    assert CvUtils.generic_nms(ious, scores, 0.49).tolist() == [2, 0]  # index 0 wins the tie
    assert CvUtils.generic_nms(ious[:0, :0], scores[:0], 0.5).tolist() == []


def test_mask_iou_is_each_pairs_iou_without_the_broadcast():
    generator = np.random.default_rng(3)
    first = torch.from_numpy(generator.random((7, 30, 40)) < 0.4)
    second = torch.from_numpy(generator.random((5, 30, 40)) < 0.2)
    second[0] = False  # an empty mask against every other
    found = mask_iou(first, second)
    assert found.shape == (7, 5)
    for i in range(7):
        for j in range(5):
            a, b = first[i].numpy(), second[j].numpy()
            union = np.logical_or(a, b).sum()
            expected = np.logical_and(a, b).sum() / union if union else 0.0
            assert found[i, j].item() == pytest.approx(expected, abs=1e-6)
    many = torch.zeros((200, 288, 288), dtype=torch.bool)  # what random weights give the full-size model
    many[:, :100, :100] = True
    assert mask_iou(many, many).shape == (200, 200)  # 66 MB of floats, not 16 GB of bools


@pytest.fixture
def with_cvutils(monkeypatch):
    monkeypatch.setattr(video, "cv_utils_kernel", CvUtils())
    monkeypatch.setattr(video, "mask_iou", mask_iou)


def test_transformers_fills_holes_and_removes_sprinkles_with_it(with_cvutils):
    scores = torch.full((1, 1, 20, 20), -5.0)
    scores[0, 0, 2:12, 2:12] = 5.0  # an object of 100 pixels
    scores[0, 0, 5:7, 5:7] = -5.0  # a hole of 4 pixels in it
    scores[0, 0, 16, 16] = 5.0  # a sprinkle of 1 pixel
    cleaned = video.fill_holes_in_mask_scores(scores, max_area=8)
    assert (cleaned[0, 0, 5:7, 5:7] == 0.1).all() and cleaned[0, 0, 16, 16] == -0.1
    assert (cleaned[0, 0, 2:12, 2:12] > 0).all() and (cleaned > 0).sum() == 100


def test_transformers_suppresses_a_duplicate_detection_with_it(with_cvutils):
    masks = torch.full((3, 8, 8), -1.0)
    masks[0, :4, :4] = masks[1, :4, :5] = 1.0  # the same object twice
    masks[2, 5:, 5:] = 1.0
    keep = video.nms_masks(torch.tensor([0.9, 0.8, 0.7]), masks, prob_threshold=0.5, iou_threshold=0.5)
    assert keep.tolist() == [True, False, True]


def test_the_video_path_hands_it_to_transformers_before_any_video(tiny_checkpoint, monkeypatch, tmp_path):
    """A new service's first video request: transformers' kernel slot holds ``CvUtils`` (never the "not
    attempted" ``None`` that makes it try the Hub, nor the ``False`` that skips the three steps)."""
    from handler import EndpointHandler
    from sam3_core.settings import ModelSettings, Settings

    monkeypatch.setattr(video, "cv_utils_kernel", None)
    monkeypatch.setattr(video, "mask_iou", video.mask_iou)  # put back after the test
    fresh = EndpointHandler(str(tiny_checkpoint), settings=Settings(model=ModelSettings(device="cpu")))
    clip = write_clip(tmp_path / "clip.mp4", clip_frames(2))
    fresh({"inputs": {"video": b64(clip), "text_prompts": ["cat"], "max_objects": 2}})
    assert isinstance(video.cv_utils_kernel, CvUtils) and video.mask_iou is mask_iou
