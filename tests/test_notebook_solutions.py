"""The ``%%solution`` cell magic (mink_toolkit.notebook.solutions), without a browser.

Enabled (MINK_SOLUTIONS=1), a solution cell must be the plain code: same outputs, globals defined,
errors fail the cell. Disabled, nothing of it runs and it shows a "Show solution" button; clicking
the button runs it. The first tests run real kernels (nbclient, as `make notebooks` and nbval do);
the click is tested in an in-process IPython shell.
"""

import copy

import pytest
from nbclient.exceptions import CellExecutionError
from nbformat.v4 import new_code_cell, new_notebook

from mink_toolkit.notebook import solutions as sol
from mink_toolkit.notebook.execute import WIDGET_VIEW_MIME, run_notebook

BODY = (
    "from IPython.display import HTML, display\n"
    "answer = 6 * 7\n"
    "print('answer:', answer)\n"
    "display(HTML('<b>bold</b>'))\n"
    "{'answer': answer}"
)


def _notebook(body=BODY, magic="%%solution 1\n"):
    return new_notebook(cells=[
        new_code_cell(f"{sol.LOAD_LINE}\nimport sys"),
        new_code_cell(magic + body),
        new_code_cell("print('defined:', 'answer' in globals())"),
    ])


def _outputs(cell):
    """What nbval compares: output type, stream text, text/plain and text/html; widget ids aside."""
    return [(o.output_type, o.get("name"), o.get("text"),
             {k: v for k, v in o.get("data", {}).items() if k in ("text/plain", "text/html")},
             o.get("execution_count"))
            for o in cell.outputs]


@pytest.fixture(scope="module")
def enabled_and_plain(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("solutions")
    enabled = run_notebook(_notebook(), cwd, solutions=True)
    plain = run_notebook(_notebook(magic=""), cwd, solutions=True)
    return enabled, plain


def test_enabled_solution_gives_exactly_the_plain_codes_outputs(enabled_and_plain):
    enabled, plain = enabled_and_plain
    assert _outputs(enabled.cells[1]) == _outputs(plain.cells[1])
    kinds = [o.output_type for o in enabled.cells[1].outputs]
    assert kinds == ["stream", "display_data", "execute_result"]
    assert enabled.cells[1].outputs[0].text == "answer: 42\n"
    assert enabled.cells[1].outputs[2].execution_count == enabled.cells[1].execution_count == 2
    # the names it defines are the notebook's globals
    assert enabled.cells[2].outputs[0].text == "defined: True\n"


def test_enabled_solution_that_raises_fails_the_cell(tmp_path):
    with pytest.raises(CellExecutionError, match="ZeroDivisionError"):
        run_notebook(_notebook(body="1 / 0"), tmp_path, solutions=True)


def test_disabled_solution_runs_nothing_and_shows_a_button(tmp_path):
    nb = run_notebook(_notebook(), tmp_path, solutions=False)
    (output,) = nb.cells[1].outputs
    assert output.output_type == "display_data"
    assert WIDGET_VIEW_MIME in output.data
    text = output.data["text/plain"]
    assert "\n" not in text and "Solution 1 is hidden" in text and "Show solution 1" in text and sol.ENV_VAR in text
    assert "answer" not in text
    assert nb.cells[2].outputs[0].text == "defined: False\n"
    # the button is saved in the widget state, labelled with the exercise number
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    buttons = [m["state"] for m in state.values() if m["model_name"] == "ButtonModel"]
    assert [b["description"] for b in buttons] == ["Show solution 1"]


@pytest.fixture
def shell(monkeypatch):
    """An in-process IPython shell with the extension loaded (removed afterwards)."""
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.delenv(sol.ENV_VAR, raising=False)
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "mink_toolkit.notebook.solutions")
    yield shell
    shell.run_line_magic("unload_ext", "mink_toolkit.notebook.solutions")
    InteractiveShell.clear_instance()


def test_clicking_the_button_runs_the_solution_and_shows_its_output(shell):
    from IPython.utils.capture import capture_output
    from ipywidgets.widgets.widget import _instances

    with capture_output() as hidden:
        result = shell.run_cell("%%solution 3\n" + BODY)
    assert result.success and "answer" not in shell.user_ns
    assert hidden.stdout == ""
    (display,) = hidden.outputs
    box = _instances[display.data[WIDGET_VIEW_MIME]["model_id"]]
    assert box.button.description == "Show solution 3"
    with capture_output() as shown:
        box.button.click()  # what pressing it does: the on_click handlers run
    assert shell.user_ns["answer"] == 42
    assert shown.stdout.startswith("answer: 42\n")
    assert [o.data.get("text/html") for o in shown.outputs] == ["<b>bold</b>"]
    assert box.button.disabled  # a second click runs nothing
    with capture_output() as again:
        box.button.click()
    assert again.stdout == "" and not again.outputs


def test_env_var_is_read_when_the_cell_runs(shell, monkeypatch):
    from IPython.utils.capture import capture_output

    monkeypatch.setenv(sol.ENV_VAR, "1")
    with capture_output() as shown:
        shell.run_cell("%%solution\nprint('visible')")
    assert shown.stdout == "visible\n" and not shown.outputs
    monkeypatch.setenv(sol.ENV_VAR, "0")
    with capture_output() as hidden:
        shell.run_cell("%%solution\nprint('visible')")
    assert hidden.stdout == "" and "Solution is hidden" in hidden.outputs[0].data["text/plain"]


def test_magic_called_directly_when_enabled_runs_the_body(shell, monkeypatch):
    monkeypatch.setenv(sol.ENV_VAR, "yes")
    shell.run_cell_magic("solution", "", "direct = 1")
    assert shell.user_ns["direct"] == 1
    with pytest.raises(ZeroDivisionError):
        shell.run_cell_magic("solution", "", "1 / 0")


def test_enabled_cell_keeps_traceback_line_numbers(shell, monkeypatch):
    monkeypatch.setenv(sol.ENV_VAR, "1")
    assert shell.transform_cell("%%solution 2\nx = 1\n") == "\nx = 1\n"
    monkeypatch.delenv(sol.ENV_VAR)
    assert shell.transform_cell("%%solution 2\nx = 1\n").startswith("get_ipython().run_cell_magic('solution'")


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("ON", True), ("", False),
                                             ("0", False), ("no", False)])
def test_solutions_enabled(value, expected):
    assert sol.solutions_enabled({sol.ENV_VAR: value}) is expected


def test_solution_body():
    assert sol.solution_body("%%solution\n") == ("", "")
    assert sol.solution_body("%%solution  12 \nbody\n") == ("12", "body\n")
    assert sol.solution_body("%%solutions\nbody") is None
    assert sol.solution_body("# %%solution\nbody") is None
    nb = _notebook()
    assert copy.deepcopy(nb) == nb  # the helpers above do not mutate
