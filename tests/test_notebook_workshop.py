"""Exercise/solution convention and `python -m mink_toolkit workshop` (student and instructor copies)."""

import copy
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from mink_toolkit import cli
from mink_toolkit.notebook import solutions as sol
from mink_toolkit.notebook import workshop as ws
from mink_toolkit.notebook.execute import KERNELSPEC

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


_RUN = """
import sys, nbformat
from mink_toolkit.notebook.execute import run_notebook
nb = nbformat.read(sys.argv[1], as_version=4)
run_notebook(nb, sys.argv[2], solutions=sys.argv[3] == "1")
nbformat.write(nb, sys.argv[1])
"""


def run_notebook(nb, cwd, *, solutions: bool = True):
    """:func:`mink_toolkit.notebook.execute.run_notebook` in a process of its own; ``nb`` gets the outputs.

    One process per run: after a notebook with an error cell (an exercise stub), a later nbclient
    run in the same pytest process was seen to stall for minutes (once for 600 s), which alone
    would take CI past its time. An error in a cell not tagged ``raises-exception`` fails the test
    with the kernel's message.
    """
    with tempfile.TemporaryDirectory(prefix="mink-run-") as folder:
        path = Path(folder) / "run.ipynb"
        nbformat.write(nb, path)
        done = subprocess.run([sys.executable, "-c", _RUN, str(path), str(cwd), "1" if solutions else "0"],
                              capture_output=True, text=True, timeout=900)
        if done.returncode:
            raise AssertionError(f"the notebook run failed:\n{done.stderr[-4000:]}")
        nb.cells = nbformat.read(path, as_version=4).cells
    return nb


def _tags(cell):
    return cell.get("metadata", {}).get("tags", [])


