"""Segment everything as a request: ``"automatic": true`` or SAM's automatic-mask-generator options, validated,
and a long run that does not hold other requests for its whole duration."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch.nn.functional as F

from sam3_core.cancel import Cancelled
from sam3_core.errors import RequestError
from sam3_core.model.automatic import crop_boxes

from helpers import b64, decode_mask, encode, scene

FEW = {"points_per_side": 4, "stability_score_thresh": 0.0}  # a 4x4 grid, no stability filter: random weights


def everything(handler, image_b64: str, **options) -> dict:
    payload = {"image": image_b64, "automatic": {**FEW, **options}, "confidence_threshold": 0.0}
    return handler({"inputs": payload})


def test_automatic_returns_visual_objects_and_its_options_filter_them(handler, image_b64):
    found = everything(handler, image_b64)
    assert found["num_objects"] > 0 and set(found["labels"]) == {"visual"} and found["prompt_types"] == ["visual"]
    # The image-segmentation task form (InferenceClient, the toolkit's binary body) takes the same options.
    task = handler({"inputs": image_b64, "parameters": {"automatic": FEW, "confidence_threshold": 0.0}})
    assert sorted(item["score"] for item in task) == sorted(found["scores"])
    assert everything(handler, image_b64, min_area=320 * 240 + 1)["num_objects"] == 0, "nothing covers more"
    assert everything(handler, image_b64, stability_score_thresh=1.0)["num_objects"] < found["num_objects"]
    fewer = everything(handler, image_b64, box_nms_thresh=0.05)["num_objects"]
    assert 0 < fewer <= everything(handler, image_b64, box_nms_thresh=1.0)["num_objects"]
    defaults = handler({"inputs": {"image": image_b64, "automatic": True, "confidence_threshold": 0.0}})
    assert defaults["prompt_types"] == ["visual"]


@pytest.mark.parametrize(
    "automatic,extra,message",
    [
        ({"points_per_sid": 4}, {}, "^automatic.points_per_sid: unknown option; did you mean 'points_per_side'"),
        ({"points_per_side": 65}, {}, "^automatic.points_per_side: "),
        ({"points_per_side": 2.5}, {}, "^automatic.points_per_side: "),
        ({"box_nms_thresh": 10**400}, {}, "^automatic.box_nms_thresh: "),
        ({"min_area": -1}, {}, "^automatic.min_area: "),
        ({"crop_n_layers": 3}, {}, "^automatic.crop_n_layers: 3 is outside \\[0, 2\\]"),
        ({"crop_n_layers": 1.5}, {}, "^automatic.crop_n_layers: expected an integer"),
        ({"crop_n_layers": True}, {}, "^automatic.crop_n_layers: "),
        ({"crop_overlap_ratio": 0.95}, {}, "^automatic.crop_overlap_ratio: "),
        ({"crop_overlap_ratio": "0.3"}, {}, "^automatic.crop_overlap_ratio: "),
        ({"crop_n_points_downscale_factor": 0}, {}, "^automatic.crop_n_points_downscale_factor: "),
        ({"crop_n_points_downscale_factor": 5}, {}, "^automatic.crop_n_points_downscale_factor: "),
        ({"crop_nms_thresh": 1.5}, {}, "^automatic.crop_nms_thresh: "),
        ({"crop_nms_thresh": float("nan")}, {}, "^automatic.crop_nms_thresh: "),
        ({"crop_n_layer": 1}, {}, "^automatic.crop_n_layer: unknown option; did you mean 'crop_n_layers'"),
        ("yes", {}, "^automatic: expected true or an object"),
        (True, {"text_prompts": ["cat"]}, "^automatic: segments everything: send it without"),
    ],
)
def test_bad_automatic_options_name_the_option(handler, image_b64, automatic, extra, message):
    with pytest.raises(RequestError, match=message):
        handler({"inputs": {"image": image_b64, "automatic": automatic, **extra}})


def test_a_bad_crop_option_leaves_the_next_request_working(handler, image_b64):
    with pytest.raises(RequestError, match="^automatic.crop_n_layers: "):
        everything(handler, image_b64, crop_n_layers=-1)
    assert everything(handler, image_b64, crop_n_layers=0)["num_objects"] > 0


def test_no_crop_layers_is_the_whole_image_run_whatever_the_crop_options(handler, image_b64):
    plain = everything(handler, image_b64)
    assert plain["num_objects"] > 0
    assert everything(handler, image_b64, crop_n_layers=0) == plain
    crop_options = {"crop_overlap_ratio": 0.9, "crop_n_points_downscale_factor": 4, "crop_nms_thresh": 0.0}
    assert everything(handler, image_b64, crop_n_layers=0, **crop_options) == plain


def test_crop_layers_run_the_model_on_each_crop_and_return_image_masks(handler, monkeypatch):
    """One crop layer: the ViT on the image, then on its 4 crops; a crop's masks lie in the crop and are the
    crop's map resized to the crop and pasted there; boxes are image pixels; the response has its usual shape.

    The tiny random model's masks fill whatever it looks at, so SAM's crop-edge rule drops them unless the crop's
    inner edges lie within its 20 px of the image's: a 100x80 image with crops overlapping by 90%."""
    engine = handler.engine
    engine.feature_cache.clear()
    width, height = 100, 80
    image = b64(encode(scene(width, height)))
    seen: list[tuple[int, int]] = []
    vit = engine.encoder.encode  # the ViT, for the image's batch and for each crop
    monkeypatch.setattr(engine.encoder, "encode", lambda images: seen.extend(i.size for i in images) or vit(images))
    predictions = []  # what the engine answered, to know each mask's crop
    predict = engine.predict
    monkeypatch.setattr(engine, "predict", lambda *a, **kw: predictions.append(predict(*a, **kw)) or predictions[-1])
    crops = [box for box, layer in crop_boxes(width, height, 1, 0.9) if layer == 1]
    assert len(crops) == 4
    found = everything(handler, image, points_per_side=2, crop_n_layers=1, crop_overlap_ratio=0.9, crop_nms_thresh=1.0)
    assert seen == [(width, height)] + [(x1 - x0, y1 - y0) for x0, y0, x1, y1 in crops], "the image, then 4 crops"
    plain = everything(handler, image, points_per_side=2)
    assert seen[5:] == [], "the whole image's features stay cached"
    assert set(found) == set(plain) and found["prompt_types"] == ["visual"]
    assert len(found["masks"]) == len(found["boxes"]) == len(found["scores"]) == found["num_objects"]
    objects = predictions[0].objects
    assert len(objects) == found["num_objects"]
    regions = [obj.region for obj in objects]
    assert None in regions and set(regions) - {None} <= set(crops) and len(set(regions) - {None}) > 1
    for obj, png, box in zip(objects, found["masks"], found["boxes"], strict=True):
        mask = decode_mask(png) > 0
        assert mask.shape == (height, width) and mask.any()
        rows, cols = np.nonzero(mask)
        assert box == [float(cols.min()), float(rows.min()), float(cols.max() + 1), float(rows.max() + 1)]
        if obj.region is None:
            continue
        x0, y0, x1, y1 = obj.region
        assert not mask[:y0].any() and not mask[y1:].any() and not mask[:, :x0].any() and not mask[:, x1:].any()
        resized = F.interpolate(obj.low_res[None, None].float(), size=(y1 - y0, x1 - x0), mode="bilinear")[0, 0]
        expected = np.zeros((height, width), bool)
        expected[y0:y1, x0:x1] = (resized > 0).numpy()
        assert np.array_equal(mask, expected)
    # Across crops at SAM's 0.7 the overlapping masks give way to the ones from the smaller crops.
    nms = everything(handler, image, points_per_side=2, crop_n_layers=1, crop_overlap_ratio=0.9)
    assert 0 < nms["num_objects"] < found["num_objects"]
    assert all(obj.region is not None for obj in predictions[-1].objects)
    # SAM's overlap: the crops' inner edges are over 20 px from the image's, every crop's mask is cut off there.
    cut = everything(handler, image, points_per_side=2, crop_n_layers=1, crop_nms_thresh=1.0)
    assert cut["num_objects"] > 0 and all(obj.region is None for obj in predictions[-1].objects)


