"""The one checkpoint format (mink_toolkit.checkpoint), shared by surrogates and super-resolution networks."""

import pytest
import torch

from mink_toolkit.checkpoint import CHECKPOINT_FORMAT, load_checkpoint, load_checkpoint_metadata, save_checkpoint
from mink_toolkit.superres import ResidualUNet, load_superres_checkpoint, save_superres_checkpoint
from mink_toolkit.surrogate import MinkowskiSurrogate, load_surrogate, save_surrogate


def test_both_kinds_share_one_format_and_refuse_each_other(tmp_path):
    torch.manual_seed(0)
    net = ResidualUNet(factor=2, width=2, depth=1)
    surrogate = MinkowskiSurrogate([0.5, 2.0], width=4, depth=2, levels=1)
    save_superres_checkpoint(tmp_path / "net.pt", net, history={"loss": [1.0, 0.5]})
    save_surrogate(surrogate, tmp_path / "sur.pt", metadata={"note": "x"})
    for name, kind in (("net.pt", "superres"), ("sur.pt", "surrogate")):
        payload = torch.load(tmp_path / name, weights_only=True)
        assert payload["format"] == CHECKPOINT_FORMAT and payload["kind"] == kind and payload["version"] == 1
        assert isinstance(payload["config"], dict)
    with pytest.raises(ValueError, match="holds a 'surrogate' model, not a 'superres' one"):
        load_superres_checkpoint(tmp_path / "sur.pt")
    with pytest.raises(ValueError, match="holds a 'superres' model"):
        load_surrogate(tmp_path / "net.pt")
    loaded, history = load_superres_checkpoint(tmp_path / "net.pt", expect={"factor": 2, "width": 2})
    assert history == {"loss": [1.0, 0.5]} and loaded.config() == net.config()
    assert load_checkpoint_metadata(tmp_path / "net.pt") == {"history": {"loss": [1.0, 0.5]}}
    assert load_checkpoint_metadata(tmp_path / "sur.pt") == {"note": "x"}
    x = torch.rand(1, 1, 4, 4)
    torch.testing.assert_close(loaded(x), net(x))


def test_generic_errors_name_what_is_wrong(tmp_path):
    net = ResidualUNet(factor=2, width=2, depth=1)
    path = save_checkpoint(net, tmp_path / "a" / "net.pt", kind="superres")  # creates the folder
    build = lambda config: ResidualUNet(**config)  # noqa: E731
    with pytest.raises(ValueError, match="unknown superres setting 'colour'"):
        load_checkpoint(path, kind="superres", build=build, expect={"colour": 1})
    with pytest.raises(ValueError, match="depth=1 differs from the expected 2"):
        load_checkpoint(path, kind="superres", build=build, expect={"depth": 2})
    payload = torch.load(path, weights_only=True)
    payload["version"] = 99
    torch.save(payload, tmp_path / "v99.pt")
    with pytest.raises(ValueError, match="version 99"):
        load_checkpoint(tmp_path / "v99.pt", kind="superres", build=build)
    with pytest.raises(FileNotFoundError, match="no superres checkpoint"):
        load_checkpoint(tmp_path / "missing.pt", kind="superres", build=build)
    # No temporary is left next to the checkpoint (atomic write).
    assert [p.name for p in path.parent.iterdir()] == ["net.pt"]
