"""The documentation site read offline, in headless Chromium (Playwright, Debian's chromium).

What a workshop participant without a network meets in the built site: math typeset, the saved
widgets drawn as controls, wide outputs whole and scrollable. Every page is opened as a file://
URL and every other request is refused, so anything the site still loads from a CDN fails here.

The site under test is built from this checkout with the options of `make docs` (warnings are
errors) into a temporary folder, about a minute; MINK_DOCS_HTML=DIR tests an already built site
instead (`make test` passes the one `make docs` just built, so that CI builds it once). The build
needs the JavaScript that docs/vendor.py fetches (`make docs-assets`); `make test` fetches it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from _chromium import browser, page, require_chromium  # noqa: F401 (fixtures)

require_chromium()

ROOT = Path(__file__).resolve().parents[2]
TUTORIALS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
API_WITH_MATH = "generated/mink_toolkit.functionals.html"  # X_u = \{x \ge u\}, among others
# What a reader sees of math that MathJax did not typeset.
RAW_MATH = ["\\(", "\\)", "\\[", "\\]", "$$"]
WIDGET_VIEW = 'script[type="application/vnd.jupyter.widget-view+json"]'


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The built HTML site (a folder holding index.html)."""
    given = os.environ.get("MINK_DOCS_HTML")
    if given:
        html = Path(given).resolve()
        if not (html / "index.html").is_file():
            pytest.fail(f"MINK_DOCS_HTML={given} holds no built site (no index.html)")
        return html
    pytest.importorskip("sphinx", reason="Sphinx is not installed (pip install -e '.[docs]')")
    if not (ROOT / "docs" / "_vendor" / "versions.json").is_file():
        pytest.skip("docs/_vendor/ is missing: `make docs-assets` fetches the JavaScript the site serves itself")
    out = tmp_path_factory.mktemp("docs")
    start = time.monotonic()
    build = subprocess.run(
        [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q",
         "-d", str(out / "doctrees"), str(ROOT / "docs"), str(out / "html")],
        capture_output=True, text=True, cwd=ROOT, timeout=900,
    )
    assert build.returncode == 0, f"sphinx-build failed:\n{(build.stdout + build.stderr)[-4000:]}"
    print(f"docs built in {time.monotonic() - start:.0f} s")
    return out / "html"


@pytest.fixture
def offline(page):
    """The page with every request but file:// refused; records what was refused or failed, and errors."""
    log = {"refused": [], "failed": [], "errors": []}

    def route(route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            log["refused"].append(route.request.url)
            route.abort()

    page.context.route("**/*", route)
    page.on("requestfailed", lambda request: log["failed"].append(request.url))
    page.on("pageerror", lambda error: log["errors"].append(str(error)))
    page.log = log
    return page


def _open(page, site, name):
    page.goto((site / name).as_uri())
    page.wait_for_load_state("load")
    # MathJax typesets after the load event; pages without math have no MathJax at all.
    if page.locator(".math").count():
        from playwright.sync_api import TimeoutError

        try:
            page.wait_for_function("() => window.MathJax && window.MathJax.startup && window.MathJax.startup.promise",
                                   timeout=30_000)
        except TimeoutError:
            pytest.fail(f"MathJax did not start in 30 s on {name}; refused: {page.log['refused']}, "
                        f"failed: {page.log['failed']}, errors: {page.log['errors']}")
        page.evaluate("() => window.MathJax.startup.promise.then(() => true)")


def _assert_math_typeset(page):
    math = page.locator(".math")
    typeset = page.locator(".math:has(mjx-container)")
    assert typeset.count() == math.count(), f"{math.count() - typeset.count()} of {math.count()} math elements not typeset"
    text = page.locator("body").inner_text()
    raw = [d for d in RAW_MATH if d in text]
    assert not raw, f"raw LaTeX delimiters {raw} in the visible text"


def _assert_offline(page):
    assert page.log["refused"] == [], "the page asked the network for these (refused): " + ", ".join(page.log["refused"])
    assert page.log["failed"] == [], "these requests failed: " + ", ".join(page.log["failed"])
    assert page.log["errors"] == [], page.log["errors"]


class _Assets(HTMLParser):
    """The scripts, stylesheets, images and frames a page loads."""

    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "img", "iframe", "source", "audio", "video", "embed") and attrs.get("src"):
            self.urls.append(attrs["src"])
        elif tag == "link" and attrs.get("href") and attrs.get("rel") != "canonical":
            self.urls.append(attrs["href"])


