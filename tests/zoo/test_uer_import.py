"""UER-py checkpoints: a ``.bin`` state dict in UER-py's names plus its config JSON imports
(``convert --from uer``, ``zoo import --from uer``) and gives the logits of the model it was
written from; 2019-era names and the refusals."""

from __future__ import annotations

import json

import pytest
import torch
from zoo_helpers import TINY_BERT, tiny_checkpoint

from uer_ray.cli import main
from uer_ray.errors import UerRayError
from uer_ray.models import load_model
from uer_ray.models.interop import export_uer, import_uer
from uer_ray.zoo import Zoo

# UER-py's LayerNorm eps is 1e-6 and its configs have no eps field: build the source with it.
UER_BERT = {**TINY_BERT, "layers": 2, "layernorm_eps": 1e-6}


def _batch():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 30, (3, 12), generator=g)
    seg = torch.ones(3, 12, dtype=torch.long)
    seg[0, 6:] = 2
    seg[1, 9:] = 0  # padding
    return ids, seg


def _same_logits(a, b):
    ids, seg = _batch()
    la, lb = a.logits(ids, seg), b.logits(ids, seg)
    assert set(la) == set(lb) == set(a.config.targets)
    for k in la:
        real = seg > 0 if la[k].dim() == 3 else slice(None)
        assert torch.equal(la[k][real], lb[k][real]), k


@pytest.fixture
def uer_checkpoint(tmp_path):
    tiny_checkpoint(tmp_path / "ours", seed=3, config=UER_BERT)
    model = load_model(tmp_path / "ours")
    with torch.no_grad():  # give every LayerNorm non-trivial weights, so a swap would show
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(torch.randn_like(p) * 0.1)
    from uer_ray.models import save_pretrained

    save_pretrained(model, tmp_path / "ours")
    export_uer(tmp_path / "ours", tmp_path / "model.bin", tmp_path / "config.json")
    return tmp_path


def test_uer_names_and_config(uer_checkpoint):
    state = torch.load(uer_checkpoint / "model.bin", weights_only=True)
    for key in ("embedding.word.embedding.weight", "embedding.seg.embedding.weight",
                "embedding.layer_norm.gamma", "encoder.transformer.0.self_attn.linear_layers.0.weight",
                "encoder.transformer.1.self_attn.final_linear.bias", "encoder.transformer.1.layer_norm_2.beta",
                "encoder.transformer.0.feed_forward.linear_1.weight", "target.mlm.linear_1.weight",
                "target.mlm.layer_norm.gamma", "target.mlm.linear_2.weight", "target.mlm.linear_2.bias",
                "target.sp.linear_1.weight", "target.sp.linear_2.bias"):
        assert key in state, key
    assert state["embedding.seg.embedding.weight"].shape == (3, 32)
    cfg = json.loads((uer_checkpoint / "config.json").read_text())
    assert cfg["layers_num"] == 2 and cfg["heads_num"] == 2 and cfg["feedforward_size"] == 64
    assert cfg["target"] == ["mlm", "sp"] and cfg["embedding"] == ["word", "pos", "seg"]


def test_convert_from_uer_gives_the_same_logits(uer_checkpoint, capsys):
    d = uer_checkpoint
    vocab = d / ".vocab-ours" / "vocab.txt"
    assert main(["convert", "--from", "uer", "--to", "ours", "--input", str(d / "model.bin"),
                 "--config", str(d / "config.json"), "--vocab", str(vocab), "--tokenizer", "char",
                 "--out", str(d / "imported")]) == 0
    assert "Imported the UER-py BERT-shaped checkpoint" in capsys.readouterr().out
    imported = load_model(d / "imported")
    assert imported.tokenizer.kind == "char"
    _same_logits(load_model(d / "ours"), imported)
    report = json.loads((d / "imported" / "convert.json").read_text())
    assert report["fresh"] == [] and report["dropped"] == []


