"""Small input checks shared by every public function.

One rule for exception types everywhere in the toolkit: a wrong *kind* of
object or dtype raises ``TypeError``, a right kind with a bad *value*
(out of range, NaN, wrong shape, empty) raises ``ValueError``. Each message
names the argument, the value and, where there is one, the remedy, in the spirit of scikit-image's ``check_nD`` and kornia's
``KORNIA_CHECK_*`` helpers. Nothing is ever silently converted.
"""

from __future__ import annotations

import os
from typing import Iterable

import numpy as np

__all__ = [
    "check_array_field",
    "check_choice",
    "check_device",
    "check_finite",
    "check_fraction",
    "check_grid",
    "check_integer",
    "check_out",
    "check_path",
    "check_positive",
    "check_temperature",
    "check_tensor",
    "check_weights",
]


def _check_dims(shape, name: str, *, ndim: int | None = None, min_ndim: int | None = None, layout: str = "") -> None:
    """The one message for a wrong number of dims (arrays and tensors alike)."""
    if ndim is not None and len(shape) != ndim:
        raise ValueError(f"{name} must have {ndim} dims{layout}; got shape {tuple(shape)}")
    if min_ndim is not None and len(shape) < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dims{layout}; got shape {tuple(shape)}")


def check_array_field(
    field,
    name: str = "field",
    *,
    allow_nan: bool = False,
    nan_advice: str | None = None,
    nonnegative: bool = False,
) -> np.ndarray:
    """Return ``field`` as a real numeric ndarray with at least 2 dims.

    Boolean and integer arrays are accepted (binary masks are fields too);
    complex, object and string arrays are refused with ``TypeError``, and so
    are float16 (three significant digits cannot place a value against a
    threshold) and torch tensors that require grad (the caller would lose
    the gradient without a word). ``+inf`` and ``-inf`` are refused: no
    physical field holds them, and one ``inf`` pixel would join the
    excursion set at every threshold.

    Parameters
    ----------
    field : array_like, shape (..., H, W)
    name : str
        The argument as the caller wrote it, for the messages.
    allow_nan : bool
        Let NaN through (the caller has a NaN policy).
    nan_advice : str, optional
        What the caller can do about NaN, appended to the message; only
        advice the calling function can follow (such as its own
        ``nan_policy=``).
    nonnegative : bool
        Refuse negative values (rain rates and accumulations).

    Returns
    -------
    ndarray
        ``field`` itself where it already is one (bool as uint8).

    Examples
    --------
    >>> import numpy as np
    >>> check_array_field(np.zeros((2, 3))).shape
    (2, 3)
    >>> check_array_field(np.array([[1.0, np.inf]]), "target")
    Traceback (most recent call last):
    ...
    ValueError: target contains inf (1 pixel); a field must be finite
    """
    if getattr(field, "requires_grad", False):
        raise TypeError(
            f"{name} is a tensor that requires grad, and this function does not differentiate; "
            f"pass {name}.detach()"
        )
    arr = np.asarray(field)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(
            f"{name} must be a real numeric array (bool, int or float); got dtype {arr.dtype}"
        )
    if arr.dtype == np.float16:
        raise TypeError(
            f"{name} must be float32 or float64; got dtype float16, too coarse to compare with "
            f"thresholds (convert with {name}.astype(np.float32))"
        )
    _check_dims(arr.shape, name, min_ndim=2, layout=" (..., H, W)")
    if arr.shape[-1] == 0 or arr.shape[-2] == 0:
        raise ValueError(f"{name} is empty: its last two dims (H, W) are {arr.shape[-2:]}")
    if np.issubdtype(arr.dtype, np.floating):
        if not allow_nan and np.isnan(arr).any():
            advice = f"; {nan_advice}" if nan_advice else ""
            raise ValueError(f"{name} contains NaN (outside radar coverage?){advice}")
        n_inf = int(np.isinf(arr).sum())
        if n_inf:
            raise ValueError(
                f"{name} contains inf ({n_inf} pixel{'s' if n_inf > 1 else ''}); a field must be finite"
            )
    if nonnegative and arr.size and np.nanmin(arr, initial=0) < 0:
        raise ValueError(f"{name} contains negative values (min {np.nanmin(arr):.3g}); rain must be >= 0")
    return arr


def check_choice(value, allowed: Iterable, name: str):
    """Raise ``ValueError`` unless ``value`` is one of ``allowed``."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}; got {value!r}")
    return value


def _real_number(value, name: str, what: str) -> float:
    """``value`` as a float if it is a real number (a bool or a string is not), else ``TypeError``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be {what}; got {type(value).__name__} {value!r}")
    return float(value)


def check_positive(value, name: str) -> float:
    """Return ``value`` as a float, raising unless it is finite and > 0."""
    value = _real_number(value, name, "a real number")
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be finite and > 0; got {value}")
    return value


