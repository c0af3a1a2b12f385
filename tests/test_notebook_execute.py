"""make notebooks (mink_toolkit.notebook.execute): widget state, settled progress bars, stable ids."""

import copy
import io
import re

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from mink_toolkit.notebook import execute as ex
from mink_toolkit.notebook.workshop import HIDE_CELL, SOLUTION

VIEW, STATE = ex.WIDGET_VIEW_MIME, ex.WIDGET_STATE_MIME


def _model(name, **state):
    return {"model_name": name, "model_module": "@jupyter-widgets/controls", "model_module_version": "2.0.0",
            "state": {"_model_name": name, **state}}


def _bar_notebook(stale="  0%|          | 0/300 [00:00<?, ?it/s]",
                  right=" 300/300 [00:03&lt;00:00, 91.20it/s]"):
    """A notebook holding one tqdm.notebook bar as nbclient stores it, plus a slider."""
    state = {
        "aaaa": _model("HBoxModel", children=["IPY_MODEL_bbbb", "IPY_MODEL_cccc", "IPY_MODEL_dddd"]),
        "bbbb": _model("HTMLModel", value="small T: 100%"),
        "cccc": _model("FloatProgressModel", value=300.0, max=300.0, bar_style="success"),
        "dddd": _model("HTMLModel", value=right),
        "eeee": _model("IntSliderModel", value=3),
    }
    nb = new_notebook(cells=[
        new_code_cell("bar", execution_count=1, outputs=[new_output(
            "display_data", data={VIEW: {"model_id": "aaaa", "version_major": 2, "version_minor": 0},
                                  "text/plain": stale})]),
        new_code_cell("slider", execution_count=2, outputs=[new_output(
            "execute_result", execution_count=2,
            data={VIEW: {"model_id": "eeee", "version_major": 2, "version_minor": 0},
                  "text/plain": "IntSlider(value=3)"})]),
    ])
    nb.metadata["widgets"] = {STATE: {"state": state, "version_major": 2, "version_minor": 0}}
    return nb


def test_tqdm_meter_pattern_matches_what_tqdm_prints_and_not_the_settled_text():
    from tqdm import tqdm

    stream = io.StringIO()
    with tqdm(total=300, desc="small T", file=stream, mininterval=0) as bar:
        bar.update(0)
    assert ex.TQDM_METER.search(stream.getvalue())
    assert not ex.TQDM_METER.search("small T: 100% 300/300")


def test_settle_progress_bars_replaces_stale_fallback_and_drops_timings():
    nb = _bar_notebook()
    assert ex.settle_progress_bars(nb) == 1
    bar_output = nb.cells[0].outputs[0]
    assert bar_output.data["text/plain"] == "small T: 100% 300/300"
    assert not ex.TQDM_METER.search(bar_output.data["text/plain"])
    assert ex.widget_state(nb)["dddd"]["state"]["value"] == " 300/300"
    # anything that is not a progress bar is left alone
    assert nb.cells[1].outputs[0].data["text/plain"] == "IntSlider(value=3)"


@pytest.mark.parametrize("right, progress, expected", [
    (" 300/300 [00:03&lt;00:00, 91.20it/s, loss=0.125]", {"value": 300.0, "max": 300.0}, " 300/300 [loss=0.125]"),
    (" 24/24 [01:02:03&lt;00:00,  2.50s/field]", {"value": 24.0, "max": 24.0}, " 24/24"),
    (" 7 [00:01, ?it/s]", {"value": 1.0, "max": 1.0, "bar_style": "info"}, " 7"),  # no total
])
def test_settle_progress_bars_keeps_the_postfix(right, progress, expected):
    nb = _bar_notebook(right=right)
    ex.widget_state(nb)["cccc"]["state"].update(progress)
    ex.settle_progress_bars(nb)
    assert ex.widget_state(nb)["dddd"]["state"]["value"] == expected


def test_settle_progress_bars_takes_the_count_from_the_progress_model():
    """tqdm's labels lag one throttled redraw behind; a bar closed with leave=False keeps them."""
    nb = _bar_notebook(right=" 262/300 [00:03&lt;00:01, 91.20it/s]")
    state = ex.widget_state(nb)
    state["bbbb"]["state"]["value"] = "small\u2007T:\u2007\u200787%"
    ex.settle_progress_bars(nb)
    assert nb.cells[0].outputs[0].data["text/plain"] == "small T: 100% 300/300"
    assert ex.widget_state(nb)["dddd"]["state"]["value"] == " 300/300"
    # a bar stopped by an exception keeps its count
    nb = _bar_notebook(right=" 0/300 [00:00&lt;?, ?it/s]")
    ex.widget_state(nb)["cccc"]["state"].update(value=0.0, bar_style="danger")
    ex.settle_progress_bars(nb)
    assert nb.cells[0].outputs[0].data["text/plain"] == "small T: 0% 0/300"


