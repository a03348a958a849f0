"""The web UI's Video tab in a real browser (Chromium driven by Playwright, as test_ui.py) against sam3-serve
--ui with the tiny random checkpoint: upload a synthetic clip (shapes moving, written here with OpenCV), track a
text prompt at threshold 0 (the random weights find things there), play the result, compare it with the service's
answer to the same request, download the JSON, and a file that is not a video. Tracking costs about 10 s per frame
on a CPU with the tiny checkpoint (its image size is the real 1008), so the runs here track 1 to 3 frames.
Screenshots go to $SAM3_UI_SCREENSHOTS, else to a temporary folder; the path is printed."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import requests
from PIL import Image

from sam3_core.masks import rle
from sam3_core.ui.page import build_ui

from chromium import VIEWPORT, WAIT_MS, browser_page, choose_file, in_viewport, screenshot_folder
from clips import disc_frames, disc_response, write_clip
from helpers import free_port

PLAYER = "#player .sam3-video"
SCRIPT_ERRORS: list[str] = []
CLIP_SIZE = (160, 120)
CLIP_FPS = 10.0


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    return screenshot_folder(tmp_path_factory)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """12 frames of 160x120 at 10 fps (mp4v): a red square moving right, a blue disc moving left."""
    width, height = CLIP_SIZE
    frames = []
    for index in range(12):
        frame = np.full((height, width, 3), 60, np.uint8)
        x = 8 + 6 * index
        frame[20:60, x : x + 40] = (220, 30, 30)  # red
        cv2.circle(frame, (width - 30 - 6 * index, 85), 22, (30, 60, 220), -1)  # blue
        frames.append(frame)
    path = tmp_path_factory.mktemp("video") / "shapes.mp4"
    write_clip(path, frames, fps=CLIP_FPS)
    return path


@pytest.fixture(scope="module")
def page(server):
    """The page at 1280x800 on the Video tab."""
    with browser_page(f"{server}/ui/", SCRIPT_ERRORS) as page:
        page.get_by_role("tab", name="Video").click()
        page.locator(f"{PLAYER} .sam3-screen").wait_for(state="attached", timeout=WAIT_MS)
        yield page


def player(page) -> dict:
    """What the player publishes: frame shown, frame count, playing, busy, objects, shown ids, ids drawn."""
    data = page.evaluate(f"() => ({{...document.querySelector('{PLAYER}').dataset}})")
    for key in ("objects", "shown", "drawn", "request", "onFrames"):
        data[key] = json.loads(data.get(key) or "null")
    return data


def message(page) -> str:
    return page.locator(f"{PLAYER} .sam3-message").inner_text()


def upload(page, path: Path) -> None:
    choose_file(page, "#video-upload", path)
    page.wait_for_function(
        f"() => document.querySelector('{PLAYER} .sam3-message')?.innerText.includes({json.dumps(path.name)})",
        timeout=WAIT_MS,
    )


def fill(page, selector: str, value) -> None:
    field = page.locator(selector)
    field.fill(str(value))
    field.press("Enter")
    page.wait_for_timeout(200)


def track(page, prompts: str, threshold: float, max_frames: int) -> None:
    """Set the fields, press Track, wait for the answer (a result or a message)."""
    fill(page, "#video-threshold input[type=number]", threshold)
    fill(page, "#video-max-frames input", max_frames)
    fill(page, "#video-max-objects input", 3)
    page.locator("#video-prompts input, #video-prompts textarea").first.fill(prompts)
    before = player(page).get("request")
    page.locator("#video-run").click()
    page.wait_for_function(f"() => document.querySelector('{PLAYER}').dataset.busy === '1'", timeout=WAIT_MS)
    page.wait_for_function(f"() => document.querySelector('{PLAYER}').dataset.busy === '0'", timeout=WAIT_MS * 3)
    assert player(page)["request"] != before or before is None


def screen(page) -> np.ndarray:
    shot = page.locator(f"{PLAYER} .sam3-screen").screenshot()
    return np.asarray(Image.open(io.BytesIO(shot)).convert("RGB"), dtype=np.int16)


def test_the_tab_announces_random_weights_and_shows_the_clip(page, clip, screenshots):
    notice = page.locator("#weights-notice")
    notice.wait_for(timeout=WAIT_MS)
    assert "randomly initialised" in notice.inner_text() and in_viewport(notice.bounding_box())
    upload(page, clip)
    assert "160 \u00d7 120" in message(page) and "10 fps" in message(page)
    page.wait_for_function(f"() => document.querySelector('{PLAYER}').dataset.kind === 'clip'", timeout=WAIT_MS)
    assert player(page)["frames"] == "1"
    shown = screen(page)
    assert shown.std() > 10  # the first frame is drawn, not an empty canvas
    assert in_viewport(page.locator(f"{PLAYER} .sam3-screen").bounding_box())
    page.screenshot(path=str(screenshots / "v01-clip.png"))


def test_tracking_plays_with_overlays_and_matches_the_service(page, clip, server, screenshots):
    track(page, "red square", 0.0, 3)
    state = player(page)
    assert state["kind"] == "result", message(page)
    assert state["frames"] == "3"
    objects = state["objects"]
    assert objects, message(page)
    assert message(page).startswith(f"{len(objects)} object")
    legend = page.locator(f"{PLAYER} .sam3-legend label")
    assert legend.count() == len(objects)
    assert legend.first.locator(".sam3-label").inner_text() == "red square"
    # The same request to the service (its HTTP API, the video as base64) finds the same objects.
    request = state["request"]
    assert request["fps"] == 5.0 and request["max_frames"] == 3 and request["text_prompts"] == ["red square"]
    video = base64.b64encode(clip.read_bytes()).decode()
    answer = requests.post(
        f"{server}/api/sam2_compatible", json={"inputs": {"video": video, **request}}, timeout=WAIT_MS * 3 / 1000
    )
    assert answer.status_code == 200, answer.text[:300]
    expected = answer.json()
    assert [{"object_id": o["object_id"], "label": o["label"]} for o in expected["objects"]] == objects
    assert expected["video"]["frame_indices"] == [0, 2, 4]  # 5 fps out of 10
    # It plays by itself: the frame shown advances.
    seen = {player(page)["frame"]}
    for _ in range(40):
        page.wait_for_timeout(100)
        seen.add(player(page)["frame"])
    assert len(seen) >= 2 and player(page)["playing"] == "1"
    page.locator(f"{PLAYER} .sam3-play").click()  # pause
    assert player(page)["playing"] == "0"
    page.locator(f"{PLAYER} .sam3-seek").fill("1")  # the slider: frame 2 of 3
    assert player(page)["frame"] == "1"
    assert "frame 2 / 3" in page.locator(f"{PLAYER} .sam3-when").inner_text()
    drawn = player(page)["drawn"]
    on_frame = [o["object_id"] for o in expected["objects"] if any(f["frame_index"] == 2 for f in o["frames"])]
    assert drawn == on_frame and drawn
    page.screenshot(path=str(screenshots / "v02-tracked.png"))
    # Hiding an object in the legend takes its tint, outline and label off the frame (the one drawn last: the
    # random weights' masks cover one another).
    with_all = screen(page)
    row = page.locator(f"{PLAYER} .sam3-legend label[data-object-id='{drawn[-1]}']")
    row.locator("input").uncheck()
    assert drawn[-1] not in player(page)["shown"] and drawn[-1] not in player(page)["drawn"]
    hidden = np.abs(with_all - screen(page)).mean()
    page.screenshot(path=str(screenshots / "v03-one-hidden.png"))
    row.locator("input").check()
    shown_again = np.abs(with_all - screen(page)).mean()
    assert hidden > 0.3 and shown_again < hidden / 5, (hidden, shown_again)


def test_the_json_download_is_the_response(page, tmp_path):
    link = page.locator("#video-downloads a[download]")
    link.first.wait_for(timeout=WAIT_MS)
    assert link.count() == 1
    with page.expect_download(timeout=WAIT_MS) as download:
        link.first.click()
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    assert path.name.endswith("_tracks.json")
    response = json.loads(path.read_text())
    assert response["success"] and response["video"]["num_frames"] == 3
    objects = [{"object_id": o["object_id"], "label": o["label"]} for o in response["objects"]]
    assert objects == player(page)["objects"]
    assert all("rle" in frame for found in response["objects"] for frame in found["frames"])


def test_a_file_that_is_not_a_video_then_the_next_run(page, clip, tmp_path, screenshots):
    bogus = tmp_path / "notes.mp4"
    bogus.write_text("these are notes, not a video")
    upload(page, bogus)
    page.wait_for_function(f"() => document.querySelector('{PLAYER} .sam3-message.sam3-error')", timeout=WAIT_MS)
    text = message(page)
    assert text.startswith("Cannot open notes.mp4") and "Traceback" not in text and len(text) < 300
    assert page.locator(".toast-body").count() == 0  # no Gradio toast: the message sits in the player
    assert player(page)["kind"] == "result" and player(page)["frames"] == "3"  # the clip shown before stays
    page.screenshot(path=str(screenshots / "v04-not-a-video.png"))
    upload(page, clip)
    track(page, "blue disc", 1.0, 1)
    assert player(page)["kind"] == "result"
    assert "Nothing found above the confidence threshold 1.00" in message(page)
    assert player(page)["objects"] == [] and page.locator(f"{PLAYER} .sam3-legend label").count() == 0
    page.screenshot(path=str(screenshots / "v05-nothing-found.png"))


def wait_idle(page) -> None:
    """Until the player has an answer to what was just sent (busy or a click pending, then neither)."""
    script = f"() => {{ const d = document.querySelector('{PLAYER}').dataset; return d.busy + d.pending === '00'; }}"
    page.wait_for_function(script, timeout=WAIT_MS * 3)


def click_frame(page, x: float, y: float, **options) -> None:
    """A click at ``(x, y)``, fractions of the frame shown; the answer waited for."""
    screen_element = page.locator(f"{PLAYER} .sam3-screen")
    box = screen_element.bounding_box()
    screen_element.click(position={"x": x * box["width"], "y": y * box["height"]}, **options)
    page.wait_for_function(f"() => document.querySelector('{PLAYER}').dataset.pending === '1'", timeout=WAIT_MS)
    wait_idle(page)


def drag_frame(page, start: tuple[float, float], end: tuple[float, float]) -> None:
    """A box dragged from ``start`` to ``end`` (fractions of the frame shown); the answer waited for."""
    area = page.locator(f"{PLAYER} .sam3-screen").bounding_box()

    def at(x: float, y: float) -> tuple[float, float]:
        return area["x"] + x * area["width"], area["y"] + y * area["height"]

    page.mouse.move(*at(*start))
    page.mouse.down()
    page.mouse.move(*at(*end), steps=6)
    page.mouse.up()
    page.wait_for_function(f"() => document.querySelector('{PLAYER}').dataset.pending === '1'", timeout=WAIT_MS)
    wait_idle(page)


EDITED = """() => {
  const ui = window.sam3video.state();
  return {boxes: Object.fromEntries(ui.boxes), clicks: Object.fromEntries(ui.clicks),
          objects: ui.objects.map((o) => ({object_id: o.object_id, label: o.label, score: o.tracks[0].score}))};
}"""


def test_a_dragged_box_makes_the_object_the_session_api_makes_for_it(page, clip, server, screenshots):
    """A box dragged on the frame (the first edit: it starts the session) makes a new object; a click then refines
    it, sent with the box. Each answer is the session API's for the same box (and click) on that frame: the same
    object, label and score."""
    upload(page, clip)
    fill(page, "#video-threshold input[type=number]", 0.0)
    fill(page, "#video-max-frames input", 2)
    fill(page, "#video-max-objects input", 3)
    drag_frame(page, (0.05, 0.15), (0.4, 0.55))
    state, edited = player(page), page.evaluate(EDITED)
    assert state["session"] == "1" and state["selected"] == "0", message(page)
    box = edited["boxes"]["0:0"]
    assert box[0] < box[2] and box[1] < box[3] and not edited["clicks"], edited
    click_frame(page, 0.2, 0.35)
    refined = page.evaluate(EDITED)
    assert refined["boxes"] == {"0:0": box} and len(refined["clicks"]["0:0"]) == 1, refined
    page.screenshot(path=str(screenshots / "v09-session-box.png"))

    video = base64.b64encode(clip.read_bytes()).decode()
    fields = {"fps": 5.0, "max_frames": 2, "confidence_threshold": 0.0, "max_objects": 3}
    started = requests.post(server + "/", json={"inputs": {"type": "start_session", "video": video, **fields}},
                            timeout=WAIT_MS / 1000).json()  # fmt: skip
    prompt = {"type": "add_prompt", "session_id": started["session_id"], "frame_index": 0, "obj_id": 0}
    click = refined["clicks"]["0:0"][0]
    for sent, shown in (
        ({"boxes": [box]}, edited),
        ({"boxes": [box], "points": [[click["x"], click["y"]]], "point_labels": [1], "coordinates": "pixels"}, refined),
    ):
        answer = requests.post(server + "/", json={"inputs": {**prompt, **sent}}, timeout=WAIT_MS / 1000).json()
        expected = [{"object_id": o["object_id"], "label": o["label"], "score": o["score"]} for o in answer["objects"]]
        assert shown["objects"] == expected, (sent, shown["objects"], expected)
    requests.post(server + "/", json={"inputs": {"type": "close_session", "session_id": started["session_id"]}})


def test_editing_a_session_find_fix_add_propagate_remove_download(page, clip, server, tmp_path, screenshots):
    """The editor: Find on the frame shown starts a session of the sampled frames and shows what the session API
    answers for the same request; a click with an object picked fixes it (same id and label), a click after New
    object adds one; Propagate fills every frame; the cross removes an object from every frame; the downloads
    (the video response, YouTube-VIS and COCO) say what the player shows."""
    upload(page, clip)
    fill(page, "#video-threshold input[type=number]", 0.0)
    fill(page, "#video-max-frames input", 2)
    fill(page, "#video-max-objects input", 3)
    page.locator("#video-prompts input, #video-prompts textarea").first.fill("red square")
    page.locator("#video-find").click()
    page.wait_for_function(f"() => document.querySelector('{PLAYER}').dataset.session === '1'", timeout=WAIT_MS)
    wait_idle(page)
    state = player(page)
    assert state["frames"] == "2" and state["objects"], message(page)
    assert all(found["label"] == "red square" for found in state["objects"])
    page.screenshot(path=str(screenshots / "v06-session-found.png"))

    # The same steps through the session API over HTTP find the same objects on that frame.
    video = base64.b64encode(clip.read_bytes()).decode()
    fields = {"fps": 5.0, "max_frames": 2, "confidence_threshold": 0.0, "max_objects": 3}
    started = requests.post(server + "/", json={"inputs": {"type": "start_session", "video": video, **fields}},
                            timeout=WAIT_MS / 1000).json()  # fmt: skip
    prompt = {"type": "add_prompt", "session_id": started["session_id"], "frame_index": 0}
    answer = requests.post(server + "/", json={"inputs": {**prompt, "text_prompts": ["red square"]}},
                           timeout=WAIT_MS / 1000).json()  # fmt: skip
    expected = [{"object_id": o["object_id"], "label": o["label"]} for o in answer["objects"]]
    assert state["objects"] == expected
    requests.post(server + "/", json={"inputs": {"type": "close_session", "session_id": started["session_id"]}})

    # Fix the first object with a click: it keeps its id and label, and the next clicks go to it.
    first = state["objects"][0]["object_id"]
    page.locator(f"{PLAYER} .sam3-legend label[data-object-id='{first}'] .sam3-fix").click()
    assert player(page)["selected"] == str(first)
    click_frame(page, 0.3, 0.3)
    state = player(page)
    assert state["selected"] == str(first) and "Object" in message(page), message(page)
    assert {"object_id": first, "label": "red square"} in state["objects"] or first not in state["drawn"]
    # A new object from a click after New object (a negative shift-click refines it on the way).
    page.locator(f"{PLAYER} .sam3-new").click()
    click_frame(page, 0.75, 0.7)
    added = int(player(page)["selected"])
    assert added > max(found["object_id"] for found in state["objects"])
    click_frame(page, 0.9, 0.9, modifiers=["Shift"])
    assert player(page)["selected"] == str(added)
    page.screenshot(path=str(screenshots / "v07-session-clicked.png"))

    page.locator("#video-propagate").click()
    page.locator("#video-downloads a[download]").first.wait_for(timeout=WAIT_MS * 3)
    wait_idle(page)
    state = player(page)
    assert "through 2 frames" in message(page), message(page)
    page.screenshot(path=str(screenshots / "v08-session-propagated.png"))
    links = page.locator("#video-downloads a[download]")
    assert links.count() == 3
    documents = {}
    for number in range(3):
        with page.expect_download(timeout=WAIT_MS) as download:
            links.nth(number).click()
        path = tmp_path / download.value.suggested_filename
        download.value.save_as(path)
        documents[path.name.rsplit("_", 1)[1]] = json.loads(path.read_text())
    tracks, ytvis, coco = documents["tracks.json"], documents["ytvis.json"], documents["coco.json"]
    listed = [{"object_id": o["object_id"], "label": o["label"]} for o in tracks["objects"]]
    assert listed == state["objects"]
    on_frames = {o["object_id"]: len(o["frames"]) for o in tracks["objects"]}
    assert on_frames == {int(key): value for key, value in state["onFrames"].items() if value}
    assert len(ytvis["annotations"]) == len(tracks["objects"]) and ytvis["videos"][0]["length"] == 2
    assert len(coco["images"]) == 2 and len(coco["annotations"]) == sum(on_frames.values())
    assert {a["track_id"] for a in coco["annotations"]} == set(on_frames)

    # The cross takes an object off every frame.
    gone = state["objects"][-1]["object_id"]
    page.locator(f"{PLAYER} .sam3-legend label[data-object-id='{gone}'] .sam3-remove").click()
    page.wait_for_function(
        f"() => !JSON.parse(document.querySelector('{PLAYER}').dataset.objects).some((o) => o.object_id === {gone})",
        timeout=WAIT_MS,
    )
    assert "removed" in message(page)


@contextlib.contextmanager
def canned_tab(page, call: Callable[[dict], dict]) -> Iterator:
    """A second page on the Video tab of a UI whose service is ``call`` (a canned answer: no model runs)."""
    demo = build_ui(call, lambda: {"random_weights": True})
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True)
    other = page.context.browser.new_page(viewport=VIEWPORT)
    try:
        other.goto(url, wait_until="domcontentloaded", timeout=WAIT_MS)
        other.get_by_role("tab", name="Video").click()
        other.locator(f"{PLAYER} .sam3-screen").wait_for(state="attached", timeout=WAIT_MS)
        yield other
    finally:
        other.close()
        demo.close()


def test_48_frames_of_640x360_play_at_the_source_pace(page, tmp_path, capsys):
    """The player at the tab's default size (48 frames, 640x360, 7 objects), on a page whose service answers a
    canned response (tracking 48 frames for real would take minutes here): shown in time, played at 10 fps."""
    size = (640, 360)
    path = tmp_path / "long.mp4"
    write_clip(path, disc_frames(60, size), fps=10.0)

    def call(payload: dict) -> dict:
        inputs = payload["inputs"]
        assert inputs["frame_stride"] == 1 and "fps" not in inputs
        response = disc_response(size, list(range(inputs["max_frames"])), 10.0)
        for number in range(5):
            mask = np.zeros(size[::-1], bool)
            mask[250:330, 20 + 100 * number : 90 + 100 * number] = True
            box = [20.0 + 100 * number, 250.0, 90.0 + 100 * number, 330.0]
            frames = [{"frame_index": index, "score": 0.5, "box": box, "rle": rle.encode(mask)}
                      for index in response["video"]["frame_indices"]]  # fmt: skip
            response["objects"].append({"object_id": 20 + number, "label": "box", "score": 0.5, "frames": frames})
        response["num_objects"] = len(response["objects"])
        return response

    with canned_tab(page, call) as other:
        upload(other, path)
        fill(other, "#video-fps input", 0)
        fill(other, "#video-max-frames input", 48)  # the GPU default (a CPU's is 8)
        other.locator("#video-prompts input, #video-prompts textarea").first.fill("ball")
        started = time.perf_counter()
        other.locator("#video-run").click()
        other.wait_for_function(f"() => document.querySelector('{PLAYER}').dataset.kind === 'result'", timeout=WAIT_MS)
        shown_s = time.perf_counter() - started
        assert player(other)["frames"] == "48" and len(player(other)["objects"]) == 7
        seen = other.evaluate(
            f"""() => new Promise((done) => {{
                const root = document.querySelector('{PLAYER}'), seen = new Set(), began = performance.now();
                const every = setInterval(() => {{
                    seen.add(root.dataset.frame);
                    if (performance.now() - began > 2000) {{ clearInterval(every); done(seen.size); }}
                }}, 20);
            }})"""
        )
        assert 8 <= seen <= 22, seen  # 2 s at the source's 10 fps (fewer when the machine is busy)
        with capsys.disabled():
            print(f"\n48 frames 640x360, 7 objects: shown {shown_s:.1f} s after Track; {seen} frames drawn in 2 s")


def test_a_clip_uploaded_while_tracking_is_the_one_tracked_next(page, tmp_path):
    """Upload clip A, press Track, upload clip B and press Track while A is being tracked: B is tracked once A's
    run ends (not dropped), A's late answer does not bring A back, and the player ends idle showing B's result."""
    size = (160, 120)
    clips = {
        name: write_clip(tmp_path / f"{name}.mp4", disc_frames(count, size), fps=10.0)
        for name, count in (("a", 4), ("b", 6))
    }
    sent: list[bytes] = []

    def call(payload: dict) -> dict:
        inputs = payload["inputs"]
        sent.append(inputs["video"])
        if len(sent) == 1:
            time.sleep(4)  # the first run is slow: B is uploaded and tracked meanwhile
        frames = 4 if len(sent) == 1 else 6
        return disc_response(size, list(range(min(inputs["max_frames"], frames))), 10.0)

    with canned_tab(page, call) as other:
        fill(other, "#video-max-frames input", 6)
        upload(other, tmp_path / "a.mp4")
        other.locator("#video-prompts input, #video-prompts textarea").first.fill("ball")
        other.locator("#video-run").click()
        other.wait_for_function(f"() => document.querySelector('{PLAYER}').dataset.busy === '1'", timeout=WAIT_MS)
        upload(other, tmp_path / "b.mp4")
        other.locator("#video-run").click()
        other.wait_for_function(
            f"() => document.querySelector('{PLAYER}').dataset.kind === 'result' "
            f"&& document.querySelector('{PLAYER}').dataset.busy === '0'",
            timeout=WAIT_MS,
        )
        assert [base64.b64decode(video) if isinstance(video, str) else video for video in sent] == [
            clips["a"],
            clips["b"],
        ]
        assert player(other)["frames"] == "3"  # B: 6 frames at 5 of its 10 fps (A would show 2)
        assert "tracking" not in other.locator(f"{PLAYER} .sam3-status").inner_text()


def test_no_script_errors(page):
    assert not SCRIPT_ERRORS
