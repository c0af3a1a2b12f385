"""Execute the tutorials top to bottom and store them with outputs: ``make notebooks``.

``python -m mink_toolkit.notebook.execute notebooks/*.ipynb`` runs each
notebook with :mod:`nbclient` in the project's kernel and writes it back:

* with the **widget state** saved (``store_widget_state=True``), so that
  JupyterLab (in a trusted notebook) and the documentation draw the controls
  before any kernel runs;
* with **no stale progress text**: a ``tqdm.notebook`` bar is a widget whose
  ``text/plain`` fallback is the bar as first drawn (``0%| 0/300``); it is
  replaced by the bar's final state, and the elapsed time and rate are taken
  out of the saved bar, which would otherwise change on every run;
* **deterministic** otherwise as well: widget model ids are renumbered in a
  fixed order (uuid5 of the notebook's name and the model's position), no
  execution timestamps are stored, and every notebook gets the same
  kernelspec, :data:`KERNELSPEC` (the one ``make lab`` installs);
* with the **solutions run**: the kernel gets ``MINK_SOLUTIONS=1``, so each
  ``%%solution`` cell runs as plain code and its outputs are stored (a learner's
  kernel shows a "Show solution" button instead, see
  :mod:`~mink_toolkit.notebook.solutions`), and with the ``solution`` cells
  folded (:func:`~mink_toolkit.notebook.workshop.apply_cell_visibility`).

The comparison of outputs stays nbval's job (``make test``); this tool only
writes what nbval then checks.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import sys
import time
import uuid
from pathlib import Path

from .solutions import ENV_VAR as SOLUTIONS_ENV_VAR
from .workshop import apply_cell_visibility

__all__ = [
    "KERNELSPEC",
    "WIDGET_STATE_MIME",
    "WIDGET_VIEW_MIME",
    "TQDM_METER",
    "cell_durations",
    "execute_notebook",
    "kernel_environment",
    "main",
    "renumber_widget_models",
    "run_notebook",
    "settle_progress_bars",
    "tidy_notebook",
    "widget_state",
]

#: The kernel every stored notebook declares (``make lab`` installs it into the venv).
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (mink_toolkit)", "language": "python"}
WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"
#: tqdm's text meter (``  0%|          | 0/300``): what a stale fallback looks like.
TQDM_METER = re.compile(r"\d+%\|[^|\n]*\|\s*\d+(?:\.\d+)?[kMG]?/")
# The "[elapsed<remaining, rate, postfix]" part of a bar (HTML-escaped in the widget);
# the postfix, if any, is content and kept.
_TQDM_TIMING = re.compile(
    r"\s*\[\d+(?::\d+)+(?:(?:&lt;|<)[\d:?]+)?,\s*[\d.?]+\s*[^\s,\]]*(?:,\s*(?P<postfix>[^\]]*))?\]")
_PROGRESS_MODELS = {"FloatProgressModel", "IntProgressModel"}
# tqdm's labels: "desc: 87%" on the left, " 262/300 [postfix]" on the right (spaces may be U+2007).
_TQDM_PERCENT = re.compile(r"\s*\d+%\s*$")
_TQDM_COUNT = re.compile(r"\s*[\d.]+[kMG]?/[\d.]+[kMG]?")
_MODEL_REF = "IPY_MODEL_"


def widget_state(nb) -> dict:
    """The saved widget models of a notebook, ``{model_id: {"model_name", "state", ...}}`` (empty if none)."""
    return nb.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE_MIME, {}).get("state", {})


def execute_notebook(path, *, timeout: int = 600, solutions: bool = True):
    """Run a notebook file top to bottom in the :data:`KERNELSPEC` kernel, its folder as working directory.

    Parameters
    ----------
    path : path-like
        The ``.ipynb`` file (read, not written).
    timeout : int
        Seconds allowed per cell.
    solutions : bool
        Run the ``%%solution`` cells (see :func:`run_notebook`).

    Returns
    -------
    nbformat.NotebookNode
        The executed notebook (see :func:`run_notebook`).
    """
    import nbformat

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    # nbclient only writes the widget metadata when widgets were created: drop the old one first.
    nb.metadata.pop("widgets", None)
    return run_notebook(nb, path.parent, timeout=timeout, solutions=solutions)


def kernel_environment(solutions: bool) -> dict:
    """This process's environment with ``MINK_SOLUTIONS`` set to ``1`` (``solutions``) or removed."""
    env = dict(os.environ)
    if solutions:
        env[SOLUTIONS_ENV_VAR] = "1"
    else:
        env.pop(SOLUTIONS_ENV_VAR, None)
    return env


