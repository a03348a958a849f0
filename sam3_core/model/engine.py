"""The inference engine: SAM3's detector (concept prompts) and tracker (visual prompts) on one ViT backbone.

The checkpoint stores one ViT (``detector_model.vision_encoder.backbone``); ``Sam3TrackerModel`` maps those same
tensors into its own vision encoder. The engine keeps one copy, runs the ViT once per image, then the detector's
neck and the tracker's neck on its output (as ``Sam3VideoModel`` feeds its tracker). All text prompts of a
request run as one batch (in bounded chunks) over the shared features; visual objects are batched likewise.
A request may bring a cancel event (``sam3_core.cancel``): the engine stops waiting for its lock once it is set,
and looks at it before the ViT and before each prompt chunk or tracker call.

Outputs are low-resolution (288x288 for the real model) per-object maps plus scores; ``postprocess`` upsamples
them to the image size. Coordinates in and out are pixels of the upright image (xyxy for boxes).
"""

from __future__ import annotations

import gc
import itertools
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image
from transformers import Sam3Model, Sam3Processor, Sam3TrackerModel, Sam3TrackerProcessor
from transformers.modeling_outputs import BaseModelOutputWithPooling
from transformers.models.sam3.modeling_sam3 import Sam3VisionEncoderOutput

from sam3_core.cancel import Cancelled, FairLock, check
from sam3_core.model.automatic import (
    CropBox,
    crop_boxes,
    layer_points_per_side,
    map_boxes,
    near_crop_edge,
    point_grid,
    select_across_crops,
    select_masks,
)
from sam3_core.model.batching import BatchQueue, Job
from sam3_core.model.cache import ByteLRUCache
from sam3_core.model.features import ImageEncoder, ImageFeatures
from sam3_core.model.work import Picture, SegmentationWork, VisualObject
from sam3_core.settings import EngineSettings

LOG = logging.getLogger("sam3_core")
MB = 1024 * 1024


@dataclass
class ObjectPrediction:
    """One returned object before upsampling.

    ``low_res``: float32 ``(h, w)`` map on the model device; the full-size mask is
    ``bilinear_resize(low_res, image size) > threshold`` (probabilities vs 0.5 for concepts, as
    ``post_process_instance_segmentation``; logits vs 0.0 for visual objects, as ``post_process_masks``).
    ``box``: pixel xyxy from the detector, or ``None`` (visual objects: taken from the mask).
    ``region``: the integer pixel xyxy box of the image that ``low_res`` covers (a crop of segment-everything:
    the mask is the map resized to the region's size, placed there, off elsewhere), or ``None``: the whole image.
    """

    label: str
    score: float
    low_res: torch.Tensor
    threshold: float
    box: tuple[float, float, float, float] | None = None
    region: tuple[int, int, int, int] | None = None


@dataclass
class Prediction:
    """One image's objects, and what its stages took (``batch_images``: the images of the batch it ran in)."""

    objects: list[ObjectPrediction]
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class _Shared:
    """A job's part of its batch: the image's features and the objects of its concept and visual prompts."""

    features: ImageFeatures
    objects: list[ObjectPrediction]
    timings: dict[str, float]


def _feature_key(picture: Picture) -> tuple:
    """What names a picture's features in the feature cache."""
    return (picture.size, picture.key)


