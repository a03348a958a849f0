"""Concept prompts: every (image, text prompt) pair of a batch through SAM3's detector (``Sam3Model``), over
precomputed image features and cached text features, in bounded chunks.

Boxes out are pixel xyxy of the image (clamped to it); exemplar boxes in are pixel xyxy, fed to the detector as
normalised cxcywh in [0, 1] (as ``Sam3Processor`` does). Scores are the reference's
``sigmoid(logit) * sigmoid(presence)``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

import torch
from transformers import Sam3Model

from sam3_core.cancel import Cancelled
from sam3_core.model.batching import Job, chunks
from sam3_core.model.features import ImageFeatures
from sam3_core.model.predictions import ObjectPrediction
from sam3_core.model.text import TextEncoder
from sam3_core.model.transformers_internals import detect


def exemplar_cxcywh(xyxy: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Exemplar boxes ``(..., 4)`` pixel xyxy as the detector takes them: normalised cxcywh in [0, 1]
    (``scale``: the image's ``[width, height, width, height]``, broadcast), as ``Sam3Processor`` does."""
    xyxy = xyxy / scale
    return torch.cat([(xyxy[..., :2] + xyxy[..., 2:]) / 2, xyxy[..., 2:] - xyxy[..., :2]], dim=-1)


class ConceptDetector:
    """The detector over jobs' text prompts. ``positions``: the FPN position encodings per level-0 map size
    (``ImageEncoder.positions``, filled as images are encoded)."""

    def __init__(
        self, detector: Sam3Model, text: TextEncoder, positions: dict[tuple[int, int], tuple[torch.Tensor, ...]]
    ) -> None:
        self.detector = detector
        self.text = text
        self.positions = positions
        self.device = next(detector.parameters()).device
        self.dtype = next(detector.parameters()).dtype

    def detect(
        self, jobs: Sequence[Job], features: Sequence[ImageFeatures], prompt_batch: int
    ) -> dict[int, list[ObjectPrediction]]:
        """Every (image, text prompt) pair of ``jobs`` (``features[i]``: job i's image) through the detector,
        ``prompt_batch`` pairs per call; the objects of each job (by ``id``), in its prompts' order. Pairs batch
        together when their images' exemplar boxes are as many (none, mostly) and their feature maps the same size,
        so no input needs padding. A job whose cancel event is set fails with ``Cancelled("prompts")`` before its
        next chunk."""
        objects: dict[int, list[ObjectPrediction]] = {id(job): [] for job in jobs}
        groups: dict[tuple, list[tuple[int, str]]] = {}  # (exemplar count, FPN size) -> (job index, prompt) rows
        for index, job in enumerate(jobs):
            if job.work.text_prompts:
                key = (len(job.work.exemplar_boxes), tuple(features[index].detector[0].shape[-2:]))
                groups.setdefault(key, []).extend((index, prompt) for prompt in job.work.text_prompts)
        for rows in groups.values():
            for chunk in chunks(rows, prompt_batch):
                for index in dict.fromkeys(index for index, _ in chunk):
                    if jobs[index].cancelled and not jobs[index].done:
                        jobs[index].fail(Cancelled("prompts"))
                chunk = [(index, prompt) for index, prompt in chunk if not jobs[index].done]
                if chunk:
                    for index, found in self._detect_rows(chunk, jobs, features):
                        objects[id(jobs[index])].append(found)
        return objects

    def _detect_rows(
        self, rows: Sequence[tuple[int, str]], jobs: Sequence[Job], features: Sequence[ImageFeatures]
    ) -> Iterator[tuple[int, ObjectPrediction]]:
        """One detector call over ``rows`` of (job index, text prompt); yields (job index, object) above each job's
        threshold, per row best score first."""
        count = len(rows)
        works = [jobs[index].work for index, _ in rows]
        # Each row's image size as pixel xyxy scale: (count, 4).
        scale = torch.tensor([[w, h, w, h] for w, h in (work.image_size for work in works)], dtype=torch.float32)
        text, text_mask = self.text.embeddings([prompt for _, prompt in rows])
        runs = [(index, len(list(group))) for index, group in itertools.groupby(index for index, _ in rows)]
        levels = len(features[rows[0][0]].detector)
        fpn = [
            torch.cat([features[index].detector[level].expand(n, -1, -1, -1) for index, n in runs])
            if len(runs) > 1
            else features[runs[0][0]].detector[level].expand(count, -1, -1, -1)
            for level in range(levels)
        ]
        positions = [level.expand(count, -1, -1, -1) for level in self.positions[tuple(fpn[0].shape[-2:])]]
        exemplars = {}
        if works[0].exemplar_boxes:
            # Exemplar boxes: pixel xyxy -> normalised cxcywh in [0, 1], as Sam3Processor does: (count, k, 4).
            xyxy = torch.stack([torch.tensor(work.exemplar_boxes, dtype=torch.float32) for work in works])
            exemplars = {
                "input_boxes": exemplar_cxcywh(xyxy, scale[:, None, :]).to(self.device, self.dtype),
                "input_boxes_labels": torch.tensor([work.exemplar_labels for work in works], device=self.device),
            }
        output = detect(self.detector, fpn, positions, text, text_mask, **exemplars)
        # Reference score: sigmoid(logit) * sigmoid(presence), in float32.
        scores = (output.pred_logits.float().sigmoid() * output.presence_logits.float().sigmoid()).cpu()
        boxes = (output.pred_boxes.float().cpu() * scale[:, None, :]).clamp_(min=0)
        boxes = torch.minimum(boxes, scale[:, None, :])
        for row, ((index, prompt), work) in enumerate(zip(rows, works, strict=True)):
            keep = torch.nonzero(scores[row] > work.confidence_threshold).flatten()
            keep = keep[torch.argsort(scores[row, keep], descending=True, stable=True)]
            if keep.numel() == 0:
                continue
            probabilities = output.pred_masks[row, keep.to(self.device)].float().sigmoid()
            for order, query in enumerate(keep.tolist()):
                yield (
                    index,
                    ObjectPrediction(
                        label=prompt,
                        score=float(scores[row, query]),
                        low_res=probabilities[order],
                        threshold=0.5,
                        box=tuple(float(v) for v in boxes[row, query]),
                    ),
                )
