"""The tutorials in a real JupyterLab, in headless Chromium (Playwright, Debian's chromium).

What a workshop participant meets first: every notebook opens unmodified with its saved widgets
drawn as controls before any cell runs; notebook 01 runs top to bottom, and its threshold slider,
moved with the keyboard, changes the summary and the figure, its readout not cut. Run All on every
tutorial keeps the exercise solutions hidden: each solution cell shows only its "Show solution"
button, with its source folded; pressing the button (notebook 01) shows the solution's output.
JupyterLab runs without MINK_SOLUTIONS, as a learner's (`make test` sets it for nbval).

The server runs the project's own environment (this interpreter's venv: kernel, jupyterlab,
jupyterlab_widgets) on 127.0.0.1 with a random token, on copies of the tutorials, with its own
Jupyter data, config and settings folders, so nothing of the checkout or of the user's Jupyter
setup is read or written. The copies are signed as trusted in that data folder, as `make lab`
does for the real ones: JupyterLab draws saved widget state only in trusted notebooks.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
from _chromium import browser, page, require_chromium  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# JupyterLab settings for a quiet, fully rendered notebook: no news pop-up, every cell in the DOM.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}

require_chromium()

from mink_toolkit.notebook.execute import WIDGET_VIEW_MIME, widget_state  # noqa: E402
from mink_toolkit.notebook.solutions import ENV_VAR as SOLUTIONS_ENV_VAR  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A running JupyterLab: ``url``, ``token``, ``root`` (the notebook copies), ``log``."""
    from nbformat import read
    from nbformat.sign import NotebookNotary

    base = tmp_path_factory.mktemp("lab")
    root = base / "notebooks"
    root.mkdir()
    for source in NOTEBOOKS:
        shutil.copy2(source, root / source.name)
    env = dict(os.environ)
    env.pop(SOLUTIONS_ENV_VAR, None)  # a learner's kernel: %%solution cells show a button
    for var, name in [("JUPYTER_DATA_DIR", "data"), ("JUPYTER_CONFIG_DIR", "config"),
                      ("JUPYTER_RUNTIME_DIR", "runtime"), ("JUPYTERLAB_SETTINGS_DIR", "settings"),
                      ("JUPYTERLAB_WORKSPACES_DIR", "workspaces")]:
        env[var] = str(base / name)
        (base / name).mkdir()
    for name, settings in LAB_SETTINGS.items():
        target = base / "settings" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(settings))
    notary = NotebookNotary(data_dir=str(base / "data"))
    for path in root.glob("*.ipynb"):
        notary.sign(read(path, as_version=4))

    port, token = _free_port(), secrets.token_hex(16)
    log_path = base / "jupyterlab.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
             "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
             f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
             "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: run commands, read kernel state
             "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if server.poll() is not None:
                pytest.fail(f"jupyter lab exited with {server.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not answer in 90 s:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.5)
        yield SimpleNamespace(url=url, token=token, root=root, log=log_path)
    finally:
        server.terminate()  # stops its kernels too
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# Controls by widget model, and how JupyterLab's widget manager marks them in the DOM.
CONTROLS = {
    ".widget-slider": {"IntSliderModel", "FloatSliderModel", "FloatLogSliderModel", "SelectionSliderModel",
                       "IntRangeSliderModel", "FloatRangeSliderModel", "SelectionRangeSliderModel"},
    ".widget-dropdown": {"DropdownModel"},
    ".widget-toggle-buttons": {"ToggleButtonsModel"},
    ".widget-hprogress": {"FloatProgressModel", "IntProgressModel"},  # tqdm.notebook bars
}
# An output drawn by the widget manager holds a widget view (class jupyter-widgets); a fallback
# is a text/plain output instead.
WIDGET_OUTPUT = ".jp-OutputArea-output:has(> .jupyter-widgets)"


def _wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.25)
    return value


def _visible_widget_outputs(nb):
    """Model ids of the widget outputs a reader sees (outputs of folded cells excluded)."""
    ids = []
    for cell in nb.cells:
        if cell.get("metadata", {}).get("jupyter", {}).get("outputs_hidden"):
            continue
        ids += [o.data[WIDGET_VIEW_MIME]["model_id"] for o in cell.get("outputs", []) if WIDGET_VIEW_MIME in o.get("data", {})]
    return ids


