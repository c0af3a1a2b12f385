"""What `make notebooks` guarantees about the stored tutorials (no kernel, no browser).

A notebook saved by hand from JupyterLab can lose any of these; nbval would not notice, since it
never compares widget state, kernelspecs or folding.
"""

import re
from pathlib import Path

import nbformat
import pytest

from mink_toolkit.notebook.execute import KERNELSPEC, TQDM_METER, WIDGET_VIEW_MIME, widget_state
from mink_toolkit.notebook.solutions import LOAD_LINE, solution_body
from mink_toolkit.notebook.workshop import HIDE_CELL, SOLUTION, SOLUTIONS_MARKER

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(params=NOTEBOOKS, ids=lambda p: p.name[:2])
def nb(request):
    return nbformat.read(request.param, as_version=4)


def _outputs(nb):
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            yield index, output


def _model_refs(value):
    """Model ids a saved widget state refers to (children, layouts, outputs of Output widgets)."""
    if isinstance(value, str):
        return {value[len("IPY_MODEL_"):]} if value.startswith("IPY_MODEL_") else set()
    if isinstance(value, dict):
        refs = {value["model_id"]} if isinstance(value.get("model_id"), str) else set()
        return refs.union(*(_model_refs(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_model_refs(v) for v in value))
    return set()


def test_all_five_tutorials_are_checked():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05"]


def test_makefile_installs_the_kernelspec_the_notebooks_declare():
    text = (ROOT / "Makefile").read_text()
    match = re.search(r'ipykernel install --sys-prefix --name (\S+) --display-name "([^"]+)"', text)
    assert match, "make venv no longer installs a named kernel"
    assert (match[1], match[2]) == (KERNELSPEC["name"], KERNELSPEC["display_name"])


def test_kernelspec_is_the_projects(nb):
    assert nb.metadata.kernelspec == KERNELSPEC


def test_every_widget_output_has_saved_state(nb):
    state = widget_state(nb)
    displayed = {o["data"][WIDGET_VIEW_MIME]["model_id"] for _, o in _outputs(nb) if WIDGET_VIEW_MIME in o.get("data", {})}
    if not displayed:
        return
    # every displayed widget and everything it is drawn from (children, layouts, styles, ...)
    missing, seen, todo = set(), set(), set(displayed)
    while todo:
        model_id = todo.pop()
        seen.add(model_id)
        if model_id not in state:
            missing.add(model_id)
            continue
        todo |= _model_refs(state[model_id]["state"]) - seen
    assert not missing, f"{len(missing)} widget models have no saved state (run `make notebooks`)"


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def test_no_stale_progress_text(nb):
    stale = []
    for index, output in _outputs(nb):
        texts = [output.get("text", ""), output.get("data", {}).get("text/plain", "")]
        stale += [(index, t[:60]) for t in texts if TQDM_METER.search(t)]
    # text captured inside Output widgets lives in the saved state
    stale += [("widget state", t[:60]) for t in _strings(widget_state(nb)) if TQDM_METER.search(t)]
    assert not stale, f"stored progress-bar text (run `make notebooks`): {stale}"


def test_execution_counts_are_consecutive_from_one(nb):
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1)), "run top to bottom once (`make notebooks`)"
    for index, output in _outputs(nb):
        if output.output_type == "execute_result":
            assert output.execution_count == nb.cells[index].execution_count


def test_no_execution_timestamps(nb):
    assert not [i for i, c in enumerate(nb.cells) if "execution" in c.get("metadata", {})]


def test_solution_cells_are_folded_in_lab_and_docs(nb):
    for index, cell in enumerate(nb.cells):
        tags = cell.get("metadata", {}).get("tags", [])
        if SOLUTION not in tags:
            continue
        folding = cell.metadata.get("jupyter", {})
        assert folding.get("source_hidden") and folding.get("outputs_hidden"), f"cell {index}"
        assert HIDE_CELL in tags, f"cell {index}"


def _text_outputs(nb):
    for index, output in _outputs(nb):
        if output.output_type == "stream":
            yield index, output.text
        elif output.output_type in ("execute_result", "display_data"):
            text = output.get("data", {}).get("text/plain")
            if text and WIDGET_VIEW_MIME not in output.get("data", {}):
                yield index, text


# A float residue printed as digits ("5.3e-15"): its digits depend on the summation order, so
# another CPU prints other ones. Print "below 1e-12" instead (CONTRIBUTING.md, nbval).
_RESIDUE = re.compile(r"(?<!below )(?<!than )(?<![\w.≈])\d(?:\.\d+)?e-(?:1[0-9]|[2-9]\d)\b")


def test_no_float_residue_printed_as_digits(nb):
    hits = [(i, m.group()) for i, text in _text_outputs(nb) for m in _RESIDUE.finditer(text)]
    assert not hits, f"float residues printed as digits (cell, value): {hits}"


def test_model_reprs_are_not_dumped(nb):
    # A torch module as a cell's last expression prints its whole repr: noise, and it changes with the code.
    hits = [i for i, text in _text_outputs(nb) if re.search(r"^\s+\(\w+\): [A-Z]\w*\(", text, re.M)]
    assert not hits, f"cells printing a model repr: {hits}"


def test_approximate_numbers_come_with_claim_checks(nb):
    # A notebook that shows numbers nbval does not compare (≈) must check what its text says of them.
    texts = [text for _, text in _text_outputs(nb)]
    if any("≈" in t for t in texts):
        assert any(line.startswith("✔ ") for t in texts for line in t.splitlines())


def test_solution_cells_are_hidden_from_run_all(nb):
    """Each solution cell starts with %%solution, and the extension is loaded before the first one."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    solutions = [k for k, c in enumerate(code) if SOLUTION in c.get("metadata", {}).get("tags", [])]
    assert solutions, "no solution cell"
    loads = [k for k, c in enumerate(code) if LOAD_LINE in c.source.splitlines()]
    assert loads and loads[0] < solutions[0], f"no `{LOAD_LINE}` before the first solution cell"
    for k in solutions:
        assert solution_body(code[k].source) is not None, f"solution without %%solution: {code[k].source[:60]}"


def test_markdown_about_solutions_is_in_marked_paragraphs(nb):
    """What the text says about solutions sits in **Solutions.** paragraphs, which the workshop copies rewrite."""
    stray = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        for paragraph in re.split(r"\n[ \t]*\n", cell.source):
            if not paragraph.startswith(SOLUTIONS_MARKER) and re.search(r"\bsolutions?\b|\bfolded\b", paragraph, re.I):
                stray.append((index, paragraph[:80]))
    assert not stray
    assert any(cell.cell_type == "markdown" and SOLUTIONS_MARKER in cell.source for cell in nb.cells)


def test_make_test_runs_nbval_with_the_solutions_enabled():
    """nbval compares the solutions' stored outputs: its kernels (which inherit the environment) need them."""
    text = (ROOT / "Makefile").read_text()
    recipe = text.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    nbval_options = text.split("\nNBVAL :=", 1)[1].split("\n", 1)[0].split()
    runs = [line for line in recipe.replace("\\\n", " ").splitlines() if "-m pytest" in line]
    # both runs (this CPU's kernels, then older instruction sets) compare the stored outputs
    assert "--nbval" in nbval_options and len(runs) == 2 and all("$(NBVAL)" in line for line in runs)
    assert recipe.count("MINK_SOLUTIONS=1") == 2
