"""The video model's mask clean-up, on every device with nothing downloaded at run time.

transformers' ``Sam3VideoModel`` suppresses duplicate new detections (``nms_masks``), fills small holes and
removes small sprinkles in tracked masks (``fill_holes_in_mask_scores``), as facebookresearch/sam3 does; for the
two steps underneath it asks the Hub kernel ``kernels-community/cv-utils`` (CUDA only, fetched by the ``kernels``
package) and skips all three when that is absent. ``CvUtils`` is a stand-in with the kernel's semantics (read in
its ``connected_components.cu``, ``generic_nms.cu`` and tests), which ``transformers_internals.
use_video_postprocessing`` hands to transformers:

- ``cc_2d(mask, get_counts)``: 8-connected components of ``(N, 1, H, W)`` uint8 masks (any nonzero byte is
  foreground); ``labels`` (int32, 0 for background, a positive id per component: ids differ from the kernel's,
  which transformers never reads) and ``counts`` (int32, each foreground pixel's component area, 0 for background).
  Computed with OpenCV on the host, per mask.
- ``generic_nms(ious, scores, iou_threshold)``: greedy non-maximum suppression over an ``(N, N)`` IoU matrix:
  best score first (ties: the lower index first), a kept one suppresses every later one whose IoU with it is
  strictly above the threshold; the kept indices (int64, on the scores' device), best score first.

``mask_iou`` replaces transformers' own, which broadcasts ``(N, 1, H*W) & (1, M, H*W)``: ``N * M * H * W`` bytes
at once (26.5 GB for 200 detections of 288x288 low-resolution masks, which random weights or a low threshold
give). Here the intersections are one matrix product of ``(N, H*W)`` and ``(H*W, M)`` (float32, exact up to
16.7 M pixels per mask): ``(N + M) * H * W * 4`` bytes.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch


class CvUtils:
    """``kernels-community/cv-utils``'s ``cc_2d`` and ``generic_nms``, on any device."""

    @staticmethod
    def cc_2d(mask: torch.Tensor, get_counts: bool = True) -> list[torch.Tensor]:
        """``[labels, counts]`` of ``(N, 1, H, W)`` masks (see the module docstring); counts all 0 unless
        ``get_counts``."""
        host = (mask.detach().to("cpu") != 0).to(torch.uint8).numpy()
        labels = np.zeros(host.shape, dtype=np.int32)
        counts = np.zeros(host.shape, dtype=np.int32)
        for index in range(host.shape[0]):
            _, parts, stats, _ = cv2.connectedComponentsWithStats(host[index, 0], connectivity=8, ltype=cv2.CV_32S)
            labels[index, 0] = parts
            if get_counts:
                areas = stats[:, cv2.CC_STAT_AREA].astype(np.int32)
                areas[0] = 0  # the background
                counts[index, 0] = areas[parts]
        return [torch.from_numpy(labels).to(mask.device), torch.from_numpy(counts).to(mask.device)]

    @staticmethod
    def generic_nms(
        ious: torch.Tensor, scores: torch.Tensor, iou_threshold: float, use_iou_matrix: bool = True
    ) -> torch.Tensor:
        """The indices of ``scores`` kept by greedy NMS over the ``(N, N)`` matrix ``ious``, best score first."""
        if not use_iou_matrix:
            raise ValueError("only the IoU-matrix form of generic_nms is provided")
        if scores.numel() == 0:
            return torch.empty(0, dtype=torch.int64, device=scores.device)
        order = torch.sort(scores.detach().float().cpu(), stable=True, descending=True).indices
        sorted_ious = ious.detach().double().cpu()[order][:, order].numpy()
        suppressed = np.zeros(len(order), dtype=bool)
        kept = []
        for rank in range(len(order)):
            if suppressed[rank]:
                continue
            kept.append(rank)
            suppressed[rank + 1 :] |= sorted_ious[rank, rank + 1 :] > iou_threshold
        return order[kept].to(scores.device)


def mask_iou(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """``(N, M)`` IoUs of ``(N, H, W)`` and ``(M, H, W)`` bool masks (0 where both are empty), as transformers'
    ``mask_iou`` computes them, without its ``(N, M, H * W)`` intermediate."""
    a = first.flatten(1).float()
    b = second.flatten(1).float()
    intersection = a @ b.T
    union = a.sum(dim=1)[:, None] + b.sum(dim=1)[None, :] - intersection
    return intersection / union.clamp(min=1)
