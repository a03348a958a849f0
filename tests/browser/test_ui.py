"""The web UI in a real browser: headless Chromium (Debian's) driven by Playwright against sam3-serve --ui (the
session's server fixture), at 1280x800, on a 4000x3000 photo (a scikit-image photo upscaled here, never a
committed file). Screenshots go to $SAM3_UI_SCREENSHOTS, else to a temporary folder; the path is printed."""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from chromium import WAIT_MS, browser_page, choose_file, in_viewport, screenshot_folder

PHOTO_SIZE = (4000, 3000)
STAGE = "#stage .sam3-ui"
SCRIPT_ERRORS: list[str] = []  # uncaught exceptions in the page's scripts, over the whole module


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    return screenshot_folder(tmp_path_factory)


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    """A 4000x3000 JPEG: scikit-image's cat photo, upscaled (a phone photo's size)."""
    try:
        import skimage.data
    except ImportError:
        pytest.fail("scikit-image is needed for the UI test (the web UI's examples): pip install -e '.[ui]'")
    path = tmp_path_factory.mktemp("photo") / "cat-4000x3000.jpg"
    Image.fromarray(skimage.data.chelsea()).resize(PHOTO_SIZE, Image.Resampling.BICUBIC).save(path, quality=90)
    return path


@pytest.fixture(scope="module")
def page(server, photo):
    """The page at 1280x800 with the 4000x3000 photo uploaded (through the upload button's file chooser)."""
    with browser_page(f"{server}/ui/", SCRIPT_ERRORS) as page:
        page.locator(f"{STAGE} .sam3-marks").wait_for(state="attached", timeout=WAIT_MS)
        upload(page, photo)
        yield page


def upload(page, path: Path) -> None:
    choose_file(page, "#upload", path)
    page.wait_for_function(
        f"() => document.querySelector('{STAGE} .sam3-message')?.innerText.includes('{path.name}')", timeout=WAIT_MS
    )
    page.locator(f"{STAGE} .sam3-frame").wait_for(state="visible", timeout=WAIT_MS)
    page.wait_for_function(f"() => document.querySelector('{STAGE} .sam3-photo')?.complete", timeout=WAIT_MS)


def state(page) -> dict:
    """What the click layer publishes: prompts (image pixels), first box corner, busy, sequence, shown objects."""
    data = page.evaluate(f"() => ({{...document.querySelector('{STAGE}').dataset}})")
    for key in ("prompts", "shown"):
        data[key] = json.loads(data.get(key) or "[]")
    data["corner"] = json.loads(data["corner"]) if data.get("corner") else None
    return data


def message(page) -> str:
    return page.locator(f"{STAGE} .sam3-message").inner_text()


def wait_result(page, described: str) -> None:
    """Until the result for ``described`` (e.g. "2 points, 0 boxes") is shown and no request is in flight."""
    page.wait_for_function(
        f"""() => {{ const d = document.querySelector('{STAGE}').dataset;
                    return d.busy === '0' && d.resultFor === {json.dumps(described)}; }}""",
        timeout=WAIT_MS,
    )


def photo_box(page) -> dict:
    return page.locator(f"{STAGE} .sam3-photo").bounding_box()


def at(page, fx: float, fy: float) -> tuple[float, float]:
    """Page coordinates of the point at fractions (fx, fy) of the displayed photo."""
    box = photo_box(page)
    return box["x"] + box["width"] * fx, box["y"] + box["height"] * fy


def canvas_pixel(page, fx: float, fy: float, dx: float = 0.0) -> list[int]:
    """The marker canvas's RGBA at fractions (fx, fy) of the photo, ``dx`` display pixels to the right."""
    return page.evaluate(
        f"""() => {{ const c = document.querySelector('{STAGE} .sam3-marks');
                    const r = c.getBoundingClientRect(), k = c.width / r.width;
                    const x = Math.round(({fx} * r.width + {dx}) * k), y = Math.round({fy} * r.height * k);
                    return Array.from(c.getContext('2d').getImageData(x, y, 1, 1).data); }}"""
    )


def set_threshold(page, value: float) -> None:
    field = page.locator("#threshold input[type=number]")
    field.fill(str(value))
    field.press("Enter")
    page.wait_for_timeout(300)


