"""Automatic mask generation's pure rules (sam3_core.model.automatic), on hand-made logits."""

from __future__ import annotations

import pytest
import torch

from sam3_core.model.automatic import (
    crop_boxes,
    layer_points_per_side,
    map_boxes,
    near_crop_edge,
    point_grid,
    select_across_crops,
    select_masks,
    stability_scores,
    uncrop_boxes,
)


def square(size: int, x0: int, y0: int, x1: int, y1: int, inside: float = 5.0, outside: float = -5.0):
    logits = torch.full((size, size), outside)
    logits[y0:y1, x0:x1] = inside
    return logits


def test_point_grid_covers_the_image_at_cell_centres():
    grid = point_grid(100, 50, 4)
    assert len(grid) == 16
    assert grid[0] == [12.5, 6.25] and grid[3] == [87.5, 6.25] and grid[-1] == [87.5, 43.75]
    assert all(0 < x < 100 and 0 < y < 50 for x, y in grid)


def test_stability_is_the_area_ratio_between_the_two_thresholds():
    crisp = square(8, 2, 2, 6, 6)  # +-5: moving the threshold by 1 changes nothing
    soft = square(8, 2, 2, 6, 6, inside=0.5)  # inside between -1 and +1: nothing above +1
    empty = torch.full((8, 8), -5.0)
    assert stability_scores(torch.stack([crisp, soft, empty])).tolist() == [1.0, 0.0, 0.0]


def test_select_keeps_stable_masks_and_suppresses_overlaps_best_first():
    a = square(16, 0, 0, 8, 8)
    a_again = square(16, 0, 0, 8, 7)  # IoU 7/8 with a: suppressed by whichever scores higher
    b = square(16, 9, 9, 15, 15)
    unstable = square(16, 0, 8, 8, 16, inside=0.5)
    logits = torch.stack([a, a_again, b, unstable])
    assert select_masks(logits, torch.tensor([0.8, 0.9, 0.7, 0.99]), min_stability=0.9) == [1, 2]
    assert select_masks(logits, torch.tensor([0.8, 0.9, 0.7, 0.99]), min_stability=0.0, nms_iou=0.95) == [3, 1, 0, 2]


@pytest.mark.parametrize("count", [0, 1])
def test_select_with_nothing_stable(count):
    logits = torch.full((count, 8, 8), -5.0)
    assert select_masks(logits, torch.zeros(count), min_stability=0.5) == []


SAM_OVERLAP = 512 / 1500


def test_crop_boxes_follow_sams_formula():
    # 1500x1000, SAM's default overlap ratio. Layer 1: overlap int(512/1500 * 1000) = 341 px, crops
    # ceil((341 + 1500) / 2) = 921 wide and ceil((341 + 1000) / 2) = 671 high, x outer.
    boxes = crop_boxes(1500, 1000, 1, SAM_OVERLAP)
    assert boxes == [
        ((0, 0, 1500, 1000), 0),
        ((0, 0, 921, 671), 1),
        ((0, 330, 921, 1000), 1),
        ((580, 0, 1500, 671), 1),
        ((580, 330, 1500, 1000), 1),
    ]
    # Layer 2: overlap int(170.67) = 170, crops 503 x 378, steps 333 and 208, the last ones clipped to the image.
    layer2 = [box for box, layer in crop_boxes(1500, 1000, 2, SAM_OVERLAP) if layer == 2]
    assert len(layer2) == 16
    assert sorted({box[0] for box in layer2}) == [0, 333, 666, 999]
    assert sorted({box[1] for box in layer2}) == [0, 208, 416, 624]
    assert layer2[0] == (0, 0, 503, 378) and layer2[-1] == (999, 624, 1500, 1000)
    # No overlap: exact quarters.
    assert [box for box, _ in crop_boxes(640, 480, 1, 0.0)] == [
        (0, 0, 640, 480),
        (0, 0, 320, 240),
        (0, 240, 320, 480),
        (320, 0, 640, 240),
        (320, 240, 640, 480),
    ]


