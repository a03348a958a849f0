"""Low-resolution mask maps to full-size binary masks, one object at a time, touching only where it can be on.

The reference pipelines resize every kept map to the image size with ``F.interpolate(mode="bilinear",
align_corners=False)`` and threshold it (``post_process_instance_segmentation``: probabilities > 0.5;
``post_process_masks``: logits > 0.0), all objects at once, in float32 at full size. Bilinear interpolation is a
convex combination of the 4 nearest source pixels, so an output pixel can only exceed the threshold when one of
its source rows and one of its source columns hold a value above it. ``upsample_mask`` therefore computes the
same interpolation (same source indices and weights, columns then rows; results can differ from PyTorch's
kernel in the last bit, so a pixel exactly on the threshold may flip) only over that output window. Small
objects cost little; an object covering over a quarter of the frame goes through PyTorch's bilinear kernel itself
(the one ``F.interpolate`` runs), which is faster there.

A ``MaskCanvas`` renders one object after another into the same full-size buffers (a float scratch, the thresholded
window and its edges), so the masks of a request cost one full-size allocation, not several per object. Fresh
memory is page-faulted in by the kernel: with a new float frame, bool frame and mask per object, a 100-object 12 MP
request spent 4.4 s of its 14 s of CPU in the kernel, 8 s of 19 s once large buffers are returned to the system
after each use (``sam3_core.model.allocator``); with the canvas 2 s of 12 s (docs/RELIABILITY.md). What leaves the
canvas is the mask's scanline changes (``sam3_core.masks.scanlines``), found on the map's device.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch

from sam3_core.masks.scanlines import mask_of_changes

Box = tuple[float, float, float, float]
Region = tuple[int, int, int, int]


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
    """Output index range [start, stop) whose source indices touch the span of ``above`` (1-D bool); None when
    none does (no hit, or, when the output is smaller than the map, the hits lie between the sampled indices)."""
    hits = torch.nonzero(above).flatten()
    if hits.numel() == 0:
        return None
    low, high = int(hits[0]), int(hits[-1])
    touched = ((i0 >= low) & (i0 <= high)) | ((i1 >= low) & (i1 <= high))
    indices = torch.nonzero(touched).flatten()
    if indices.numel() == 0:
        return None
    return int(indices[0]), int(indices[-1]) + 1


def pixel_slices(box: Box) -> tuple[slice, slice]:
    """Rows and columns whose pixel centres lie inside the pixel-xyxy ``box``."""
    x1, y1, x2, y2 = box
    rows = slice(max(int(np.ceil(y1 - 0.5)), 0), max(int(np.ceil(y2 - 0.5)), 0))
    cols = slice(max(int(np.ceil(x1 - 0.5)), 0), max(int(np.ceil(x2 - 0.5)), 0))
    return rows, cols


class MaskCanvas:
    """Full-size masks of one image size, rendered one after another into the same buffers (one thread).

    A mask leaves the canvas as its scanline changes (``sam3_core.masks.scanlines``), computed where the map is (the
    GPU): a few kB per object cross to the host instead of the full-size mask.
    """

    def __init__(self, height: int, width: int) -> None:
        self.height, self.width = height, width
        self._scratch: dict[tuple[str, torch.device, torch.dtype], torch.Tensor] = {}
        self._host: np.ndarray | None = None  # the full-size host mask of ``mask``

    def _buffer(self, name: str, device: torch.device, dtype: torch.dtype, count: int) -> torch.Tensor:
        """``count`` elements of the canvas's full-size buffer ``name`` on ``device`` (allocated once)."""
        key = (name, device, dtype)
        if key not in self._scratch:
            self._scratch[key] = torch.empty(self.height * (self.width + 2), dtype=dtype, device=device)
        return self._scratch[key][:count]

    def _interpolate(
        self, low_res: torch.Tensor, threshold: float, region: Region | None = None
    ) -> tuple[torch.Tensor, slice, slice] | None:
        """The bilinear resize of ``low_res`` to the size of ``region`` (pixel xyxy, integer corners inside the
        canvas; None: the whole canvas) over the output window that can exceed ``threshold``: ``(values, rows,
        cols)``, ``values`` float32 ``(rows, cols)`` on the map's device, ``rows``/``cols`` canvas pixels (the
        window offset by the region's corner); None when no pixel can."""
        left, top, right, bottom = (0, 0, self.width, self.height) if region is None else region
        if not (0 <= left < right <= self.width and 0 <= top < bottom <= self.height):
            raise ValueError(f"region {region} is not inside the {self.width}x{self.height} canvas")
        height, width = bottom - top, right - left
        low_res = low_res.float()
        above = low_res > threshold
        rows_i0, rows_i1, rows_w1 = _axis(low_res.shape[0], height)
        cols_i0, cols_i1, cols_w1 = _axis(low_res.shape[1], width)
        rows = _window(above.any(dim=1).cpu(), rows_i0, rows_i1)
        cols = _window(above.any(dim=0).cpu(), cols_i0, cols_i1)
        if rows is None or cols is None:
            return None
        device = low_res.device
        if (rows[1] - rows[0]) * (cols[1] - cols[0]) > height * width // 4:
            # A large object: PyTorch's fused kernel over the whole frame is faster than the gathers below.
            full = self._buffer("float", device, torch.float32, height * width).view(1, 1, height, width)
            torch.ops.aten.upsample_bilinear2d.out(low_res[None, None], [height, width], False, None, None, out=full)
            return full[0, 0], slice(top, bottom), slice(left, right)
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
        scratch = self._buffer("float", device, torch.float32, 2 * size[0] * size[1])
        window, lower = scratch[: size[0] * size[1]].view(size), scratch[size[0] * size[1] :].view(size)
        torch.index_select(columns, 0, r0 - first, out=window).mul_(1 - rw1)
        window.add_(torch.index_select(columns, 0, r1 - first, out=lower).mul_(rw1))
        return window, slice(top + rows[0], top + rows[1]), slice(left + cols[0], left + cols[1])

    def changes(
        self, low_res: torch.Tensor, threshold: float, exclusions: Sequence[Box] = (), region: Region | None = None
    ) -> np.ndarray:
        """``(h, w)`` float map -> the scanline changes (int64, ``masks.scanlines``) of the ``(height, width)``
        mask that is on where the bilinear resize exceeds ``threshold`` and the pixel's centre lies in none of the
        pixel-xyxy ``exclusions`` boxes. With a ``region`` (integer pixel xyxy inside the canvas) the map covers that
        region only: it is resized to the region's size and placed at its corner, the mask is off elsewhere."""
        found = self._interpolate(low_res, threshold, region)
        if found is None:
            return np.empty(0, np.int64)
        values, rows, cols = found
        height, width = values.shape
        # The window's rows with a 0 column either side: its changes are the mask's changes in those rows.
        padded = self._buffer("padded", values.device, torch.bool, height * (width + 2)).view(height, width + 2)
        padded[:, 0] = padded[:, -1] = False
        torch.gt(values, threshold, out=padded[:, 1:-1])
        for box in exclusions:
            box_rows, box_cols = pixel_slices(box)
            top, bottom = max(box_rows.start, rows.start), min(box_rows.stop, rows.stop)
            left, right = max(box_cols.start, cols.start), min(box_cols.stop, cols.stop)
            if top < bottom and left < right:
                padded[top - rows.start : bottom - rows.start, 1 + left - cols.start : 1 + right - cols.start] = False
        edges = self._buffer("edges", values.device, torch.bool, height * (width + 1)).view(height, width + 1)
        torch.ne(padded[:, 1:], padded[:, :-1], out=edges)
        index = torch.nonzero(edges.view(-1)).view(-1)
        row, column = index // (width + 1), index % (width + 1)
        stride = self.width + 1
        changes = ((rows.start + row) * stride + 1 + cols.start + column).cpu().numpy()
        # A change at the very end (the last pixel is on) is where the stream stops, not a change.
        return changes[:-1] if changes.size and changes[-1] == self.height * stride else changes

    def mask(
        self, low_res: torch.Tensor, threshold: float, exclusions: Sequence[Box] = (), region: Region | None = None
    ) -> np.ndarray:
        """The same mask as ``changes`` describes, as a ``(height, width)`` uint8 0/255 host array. It is the
        canvas's own buffer, overwritten by the next call: encode it before then."""
        if self._host is None:
            self._host = np.empty((self.height, self.width), np.uint8)
        self._host.fill(0)
        found = self._interpolate(low_res, threshold, region)
        if found is None:
            return self._host
        values, rows, cols = found
        target = torch.from_numpy(self._host)[rows, cols]
        # Into a bool view of the uint8 mask (with a uint8 ``out``, torch.gt allocates a full-size temporary).
        if values.device.type == "cpu":
            torch.gt(values, threshold, out=target.view(torch.bool))
        else:  # on the device, then one copy into the host mask
            on_device = self._buffer("padded", values.device, torch.bool, values.numel()).view(values.shape)
            target.view(torch.bool).copy_(torch.gt(values, threshold, out=on_device))
        target.mul_(255)
        for box in exclusions:
            self._host[pixel_slices(box)] = 0
        return self._host

    def estimated_changes(self, low_res: torch.Tensor, threshold: float, region: Region | None = None) -> float:
        """About how many scanline changes the full-size mask of ``low_res`` has, from the map alone: its rows'
        on/off switches, times the output rows each map row becomes (exclusion boxes ignored)."""
        above = low_res > threshold
        switches = int((above[:, 1:] != above[:, :-1]).sum()) + int(above[:, 0].sum()) + int(above[:, -1].sum())
        top, bottom = (0, self.height) if region is None else (region[1], region[3])
        return switches * (bottom - top) / low_res.shape[0]


def upsample_mask(low_res: torch.Tensor, height: int, width: int, threshold: float) -> np.ndarray:
    """``(h, w)`` float map -> ``(height, width)`` uint8 mask, 255 where the bilinear resize exceeds ``threshold``."""
    return mask_of_changes(MaskCanvas(height, width).changes(low_res, threshold), height, width)


def mask_box(mask: np.ndarray) -> tuple[float, float, float, float]:
    """Pixel xyxy box around the mask's on-pixels (x2/y2 exclusive edges); ``(0, 0, 0, 0)`` for an empty mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return (0.0, 0.0, 0.0, 0.0)
    cols = np.flatnonzero(mask.any(axis=0))
    return (float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1))
