"""Packed (padding-free) token rows in the transformer give the padded computation's numbers."""

from __future__ import annotations

import pytest
import torch
from tiny_models import VOCAB, make_batch, tiny

from uer_ray.encoders.attention import AttentionConfig, AttentionEncoder
from uer_ray.encoders.transformer import TransformerConfig, TransformerEncoder
from uer_ray.layers import packing as packing_module
from uer_ray.layers.packing import Packing
from uer_ray.models import build_model


def _padding(b: int = 4, t: int = 10) -> torch.Tensor:
    pad = torch.zeros(b, t, dtype=torch.bool)
    pad[1, 6:] = True
    pad[2, 3:] = True
    pad[3, 9:] = True
    return pad  # 12 of 40 rows are padding


def _run(encoder, x, pad, packed: bool, monkeypatch):
    # MIN_PADDING_SHARE above 1 turns packing off; 0 turns it on for any padding
    monkeypatch.setattr(packing_module, "MIN_PADDING_SHARE", 0.0 if packed else 1.1)
    encoder.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_(True)
    y = encoder(x, pad)
    (y * ~pad[..., None]).pow(2).sum().backward()  # a loss on the real tokens only
    grads = {n: p.grad.clone() for n, p in encoder.named_parameters()}
    return y.detach(), x.grad, grads


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: TransformerEncoder(TransformerConfig(
            hidden_size=16, layers=2, heads=2, ffn_size=32, dropout=0.0, attention_dropout=1e-12), 16),
            id="post-ln"),
        pytest.param(lambda: TransformerEncoder(TransformerConfig(
            hidden_size=16, layers=2, heads=2, ffn_size=32, pre_ln=True, mask="causal", dropout=0.0,
            attention_dropout=1e-12), 16), id="pre-ln-causal"),
        pytest.param(lambda: AttentionEncoder(AttentionConfig(
            hidden_size=16, layers=2, heads=2, dropout=0.0), 16), id="attention"),
    ],
)
@pytest.mark.parametrize("training", [False, True])
def test_packed_rows_match_the_padded_computation(make, training, monkeypatch):
    torch.manual_seed(0)
    encoder = make().train(training)  # training: the written-out attention under (vanishing) dropout
    x, pad = torch.randn(4, 10, 16), _padding()
    dense_y, dense_dx, dense_grads = _run(encoder, x, pad, False, monkeypatch)
    packed_y, packed_dx, packed_grads = _run(encoder, x, pad, True, monkeypatch)
    real = ~pad
    torch.testing.assert_close(packed_y[real], dense_y[real], atol=1e-5, rtol=1e-5)
    assert torch.equal(packed_y[pad], torch.zeros_like(packed_y[pad]))  # zeros where no target reads
    torch.testing.assert_close(packed_dx, dense_dx, atol=1e-5, rtol=1e-5)
    for name, grad in dense_grads.items():
        torch.testing.assert_close(packed_grads[name], grad, atol=1e-5, rtol=1e-5, msg=name)


def test_packing_only_where_it_pays():
    assert Packing.of(None) is None
    little = torch.zeros(4, 100, dtype=torch.bool)
    little[0, 99] = True  # 1 row of 400 is padding: not worth a gather per layer
    assert Packing.of(little) is None
    packing = Packing.of(_padding())
    assert packing is not None and packing.rows.numel() == 28
    x = torch.randn(4, 10, 3)
    back = packing.unpack(packing.pack(x))
    real = ~_padding()
    assert torch.equal(back[real], x[real]) and not back[~real].any()


def _loss_and_grads(model, batch):
    model.zero_grad(set_to_none=True)
    out = model(batch)
    out.loss.backward()
    return out, {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("pre_ln", [False, True])
@pytest.mark.parametrize("pad_rows", [False, True])
def test_last_block_on_the_rows_the_targets_read(pre_ln, pad_rows, monkeypatch):
    """Training computes the last block's output only where mlm (masked positions) and sp
    (position 0) read it: same loss and gradients as computing every row."""
    monkeypatch.setattr(packing_module, "MIN_PADDING_SHARE", 0.0)  # the tiny batch packs too
    torch.manual_seed(0)
    cfg = tiny(encoder_options={"transformer": {"pre_ln": pre_ln, "attention_dropout": 1e-12}})
    model = build_model(cfg, vocab_size=VOCAB).train()
    batch = make_batch(b=3, t=12, pad_rows=pad_rows)
    model.read_rows_only = False
    full, full_grads = _loss_and_grads(model, batch)
    model.read_rows_only = True
    sparse, sparse_grads = _loss_and_grads(model, batch)
    torch.testing.assert_close(sparse.loss, full.loss, atol=1e-5, rtol=1e-5)
    assert full_grads.keys() == sparse_grads.keys()
    for name, grad in full_grads.items():
        torch.testing.assert_close(sparse_grads[name], grad, atol=1e-5, rtol=1e-5, msg=name)
    read = batch["mlm_labels"] != -100
    read[:, 0] = True
    torch.testing.assert_close(sparse.hidden[read], full.hidden[read], atol=1e-5, rtol=1e-5)
    assert not sparse.hidden[~read].any()  # the rows nobody reads were not computed


def test_every_row_when_a_target_reads_them_all():
    model = build_model(tiny(targets={"mlm": 1.0, "lm": 1.0}), vocab_size=VOCAB).train()
    assert model._rows_read(make_batch(), None) is None  # lm reads every position
    model = build_model(tiny(), vocab_size=VOCAB)
    assert model._rows_read(make_batch(), None) is not None
    assert model.eval()._rows_read(make_batch(), None) is None  # inference: every row