def test_pages_load_only_local_files_and_ship_the_licences(site):
    pages = sorted(p for p in site.rglob("*.html") if "_static" not in p.relative_to(site).parts)
    assert len(pages) > 10 and (site / API_WITH_MATH).is_file()
    remote, missing = [], []
    for path in pages:
        parser = _Assets()
        parser.feed(path.read_text(encoding="utf-8"))
        for url in parser.urls:
            if re.match(r"^([a-z][a-z0-9+.-]*:)?//", url, re.I):
                remote.append(f"{path.relative_to(site)}: {url}")
            elif not url.startswith(("data:", "#")):
                local = (path.parent / url.split("?")[0].split("#")[0]).resolve()
                if not local.is_file():
                    missing.append(f"{path.relative_to(site)}: {url}")
    assert remote == [], "pages load from the network:\n" + "\n".join(remote[:20])
    assert missing == [], "pages load files the site lacks:\n" + "\n".join(missing[:20])
    for css in (site / "_static").rglob("*.css"):
        assert not re.search(r"url\(\s*['\"]?(https?:)?//", css.read_text(encoding="utf-8")), css
    for folder in ("mathjax", "html-manager", "requirejs"):
        assert (site / "_static" / folder / "LICENSE").is_file(), f"_static/{folder} has no LICENSE"


def test_api_page_math_is_typeset_offline(offline, site):
    _open(offline, site, API_WITH_MATH)
    assert offline.locator(".math").count() >= 5
    _assert_math_typeset(offline)
    _assert_offline(offline)


@pytest.mark.parametrize("name", TUTORIALS, ids=lambda n: n[:2])
def test_tutorial_math_and_saved_widgets_render_offline(offline, site, name):
    _open(offline, site, f"tutorials/{name}.html")
    views = offline.locator(WIDGET_VIEW).count()
    assert views, f"{name} shows no widget: nothing to check"
    # The manager draws each saved view into a div.widget-subarea just before its script tag.
    drawn_js = f"""() => Array.from(document.querySelectorAll('{WIDGET_VIEW}')).filter(s => {{
        const area = s.previousElementSibling;
        return area && area.classList.contains('widget-subarea') && area.querySelector('.jupyter-widgets');
    }}).length"""
    deadline = time.monotonic() + 60
    while offline.evaluate(drawn_js) < views and time.monotonic() < deadline:
        time.sleep(0.25)
    assert offline.evaluate(drawn_js) == views, f"{offline.evaluate(drawn_js)} of {views} saved widgets drawn"
    _assert_math_typeset(offline)
    _assert_offline(offline)


def test_tutorial_01_saved_slider_is_drawn_as_a_control(offline, site):
    _open(offline, site, "tutorials/01_minkowski_functionals.html")
    explorer = offline.locator(".widget-subarea .widget-vbox", has=offline.locator(".widget-slider")).first
    slider = explorer.locator(".widget-slider")
    slider.locator(".noUi-handle").wait_for()  # a real slider, with a handle to drag
    # as saved: the middle of its 21 thresholds, the summary and the figure of that threshold
    readout = slider.locator(".widget-readout")
    assert readout.inner_text().strip() == "1.005 mm/h"
    assert readout.evaluate("e => e.scrollWidth <= e.clientWidth"), "the readout is cut"
    assert "u = 1.005 mm/h" in explorer.locator(".widget-html-content").first.inner_text()
    assert explorer.locator(".widget-output img").count() == 1
    explorer.scroll_into_view_if_needed()
    _assert_offline(offline)


def test_tutorial_04_results_table_is_whole_and_scrolls(offline, site):
    _open(offline, site, "tutorials/04_superresolution_tradeoffs.html")
    table = offline.locator(".cell_output pre", has_text="model (test, mean of 3 seeds)").first
    header = next(line for line in table.inner_text().splitlines() if line.startswith("model (test"))
    assert re.search(r"spec err\s+MF err$", header.rstrip()), header  # the whole line, last column included
    rows = [line for line in table.inner_text().splitlines() if line.startswith("generator_minkowski")]
    assert rows and len(rows[0].split()) == 8, rows  # name and its 7 numbers
    style = table.evaluate("""e => ({overflowX: getComputedStyle(e).overflowX, whiteSpace: getComputedStyle(e).whiteSpace,
        scrollWidth: e.scrollWidth, clientWidth: e.clientWidth, scrollbar: e.offsetHeight - e.clientHeight})""")
    assert style["overflowX"] in ("auto", "scroll") and style["whiteSpace"] == "pre", style
    assert style["scrollWidth"] > style["clientWidth"], style  # wider than the column at this width ...
    assert style["scrollbar"] > 0, style  # ... with a scrollbar on screen
    table.scroll_into_view_if_needed()
    table.evaluate("e => { e.scrollLeft = e.scrollWidth; }")  # scrolled to its last column
    assert table.evaluate("e => e.scrollLeft") > 0
    _assert_offline(offline)
