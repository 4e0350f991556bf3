"""Hugging Face parity: a BERT / GPT-2 built by transformers from a random config, converted into
uer_ray, gives the same logits at every real token (padding in the batch); exporting back gives
transformers a model with the same logits again. Nothing is downloaded."""

from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip("transformers")

import uer_ray  # noqa: E402
from uer_ray.errors import InputError, MismatchError  # noqa: E402
from uer_ray.models.interop import export_hf, import_hf  # noqa: E402

TOL = 1e-4
V = 300
# Non-default everything: 3 layers, hidden 96 split into 6 heads, FFN 200, a LayerNorm eps
# large enough (1e-3) that importing it as the default would move the logits past TOL.
BERT = dict(vocab_size=V, hidden_size=96, num_hidden_layers=3, num_attention_heads=6,
            intermediate_size=200, max_position_embeddings=64, layer_norm_eps=1e-3)
GPT2 = dict(vocab_size=V, n_embd=96, n_layer=3, n_head=6, n_positions=64, n_inner=200,
            layer_norm_epsilon=1e-3, bos_token_id=1, eos_token_id=2)


def _randomise(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Every parameter random (LayerNorm weights around 1, not exactly 1, biases non-zero), so
    that a swapped or skipped tensor cannot go unnoticed."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            is_norm = "LayerNorm" in name or ".ln_" in name or name.endswith(("ln_f.weight", "ln_f.bias"))
            if is_norm and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * noise)
            else:
                p.copy_(0.1 * noise)
    return model.eval()