def _exercise_notebook():
    return new_notebook(cells=[
        new_markdown_cell("## Exercise 1\n\nCount the cells.\n\n**Solutions.** Hidden behind a button.\n\nGo."),
        new_code_cell(f"{sol.LOAD_LINE}\nx = 1\nx", execution_count=1,
                      outputs=[new_output("execute_result", data={"text/plain": "1"}, execution_count=1)]),
        new_code_cell("raise NotImplementedError('your turn')", execution_count=2,
                      metadata={"tags": [ws.EXERCISE, ws.RAISES_EXCEPTION]},
                      outputs=[new_output("error", ename="NotImplementedError", evalue="your turn", traceback=[])]),
        new_code_cell("%%solution 1\nprint('answer: 42')", execution_count=3, metadata={"tags": [ws.SOLUTION]},
                      outputs=[new_output("stream", name="stdout", text="answer: 42\n")]),
        new_markdown_cell("The end.\n\n**Solutions.** Press the button."),
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
    assert [c.source for c in student.cells[1:3]] == [c.source for c in nb.cells[1:3]]
    # the first **Solutions.** paragraph says that there are none, the others go
    assert student.cells[0].source == f"## Exercise 1\n\nCount the cells.\n\n{ws.STUDENT_NOTE}\n\nGo."
    assert student.cells[3].source == "The end."
    stub = student.cells[2]
    assert stub.outputs == [] and stub.execution_count is None
    assert _tags(stub) == [ws.EXERCISE, ws.RAISES_EXCEPTION]
    assert student.cells[1] == nb.cells[1]  # other cells keep outputs and counts
    assert "answer" not in nbformat.writes(student)
    assert "%%solution" not in nbformat.writes(student)


def test_student_copy_without_solutions_paragraph_gets_the_note_in_its_first_markdown_cell():
    nb = _exercise_notebook()
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = cell.source.split("\n\n**Solutions.**")[0]
    student = ws.student_copy(nb)
    assert student.cells[0].source == f"## Exercise 1\n\nCount the cells.\n\n{ws.STUDENT_NOTE}"
    assert student.cells[-1].source == "The end."


def test_instructor_copy_unfolds_solutions_and_runs_them_without_the_env_var(tmp_path):
    nb = ws.apply_cell_visibility(_exercise_notebook())
    instructor = ws.instructor_copy(nb)
    nbformat.validate(instructor)
    solution = instructor.cells[3]
    assert "jupyter" not in solution.metadata
    assert _tags(solution) == [ws.SOLUTION]
    assert solution.source == "print('answer: 42')"  # plain code: runs without MINK_SOLUTIONS
    assert solution.outputs == nb.cells[3].outputs
    assert len(instructor.cells) == len(nb.cells)
    assert instructor.cells[0].source.endswith(f"{ws.INSTRUCTOR_NOTE}\n\nGo.")
    assert instructor.cells[4].source == "The end."
    # Run without MINK_SOLUTIONS, as a learner's kernel: the solution runs as plain code (without
    # the raising stub, which the student-copy test covers).
    runnable = copy.deepcopy(instructor)
    runnable.cells = [c for c in runnable.cells if ws.EXERCISE not in _tags(c)]
    run_notebook(runnable, tmp_path, solutions=False)
    assert [o.get("text") for o in runnable.cells[2].outputs] == ["answer: 42\n"]


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


def _paragraphs(markdown, *drop):
    """The paragraphs of a markdown text, without the **Solutions.** ones and those in ``drop``."""
    paragraphs = re.split(r"\n[ \t]*\n", markdown)
    return [p for p in paragraphs if p not in drop and not p.startswith(ws.SOLUTIONS_MARKER)]


# What would tell a reader that the copy holds solutions (folded, behind a button, to expand).
MENTIONS_SOLUTIONS = re.compile(r"\bsolutions?\b|\bfolded\b|\bexpand", re.IGNORECASE)


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
        expected = _expected_student_cells(original)
        assert len(student.cells) == len(expected)
        for got, want in zip(student.cells, expected):
            if want.cell_type == "markdown":  # only the **Solutions.** paragraphs change
                assert _paragraphs(got.source, ws.STUDENT_NOTE) == _paragraphs(want.source), want.source[:80]
                got = copy.deepcopy(got)
                got.source = want.source
            assert got == want
        assert student.metadata == original.metadata  # kernelspec and saved widget state kept
        assert student.metadata.kernelspec == KERNELSPEC
        assert not any(ws.SOLUTION in _tags(c) for c in student.cells)
        # No sentence about solutions the copy does not hold: only the note that it has none.
        markdown = "\n\n".join(c.source for c in student.cells if c.cell_type == "markdown")
        assert markdown.count(ws.STUDENT_NOTE) == 1, source.name
        assert not MENTIONS_SOLUTIONS.search(markdown.replace(ws.STUDENT_NOTE, "")), source.name
        assert "%%solution" not in nbformat.writes(student)
        # Instructor copies: every solution unfolded, plain code (no %%solution line), outputs kept.
        for got, want in zip(instructor.cells, original.cells, strict=True):
            if ws.SOLUTION in _tags(want):
                assert want.source.startswith("%%solution")
                assert got.source == sol.solution_body(want.source)[1]
                assert not got.metadata.get("jupyter", {}).get("source_hidden")
                assert got.outputs == want.outputs
            elif want.cell_type == "code":
                assert got.source == want.source
        markdown = "\n\n".join(c.source for c in instructor.cells if c.cell_type == "markdown")
        assert markdown.count(ws.INSTRUCTOR_NOTE) == 1 and "Show solution" not in markdown, source.name
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
    assert cli.main(["workshop"]) == 2  # --out is required: a usage error, not an exception
    assert "--out" in capsys.readouterr().err


def test_workshop_refuses_a_non_empty_out_folder_without_force(tmp_path, capsys):
    source = tmp_path / "nb.ipynb"
    nbformat.write(_exercise_notebook(), source)
    out = tmp_path / "out"
    out.mkdir()
    assert cli.main(["workshop", "--out", str(out), str(source)]) == 0  # an empty folder is fine
    capsys.readouterr()
    keep = out / "student" / "nb.ipynb"
    keep.write_text("my edits")
    assert cli.main(["workshop", "--out", str(out), str(source)]) == 2
    err = capsys.readouterr().err
    assert str(out) in err and "not empty" in err and "--force" in err
    assert keep.read_text() == "my edits"  # nothing written
    assert cli.main(["workshop", "--out", str(out), "--force", str(source)]) == 0
    nbformat.validate(nbformat.read(keep, as_version=4))
    (tmp_path / "file").write_text("")
    assert cli.main(["workshop", "--out", str(tmp_path / "file"), str(source)]) == 2
    assert "not a folder" in capsys.readouterr().err


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
        # the code a student runs up to the stub is the original's (only the **Solutions.** text differs)
        assert [c for c in student.cells[: len(prefix)] if c.cell_type == "code"] == [
            c for c in prefix if c.cell_type == "code"]
        return
    error = _run_to_first_stub(student, source.parent)
    assert error in (None, "NotImplementedError")
