"""Every transformers internal the model code relies on, in one module: names imported from transformers' private
modules, attribute paths into the loaded models and their inference sessions, modules swapped between models.

transformers' public API is not here: the model and processor classes of its top level, their ``from_pretrained``,
``forward`` and processor methods, the fields of their outputs and configs. What is here is pinned by
``tests/unit/test_internals_canary.py``, which lists each name and path: when a pin moves, it says what is gone.
Tensors are on the model's device and dtype; shapes are given for one batch of ``B`` images.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping

import torch
from transformers import AutoModel, Sam3Model, Sam3TrackerModel, Sam3VideoConfig, Sam3VideoModel
from transformers.modeling_outputs import BaseModelOutputWithPooling
from transformers.models.sam2_video.video_processing_sam2_video import Sam2VideoVideoProcessor
from transformers.models.sam3.modeling_sam3 import Sam3VisionEncoderOutput
from transformers.models.sam3_tracker_video.modeling_sam3_tracker_video import Sam3TrackerVideoInferenceSession
from transformers.models.sam3_video import modeling_sam3_video

__all__ = [
    "SHARED_TRACKER_MODULES",
    "Sam2VideoVideoProcessor",
    "Sam3TrackerVideoInferenceSession",
    "cache_tracker_frame",
    "drop_frame_features",
    "compile_detector",
    "detect",
    "detector_neck",
    "fit_video_model",
    "forget_before",
    "forget_tracked",
    "frame_detector_prompts",
    "memory_horizon",
    "new_video_tracker",
    "set_frame_thresholds",
    "share_vit",
    "text_features",
    "text_token_limit",
    "tracker_image_embeddings",
    "tracker_neck",
    "use_video_postprocessing",
    "frames_on_demand",
    "propagation_order",
    "hotstart_delay",
    "forget_outside",
    "note_hotstart_removed",
    "video_tracker",
    "vit",
    "vit_maps",
]

# Tracker modules the image tracker (Sam3TrackerModel) holds with the same checkpoint tensors as the video tracker's.
SHARED_TRACKER_MODULES = ("shared_image_embedding", "prompt_encoder", "mask_decoder")
# The detector's modules worth compiling besides the ViT: many small kernels on a GPU, which compiling fuses.
COMPILED_DETECTOR_MODULES = ("detr_encoder", "detr_decoder", "mask_decoder")

# ---- image models ---------------------------------------------------------------------------------------------


def share_vit(detector: Sam3Model, tracker: Sam3TrackerModel) -> None:
    """Point the tracker's ViT at the detector's (the checkpoint stores one; the tracker maps the same tensors)."""
    tracker.vision_encoder.backbone = detector.vision_encoder.backbone


def compile_detector(detector: Sam3Model) -> None:
    """``torch.compile`` the ViT (it always sees the same input shape) and the detector's DETR encoder, decoder and
    mask decoder, in place."""
    vision = detector.vision_encoder
    vision.backbone = torch.compile(vision.backbone)
    for name in COMPILED_DETECTOR_MODULES:
        setattr(detector, name, torch.compile(getattr(detector, name)))


def text_token_limit(detector: Sam3Model) -> int:
    """The most tokens the text encoder reads (its position embeddings)."""
    return detector.config.text_config.max_position_embeddings


def vit(detector: Sam3Model, pixel_values: torch.Tensor) -> BaseModelOutputWithPooling:
    """The shared ViT over ``(B, 3, H, W)`` normalised pixels; ``last_hidden_state``: ``(B, H/p * W/p, C)``."""
    return detector.vision_encoder.backbone(pixel_values)


def vit_maps(detector: Sam3Model, pixel_values: torch.Tensor) -> torch.Tensor:
    """The ViT's output as a ``(B, C, H/p, W/p)`` map (``p``: the patch size, 14), what both necks read."""
    hidden = vit(detector, pixel_values).last_hidden_state
    patch = detector.vision_encoder.config.backbone_config.patch_size
    count, height, width = pixel_values.shape[0], pixel_values.shape[-2] // patch, pixel_values.shape[-1] // patch
    return hidden.view(count, height, width, -1).permute(0, 3, 1, 2)