def check_integer(value, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return ``value`` as an ``int``, raising unless it is an integer in range.

    ``bool`` is refused (``True`` is an ``int`` in Python but never a count
    here); numpy integers are accepted.

    Parameters
    ----------
    value : object
    name : str
        Argument name for the message.
    minimum, maximum : int, optional
        Inclusive bounds.

    Returns
    -------
    int

    Raises
    ------
    TypeError
        Not an integer (floats such as ``3.0`` included: nothing is converted).
    ValueError
        Outside ``[minimum, maximum]``.

    Examples
    --------
    >>> check_integer(3, "steps", minimum=1)
    3
    >>> check_integer(0, "steps", minimum=1)
    Traceback (most recent call last):
    ...
    ValueError: steps must be >= 1; got 0
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer; got {type(value).__name__} {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}; got {value}")
    return value


def check_finite(value, name: str) -> float:
    """Return ``value`` as a float, raising unless it is a finite real number.

    Examples
    --------
    >>> check_finite(0.5, "threshold")
    0.5
    >>> check_finite(float("nan"), "threshold")
    Traceback (most recent call last):
    ...
    ValueError: threshold must be finite; got nan
    """
    value = _real_number(value, name, "a real number")
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite; got {value}")
    return value


def check_fraction(value, name: str) -> float:
    """Return ``value`` as a float in [0, 1].

    Examples
    --------
    >>> check_fraction(0.25, "min_coverage")
    0.25
    """
    value = _real_number(value, name, "a number in [0, 1]")
    if not 0.0 <= value <= 1.0:  # NaN fails this too
        raise ValueError(f"{name} must be in [0, 1]; got {value}")
    return value


def check_tensor(
    value,
    name: str,
    *,
    ndim: int | None = None,
    min_ndim: int | None = None,
    floating: bool = True,
    finite: bool = False,
    nonnegative: bool = False,
    dtypes: tuple | None = None,
    advice: str | None = None,
):
    """Return ``value`` if it is a torch tensor meeting the conditions.

    Parameters
    ----------
    value : object
    name : str
    ndim, min_ndim : int, optional
        Exact or minimum number of dims.
    floating : bool
        Require a floating-point dtype (``TypeError`` otherwise).
    finite : bool
        Refuse NaN and inf (``ValueError``).
    nonnegative : bool
        Refuse negative values (``ValueError``).
    dtypes : tuple of torch.dtype, optional
        The dtypes accepted (``TypeError`` otherwise), e.g. a model's own.
    advice : str, optional
        What to do about NaN or inf, appended to that message.

    Examples
    --------
    >>> import torch
    >>> check_tensor(torch.zeros(2, 3), "x", ndim=2).shape
    torch.Size([2, 3])
    """
    import torch

    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(value).__name__}")
    if floating and not torch.is_floating_point(value):
        raise TypeError(f"{name} must be a floating-point tensor; got dtype {value.dtype} (convert with .float())")
    if dtypes is not None and value.dtype not in dtypes:
        wanted = " or ".join(str(d).removeprefix("torch.") for d in dtypes)
        raise TypeError(f"{name} must be a {wanted} tensor; got dtype {str(value.dtype).removeprefix('torch.')} "
                        f"(convert with .to({dtypes[0]}))")
    _check_dims(value.shape, name, ndim=ndim, min_ndim=min_ndim)
    if value.numel() == 0:
        raise ValueError(f"{name} is empty: shape {tuple(value.shape)}")
    detached = value.detach()
    if finite and not bool(torch.isfinite(detached).all()):
        what = "NaN" if bool(torch.isnan(detached).any()) else "inf"
        raise ValueError(f"{name} contains {what}" + (f"; {advice}" if advice else ""))
    if nonnegative and bool((detached < 0).any()):
        raise ValueError(f"{name} contains negative values (min {float(detached.min()):.3g})")
    return value


def check_weights(weights, name: str = "weights", *, n: int = 3) -> tuple[float, ...]:
    """Return ``n`` loss weights as floats: finite, >= 0 and not all zero.

    A NaN weight makes the loss NaN, a negative one rewards a training loop
    for pushing the functionals apart, and all zeros make a loss that
    teaches nothing.

    Examples
    --------
    >>> check_weights((1, 0.5, 0))
    (1.0, 0.5, 0.0)
    >>> check_weights((-1, -1, -1))
    Traceback (most recent call last):
    ...
    ValueError: weights must be >= 0; got (-1.0, -1.0, -1.0)
    """
    arr = np.asarray(weights.detach().cpu() if hasattr(weights, "detach") else weights)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"{name} must be {n} real numbers; got {type(weights).__name__} {weights!r}")
    if arr.shape != (n,):
        raise ValueError(f"{name} must have {n} entries (area, perimeter, euler_characteristic); "
                         f"got shape {arr.shape}: {arr.tolist()}")
    values = tuple(float(w) for w in arr)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite; got {values}")
    if np.any(arr < 0):
        raise ValueError(f"{name} must be >= 0; got {values}")
    if not np.any(arr > 0):
        raise ValueError(f"{name} must not all be 0; got {values}")
    return values


