"""The Label Studio backend in process, on the real handler (tiny checkpoint): labeling configs, prompts from
labels and from the editor's smart tools, results in each control's format, per-task errors, extra params.
Label Studio itself drives the same backend in tests/labelstudio."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image

from sam3_core.adapters.labelstudio.backend import LabelStudioBackend
from sam3_core.adapters.labelstudio.config import parse_labeling_config
from sam3_core.adapters.labelstudio.prompts import interactive_prompts
from sam3_core.errors import RequestError
from sam3_core.settings import Limits, RequestSettings, Settings

from helpers import b64, decode_mask, encode, scene

WIDTH, HEIGHT = 320, 240
IMAGE = "data:image/png;base64," + b64(encode(scene(WIDTH, HEIGHT)))
LABELS = '<Label value="kitten"/><Label value="P" alias="person"/><Label value="Car" hint="car"/>'


def config(control: str = "BrushLabels", extra: str = "") -> str:
    output = f'<{control} name="out" toName="img">{LABELS}</{control}>'
    return f'<View><Image name="img" value="$picture"/>{output}{extra}</View>'


def task(task_id: int = 1, image: str = IMAGE) -> dict:
    return {"id": task_id, "data": {"picture": image}}


def region(kind: str, value: dict, **extra) -> dict:
    return {"type": kind, "value": value, "original_width": WIDTH, "original_height": HEIGHT, **extra}


@pytest.fixture
def backend() -> LabelStudioBackend:
    return LabelStudioBackend(Settings())


def answer_with(handler):
    return lambda payload: handler(payload)


def test_the_config_gives_the_image_the_output_control_and_each_labels_prompt():
    read = parse_labeling_config(
        config(extra='<RectangleLabels name="b" toName="img"><Label value="x"/></RectangleLabels>')
    )
    assert (read.image_name, read.image_key, read.output_kind, read.output_name) == (
        "img",
        "picture",
        "brushlabels",
        "out",
    )
    assert [(label.value, label.prompt) for label in read.labels] == [
        ("kitten", "kitten"),
        ("P", "person"),
        ("Car", "car"),
    ]
    assert read.label_for(" PERSON ") == "P" and read.label_for("kitten") == "kitten" and read.label_for("dog") is None
    assert parse_labeling_config(config("RectangleLabels")).output_kind == "rectanglelabels"
    assert parse_labeling_config(config("PolygonLabels")).output_kind == "polygonlabels"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (None, "label_config: is missing"),
        ("<View><Image", "label_config: is not valid XML"),
        ('<View><Text name="t" value="$t"/></View>', "has no <Image> tag"),
        ('<View><Image name="i" value="$i"/><Choices name="c" toName="i"/></View>', "nothing this backend can fill"),
        ('<View><Image name="i"/><BrushLabels name="b" toName="i"/></View>', "has no value such as $image"),
    ],
)
def test_a_config_this_backend_cannot_fill_is_refused_by_name(text, says):
    with pytest.raises(RequestError, match="label_config") as refused:
        parse_labeling_config(text)
    assert says in str(refused.value)


def test_smart_regions_become_pixels_and_labels():
    read = parse_labeling_config(config())
    context = {
        "result": [
            region("keypointlabels", {"x": 25, "y": 50, "keypointlabels": ["kitten"]}, is_positive=True),
            region("keypointlabels", {"x": 75, "y": 50, "keypointlabels": ["kitten"]}, is_positive=False),
            region("rectanglelabels", {"x": 10, "y": 20, "width": 50, "height": 25, "rectanglelabels": ["Car"]}),
        ]
    }
    prompts = interactive_prompts(read, context)
    assert prompts.fields["points"] == [[80.0, 120.0], [240.0, 120.0]] and prompts.fields["point_labels"] == [1, 0]
    assert prompts.fields["boxes"] == [[32.0, 48.0, 192.0, 108.0]] and prompts.fields["box_labels"] == [1]
    assert prompts.fields["confidence_threshold"] == 0.0  # a click always gives its mask
    assert prompts.label_of("visual") == "Car"  # the label chosen on the last tool used
    typed = interactive_prompts(read, {"result": [region("textarea", {"text": ["person", "zebra"]})]})
    assert typed.fields["text_prompts"] == ["person", "zebra"] and "confidence_threshold" not in typed.fields
    assert typed.label_of("person") == "P" and typed.label_of("zebra") == "zebra"


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (region("keypointlabels", {"x": 101, "y": 5}), "params.context.result[0].value.x"),
        (region("keypointlabels", {"x": "5", "y": 5}), "params.context.result[0].value.x"),
        (region("keypointlabels", {"x": 10**400, "y": 5}), "params.context.result[0].value.x"),
        (region("rectanglelabels", {"x": 60, "y": 5, "width": 50, "height": 5}), "params.context.result[0].value"),
        ({"type": "keypointlabels", "value": {"x": 1, "y": 1}}, "params.context.result[0].original_width"),
        (region("textarea", {"text": [3]}), "params.context.result[0].value.text"),
        ("click", "params.context.result[0]"),
    ],
)
def test_out_of_range_or_malformed_regions_are_named(bad, field):
    with pytest.raises(RequestError) as refused:
        interactive_prompts(parse_labeling_config(config()), {"result": [bad]})
    assert refused.value.field == field


def test_pre_annotation_prompts_every_label_and_labels_each_instance(handler, backend):
    body = {"tasks": [task()], "label_config": config(), "project": "7.1"}
    [predicted] = backend.predict(body, answer_with(handler))["results"]
    reference = handler({"inputs": {"image": IMAGE, "text_prompts": ["kitten", "person", "car"]}})
    names = {"kitten": "kitten", "person": "P", "car": "Car"}
    assert [found["value"]["brushlabels"] for found in predicted["result"]] == [[names[n]] for n in reference["labels"]]
    assert predicted["model_version"] == "sam3" and predicted["score"] == pytest.approx(
        np.mean(reference["scores"]), 1e-3
    )
    for found, png in zip(predicted["result"], reference["masks"], strict=True):
        assert (found["from_name"], found["to_name"], found["type"]) == ("out", "img", "brushlabels")
        assert found["value"]["format"] == "rle" and isinstance(found["value"]["rle"][0], int)
        assert (found["original_width"], found["original_height"], found["image_rotation"]) == (WIDTH, HEIGHT, 0)
        # The RLE's header counts the RGBA values of the whole image; Label Studio's own decoder reads the masks back
        # in tests/labelstudio.
        assert int.from_bytes(bytes(found["value"]["rle"][:4]), "big") == 4 * WIDTH * HEIGHT
        assert decode_mask(png).shape == (HEIGHT, WIDTH)


def test_rectangles_and_polygons_are_in_percent_of_the_image(handler, backend):
    reference = handler({"inputs": {"image": IMAGE, "text_prompts": ["kitten", "person", "car"], "vectorize": True}})
    boxes = backend.predict({"tasks": [task()], "label_config": config("RectangleLabels")}, answer_with(handler))
    for found, (x1, y1, x2, y2) in zip(boxes["results"][0]["result"], reference["boxes"], strict=True):
        value = found["value"]
        assert value["x"] == pytest.approx(100 * x1 / WIDTH, abs=1e-3) and value["rotation"] == 0
        assert value["height"] == pytest.approx(100 * (y2 - y1) / HEIGHT, abs=1e-3)
        assert value["width"] == pytest.approx(100 * (x2 - x1) / WIDTH, abs=1e-3)
    outlines = backend.predict({"tasks": [task()], "label_config": config("PolygonLabels")}, answer_with(handler))
    polygons = [polygon for polygon in reference["polygons"] if len(polygon) >= 3]
    assert len(outlines["results"][0]["result"]) == len(polygons) > 0
    for found, polygon in zip(outlines["results"][0]["result"], polygons, strict=True):
        assert found["value"]["closed"] is True
        assert found["value"]["points"][0] == pytest.approx(
            [100 * (polygon[0][0] + 0.5) / WIDTH, 100 * (polygon[0][1] + 0.5) / HEIGHT], abs=1e-3
        )


def test_one_bad_task_among_many_is_marked_and_the_others_answered(handler):
    settings = Settings(request=RequestSettings(limits=Limits(max_batch_images=2)))  # three model batches
    backend = LabelStudioBackend(settings)
    tasks = [task(1), task(2, "data:image/png;base64,AAAA"), task(3, "s3://bucket/x.png"), task(4), {"id": 5}, task(6)]
    results = backend.predict({"tasks": tasks, "label_config": config()}, answer_with(handler))["results"]
    assert [("error" in result) for result in results] == [False, True, True, False, True, False]
    assert results[1] == {"error": results[1]["error"], "task": 2} and "result" not in results[1]
    assert results[1]["error"].startswith("tasks[1] (task 2).data.picture: is not a recognised image")
    assert results[2]["error"].startswith("tasks[2] (task 3).data.picture: is a 's3' URL")
    assert results[4]["error"].startswith("tasks[4] (task 5): expected a task with data")
    same_image = [
        [(found["value"]["brushlabels"], found["score"]) for found in results[k]["result"]] for k in (0, 3, 5)
    ]
    assert same_image[0] == same_image[1] == same_image[2] and same_image[0]


def test_an_interactive_call_that_fails_is_a_request_error(handler, backend):
    click = {"result": [region("keypointlabels", {"x": 50, "y": 50, "keypointlabels": ["kitten"]})]}
    body = {"tasks": [task(9, "s3://bucket/x.png")], "label_config": config(), "params": {"context": click}}
    with pytest.raises(RequestError, match=r"tasks\[0\] \(task 9\)\.data\.picture"):
        backend.predict(body, answer_with(handler))
    with pytest.raises(RequestError, match="an interactive prediction is for one task"):
        backend.predict({**body, "tasks": [task(1), task(2)]}, answer_with(handler))


def test_a_click_gives_the_main_apis_mask_with_the_chosen_label(handler, backend):
    click = {"result": [region("keypointlabels", {"x": 50, "y": 50, "keypointlabels": ["Car"]}, is_positive=True)]}
    body = {"tasks": [task()], "label_config": config(), "params": {"context": click}}
    [found] = backend.predict(body, answer_with(handler))["results"][0]["result"]
    reference = handler({"inputs": {"image": IMAGE, "points": [[160, 120]], "confidence_threshold": 0}})
    assert found["value"]["brushlabels"] == ["Car"] and found["score"] == pytest.approx(
        reference["scores"][0], abs=1e-4
    )


def test_extra_params_are_checked_as_the_main_api_checks_them_and_kept_per_project(handler, backend):
    assert backend.setup({"project": "3.1", "schema": config(), "extra_params": '{"confidence_threshold": 0.9}'}) == {
        "model_version": "sam3"
    }
    assert backend.options_of("3.1") == {"confidence_threshold": 0.9} and backend.options_of("4.1") == {}
    strict = backend.predict({"tasks": [task()], "label_config": config(), "project": "3.1"}, answer_with(handler))
    loose = backend.predict({"tasks": [task()], "label_config": config(), "project": "4.1"}, answer_with(handler))
    assert all(found["score"] >= 0.9 for found in strict["results"][0]["result"])
    assert len(strict["results"][0]["result"]) < len(loose["results"][0]["result"])
    for params, field in [
        ('{"confidence_threshold": 2}', "extra_params.confidence_threshold"),
        ({"max_objects": 0}, "extra_params.max_objects"),
        ('{"threshold": 0.5}', "extra_params.'threshold'"),
        ("{not json", "extra_params"),
        ("[1, 2]", "extra_params"),
    ]:
        with pytest.raises(RequestError) as refused:
            backend.setup({"project": "3.1", "schema": config(), "extra_params": params})
        assert refused.value.field == field


def test_a_pinned_revision_names_the_model_version():
    pinned = dataclasses.replace(Settings().model, revision="v1.0")
    assert LabelStudioBackend(dataclasses.replace(Settings(), model=pinned)).model_version == "sam3@v1.0"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"label_config": config()}, "tasks"),
        ({"tasks": [], "label_config": config()}, "tasks"),
        ({"tasks": "1", "label_config": config()}, "tasks"),
        ({"tasks": [task()]}, "label_config"),
        ({"tasks": [task()], "label_config": config(), "params": [1]}, "params"),
        ([task()], "body"),
    ],
)
def test_a_foreign_predict_body_is_refused_naming_the_field(handler, backend, body, field):
    with pytest.raises(RequestError) as refused:
        backend.predict(body, answer_with(handler))
    assert refused.value.field == field


def test_clicks_on_one_image_encode_it_once(handler, backend):
    mirrored = scene(WIDTH, HEIGHT).transpose(Image.Transpose.FLIP_LEFT_RIGHT)  # a picture no other test sends
    picture = "data:image/png;base64," + b64(encode(mirrored))
    cache = handler.engine.feature_cache
    misses = cache.misses
    for x in (20, 50, 80):
        click = {"result": [region("keypointlabels", {"x": x, "y": 50, "keypointlabels": ["kitten"]})]}
        body = {"tasks": [task(image=picture)], "label_config": config(), "params": {"context": click}}
        assert backend.predict(body, answer_with(handler))["results"][0]["result"]
    assert cache.misses == misses + 1  # the first click ran the ViT; the others read its features


def test_what_every_task_shares_fails_once_for_all_and_too_many_labels_are_refused_at_setup(handler, backend):
    limited = LabelStudioBackend(Settings(request=RequestSettings(limits=Limits(max_text_prompts=2))))
    with pytest.raises(RequestError, match=r"schema: has 3 labels to prompt for, at most 2 \(SAM3_MAX_TEXT_PROMPTS\)"):
        limited.setup({"project": "1.1", "schema": config()})
    no_labels = '<View><Image name="i" value="$i"/><BrushLabels name="b" toName="i"/></View>'
    with pytest.raises(RequestError, match="schema: <brushlabels> control has no <Label>"):
        backend.setup({"project": "1.1", "schema": no_labels})
    wordy = config().replace('hint="car"', 'hint="' + " ".join(["car"] * 40) + '"')  # over the model's 32 tokens
    results = backend.predict({"tasks": [task(1), task(2)], "label_config": wordy}, answer_with(handler))["results"]
    expected = [f"tasks[{k}] (task {k + 1}).text_prompts[2]: is " for k in (0, 1)]
    assert [result["error"][: len(expected[0])] for result in results] == expected