def detector_neck(
    detector: Sam3Model, spatial: torch.Tensor
) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
    """The detector's FPN maps of a ``vit_maps`` output, ``(B, 256, s, s)`` per level (s = 288/144/72/36 for the
    real model), and their sine position encodings (same shapes; they depend on the shape alone)."""
    maps, positions = detector.vision_encoder.neck(spatial)
    return tuple(maps), tuple(positions)


def tracker_neck(tracker: Sam3TrackerModel) -> torch.nn.Module:
    """The tracker's neck (the video model reuses the image tracker's)."""
    return tracker.vision_encoder.neck


def tracker_image_embeddings(tracker: Sam3TrackerModel, spatial: torch.Tensor) -> list[torch.Tensor]:
    """What ``Sam3TrackerModel.forward(image_embeddings=...)`` expects for a ``vit_maps`` output: the same steps
    as ``Sam3TrackerModel.get_image_features`` + ``forward``: the tracker neck, levels 0/1 projected for the SAM
    mask decoder, the "no memory" embedding added to the last level, as many levels as
    ``backbone_feature_sizes``. One ``(B, C_level, s, s)`` tensor per level."""
    maps, _ = tracker_neck(tracker)(spatial)
    maps = list(maps)
    maps[0] = tracker.mask_decoder.conv_s0(maps[0])
    maps[1] = tracker.mask_decoder.conv_s1(maps[1])
    maps[-1] = maps[-1] + tracker.no_memory_embedding.view(1, -1, 1, 1)
    return maps[: len(tracker.backbone_feature_sizes)]


def text_features(detector: Sam3Model, tokens: dict[str, torch.Tensor]) -> torch.Tensor:
    """``(n, L, D)`` projected text features of tokenized prompts (``input_ids``/``attention_mask``: ``(n, L)``)."""
    return detector.get_text_features(**tokens).pooler_output


def detect(
    detector: Sam3Model,
    fpn: list[torch.Tensor],
    positions: list[torch.Tensor],
    text: torch.Tensor,
    text_mask: torch.Tensor,
    **exemplars: torch.Tensor,
):
    """The detector on precomputed image and text features (``n`` rows): ``fpn``/``positions`` as
    ``detector_neck`` gives them expanded to ``n`` rows, ``text``/``text_mask`` as ``text_features`` and its
    attention mask; ``exemplars``: ``input_boxes`` (normalised cxcywh) and ``input_boxes_labels``. The model's
    output (``pred_logits``, ``presence_logits``, ``pred_boxes`` normalised xyxy, ``pred_masks``)."""
    return detector(
        vision_embeds=Sam3VisionEncoderOutput(fpn_hidden_states=fpn, fpn_position_encoding=positions),
        text_embeds=BaseModelOutputWithPooling(pooler_output=text),
        attention_mask=text_mask,
        **exemplars,
    )


# ---- video models ---------------------------------------------------------------------------------------------


def new_video_tracker(config: Sam3VideoConfig) -> torch.nn.Module:
    """The video tracker (``Sam3TrackerVideoModel``) of ``config``, without a vision encoder, randomly initialised."""
    return AutoModel.from_config(config.tracker_config, remove_vision_encoder=True)


def fit_video_model(
    model: Sam3VideoModel, detector: Sam3Model, image_tracker: Sam3TrackerModel, video_tracker_model: torch.nn.Module
) -> None:
    """Give a (meta-device) video model the engine's detector and tracker neck, and ``video_tracker_model``
    with its modules shared with the image tracker (``SHARED_TRACKER_MODULES``) replaced by the image tracker's."""
    model.detector_model = detector
    model.tracker_neck = tracker_neck(image_tracker)
    for name in SHARED_TRACKER_MODULES:
        setattr(video_tracker_model, name, getattr(image_tracker, name))
    model.tracker_model = video_tracker_model


