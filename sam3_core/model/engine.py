"""The inference engine: SAM3's detector (concept prompts) and tracker (visual prompts) on one ViT backbone.

The checkpoint stores one ViT (``detector_model.vision_encoder.backbone``); ``Sam3TrackerModel`` maps those same
tensors into its own vision encoder. The engine keeps one copy, runs the ViT once per image, then the detector's
neck and the tracker's neck on its output (as ``Sam3VideoModel`` feeds its tracker: ``model.features``). All text
prompts of a request run as one batch (in bounded chunks) over the shared features (``model.concepts``); visual
objects are batched likewise (``model.visual``); segment-everything runs after the batch (``model.generator``).
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
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from transformers import Sam3Model, Sam3Processor, Sam3TrackerModel, Sam3TrackerProcessor, Sam3VideoConfig

from sam3_core.cancel import Cancelled, FairLock
from sam3_core.model.batching import BatchQueue, Job
from sam3_core.model.cache import ByteLRUCache
from sam3_core.model.checkpoint_tensors import require_complete
from sam3_core.model.concepts import ConceptDetector
from sam3_core.model.features import ImageEncoder, ImageFeatures, cached_features, feature_key
from sam3_core.model.generator import AutomaticMaskGenerator
from sam3_core.model.predictions import ObjectPrediction, Prediction
from sam3_core.model.text import TextEncoder
from sam3_core.model.transformers_internals import compile_detector, share_vit
from sam3_core.model.turns import EngineTurns
from sam3_core.model.visual import VisualPrompter
from sam3_core.model.work import Picture, SegmentationWork, VisualObject
from sam3_core.settings import EngineSettings

__all__ = ["ObjectPrediction", "Prediction", "Sam3Engine"]

LOG = logging.getLogger("sam3_core")
MB = 1024 * 1024


@dataclass
class _Shared:
    """A job's part of its batch: the image's features and the objects of its concept and visual prompts."""

    features: ImageFeatures
    objects: list[ObjectPrediction]
    timings: dict[str, float]


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
        share_vit(self.detector, tracker)
        self.tracker = tracker.to(self.device).eval()
        self.processor = processor
        self.tracker_processor = tracker_processor
        self.prompt_batch = settings.prompt_batch or (32 if self.device.type == "cuda" else 8)
        self.feature_cache: ByteLRUCache[ImageFeatures] = ByteLRUCache(settings.feature_cache_mb * MB)
        self.text_cache: ByteLRUCache[tuple[torch.Tensor, torch.Tensor]] = ByteLRUCache(settings.text_cache_mb * MB)
        if settings.compile:
            # Compiled during warm-up (and once more per new prompt batch size).
            compile_detector(self.detector)
        vit_batch = settings.vit_batch or (8 if self.device.type == "cuda" else 2)
        self.encoder = ImageEncoder(self.detector, self.tracker, processor, vit_batch)
        self.text = TextEncoder(self.detector, processor, self.text_cache)
        self.max_text_tokens = self.text.max_tokens
        self.concepts = ConceptDetector(self.detector, self.text, self.encoder.positions)
        self.visual = VisualPrompter(self.tracker, tracker_processor, self.device, self.dtype)
        self._lock = FairLock()
        # Long jobs (segment-everything, video frames) take the engine one step at a time.
        self.turns = EngineTurns(self._lock, self.device)
        self.automatic = AutomaticMaskGenerator(self.encoder, self.visual, self.turns)
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
        """Load detector, tracker and both processors from one ``facebook/sam3``-layout directory; raise
        ``IncompleteCheckpoint`` when it lacks a tensor the detector, the tracker or the video tracker reads."""
        # The checkpoint's config is a Sam3VideoConfig: each model takes its part of it (given as is, transformers
        # does not warn that a sam3_video config instantiates a sam3_tracker).
        config = Sam3VideoConfig.from_pretrained(directory)
        load = {"config": config, "dtype": dtype, "output_loading_info": True}
        detector, detector_info = Sam3Model.from_pretrained(directory, **load)
        tracker, tracker_info = Sam3TrackerModel.from_pretrained(directory, **load)
        require_complete(directory, config, {"detector": detector_info, "tracker": tracker_info})
        detector = detector.to(device)  # the tracker is moved in __init__, its ViT shared with the detector's
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
                    objects = objects + self.automatic.generate(shared.features, work, cancel)
                timings["prompts_ms"] += (time.perf_counter() - started) * 1000.0
            if len(objects) > work.max_objects:
                # Keep the highest scores (before any upsampling), in the documented order.
                ranked = sorted(range(len(objects)), key=lambda index: -objects[index].score)
                kept = set(ranked[: work.max_objects])
                objects = [obj for index, obj in enumerate(objects) if index in kept]
            predictions.append(Prediction(objects, timings))
        return predictions

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
        return feature_key(picture) in self.feature_cache

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
            pictures = [job.work.image for job in live]
            features, hits = cached_features(self.feature_cache, pictures, self.compute_features)
            backbone_ms = (time.perf_counter() - started) * 1000.0
            started = time.perf_counter()
            objects = self.concepts.detect(live, features, self.prompt_batch)
            for job, job_features in zip(live, features, strict=True):
                if not job.done and not job.work.automatic:
                    try:
                        objects[id(job)] += self.visual.objects(job_features, job.work, job.cancel)
                    except Cancelled as stop:
                        job.fail(stop)
            self.turns.synchronize()
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

    def compute_features(self, images: Sequence[Image.Image]) -> list[ImageFeatures]:
        """ViT, then the detector neck and the tracker neck (+ its mask-decoder projections), per image; the
        images run in batches of ``encoder.chunk``."""
        return self.encoder.encode(images)

    def token_counts(self, prompts: Sequence[str]) -> list[int]:
        """Tokens of each prompt as the text encoder reads them (it reads at most ``max_text_tokens``)."""
        return self.text.token_counts(prompts)