@pytest.mark.parametrize("width,height", [(1500, 1000), (320, 240), (97, 403), (5, 5)])
@pytest.mark.parametrize("layers", [0, 1, 2])
def test_each_crop_layer_covers_the_image_with_overlapping_crops(width, height, layers):
    boxes = crop_boxes(width, height, layers, SAM_OVERLAP)
    assert boxes[0] == ((0, 0, width, height), 0) and [layer for _, layer in boxes] == sorted(
        layer for _, layer in boxes
    )
    for layer in range(layers + 1):
        crops = [box for box, found in boxes if found == layer]
        assert len(crops) == 4**layer if min(width, height) >= 100 else 0 < len(crops) <= 4**layer
        covered = torch.zeros(height, width, dtype=torch.int32)
        for x0, y0, x1, y1 in crops:
            assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
            covered[y0:y1, x0:x1] += 1
        assert bool((covered >= 1).all()), "every pixel is in a crop of every layer"
        if layer and min(width, height) >= 100:
            assert bool((covered >= 2).any()), "neighbouring crops overlap"


def test_a_tiny_image_has_no_empty_crops():
    boxes = crop_boxes(3, 2, 2, SAM_OVERLAP)
    assert all(x0 < x1 and y0 < y1 for (x0, y0, x1, y1), _ in boxes)
    assert len([box for box, layer in boxes if layer == 2]) < 16


def test_points_per_side_shrink_per_layer_and_stay_at_least_one():
    assert layer_points_per_side(32, 0, 2) == [32]
    assert layer_points_per_side(32, 2, 1) == [32, 32, 32]
    assert layer_points_per_side(32, 2, 2) == [32, 16, 8]
    assert layer_points_per_side(16, 2, 3) == [16, 5, 1]
    assert layer_points_per_side(4, 2, 4) == [4, 1, 1]


def test_uncropping_moves_boxes_by_the_crops_corner():
    boxes = torch.tensor([[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 40.0, 40.0]])
    assert uncrop_boxes(boxes, (10, 20, 50, 60)).tolist() == [[11.0, 22.0, 13.0, 24.0], [10.0, 20.0, 50.0, 60.0]]


def test_map_boxes_are_image_pixels_of_the_maps_region():
    logits = torch.full((3, 4, 4), -1.0)
    logits[0, 1, 2] = 1.0  # one map pixel: 10x10 image pixels of a 40x40 region
    logits[1] = 1.0
    boxes = map_boxes(logits, (100, 200, 140, 240))
    assert boxes.tolist() == [[120.0, 210.0, 130.0, 220.0], [100.0, 200.0, 140.0, 240.0], [100.0, 200.0, 100.0, 200.0]]


def test_only_masks_cut_off_by_an_inner_crop_edge_are_dropped():
    width, height = 1500, 1000
    top_left, bottom_right = (0, 0, 921, 671), (580, 330, 1500, 1000)
    boxes = torch.tensor(
        [
            [100.0, 100.0, 905.0, 600.0],  # right side within 20 px of the crop's inner right edge
            [100.0, 100.0, 800.0, 600.0],  # inside
            [0.0, 0.0, 50.0, 50.0],  # on the crop's left/top edges, which are the image's
            [300.0, 100.0, 400.0, 660.0],  # bottom side near the inner bottom edge
        ]
    )
    assert near_crop_edge(boxes, top_left, width, height).tolist() == [True, False, False, True]
    boxes = torch.tensor([[1000.0, 900.0, 1500.0, 1000.0], [590.0, 500.0, 700.0, 600.0], [700.0, 345.0, 800.0, 400.0]])
    assert near_crop_edge(boxes, bottom_right, width, height).tolist() == [False, True, True]
    # The whole image as the crop: nothing is cut off.
    assert not near_crop_edge(boxes, (0, 0, width, height), width, height).any()


def test_across_crops_the_smaller_crop_wins_then_the_score():
    boxes = torch.tensor(
        [
            [0.0, 0.0, 100.0, 100.0],  # from the whole image, best score
            [2.0, 2.0, 100.0, 100.0],  # the same object from a crop
            [300.0, 300.0, 400.0, 400.0],  # elsewhere, whole image
            [301.0, 300.0, 400.0, 400.0],  # the same from a crop, same area as the next crop
            [300.0, 301.0, 400.0, 400.0],  # ... and from another crop of that area, a higher score
        ]
    )
    areas = torch.tensor([1e6, 2.5e5, 1e6, 2.5e5, 2.5e5])
    scores = torch.tensor([0.99, 0.6, 0.5, 0.7, 0.8])
    assert select_across_crops(boxes, areas, scores, nms_iou=0.7) == [4, 1], "kept best score first"
    assert select_across_crops(boxes, areas, scores, nms_iou=1.0) == [0, 4, 3, 1, 2], "nothing overlaps enough"
    assert select_across_crops(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0), 0.7) == []
