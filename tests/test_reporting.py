"""Tests of mink_toolkit.reporting: aggregation over seeds, table cells, JSON, README blocks."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from mink_toolkit.reporting import aggregate, format_value, json_default, plus_minus, replace_readme_block


def test_aggregate_keeps_the_nesting_and_ignores_nan():
    runs = [{"a": 1.0, "b": {"c": [1.0, 2.0]}, "d": math.nan}, {"a": 3.0, "b": {"c": [3.0, 4.0]}, "d": math.nan}]
    agg = aggregate(runs)
    assert agg["a"] == {"mean": 2.0, "std": 1.0}
    assert agg["b"]["c"] == {"mean": [2.0, 3.0], "std": [1.0, 1.0]}
    assert agg["d"] == {"mean": None, "std": None} and plus_minus(agg["d"]) == "–"
    assert aggregate([{"x": 1.0}, {"x": math.nan}])["x"] == {"mean": 1.0, "std": 0.0}


def test_cells_and_json():
    assert plus_minus({"mean": 1.0, "std": 0.5}, 2) == "1.00 ± 0.50"
    assert [format_value(v) for v in (0.5, 1e-4, 2e3, math.nan, False, "x", 0)] == \
        ["0.500", "0.0001", "2e+03", "–", "no", "x", "0.000"]
    text = json.dumps({"a": np.int64(3), "b": np.bool_(True), "c": (1.5,)}, default=json_default)
    assert json.loads(text) == {"a": 3, "b": True, "c": [1.5]}
    with pytest.raises(TypeError, match="not JSON serialisable"):
        json.dumps({"a": object()}, default=json_default)


def test_replace_readme_block_needs_exactly_one_block(tmp_path):
    path = tmp_path / "R.md"
    path.write_text("a\n<!-- t:begin -->\nold\n<!-- t:end -->\nb\n")
    replace_readme_block(path, "t", "new")
    assert path.read_text() == "a\n<!-- t:begin -->\nnew\n<!-- t:end -->\nb\n"
    path.write_text("<!-- t:end -->\n<!-- t:begin -->\n")
    with pytest.raises(ValueError, match="exactly one block"):
        replace_readme_block(path, "t", "x")
