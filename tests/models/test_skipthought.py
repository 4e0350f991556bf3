"""The ``skipthought`` target's options and what it promises beyond the module contract: the
sentence vector conditions both decoders, padding is never a label nor part of the vector, the
loss is the mean of the two decoders'."""

from __future__ import annotations

import pytest
import torch

from uer_ray.config import ConfigError
from uer_ray.models import build_model

V = 40


def config(**options) -> dict:
    return {"embedding": ["word"], "encoder": "gru", "targets": {"skipthought": 1.0}, "emb_size": 12,
            "hidden_size": 16, "layers": 1, "dropout": 0.0, "target_options": {"skipthought": options}}


def batch(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, V, (3, 7), generator=g)
    seg = torch.ones(3, 7, dtype=torch.long)
    seg[1, 4:], ids[1, 4:] = 0, 0
    prev, nxt = torch.randint(5, V, (3, 6), generator=g), torch.randint(5, V, (3, 5), generator=g)
    prev[0, 3:], nxt[2, 2:] = 0, 0
    return {"input_ids": ids, "segment_ids": seg, "prev_ids": prev, "next_ids": nxt}


@pytest.mark.parametrize("options", [{}, {"condition": "input"}, {"condition": "start", "pooling": "mean"},
                                     {"tie_embedding": False, "decoder_layers": 2, "pooling": "first"},
                                     {"tie_weights": True, "hidden_size": 12}])
def test_options_build_and_the_vector_conditions_both_decoders(options):
    torch.manual_seed(0)
    model = build_model(config(**options), vocab_size=V).eval()
    names = {n for n, _ in model.named_parameters()}
    assert ("targets.skipthought.embedding.weight" in names) is (options.get("tie_embedding") is False)
    assert ("targets.skipthought.output.weight" in names) is not options.get("tie_weights", False)
    b = batch()
    logits = model.logits(b["input_ids"], b["segment_ids"], prev_ids=b["prev_ids"], next_ids=b["next_ids"])
    assert logits["skipthought"].shape == (3, 2, 5, V)  # the shorter neighbour padded to the longer
    other = dict(b, input_ids=torch.randint(5, V, (3, 7)))
    changed = model.logits(other["input_ids"], b["segment_ids"], prev_ids=b["prev_ids"], next_ids=b["next_ids"])
    for side in (0, 1):  # another sentence, other predictions of both neighbours
        assert not torch.allclose(changed["skipthought"][0, side], logits["skipthought"][0, side])
    assert set(model.logits(b["input_ids"], b["segment_ids"])) == set()  # nothing to teacher-force


def test_padding_is_neither_label_nor_vector():
    torch.manual_seed(0)
    model = build_model(config(), vocab_size=V).eval()
    b = batch()
    out = model(b)
    real = int((b["prev_ids"][:, 1:] != 0).sum() + (b["next_ids"][:, 1:] != 0).sum())
    assert out.metrics["skipthought/count"] == real
    longer = {k: torch.cat([v, torch.zeros(3, 4, dtype=v.dtype)], 1) for k, v in b.items()}  # more padding
    assert torch.allclose(model(longer).loss, out.loss, atol=1e-6)
    alone = {k: v[1:2, :4] for k, v in b.items()}  # row 1 without its padding: the same vector
    vec = model.targets["skipthought"]._vector
    h = model.encode(b["input_ids"], b["segment_ids"])
    torch.testing.assert_close(vec(h, b["segment_ids"] == 0)[1], vec(model.encode(alone["input_ids"],
                               alone["segment_ids"]), None)[0])


def test_loss_is_the_mean_of_the_two_decoders():
    import torch.nn.functional as F

    torch.manual_seed(0)
    model = build_model(config(), vocab_size=V).eval()
    b = batch()
    logits = model.logits(b["input_ids"], b["segment_ids"], prev_ids=b["prev_ids"], next_ids=b["next_ids"])
    losses = []
    for side, column in enumerate(("prev_ids", "next_ids")):
        labels = b[column][:, 1:]
        keep = labels != 0
        losses.append(F.cross_entropy(logits["skipthought"][:, side, : labels.shape[1]][keep], labels[keep]))
    torch.testing.assert_close(model(b).loss, (losses[0] + losses[1]) / 2)


def test_tied_output_needs_matching_widths_and_a_word_table():
    with pytest.raises(ConfigError, match="tie_weights needs the decoder width"):
        build_model(config(tie_weights=True), vocab_size=V)
    with pytest.raises(ConfigError, match="need a 'word' embedding part"):
        build_model(dict(config(), embedding=["pos"]), vocab_size=V)
    build_model(dict(config(tie_embedding=False), embedding=["pos"]), vocab_size=V)
