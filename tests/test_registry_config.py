from dataclasses import dataclass, field

import pytest

from uer_ray.config import ConfigError, from_dict, to_dict
from uer_ray.registry import Registry, UnknownNameError


def test_registry_register_get_and_did_you_mean():
    reg = Registry("encoder")

    @reg.register("lstm")
    class Lstm:
        pass

    assert reg.get("lstm") is Lstm
    assert reg.names() == ["lstm"]
    with pytest.raises(UnknownNameError, match="did you mean 'lstm'"):
        reg.get("lstn")


def test_registry_rejects_duplicate_names():
    reg = Registry("target")
    reg.register("mlm")(object)
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("mlm")(int)


@dataclass(frozen=True, kw_only=True)
class Inner:
    hidden_size: int = 8
    act: str = "gelu"


@dataclass(frozen=True, kw_only=True)
class Outer:
    name: str
    layers: list[Inner] = field(default_factory=list)
    weights: dict[str, float] = field(default_factory=dict)
    dropout: float | None = None


def test_config_round_trip():
    d = {"name": "x", "layers": [{"hidden_size": 4}], "weights": {"mlm": 1, "sp": 0.5}, "dropout": None}
    cfg = from_dict(Outer, d)
    assert cfg.layers[0] == Inner(hidden_size=4)
    assert cfg.weights == {"mlm": 1.0, "sp": 0.5}
    assert from_dict(Outer, to_dict(cfg)) == cfg


def test_config_unknown_key_names_path():
    with pytest.raises(ConfigError, match=r"Outer\.layers\[0\]\.hiden_size: unknown key; did you mean 'hidden_size'"):
        from_dict(Outer, {"name": "x", "layers": [{"hiden_size": 4}]})


def test_config_type_errors_name_path():
    with pytest.raises(ConfigError, match=r"Outer\.layers\[0\]\.hidden_size: expected an integer"):
        from_dict(Outer, {"name": "x", "layers": [{"hidden_size": "big"}]})
    with pytest.raises(ConfigError, match=r"Outer\.name: required key is missing"):
        from_dict(Outer, {})
