"""The contract every interop family keeps, checked for every entry of ``FAMILIES`` (so a new
family file is tested with no test edit): it lives in ``interop/<name>.py``, and a tiny uer_ray
model built from its own ``our_config`` survives export to Hugging Face and to UER-py and import
back with identical weights and nothing freshly initialised or dropped."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import torch

from uer_ray.errors import MismatchError
from uer_ray.models import build_model, load_model, save_pretrained
from uer_ray.models.interop import (
    FAMILIES,
    ArchSpec,
    export_hf,
    export_uer,
    family,
    import_hf,
    import_uer,
)

NAMES = FAMILIES.names()


def test_families_are_registered():
    assert {"bert", "gpt2"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_family_is_defined_in_a_file_named_after_it(name):
    cls = FAMILIES.get(name)
    assert Path(inspect.getsourcefile(cls)).as_posix().endswith(f"interop/{name}.py")
    assert cls.name == name
    assert not inspect.isabstract(cls), f"{cls.__name__} leaves {sorted(cls.__abstractmethods__)} out"


def _tiny_checkpoint(name: str, folder: Path):
    """A uer_ray checkpoint of family ``name`` with every pre-training head it exports."""
    fam = family(name)
    spec = ArchSpec(name, vocab_size=40, hidden_size=16, layers=2, heads=2, ffn_size=32,
                    max_positions=32, type_vocab_size=2, eps=1e-5, act="gelu", dropout=0.0,
                    attention_dropout=0.0, embedding_dropout=0.0)
    torch.manual_seed(0)
    model = build_model(fam.our_config(spec, list(fam.targets), pad_id=0))
    state = model.state_dict()
    if "embedding.seg.weight" in state:
        # Hugging Face has no padding row of token types: an import writes zeros there.
        with torch.no_grad():
            state["embedding.seg.weight"][0].zero_()
    save_pretrained(model, folder)
    return model


def _assert_same_weights(expected: dict, path: Path):
    got = load_model(path).state_dict()
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        assert torch.equal(got[key], value), key


@pytest.mark.parametrize("name", NAMES)
def test_family_round_trips_through_hugging_face(name, tmp_path):
    model = _tiny_checkpoint(name, tmp_path / "ours")
    out = export_hf(tmp_path / "ours", tmp_path / "hf")
    assert out.family == name and out.architecture == family(name).architecture(list(family(name).targets))
    back = import_hf(tmp_path / "hf", tmp_path / "back")
    assert back.family == name and not back.fresh and not back.dropped
    _assert_same_weights(model.state_dict(), tmp_path / "back")


@pytest.mark.parametrize("name", NAMES)
def test_family_round_trips_through_uer_py(name, tmp_path):
    if not family(name).uer_py:
        model = _tiny_checkpoint(name, tmp_path / "ours")
        with pytest.raises(MismatchError, match="cannot be written as a UER-py checkpoint"):
            export_uer(tmp_path / "ours", tmp_path / "model.bin", tmp_path / "config.json")
        return
    model = _tiny_checkpoint(name, tmp_path / "ours")
    export_uer(tmp_path / "ours", tmp_path / "model.bin", tmp_path / "config.json")
    back = import_uer(tmp_path / "model.bin", tmp_path / "config.json", tmp_path / "back")
    assert back.family == name and not back.fresh and not back.dropped
    # UER-py configs carry no LayerNorm eps: the import uses UER-py's 1e-6, the weights are the same.
    _assert_same_weights(model.state_dict(), tmp_path / "back")
