r"""Continuous logic on memberships in [0, 1]: the t-norms (AND), their t-conorms (OR) and NOT.

The three t-norms of the relaxation (see :mod:`mink_toolkit.relax`):
product, Gödel (min/max) and Łukasiewicz, with their associative
extensions to blocks of four.
"""

from __future__ import annotations

import functools
import operator

import torch

from .._validation import check_choice

__all__ = ["TNORMS", "t_and", "t_or", "t_not"]

#: Names of the t-norms accepted by ``tnorm=``.
TNORMS = ("product", "godel", "lukasiewicz")


def _check_logic(args: tuple, tnorm: str, where: str) -> None:
    """The checks of :func:`t_and` and :func:`t_or`: a known t-norm and two or more memberships."""
    check_choice(tnorm, TNORMS, "tnorm")
    if len(args) < 2:
        raise ValueError(f"{where} needs at least two memberships; got {len(args)}")


def t_and(*args: torch.Tensor, tnorm: str = "product") -> torch.Tensor:
    """Continuous AND of two or more memberships in [0, 1].

    Parameters
    ----------
    *args : torch.Tensor
        Memberships, broadcastable to one shape.
    tnorm : {"product", "godel", "lukasiewicz"}
        Product :math:`\\prod a_i`, Gödel :math:`\\min a_i` or Łukasiewicz
        :math:`\\max(0, \\sum a_i - (k - 1))` (associative extensions).

    Returns
    -------
    torch.Tensor

    Examples
    --------
    >>> import torch
    >>> a, b = torch.tensor(0.8), torch.tensor(0.5)
    >>> [round(float(t_and(a, b, tnorm=t)), 2) for t in TNORMS]
    [0.4, 0.5, 0.3]
    """
    _check_logic(args, tnorm, "t_and")
    if tnorm == "product":
        return functools.reduce(operator.mul, args)
    if tnorm == "godel":
        return functools.reduce(torch.minimum, args)
    return (sum(args) - (len(args) - 1)).clamp_min(0.0)


def t_or(*args: torch.Tensor, tnorm: str = "product") -> torch.Tensor:
    """Continuous OR (the t-conorm dual to :func:`t_and` under NOT = 1 − a).

    Product :math:`1 - \\prod (1 - a_i)` (for two: a + b − ab), Gödel
    :math:`\\max a_i`, Łukasiewicz :math:`\\min(1, \\sum a_i)`.

    Examples
    --------
    >>> import torch
    >>> pair = torch.tensor(0.8), torch.tensor(0.5)
    >>> {t: round(float(t_or(*pair, tnorm=t)), 2) for t in TNORMS}
    {'product': 0.9, 'godel': 0.8, 'lukasiewicz': 1.0}
    """
    _check_logic(args, tnorm, "t_or")
    if tnorm == "product":
        if len(args) == 2:
            a, b = args
            return a + b - a * b
        out = 1.0 - args[0]
        for a in args[1:]:
            out = out * (1.0 - a)
        return 1.0 - out
    if tnorm == "godel":
        return functools.reduce(torch.maximum, args)
    return sum(args).clamp_max(1.0)


def t_not(a: torch.Tensor) -> torch.Tensor:
    """Continuous NOT, 1 − a (the same for all three t-norms)."""
    return 1.0 - a
