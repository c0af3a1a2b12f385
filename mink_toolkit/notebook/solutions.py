"""Exercise solutions that Run All does not reveal: the ``%%solution`` cell magic.

A tutorial loads this IPython extension in its first code cell and starts each
solution cell with the cell magic::

    %load_ext mink_toolkit.notebook.solutions      (first code cell)

    %%solution 1                                    (first line of a solution cell)
    scaled = mk.minkowski_functionals(region.values, thresholds, pixel_size=2.0)
    ...

What a ``%%solution`` cell does depends on the environment variable
:data:`ENV_VAR` (``MINK_SOLUTIONS``) of the kernel, read each time the cell runs:

**set** (``MINK_SOLUTIONS=1``: ``make notebooks``, ``make test``/nbval)
    The body runs as if the ``%%solution`` line were not there: an input
    transformer blanks that line before IPython parses the cell, so the cell
    *is* the plain code (same outputs, figures, progress bars, execution count
    and ``Out[n]``; an error fails the cell; the names it defines are global).
    This is what lets nbval compare the solution outputs that ``make
    notebooks`` stores.
**unset** (a learner's Run All)
    Nothing of the body runs. The cell shows a button "Show solution N"
    (text fallback: one line saying that the solution is hidden and how to
    see it); pressing it runs the body in the notebook's namespace and shows
    its outputs below the button.

An instructor sets the variable before starting JupyterLab, or types
``%env MINK_SOLUTIONS=1`` in a running notebook; the instructor copies of
``python -m mink_toolkit workshop`` have the ``%%solution`` lines removed and
need neither. The stored notebooks keep the solution cells folded (see
:func:`~mink_toolkit.notebook.workshop.apply_cell_visibility`), since their
stored outputs are the solutions' outputs.
"""

from __future__ import annotations

import os
import re

__all__ = [
    "ENV_VAR",
    "LOAD_LINE",
    "MAGIC_LINE",
    "hidden_solution",
    "load_ipython_extension",
    "solution_body",
    "solutions_enabled",
    "unload_ipython_extension",
]

#: The environment variable that makes ``%%solution`` cells run (``1``, ``true``, ``yes`` or ``on``).
ENV_VAR = "MINK_SOLUTIONS"
#: The line a notebook loads the extension with (first line of its first code cell).
LOAD_LINE = "%load_ext mink_toolkit.notebook.solutions"
#: How a solution cell starts (optionally followed by the exercise number).
MAGIC_LINE = "%%solution"
_MAGIC = re.compile(r"%%solution(?:[ \t]+(?P<label>[^\n]*?))?[ \t]*(?:\n|$)")
_ON = {"1", "true", "yes", "on"}


def solutions_enabled(environ=None) -> bool:
    """Whether ``%%solution`` cells run their body (:data:`ENV_VAR` is ``1``/``true``/``yes``/``on``).

    Examples
    --------
    >>> solutions_enabled({"MINK_SOLUTIONS": "1"}), solutions_enabled({})
    (True, False)
    """
    environ = os.environ if environ is None else environ
    return environ.get(ENV_VAR, "").strip().lower() in _ON


def solution_body(source: str):
    """Split a cell source that starts with ``%%solution``: ``(label, body)``, or None if it does not.

    Examples
    --------
    >>> solution_body("%%solution 2\\nx = 1\\nx")
    ('2', 'x = 1\\nx')
    >>> solution_body("x = 1") is None
    True
    """
    match = _MAGIC.match(source)
    if match is None:
        return None
    return (match["label"] or "").strip(), source[match.end():]


def _reveal_if_enabled(lines: list[str]) -> list[str]:
    """IPython input transformer: with solutions enabled, blank a leading ``%%solution`` line.

    The body then runs as the cell itself (the blank line keeps traceback line
    numbers equal to the cell's); disabled, the cell goes on to the cell magic.
    """
    if lines and _MAGIC.match(lines[0]) and solutions_enabled():
        return ["\n", *lines[1:]]
    return lines


_reveal_if_enabled.has_side_effects = False  # IPython may also run it to check completeness


def hidden_solution(body: str, label: str = "", *, shell=None):
    """Display a "Show solution" button that runs ``body`` in ``shell`` and shows its outputs below.

    Parameters
    ----------
    body : str
        The solution's code.
    label : str
        Its number (or name), shown on the button.
    shell : IPython.core.interactiveshell.InteractiveShell, optional
        Default: the running one.

    Returns
    -------
    ipywidgets.VBox
        With attributes ``button`` (ipywidgets.Button; ``button.click()``
        runs the solution, as pressing it does) and ``output``
        (ipywidgets.Output holding what the solution displays).
    """
    import ipywidgets as widgets
    from IPython import get_ipython
    from IPython.display import display

    shell = shell or get_ipython()
    name = f"solution {label}".strip()
    button = widgets.Button(description=f"Show {name}", icon="eye", button_style="",
                            tooltip="run the worked solution and show its outputs here",
                            layout=widgets.Layout(width="auto"))
    output = widgets.Output()
    box = widgets.VBox([button, output])

    def reveal(_button=None):
        if button.disabled:
            return
        button.disabled = True
        button.description = f"{name[0].upper()}{name[1:]}:"
        button.icon = "check"
        with output:
            shell.run_cell(body, store_history=False)

    button.on_click(reveal)
    box.button, box.output = button, output
    bundle = box._repr_mimebundle_()
    bundle["text/plain"] = (f"{name[0].upper()}{name[1:]} is hidden: press \"Show {name}\" to run it, "
                            f"or set {ENV_VAR}=1 and run the cell again.")
    display(bundle, raw=True)
    return box


def _solution_magic(shell):
    def solution(line, cell):
        """Run this cell only when solutions are enabled; otherwise show a "Show solution" button.

        ``%%solution [N]`` as the first line of a cell. With the environment
        variable MINK_SOLUTIONS=1 the cell runs as plain code; without it,
        nothing runs until the button "Show solution N" is pressed.
        """
        if solutions_enabled():  # reached only when called directly: the transformer handles cells
            result = shell.run_cell(cell, store_history=False)
            result.raise_error()
            return None
        hidden_solution(cell, line.strip(), shell=shell)
        return None

    return solution


def load_ipython_extension(ipython) -> None:
    """``%load_ext mink_toolkit.notebook.solutions``: register ``%%solution`` and its input transformer."""
    ipython.register_magic_function(_solution_magic(ipython), magic_kind="cell", magic_name="solution")
    if _reveal_if_enabled not in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.append(_reveal_if_enabled)


def unload_ipython_extension(ipython) -> None:
    """``%unload_ext``: remove the input transformer and the magic."""
    while _reveal_if_enabled in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.remove(_reveal_if_enabled)
    ipython.magics_manager.magics["cell"].pop("solution", None)
