"""The real Label Studio (``conftest.py``) connected to ``sam3-serve`` on the tiny checkpoint, driven with
Label Studio's own SDK (``drive_label_studio.py``, in Label Studio's environment): the uploaded image is read
back from Label Studio with its API key; pre-annotation and interactive predictions land in Label Studio; brush
masks decoded by Label Studio's own decoder match the main API's masks for the same prompts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import requests

from helpers import b64, decode_mask, encode, free_port, iou, running, scene

DRIVER = Path(__file__).resolve().parent / "drive_label_studio.py"
WIDTH, HEIGHT = 320, 240
THRESHOLD = 0.4  # the project's extra param
LABELS = '<Label value="kitten"/><Label value="P" alias="person"/>'  # "P" prompts for "person"
SMART = (
    '<KeyPointLabels name="click" toName="image" smart="true"><Label value="kitten"/></KeyPointLabels>'
    '<RectangleLabels name="box" toName="image" smart="true"><Label value="kitten"/></RectangleLabels>'
    '<TextArea name="prompt" toName="image" editable="true" maxSubmissions="1"/>'
)
IMAGE = '<Image name="image" value="$image"/>'
BRUSH = f'<View>{IMAGE}<BrushLabels name="mask" toName="image">{LABELS}</BrushLabels>{SMART}</View>'
POLYGON = f'<View>{IMAGE}<PolygonLabels name="outline" toName="image">{LABELS}</PolygonLabels></View>'
TEXT_ONLY = (
    '<View><Text name="text" value="$text"/><Choices name="mood" toName="text"><Choice value="ok"/></Choices></View>'
)


def region(kind: str, value: dict, **extra) -> dict:
    name = {"keypointlabels": "click", "rectanglelabels": "box", "textarea": "prompt"}[kind]
    size = {"original_width": WIDTH, "original_height": HEIGHT, "image_rotation": 0}
    return {"id": kind[:6], "from_name": name, "to_name": "image", "type": kind, "value": value, **size, **extra}


CLICK = region("keypointlabels", {"x": 50.0, "y": 50.0, "width": 0.6, "keypointlabels": ["kitten"]}, is_positive=True)
BOX = region("rectanglelabels", {"x": 25.0, "y": 25.0, "width": 50.0, "height": 50.0, "rectanglelabels": ["kitten"]})
TEXT = region("textarea", {"text": ["kitten"]})


@pytest.fixture(scope="module")
def driven(label_studio, tiny_checkpoint, tmp_path_factory):
    """What Label Studio stored and answered, and the backend's main API URL (the server is still running)."""
    url, bin_dir, token = label_studio.url, label_studio.bin_dir, label_studio.token
    work = tmp_path_factory.mktemp("label-studio-run")
    (work / "scene.png").write_bytes(encode(scene(WIDTH, HEIGHT)))
    port = free_port()
    command = [sys.executable, "-m", "sam3_core.cli.serve", "--model", str(tiny_checkpoint), "--port", str(port)]
    env = {"LABEL_STUDIO_URL": url, "LABEL_STUDIO_API_KEY": token}
    with running(command, env, port) as (backend, _):
        plan = {
            "label_studio": url,
            "token": token,
            "backend": backend + "/labelstudio",
            "image": str(work / "scene.png"),
            "extra_params": json.dumps({"confidence_threshold": THRESHOLD}),  # as typed into the form
            "projects": [
                {
                    "name": "brush",
                    "config": BRUSH,
                    "interactive": [{"result": [CLICK]}, {"result": [BOX]}, {"result": [TEXT]}],
                },
                {"name": "polygon", "config": POLYGON, "interactive": []},
                {"name": "text", "config": TEXT_ONLY, "refused": True},
            ],
        }
        (work / "plan.json").write_text(json.dumps(plan))
        done = subprocess.run(
            [str(bin_dir / "python"), str(DRIVER), str(work / "plan.json"), str(work)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        yield json.loads(done.stdout), backend


def main_api(backend: str, **fields) -> dict:
    image = b64(encode(scene(WIDTH, HEIGHT)))
    answer = requests.post(backend, json={"inputs": {"image": image, **fields}}, timeout=120)
    assert answer.status_code == 200, answer.text
    return answer.json()


def masks_match(regions: list[dict], response: dict, labels: list[str]) -> None:
    """Label Studio's decoded masks are the main API's, object for object, with the project's labels."""
    assert len(regions) == response["num_objects"] > 0
    for region_found, png, label in zip(regions, response["masks"], labels, strict=True):
        assert region_found["type"] == "brushlabels" and region_found["value"]["brushlabels"] == [label]
        assert (region_found["original_width"], region_found["original_height"]) == (WIDTH, HEIGHT)
        assert iou(np.load(region_found["value"]["mask_file"]), decode_mask(png)) >= 0.99


def test_label_studio_connects_and_reads_its_own_upload(driven):
    answers, _ = driven
    assert answers["brush"]["backend_state"] == "CO"  # Label Studio's MLBackendState.CONNECTED
    assert answers["brush"]["image_url"].startswith("/data/upload/")  # read back with the API key


def test_pre_annotation_is_every_label_as_a_concept(driven):
    answers, backend = driven
    [stored] = answers["brush"]["stored"]
    assert stored["model_version"] == "sam3"
    reference = main_api(backend, text_prompts=["kitten", "person"], confidence_threshold=THRESHOLD)
    labels = [{"kitten": "kitten", "person": "P"}[found_by] for found_by in reference["labels"]]
    assert {"kitten", "P"} <= set(labels), "the tiny checkpoint finds both concepts in the scene"
    masks_match(stored["result"], reference, labels)
    assert stored["score"] == pytest.approx(np.mean(reference["scores"]), abs=1e-3)


def test_a_smart_click_and_a_smart_box_give_the_main_apis_mask(driven):
    answers, backend = driven
    click, box, _ = answers["brush"]["interactive"]
    assert click["errors"] is None and box["errors"] is None
    point = main_api(backend, points=[[WIDTH / 2, HEIGHT / 2]], point_labels=[1], confidence_threshold=0)
    masks_match(click["result"], point, ["kitten"])
    quarter = main_api(backend, boxes=[[WIDTH / 4, HEIGHT / 4, WIDTH * 3 / 4, HEIGHT * 3 / 4]], confidence_threshold=0)
    masks_match(box["result"], quarter, ["kitten"])


def test_typed_text_finds_every_instance_with_its_label(driven):
    answers, backend = driven
    text = answers["brush"]["interactive"][2]
    reference = main_api(backend, text_prompts=["kitten"], confidence_threshold=THRESHOLD)
    masks_match(text["result"], reference, ["kitten"] * reference["num_objects"])


def test_polygon_projects_get_polygons_in_percent(driven):
    answers, backend = driven
    [stored] = answers["polygon"]["stored"]
    reference = main_api(backend, text_prompts=["kitten", "person"], confidence_threshold=THRESHOLD, vectorize=True)
    outlines = [polygon for polygon in reference["polygons"] if len(polygon) >= 3]
    assert len(stored["result"]) == len(outlines) > 0
    for found, outline in zip(stored["result"], outlines, strict=True):
        assert found["type"] == "polygonlabels" and found["value"]["polygonlabels"][0] in ("kitten", "P")
        points = np.array(found["value"]["points"])
        expected = (np.array(outline) + 0.5) / [WIDTH, HEIGHT] * 100
        assert np.allclose(points, expected, atol=1e-3)


def test_a_config_with_nothing_to_fill_is_refused_at_connection(driven):
    answers, _ = driven
    refusal = answers["text"]["refused"] or ""
    assert "400 Client Error" in refusal and "refused/schema-has-no-Image-tag" in refusal  # the reason, as shown


def test_brush_rle_decodes_with_label_studios_own_decoder(label_studio, tmp_path):
    """Masks that exercise every run-length field size, runs split over 65,536 values, empty and full masks."""
    from sam3_core.masks.brush_rle import encode_mask

    bin_dir = label_studio.bin_dir
    rng = np.random.default_rng(7)
    stripes = np.zeros((300, 400), bool)
    stripes[:, ::7] = True
    long_runs = np.zeros((500, 300), bool)
    long_runs[200:] = True
    masks = [rng.random((37, 53)) > 0.5, stripes, long_runs, np.zeros((9, 11), bool), np.ones((1, 1), bool)]
    cases = [{"shape": mask.shape, "rle": list(encode_mask(mask))} for mask in masks]
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    script = (
        "import json, sys, numpy as np\n"
        "from label_studio_sdk.converter.brush import decode_rle\n"
        "cases = json.load(open(sys.argv[1]))\n"
        "masks = [(decode_rle(c['rle']).reshape(*c['shape'], 4) > 0).all(-1) for c in cases]\n"
        "print(json.dumps([mask.astype(int).tolist() for mask in masks]))\n"
    )
    done = subprocess.run(
        [str(bin_dir / "python"), "-c", script, str(tmp_path / "cases.json")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for mask, decoded in zip(masks, json.loads(done.stdout), strict=True):
        assert np.array_equal(np.array(decoded, bool), mask)


def test_both_kinds_of_api_key_read_label_studios_files_and_a_wrong_one_is_not_echoed(driven, label_studio):
    """The backend's image reader in process against the running Label Studio: its legacy token, a personal access
    token (exchanged for an access token at /api/token/refresh/), and a key Label Studio refuses."""
    from sam3_core.adapters.labelstudio.files import TaskImages
    from sam3_core.errors import RequestError
    from sam3_core.settings import LabelStudioSettings, RequestSettings

    answers, _ = driven
    upload = answers["brush"]["image_url"]
    expected = encode(scene(WIDTH, HEIGHT))
    for key in (label_studio.token, answers["personal_access_token"]):
        images = TaskImages(LabelStudioSettings(label_studio.url, key), RequestSettings())
        assert images.read(upload, "image") == expected
        assert images.read(label_studio.url + upload, "image") == expected  # the absolute URL on that host too
    wrong = "ffffffffffffffffffffffffffffffffffffffff"
    with pytest.raises(RequestError, match="could not be fetched") as refused:
        TaskImages(LabelStudioSettings(label_studio.url, wrong), RequestSettings()).read(upload, "image")
    assert wrong not in str(refused.value)


def test_the_editor_shows_the_sam3_prediction(driven, label_studio, tmp_path_factory):
    """Label Studio's own editor in Chromium: the task's SAM3 prediction with its regions and labels, and the
    project's model page showing the backend connected (screenshots for docs/LABEL_STUDIO.md)."""
    from playwright import sync_api as playwright

    from chromium import WAIT_MS, browser_page, screenshot_folder

    answers, _ = driven
    brush = answers["brush"]
    folder = screenshot_folder(tmp_path_factory)
    errors: list[str] = []
    with browser_page(label_studio.url + "/user/login/", errors) as page:
        page.fill('input[name="email"]', label_studio.email)
        page.fill('input[name="password"]', label_studio.password)
        page.click('button[type="submit"]')
        page.wait_for_load_state("networkidle", timeout=WAIT_MS)
        task_page = f"{label_studio.url}/projects/{brush['project']}/data?task={brush['task']}"
        score = f"{100 * brush['stored'][0]['score']:.2f}%"  # the prediction's tab: model version and score
        regions = page.locator(".lsf-region-item, .lsf-outliner-item")
        for attempt in range(2):  # on a loaded 2-core machine the editor has once drawn the tab but no region list
            page.goto(task_page)
            page.get_by_text(score).wait_for(timeout=WAIT_MS)
            try:
                regions.first.wait_for(timeout=WAIT_MS // 2)
                break
            except playwright.TimeoutError:
                if attempt:
                    raise
        page.screenshot(path=folder / "label-studio-prediction.png")
        assert page.get_by_text("sam3", exact=True).count() >= 1
        assert page.locator(".lsf-outliner-item", has_text="kitten").count() >= 1
        page.goto(f"{label_studio.url}/projects/{brush['project']}/settings/ml")
        page.get_by_text("Connected").first.wait_for(timeout=WAIT_MS)
        page.screenshot(path=folder / "label-studio-model-connected.png")
