"""Engine internals: batched prompts equal one-by-one runs, caches skip work, exact upsampling."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from sam3_core.api.request import parse_payload
from sam3_core.masks.png_deflate import png_of_changes
from sam3_core.masks.postprocess import MaskCanvas, mask_box, pixel_slices, upsample_mask
from sam3_core.masks.scanlines import box_of_changes, changes_of_mask, mask_of_changes
from sam3_core.model.engine import ObjectPrediction
from sam3_core.settings import Limits, RequestSettings

PROMPTS = ["cat", "dog", "a red ball", "green square", "blue triangle", "sky", "grass", "person", "car", "tree"]


def predict(handler, inputs: dict):
    """Engine objects for a request, with no cap on their number (max_objects would drop low scores)."""
    request = parse_payload({"inputs": inputs}, RequestSettings(Limits(max_objects=10_000)))
    return handler.engine.predict(request.work()).objects


def assert_same_up_to_rounding(batched: ObjectPrediction, alone: ObjectPrediction, size: tuple[int, int]) -> int:
    """Same label, scores within 1e-5, and full-size masks identical except at pixels whose interpolated value
    sits on the threshold to within float32 rounding. Batched and single runs use different BLAS/oneDNN
    kernels (measured: conv and linear outputs differ by ~1e-7 relative), so bitwise equality of every pixel
    cannot be promised; a flip anywhere else would fail here. Returns the number of differing pixels."""
    assert batched.label == alone.label
    assert abs(batched.score - alone.score) <= 1e-5
    mask_batched = upsample_mask(batched.low_res, *size, batched.threshold) > 0
    mask_alone = upsample_mask(alone.low_res, *size, alone.threshold) > 0
    differ = torch.from_numpy(mask_batched != mask_alone)
    if differ.any():
        values = F.interpolate(alone.low_res[None, None], size=size, mode="bilinear", align_corners=False)[0, 0]
        rounding = 1e-4 * float(alone.low_res.abs().max())
        assert float((values[differ] - alone.threshold).abs().max()) <= rounding
    return int(differ.sum())


def test_batched_text_prompts_equal_one_by_one(handler, image, image_b64, monkeypatch):
    engine = handler.engine
    monkeypatch.setattr(engine, "prompt_batch", 4)  # 10 prompts -> chunks of 4, 4, 2
    together = predict(handler, {"image": image_b64, "text_prompts": PROMPTS, "confidence_threshold": 0.3})
    assert len({obj.label for obj in together}) >= 5
    flipped = total = 0
    for prompt in PROMPTS:
        engine.text_cache.clear()
        alone = predict(handler, {"image": image_b64, "text_prompts": [prompt], "confidence_threshold": 0.3})
        mine = [obj for obj in together if obj.label == prompt]
        assert len(mine) == len(alone)
        for batched, single in zip(mine, alone, strict=True):
            flipped += assert_same_up_to_rounding(batched, single, image.size[::-1])
            total += image.width * image.height
    assert flipped <= total * 1e-5


def test_batched_visual_objects_equal_one_by_one(handler, image, image_b64):
    boxes = [[180, 30, 290, 110], [40, 50, 130, 140], [190, 140, 310, 225]]
    together = predict(
        handler, {"image": image_b64, "boxes": boxes, "box_labels": [1] * 3, "confidence_threshold": 0.0}
    )
    assert len(together) == 3
    for index, box in enumerate(boxes):
        [alone] = predict(handler, {"image": image_b64, "boxes": [box], "box_labels": [1], "confidence_threshold": 0.0})
        assert assert_same_up_to_rounding(together[index], alone, image.size[::-1]) <= image.width * image.height * 1e-4


def test_a_second_request_on_the_same_image_skips_the_backbone(handler, image_b64, monkeypatch):
    engine = handler.engine
    engine.feature_cache.clear()
    calls = []
    original = engine.compute_features
    monkeypatch.setattr(engine, "compute_features", lambda images: calls.append(len(images)) or original(images))
    first = handler({"inputs": {"image": image_b64, "text_prompts": ["cat"], "return_timings": True}})
    second = handler(
        {"inputs": {"image": image_b64, "points": [[10, 10]], "point_labels": [1], "return_timings": True}}
    )
    third = handler({"inputs": {"image": image_b64, "text_prompts": ["cat"], "return_timings": True}})
    assert calls == [1]
    assert (first["timings"]["cache_hit"], second["timings"]["cache_hit"]) == (False, True)
    assert third["scores"] == first["scores"] and third["masks"] == first["masks"]


def test_text_cache_is_used(handler, image_b64, monkeypatch):
    engine = handler.engine
    engine.text_cache.clear()
    calls = []
    original = engine.detector.get_text_features
    monkeypatch.setattr(
        engine.detector, "get_text_features", lambda **kw: calls.append(len(kw["input_ids"])) or original(**kw)
    )
    handler({"inputs": {"image": image_b64, "text_prompts": ["cat", "dog"]}})
    handler({"inputs": {"image": image_b64, "text_prompts": ["dog", "cat", "bird"]}})
    assert calls == [2, 1]


def test_cached_text_embeddings_keep_only_their_own_rows(handler):
    engine = handler.engine
    engine.text_cache.clear()
    prompts = ["one", "two", "three", "four"]
    engine.text.embeddings(prompts)
    rows = [tensor for prompt in prompts for tensor in engine.text_cache.get(prompt)]
    assert engine.text_cache.nbytes == sum(row.numel() * row.element_size() for row in rows)


def test_a_view_is_charged_for_the_storage_it_keeps_alive():
    from sam3_core.model.cache import ByteLRUCache

    cache = ByteLRUCache(max_bytes=10_000)
    cache.put("row", torch.zeros(10, 100)[0])
    assert cache.nbytes == 4000


def test_cache_is_bounded_in_bytes():
    from sam3_core.model.cache import ByteLRUCache

    cache = ByteLRUCache(max_bytes=3 * 400)
    for key in range(5):
        cache.put(key, torch.zeros(100))  # 400 bytes each
    assert len(cache) == 3 and cache.nbytes == 1200 and cache.get(0) is None and cache.get(4) is not None
    cache.put("huge", torch.zeros(1000))
    assert cache.get("huge") is None


@pytest.mark.parametrize("size", [(240, 320), (17, 23), (1008, 1008), (3024, 4032), (577, 1201)])
@pytest.mark.parametrize("kind", ["noise", "blob", "logits"])
def test_upsampling_matches_the_reference_interpolation(size, kind):
    """Same masks as F.interpolate + threshold; a pixel may differ only where the interpolated value equals the
    threshold to within float32 rounding (measured: 2 single pixels in 3,600 random cases)."""
    generator = torch.Generator().manual_seed(size[0] * 7919 + size[1] + len(kind))
    low = torch.randn(288, 288, generator=generator)
    threshold = 0.0 if kind == "logits" else 0.5
    if kind == "blob":
        low = torch.full((288, 288), 0.1)
        low[100:140, 30:95] = torch.rand(40, 65, generator=generator)
    elif kind == "noise":
        low = low.sigmoid()
    values = F.interpolate(low[None, None], size=size, mode="bilinear", align_corners=False)[0, 0]
    ours = upsample_mask(low, *size, threshold)
    assert ours.dtype == np.uint8 and set(np.unique(ours).tolist()) <= {0, 255}
    differ = torch.from_numpy((ours > 0) != (values > threshold).numpy())
    assert int(differ.sum()) <= max(1, values.numel() // 100_000)
    assert bool(((values[differ] - threshold).abs() < 1e-5).all())


def test_a_canvas_renders_each_object_as_if_alone():
    """One canvas, objects one after another: large (full frame), small (a window), none, small elsewhere."""
    generator = torch.Generator().manual_seed(5)
    maps = [torch.rand(288, 288, generator=generator), torch.full((288, 288), 0.1), torch.zeros(288, 288)]
    maps[1][100:140, 30:95] = torch.rand(40, 65, generator=generator)
    maps.append(maps[1].roll(shifts=(90, 120), dims=(0, 1)))
    canvas = MaskCanvas(601, 803)
    for low in maps:
        changes = canvas.changes(low, 0.5)
        assert np.array_equal(changes, MaskCanvas(601, 803).changes(low, 0.5))
        assert np.array_equal(mask_of_changes(changes, 601, 803), upsample_mask(low, 601, 803, 0.5))


CANVAS = (150, 200)  # height, width
REGIONS = [
    (0, 0, 200, 150),  # the whole canvas
    (37, 21, 141, 96),  # inside
    (0, 0, 111, 80),  # on the top and left edges
    (90, 71, 200, 150),  # on the right and bottom edges
    (0, 40, 200, 77),  # edge to edge across
    (199, 149, 200, 150),  # one pixel, in the corner
]


@pytest.mark.parametrize("region", REGIONS)
@pytest.mark.parametrize("kind", ["noise", "blob", "corner"])
def test_a_map_rendered_into_a_region_is_the_reference_resize_pasted_there(region, kind):
    """A crop's map covers only its region: the mask is F.interpolate of the map to the region's size,
    thresholded, pasted at the region's corner into an empty mask (both of the canvas's paths: the window of a
    small object and the fused kernel of a large one)."""
    generator = torch.Generator().manual_seed(sum(region) + len(kind))
    low = torch.randn(64, 48, generator=generator)
    if kind == "blob":  # a small object: the window path
        low = torch.full((64, 48), -1.0)
        low[20:30, 10:25] = torch.randn(10, 15, generator=generator).abs()
    elif kind == "corner":  # on to the map's last pixel
        low = torch.full((64, 48), -1.0)
        low[-5:, -4:] = 1.0
    x0, y0, x1, y1 = region
    values = F.interpolate(low[None, None], size=(y1 - y0, x1 - x0), mode="bilinear", align_corners=False)[0, 0]
    expected = np.zeros(CANVAS, np.uint8)
    expected[y0:y1, x0:x1] = (values > 0).numpy() * 255
    canvas = MaskCanvas(*CANVAS)
    canvas.changes(torch.rand(64, 48, generator=generator), 0.5)  # the canvas's buffers hold another mask first
    changes = canvas.changes(low, 0.0, region=region)
    assert np.array_equal(mask_of_changes(changes, *CANVAS), expected)
    assert np.all(np.diff(changes) > 0) and (changes.size == 0 or changes[-1] < CANVAS[0] * (CANVAS[1] + 1))
    if region == REGIONS[0]:
        assert np.array_equal(changes, canvas.changes(low, 0.0)), "the whole canvas as region: the same as none"


@pytest.mark.parametrize("region", [(-1, 0, 10, 10), (0, 0, 201, 150), (5, 5, 5, 9), (0, 10, 20, 151)])
def test_a_region_outside_the_canvas_is_refused(region):
    with pytest.raises(ValueError, match="not inside"):
        MaskCanvas(*CANVAS).changes(torch.ones(8, 8), 0.0, region=region)


def test_a_hit_between_the_sampled_map_pixels_of_a_smaller_mask_gives_an_empty_mask():
    """A 3x3 mask reads map rows/columns 47-48, 143-144 and 239-240 of a 288x288 map: hits only between those
    are not on (a crop of segment-everything can be smaller than its map)."""
    low = torch.full((288, 288), -1.0)
    low[1:40, 1:40] = 1.0
    assert not upsample_mask(low, 3, 3, 0.0).any()
    low[143:145, 47:49] = 1.0  # both rows and both columns that pixel (1, 0) mixes
    assert upsample_mask(low, 3, 3, 0.0)[1, 0] == 255


def test_empty_low_res_map_gives_an_empty_mask():
    assert not upsample_mask(torch.full((288, 288), -3.0), 100, 200, 0.0).any()


@pytest.mark.parametrize("whole_frame", [False, True])
def test_exclusion_boxes_clear_the_pixels_whose_centres_they_hold(whole_frame):
    """Boxes inside, across the edge of and outside the rendered window, one partly off the image."""
    low = torch.full((288, 288), 1.0) if whole_frame else torch.zeros(288, 288)
    low[10:40, 20:60] = 1.0
    boxes = [(2.0, 3.0, 5.0, 4.6), (30.0, 5.0, 200.0, 12.0), (-8.0, 25.0, 2.6, 300.0), (150.0, 150.0, 160.0, 160.0)]
    expected = upsample_mask(low, 100, 200, 0.5)
    assert expected.any()
    for box in boxes:
        rows, cols = pixel_slices(box)
        expected[rows, cols] = 0
    assert pixel_slices(boxes[0]) == (slice(3, 5), slice(2, 5))  # row centres 3.5, 4.5; column centres 2.5-4.5
    changes = MaskCanvas(100, 200).changes(low, 0.5, boxes)
    assert np.array_equal(mask_of_changes(changes, 100, 200), expected)


def test_mask_box_and_the_box_of_the_changes_agree():
    generator = np.random.default_rng(3)
    masks = [np.zeros((4, 4), np.uint8), np.full((3, 5), 255, np.uint8)]
    for _ in range(200):
        mask = np.zeros(generator.integers(1, 30, 2), np.uint8)
        y, x = generator.integers(0, mask.shape[0]), generator.integers(0, mask.shape[1])
        mask[y : y + generator.integers(1, 9), x : x + generator.integers(1, 9)] = 255
        mask[generator.integers(0, mask.shape[0]), generator.integers(0, mask.shape[1])] = 255
        masks.append(mask)
    for mask in masks:
        assert box_of_changes(changes_of_mask(mask), mask.shape[1]) == mask_box(mask)
    assert mask_box(masks[0]) == (0.0, 0.0, 0.0, 0.0) and mask_box(masks[1]) == (0.0, 0.0, 5.0, 3.0)


@pytest.mark.parametrize("corner_only", [False, True])
def test_a_mask_on_to_its_last_pixel_ends_the_stream_without_a_change(corner_only):
    """The window (a corner) and the whole frame: the changes stay inside the scanline stream, and the PNG holds
    the mask."""
    low = torch.full((288, 288), -1.0) if corner_only else torch.ones(288, 288)
    low[-20:, -20:] = 1.0
    changes = MaskCanvas(90, 110).changes(low, 0.0)
    assert changes.size and changes[0] >= 1 and changes[-1] < 90 * 111 and np.all(np.diff(changes) > 0)
    mask = mask_of_changes(changes, 90, 110)
    assert mask[-1, -1] == 255 and mask.all() != corner_only
    assert np.array_equal(np.array(Image.open(io.BytesIO(png_of_changes(changes, 90, 110)))), mask)
