"""Checkpoint directories: save/load round trip, mismatch errors, load_weights, no pickle."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from tiny_models import VOCAB, make_batch, tiny

import uer_ray
from uer_ray.errors import MismatchError
from uer_ray.models import build_model, load_weights, save_pretrained


def _same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def test_round_trip_gives_identical_weights_and_logits(tmp_path):
    model = build_model(tiny(), vocab_size=VOCAB).eval()
    save_pretrained(model, tmp_path / "ckpt", meta={"steps": 3})
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["config.json", "meta.json", "model.safetensors"]
    loaded = uer_ray.load_model(tmp_path / "ckpt")
    assert not loaded.training and loaded.tokenizer is None
    _same_state(model, loaded)
    b = make_batch()
    for k, v in model.logits(b["input_ids"], b["segment_ids"]).items():
        torch.testing.assert_close(loaded.logits(b["input_ids"], b["segment_ids"])[k], v, atol=0, rtol=0)
    assert json.loads((tmp_path / "ckpt" / "meta.json").read_text())["steps"] == 3


def test_tied_weights_are_stored_once(tmp_path):
    model = build_model(tiny(targets={"mlm": 1.0}), vocab_size=VOCAB)
    save_pretrained(model, tmp_path / "c")
    keys = set(load_file(str(tmp_path / "c" / "model.safetensors")))
    assert "embedding.word.weight" in keys and "targets.mlm.output_bias" in keys
    assert not any(k.startswith("targets.mlm.output.") for k in keys)


def test_manually_shared_tensors_survive_saving(tmp_path):
    model = build_model(tiny(target_options={"mlm": {"tie_weights": False}}), vocab_size=VOCAB)
    model.targets.mlm.output.weight = model.embedding.word.weight  # a user's own tying
    save_pretrained(model, tmp_path / "c")
    loaded = uer_ray.load_model(tmp_path / "c")
    torch.testing.assert_close(loaded.targets.mlm.output.weight, model.embedding.word.weight)


def test_config_weights_mismatch_names_keys_and_shapes(tmp_path):
    save_pretrained(build_model(tiny(), vocab_size=VOCAB), tmp_path / "c")
    cfg = json.loads((tmp_path / "c" / "config.json").read_text())
    cfg["vocab_size"] = VOCAB + 2
    cfg["targets"] = {"mlm": 1.0}
    (tmp_path / "c" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(MismatchError) as e:
        uer_ray.load_model(tmp_path / "c")
    msg = str(e.value)
    assert "embedding.word.weight: checkpoint (40, 16) vs model (42, 16)" in msg
    assert "targets.sp.pooler.weight" in msg


def test_load_weights_copies_encoder_and_reports(tmp_path):
    src = build_model(tiny(), vocab_size=VOCAB)
    save_pretrained(src, tmp_path / "c")
    dst = build_model(tiny(targets={"lm": 1.0}, encoder_options={"transformer": {"mask": "causal"}}),
                      vocab_size=VOCAB)
    report = load_weights(dst, tmp_path / "c")
    assert "encoder.layers.0.attn.qkv.weight" in report["loaded"] and not report["missing"]
    assert "targets.sp.output.weight" in report["ignored"]
    torch.testing.assert_close(dst.encoder.layers[1].ffn.inner.weight, src.encoder.layers[1].ffn.inner.weight)
    wide = build_model(tiny(hidden_size=32, emb_size=32), vocab_size=VOCAB)
    with pytest.raises(MismatchError, match=r"embedding.word.weight: checkpoint \(40, 16\) vs model \(40, 32\)"):
        load_weights(wide, tmp_path / "c")


def test_tokenizer_is_saved_with_its_own_save(tmp_path):
    class Tok:
        def save(self, d):
            d.mkdir()
            (d / "vocab.txt").write_text("[PAD]\n")

    save_pretrained(build_model(tiny(), vocab_size=VOCAB), tmp_path / "c", tokenizer=Tok())
    assert (tmp_path / "c" / "tokenizer" / "vocab.txt").read_text() == "[PAD]\n"


def test_load_model_attaches_the_saved_tokenizer(tmp_path):
    from uer_ray.tokenizers import build_tokenizer

    vocab = tmp_path / "vocab.txt"
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(VOCAB - 5)]
    vocab.write_text("\n".join(words) + "\n")
    tok = build_tokenizer("wordpiece", vocab=vocab)
    save_pretrained(build_model(tiny(), vocab_size=tok.vocab_size), tmp_path / "c", tokenizer=tok)
    loaded = uer_ray.load_model(tmp_path / "c")
    assert loaded.tokenizer.vocab_size == VOCAB
    assert loaded.tokenizer.encode("w3 w7") == tok.encode("w3 w7")


@pytest.mark.parametrize("layers", [1, 2])
def test_fused_bidirectional_rnn_checkpoints_load_when_exact_and_are_refused_when_not(tmp_path, layers):
    """bilstm checkpoints saved as one fused ``nn.LSTM(bidirectional=True)``: one layer is the
    same computation as two separate stacks and loads; two layers leaked later tokens into the
    forward states and are refused, saying so."""
    from safetensors.torch import save_file

    from uer_ray.models import load_model

    cfg = {"embedding": ["word"], "encoder": "bilstm", "targets": {"bilm": 1.0}, "emb_size": 8,
           "hidden_size": 16, "layers": layers, "dropout": 0.0}
    save_pretrained(build_model(cfg, vocab_size=30), tmp_path)
    fused = torch.nn.LSTM(8, 8, num_layers=layers, batch_first=True, bidirectional=True)
    state = {k: v for k, v in load_file(tmp_path / "model.safetensors").items() if not k.startswith("encoder.")}
    state.update({f"encoder.rnn.{k}": v for k, v in fused.state_dict().items()})
    save_file(state, str(tmp_path / "model.safetensors"), metadata={"format": "pt", "aliases": "{}"})
    if layers == 2:
        with pytest.raises(MismatchError, match="fused PyTorch module.*pre-train it again"):
            load_model(tmp_path)
        return
    x = torch.randn(2, 5, 8)
    with torch.no_grad():
        torch.testing.assert_close(load_model(tmp_path).encoder(x, None), fused(x)[0])
