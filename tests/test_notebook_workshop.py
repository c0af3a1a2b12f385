"""Exercise/solution convention and `python -m mink_toolkit workshop` (student and instructor copies)."""

import copy
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from mink_toolkit import cli
from mink_toolkit.notebook import workshop as ws
from mink_toolkit.notebook.execute import KERNELSPEC, run_notebook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _tags(cell):
    return cell.get("metadata", {}).get("tags", [])


def _exercise_notebook():
    return new_notebook(cells=[
        new_markdown_cell("## Exercise 1\nCount the cells."),
        new_code_cell("x = 1\nx", execution_count=1,
                      outputs=[new_output("execute_result", data={"text/plain": "1"}, execution_count=1)]),
        new_code_cell("raise NotImplementedError('your turn')", execution_count=2,
                      metadata={"tags": [ws.EXERCISE, ws.RAISES_EXCEPTION]},
                      outputs=[new_output("error", ename="NotImplementedError", evalue="your turn", traceback=[])]),
        new_code_cell("print('answer: 42')", execution_count=3, metadata={"tags": [ws.SOLUTION]},
                      outputs=[new_output("stream", name="stdout", text="answer: 42\n")]),
        new_markdown_cell("The end."),
    ])


def test_apply_cell_visibility_folds_solution_source_and_outputs_and_nothing_else():
    nb = _exercise_notebook()
    before = copy.deepcopy(nb)
    folded = ws.apply_cell_visibility(nb)
    assert nb == before
    solution = folded.cells[3]
    assert solution.metadata.jupyter == {"source_hidden": True, "outputs_hidden": True}
    assert _tags(solution) == [ws.SOLUTION, ws.HIDE_CELL]
    assert [c for i, c in enumerate(folded.cells) if i != 3] == [c for i, c in enumerate(nb.cells) if i != 3]
    assert ws.apply_cell_visibility(folded) == folded  # idempotent
    nbformat.validate(folded)


def test_student_copy_removes_solutions_and_clears_exercise_outputs_only():
    nb = ws.apply_cell_visibility(_exercise_notebook())
    before = copy.deepcopy(nb)
    student = ws.student_copy(nb)
    assert nb == before
    nbformat.validate(student)
    assert [c.source for c in student.cells] == [c.source for i, c in enumerate(nb.cells) if i != 3]
    stub = student.cells[2]
    assert stub.outputs == [] and stub.execution_count is None
    assert _tags(stub) == [ws.EXERCISE, ws.RAISES_EXCEPTION]
    assert student.cells[1] == nb.cells[1]  # other cells keep outputs and counts
    assert "answer" not in nbformat.writes(student)


def test_instructor_copy_unfolds_solutions():
    nb = ws.apply_cell_visibility(_exercise_notebook())
    instructor = ws.instructor_copy(nb)
    nbformat.validate(instructor)
    solution = instructor.cells[3]
    assert "jupyter" not in solution.metadata
    assert _tags(solution) == [ws.SOLUTION]
    assert solution.outputs == nb.cells[3].outputs
    assert len(instructor.cells) == len(nb.cells)


def _expected_student_cells(nb):
    expected = []
    for cell in nb.cells:
        if ws.SOLUTION in _tags(cell):
            continue
        cell = copy.deepcopy(cell)
        if ws.EXERCISE in _tags(cell) and cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        expected.append(cell)
    return expected


def test_workshop_command_on_the_real_notebooks(tmp_path, capsys):
    assert len(NOTEBOOKS) == 5
    assert cli.main(["workshop", "--out", str(tmp_path), *map(str, NOTEBOOKS)]) == 0
    printed = capsys.readouterr().out
    for source in NOTEBOOKS:
        original = nbformat.read(source, as_version=4)
        student = nbformat.read(tmp_path / "student" / source.name, as_version=4)
        instructor = nbformat.read(tmp_path / "instructor" / source.name, as_version=4)
        nbformat.validate(student)
        nbformat.validate(instructor)
        assert student.cells == _expected_student_cells(original)
        assert student.metadata == original.metadata  # kernelspec and saved widget state kept
        assert student.metadata.kernelspec == KERNELSPEC
        assert not any(ws.SOLUTION in _tags(c) for c in student.cells)
        assert [c.source for c in instructor.cells] == [c.source for c in original.cells]
        assert not any(c.get("metadata", {}).get("jupyter", {}).get("source_hidden")
                       for c in instructor.cells if ws.SOLUTION in _tags(c))
        assert source.name in printed


