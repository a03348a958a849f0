"""The web UI in a real browser: headless Chromium (Debian's) driven by Playwright against sam3-serve --ui
(the session's server fixture)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright import sync_api as playwright

from helpers import scene

pytestmark = pytest.mark.slow  # starts servers, processes or a browser (make test-fast skips it)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def page(server):
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is needed for the UI test: apt-get install chromium (make test does)")
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(f"{server}/ui/", wait_until="domcontentloaded", timeout=120_000)
        page.locator("#input-image").wait_for(timeout=120_000)
        yield page
        browser.close()


def upload(page, tmp_path: Path) -> None:
    picture = tmp_path / "scene.png"
    scene().save(picture)
    page.locator("#input-image input[type=file]").set_input_files(str(picture))
    page.locator("#input-image img").first.wait_for(timeout=60_000)


def overlay_and_json(page) -> tuple[str, str]:
    page.locator("#overlay img").first.wait_for(timeout=120_000)
    page.wait_for_function(
        "document.querySelector('#response-json').innerText.includes('num_objects')", timeout=120_000
    )
    return page.locator("#overlay img").first.get_attribute("src"), page.locator("#response-json").inner_text()


def test_text_prompt_shows_overlay_and_json(page, tmp_path):
    upload(page, tmp_path)
    page.locator("#text-prompts textarea").fill("cat, dog")
    page.locator("#run-text").click()
    source, text = overlay_and_json(page)
    assert source and "success" in text and "sam_version" in text and "cat" in text
    page.screenshot(path=str(tmp_path / "ui-text.png"), full_page=True)


def test_click_prompt_shows_overlay(page, tmp_path):
    page.get_by_role("tab", name="Points & boxes").click()
    preview = page.locator("#click-preview img").first
    preview.wait_for(timeout=60_000)
    box = preview.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.4)
    page.get_by_text("1 point(s), 0 box(es)").wait_for(timeout=30_000)
    page.locator("#run-visual").click()
    page.wait_for_function("document.querySelector('#response-json').innerText.includes('visual')", timeout=120_000)
    assert '"point_labels"' not in page.locator("#response-json").inner_text()
    assert page.locator("#overlay img").first.get_attribute("src")
