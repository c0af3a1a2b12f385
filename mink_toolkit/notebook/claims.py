"""Claims a tutorial makes about its numbers, checked where they are computed, on any CPU.

A stored notebook is validated by nbval, which compares each output with the
one stored. That works for exact results (counts, functionals, shapes, file
contents): every machine reproduces them. It does not work for numbers that
come out of training, optimisation or sampling. Torch's vectorised kernels,
oneDNN and numpy's SIMD loops round differently on each instruction set
(AVX-512, AVX2, ARM), and an optimiser amplifies a last-bit difference into a
different second digit. So the tutorials treat them in two ways:

* :func:`approx` formats such a number with a leading ``≈``. The reader sees
  the value of the stored run; ``notebooks/sanitize.cfg`` replaces every
  ``≈``-number by ``≈…`` in the stored and in the fresh output before nbval
  compares them, so the rest of the line (labels, units, exact numbers) is
  still compared.
* :func:`check` states, next to the numbers, the claim the text makes about
  them, with a tolerance that holds on any CPU and fails when the claim is
  false. It prints one line, ``✔ <claim>``, that nbval compares, and raises
  :class:`ClaimError` with the numbers when the claim does not hold, so the
  notebook run (and the test suite) fails there.

The text of a tutorial quotes such numbers only as its checks guarantee them
("about 0.8", "below 0.3", "more than 3× lower").

Examples
--------
>>> check(0.353 < 0.9 * 0.874, "the plain CNN learns χ worse than the area", chi=0.353, area=0.874)
✔ the plain CNN learns χ worse than the area
>>> approx(0.87412)
'≈0.874'
>>> f"R² {approx(0.87412, '.2f')}"
'R² ≈0.87'
"""

from __future__ import annotations

import math
from numbers import Real

__all__ = ["APPROX", "ClaimError", "approx", "approx_list", "check", "check_between"]

#: The mark of a number that nbval does not compare digit by digit (see ``notebooks/sanitize.cfg``).
APPROX = "≈"


class ClaimError(AssertionError):
    """A claim a tutorial makes about its numbers does not hold for the numbers of this run."""


def _format_numbers(numbers: dict) -> str:
    parts = []
    for key, value in numbers.items():
        if isinstance(value, Real) and not isinstance(value, bool):
            parts.append(f"{key}={float(value):.6g}")
        else:
            parts.append(f"{key}={value!r}")
    return ", ".join(parts)


def check(condition, claim: str, **numbers) -> None:
    """Print ``✔ claim`` if ``condition`` holds, else raise :class:`ClaimError` with the numbers.

    Parameters
    ----------
    condition : bool
        Whether the claim holds for this run's numbers (a numpy or torch
        boolean scalar is accepted).
    claim : str
        The claim in the words of the tutorial's text, for example ``"the
        annealed schedule ends at less than a quarter of the large-T
        distance"``. It is printed, so it must not contain numbers of this
        run (nbval compares the line).
    **numbers
        The values the claim is about, shown in the error message.

    Raises
    ------
    ClaimError
        If ``condition`` is false.
    TypeError
        If ``claim`` is not a non-empty string, or ``condition`` has no single
        truth value (an array of several elements).

    Examples
    --------
    >>> check(2 > 1, "two exceeds one")
    ✔ two exceeds one
    >>> check(1 > 2, "one exceeds two", one=1, two=2)
    Traceback (most recent call last):
    ...
    mink_toolkit.notebook.claims.ClaimError: claim does not hold: one exceeds two (one=1, two=2)
    """
    if not isinstance(claim, str) or not claim.strip():
        raise TypeError(f"claim must be a non-empty string, got {claim!r}")
    try:
        holds = bool(condition)
    except (TypeError, ValueError, RuntimeError) as exc:  # numpy/torch arrays of several elements
        raise TypeError(f"condition must have one truth value, got {type(condition).__name__}: {exc}") from None
    if not holds:
        detail = f" ({_format_numbers(numbers)})" if numbers else ""
        raise ClaimError(f"claim does not hold: {claim}{detail}")
    print(f"✔ {claim}")


def check_between(value, low, high, claim: str) -> None:
    """Check ``low <= value <= high`` (finite), the most common claim: "about x", "between a and b".

    Parameters
    ----------
    value : float
        The measured number.
    low, high : float
        The interval the text promises, inclusive.
    claim : str
        The claim in the words of the text (without this run's number).

    Raises
    ------
    ClaimError
        If ``value`` is not finite or lies outside ``[low, high]``.
    ValueError
        If ``low > high``.

    Examples
    --------
    >>> check_between(0.87, 0.8, 0.95, "the plain CNN's area R² is about 0.9")
    ✔ the plain CNN's area R² is about 0.9
    """
    if not low <= high:
        raise ValueError(f"low must not exceed high, got low={low!r}, high={high!r}")
    value = float(value)
    check(math.isfinite(value) and low <= value <= high, claim, value=value, low=low, high=high)


def approx(value, spec: str = ".3g") -> str:
    """A number of a training, optimisation or sampling run, marked ``≈`` so nbval does not compare its digits.

    Parameters
    ----------
    value : float
        The number (a numpy or torch scalar is accepted).
    spec : str
        Format specification of the number itself, without width (``".3f"``,
        ``".2e"``, ``".0f"``); pad the returned string to align columns
        (``f"{approx(x):>8s}"``).

    Returns
    -------
    str
        ``"≈"`` followed by the formatted number.

    Examples
    --------
    >>> approx(0.0042519, ".2e")
    '≈4.25e-03'
    >>> f"{approx(12.5, '.1f'):>7s}"
    '  ≈12.5'
    """
    return f"{APPROX}{format(float(value), spec)}"


def approx_list(values, spec: str = ".3f", sep: str = " ") -> str:
    """Several :func:`approx` numbers in one string (a histogram, a row of a table).

    Examples
    --------
    >>> approx_list([0.1331, 0.0992], ".3f")
    '≈0.133 ≈0.099'
    """
    return sep.join(approx(v, spec) for v in values)
