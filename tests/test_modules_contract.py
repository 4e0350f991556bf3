"""The contract every registered module keeps (DESIGN §4), checked for every registry entry and a
set of stacks: it builds from a config dict, gives the documented shapes, backpropagates finite
gradients into every parameter, its config round-trips through a plain dict and JSON, and its
weights survive a save/load unchanged."""

from __future__ import annotations

import json

import pytest
import torch

import uer_ray
from uer_ray.decoders import DECODERS
from uer_ray.embeddings import EMBEDDINGS, SUBENCODERS
from uer_ray.encoders import ENCODERS
from uer_ray.models import ModelConfig, build_model, save_pretrained
from uer_ray.targets import TARGETS

V, TGT_V, B, T = 37, 23, 3, 10
SIZES = {"emb_size": 12, "hidden_size": 12, "layers": 2, "heads": 2, "ffn_size": 20,
         "max_seq_length": 16, "dropout": 0.0}
BIDIRECTIONAL = {"bilstm", "bigru"}


def base(**overrides) -> dict:
    return {"embedding": ["word", "pos", "seg"], "encoder": "transformer",
            "targets": {"mlm": 1.0, "sp": 1.0}, **SIZES, **overrides}


def batch() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, V, (B, T), generator=g)
    seg = torch.ones(B, T, dtype=torch.long)
    seg[0, 5:] = 2
    seg[1, 6:] = 0
    mlm = torch.full((B, T), -100)
    mlm[:, 2] = ids[:, 2]
    tgt = torch.randint(5, TGT_V, (B, 6), generator=g)
    tgt[1, 4:] = 0
    return {"input_ids": ids, "segment_ids": seg, "mlm_labels": mlm, "is_next": torch.tensor([1, 0, 1]),
            "label": torch.tensor([0, 1, 1]), "tgt_ids": tgt}


def target_config(name: str) -> dict:
    """The smallest model that can train target ``name``."""
    cfg = base(targets={name: 1.0})
    if name == "bilm":
        cfg["encoder"] = "bilstm"
    if TARGETS.get(name).needs_decoder:
        cfg["decoder"] = "transformer"
    return cfg


EXPECTED_LOGITS = {"mlm": (B, T, V), "sp": (B, 2), "cls": (B, 2), "lm": (B, T, V),
                   "bilm": (B, T, 2, V), "ae": (B, T - 1, V), "mt": (B, 5, TGT_V)}

CASES = (
    [pytest.param(base(embedding=["word", name] if name != "word" else ["word"]), id=f"embedding-{name}")
     for name in EMBEDDINGS.names()]
    + [pytest.param(base(embedding=["word", "subword"],
                         embedding_options={"subword": {"subencoder": name, "char_dim": 6}}),
                    id=f"subencoder-{name}") for name in SUBENCODERS.names()]
    + [pytest.param(base(encoder=name, targets={"mlm": 1.0, "sp": 1.0} if name not in BIDIRECTIONAL
                         else {"mlm": 1.0, "bilm": 1.0}), id=f"encoder-{name}")
       for name in ENCODERS.names()]
    + [pytest.param(target_config(name), id=f"target-{name}") for name in TARGETS.names()]
    + [pytest.param(base(targets={"mt": 1.0, "ae": 0.5}, decoder=name), id=f"decoder-{name}")
       for name in DECODERS.names()]
    + [pytest.param(base(encoder=stack, targets={"mlm": 1.0, "lm": 0.5, "sp": 0.3}),
                    id="stack-" + "+".join(stack))
       for stack in (["cnn", "lstm"], ["lstm", "transformer"], ["gatedcnn", "gru", "attention"],
                     ["rnn", "cnn"], ["bilstm", "gpt"])]
    + [pytest.param(base(embedding_options={"factorized_size": 6}, encoder_options={
        "transformer": {"pre_ln": True, "act": "silu"}}), id="albert-factorised-preln")]
)


def _spell(model) -> None:
    sub = model.embedding.part("subword")
    if sub is not None:
        sub.set_spellings([f"tok{i}" for i in range(V)])


@pytest.mark.parametrize("cfg", CASES)
def test_module_contract(cfg, tmp_path):
    torch.manual_seed(0)
    model = build_model(cfg, vocab_size=V, tgt_vocab_size=TGT_V)
    _spell(model)
    b = batch()

    # shapes
    assert model.embedding(b["input_ids"], b["segment_ids"]).shape == (B, T, SIZES["emb_size"])
    assert model.encode(b["input_ids"], b["segment_ids"]).shape == (B, T, model.hidden_size)
    model.eval()
    logits = model.logits(b["input_ids"], b["segment_ids"], b["tgt_ids"])
    assert set(logits) == set(cfg["targets"])
    for name, value in logits.items():
        assert value.shape == EXPECTED_LOGITS[name], name
    model.train()

    # finite gradients into every parameter
    out = model(b)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), name
    assert all(f"{t}/accuracy" in out.metrics for t in cfg["targets"])

    # config round trip: dict and JSON
    again = ModelConfig.from_dict(json.loads(json.dumps(model.config.to_dict())))
    assert again == model.config

    # save/load: identical weights and outputs
    model.eval()
    save_pretrained(model, tmp_path / "ckpt")
    loaded = uer_ray.load_model(tmp_path / "ckpt")
    state, state2 = model.state_dict(), loaded.state_dict()
    assert state.keys() == state2.keys()
    assert all(torch.equal(state[k], state2[k]) for k in state)
    after = loaded.logits(b["input_ids"], b["segment_ids"], b["tgt_ids"])
    for name, value in logits.items():
        torch.testing.assert_close(after[name], value, atol=0, rtol=0)
