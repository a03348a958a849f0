"""The CVAT function file (``sam3_core/adapters/cvat/sam3_cvat.py``) run by CVAT's own code (cvat-cli's loader and
parameters, the auto-annotation driver's context, label mapping and checks, the agent's interaction worker and
its per-frame cache, ``cvat_sdk.masks``) against ``sam3-serve``: its masks, polygons and clicks are the main
API's answers. A CVAT server cannot run here; what needs one (uploads, the UI) is not covered."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import requests

from helpers import b64, decode_mask, iou
from tool_clients import TOKEN, run_driver

FUNCTION_FILE = Path(__file__).resolve().parents[2] / "sam3_core" / "adapters" / "cvat" / "sam3_cvat.py"


def feature_cache_hits(url: str) -> float:
    page = requests.get(url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30).text
    found = re.search(r'sam3_cache_lookups_total\{cache="feature",result="hit"\} (\S+)', page)
    return float(found[1]) if found else 0.0


@pytest.fixture(scope="module")
def received(tools_url, scene_file, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cvat")
    hits = feature_cache_hits(tools_url)
    found = run_driver("cvat", "drive_cvat.py", str(FUNCTION_FILE), tools_url, str(scene_file), str(folder),
                       env={"SAM3_API_TOKEN": TOKEN})  # fmt: skip
    return found, folder, feature_cache_hits(tools_url) - hits


def main_answer(handler, scene_file, **fields):
    return handler({"inputs": {"image": b64(scene_file.read_bytes()), **fields}})


def test_the_detector_gives_every_instance_of_each_label_as_a_mask(received, handler, scene_file):
    found, folder, _ = received
    assert found["spec"] == [["disc", 0, "mask"], ["square", 1, "mask"]]
    answer = main_answer(handler, scene_file, text_prompts=["disc", "square"], confidence_threshold=0.05)
    expected = [k for k, score in enumerate(answer["scores"]) if score >= 0.1]
    assert len(found["masks"]) == len(expected) > 0
    for index, (shape, k) in enumerate(zip(found["masks"], expected, strict=True)):
        assert shape["label_id"] == {"disc": 31, "square": 32}[answer["labels"][k]] and shape["frame"] == 7
        assert shape["score"] == pytest.approx(answer["scores"][k], abs=1e-6)
        assert iou(np.load(folder / f"detect-{index}.npy"), decode_mask(answer["masks"][k])) >= 0.999


def test_with_conv_mask_to_poly_it_gives_the_endpoints_polygons(received, handler, scene_file):
    found, _, _ = received
    answer = main_answer(handler, scene_file, text_prompts=["disc", "square"], confidence_threshold=0.05,
                         vectorize=True, simplify_epsilon=1.0)  # fmt: skip
    expected = [k for k, score in enumerate(answer["scores"]) if score >= 0.1 and len(answer["polygons"][k]) >= 3]
    assert [shape["type"] for shape in found["polygons"]] == ["polygon"] * len(expected)
    for shape, k in zip(found["polygons"], expected, strict=True):
        assert shape["points"] == [float(v) for point in answer["polygons"][k] for v in point]


def test_clicks_give_the_main_apis_mask_and_the_frame_is_encoded_once(received, handler, scene_file):
    found, folder, hits = received
    assert found["interactor_fields"] == {"min_pos_points": 0, "min_neg_points": 0, "startswith_box_optional": True}
    assert [click["from_cache"] for click in found["clicks"]] == [False, True]
    first = main_answer(handler, scene_file, points=[[100, 90]], confidence_threshold=0)
    second = main_answer(handler, scene_file, points=[[100, 90], [20, 20]], point_labels=[1, 0],
                         boxes=[[40, 40, 200, 180]], confidence_threshold=0)  # fmt: skip
    for index, answer in enumerate((first, second)):
        assert iou(np.load(folder / f"click-{index}.npy"), decode_mask(answer["masks"][0])) >= 0.999
        assert found["clicks"][index]["confidence"] == [pytest.approx(answer["scores"][0], abs=1e-6)]
    assert hits >= 2  # both clicks sent the frame as encoded once: the endpoint found its features


def test_a_refusal_names_the_endpoints_reason(received):
    found, _, _ = received
    assert (
        found["refused"].startswith("EndpointError: ")
        and "answered 401: missing or wrong API token" in found["refused"]
    )
