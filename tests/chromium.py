"""What the browser tests share (tests/browser, tests/labelstudio): Debian's Chromium driven by Playwright
at 1280x800, a page that records its script errors, and the folder screenshots go to."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright import sync_api as playwright

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
VIEWPORT = {"width": 1280, "height": 800}
WAIT_MS = 120_000


def screenshot_folder(tmp_path_factory) -> Path:
    """$SAM3_UI_SCREENSHOTS, else a temporary folder; printed, so a person can look at the pictures."""
    folder = Path(os.environ.get("SAM3_UI_SCREENSHOTS") or tmp_path_factory.mktemp("ui-screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nUI screenshots: {folder}")
    return folder


@contextlib.contextmanager
def browser_page(url: str, script_errors: list[str]) -> Iterator[playwright.Page]:
    """A page at 1280x800 loading ``url``; uncaught exceptions of its scripts are appended to ``script_errors``."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is needed for the UI test: apt-get install chromium (make test does)")
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT, accept_downloads=True)
        page.on("pageerror", lambda error: script_errors.append(str(error)))
        page.goto(url, wait_until="domcontentloaded", timeout=WAIT_MS)
        try:
            yield page
        finally:
            browser.close()


def choose_file(page: playwright.Page, button: str, path: Path) -> None:
    """Click ``button`` (a selector) and give the file chooser it opens ``path``."""
    with page.expect_file_chooser(timeout=WAIT_MS) as chooser:
        page.locator(button).click()
    chooser.value.set_files(str(path))


def in_viewport(box: dict) -> bool:
    """Whether an element's bounding box lies wholly inside the 1280x800 viewport (seen without scrolling)."""
    return box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= 1280 and box["y"] + box["height"] <= 800
