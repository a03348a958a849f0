"""Concept tracking through a video: ``Sam3VideoModel`` on the engine's own detector and tracker weights.

``Sam3VideoModel`` is the image detector (``Sam3Model``), a tracker with memory (``Sam3TrackerVideoModel``) and a
tracker neck. The engine already holds the detector, the tracker neck and the tracker's prompt encoder and mask
decoder (the same checkpoint tensors), so the video model is assembled around them on first use: built on the
meta device, its detector and neck replaced by the engine's modules, its tracker built and read from the checkpoint
(the tracker's tensors only), then the tracker's prompt encoder and mask decoder replaced by the engine's: what is
new in memory is the tracker's memory attention, memory encoder and object pointer layers.

Frames are fed one at a time through the transformers streaming API (``Sam3VideoModel.forward(frame=...)``), as
they are decoded; each frame takes the engine's lock on its own (``cancel.FairLock``), so image requests that
arrive meanwhile wait for one frame, not the whole video, and the cancel event is looked at between frames. The
session keeps the current frame and the tracker memories the model reads (the last ``memory_horizon`` frames and
the conditioning frames), so memory does not grow with the length of the video. In streaming mode transformers
does not apply its "hotstart" removal of objects that fail to persist over the first frames (it needs future
frames); objects are reported from the first frame they are detected on.

Coordinates: pixels of the frame, origin top-left; boxes ``(x1, y1, x2, y2)`` with exclusive x2/y2.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from transformers import Sam3VideoConfig, Sam3VideoModel, Sam3VideoProcessor

from sam3_core.cancel import check
from sam3_core.media.video_io import Frame
from sam3_core.model.checkpoint_tensors import weight_files
from sam3_core.model.engine import Sam3Engine
from sam3_core.model.transformers_internals import (
    Sam2VideoVideoProcessor,
    fit_video_model,
    forget_before,
    frame_detector_prompts,
    memory_horizon,
    new_video_tracker,
    set_frame_thresholds,
    use_video_postprocessing,
)
from sam3_core.model.video_postprocess import CvUtils, mask_iou


@dataclass(frozen=True)
class SessionOptions:
    """Detection options of a video pass: a detection counts above ``confidence_threshold``, starts a new object
    above ``new_object_threshold`` (``None``: the checkpoint's), at most ``max_objects`` tracked at once."""

    confidence_threshold: float = 0.5
    new_object_threshold: float | None = None
    max_objects: int = 100


@dataclass(frozen=True)
class VideoWork:
    """What the tracker runs over a video.

    ``confidence_threshold``: a detection counts above it (the model's ``score_threshold_detection``, 0.5 for
    ``facebook/sam3``). ``new_object_threshold``: a detection not matched to a tracked object starts a new one
    above it (``new_det_thresh``; ``None``: the checkpoint's, 0.7). ``max_objects``: at most this many objects are
    tracked at once.
    """

    text_prompts: tuple[str, ...]
    confidence_threshold: float = 0.5
    new_object_threshold: float | None = None
    max_objects: int = 100

    @property
    def options(self) -> SessionOptions:
        return SessionOptions(self.confidence_threshold, self.new_object_threshold, self.max_objects)


@dataclass
class FrameObjects:
    """The objects visible on one frame, in increasing ``object_ids`` order.

    ``labels``: the text prompt that found each object (``"visual"`` for visual prompts, ``video_visual``).
    ``scores``: detection score of each object (float; for visual prompts the tracker's presence score).
    ``masks``: ``(n, height, width)`` bool on the CPU at the frame's size (no two objects of one prompt overlap).
    ``boxes``: ``(n, 4)`` float pixel xyxy, x2/y2 exclusive: each object's extent before the masks of one prompt
    are made not to overlap (as the reference reports it), so an object covered by another keeps its box.
    """

    frame: Frame
    object_ids: list[int]
    labels: list[str]
    scores: list[float]
    masks: torch.Tensor
    boxes: torch.Tensor


def _checkpoint_tensors(directory: Path, names: set[str]) -> dict[str, torch.Tensor]:
    """The named tensors from the checkpoint's weight files in ``directory`` (one file or the index's shards)."""
    found: dict[str, torch.Tensor] = {}
    for path in weight_files(directory):
        with safe_open(str(path), framework="pt") as file:
            for name in names.intersection(file.keys()):
                found[name] = file.get_tensor(name)
    return found


def build_video_model(engine: Sam3Engine, directory: str | Path) -> Sam3VideoModel:
    """A ``Sam3VideoModel`` sharing the engine's detector, tracker neck and tracker decoders (no second copy).

    Raises ``RuntimeError`` naming the tensors the checkpoint in ``directory`` lacks.
    """
    directory = Path(directory)
    use_video_postprocessing(CvUtils(), mask_iou)  # NMS of detections, hole filling, sprinkle removal
    config = Sam3VideoConfig.from_pretrained(directory)
    with torch.device("meta"):  # no memory for the detector and neck: the engine's take their place
        model = Sam3VideoModel(config)
    # The tracker built for real (its computed buffers, e.g. rotary tables, are not in the checkpoint), its weights
    # read from the checkpoint, then its shared modules replaced by the engine's.
    tracker = new_video_tracker(config)
    prefix = "tracker_model."
    wanted = {prefix + name for name in tracker.state_dict()}
    tensors = _checkpoint_tensors(directory, wanted)
    missing = sorted(wanted - tensors.keys())
    if missing:
        raise RuntimeError(f"the checkpoint lacks {len(missing)} video tracker tensors, e.g. {missing[:3]}")
    tracker.load_state_dict({name.removeprefix(prefix): tensor for name, tensor in tensors.items()})
    tracker.to(engine.device, engine.dtype)
    fit_video_model(model, engine.detector, engine.tracker, tracker)
    left = [name for name, tensor in [*model.named_parameters(), *model.named_buffers()] if tensor.is_meta]
    if left:
        raise RuntimeError(f"video model tensors left unloaded: {left[:3]}")
    return model.eval()


class VideoTracker:
    """Tracks text concepts through a stream of frames with the engine's weights (thread-safe; one video per call).

    The video model is assembled on the first call (``build_video_model``); ``memory_horizon``: tracker memories
    older than this many frames are dropped (the model reads at most ``max(num_maskmem,
    max_object_pointers_in_encoder)`` frames back: 16 for ``facebook/sam3``).
    """

    def __init__(self, engine: Sam3Engine, directory: str | Path) -> None:
        self.engine = engine
        self.directory = Path(directory)
        self._model: Sam3VideoModel | None = None
        self._building = threading.Lock()
        processor = engine.processor
        video = Sam2VideoVideoProcessor.from_pretrained(self.directory)  # the checkpoint's (sessions read videos)
        self.processor = Sam3VideoProcessor(
            image_processor=processor.image_processor, video_processor=video, tokenizer=processor.tokenizer
        )

    @property
    def model(self) -> Sam3VideoModel:
        with self._building:
            if self._model is None:
                self._model = build_video_model(self.engine, self.directory)
            return self._model

    @property
    def memory_horizon(self) -> int:
        return memory_horizon(self.model.config)

    def track(
        self, work: VideoWork, frames: Iterable[Frame], cancel: threading.Event | None = None
    ) -> Iterator[FrameObjects]:
        """The objects of each frame of ``frames`` (decoded lazily, one at a time), in order. Once ``cancel`` is
        set, raises ``Cancelled`` before the next frame."""
        engine = self.engine
        session = self.processor.init_video_session(inference_device=engine.device, dtype=engine.dtype)
        self.processor.add_text_prompt(session, list(work.text_prompts))
        horizon = self.memory_horizon
        for position, frame in enumerate(frames):
            check(cancel, "video frame")
            with torch.inference_mode():
                pixels = self.processor(images=frame.pixels, device=engine.device, return_tensors="pt").pixel_values
            output = self.step(session, position, work.options, cancel, frame=pixels[0])
            objects = self.frame_objects(session, output, frame)
            forget_before(session, position, horizon)
            yield objects

    def step(
        self,
        session,
        position: int,
        options: SessionOptions,
        cancel: threading.Event | None = None,
        *,
        frame: torch.Tensor | None = None,
        reverse: bool = False,
        exemplars: tuple[torch.Tensor, torch.Tensor] | None = None,
        new_objects: bool = True,
    ):
        """The video model on frame ``position`` of ``session``, under the engine's lock: every video pass runs
        its frames through here, the one-shot request's stream and the sessions' propagations alike.

        ``frame``: the frame's pixels as the model reads them, ``(3, S, S)``, for a streamed session (the one-shot
        request: frames decoded as they come); without it the session reads the frame itself (a video session's
        ``SessionFrames``). ``reverse``: a backward pass. ``exemplars`` and ``new_objects``: what the detector reads
        besides the text (``frame_detector_prompts``). The thresholds of ``options`` live on the shared model, so
        they are set under the lock, for this frame. Raises ``Cancelled`` before the frame once ``cancel`` is set.
        The model's output for the frame."""
        model, engine = self.model, self.engine
        check(cancel, "video frame")
        with engine.turns.turn(cancel, "video frame"), torch.inference_mode():
            set_frame_thresholds(model, options.confidence_threshold, options.new_object_threshold, options.max_objects)
            with frame_detector_prompts(model, exemplars, new_objects):
                output = model(inference_session=session, frame=frame, frame_idx=position, reverse=reverse)
            engine.turns.synchronize()
        return output

    def frame_objects(
        self,
        session,
        output,
        frame: Frame,
        hidden: frozenset[int] = frozenset(),
        size: tuple[int, int] | None = None,
    ) -> FrameObjects:
        """``output`` of the model on ``frame`` post-processed as transformers does (masks at the frame's size,
        or ``size`` ``(height, width)``; objects removed by hotstart or suppressed left out), objects in
        ``hidden`` left out too."""
        height, width = size or frame.pixels.shape[:2]
        with torch.inference_mode():
            result = self.processor.postprocess_outputs(session, output, original_sizes=[[height, width]])
        label_of = {obj: text for text, objs in result["prompt_to_obj_ids"].items() for obj in objs}
        rows = [row for row, obj in enumerate(result["object_ids"].tolist()) if obj not in hidden]
        ids = [int(result["object_ids"][row]) for row in rows]
        return FrameObjects(
            frame=frame,
            object_ids=ids,
            labels=[label_of[obj] for obj in ids],
            scores=[float(result["scores"][row]) for row in rows],
            masks=result["masks"][rows].cpu(),
            # torchvision's masks_to_boxes: inclusive pixel indices; +1 on x2/y2 gives the edges.
            boxes=result["boxes"][rows].float().cpu().reshape(-1, 4) + torch.tensor([0.0, 0.0, 1.0, 1.0]),
        )