def use_video_postprocessing(kernel: object, mask_iou: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Give transformers' SAM3 video code ``kernel`` (``model.video_postprocess.CvUtils``) where it would load
    the Hub kernel ``kernels-community/cv-utils``: its module's ``cv_utils_kernel``, read by ``nms_masks`` and
    ``fill_holes_in_mask_scores`` (through ``_get_connected_components_with_padding``) for ``generic_nms`` and
    ``cc_2d``. Set before the first video, the Hub is never asked; process-wide, as transformers' own is. Its
    module's ``mask_iou`` (read by ``nms_masks``, the detection-track association and the occlusion suppression)
    becomes ``mask_iou``."""
    modeling_sam3_video.cv_utils_kernel = kernel
    modeling_sam3_video.mask_iou = mask_iou


def video_tracker(model: Sam3VideoModel) -> torch.nn.Module:
    """The video model's tracker with memory (``Sam3TrackerVideoModel``)."""
    return model.tracker_model


def memory_horizon(config: Sam3VideoConfig) -> int:
    """How many frames back the tracker reads memories: ``max(num_maskmem, max_object_pointers_in_encoder)``."""
    tracker = config.tracker_config
    return max(tracker.num_maskmem, tracker.max_object_pointers_in_encoder)


def set_frame_thresholds(model: Sam3VideoModel, detection: float, new_object: float | None, max_objects: int) -> None:
    """The per-request thresholds, which live on the (shared) model: a detection counts above ``detection``, starts
    a new object above ``new_object`` (``None``: the checkpoint's), at most ``max_objects`` tracked at once."""
    model.score_threshold_detection = detection
    model.new_det_thresh = model.config.new_det_thresh if new_object is None else new_object
    model.max_num_objects = max_objects


NO_DETECTION_LOGIT = -1e4  # sigmoid gives exactly 0 in float32, bfloat16 and float16: no score passes a threshold


@contextlib.contextmanager
def frame_detector_prompts(
    model: Sam3VideoModel, exemplars: tuple[torch.Tensor, torch.Tensor] | None, new_objects: bool
) -> Iterator[None]:
    """While the block runs the video model on one frame: its detector (``Sam3Model``, called by
    ``Sam3VideoModel.run_detection`` with the session's text features) also gets ``exemplars``, concept exemplar
    boxes ``(1, k, 4)`` normalised cxcywh with their labels ``(1, k)`` (1 positive, 0 negative), as ``Sam3Model``
    takes them; with ``new_objects`` false its detections score 0, so none starts an object or conditions a track
    (Meta's ``allow_new_detections=False``). transformers' video model has no exemplar input: these are forward
    hooks on the detector, removed when the block ends (the engine's lock is held meanwhile, so no image request
    shares them)."""
    detector = model.detector_model
    handles = []
    if exemplars is not None:
        boxes, labels = exemplars

        def add_exemplars(module, args, kwargs):
            return args, {**kwargs, "input_boxes": boxes, "input_boxes_labels": labels}

        handles.append(detector.register_forward_pre_hook(add_exemplars, with_kwargs=True))
    if not new_objects:

        def no_detections(module, args, output):
            output.pred_logits = torch.full_like(output.pred_logits, NO_DETECTION_LOGIT)
            return output

        handles.append(detector.register_forward_hook(no_detections))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def cache_tracker_frame(
    model: Sam3VideoModel,
    session: Sam3TrackerVideoInferenceSession,
    position: int,
    vit_output: BaseModelOutputWithPooling,
) -> None:
    """Put frame ``position``'s tracker features, the video model's tracker neck over ``vit`` output, in the
    tracker session (the video tracker has no vision encoder of its own)."""
    features, positions = model.get_vision_features_for_tracker(vit_output)
    session.cache.cache_vision_features(position, {"vision_feats": features, "vision_pos_embeds": positions})


KEPT_ONLY_WHILE_RUNNING = ("high_res_masks",)  # read from the model's output when it runs, never from the session
READ_FROM_CONDITIONING_ONLY = ("pred_masks",)  # read back for conditioning frames (their outputs are reused)


def compact_tracker_outputs(session: Sam3TrackerVideoInferenceSession, position: int) -> None:
    """Drop from what a tracker session keeps of frame ``position`` what its model never reads back: each output's
    full-size mask (``high_res_masks``), a non-conditioning frame's low-resolution logits (``pred_masks``); and
    keep one memory position encoding for every frame (``maskmem_pos_enc`` depends on the feature size only).
    Later frames and clicks read the same values as before (the memory features, object pointers and scores)."""
    shared = getattr(session, "_sam3_shared_maskmem_pos_enc", None)
    for outputs in session.output_dict_per_obj.values():
        for kind, dropped in (("cond_frame_outputs", ()), ("non_cond_frame_outputs", READ_FROM_CONDITIONING_ONLY)):
            output = outputs[kind].get(position)
            if output is None:
                continue
            for key in (*KEPT_ONLY_WHILE_RUNNING, *dropped):
                output.pop(key, None)
            encoding = output.get("maskmem_pos_enc")
            if isinstance(encoding, torch.Tensor):
                if shared is not None and shared.shape == encoding.shape and torch.equal(shared, encoding):
                    output["maskmem_pos_enc"] = shared
                else:
                    shared = encoding
    session._sam3_shared_maskmem_pos_enc = shared


def tracker_state_bytes(session: Sam3TrackerVideoInferenceSession) -> int:
    """Bytes of the tensors a tracker session keeps per object and frame (each tensor counted once)."""
    seen: dict[int, int] = {}
    for outputs in session.output_dict_per_obj.values():
        for by_frame in outputs.values():
            for output in by_frame.values():
                for value in output.values():
                    if isinstance(value, torch.Tensor):
                        seen[id(value)] = value.numel() * value.element_size()
    return sum(seen.values())


def drop_frame_features(session) -> None:
    """Drop the vision features a tracker session caches (``cache``, the last frame the model read)."""
    session.cache.clear_all()


def forget_before(session, position: int, horizon: int) -> None:
    """Drop what a video session no longer reads: processed frames before ``position`` and tracker memories of
    non-conditioning frames more than ``horizon`` frames back."""
    for index in [index for index in session.processed_frames if index < position]:
        del session.processed_frames[index]
    for outputs in session.output_dict_per_obj.values():
        stale = [index for index in outputs["non_cond_frame_outputs"] if index < position - horizon]
        for index in stale:
            del outputs["non_cond_frame_outputs"][index]


def frames_on_demand(session, frames: Mapping[int, torch.Tensor], height: int, width: int) -> None:
    """Let a ``Sam3VideoInferenceSession`` read its processed frames from ``frames`` (a mapping that makes each
    on access) instead of holding them all (``processed_frames``, read by ``get_frame`` and ``num_frames``), and
    give it the video's size (``video_height``, ``video_width``, as ``init_video_session(video=...)`` does)."""
    session.processed_frames = frames
    session.video_height, session.video_width = height, width


def propagation_order(model: Sam3VideoModel, session, start: int, count: int | None, reverse: bool) -> list[int]:
    """The frames ``Sam3VideoModel.propagate_in_video_iterator`` visits from ``start``: forward ``start`` to
    ``start + count`` (clipped), or backward ``start - 1`` down to ``start - count`` (clipped; the start frame is
    the forward pass's)."""
    order, _ = model._get_processing_order(session, start, count, reverse=reverse)
    return list(order)


def hotstart_delay(model: Sam3VideoModel) -> int:
    """How many frames ``propagate_in_video_iterator`` holds back before yielding (objects that do not persist over
    them are removed: ``session.hotstart_removed_obj_ids``)."""
    return model.hotstart_delay


def note_hotstart_removed(session, output) -> None:
    """What ``propagate_in_video_iterator`` does with each output it holds back: the objects hotstart removed
    are hidden from then on (``postprocess_outputs`` reads ``hotstart_removed_obj_ids``)."""
    session.hotstart_removed_obj_ids.update(output.removed_obj_ids)


def forget_outside(session, keep: Callable[[int], bool]) -> None:
    """Drop the tracker memories of non-conditioning frames for which ``keep(frame)`` is false."""
    for outputs in session.output_dict_per_obj.values():
        stale = [index for index in outputs["non_cond_frame_outputs"] if not keep(index)]
        for index in stale:
            del outputs["non_cond_frame_outputs"][index]


def forget_tracked(session: Sam3TrackerVideoInferenceSession, position: int) -> None:
    """Drop the per-frame "tracked" marks before ``position`` (the tracker reads them only for the frame prompts
    are added on)."""
    for tracked in session.frames_tracked_per_obj.values():
        for index in [index for index in tracked if index < position]:
            del tracked[index]