def test_workshop_command_errors(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["workshop", "--out", "out"]) == 2  # no notebooks/ here
    assert cli.main(["workshop", "--out", "out", "missing.ipynb"]) == 1
    (tmp_path / "broken.ipynb").write_text("{not json")
    assert cli.main(["workshop", "--out", "out", "broken.ipynb"]) == 1
    err = capsys.readouterr().err
    assert "no notebooks" in err
    assert "not found: missing.ipynb" in err
    assert "NotJSONError" in err
    assert not (tmp_path / "out" / "student" / "broken.ipynb").exists()
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["workshop"])  # --out is required
    assert exit_info.value.code == 2


def _first_stub(nb):
    """Index of the first exercise stub, or None.

    A stub is tagged ``exercise``; one that raises NotImplementedError is also tagged
    ``raises-exception``, which is how the stubs of the notebooks stored before the tag
    convention are marked: either tag stops the run.
    """
    stub_tags = {ws.EXERCISE, ws.RAISES_EXCEPTION}
    return next((i for i, c in enumerate(nb.cells) if stub_tags & set(_tags(c))), None)


def _run_to_first_stub(nb, cwd):
    """Execute the cells up to and including the first stub with nbclient; return the stub's error name.

    Runs a copy cut after the stub as `make notebooks` runs a notebook (nbclient), which raises
    CellExecutionError at any error except in a cell tagged ``raises-exception``.
    """
    stop = _first_stub(nb)
    head = copy.deepcopy(nb)
    head.cells = head.cells[: None if stop is None else stop + 1]
    run_notebook(head, cwd)
    if stop is None:
        return None
    errors = [o.ename for o in head.cells[stop].outputs if o.output_type == "error"]
    return errors[0] if errors else None


def test_student_copy_of_notebook_01_runs_top_to_bottom(tmp_path):
    """The student copy of notebook 01 (the quickest), run as a participant would: every cell.

    Without the solutions, each exercise stub must raise NotImplementedError and nothing else,
    and no other cell may fail (nothing after the exercises needs a solution's variables).
    """
    source = ROOT / "notebooks" / "01_minkowski_functionals.ipynb"
    assert cli.main(["workshop", "--out", str(tmp_path), str(source)]) == 0
    student = nbformat.read(tmp_path / "student" / source.name, as_version=4)
    assert not any(ws.SOLUTION in _tags(c) for c in student.cells)
    run_notebook(student, source.parent)  # raises at an error in a cell not tagged raises-exception
    stubs = 0
    for cell in student.cells:
        errors = [o.ename for o in cell.get("outputs", []) if o.output_type == "error"]
        if ws.EXERCISE in _tags(cell):
            stubs += 1
            assert errors == ["NotImplementedError"], cell.source
        else:
            assert errors == [], cell.source
    assert stubs == 3


# The notebooks whose exercises follow the convention below (03 and 04 are being rebuilt
# elsewhere; add them here when they do).
CONVENTION = [p for p in NOTEBOOKS if p.name[:2] in {"01", "02", "05"}]


@pytest.mark.parametrize("source", CONVENTION, ids=lambda p: p.name[:2])
def test_exercises_come_last_as_stub_and_solution_pairs(source):
    nb = nbformat.read(source, as_version=4)
    intro = nb.cells[0]
    assert intro.cell_type == "markdown" and "Learning objectives" in intro.source and "Run time" in intro.source
    code = [c for c in nb.cells if c.cell_type == "code"]
    kinds = ["exercise" if ws.EXERCISE in _tags(c) else "solution" if ws.SOLUTION in _tags(c) else "other"
             for c in code]
    assert "exercise" in kinds, "no exercise stub"
    first = kinds.index("exercise")
    tail = kinds[first:]
    # Exercises come last, each stub followed by its solution.
    assert tail == ["exercise", "solution"] * (len(tail) // 2), tail
    for cell in code[first:]:
        errors = [o.ename for o in cell.outputs if o.output_type == "error"]
        if ws.EXERCISE in _tags(cell):
            assert "raise NotImplementedError" in cell.source, cell.source
            assert ws.RAISES_EXCEPTION in _tags(cell) and errors == ["NotImplementedError"], cell.source
        else:
            assert errors == [] and cell.outputs, f"solution without output: {cell.source[:60]}"


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_student_copies_of_the_real_notebooks_run_to_the_first_stub(source, tmp_path):
    """Where the student copy differs from the original before the first stub, run it.

    Where it does not (no solution or exercise cell before the first stub), the cells a student
    runs up to the stub are exactly the original's, which nbval runs in `make test`; executing
    them again would only double that cost.
    """
    original = nbformat.read(source, as_version=4)
    student = ws.student_copy(original)
    stop = _first_stub(original)
    prefix = original.cells[: len(original.cells) if stop is None else stop]
    changed = any(ws.SOLUTION in _tags(c) or ws.EXERCISE in _tags(c) for c in prefix)
    if not changed:
        assert student.cells[: len(prefix)] == prefix
        return
    error = _run_to_first_stub(student, source.parent)
    assert error in (None, "NotImplementedError")
