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
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image
from transformers import Sam3Model, Sam3Processor, Sam3TrackerModel, Sam3TrackerProcessor
from transformers.modeling_outputs import BaseModelOutputWithPooling
from transformers.models.sam3.modeling_sam3 import Sam3VisionEncoderOutput

from sam3_core.cancel import FairLock, check
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
from sam3_core.model.cache import ByteLRUCache
from sam3_core.model.work import Picture, SegmentationWork, VisualObject
from sam3_core.settings import EngineSettings

LOG = logging.getLogger("sam3_core")
MB = 1024 * 1024


@dataclass
class ImageFeatures:
    """One image through the ViT and both necks (batch dimension 1, model device and dtype).

    ``detector``: the FPN maps ``Sam3Model`` reads, ``(1, 256, s, s)`` with s = 288/144/72/36 for the real model
    (their sine position encodings depend on the shape alone, so the engine keeps one copy of those).
    ``tracker``: the image embeddings ``Sam3TrackerModel.forward(image_embeddings=...)`` expects.
    """

    detector: tuple[torch.Tensor, ...]
    tracker: list[torch.Tensor]


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
    objects: list[ObjectPrediction]
    timings: dict[str, float] = field(default_factory=dict)


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
    ) -> None:
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
        self._positions: dict[tuple[int, int], tuple[torch.Tensor, ...]] = {}  # FPN level-0 size -> encodings
        self._lock = FairLock()
        self.directory: Path | None = None  # the checkpoint directory, when loaded from one (video tracking reads it)

    @classmethod
    def from_directory(
        cls, directory: str | Path, device: torch.device, dtype: torch.dtype, settings: EngineSettings | None = None
    ) -> Sam3Engine:
        """Load detector, tracker and both processors from one ``facebook/sam3``-layout directory."""
        detector = Sam3Model.from_pretrained(directory, dtype=dtype).to(device)
        tracker = Sam3TrackerModel.from_pretrained(directory, dtype=dtype)  # moved to the device in __init__
        processor = Sam3Processor.from_pretrained(directory)
        tracker_processor = Sam3TrackerProcessor.from_pretrained(directory)
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        engine = cls(detector, tracker, processor, tracker_processor, settings)
        engine.directory = Path(directory)
        return engine

    # ---- public API -------------------------------------------------------------------------------------

    def predict(self, work: SegmentationWork, cancel: threading.Event | None = None) -> Prediction:
        """Run every prompt of ``work``: text prompts in order, then visual objects (see ``SegmentationWork``).
        Once ``cancel`` is set, raise ``Cancelled`` at the next stage (or while waiting for another request).
        The engine runs one request at a time, in arrival order; segment-everything takes its turn per chunk of
        grid points, so requests that arrive meanwhile are not held for its whole duration."""
        timings: dict[str, float] = {}
        with self._lock.held(cancel, "engine"), torch.inference_mode():
            check(cancel, "backbone")
            started = time.perf_counter()
            features, hit = self._image_features(work.image)
            timings["backbone_ms"] = (time.perf_counter() - started) * 1000.0
            timings["cache_hit"] = hit
            started = time.perf_counter()
            objects: list[ObjectPrediction] = []
            if work.text_prompts:
                objects += self._concepts(features, work, cancel)
            if not work.automatic:
                objects += self._visual(features, work, cancel)
            self.synchronize()
        if work.automatic:
            with torch.inference_mode():
                objects += self._automatic(features, work, cancel)
        timings["prompts_ms"] = (time.perf_counter() - started) * 1000.0
        if len(objects) > work.max_objects:
            # Keep the highest scores (before any upsampling), in the documented order.
            ranked = sorted(range(len(objects)), key=lambda index: -objects[index].score)
            kept = set(ranked[: work.max_objects])
            objects = [obj for index, obj in enumerate(objects) if index in kept]
        return Prediction(objects, timings)

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

    # ---- image features ---------------------------------------------------------------------------------

    def _image_features(self, picture: Picture) -> tuple[ImageFeatures, bool]:
        key = (picture.size, picture.key)
        cached = self.feature_cache.get(key)
        if cached is not None:
            return cached, True
        features = self.compute_image_features(picture.pixels())
        self.feature_cache.put(key, features)
        return features, False

    def compute_image_features(self, image: Image.Image) -> ImageFeatures:
        """ViT once, then the detector neck and the tracker neck (+ its mask-decoder projections)."""
        # Resized and normalised on the model's device (a 12 MP picture is 36 MB of uint8 to move, then GPU work).
        processed = self.processor.image_processor(images=image, return_tensors="pt", device=self.device)
        pixel_values = processed.pixel_values.to(self.device, self.dtype)
        vision = self.detector.vision_encoder
        hidden = vision.backbone(pixel_values).last_hidden_state  # (1, H/14 * W/14, C)
        patch = vision.config.backbone_config.patch_size
        height, width = pixel_values.shape[-2] // patch, pixel_values.shape[-1] // patch
        spatial = hidden.view(1, height, width, -1).permute(0, 3, 1, 2)  # (1, C, H/14, W/14)
        detector_maps, detector_positions = vision.neck(spatial)
        tracker_maps, _ = self.tracker.vision_encoder.neck(spatial)
        # Same steps as Sam3TrackerModel.get_image_features + forward: project levels 0/1 for the SAM decoder,
        # add the "no memory" embedding to the last level, keep as many levels as backbone_feature_sizes.
        maps = list(tracker_maps)
        maps[0] = self.tracker.mask_decoder.conv_s0(maps[0])
        maps[1] = self.tracker.mask_decoder.conv_s1(maps[1])
        maps[-1] = maps[-1] + self.tracker.no_memory_embedding.view(1, -1, 1, 1)
        tracker_embeddings = maps[: len(self.tracker.backbone_feature_sizes)]
        self._positions.setdefault(tuple(detector_maps[0].shape[-2:]), tuple(detector_positions))
        return ImageFeatures(detector=tuple(detector_maps), tracker=tracker_embeddings)

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

    def _concepts(
        self, features: ImageFeatures, work: SegmentationWork, cancel: threading.Event | None
    ) -> list[ObjectPrediction]:
        width, height = work.image_size
        scale = torch.tensor([width, height, width, height], dtype=torch.float32)
        exemplars = {}
        if work.exemplar_boxes:
            # Exemplar boxes: pixel xyxy -> normalised cxcywh in [0, 1], as Sam3Processor does.
            xyxy = torch.tensor(work.exemplar_boxes, dtype=torch.float32) / scale
            cxcywh = torch.cat([(xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]], dim=-1)
            exemplars = {
                "input_boxes": cxcywh.to(self.device, self.dtype)[None],
                "input_boxes_labels": torch.tensor(work.exemplar_labels, device=self.device)[None],
            }
        objects = []
        for prompts in _chunks(work.text_prompts, self.prompt_batch):
            check(cancel, "prompts")
            count = len(prompts)
            text, text_mask = self._text_embeddings(prompts)
            positions = self._positions[tuple(features.detector[0].shape[-2:])]
            vision = Sam3VisionEncoderOutput(
                fpn_hidden_states=[level.expand(count, -1, -1, -1) for level in features.detector],
                fpn_position_encoding=[level.expand(count, -1, -1, -1) for level in positions],
            )
            batch_exemplars = {name: value.expand(count, *value.shape[1:]) for name, value in exemplars.items()}
            output = self.detector(
                vision_embeds=vision,
                text_embeds=BaseModelOutputWithPooling(pooler_output=text),
                attention_mask=text_mask,
                **batch_exemplars,
            )
            # Reference score: sigmoid(logit) * sigmoid(presence), in float32.
            scores = (output.pred_logits.float().sigmoid() * output.presence_logits.float().sigmoid()).cpu()
            boxes = (output.pred_boxes.float().cpu() * scale).clamp_(min=0)
            boxes = torch.minimum(boxes, scale)
            for row, prompt in enumerate(prompts):
                keep = torch.nonzero(scores[row] > work.confidence_threshold).flatten()
                keep = keep[torch.argsort(scores[row, keep], descending=True, stable=True)]
                if keep.numel() == 0:
                    continue
                probabilities = output.pred_masks[row, keep.to(self.device)].float().sigmoid()
                for index, query in enumerate(keep.tolist()):
                    objects.append(
                        ObjectPrediction(
                            label=prompt,
                            score=float(scores[row, query]),
                            low_res=probabilities[index],
                            threshold=0.5,
                            box=tuple(float(v) for v in boxes[row, query]),
                        )
                    )
        return objects

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
