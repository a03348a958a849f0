"""Canary: every transformers and uvicorn internal the runtime relies on still exists.

The default endpoint image reinstalls ``requirements.txt`` at every start, so these names are pinned (transformers,
uvicorn, starlette: see the README's "Moving the pins"). When a pin is moved, this test is the first to say what
broke, by name, before any parity or server test fails for a less obvious reason.
"""

from __future__ import annotations

import importlib

import pytest

# (module, attribute): names imported from modules that are not transformers' public top level.
IMPORTED = [
    ("transformers.modeling_outputs", "BaseModelOutputWithPooling"),
    ("transformers.models.sam3.modeling_sam3", "Sam3VisionEncoderOutput"),
    ("transformers.models.sam2_video.video_processing_sam2_video", "Sam2VideoVideoProcessor"),
    ("transformers.models.sam3_tracker_video.modeling_sam3_tracker_video", "Sam3TrackerVideoInferenceSession"),
    ("transformers", "Sam3VideoModel"),
    ("transformers", "Sam3VideoConfig"),
    ("transformers", "Sam3VideoProcessor"),
    ("uvicorn.protocols.http.h11_impl", "H11Protocol"),
]

# Attribute paths read or replaced on the loaded models (engine: shared ViT, necks; video: assembled model).
ENGINE_PATHS = [
    "detector.vision_encoder.backbone",
    "detector.vision_encoder.neck",
    "detector.vision_encoder.config.backbone_config.patch_size",
    "detector.config.text_config.max_position_embeddings",
    "detector.get_text_features",
    "tracker.vision_encoder.backbone",
    "tracker.vision_encoder.neck",
]
VIDEO_MODEL_PATHS = [
    "detector_model",
    "tracker_neck",
    "tracker_model",
    "config.tracker_config",
    "get_vision_features_for_tracker",
]
# Inference-session entries the trackers prune to bound memory on long videos.
SESSION_PATHS = ["processed_frames", "output_dict_per_obj", "cache.cache_vision_features"]
TRACKER_SESSION_PATHS = ["frames_tracked_per_obj", "cache.cache_vision_features"]


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