def test_crop_layers_that_keep_nothing_answer_no_objects(handler):
    """No candidate above the threshold on the image or any crop: an empty answer, not a failure."""
    image = b64(encode(scene(100, 80)))
    automatic = {**FEW, "points_per_side": 2, "crop_n_layers": 1}
    found = handler({"inputs": {"image": image, "automatic": automatic, "confidence_threshold": 1.0}})
    assert found["success"] is True and found["num_objects"] == 0 and found["masks"] == []


def test_a_cancel_stops_crop_layers_before_the_next_crop(handler, image_b64, monkeypatch):
    engine = handler.engine
    cancel = threading.Event()
    runs = []
    vit = engine.encoder.encode

    def run_then_cancel(pictures):
        runs.extend(picture.size for picture in pictures)
        features = vit(pictures)
        cancel.set()  # set during the first crop's run (the image's features are cached): its grid does not run
        return features

    handler(
        {"inputs": {"image": image_b64, "automatic": FEW, "confidence_threshold": 0.0}}
    )  # the image's features cached
    monkeypatch.setattr(engine.encoder, "encode", run_then_cancel)
    forward = engine.tracker.forward  # the prompt decoder (the ViT's tracker neck is another module)
    monkeypatch.setattr(engine.tracker, "forward", lambda *a, **kw: runs.append("tracker") or forward(*a, **kw))
    payload = {"image": image_b64, "automatic": {**FEW, "crop_n_layers": 1}, "confidence_threshold": 0.0}
    with pytest.raises(Cancelled) as stop:
        handler.service({"inputs": payload}, cancel=cancel)
    crop = crop_boxes(320, 240, 1, 512 / 1500)[1][0]
    assert runs == ["tracker", (crop[2] - crop[0], crop[3] - crop[1])], "the image's grid, a crop's ViT, no more"
    assert stop.value.stage == "prompts"
    assert not engine._lock.locked()


def test_a_long_segment_everything_lets_a_click_through(handler):
    slow = b64(encode(scene(320, 240)))
    quick = {"image": b64(encode(scene(96, 64))), "points": [[30, 20]], "point_labels": [1]}
    handler({"inputs": quick})  # its features cached: the click is short
    finished: dict[str, float] = {}

    def run(name: str, payload: dict) -> None:
        handler({"inputs": payload})
        finished[name] = time.monotonic()

    long_run = threading.Thread(
        target=run, args=("automatic", {"image": slow, "automatic": {"points_per_side": 16}, "confidence_threshold": 0})
    )
    long_run.start()
    deadline = time.monotonic() + 60
    while not handler.engine._lock.locked() and time.monotonic() < deadline:
        time.sleep(0.005)
    run("click", quick)
    assert long_run.is_alive(), "the click was answered while segment-everything was still running"
    long_run.join(timeout=300)
    assert finished["click"] < finished["automatic"]
