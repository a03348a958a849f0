"""X-AnyLabeling's own remote-server client (``x-anylabeling-cvhub``, headless) against ``sam3-serve``: the model
list, a text prompt, a click, a box and the rectangles task, with the token in its ``Token`` header; the shapes
it builds match the main API's answer to the same prompts (polygons rasterised: IoU >= 0.98 with what polygons
of the masks can cover; rectangles: the boxes). Its video model: a text prompt on a frame and its propagation
(the files it writes beside each frame) and a click there match the session API's answers."""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

import pytest
from PIL import Image

from sam3_core.masks import rle

from clips import disc_frames
from helpers import b64, decode_mask, fill_polygon, iou, polygon_coverage
from tool_clients import TOKEN, run_driver

KNOWN_WIDGETS = {  # the client's supported_remote_widgets (x-anylabeling-cvhub 4.2.1)
    "button_send", "button_add_point", "button_add_rect", "add_pos_rect", "add_neg_rect", "button_run_rect",
    "button_remove_point", "button_clear", "button_finish_object", "input_conf", "edit_conf", "input_iou",
    "edit_iou", "output_label", "output_select_combobox", "toggle_preserve_existing_annotations",
    "button_classes_filter", "button_run", "edit_text", "mask_fineness_slider", "mask_fineness_value_label",
    "remote_task_select_combobox",
}  # fmt: skip


class Lines(logging.Handler):
    """The messages logged while it is attached."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture(scope="module")
def frame_files(tmp_path_factory) -> list[Path]:
    """A short video as X-AnyLabeling holds one: numbered image files in a folder."""
    folder = tmp_path_factory.mktemp("x-anylabeling-video")
    paths = []
    for index, frame in enumerate(disc_frames(6, (320, 240))):  # parts of masks large enough for polygons
        paths.append(folder / f"frame_{index:03d}.png")
        Image.fromarray(frame).save(paths[-1])
    return paths


@pytest.fixture(scope="module")
def received(tools_url, scene_file, frame_files, tmp_path_factory):
    """What the client made of each call, and what the server logged meanwhile."""
    logger, lines = logging.getLogger("sam3_core"), Lines()
    logger.addHandler(lines)
    try:
        folder = str(tmp_path_factory.mktemp("x-anylabeling"))
        frames = [str(path) for path in frame_files]
        found = run_driver(
            "x-anylabeling", "drive_x_anylabeling.py", tools_url, TOKEN, str(scene_file), folder, *frames
        )
    finally:
        logger.removeHandler(lines)
    return found, lines.lines


def main_answer(handler, scene_file, **fields):
    return handler({"inputs": {"image": b64(scene_file.read_bytes()), **fields}})


def by_object(shapes):
    objects = defaultdict(list)
    for shape in shapes:
        objects[shape["group_id"]].append(shape)
    return [objects[key] for key in sorted(objects)]


def assert_polygons_match(shapes, answer, labels=None):
    objects = by_object(shapes)
    assert len(objects) == answer["num_objects"] > 0
    for rank, parts in enumerate(objects):
        assert {part["shape_type"] for part in parts} == {"polygon"}
        assert {part["label"] for part in parts} == {labels or answer["labels"][rank]}
        assert abs(parts[0]["score"] - answer["scores"][rank]) < 1e-6
        mask = decode_mask(answer["masks"][rank])
        drawn = fill_polygon([], mask.shape)
        for part in parts:
            drawn |= fill_polygon(part["points"], mask.shape)
        assert iou(drawn, polygon_coverage(mask)) >= 0.98


def test_the_model_list_offers_sam3_with_the_clients_own_widgets(received):
    found, _ = received
    [(model_id, model), (video_id, video)] = found["models"].items()
    assert model_id == "segment_anything_3" and "SAM3" in model["display_name"]
    assert video_id == "segment_anything_3_video" and video["batch_processing_mode"] == "video"
    assert {widget["name"] for widget in video["widgets"]} <= KNOWN_WIDGETS
    names = {widget["name"] for widget in model["widgets"]}
    assert names <= KNOWN_WIDGETS and {"edit_text", "button_add_point", "add_pos_rect", "edit_conf"} <= names
    assert [task["id"] for task in model["available_tasks"]] == ["polygon", "rectangle"]


def test_a_text_prompt_gives_every_instance_as_polygons(received, handler, scene_file):
    found, _ = received
    answer = main_answer(handler, scene_file, text_prompts=["disc", "square"], confidence_threshold=0.1)
    assert_polygons_match(found["text"], answer)
    assert found["messages"] == []


def test_a_click_and_a_box_give_their_object(received, handler, scene_file):
    found, _ = received
    click = main_answer(handler, scene_file, points=[[100, 90], [20, 20]], point_labels=[1, 0], confidence_threshold=0)
    assert_polygons_match(found["click"], click, labels="AUTOLABEL_OBJECT")
    box = main_answer(handler, scene_file, boxes=[[40, 40, 200, 180]], confidence_threshold=0)
    assert_polygons_match(found["box"], box, labels="AUTOLABEL_OBJECT")


def test_the_rectangles_task_gives_the_boxes(received, handler, scene_file):
    found, _ = received
    answer = main_answer(handler, scene_file, text_prompts=["disc"], confidence_threshold=0.1)
    assert len(found["text_rectangles"]) == answer["num_objects"] > 0
    for shape, box in zip(found["text_rectangles"], answer["boxes"], strict=True):
        x1, y1, x2, y2 = box
        assert shape["shape_type"] == "rectangle"
        corners = [v for point in shape["points"] for v in point]
        assert corners == pytest.approx([x1, y1, x2, y1, x2, y2, x1, y2])


def test_a_refusal_is_shown_by_the_client_and_logged_with_its_reason(received):
    found, logged = received
    assert found["refused"] == [] and "400" in found["refused_messages"][0]
    assert any("/v1/predict: 400 params.marks[0].data: expected 4 numbers" in line for line in logged), logged
    assert not any(TOKEN in line for line in logged)


def session_answers(handler, frame_files):
    """The same video through the session API: the prompt frame's objects, then forward propagation."""
    frames = [b64(path.read_bytes()) for path in frame_files]
    session_id = handler({"inputs": {"type": "start_session", "video": frames}})["session_id"]
    prompt = {"type": "add_prompt", "session_id": session_id, "frame_index": 1, "text_prompts": ["disc"]}
    prompted = handler({"inputs": {**prompt, "confidence_threshold": 0.1}})
    propagated = handler(
        {"inputs": {"type": "propagate_in_video", "session_id": session_id, "propagation_direction": "forward"}}
    )
    handler({"inputs": {"type": "close_session", "session_id": session_id}})
    return prompted, propagated