def check_temperature(value, name: str = "temperature") -> None:
    """Refuse a temperature that is not a number, a sequence of numbers or a tensor.

    Nothing is converted: ``"0.1"`` is refused rather than parsed. The
    values (> 0, finite, one per threshold) are checked where the
    thresholds are known (:func:`mink_toolkit.relax.resolve_temperature`).

    Examples
    --------
    >>> check_temperature(0.1)
    >>> check_temperature("0.1")
    Traceback (most recent call last):
    ...
    TypeError: temperature must be a number, a sequence of numbers or a tensor; got str '0.1'
    """
    if hasattr(value, "detach"):  # a tensor: its dtype is checked with its values
        return
    arr = None if isinstance(value, (bool, np.bool_, str, bytes)) else np.asarray(value)
    if arr is None or arr.dtype == bool or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise TypeError(
            f"{name} must be a number, a sequence of numbers or a tensor; got {type(value).__name__} {value!r}"
        )


def check_grid(value, name: str, *, minimum: int = 1) -> tuple[int, int]:
    """Return a grid size ``(H, W)`` of two integers >= ``minimum``.

    Examples
    --------
    >>> check_grid([129, 129], "norm_grid", minimum=2)
    (129, 129)
    >>> check_grid((0, 0), "norm_grid", minimum=2)
    Traceback (most recent call last):
    ...
    ValueError: norm_grid must be two integers (H, W) >= 2; got (0, 0)
    """
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise TypeError(f"{name} must be two integers (H, W); got {value!r}")
    if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in value):
        raise TypeError(f"{name} must be two integers (H, W); got {tuple(value)!r}")
    grid = (int(value[0]), int(value[1]))
    if min(grid) < minimum:
        raise ValueError(f"{name} must be two integers (H, W) >= {minimum}; got {grid}")
    return grid


def check_out(out, like: np.ndarray, name: str = "out") -> np.ndarray:
    """Return ``out`` if it is a floating ndarray shaped like ``like`` that can hold its values.

    Examples
    --------
    >>> import numpy as np
    >>> check_out(np.empty((2, 3)), np.zeros((2, 3))).shape
    (2, 3)
    >>> check_out(np.empty(3), np.zeros((2, 3)))
    Traceback (most recent call last):
    ...
    ValueError: out must have the shape of the input (2, 3); got (3,)
    """
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy array; got {type(out).__name__}")
    if out.shape != like.shape:
        raise ValueError(f"{name} must have the shape of the input {like.shape}; got {out.shape}")
    if not np.issubdtype(out.dtype, np.floating) or not np.can_cast(like.dtype, out.dtype, "safe"):
        raise TypeError(f"{name} must be a floating-point array that can hold {like.dtype} (NaN marks clutter); "
                        f"got dtype {out.dtype}")
    return out


def check_path(path, name: str = "path", *, what: str = "file") -> str:
    """Return ``os.fspath(path)``, raising unless it is an existing file.

    Parameters
    ----------
    path : str, bytes or os.PathLike
    name : str
        The argument, for a ``TypeError``.
    what : str
        What the file should be, for the messages (e.g. ``"ODIM file"``).

    Raises
    ------
    TypeError
        ``path`` not a str or os.PathLike.
    IsADirectoryError
        ``path`` is a directory (told apart from a missing file).
    FileNotFoundError
        Nothing is at ``path``.

    Examples
    --------
    >>> import tempfile
    >>> check_path(tempfile.gettempdir(), what="ODIM file")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    IsADirectoryError: ODIM file ... is a directory, not a file; pass one of the files in it
    """
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"{name} must be a str or os.PathLike; got {type(path).__name__} {path!r}")
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"{what} {path} is a directory, not a file; pass one of the files in it")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} {path} does not exist")
    return path


def check_device(device, name: str = "device") -> str:
    """Return the torch device ``device`` names, as a string, raising unless this process can use it.

    Parameters
    ----------
    device : str or torch.device
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``, ...
    name : str
        The argument, for the messages.

    Returns
    -------
    str
        ``str(torch.device(device))``: ``"cuda"`` stays ``"cuda"`` (the
        current CUDA device), ``"cuda:1"`` stays ``"cuda:1"``.

    Raises
    ------
    TypeError
        Not a str or ``torch.device``.
    ValueError
        Not a device name torch knows, ``meta`` (no values to compute
        with), or a CUDA or MPS device this torch build or machine does not
        have (a CPU-only torch wheel has no CUDA).

    Examples
    --------
    >>> check_device("cpu")
    'cpu'
    >>> check_device("gpu")
    Traceback (most recent call last):
    ...
    ValueError: device must be a torch device such as 'cpu', 'cuda' or 'cuda:0'; got 'gpu'
    """
    import torch

    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"{name} must be a str or torch.device; got {type(device).__name__} {device!r}")
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise ValueError(f"{name} must be a torch device such as 'cpu', 'cuda' or 'cuda:0'; got {device!r}") from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{name} {str(device)!r}: CUDA is not available here (torch.cuda.is_available() is "
                             f"False: a CPU-only torch build, or no GPU); use 'cpu'")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise ValueError(f"{name} {str(device)!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif parsed.type == "meta":
        raise ValueError(f"{name} 'meta': tensors there have shapes but no values; use 'cpu' or 'cuda'")
    elif parsed.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"{name} {str(device)!r}: MPS is not available here; use 'cpu'")
    return str(parsed)