def choose(page, mode: str) -> None:
    page.locator(f"{STAGE} .sam3-mode", has_text=mode).click()


def clear(page) -> None:
    page.locator(f"{STAGE} .sam3-clear").click()
    page.wait_for_function(f"() => document.querySelector('{STAGE}').dataset.prompts === '[]'", timeout=WAIT_MS)


def test_the_random_weights_are_announced(page, screenshots):
    notice = page.locator("#weights-notice")
    notice.wait_for(timeout=WAIT_MS)
    assert "randomly initialised" in notice.inner_text()
    assert in_viewport(notice.bounding_box())
    page.screenshot(path=str(screenshots / "01-uploaded.png"))


def test_the_photo_is_shown_once_and_fits_the_window(page):
    box = photo_box(page)
    assert in_viewport(box) and box["width"] > 500  # the whole photo, large, no scrolling
    assert abs(box["width"] / box["height"] - 4 / 3) < 0.01
    assert page.locator("#stage img.sam3-photo").count() == 1
    assert "4000 \u00d7 3000" in message(page)


def test_clicks_0_3_s_apart_both_count(page, screenshots):
    set_threshold(page, 0.0)
    page.mouse.click(*at(page, 0.4, 0.5))
    page.wait_for_timeout(300)
    page.keyboard.down("Shift")  # shift-click: a negative point
    page.mouse.click(*at(page, 0.7, 0.3))
    page.keyboard.up("Shift")
    prompts = state(page)["prompts"]  # both drawn at once, whatever the server is doing
    assert [(p["kind"], p["label"]) for p in prompts] == [("point", 1), ("point", 0)]
    assert abs(prompts[0]["x"] - 1600) < 10 and abs(prompts[0]["y"] - 1500) < 10  # image pixels, not display
    assert abs(prompts[1]["x"] - 2800) < 10 and abs(prompts[1]["y"] - 900) < 10
    # Markers in display pixels: solid 6 display pixels from the centre (a 6-image-pixel dot would be ~1 pixel).
    green, red = canvas_pixel(page, 0.4, 0.5, dx=6), canvas_pixel(page, 0.7, 0.3, dx=6)
    assert green[3] == 255 and green[1] > 120 and green[0] < 80, green
    assert red[3] == 255 and red[0] > 180 and red[1] < 80, red
    wait_result(page, "2 points, 0 boxes")  # the second click was sent too (the result is for both points)
    assert "object" in message(page) and "2 points" in message(page)
    legend = page.locator(f"{STAGE} .sam3-legend label")
    assert legend.count() >= 1 and page.locator(f"{STAGE} .sam3-layers img").count() == legend.count()
    assert in_viewport(page.locator(f"{STAGE} .sam3-message").bounding_box())
    assert in_viewport(page.locator(f"{STAGE} .sam3-legend").bounding_box())
    page.screenshot(path=str(screenshots / "02-two-clicks.png"))


def test_a_click_on_the_cached_12_mp_photo_timing(page, capsys):
    timings = []
    for fx in (0.3, 0.5, 0.6):
        clear(page)
        started = time.perf_counter()
        page.mouse.click(*at(page, fx, 0.6))
        wait_result(page, "1 point, 0 boxes")
        timings.append((time.perf_counter() - started, int(state(page)["latencyMs"])))
        assert state(page)["cacheHit"] == "1"  # the page re-sent the same file: the service reused its features
    with capsys.disabled():
        for wall, measured in timings:
            print(f"\ncached 12 MP click: {wall * 1000:.0f} ms until shown (page's own measure {measured} ms)")


def test_a_box_by_two_clicks(page, screenshots):
    clear(page)
    choose(page, "+ Box")
    page.mouse.click(*at(page, 0.2, 0.2))
    assert state(page)["corner"] is not None and state(page)["prompts"] == []
    corner = canvas_pixel(page, 0.2, 0.2)  # the first corner is drawn at once
    assert corner[3] == 255, corner
    page.screenshot(path=str(screenshots / "03-first-corner.png"))
    page.wait_for_timeout(300)
    page.mouse.click(*at(page, 0.6, 0.7))
    (box,) = state(page)["prompts"]
    assert box["kind"] == "box" and box["label"] == 1 and state(page)["corner"] is None
    assert np.allclose(box["box"], [800, 600, 2400, 2100], atol=10)
    wait_result(page, "0 points, 1 box")
    page.screenshot(path=str(screenshots / "04-box-two-clicks.png"))
    choose(page, "+ Point")