def _chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Sam3Engine:
    """Thread-safe SAM3 inference over shared image features, with LRU caches for features and text."""

    def __init__(
        self,
        detector: Sam3Model,
        tracker: Sam3TrackerModel,
        processor: Sam3Processor,
        tracker_processor: Sam3TrackerProcessor,
        settings: EngineSettings | None = None,
        max_batch_images: int = 16,
    ) -> None:
        """``max_batch_images``: the most images one batch takes (requests waiting meanwhile, or the images of
        one request); 1 runs every image on its own."""
        settings = settings or EngineSettings()
        self.detector = detector.eval()
        self.device = next(detector.parameters()).device
        self.dtype = next(detector.parameters()).dtype
        # One ViT: the tracker's copy is the same checkpoint tensors, so point it at the detector's before moving
        # the tracker to the device (its own copy is never read from disk nor copied to the GPU).
        tracker.vision_encoder.backbone = self.detector.vision_encoder.backbone
        self.tracker = tracker.to(self.device).eval()
        self.processor = processor
        self.tracker_processor = tracker_processor
        self.max_text_tokens = min(32, detector.config.text_config.max_position_embeddings)
        self.prompt_batch = settings.prompt_batch or (32 if self.device.type == "cuda" else 8)
        self.feature_cache: ByteLRUCache[ImageFeatures] = ByteLRUCache(settings.feature_cache_mb * MB)
        self.text_cache: ByteLRUCache[tuple[torch.Tensor, torch.Tensor]] = ByteLRUCache(settings.text_cache_mb * MB)
        if settings.compile:
            # The ViT always sees the same input shape; the detector's DETR encoder, decoder and mask decoder are
            # many small kernels on a GPU, which compiling fuses. Compiled during warm-up (and once more per new
            # prompt batch size).
            detector = self.detector
            detector.vision_encoder.backbone = torch.compile(detector.vision_encoder.backbone)
            for name in ("detr_encoder", "detr_decoder", "mask_decoder"):
                setattr(detector, name, torch.compile(getattr(detector, name)))
        vit_batch = settings.vit_batch or (8 if self.device.type == "cuda" else 2)
        self.encoder = ImageEncoder(self.detector, self.tracker, processor, vit_batch)
        self._lock = FairLock()
        # Requests waiting for the engine, run together (``batches.max_images = 1``: every image on its own).
        self.batches = BatchQueue(self._lock, self._run_batch, max_batch_images)
        self.directory: Path | None = None  # the checkpoint directory, when loaded from one (video tracking reads it)

    @classmethod
    def from_directory(
        cls,
        directory: str | Path,
        device: torch.device,
        dtype: torch.dtype,
        settings: EngineSettings | None = None,
        max_batch_images: int = 16,
    ) -> Sam3Engine:
        """Load detector, tracker and both processors from one ``facebook/sam3``-layout directory."""
        detector = Sam3Model.from_pretrained(directory, dtype=dtype).to(device)
        tracker = Sam3TrackerModel.from_pretrained(directory, dtype=dtype)  # moved to the device in __init__
        processor = Sam3Processor.from_pretrained(directory)
        tracker_processor = Sam3TrackerProcessor.from_pretrained(directory)
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        engine = cls(detector, tracker, processor, tracker_processor, settings, max_batch_images)
        engine.directory = Path(directory)
        return engine

    # ---- public API -------------------------------------------------------------------------------------

    def predict(self, work: SegmentationWork, cancel: threading.Event | None = None) -> Prediction:
        """Run every prompt of ``work`` (see ``predict_many``)."""
        return self.predict_many([work], cancel)[0]

    def predict_many(
        self, works: Sequence[SegmentationWork], cancel: threading.Event | None = None
    ) -> list[Prediction]:
        """Run every prompt of each work (text prompts in order, then visual objects: ``SegmentationWork``); one
        ``Prediction`` per work, in order.

        The images run as one batch with whatever other requests are waiting for the engine (``model.batching``):
        one ViT pass over the images not in the feature cache, the detector over every (image, text prompt)
        pair, visual prompts per image. Segment-everything then takes the engine per chunk of grid points, so
        requests that arrive meanwhile are not held for its whole duration. Once ``cancel`` is set, raise
        ``Cancelled`` at the next stage (or while waiting for the engine). The first failed work's error is raised.
        """
        self._decode_uncached([work.image for work in works])
        jobs = self.batches.run(works, cancel)
        for job in jobs:
            if job.error is not None:
                raise job.error
        predictions = []
        for work, job in zip(works, jobs, strict=True):
            shared: _Shared = job.result
            objects, timings = shared.objects, dict(shared.timings)
            if work.automatic:
                started = time.perf_counter()
                with torch.inference_mode():
                    objects = objects + self._automatic(shared.features, work, cancel)
                timings["prompts_ms"] += (time.perf_counter() - started) * 1000.0
            if len(objects) > work.max_objects:
                # Keep the highest scores (before any upsampling), in the documented order.
                ranked = sorted(range(len(objects)), key=lambda index: -objects[index].score)
                kept = set(ranked[: work.max_objects])
                objects = [obj for index, obj in enumerate(objects) if index in kept]
            predictions.append(Prediction(objects, timings))
        return predictions

    def synchronize(self) -> None:
        """Wait for the device's queued work (a no-op on the CPU)."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def turn(self, cancel: threading.Event | None, stage: str) -> AbstractContextManager[None]:
        """The engine's lock, for one step of a longer job (a video frame): requests take it in arrival order;
        while waiting, ``Cancelled(stage)`` once ``cancel`` is set."""
        return self._lock.held(cancel, stage)

    def release_memory(self) -> None:
        """Drop cached features and text embeddings and return freed GPU memory (after an out-of-memory error)."""
        self.feature_cache.clear()
        self.text_cache.clear()
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def warm_up(self) -> None:
        """One small inference through every stage, so the first real request is not the slow one."""
        image = Image.new("RGB", (64, 48), (127, 127, 127))
        visual = VisualObject(points=((32.0, 24.0),), point_labels=(1,))
        work = SegmentationWork(image=Picture.of(image), text_prompts=("warm up",), visual_objects=(visual,))
        self.predict(work)
        self.feature_cache.clear()

    # ---- batches ----------------------------------------------------------------------------------------

    def _decode_uncached(self, pictures: Sequence[Picture]) -> None:
        """Decode the pictures that will reach the ViT, in parallel and before waiting for the engine."""
        undecoded = [picture for picture in pictures if picture.image is None and not self._cached(picture)]
        if len(undecoded) == 1:
            undecoded[0].pixels()
        elif undecoded:
            with ThreadPoolExecutor(min(len(undecoded), 8)) as pool:
                list(pool.map(Picture.pixels, undecoded))

    def _cached(self, picture: Picture) -> bool:
        return _feature_key(picture) in self.feature_cache

    def _run_batch(self, jobs: list[Job]) -> None:
        """Run ``jobs`` together (the engine is held); if that fails, each on its own, so that one job's fault
        (out of memory included) fails that job only."""
        try:
            self._run_together(jobs)
            return
        except Exception as error:  # noqa: BLE001 - the job's error, raised in its caller's thread
            if len(jobs) == 1:
                jobs[0].fail(error)
                return
            LOG.warning("a batch of %d images failed (%s); running them one by one", len(jobs), type(error).__name__)
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        for job in jobs:
            if not job.done:
                self._run_batch([job])

    def _run_together(self, jobs: list[Job]) -> None:
        """One batch: features (cache hits skip the ViT), concept prompts over every (image, prompt) pair, visual
        prompts per image. A job whose cancel event is set is dropped at the next stage with ``Cancelled``."""
        with torch.inference_mode():
            for job in jobs:
                if job.cancelled:
                    job.fail(Cancelled("backbone"))
            live = [job for job in jobs if not job.done]
            started = time.perf_counter()
            queued_ms = {id(job): (started - job.queued_at) * 1000.0 for job in live}
            features, hits = self._batch_features([job.work.image for job in live])
            backbone_ms = (time.perf_counter() - started) * 1000.0
            started = time.perf_counter()
            objects = self._concepts(live, features)
            for job, job_features in zip(live, features, strict=True):
                if not job.done and not job.work.automatic:
                    try:
                        objects[id(job)] += self._visual(job_features, job.work, job.cancel)
                    except Cancelled as stop:
                        job.fail(stop)
            self.synchronize()
            prompts_ms = (time.perf_counter() - started) * 1000.0
        for job, job_features, hit in zip(live, features, hits, strict=True):
            if job.done:  # cancelled meanwhile
                continue
            timings = {
                "queue_ms": queued_ms[id(job)],
                "backbone_ms": backbone_ms,
                "cache_hit": hit,
                "prompts_ms": prompts_ms,
                "batch_images": len(live),
            }
            job.finish(_Shared(job_features, objects[id(job)], timings))

    def _batch_features(self, pictures: Sequence[Picture]) -> tuple[list[ImageFeatures], list[bool]]:
        """Each picture's features, from the cache or from one ViT pass over the pictures missing from it (a
        picture twice in the batch runs once), and whether each was a cache hit."""
        keys = [_feature_key(picture) for picture in pictures]
        found = {key: self.feature_cache.get(key) for key in dict.fromkeys(keys)}
        hits = [found[key] is not None for key in keys]
        missing = {key: picture for key, picture in zip(keys, pictures, strict=True) if found[key] is None}
        if missing:
            computed = self.compute_features([picture.pixels() for picture in missing.values()])
            for key, value in zip(missing, computed, strict=True):
                found[key] = value
                self.feature_cache.put(key, value)
        return [found[key] for key in keys], hits

    def compute_features(self, images: Sequence[Image.Image]) -> list[ImageFeatures]:
        """ViT, then the detector neck and the tracker neck (+ its mask-decoder projections), per image; the
        images run in batches of ``encoder.chunk``."""
        return self.encoder.encode(images)

    def compute_image_features(self, image: Image.Image) -> ImageFeatures:
        """One image's features (a crop of segment-everything, a probe)."""
        return self.compute_features([image])[0]

    # ---- concept prompts (Sam3Model) --------------------------------------------------------------------

    def token_counts(self, prompts: Sequence[str]) -> list[int]:
        """Tokens of each prompt as the text encoder reads them (it reads at most ``max_text_tokens``)."""
        return [len(self.processor.tokenizer(prompt)["input_ids"]) for prompt in prompts]

    def _text_embeddings(self, prompts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(n, 32, D)`` projected text features and their ``(n, 32)`` attention mask, cached per prompt."""
        found = {prompt: self.text_cache.get(prompt) for prompt in dict.fromkeys(prompts)}
        missing = [prompt for prompt, value in found.items() if value is None]
        if missing:
            tokens = self.processor.tokenizer(
                missing, padding="max_length", max_length=self.max_text_tokens, return_tensors="pt"
            ).to(self.device)
            pooled = self.detector.get_text_features(**tokens).pooler_output
            for index, prompt in enumerate(missing):
                # Copies: a row of the batch would keep the whole batch alive in the cache.
                found[prompt] = (pooled[index].clone(), tokens["attention_mask"][index].clone())
                self.text_cache.put(prompt, found[prompt])
        features = torch.stack([found[prompt][0] for prompt in prompts])
        masks = torch.stack([found[prompt][1] for prompt in prompts])
        return features, masks

    def _concepts(self, jobs: Sequence[Job], features: Sequence[ImageFeatures]) -> dict[int, list[ObjectPrediction]]:
        """Every (image, text prompt) pair of ``jobs`` through the detector, ``prompt_batch`` pairs per call; the
        objects of each job (by ``id``), in its prompts' order. Pairs batch together when their images' exemplar
        boxes are as many (none, mostly) and their feature maps the same size, so no input needs padding."""
        objects: dict[int, list[ObjectPrediction]] = {id(job): [] for job in jobs}
        groups: dict[tuple, list[tuple[int, str]]] = {}  # (exemplar count, FPN size) -> (job index, prompt) rows
        for index, job in enumerate(jobs):
            if job.work.text_prompts:
                key = (len(job.work.exemplar_boxes), tuple(features[index].detector[0].shape[-2:]))
                groups.setdefault(key, []).extend((index, prompt) for prompt in job.work.text_prompts)
        for rows in groups.values():
            for chunk in _chunks(rows, self.prompt_batch):
                for index in dict.fromkeys(index for index, _ in chunk):
                    if jobs[index].cancelled and not jobs[index].done:
                        jobs[index].fail(Cancelled("prompts"))
                chunk = [(index, prompt) for index, prompt in chunk if not jobs[index].done]
                if chunk:
                    for index, found in self._detect(chunk, jobs, features):
                        objects[id(jobs[index])].append(found)
        return objects

    def _detect(
        self, rows: Sequence[tuple[int, str]], jobs: Sequence[Job], features: Sequence[ImageFeatures]
    ) -> Iterator[tuple[int, ObjectPrediction]]:
        """One detector call over ``rows`` of (job index, text prompt); yields (job index, object) above each job's
        threshold, per row best score first."""
        count = len(rows)
        works = [jobs[index].work for index, _ in rows]
        # Each row's image size as pixel xyxy scale: (count, 4).
        scale = torch.tensor([[w, h, w, h] for w, h in (work.image_size for work in works)], dtype=torch.float32)
        text, text_mask = self._text_embeddings([prompt for _, prompt in rows])
        runs = [(index, len(list(group))) for index, group in itertools.groupby(index for index, _ in rows)]
        levels = len(features[rows[0][0]].detector)
        fpn = [
            torch.cat([features[index].detector[level].expand(n, -1, -1, -1) for index, n in runs])
            if len(runs) > 1
            else features[runs[0][0]].detector[level].expand(count, -1, -1, -1)
            for level in range(levels)
        ]
        positions = self.encoder.positions[tuple(fpn[0].shape[-2:])]
        vision = Sam3VisionEncoderOutput(
            fpn_hidden_states=fpn,
            fpn_position_encoding=[level.expand(count, -1, -1, -1) for level in positions],
        )
        exemplars = {}
        if works[0].exemplar_boxes:
            # Exemplar boxes: pixel xyxy -> normalised cxcywh in [0, 1], as Sam3Processor does: (count, k, 4).
            xyxy = torch.stack([torch.tensor(work.exemplar_boxes, dtype=torch.float32) for work in works])
            xyxy = xyxy / scale[:, None, :]
            cxcywh = torch.cat([(xyxy[..., :2] + xyxy[..., 2:]) / 2, xyxy[..., 2:] - xyxy[..., :2]], dim=-1)
            exemplars = {
                "input_boxes": cxcywh.to(self.device, self.dtype),
                "input_boxes_labels": torch.tensor([work.exemplar_labels for work in works], device=self.device),
            }
        output = self.detector(
            vision_embeds=vision,
            text_embeds=BaseModelOutputWithPooling(pooler_output=text),
            attention_mask=text_mask,
            **exemplars,
        )
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

    # ---- visual prompts (Sam3TrackerModel) --------------------------------------------------------------

    def _visual(
        self, features: ImageFeatures, work: SegmentationWork, cancel: threading.Event | None
    ) -> list[ObjectPrediction]:
        objects = work.visual_objects
        if not objects:
            return []
        width, height = work.image_size
        call = {"features": features, "size": (height, width), "multimask": work.multimask_output, "cancel": cancel}
        # Box-only objects share one batched call; an object with points (at most one) gets its own.
        box_only = [index for index, obj in enumerate(objects) if not obj.points]
        masks_of: dict[int, list[ObjectPrediction]] = {}  # object index -> its masks
        if box_only:
            batched = self._track(**call, boxes=[[list(objects[index].box) for index in box_only]])
            masks_of.update(zip(box_only, batched, strict=True))
        for index, obj in enumerate(objects):
            if obj.points:
                [masks_of[index]] = self._track(
                    **call,
                    points=[[[list(point) for point in obj.points]]],
                    labels=[[list(obj.point_labels)]],
                    boxes=[[list(obj.box)]] if obj.box else None,
                )
        threshold = work.confidence_threshold
        return [mask for index in range(len(objects)) for mask in masks_of[index] if mask.score > threshold]

    def _automatic(
        self, features: ImageFeatures, work: SegmentationWork, cancel: threading.Event | None
    ) -> list[ObjectPrediction]:
        """Segment everything (``sam3_core.model.automatic``, options in ``work.automatic``): a grid of single-point
        objects, SAM's 3 candidates each above the confidence threshold, then large enough and stable masks after
        box NMS, on the whole image (``features``) and on each crop of ``crop_n_layers`` (its own ViT run), then
        box NMS across crops preferring smaller crops. Takes the engine once per crop's ViT run and once per chunk
        of 64 points (the caller does not hold it).

        A crop's features are not put in the feature cache: they serve this request only, and would otherwise
        evict whole images (what interactive requests reuse) to hold entries that no other request asks for."""
        options = work.automatic
        width, height = work.image_size
        crops = crop_boxes(width, height, options.crop_n_layers, options.crop_overlap_ratio)
        sides = layer_points_per_side(
            options.points_per_side, options.crop_n_layers, options.crop_n_points_downscale_factor
        )
        kept: list[ObjectPrediction] = []
        for crop, layer in crops:
            if layer == 0:
                kept += self._automatic_crop(features, None, sides[0], work, cancel)
                continue
            check(cancel, "automatic")
            picture = work.image.pixels().crop(crop)  # decoded and cut outside the engine's lock
            with self._lock.held(cancel, "automatic"):
                check(cancel, "backbone")
                crop_features = self.compute_image_features(picture)
            kept += self._automatic_crop(crop_features, crop, sides[layer], work, cancel)
            del crop_features
        if len(crops) == 1 or not kept:
            return kept
        regions = [obj.region or (0, 0, width, height) for obj in kept]
        boxes = torch.cat([map_boxes(obj.low_res[None], region) for obj, region in zip(kept, regions, strict=True)])
        areas = torch.tensor([(x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in regions], dtype=torch.float32)
        scores = torch.tensor([obj.score for obj in kept])
        return [kept[index] for index in select_across_crops(boxes, areas, scores, options.crop_nms_thresh)]

    def _automatic_crop(
        self,
        features: ImageFeatures,
        crop: CropBox | None,
        points_per_side: int,
        work: SegmentationWork,
        cancel: threading.Event | None,
    ) -> list[ObjectPrediction]:
        """Segment everything on one crop (pixel xyxy; None: the whole image) whose tracker features are
        ``features``: its grid, its candidates above the confidence threshold, those not cut off by a crop edge,
        then ``select_masks`` as on the whole image. Masks of a crop carry it as their ``region``."""
        options = work.automatic
        width, height = work.image_size
        x0, y0, x1, y1 = crop or (0, 0, width, height)
        crop_w, crop_h = x1 - x0, y1 - y0
        grid = point_grid(crop_w, crop_h, points_per_side)
        candidates: list[ObjectPrediction] = []
        for chunk in _chunks(grid, 64):
            with self._lock.held(cancel, "automatic"):
                candidates += [
                    mask
                    for masks in self._track(
                        features,
                        (crop_h, crop_w),
                        multimask=True,
                        cancel=cancel,
                        points=[[[point] for point in chunk]],
                        labels=[[[1] for _ in chunk]],
                    )
                    for mask in masks
                    if mask.score > work.confidence_threshold
                ]
                self.synchronize()
        if candidates and crop is not None:
            for mask in candidates:
                mask.region = crop
            boxes = map_boxes(torch.stack([mask.low_res for mask in candidates]), crop)
            cut = near_crop_edge(boxes, crop, width, height).tolist()
            candidates = [mask for mask, dropped in zip(candidates, cut, strict=True) if not dropped]
        if not candidates:
            return []
        logits = torch.stack([mask.low_res for mask in candidates])
        min_pixels = options.min_area * logits.shape[-2] * logits.shape[-1] / (crop_w * crop_h)
        scores = torch.tensor([mask.score for mask in candidates])
        chosen = select_masks(logits, scores, options.stability_score_thresh, options.box_nms_thresh, min_pixels)
        for index in chosen:
            # A copy: the view would keep its whole chunk's output alive (64 points x 3 maps), for every crop.
            candidates[index].low_res = candidates[index].low_res.clone()
        return [candidates[index] for index in chosen]

    def _track(
        self,
        features: ImageFeatures,
        size: tuple[int, int],
        multimask: bool,
        cancel: threading.Event | None,
        points: list | None = None,
        labels: list | None = None,
        boxes: list | None = None,
    ) -> list[list[ObjectPrediction]]:
        """One tracker call over ``size`` = (height, width); per object, its masks best predicted IoU first."""
        check(cancel, "prompts")
        prompt = self.tracker_processor(
            original_sizes=[list(size)],
            input_points=points,
            input_labels=labels,
            input_boxes=boxes,
            return_tensors="pt",
        )
        inputs = {
            name: prompt[name].to(self.device, self.dtype if prompt[name].is_floating_point() else None)
            for name in ("input_points", "input_labels", "input_boxes")
            if name in prompt
        }
        output = self.tracker(image_embeddings=features.tracker, multimask_output=multimask, **inputs)
        scores = output.iou_scores[0].float().cpu()  # (objects, masks)
        per_object = []
        for index in range(scores.shape[0]):
            order = torch.argsort(scores[index], descending=True, stable=True).tolist()
            per_object.append(
                [
                    ObjectPrediction("visual", float(scores[index, m]), output.pred_masks[0, index, m].float(), 0.0)
                    for m in order
                ]
            )
        return per_object