def test_renumber_widget_models_is_consistent_and_deterministic():
    nb = _bar_notebook()
    other = copy.deepcopy(nb)
    mapping = ex.renumber_widget_models(nb, "01_a.ipynb")
    state = ex.widget_state(nb)
    assert set(state) == set(mapping.values()) and len(state) == 5
    assert all(re.fullmatch(r"[0-9a-f]{32}", k) for k in state)
    # references between models and from outputs follow the new ids
    box = state[mapping["aaaa"]]["state"]["children"]
    assert box == [f"IPY_MODEL_{mapping[k]}" for k in ("bbbb", "cccc", "dddd")]
    assert nb.cells[0].outputs[0].data[VIEW]["model_id"] == mapping["aaaa"]
    assert nb.cells[1].outputs[0].data[VIEW]["model_id"] == mapping["eeee"]
    # same name and order: same ids (a re-run changes nothing); another notebook: other ids
    assert ex.renumber_widget_models(copy.deepcopy(other), "01_a.ipynb") == mapping
    assert set(ex.renumber_widget_models(other, "02_b.ipynb").values()).isdisjoint(mapping.values())


def test_tidy_notebook_sets_kernelspec_folds_solutions_and_drops_timestamps():
    nb = _bar_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.cells[0].metadata["execution"] = {"iopub.execute_input": "2026-11-27T18:47:51.585446Z"}
    nb.cells.append(new_code_cell("answer = 42", metadata={"tags": [SOLUTION]}))
    nb.cells.append(new_markdown_cell("text"))
    before = copy.deepcopy(nb)
    tidy = ex.tidy_notebook(nb, "x.ipynb")
    nbformat.validate(tidy)
    assert nb == before  # the input is not modified
    assert tidy.metadata.kernelspec == ex.KERNELSPEC
    assert "execution" not in tidy.cells[0].metadata
    solution = tidy.cells[2]
    assert solution.metadata.jupyter == {"source_hidden": True, "outputs_hidden": True}
    assert HIDE_CELL in solution.metadata.tags
    assert tidy.cells[0].outputs[0].data["text/plain"] == "small T: 100% 300/300"


def test_execute_and_tidy_a_real_notebook_with_a_slider_and_a_progress_bar(tmp_path):
    """nbclient with the project's kernel: widget state stored, the bar saved as it ended."""
    nb = new_notebook(cells=[
        new_code_cell("import ipywidgets as w\nslider = w.IntSlider(value=3, description='n')\nslider"),
        new_code_cell("from tqdm.notebook import tqdm\nfor _ in tqdm(range(5), desc='steps'):\n    pass"),
        new_code_cell("print(slider.value * 2)"),
        new_code_cell("for _ in tqdm(range(3), desc='transient', leave=False):\n    pass"),
    ])
    path = tmp_path / "demo.ipynb"
    nbformat.write(nb, path)
    executed = ex.execute_notebook(path, timeout=120)
    assert len(ex.cell_durations(executed)) == 4
    tidy = ex.tidy_notebook(executed, path.name)
    nbformat.validate(tidy)
    state = ex.widget_state(tidy)
    views = [o.data[VIEW]["model_id"] for c in tidy.cells for o in c.outputs if VIEW in o.get("data", {})]
    assert len(views) == 3 and all(v in state for v in views)
    slider = state[views[0]]
    assert slider["model_name"] == "IntSliderModel" and slider["state"]["value"] == 3
    bar_text = tidy.cells[1].outputs[0].data["text/plain"]
    assert bar_text == "steps: 100% 5/5", bar_text
    assert tidy.cells[2].outputs[0].text == "6\n"
    assert [c.execution_count for c in tidy.cells] == [1, 2, 3, 4]
    # a bar that hid and closed itself (leave=False) is stored as it ended, taking no space
    transient = tidy.cells[3].outputs[0]
    assert transient.data["text/plain"] == "transient: 100% 3/3"
    layout = state[state[transient.data[VIEW]["model_id"]]["state"]["layout"][len("IPY_MODEL_"):]]["state"]
    assert layout["visibility"] == "hidden" and layout["display"] == "none"
    shown = state[state[views[1]]["state"]["layout"][len("IPY_MODEL_"):]]["state"]
    assert shown["display"] is None
    # a second run stores the same ids (determinism of what git sees)
    again = ex.tidy_notebook(ex.execute_notebook(path, timeout=120), path.name)
    assert set(ex.widget_state(again)) == set(state)


def test_kernels_of_make_notebooks_run_the_solutions(monkeypatch):
    monkeypatch.setenv("MINK_SOLUTIONS", "0")
    assert ex.kernel_environment(True)["MINK_SOLUTIONS"] == "1"
    assert "MINK_SOLUTIONS" not in ex.kernel_environment(False)
    assert ex.execute_notebook.__kwdefaults__["solutions"] is True