def test_a_box_by_a_drag(page, screenshots):
    clear(page)
    page.mouse.move(*at(page, 0.25, 0.3))
    page.mouse.down()
    for step in range(1, 6):
        page.mouse.move(*at(page, 0.25 + 0.05 * step, 0.3 + 0.08 * step))
    page.mouse.up()
    (box,) = state(page)["prompts"]
    assert box["kind"] == "box" and np.allclose(box["box"], [1000, 900, 2000, 2100], atol=10)
    wait_result(page, "0 points, 1 box")
    page.screenshot(path=str(screenshots / "05-drag-box.png"))


def test_legend_toggles_the_overlay(page, screenshots):
    frame = page.locator(f"{STAGE} .sam3-frame")
    shown = np.asarray(Image.open(io.BytesIO(frame.screenshot())).convert("RGB"), dtype=np.int16)
    first = page.locator(f"{STAGE} .sam3-legend label").first
    index = int(first.get_attribute("data-index"))
    assert index in state(page)["shown"]
    first.locator("input").uncheck()
    assert index not in state(page)["shown"]
    hidden = np.asarray(Image.open(io.BytesIO(frame.screenshot())).convert("RGB"), dtype=np.int16)
    assert np.abs(shown - hidden).mean() > 1.0  # the object's tint, outline and box went away
    page.screenshot(path=str(screenshots / "06-legend-hidden.png"))
    first.locator("input").check()
    again = np.asarray(Image.open(io.BytesIO(frame.screenshot())).convert("RGB"), dtype=np.int16)
    assert np.abs(shown - again).mean() < 0.5


def download_all(page, folder: Path) -> dict[str, Path]:
    """Click Download, wait for the three files, download each through its link: ``{suffix: path}``."""
    hrefs = "() => Array.from(document.querySelectorAll('#downloads a[download]')).map((a) => a.href).join(' ')"
    before = page.evaluate(hrefs)
    page.locator(f"{STAGE} .sam3-download").click()
    page.wait_for_function(
        f"""() => {{ const now = ({hrefs})();
                    return now !== {json.dumps(before)} && now.split(' ').length === 3; }}""",
        timeout=WAIT_MS,
    )
    links = page.locator("#downloads a[download]")
    folder.mkdir(parents=True, exist_ok=True)
    saved = {}
    for number in range(links.count()):
        with page.expect_download(timeout=WAIT_MS) as download:
            links.nth(number).click()
        path = folder / download.value.suggested_filename
        download.value.save_as(path)
        saved[path.suffix] = path
    assert set(saved) == {".png", ".zip", ".json"}
    return saved


def test_downloads(page, photo, tmp_path, screenshots):
    objects = page.locator(f"{STAGE} .sam3-legend label").count()
    assert objects >= 1
    saved = download_all(page, tmp_path / "all")
    page.screenshot(path=str(screenshots / "07-downloads.png"))
    with Image.open(saved[".png"]) as overlay:
        assert overlay.format == "PNG" and overlay.size == PHOTO_SIZE
        tinted = np.asarray(overlay.convert("RGB"))
    with zipfile.ZipFile(saved[".zip"]) as archive:
        names = archive.namelist()
        assert len(names) == objects and all(name.endswith(".png") for name in names)
        with Image.open(io.BytesIO(archive.read(names[0]))) as mask:
            assert mask.size == PHOTO_SIZE and mask.mode == "L"
    coco = json.loads(saved[".json"].read_text())
    assert [(image["width"], image["height"]) for image in coco["images"]] == [PHOTO_SIZE]
    assert len(coco["annotations"]) == objects
    # The overlay holds the objects shown in the legend: all hidden, it is the photo itself.
    for row in page.locator(f"{STAGE} .sam3-legend input").all():
        row.uncheck()
    saved = download_all(page, tmp_path / "none-shown")
    with Image.open(saved[".png"]) as overlay, Image.open(photo) as original:
        plain = np.asarray(overlay.convert("RGB"))
        assert np.array_equal(plain, np.asarray(original.convert("RGB")))
    assert not np.array_equal(plain, tinted)
    with zipfile.ZipFile(saved[".zip"]) as archive:
        assert len(archive.namelist()) == objects  # the masks and the COCO file keep every object
    for row in page.locator(f"{STAGE} .sam3-legend input").all():
        row.check()