def test_2019_names_import_too(uer_checkpoint, tmp_path):
    state = torch.load(uer_checkpoint / "model.bin", weights_only=True)
    old = {"embedding.word.embedding.weight": "embedding.word_embedding.weight",
           "embedding.pos.embedding.weight": "embedding.position_embedding.weight",
           "embedding.seg.embedding.weight": "embedding.segment_embedding.weight"}
    renamed = {}
    for k, v in state.items():
        k = old.get(k, k).replace("target.mlm.layer_norm", "target.layer_norm")
        k = k.replace("target.mlm.linear_", "target.mlm_linear_").replace("target.sp.linear_", "target.nsp_linear_")
        renamed[k] = v
    torch.save(renamed, tmp_path / "old.bin")
    import_uer(tmp_path / "old.bin", uer_checkpoint / "config.json", tmp_path / "old")
    _same_logits(load_model(uer_checkpoint / "ours"), load_model(tmp_path / "old"))


def test_zoo_import_from_uer(uer_checkpoint, capsys):
    d = uer_checkpoint
    assert main(["zoo", "import", str(d / "model.bin"), "--from", "uer", "--config", str(d / "config.json"),
                 "--vocab", str(d / ".vocab-ours" / "vocab.txt"), "--tokenizer", "char",
                 "--name", "uer-tiny", "--quiet"]) == 0
    assert "Published as zoo:uer-tiny@" in capsys.readouterr().out
    name, version = Zoo().resolve("uer-tiny")
    entry = Zoo().record(name, version)
    assert entry["kind"] == "imported" and entry["lineage"]["relation"] == "imported from"
    assert entry["lineage"]["format"] == "uer-py" and entry["lineage"]["source"] == str(d / "model.bin")
    assert entry["model"]["parameters"] == sum(p.numel() for p in load_model(d / "ours").state_dict().values())
    import uer_ray

    _same_logits(load_model(d / "ours"), uer_ray.load_model("zoo:uer-tiny@latest"))


def test_refusals(uer_checkpoint, tmp_path):
    d = uer_checkpoint
    cfg = json.loads((d / "config.json").read_text())
    for change, needle in (({"feed_forward": "gated"}, "feed_forward=gated"),
                           ({"layernorm": "t5"}, "layernorm=t5"),
                           ({"encoder": "lstm"}, "only transformer"),
                           ({"target": ["mlm", "cls"]}, "target ['mlm', 'cls']")):
        (tmp_path / "bad.json").write_text(json.dumps({**cfg, **change}))
        with pytest.raises(UerRayError, match="cannot reproduce.*" + needle.replace("[", r"\[")):
            import_uer(d / "model.bin", tmp_path / "bad.json", tmp_path / "x")
    state = torch.load(d / "model.bin", weights_only=True)
    state["target.mlm.linear_2.weight"] = state["target.mlm.linear_2.weight"] + 1
    torch.save(state, tmp_path / "untied.bin")
    with pytest.raises(UerRayError, match="tie_weights off"):
        import_uer(tmp_path / "untied.bin", d / "config.json", tmp_path / "x")
    (tmp_path / "junk.bin").write_bytes(b"not a torch file")
    with pytest.raises(UerRayError, match="not a UER-py weights file"):
        import_uer(tmp_path / "junk.bin", d / "config.json", tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_uer_gpt2_pre_ln_round_trip(tmp_path):
    from uer_ray.models import load_preset

    cfg = load_preset("gpt2-small")
    cfg.update(emb_size=32, hidden_size=32, layers=2, heads=2, ffn_size=64, max_seq_length=64, layernorm_eps=1e-6)
    tiny_checkpoint(tmp_path / "gpt", seed=4, config=cfg)
    uer_cfg = export_uer(tmp_path / "gpt", tmp_path / "gpt.bin", tmp_path / "gpt.json")
    # the shape of UER-py's models/gpt2/config.json
    assert uer_cfg["layernorm_positioning"] == "pre" and uer_cfg["remove_embedding_layernorm"] is True
    assert uer_cfg["mask"] == "causal" and uer_cfg["hidden_act"] == "gelu_fast" and uer_cfg["target"] == ["lm"]
    state = torch.load(tmp_path / "gpt.bin", weights_only=True)
    assert "encoder.layer_norm.gamma" in state and "target.lm.output_layer.weight" in state
    import_uer(tmp_path / "gpt.bin", tmp_path / "gpt.json", tmp_path / "back")
    _same_logits(load_model(tmp_path / "gpt"), load_model(tmp_path / "back"))
