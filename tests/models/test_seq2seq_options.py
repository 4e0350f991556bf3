"""The layer options of T5/BART and the prefix LM: relative position buckets and RMSNorm equal
transformers' T5 pieces, the causal_with_prefix mask hides exactly what it should, the shared
embedding is one tensor, and the mistakes are one line each."""

from __future__ import annotations

import pytest
import torch

from uer_ray.config import ConfigError
from uer_ray.encoders import ENCODERS
from uer_ray.layers.norm import RMSNorm
from uer_ray.layers.relative_position import relative_buckets
from uer_ray.models import build_model

V = 40
SIZES = {"emb_size": 16, "hidden_size": 16, "layers": 2, "heads": 2, "ffn_size": 24,
         "max_seq_length": 32, "dropout": 0.0}


@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("buckets, distance", [(32, 128), (8, 20), (6, 7)])
def test_relative_buckets_equal_t5(bidirectional, buckets, distance):
    t5 = pytest.importorskip("transformers.models.t5.modeling_t5")
    offsets = torch.arange(-300, 300)[None, :]
    want = t5.T5Attention._relative_position_bucket(offsets, bidirectional, buckets, distance)
    got = relative_buckets(offsets, bidirectional, buckets, distance)
    assert torch.equal(got, want)
    assert int(got.max()) == buckets - 1


def test_rmsnorm_equals_t5_layernorm():
    t5 = pytest.importorskip("transformers.models.t5.modeling_t5")
    ref = t5.T5LayerNorm(16, eps=1e-6)
    ours = RMSNorm(16, eps=1e-6)
    with torch.no_grad():
        ref.weight.normal_(1.0, 0.3)
        ours.weight.copy_(ref.weight)
    x = torch.randn(3, 5, 16) * 4 + 1  # a mean far from 0: LayerNorm would differ
    torch.testing.assert_close(ours(x), ref(x))
    assert [n for n, _ in ours.named_parameters()] == ["weight"]


def _prefix_model():
    torch.manual_seed(0)
    return build_model({"embedding": ["word", "pos", "seg"], "encoder": "transformer",
                        "targets": {"prefixlm": 1.0}, **SIZES,
                        "encoder_options": {"transformer": {"mask": "causal_with_prefix"}}},
                       vocab_size=V).eval()


def test_prefix_mask_sees_the_whole_prefix_and_the_target_only_up_to_itself():
    model = _prefix_model()
    seg = torch.tensor([[1, 1, 1, 1, 2, 2, 2, 2, 0, 0]])
    a = torch.tensor([[2, 7, 8, 3, 10, 11, 12, 3, 0, 0]])
    with torch.no_grad():
        ha = model.encode(a, seg)
        b = a.clone()
        b[0, 6] = 20  # a later target token: positions before 6 do not change
        hb = model.encode(b, seg)
        c = a.clone()
        c[0, 2] = 21  # a prefix token: position 1 (before it, in the prefix) does change
        hc = model.encode(c, seg)
    torch.testing.assert_close(ha[0, :6], hb[0, :6])
    assert not torch.allclose(ha[0, 6:8], hb[0, 6:8])
    assert not torch.allclose(ha[0, 1], hc[0, 1])
    cfg = ENCODERS.get("transformer").Config(mask="causal_with_prefix")
    assert ENCODERS.get("transformer").sees_future(cfg) is True


def test_prefixlm_loss_reads_only_the_target_part():
    model = _prefix_model()
    ids = torch.tensor([[2, 7, 8, 3, 10, 11, 3, 0], [2, 9, 3, 12, 13, 14, 15, 3]])
    seg = torch.tensor([[1, 1, 1, 1, 2, 2, 2, 0], [1, 1, 1, 2, 2, 2, 2, 2]])
    out = model.train()({"input_ids": ids, "segment_ids": seg})
    assert out.metrics["prefixlm/count"] == 3 + 5