def run_notebook(nb, cwd, *, timeout: int = 600, solutions: bool = True):
    """Execute a notebook in memory with nbclient, in the :data:`KERNELSPEC` kernel.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        Executed in place.
    cwd : path-like
        The kernel's working directory.
    timeout : int
        Seconds allowed per cell.
    solutions : bool
        Start the kernel with ``MINK_SOLUTIONS=1``, so that ``%%solution``
        cells run as plain code (what ``make notebooks`` stores); False starts
        it without the variable, as a learner's kernel (the cells show a
        "Show solution" button).

    Returns
    -------
    nbformat.NotebookNode
        ``nb``, with outputs, the widget state in its metadata and nbclient's
        timestamps in each cell's ``metadata.execution`` (:func:`cell_durations`
        reads them, :func:`tidy_notebook` removes them). Errors raise
        :class:`nbclient.exceptions.CellExecutionError` unless the cell is
        tagged ``raises-exception``.
    """
    import tempfile

    from nbclient import NotebookClient
    from traitlets.config import Config

    with tempfile.TemporaryDirectory(prefix="mink-kernel-") as sockets:
        config = Config()
        # Talk to the kernel over Unix sockets in a private folder, not over TCP ports picked
        # as "free" just before the kernel binds them: on a machine where many kernels start
        # at once (parallel tests) two of them can pick the same port, and a client connected
        # to the wrong kernel waits for replies that never come.
        config.KernelManager.transport = "ipc"
        config.KernelManager.ip = str(Path(sockets) / "kernel")
        client = NotebookClient(
            nb,
            config=config,
            timeout=timeout,
            kernel_name=KERNELSPEC["name"],
            resources={"metadata": {"path": str(Path(cwd).resolve())}},
            store_widget_state=True,
            record_timing=True,
            # A busy machine can delay a cell's last output and widget messages past nbclient's
            # default 4 s; wait longer, and fail rather than store a notebook that misses them.
            iopub_timeout=60,
            raise_on_iopub_timeout=True,
        )
        client.execute(env=kernel_environment(solutions))
    return nb


def cell_durations(nb) -> list[tuple[int, float]]:
    """``(cell index, seconds)`` for each code cell that carries nbclient's timestamps."""
    from datetime import datetime

    durations = []
    for index, cell in enumerate(nb.cells):
        stamps = cell.get("metadata", {}).get("execution", {})
        start, end = stamps.get("iopub.execute_input"), stamps.get("shell.execute_reply")
        if start and end:
            seconds = (datetime.fromisoformat(end.rstrip("Z")) - datetime.fromisoformat(start.rstrip("Z"))).total_seconds()
            durations.append((index, seconds))
    return durations


def _progress_parts(state: dict, model_id: str):
    """(left HTML model, progress model, right HTML model) if the model is a tqdm bar, else None."""
    model = state.get(model_id)
    if model is None or model.get("model_name") != "HBoxModel":
        return None
    children = model["state"].get("children", [])
    if len(children) != 3 or not all(isinstance(c, str) and c.startswith(_MODEL_REF) for c in children):
        return None
    parts = [state.get(c[len(_MODEL_REF):]) for c in children]
    if None in parts:
        return None
    names = [p.get("model_name") for p in parts]
    if names[0] != "HTMLModel" or names[1] not in _PROGRESS_MODELS or names[2] != "HTMLModel":
        return None
    return parts


def _strip_timing(text: str) -> str:
    def keep_postfix(match):
        return f" [{match['postfix']}]" if match["postfix"] else ""

    return _TQDM_TIMING.sub(keep_postfix, text)