def assert_shapes_cover(shapes, objects):
    """``shapes`` (group_id = object id + 1) fill what polygons of each object's mask can cover."""
    by_group = {group[0]["group_id"]: group for group in by_object(shapes)}
    assert sorted(by_group) == sorted(obj["object_id"] + 1 for obj in objects) and objects
    for obj in objects:
        mask = rle.decode(obj["rle"])
        drawn = fill_polygon([], mask.shape)
        for part in by_group[obj["object_id"] + 1]:
            assert part["label"] == obj["label"] and part["shape_type"] == "polygon"
            drawn |= fill_polygon(part["points"], mask.shape)
        assert iou(drawn, polygon_coverage(mask)) >= 0.98


def test_the_video_model_prompts_a_frame_and_propagates_through_sessions(received, handler, frame_files):
    found, _ = received
    video = found["video"]
    prompted, propagated = session_answers(handler, frame_files)
    assert_shapes_cover(video["prompt"], prompted["objects"])
    assert sorted(map(int, video["propagated"])) == propagated["video"]["frame_indices"] == [1, 2, 3, 4, 5]
    for index, shapes in video["propagated"].items():
        on_frame = [
            {"object_id": obj["object_id"], "label": obj["label"], **entry}
            for obj in propagated["objects"]
            for entry in obj["frames"]
            if entry["frame_index"] == int(index)
        ]
        assert_shapes_cover(shapes, on_frame)


def test_a_click_on_the_video_model_makes_an_object(received, handler, frame_files):
    """X-AnyLabeling sends clicks on a video as fractions of the frame with object id 10000, Meta's convention."""
    found, _ = received
    video = found["video"]
    assert not any("error" in line.lower() for line in video["messages"]), video["messages"]
    frames = [b64(path.read_bytes()) for path in frame_files]
    session_id = handler({"inputs": {"type": "start_session", "video": frames}})["session_id"]
    click = {"points": [[10 / 320, 10 / 240]], "point_labels": [1], "obj_id": 10000}
    answer = handler({"inputs": {"type": "add_prompt", "session_id": session_id, "frame_index": 0, **click}})
    handler({"inputs": {"type": "close_session", "session_id": session_id}})
    shapes = [{**shape, "label": "visual"} for shape in video["click"]]  # the client labels them AUTOLABEL_OBJECT
    assert {shape["label"] for shape in video["click"]} == {"AUTOLABEL_OBJECT"}
    assert_shapes_cover(shapes, answer["objects"])
