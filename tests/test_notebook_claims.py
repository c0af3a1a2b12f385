"""mink_toolkit.notebook.claims: the claim checks and ≈-numbers the tutorials rely on, and their nbval rule."""

import configparser
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from mink_toolkit.notebook.claims import ClaimError, approx, approx_list, check, check_between

SANITIZE = Path(__file__).resolve().parents[1] / "notebooks" / "sanitize.cfg"


def _sanitize_rules():
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(SANITIZE, encoding="utf-8")
    return [(re.compile(parser[s]["regex"]), parser[s]["replace"]) for s in parser.sections()]


def sanitize(text: str) -> str:
    # What nbval does with --nbval-sanitize-with: every rule, in file order, on each output.
    for regex, replacement in _sanitize_rules():
        text = regex.sub(replacement, text)
    return text


def test_check_prints_the_claim_when_it_holds(capsys):
    check(np.float64(0.3) < 0.5, "the share is below one half", share=0.3)
    assert capsys.readouterr().out == "✔ the share is below one half\n"


def test_check_raises_with_the_numbers_when_it_does_not(capsys):
    with pytest.raises(ClaimError, match=r"claim does not hold: the share is below one half \(share=0\.7\)"):
        check(0.7 < 0.5, "the share is below one half", share=0.7)
    assert capsys.readouterr().out == ""
    assert issubclass(ClaimError, AssertionError)


def test_check_accepts_numpy_and_torch_scalars_but_not_arrays():
    check(np.bool_(True), "numpy")
    check(torch.tensor(True), "torch")
    with pytest.raises(TypeError, match="condition must have one truth value"):
        check(np.array([True, False]), "two values")
    with pytest.raises(TypeError, match="claim must be a non-empty string"):
        check(True, "  ")


def test_check_between_is_inclusive_and_refuses_nan():
    check_between(0.8, 0.8, 0.9, "at the lower end")
    with pytest.raises(ClaimError, match="value=nan"):
        check_between(float("nan"), 0, 1, "nan is nowhere")
    with pytest.raises(ClaimError):
        check_between(0.95, 0.8, 0.9, "above")
    with pytest.raises(ValueError, match="low must not exceed high"):
        check_between(0.5, 1, 0, "empty interval")


def test_approx_marks_and_formats():
    assert approx(np.float32(0.87412)) == "≈0.874"
    assert approx(torch.tensor(12.5), ".1f") == "≈12.5"
    assert approx(-3.1e-5, ".2e") == "≈-3.10e-05"
    assert approx_list([0.1331, 0.0992], ".3f") == "≈0.133 ≈0.099"


@pytest.mark.parametrize("stored, fresh", [
    # a training number that moved on another CPU, padded to a column
    ("plain              ≈0.874    ≈0.812  ≈0.424", "plain              ≈0.870    ≈0.809  ≈0.348"),
    # one more digit, a sign, an exponent, a percentage
    ("exact distance  ≈9.8 mm/h", "exact distance ≈10.1 mm/h"),
    ("alignment ≈-0.010* ≈0.012", "alignment  ≈0.003* ≈-0.020"),
    ("change ≈8.11e-05 ≈8.10e-05", "change ≈8.67e-05 ≈8.66e-05"),
    ("rate ≈nan, share ≈45%", "rate ≈0.5, share ≈7%"),
])
def test_sanitize_hides_the_digits_of_approx_numbers(stored, fresh):
    assert sanitize(stored) == sanitize(fresh)


@pytest.mark.parametrize("stored, fresh", [
    # exact numbers, labels and units stay compared
    ("area 27985 px, chi 24", "area 27986 px, chi 24"),
    ("plain ≈0.874 R2 area", "plain ≈0.874 R2 perimeter"),
    ("u = 0.105 mm/h: ≈3", "u = 0.135 mm/h: ≈3"),
    ("✔ the annealed run ends closest", "✔ the large-T run ends closest"),
])
def test_sanitize_keeps_everything_else(stored, fresh):
    assert sanitize(stored) != sanitize(fresh)


def test_sanitize_rule_is_what_approx_writes():
    rules = _sanitize_rules()
    for value, spec in [(0.874, ".3f"), (-0.0123, ".3g"), (1.5e8, ".3g"), (12.0, "g"), (float("inf"), ".2f")]:
        text = f"x {approx(value, spec):>9s} y"
        assert "≈…" in sanitize(text), (value, spec, text)
    assert any("≈" in regex.pattern for regex, _ in rules)
