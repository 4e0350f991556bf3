"""Hugging Face parity for the encoder–decoder families: a T5 (v1.0 and v1.1) and a BART built by
transformers from small random configs, converted into uer_ray, give the same logits at every real
position (padding in the encoder batch, decoder inputs of different lengths); exporting back
gives transformers a model with the same logits, with no missing or unexpected keys."""

from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip("transformers")

import uer_ray  # noqa: E402
from uer_ray.models.interop import export_hf, import_hf  # noqa: E402

TOL = 1e-4
V = 120
# non-default everything: unequal encoder/decoder depth, 8 buckets reaching 20 positions,
# heads x head size (4 x 12 = 48) different from d_model (40), eps 1e-3
T5 = dict(vocab_size=V, d_model=40, d_kv=12, d_ff=56, num_layers=3, num_decoder_layers=2, num_heads=4,
          relative_attention_num_buckets=8, relative_attention_max_distance=20, layer_norm_epsilon=1e-3,
          dropout_rate=0.0, decoder_start_token_id=0)
T5_V1_1 = dict(T5, feed_forward_proj="gated-gelu", tie_word_embeddings=False)
BART = dict(vocab_size=V, d_model=48, encoder_layers=3, decoder_layers=2, encoder_attention_heads=4,
            decoder_attention_heads=4, encoder_ffn_dim=72, decoder_ffn_dim=72, max_position_embeddings=40,
            dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, scale_embedding=True)
RECORD: dict[str, float] = {}  # the largest differences seen, printed with -s


def _randomise(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Every parameter (and BART's final_logits_bias buffer) random; norm weights around 1, the
    word table at T5's scale (1.0) so that logits are far from zero."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in list(model.named_parameters()) + [(n, b) for n, b in model.named_buffers()
                                                          if n.endswith("final_logits_bias")]:
            noise = torch.randn(p.shape, generator=g)
            if "norm" in name.lower() and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * noise)
            else:
                p.copy_((1.0 if "shared" in name else 0.1) * noise)
    return model.eval()


def _inputs(seed: int, pad: int):
    """Encoder ids (3,11) right-padded to different lengths, decoder ids (3,7)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, V, (3, 11), generator=g)
    mask = torch.zeros(3, 11, dtype=torch.long)
    for row, n in enumerate((11, 6, 3)):
        mask[row, :n] = 1
    ids[mask == 0] = pad
    dec = torch.randint(3, V, (3, 7), generator=g)
    return ids, mask, dec


def _ours(path, ids, mask, dec):
    """Our logits for HF decoder inputs ``dec``: the target teacher-forces tgt_ids[:, :-1]."""
    model = uer_ray.load_model(path).eval()
    tgt = torch.cat([dec, torch.full_like(dec[:, :1], 5)], 1)
    with torch.no_grad():
        out = model.logits(ids, mask, tgt_ids=tgt)
    return model, out


def _check(name: str, got: torch.Tensor, want: torch.Tensor, mask: torch.Tensor | None = None) -> None:
    diff = (got - want).abs() if mask is None else (got - want).abs()[mask]
    RECORD[name] = max(RECORD.get(name, 0.0), diff.max().item())
    assert diff.max().item() < TOL, name
    assert want.abs().max() > 0.5  # the logits are not trivially small


def _round_trip(name, hf_cls, cfg_cls, cfg, pad, tmp_path, seed):
    torch.manual_seed(seed)
    hf = _randomise(hf_cls(cfg_cls(**cfg)), seed)
    hf.save_pretrained(tmp_path / "hf")
    report = import_hf(tmp_path / "hf", tmp_path / "ours")
    assert report.family == name.split("-")[0] and not report.fresh, report
    ids, mask, dec = _inputs(seed, pad)
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=mask, decoder_input_ids=dec).logits
    model, out = _ours(tmp_path / "ours", ids, mask, dec)
    key = next(iter(out))
    assert out[key].shape == ref.shape == (3, 7, V)
    _check(f"{name} hf->ours", out[key], ref)
    # the comparison can fail: a decoder that did not see the encoder's padding would differ
    with torch.no_grad():
        unmasked = model.logits(ids, torch.ones_like(mask), tgt_ids=torch.cat([dec, dec[:, :1]], 1))[key]
    assert (unmasked - ref)[1:].abs().max() > TOL
    back_report = export_hf(tmp_path / "ours", tmp_path / "back")
    assert back_report.family == report.family
    back, info = hf_cls.from_pretrained(tmp_path / "back", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    with torch.no_grad():
        got = back.eval()(input_ids=ids, attention_mask=mask, decoder_input_ids=dec).logits
    _check(f"{name} ours->hf", got, ref)
    return hf, model, report


def test_t5_v1_0_logits_both_directions(tmp_path):
    _, model, report = _round_trip("t5", transformers.T5ForConditionalGeneration, transformers.T5Config,
                                   T5, 0, tmp_path, 1)
    assert "T5" in report.summary()
    c, t5 = model.config, model.targets["t5"]
    assert c.encoder_options["transformer"]["head_size"] == 12 and t5.output_scale is not None
    assert t5.output is None and t5.output_bias is None  # tied to the one shared table, no bias


def test_t5_v1_1_logits_both_directions(tmp_path):
    _, model, _ = _round_trip("t5-v1_1", transformers.T5ForConditionalGeneration, transformers.T5Config,
                              T5_V1_1, 0, tmp_path, 2)
    assert model.config.encoder_options["transformer"]["feed_forward"] == "gated"
    assert model.targets["t5"].output_scale is None  # v1.1 does not rescale


def test_t5_v1_1_with_its_own_lm_head(tmp_path):
    """Published v1.1 checkpoints store an lm_head of their own: it becomes the target's
    output, and the logits are the decoder states times it."""
    torch.manual_seed(3)
    hf = _randomise(transformers.T5ForConditionalGeneration(transformers.T5Config(**T5_V1_1)), 3)
    hf.save_pretrained(tmp_path / "hf")
    from safetensors.torch import load_file, save_file

    sd = load_file(tmp_path / "hf" / "model.safetensors")
    head = torch.randn(V, T5["d_model"]) * 0.1
    save_file({**sd, "lm_head.weight": head}, str(tmp_path / "hf" / "model.safetensors"),
              metadata={"format": "pt"})
    import_hf(tmp_path / "hf", tmp_path / "ours")
    ids, mask, dec = _inputs(4, 0)
    with torch.no_grad():
        states = hf(input_ids=ids, attention_mask=mask, decoder_input_ids=dec,
                    output_hidden_states=True).decoder_hidden_states[-1]
    model, out = _ours(tmp_path / "ours", ids, mask, dec)
    assert model.targets["t5"].output is not None
    _check("t5-v1_1 own lm_head", out["t5"], states @ head.t())


def test_bart_logits_both_directions(tmp_path):
    hf, model, _ = _round_trip("bart", transformers.BartForConditionalGeneration, transformers.BartConfig,
                               BART, 1, tmp_path, 5)
    assert model.config.embedding == ["word", "pos"]
    t = model.targets["bart"]
    assert t.output is None and t.decoder.output_weight is model.embedding.part("word").weight
    assert torch.equal(t.output_bias, hf.final_logits_bias[0])


def test_parity_numbers():
    """Run last (file order): the largest differences, for the record (pytest -s shows them)."""
    print({k: f"{v:.2e}" for k, v in RECORD.items()})
    assert all(v < TOL for v in RECORD.values())