def _batch(seed: int = 0):
    """Three rows, right-padded to 12: a two-segment pair, a shorter pair, a short single."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, V, (3, 12), generator=g)
    seg = torch.zeros(3, 12, dtype=torch.long)
    seg[0, :7], seg[0, 7:] = 1, 2
    seg[1, :4], seg[1, 4:8] = 1, 2
    seg[2, :5] = 1
    ids[seg == 0] = 0  # [PAD]
    return ids, seg


def _hf_inputs(seg: torch.Tensor) -> dict:
    """uer_ray segments (0 pad, 1 first, 2 second) -> HF token types (0/1) + attention mask."""
    return {"token_type_ids": (seg == 2).long(), "attention_mask": (seg > 0).long()}


def _max_diff(a: torch.Tensor, b: torch.Tensor, real: torch.Tensor) -> float:
    return (a[real] - b[real]).abs().max().item()


def _save_hf(model, path):
    model.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def bert_pretraining(tmp_path_factory):
    torch.manual_seed(0)
    hf = _randomise(transformers.BertForPreTraining(transformers.BertConfig(**BERT)), 1)
    return hf, _save_hf(hf, tmp_path_factory.mktemp("hf_bert"))


def _our_logits(path, ids, seg):
    model = uer_ray.load_model(path).eval()
    with torch.no_grad():
        return model, model.logits(ids, seg)


def test_bert_for_pretraining_mlm_and_nsp_match(bert_pretraining, tmp_path):
    hf, hf_dir = bert_pretraining
    report = import_hf(hf_dir, tmp_path / "ours")
    assert report.architecture == "BertForPreTraining" and not report.fresh
    ids, seg = _batch()
    with torch.no_grad():
        ref = hf(input_ids=ids, **_hf_inputs(seg))
    model, out = _our_logits(tmp_path / "ours", ids, seg)
    c = model.config
    assert (c.layers, c.heads, c.hidden_size, c.ffn_size, c.max_seq_length, c.layernorm_eps) == (
        3, 6, 96, 200, 64, 1e-3)
    real = seg > 0
    assert out["mlm"].shape == (3, 12, V)
    assert _max_diff(out["mlm"], ref.prediction_logits, real) < TOL
    assert (out["sp"] - ref.seq_relationship_logits).abs().max().item() < TOL
    # the batch really exercises the model: logits differ between rows and are not tiny
    assert ref.prediction_logits[real].abs().max() > 1.0


def test_bert_export_round_trip(bert_pretraining, tmp_path):
    hf, hf_dir = bert_pretraining
    import_hf(hf_dir, tmp_path / "ours")
    report = export_hf(tmp_path / "ours", tmp_path / "back")
    assert report.architecture == "BertForPreTraining"
    back, info = transformers.BertForPreTraining.from_pretrained(
        tmp_path / "back", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    ids, seg = _batch(1)
    with torch.no_grad():
        ref = hf(input_ids=ids, **_hf_inputs(seg))
        got = back.eval()(input_ids=ids, **_hf_inputs(seg))
    real = seg > 0
    assert _max_diff(got.prediction_logits, ref.prediction_logits, real) < TOL
    assert (got.seq_relationship_logits - ref.seq_relationship_logits).abs().max().item() < TOL
    assert back.config.layer_norm_eps == BERT["layer_norm_eps"]


def test_bert_masked_lm_import_keeps_mlm_only(tmp_path):
    hf = _randomise(transformers.BertForMaskedLM(transformers.BertConfig(**BERT)), 2)
    report = import_hf(_save_hf(hf, tmp_path / "hf"), tmp_path / "ours")
    ids, seg = _batch(2)
    with torch.no_grad():
        ref = hf(input_ids=ids, **_hf_inputs(seg)).logits
    model, out = _our_logits(tmp_path / "ours", ids, seg)
    assert set(out) == {"mlm"} and not report.fresh
    assert _max_diff(out["mlm"], ref, seg > 0) < TOL
    export_hf(tmp_path / "ours", tmp_path / "back")
    back = transformers.AutoModelForMaskedLM.from_pretrained(tmp_path / "back").eval()
    assert type(back).__name__ == "BertForMaskedLM"
    with torch.no_grad():
        assert _max_diff(back(input_ids=ids, **_hf_inputs(seg)).logits, ref, seg > 0) < TOL


def test_bert_model_import_matches_hidden_states_and_says_heads_are_fresh(tmp_path):
    hf = _randomise(transformers.BertModel(transformers.BertConfig(**BERT)), 3)
    report = import_hf(_save_hf(hf, tmp_path / "hf"), tmp_path / "ours")
    assert report.fresh, "a BertModel has no MLM / NSP head: the report must say what is new"
    assert "freshly initialised" in report.summary()
    ids, seg = _batch(3)
    with torch.no_grad():
        ref = hf(input_ids=ids, **_hf_inputs(seg)).last_hidden_state
        got = uer_ray.load_model(tmp_path / "ours").eval().encode(ids, seg)
    assert _max_diff(got, ref, seg > 0) < TOL


@pytest.fixture(scope="module")
def gpt2_lm(tmp_path_factory):
    hf = _randomise(transformers.GPT2LMHeadModel(transformers.GPT2Config(**GPT2)), 4)
    return hf, _save_hf(hf, tmp_path_factory.mktemp("hf_gpt2"))


def _gpt_batch():
    ids, seg = _batch(5)
    return ids, (seg > 0).long()  # one segment: 1 for real tokens, 0 for padding


def test_gpt2_lm_logits_match_and_export_round_trip(gpt2_lm, tmp_path):
    hf, hf_dir = gpt2_lm
    report = import_hf(hf_dir, tmp_path / "ours")
    assert report.architecture == "GPT2LMHeadModel" and not report.fresh
    ids, seg = _gpt_batch()
    real = seg > 0
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=seg).logits
    model, out = _our_logits(tmp_path / "ours", ids, seg)
    assert set(out) == {"lm"}
    assert _max_diff(out["lm"], ref, real) < TOL
    export_hf(tmp_path / "ours", tmp_path / "back")
    back, info = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "back", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    with torch.no_grad():
        assert _max_diff(back.eval()(input_ids=ids, attention_mask=seg).logits, ref, real) < TOL
    assert back.config.bos_token_id == 1 and back.config.n_inner == 200


def test_gpt2_model_import_matches_hidden_states(tmp_path):
    hf = _randomise(transformers.GPT2Model(transformers.GPT2Config(**GPT2)), 6)
    import_hf(_save_hf(hf, tmp_path / "hf"), tmp_path / "ours")
    ids, seg = _gpt_batch()
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=seg)
        model = uer_ray.load_model(tmp_path / "ours").eval()
        got = model.encode(ids, seg)
        lm = model.logits(ids, seg)["lm"]
    real = seg > 0
    assert _max_diff(got, ref.last_hidden_state, real) < TOL
    # the LM head is the tied word embedding: nothing about it is new
    tied = ref.last_hidden_state @ hf.wte.weight.t()
    assert _max_diff(lm, tied, real) < TOL


def test_old_style_pytorch_bin_with_gamma_beta_and_tied_decoder(bert_pretraining, tmp_path):
    """Checkpoints converted from TensorFlow long ago: pytorch_model.bin, LayerNorm gamma/beta,
    the tied decoder weight stored, the position_ids buffer saved."""
    hf, hf_dir = bert_pretraining
    sd = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
          for k, v in hf.state_dict().items()}
    sd["cls.predictions.decoder.weight"] = hf.bert.embeddings.word_embeddings.weight.detach().clone()
    sd["bert.embeddings.position_ids"] = torch.arange(BERT["max_position_embeddings"])[None]
    old = tmp_path / "old"
    old.mkdir()
    torch.save(sd, old / "pytorch_model.bin")
    (old / "config.json").write_text((hf_dir / "config.json").read_text())
    import_hf(old, tmp_path / "ours")
    ids, seg = _batch(7)
    with torch.no_grad():
        ref = hf(input_ids=ids, **_hf_inputs(seg))
    _, out = _our_logits(tmp_path / "ours", ids, seg)
    assert _max_diff(out["mlm"], ref.prediction_logits, seg > 0) < TOL


def test_refuses_untied_decoder_and_foreign_models(bert_pretraining, tmp_path):
    hf, hf_dir = bert_pretraining
    sd = dict(hf.state_dict())
    sd["cls.predictions.decoder.weight"] = torch.randn(V, BERT["hidden_size"])
    bad = tmp_path / "untied"
    bad.mkdir()
    torch.save(sd, bad / "pytorch_model.bin")
    (bad / "config.json").write_text((hf_dir / "config.json").read_text())
    with pytest.raises(MismatchError, match="untied"):
        import_hf(bad, tmp_path / "o1")
    assert not (tmp_path / "o1").exists()

    roberta = tmp_path / "roberta"
    roberta.mkdir()
    (roberta / "config.json").write_text('{"model_type": "roberta", "architectures": ["RobertaForMaskedLM"]}')
    with pytest.raises(InputError, match="model_type 'roberta'"):
        import_hf(roberta, tmp_path / "o2")
    with pytest.raises(InputError, match="config.json"):
        import_hf(tmp_path / "nowhere", tmp_path / "o3")


def test_sharded_half_precision_checkpoint(tmp_path):
    """Large public checkpoints come sharded (an index file) and often in float16."""
    small = dict(BERT, num_hidden_layers=2)
    hf = _randomise(transformers.BertForMaskedLM(transformers.BertConfig(**small)), 8)
    hf.half().save_pretrained(tmp_path / "hf", max_shard_size="100KB")
    assert (tmp_path / "hf" / "model.safetensors.index.json").is_file()
    report = import_hf(tmp_path / "hf", tmp_path / "ours")
    assert any("float16" in note for note in report.notes)
    ids, seg = _batch(9)
    with torch.no_grad():
        ref = hf.float()(input_ids=ids, **_hf_inputs(seg)).logits
    _, out = _our_logits(tmp_path / "ours", ids, seg)
    assert _max_diff(out["mlm"], ref, seg > 0) < TOL


def test_gpt2_hub_layout_without_prefix_and_with_mask_buffers(gpt2_lm, tmp_path):
    """The published GPT-2 files: no ``transformer.`` prefix, causal-mask buffers saved per layer,
    the tied ``lm_head.weight`` stored."""
    hf, hf_dir = gpt2_lm
    sd = {k.removeprefix("transformer."): v for k, v in hf.state_dict().items()}
    n = GPT2["n_positions"]
    for i in range(GPT2["n_layer"]):
        sd[f"h.{i}.attn.bias"] = torch.ones(n, n).tril().view(1, 1, n, n)
        sd[f"h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
    assert "lm_head.weight" in sd
    old = tmp_path / "hub"
    old.mkdir()
    torch.save(sd, old / "pytorch_model.bin")
    (old / "config.json").write_text((hf_dir / "config.json").read_text())
    report = import_hf(old, tmp_path / "ours")
    assert not report.fresh and not report.dropped
    ids, seg = _gpt_batch()
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=seg).logits
    _, out = _our_logits(tmp_path / "ours", ids, seg)
    assert _max_diff(out["lm"], ref, seg > 0) < TOL


@pytest.mark.parametrize("preset, hf_class", [("bert-tiny", "BertForPreTraining"),
                                              ("gpt2-small", "GPT2LMHeadModel")])
def test_export_of_a_model_born_in_uer_ray(preset, hf_class, tmp_path):
    """No Hugging Face config to start from: every field of config.json comes from ours."""
    cfg = {**uer_ray.load_preset(preset), "hidden_size": 64, "emb_size": 64, "heads": 4,
           "layers": 2, "ffn_size": 96, "max_seq_length": 32}
    model = uer_ray.build_model(cfg, vocab_size=V)
    _randomise(model, 10)
    uer_ray.models.save_pretrained(model, tmp_path / "ours")
    assert export_hf(tmp_path / "ours", tmp_path / "hf").architecture == hf_class
    back = getattr(transformers, hf_class).from_pretrained(tmp_path / "hf").eval()
    ids, seg = _batch(11)
    if preset.startswith("gpt2"):
        seg = (seg > 0).long()
        inputs, key, ours = {"attention_mask": seg}, "logits", "lm"
    else:
        inputs, key, ours = _hf_inputs(seg), "prediction_logits", "mlm"
    with torch.no_grad():
        ref = getattr(back(input_ids=ids, **inputs), key)
        out = model.eval().logits(ids, seg)
    assert _max_diff(out[ours], ref, seg > 0) < TOL
