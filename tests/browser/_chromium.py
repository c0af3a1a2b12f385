"""Headless Chromium for the browser tests: Debian's chromium driven by Playwright for Python.

Never `playwright install` (it downloads a browser of its own, which this network refuses).
A test module calls ``require_chromium()`` at import, then uses the ``browser`` (one per module)
and ``page`` fixtures, which it imports from here.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("MINK_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# Without the background-networking switches Chromium keeps trying to reach Google's hosts,
# which this machine's closed network refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def require_chromium() -> None:
    """Skip the calling test module when Chromium or Playwright is missing."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (install Debian's chromium as root: apt-get install "
                    "chromium, or set MINK_CHROMIUM); the browser tests need it", allow_module_level=True)
    pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed (pip install -e '.[test]')")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Scrollbars drawn, as a reader sees them (Playwright hides them in headless mode).
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                              ignore_default_args=["--hide-scrollbars"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, request, tmp_path):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    # a picture of the page when a test fails, or always with MINK_SCREENSHOTS=DIR
    folder = os.environ.get("MINK_SCREENSHOTS")
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    if folder or failed:
        target = Path(folder or tmp_path) / f"{request.node.name}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(target))
        if failed:
            print(f"screenshot: {target}")
    context.close()