def _expected_controls(nb):
    """{css selector: number of controls reachable from the visible widget outputs}."""
    state = widget_state(nb)
    names, todo, seen = [], _visible_widget_outputs(nb), set()
    while todo:
        model_id = todo.pop()
        if model_id in seen or model_id not in state:
            continue
        seen.add(model_id)
        names.append(state[model_id]["model_name"])
        todo += [c[len("IPY_MODEL_"):] for c in state[model_id]["state"].get("children", [])]
    return {css: sum(n in models for n in names) for css, models in CONTROLS.items()}


def _open(page, lab, name):
    # ?reset: a fresh workspace, so the previous test's tabs are not restored
    page.goto(f"{lab.url}/lab/tree/{name}?reset&token={lab.token}")
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell")
    _wait_for(lambda: page.evaluate("""() => {
        const panel = window.jupyterapp.shell.currentWidget;
        const kernel = panel && panel.sessionContext && panel.sessionContext.session && panel.sessionContext.session.kernel;
        return kernel && kernel.status === 'idle';
    }"""), 120, f"the kernel of {name}")


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_saved_widgets_render_as_controls_before_running(page, lab, source):
    nb = nbformat.read(source, as_version=4)
    visible = _visible_widget_outputs(nb)
    expected = _expected_controls(nb)
    assert visible and any(expected.values()), f"{source.name} shows no widget: nothing to check"
    _open(page, lab, source.name)
    _wait_for(lambda: page.locator(WIDGET_OUTPUT).count() >= len(visible), 60,
              f"{len(visible)} widget outputs in {source.name}")
    for css, count in expected.items():
        _wait_for(lambda: page.locator(f"{WIDGET_OUTPUT} {css}").count() >= count, 30, f"{count} × {css}")
    # no widget fell back to its text repr (VBox(children=...), a frozen progress line)
    fallbacks = page.locator('.jp-OutputArea-output[data-mime-type="text/plain"]', has_text="children=(")
    assert fallbacks.count() == 0
    # nothing ran, and opening did not change the notebook (kernelspec and metadata as stored)
    assert page.evaluate("() => window.jupyterapp.shell.currentWidget.content.model.dirty") is False
    prompts = page.locator(".jp-InputArea-prompt").all_inner_texts()
    assert not any("*" in p for p in prompts)
    page.locator(WIDGET_OUTPUT).first.scroll_into_view_if_needed()  # what a screenshot should show
    page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")  # free its kernel


def _run_all(page, timeout=400):
    """Clear the outputs, Run All as a student would, wait until every code cell has run; return the error texts.

    The exercise stubs raise NotImplementedError until they are filled in; they are tagged
    raises-exception, so JupyterLab runs on past them (the promise still reports the errors with
    false). Every other cell must run without error.
    """
    # Clear first, so that "every code cell has a count" means "ran in this kernel".
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
    completed = page.evaluate(f"""() => Promise.race([
        window.jupyterapp.commands.execute('notebook:run-all-cells'),
        new Promise(resolve => setTimeout(() => resolve('timed out after {timeout} s'), {timeout * 1000})),
    ])""")
    errors = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    texts = errors.all_inner_texts()
    report = "\n\n".join([str(completed), *texts])[-3000:]
    assert completed in (True, False), report  # not timed out
    assert all("NotImplementedError" in t for t in texts), report
    counts_js = """() => window.jupyterapp.shell.currentWidget.content.widgets
        .filter(c => c.model.type === 'code').map(c => c.model.executionCount)"""
    # the promise can settle at the first (expected) error while the queued cells still run
    _wait_for(lambda: all(page.evaluate(counts_js)), timeout, "every code cell to have run")
    counts = page.evaluate(counts_js)
    assert counts == list(range(1, len(counts) + 1)), (counts, report)
    texts = errors.all_inner_texts()
    assert texts and all("NotImplementedError" in t for t in texts), texts
    return texts


def _solution_outputs_text(nb):
    """Lines of the stored outputs of the solution cells (what Run All must not show)."""
    lines = []
    for cell in nb.cells:
        if "solution" not in cell.get("metadata", {}).get("tags", []):
            continue
        for output in cell.get("outputs", []):
            text = output.get("text") or ""
            lines += [line.strip() for line in text.splitlines() if len(line.strip()) >= 12]
    return lines


