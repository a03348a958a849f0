"""Low-resolution mask maps to full-size binary masks, one object at a time, touching only where it can be on.

The reference pipelines resize every kept map to the image size with ``F.interpolate(mode="bilinear",
align_corners=False)`` and threshold it (``post_process_instance_segmentation``: probabilities > 0.5;
``post_process_masks``: logits > 0.0), all objects at once, in float32 at full size. Bilinear interpolation is a
convex combination of the 4 nearest source pixels, so an output pixel can only exceed the threshold when one of
its source rows and one of its source columns hold a value above it. ``upsample_mask`` therefore computes the
same interpolation (same source indices and weights, columns then rows; results can differ from PyTorch's
kernel in the last bit, so a pixel exactly on the threshold may flip) only over that output window and
returns a ``uint8`` mask of 0/255. Small objects cost little; an object covering over a quarter of the frame
goes through PyTorch's bilinear kernel itself (the one ``F.interpolate`` runs), which is faster there.

A ``MaskCanvas`` renders one object after another into the same full-size buffers (its mask and a float
scratch), so the masks of a request cost one full-size allocation, not several per object. Fresh memory is
page-faulted in by the kernel: with a new float frame, bool frame and mask per object, a 100-object 12 MP request
spent 4.4 s of its 14 s of CPU in the kernel, 8 s of 19 s once large buffers are returned to the system after
each use (``sam3_core.allocator``); with the canvas 2 s of 12 s (docs/RELIABILITY.md).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

Box = tuple[float, float, float, float]


@lru_cache(maxsize=64)
def _axis(in_size: int, out_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Source indices ``i0, i1`` and weight of ``i1`` for each output index (PyTorch's align_corners=False)."""
    scale = torch.tensor(in_size, dtype=torch.float32) / out_size
    source = ((torch.arange(out_size, dtype=torch.float32) + 0.5) * scale - 0.5).clamp_(min=0)
    i0 = source.to(torch.int64)
    i1 = torch.clamp(i0 + 1, max=in_size - 1)
    weight1 = (source - i0).clamp_(0, 1)
    return i0, i1, weight1


def _window(above: torch.Tensor, i0: torch.Tensor, i1: torch.Tensor) -> tuple[int, int] | None:
    """Output index range [start, stop) whose source indices touch the span of ``above`` (1-D bool)."""
    hits = torch.nonzero(above).flatten()
    if hits.numel() == 0:
        return None
    low, high = int(hits[0]), int(hits[-1])
    touched = ((i0 >= low) & (i0 <= high)) | ((i1 >= low) & (i1 <= high))
    indices = torch.nonzero(touched).flatten()
    return int(indices[0]), int(indices[-1]) + 1


