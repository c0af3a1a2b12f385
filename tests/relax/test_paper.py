"""Tests of the published relaxation (mink_toolkit.relax.paper), against ours."""

import torch

from mink_toolkit import paper_relaxation, soft_minkowski_functionals


def test_paper_variant_chi_is_four_connected_godel():
    gen = torch.Generator().manual_seed(8)
    field = torch.rand(2, 10, 12, generator=gen, dtype=torch.float64) * 3
    paper = paper_relaxation(field, [0.5, 1.5], 0.1, relative=True, min_temperature=None)
    godel4 = soft_minkowski_functionals(field, [0.5, 1.5], 0.1, relative=True, connectivity=4, tnorm="godel")
    torch.testing.assert_close(paper[..., 2], godel4[..., 2])
    torch.testing.assert_close(paper[..., 0], godel4[..., 0])
    # ... and its total-variation perimeter is not our estimator.
    assert not torch.allclose(paper[..., 1], godel4[..., 1], rtol=0.05)