# Per cell of the open notebook: tags, whether the source is folded, the outputs (kernel's JSON)
# and the text a reader sees.
CELLS_JS = """() => window.jupyterapp.shell.currentWidget.content.widgets.map(c => ({
    type: c.model.type, tags: c.model.getMetadata('tags') || [], inputHidden: c.inputHidden,
    outputs: c.model.type === 'code' ? c.model.outputs.toJSON() : [], text: c.node.innerText}))"""


def _assert_solutions_hidden(page, nb):
    cells = page.evaluate(CELLS_JS)
    solutions = [c for c in cells if "solution" in c["tags"]]
    assert len(solutions) == 3
    for number, cell in enumerate(solutions, 1):
        # the solution did not run: its only output is the button (and its one-line text fallback)
        (output,) = cell["outputs"]
        assert output["output_type"] == "display_data" and WIDGET_VIEW_MIME in output["data"], output
        assert output["data"]["text/plain"].startswith(f"Solution {number} is hidden"), output
        assert cell["inputHidden"] is True  # the source stays folded
        assert f"Show solution {number}" in cell["text"]
    visible = page.locator(".jp-Notebook").inner_text()
    shown = [line for line in _solution_outputs_text(nb) if line in visible]
    assert not shown, f"solution output visible after Run All: {shown}"
    buttons = page.locator(".jp-CodeCell .jupyter-widgets button", has_text="Show solution")
    assert buttons.count() == 3
    return solutions


# Notebooks 03 and 04 take about a minute each to run; all five run here (about 4 min in all on 2
# cores). Notebook 01 runs in the test below, which also presses a button.
@pytest.mark.parametrize("source", [p for p in NOTEBOOKS if not p.name.startswith("01")], ids=lambda p: p.name[:2])
def test_run_all_keeps_the_solutions_hidden(page, lab, source):
    nb = nbformat.read(source, as_version=4)
    assert _solution_outputs_text(nb), "no stored solution output to look for"
    _open(page, lab, source.name)
    _run_all(page)
    _assert_solutions_hidden(page, nb)
    page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")  # free its kernel


def test_notebook_01_runs_and_its_threshold_slider_changes_the_output(page, lab):
    name = "01_minkowski_functionals.ipynb"
    nb = nbformat.read(lab.root / name, as_version=4)
    _open(page, lab, name)
    _run_all(page)
    _assert_solutions_hidden(page, nb)

    cell = page.locator(".jp-CodeCell", has_text="excursion_set_explorer(region)").last
    slider = cell.locator(".widget-slider")
    summary = cell.locator(".widget-html-content").first
    figure = cell.locator(".jp-OutputArea-output img").first
    _wait_for(lambda: summary.inner_text().startswith("u = "), 60, "the live summary")
    figure.wait_for()
    before = summary.inner_text(), figure.get_attribute("src")
    assert "u = 1.005 mm/h" in before[0]  # the explorer starts at the middle of its 21 thresholds
    # the readout shows its whole value (not "1.005 mm/"): nothing of it overflows its box
    readout = slider.locator(".widget-readout").first
    text, scroll, client = readout.evaluate("el => [el.innerText, el.scrollWidth, el.clientWidth]")
    assert text == "1.005 mm/h" and scroll <= client, (text, scroll, client)

    handle = slider.locator(".noUi-handle").first
    handle.focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    _wait_for(lambda: summary.inner_text() != before[0], 60, "the summary to follow the slider")
    _wait_for(lambda: figure.get_attribute("src") != before[1], 60, "the figure to be redrawn")
    after = summary.inner_text()
    assert "u = 1.005 mm/h" not in after and slider.inner_text() != "1.005 mm/h"
    text, scroll, client = readout.evaluate("el => [el.innerText, el.scrollWidth, el.clientWidth]")
    assert text.endswith(" mm/h") and scroll <= client, (text, scroll, client)

    # Pressing "Show solution 1" runs it and shows its output below the button.
    expected = _solution_outputs_text(nb)[0]  # "area ratio [4.] | perimeter ratio [2.]"
    page.locator("button", has_text="Show solution 1").click()
    notebook = page.locator(".jp-Notebook")
    _wait_for(lambda: expected in notebook.inner_text(), 60, "the solution's output")
    assert notebook.inner_text().count(expected) == 1
    pressed = page.locator(".jp-CodeCell", has=page.locator("button", has_text="Solution 1:"))
    assert expected in pressed.inner_text()  # below its own button
    assert page.locator("button", has_text="Show solution").count() == 2  # the others stay hidden
