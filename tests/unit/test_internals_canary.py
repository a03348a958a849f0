"""Canary: every transformers and uvicorn internal the runtime relies on still exists.

The default endpoint image reinstalls ``requirements.txt`` at every start, so these names are pinned (transformers,
uvicorn, starlette: see the README's "Moving the pins"). When a pin is moved, this test is the first to say what
broke, by name, before any parity or server test fails for a less obvious reason. The model code reaches
transformers' internals only through ``sam3_core/model/transformers_internals.py``; the lists below name each one.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

import sam3_core.model
from sam3_core.model import transformers_internals

# (module, attribute): names imported from modules that are not transformers' public top level.
IMPORTED = [
    ("transformers.modeling_outputs", "BaseModelOutputWithPooling"),
    ("transformers.models.sam3.modeling_sam3", "Sam3VisionEncoderOutput"),
    ("transformers.models.sam2_video.video_processing_sam2_video", "Sam2VideoVideoProcessor"),
    ("transformers.models.sam3_tracker_video.modeling_sam3_tracker_video", "Sam3TrackerVideoInferenceSession"),
    ("transformers.models.sam3_video", "modeling_sam3_video"),
    ("transformers", "Sam3VideoModel"),
    ("transformers", "Sam3VideoConfig"),
    ("transformers", "Sam3VideoProcessor"),
    ("uvicorn.protocols.http.h11_impl", "H11Protocol"),
]

# Attribute paths read or replaced on the loaded models (engine: shared ViT, necks, compiled modules; video:
# assembled model, its per-request thresholds).
ENGINE_PATHS = [
    "detector.vision_encoder.backbone",
    "detector.vision_encoder.neck",
    "detector.vision_encoder.config.backbone_config.patch_size",
    "detector.config.text_config.max_position_embeddings",
    "detector.get_text_features",
    *(f"detector.{name}" for name in transformers_internals.COMPILED_DETECTOR_MODULES),
    "tracker.vision_encoder.backbone",
    "tracker.vision_encoder.neck",
    "tracker.mask_decoder.conv_s0",
    "tracker.mask_decoder.conv_s1",
    "tracker.no_memory_embedding",
    "tracker.backbone_feature_sizes",
    *(f"tracker.{name}" for name in transformers_internals.SHARED_TRACKER_MODULES),
]
VIDEO_MODEL_PATHS = [
    "detector_model",
    "tracker_neck",
    "tracker_model",
    *(f"tracker_model.{name}" for name in transformers_internals.SHARED_TRACKER_MODULES),
    "config.tracker_config.num_maskmem",
    "config.tracker_config.max_object_pointers_in_encoder",
    "config.new_det_thresh",
    "get_vision_features_for_tracker",
    "score_threshold_detection",
    "new_det_thresh",
    "max_num_objects",
    "hotstart_delay",
    "_get_processing_order",
]
# Inference-session entries the trackers prune to bound memory on long videos.
SESSION_PATHS = [
    "processed_frames",
    "output_dict_per_obj",
    "cache.cache_vision_features",
    "hotstart_removed_obj_ids",
    "video_height",
    "video_width",
]
TRACKER_SESSION_PATHS = [
    "frames_tracked_per_obj",
    "cache.cache_vision_features",
    "cache.clear_all",
    "processed_frames",
    "video_height",
    "video_width",
]


def _missing(root: object, paths: list[str]) -> list[str]:
    missing = []
    for path in paths:
        value = root
        for part in path.split("."):
            if not hasattr(value, part):
                missing.append(path)
                break
            value = getattr(value, part)
    return missing


@pytest.mark.parametrize(("module", "name"), IMPORTED, ids=[f"{m}.{n}" for m, n in IMPORTED])
def test_imported_internal_exists(module, name):
    try:
        found = importlib.import_module(module)
    except ImportError as error:
        pytest.fail(f"module {module} is gone ({error}); the pins moved past what the code was written for")
    assert hasattr(found, name), f"{module}.{name} is gone; the pins moved past what the code was written for"


def test_only_the_internals_module_imports_transformers_submodules():
    """Every name ``transformers_internals`` imports from below transformers' top level is in ``IMPORTED``, and no
    other model module imports from there."""
    found: dict[str, set[tuple[str, str]]] = {}
    for path in Path(sam3_core.model.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("transformers."):
                found.setdefault(path.name, set()).update((node.module, alias.name) for alias in node.names)
    assert set(found) <= {"transformers_internals.py"}, f"transformers internals imported elsewhere: {found}"
    assert found["transformers_internals.py"] <= set(IMPORTED)


def test_the_video_models_postprocessing_asks_its_kernel_for_what_cvutils_provides():
    """``use_video_postprocessing`` replaces the module's ``cv_utils_kernel``; its callers still call the two
    methods ``CvUtils`` provides, with the arguments it takes."""
    from transformers.models.sam3_video import modeling_sam3_video as video

    assert hasattr(video, "cv_utils_kernel")
    nms, components = (
        inspect.getsource(video.nms_masks),
        inspect.getsource(video._get_connected_components_with_padding),
    )
    assert "cv_utils_kernel.generic_nms(ious, probs, iou_threshold, use_iou_matrix=True)" in nms
    assert "cv_utils_kernel.cc_2d(" in components and "get_counts=True" in components
    assert "_get_connected_components_with_padding" in inspect.getsource(video.fill_holes_in_mask_scores)
    assert "ious = mask_iou(masks_binary, masks_binary)" in nms and callable(video.mask_iou)


def test_the_video_models_detector_is_called_as_exemplar_hooks_expect():
    """``frame_detector_prompts`` hooks the detector's forward: ``run_detection`` calls it with keywords (the
    hook adds ``input_boxes``), reads ``pred_logits`` from its output (the hook lowers them) and thresholds the
    scores; ``Sam3Model.forward`` takes exemplars as ``input_boxes`` and ``input_boxes_labels``."""
    from transformers import Sam3Model, Sam3VideoModel

    detection = inspect.getsource(Sam3VideoModel.run_detection)
    assert "self.detector_model(\n                vision_embeds=vision_embeds," in detection
    assert "pred_logits = detector_outputs.pred_logits" in detection
    assert "torch.where(pred_probs > self.score_threshold_detection)" in detection
    assert {"input_boxes", "input_boxes_labels"} <= set(inspect.signature(Sam3Model.forward).parameters)


def test_video_tracker_can_be_built_without_a_vision_encoder():
    from transformers import Sam3TrackerVideoModel

    assert "remove_vision_encoder" in inspect.signature(Sam3TrackerVideoModel.__init__).parameters


def test_model_attribute_paths_exist(handler):
    missing = _missing(handler.engine, ENGINE_PATHS)
    assert not missing, f"engine paths gone: {missing}"


def test_video_model_and_session_paths_exist(handler):
    from sam3_core.model.video_visual import VisualVideoTracker

    engine, tracker = handler.engine, handler.service.video_tracker
    missing = _missing(tracker.model, VIDEO_MODEL_PATHS)
    assert not missing, f"video model paths gone: {missing}"
    session = tracker.processor.init_video_session(inference_device=engine.device, dtype=engine.dtype)
    assert not _missing(session, SESSION_PATHS), f"video session entries gone: {_missing(session, SESSION_PATHS)}"
    visual = VisualVideoTracker(tracker)
    tracked = visual.new_session()
    missing = _missing(tracked, TRACKER_SESSION_PATHS)
    assert not missing, f"tracker session entries gone: {missing}"