class MaskCanvas:
    """Full-size masks of one image size, rendered one after another into the same buffers (one thread).

    ``render`` returns ``mask``, overwritten by the next ``render``: read or copy it before that.
    """

    def __init__(self, height: int, width: int) -> None:
        self.height, self.width = height, width
        self.mask = np.zeros((height, width), dtype=np.uint8)
        self._mask = torch.from_numpy(self.mask)
        self._scratch: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}

    def _buffer(self, device: torch.device, dtype: torch.dtype, count: int) -> torch.Tensor:
        """``count`` elements of the canvas's full-size scratch of ``dtype`` on ``device`` (allocated once)."""
        key = (device, dtype)
        if key not in self._scratch:
            self._scratch[key] = torch.empty(self.height * self.width, dtype=dtype, device=device)
        return self._scratch[key][:count]

    def _threshold(self, values: torch.Tensor, threshold: float, rows: slice, cols: slice) -> None:
        """``mask[rows, cols]`` = 255 where ``values`` exceed ``threshold``, else 0."""
        target = self._mask[rows, cols]
        # Into a bool view of the uint8 mask: with a uint8 ``out``, torch.gt allocates a full-size temporary.
        if values.device.type == "cpu":
            torch.gt(values, threshold, out=target.view(torch.bool))
        else:  # on the device, then one copy into the host mask
            on_device = self._buffer(values.device, torch.bool, values.numel()).view(values.shape)
            target.view(torch.bool).copy_(torch.gt(values, threshold, out=on_device))
        target.mul_(255)

    def render(self, low_res: torch.Tensor, threshold: float) -> np.ndarray:
        """``(h, w)`` float map -> the ``(height, width)`` uint8 mask, 255 where the bilinear resize exceeds
        ``threshold``."""
        height, width = self.height, self.width
        low_res = low_res.float()
        above = low_res > threshold
        rows_i0, rows_i1, rows_w1 = _axis(low_res.shape[0], height)
        cols_i0, cols_i1, cols_w1 = _axis(low_res.shape[1], width)
        rows = _window(above.any(dim=1).cpu(), rows_i0, rows_i1)
        cols = _window(above.any(dim=0).cpu(), cols_i0, cols_i1)
        if rows is None or cols is None:
            self.mask.fill(0)
            return self.mask
        device = low_res.device
        if (rows[1] - rows[0]) * (cols[1] - cols[0]) > height * width // 4:
            # A large object: PyTorch's fused kernel over the whole frame is faster than the gathers below.
            full = self._buffer(device, torch.float32, height * width).view(1, 1, height, width)
            torch.ops.aten.upsample_bilinear2d.out(low_res[None, None], [height, width], False, None, None, out=full)
            self._threshold(full[0, 0], threshold, slice(None), slice(None))
            return self.mask
        self.mask.fill(0)
        r0, r1 = rows_i0[rows[0] : rows[1]].to(device), rows_i1[rows[0] : rows[1]].to(device)
        rw1 = rows_w1[rows[0] : rows[1]].to(device)[:, None]
        c0, c1 = cols_i0[cols[0] : cols[1]].to(device), cols_i1[cols[0] : cols[1]].to(device)
        cw1 = cols_w1[cols[0] : cols[1]].to(device)
        first, last = int(r0[0]), int(r1[-1]) + 1
        band = low_res[first:last]  # only the source rows this window reads
        columns = (1 - cw1) * band[:, c0] + cw1 * band[:, c1]  # (source rows, window width)
        # window = (1 - rw1) * columns[r0 - first] + rw1 * columns[r1 - first], in the scratch (at most half of
        # it: the window is under a quarter of the frame); the same float operations, so the same bits.
        size = (rows[1] - rows[0], cols[1] - cols[0])
        scratch = self._buffer(device, torch.float32, 2 * size[0] * size[1])
        window, lower = scratch[: size[0] * size[1]].view(size), scratch[size[0] * size[1] :].view(size)
        torch.index_select(columns, 0, r0 - first, out=window).mul_(1 - rw1)
        window.add_(torch.index_select(columns, 0, r1 - first, out=lower).mul_(rw1))
        self._threshold(window, threshold, slice(*rows), slice(*cols))
        return self.mask


def upsample_mask(low_res: torch.Tensor, height: int, width: int, threshold: float) -> np.ndarray:
    """``(h, w)`` float map -> ``(height, width)`` uint8 mask, 255 where the bilinear resize exceeds ``threshold``
    (a new array; ``MaskCanvas`` renders many into the same one)."""
    return MaskCanvas(height, width).render(low_res, threshold)


def exclude_boxes(mask: np.ndarray, boxes: list[Box]) -> np.ndarray:
    """Zero the pixels whose centres lie inside any pixel-xyxy box (negative "exclude this area" boxes)."""
    for x1, y1, x2, y2 in boxes:
        cols = slice(int(np.ceil(x1 - 0.5)), max(int(np.ceil(x2 - 0.5)), 0))
        rows = slice(int(np.ceil(y1 - 0.5)), max(int(np.ceil(y2 - 0.5)), 0))
        mask[rows, cols] = 0
    return mask


def mask_box(mask: np.ndarray) -> tuple[float, float, float, float]:
    """Pixel xyxy box around the mask's on-pixels (x2/y2 exclusive edges); ``(0, 0, 0, 0)`` for an empty mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return (0.0, 0.0, 0.0, 0.0)
    cols = np.flatnonzero(mask.any(axis=0))
    return (float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1))