def test_nothing_above_the_threshold_says_so(page, screenshots):
    clear(page)
    set_threshold(page, 1.0)
    page.mouse.click(*at(page, 0.5, 0.5))
    wait_result(page, "1 point, 0 boxes")
    assert "Nothing found above the confidence threshold 1.00" in message(page)
    assert page.locator(f"{STAGE} .sam3-legend label").count() == 0
    assert page.locator(f"{STAGE} .sam3-layers img").count() == 0
    page.screenshot(path=str(screenshots / "08-nothing-found.png"))
    set_threshold(page, 0.0)


def test_an_error_is_cleared_by_the_next_result(page):
    clear(page)
    choose(page, "\u2212 Box")  # a negative box alone is no prompt: the service says so
    page.mouse.click(*at(page, 0.1, 0.1))
    page.mouse.click(*at(page, 0.3, 0.3))
    page.wait_for_function(f"() => document.querySelector('{STAGE} .sam3-message.sam3-error')", timeout=WAIT_MS)
    assert page.locator(".toast-body").count() == 0  # no Gradio toast: the message sits on the stage
    choose(page, "+ Point")
    page.mouse.click(*at(page, 0.5, 0.5))
    wait_result(page, "1 point, 1 box")
    assert page.locator(f"{STAGE} .sam3-message.sam3-error").count() == 0


def test_text_prompts(page, screenshots):
    set_threshold(page, 0.5)
    page.locator("#text-prompts input, #text-prompts textarea").first.fill("cat, dog")
    page.locator("#run-text").click()
    page.wait_for_function(
        f"() => document.querySelector('{STAGE}').dataset.resultFor === '\u201ccat\u201d, \u201cdog\u201d'",
        timeout=WAIT_MS,
    )
    labels = page.locator(f"{STAGE} .sam3-legend .sam3-label").all_inner_texts()
    assert set(labels) <= {"cat", "dog"}
    if labels:
        assert message(page).startswith(f"{len(labels)} object")
    else:
        assert "Nothing found above the confidence threshold 0.50" in message(page)
    assert state(page)["prompts"] == []  # a text result replaces the clicks
    page.screenshot(path=str(screenshots / "09-text.png"))
    page.get_by_text("Response JSON").first.click()  # the closed panel below the picture
    page.wait_for_function(
        "() => document.querySelector('#response-json')?.innerText.includes('num_objects')", timeout=WAIT_MS
    )
    raw = page.locator("#response-json").inner_text()
    assert "sam_version" in raw and "<PNG, " in raw


def test_a_file_that_is_not_an_image_gets_a_message(page, tmp_path, screenshots):
    bogus = tmp_path / "notes.png"
    bogus.write_text("these are notes, not a picture")
    choose_file(page, "#upload", bogus)
    page.wait_for_function(
        f"() => document.querySelector('{STAGE} .sam3-message.sam3-error')?.innerText.includes('notes.png')",
        timeout=WAIT_MS,
    )
    assert "Traceback" not in message(page) and len(message(page)) < 300
    assert page.locator(".toast-body").count() == 0
    page.screenshot(path=str(screenshots / "10-not-an-image.png"))


def test_an_example_photo(page, screenshots):
    page.locator("#examples button[data-name=astronaut]").click()
    page.wait_for_function(
        f"() => document.querySelector('{STAGE} .sam3-message')?.innerText.includes('astronaut.png (512')",
        timeout=WAIT_MS,
    )
    page.wait_for_function(f"() => document.querySelector('{STAGE} .sam3-photo')?.complete", timeout=WAIT_MS)
    assert state(page)["prompts"] == []
    page.mouse.click(*at(page, 0.5, 0.4))
    wait_result(page, "1 point, 0 boxes")
    page.screenshot(path=str(screenshots / "11-example.png"))


def test_no_script_errors(page):
    assert not SCRIPT_ERRORS