def test_one_line_refusals():
    with pytest.raises(ConfigError, match=r"target 't5' needs a decoder \(this model is encoder-only\)") as e:
        build_model({"targets": {"t5": 1.0}, **SIZES}, vocab_size=V)
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="target 'prefixlm' needs an encoder with mask "
                                          "'causal_with_prefix', but encoder 'gpt' has mask 'causal'"):
        build_model({"encoder": "gpt", "targets": {"prefixlm": 1.0}, **SIZES}, vocab_size=V)
    with pytest.raises(ConfigError, match="share_embedding: the decoder writes a vocabulary of 30"):
        build_model({"decoder": "transformer", "targets": {"mt": 1.0}, **SIZES,
                     "decoder_options": {"share_embedding": True}}, vocab_size=V, tgt_vocab_size=30)
    with pytest.raises(ConfigError, match="relative_buckets 4 with relative_max_distance 2"):
        build_model({**SIZES, "encoder_options": {"transformer": {
            "relative_position": True, "relative_buckets": 4, "relative_max_distance": 2}}}, vocab_size=V)
    with pytest.raises(ConfigError, match="norm"):
        build_model({**SIZES, "encoder_options": {"transformer": {"norm": "batchnorm"}}}, vocab_size=V)


def test_shared_embedding_is_one_tensor_and_options_drop_parameters():
    model = build_model({"embedding": ["word"], "encoder": "transformer", "decoder": "transformer",
                         "targets": {"t5": 1.0}, **SIZES, "embedding_options": {"layernorm": False},
                         "encoder_options": {"transformer": {"norm": "rmsnorm", "bias": False,
                                                             "relative_position": True, "pre_ln": True}},
                         "decoder_options": {"share_embedding": True, "position": "none",
                                             "embedding_layernorm": False, "norm": "rmsnorm",
                                             "bias": False, "relative_position": True, "pre_ln": True,
                                             "feed_forward": "gated"},
                         "target_options": {"t5": {"bias": False}}}, vocab_size=V)
    names = set(model.state_dict())
    assert not any(n.endswith(".bias") for n in names), sorted(n for n in names if n.endswith(".bias"))
    assert "encoder.position_bias.weight" in names and "targets.t5.decoder.position_bias.weight" in names
    assert not any("decoder.embedding" in n for n in names)  # the word table is the model's
    assert "targets.t5.decoder.layers.0.ffn.gate.weight" in names
    assert model.targets["t5"].decoder.output_weight is model.embedding.part("word").weight


@pytest.mark.parametrize("name", ["t5-tiny", "t5-v1_1-tiny", "bart-tiny", "pegasus-tiny"])
def test_tiny_encoder_decoder_presets_train_a_step(name):
    from uer_ray.models import load_preset

    torch.manual_seed(0)
    model = build_model(load_preset(name), vocab_size=V)
    ids = torch.randint(5, V, (2, 9))
    seg = torch.ones_like(ids)
    seg[1, 6:] = 0
    tgt = torch.randint(5, V, (2, 5))
    tgt[1, 3:] = 0
    out = model({"input_ids": ids, "segment_ids": seg, "tgt_ids": tgt})
    out.loss.backward()
    assert torch.isfinite(out.loss) and out.metrics[f"{next(iter(model.targets))}/count"] == 4 + 2


def test_unscaled_attention_starts_like_scaled_attention():
    """T5's attention has no 1/sqrt(d) score scale; its query weights start 1/sqrt(d) smaller
    instead (as T5 initialises them), so the first scores are those of scaled attention."""
    from uer_ray.layers.attention import CrossAttention, SelfAttention

    for make in (lambda s: SelfAttention(32, 2, scale=s, head_size=16),
                 lambda s: CrossAttention(32, 24, 2, scale=s, head_size=16)):
        torch.manual_seed(0)
        scaled = make(True)
        torch.manual_seed(0)
        unscaled = make(False)
        q = {"qkv": slice(0, 32), "q": slice(None)}
        for name, module in scaled.named_children():
            mine = getattr(unscaled, name).weight
            rows = q.get(name)
            if rows is None:
                assert torch.equal(mine, module.weight), name
            else:
                assert torch.allclose(mine[rows], module.weight[rows] / 4), name
                if rows.stop is not None:  # keys and values of the fused projection: unchanged
                    assert torch.equal(mine[rows.stop:], module.weight[rows.stop:]), name