def settle_progress_bars(nb):
    """Store each ``tqdm.notebook`` bar as it ended, without timings.

    The bar's count and percentage are taken from its progress model, which
    tqdm updates on every redraw and when it closes (a bar with
    ``leave=False`` sends its final count just before its widget closes),
    while its text labels may lag behind by one throttled redraw. The labels
    are rewritten to match, the elapsed time and rate are removed, and the
    ``text/plain`` fallback of the output (what a reader sees where widgets do
    not render) becomes the final text, e.g. ``small T: 100% 300/300``. A bar
    that hid itself when it ended (``leave=False``) is saved with ``display:
    none``, so it takes no space, as in JupyterLab, where it disappears.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        Modified in place.

    Returns
    -------
    int
        The number of progress-bar outputs rewritten.
    """
    state = widget_state(nb)
    bars = {}
    for model_id in state:
        parts = _progress_parts(state, model_id)
        if parts is None:
            continue
        left, progress, right = (p["state"] for p in parts)
        right["value"] = _strip_timing(right.get("value", ""))
        n, total = progress.get("value"), progress.get("max")
        if progress.get("bar_style") != "info" and isinstance(n, (int, float)) and total:  # "info": no total
            desc = _TQDM_PERCENT.sub("", left.get("value", ""))
            left["value"] = f"{desc} {int(100 * n / total):3d}%"
            match = _TQDM_COUNT.match(right["value"])
            tail = right["value"][match.end():] if match else ""
            right["value"] = f" {_count(n)}/{_count(total)}{tail}"
        # A bar with leave=False hides itself (layout visibility "hidden") and closes; JupyterLab
        # then removes it from the page, while a saved hidden bar would still take its space.
        layout = state.get(str(state[model_id]["state"].get("layout", ""))[len(_MODEL_REF):])
        if layout is not None and layout["state"].get("visibility") == "hidden":
            layout["state"]["display"] = "none"
        text = " ".join(html.unescape(p.get("value", "")) for p in (left, right))
        # tqdm pads with figure spaces (U+2007) for its HTML layout; plain text wants single spaces.
        bars[model_id] = " ".join(text.split())
    rewritten = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW_MIME)
            if view and view.get("model_id") in bars:
                output["data"]["text/plain"] = bars[view["model_id"]]
                rewritten += 1
    return rewritten


def _count(x) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def renumber_widget_models(nb, name: str):
    """Give the saved widget models ids that depend only on ``name`` and their order.

    A kernel draws random ids (uuid4), so every run would otherwise change
    every id in the stored notebook. The new ids are uuid5 hex strings of
    ``name`` and the model's position in the saved state (the order in which
    the kernel created them), rewritten consistently in the state, in the
    references between models (``IPY_MODEL_<id>``) and in the outputs.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        Modified in place.
    name : str
        Distinguishes notebooks (e.g. the file name), so ids stay unique across them.

    Returns
    -------
    dict
        ``{old_id: new_id}``.
    """
    state = widget_state(nb)
    if not state:
        return {}
    mapping = {old: uuid.uuid5(uuid.NAMESPACE_URL, f"mink_toolkit/{name}/{k}").hex for k, old in enumerate(state)}

    def rename(value):
        if isinstance(value, str):
            if value.startswith(_MODEL_REF) and value[len(_MODEL_REF):] in mapping:
                return _MODEL_REF + mapping[value[len(_MODEL_REF):]]
            return mapping.get(value, value)
        if isinstance(value, dict):
            return type(value)((k, rename(v)) for k, v in value.items())
        if isinstance(value, list):
            return [rename(v) for v in value]
        return value

    nb.metadata.widgets[WIDGET_STATE_MIME]["state"] = {mapping[k]: rename(v) for k, v in state.items()}
    for cell in nb.cells:
        if "outputs" in cell:
            cell.outputs = rename(cell.outputs)
    return mapping


def tidy_notebook(nb, name: str):
    """Normalise an executed notebook for storage (see the module docstring).

    Parameters
    ----------
    nb : nbformat.NotebookNode
    name : str
        The notebook's file name (seeds the widget ids).

    Returns
    -------
    nbformat.NotebookNode
        A tidied copy.
    """
    import nbformat

    nb = apply_cell_visibility(nb)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    for cell in nb.cells:
        cell.get("metadata", {}).pop("execution", None)  # timestamps of an earlier run
    settle_progress_bars(nb)
    renumber_widget_models(nb, name)
    return nbformat.from_dict(nb)


def main(argv: list[str] | None = None) -> int:
    """``python -m mink_toolkit.notebook.execute NOTEBOOK ...``: execute, tidy, validate, write back."""
    import nbformat

    parser = argparse.ArgumentParser(prog="python -m mink_toolkit.notebook.execute", description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell (default 600)")
    parser.add_argument("--slow", type=float, default=5.0,
                        help="list cells that take longer than this many seconds (default 5: they need a progress bar)")
    args = parser.parse_args(argv)
    for path in args.notebooks:
        start = time.perf_counter()
        executed = execute_notebook(path, timeout=args.timeout)
        nb = tidy_notebook(executed, path.name)
        nbformat.validate(nb)
        nbformat.write(nb, path)
        slow = ", ".join(f"cell {i} {s:.1f} s" for i, s in cell_durations(executed) if s > args.slow)
        print(f"{path}: executed and stored in {time.perf_counter() - start:.1f} s"
              + (f" (slow: {slow})" if slow else ""), flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
