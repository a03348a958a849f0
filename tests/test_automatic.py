"""Automatic mask generation's pure rules (sam3_core.automatic), on hand-made logits."""

from __future__ import annotations

import pytest
import torch

from sam3_core.automatic import point_grid, select_masks, stability_scores


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
