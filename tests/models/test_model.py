"""Model behaviour: forward/loss, padding invariance, logits API, presets."""

from __future__ import annotations

import pytest
import torch
from tiny_models import VOCAB, make_batch, tiny

from uer_ray.models import Model, ModelConfig, build_model, list_presets, load_preset


def test_forward_reports_weighted_loss_and_metrics():
    model = build_model(tiny(), vocab_size=VOCAB)
    out = model(make_batch())
    assert torch.isclose(out.loss, out.losses["mlm"] + 0.5 * out.losses["sp"])
    assert out.metrics["mlm/count"] == 6.0 and out.metrics["sp/count"] == 3.0
    assert 0.0 <= out.metrics["mlm/accuracy"] <= 1.0
    assert out.metrics["loss"] == pytest.approx(out.loss.item())


@pytest.mark.parametrize("encoder", ["transformer", "gpt", "attention", "lstm", "bilstm", "bigru",
                                     "cnn", "gatedcnn", ["cnn", "bilstm"]])
def test_padding_never_changes_real_tokens(encoder):
    torch.manual_seed(0)
    model = build_model(tiny(encoder=encoder), vocab_size=VOCAB).eval()
    ids = torch.randint(5, VOCAB, (1, 7))
    seg = torch.ones(1, 7, dtype=torch.long)
    alone = model.encode(ids, seg)
    padded_ids = torch.cat([ids, torch.zeros(1, 5, dtype=torch.long)], 1)
    padded_seg = torch.cat([seg, torch.zeros(1, 5, dtype=torch.long)], 1)
    other = torch.randint(5, VOCAB, (1, 12))  # a longer neighbour forces the padding
    both = model.encode(torch.cat([padded_ids, other]), torch.cat([padded_seg, torch.ones(1, 12, dtype=torch.long)]))
    torch.testing.assert_close(both[0, :7], alone[0], atol=1e-5, rtol=1e-5)
    logits_alone = model.logits(ids, seg)["mlm"]
    logits_both = model.logits(torch.cat([padded_ids, other]),
                               torch.cat([padded_seg, torch.ones(1, 12, dtype=torch.long)]))["mlm"]
    torch.testing.assert_close(logits_both[0, :7], logits_alone[0], atol=1e-5, rtol=1e-5)


def test_logits_shapes_and_inference_api():
    model = build_model(tiny(), vocab_size=VOCAB).eval()
    batch = make_batch()
    logits = model.logits(batch["input_ids"], batch["segment_ids"])
    assert logits["mlm"].shape == (3, 12, VOCAB) and logits["sp"].shape == (3, 2)
    assert model.encode(batch["input_ids"], batch["segment_ids"]).shape == (3, 12, model.hidden_size)


def test_mlm_training_logits_equal_inference_logits_at_masked_positions():
    model = build_model(tiny(targets={"mlm": 1.0}), vocab_size=VOCAB).eval()
    batch = make_batch()
    full = model.logits(batch["input_ids"], batch["segment_ids"])["mlm"]
    sel = batch["mlm_labels"] != -100
    expected = torch.nn.functional.cross_entropy(full[sel], batch["mlm_labels"][sel])
    assert model(batch).loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_mlm_is_tied_to_the_word_embedding():
    model = build_model(tiny(), vocab_size=VOCAB)
    names = dict(model.named_parameters())
    assert "embedding.word.weight" in names
    assert not any(n.startswith("targets.mlm.output") and n != "targets.mlm.output_bias" for n in names)
    untied = build_model(tiny(target_options={"mlm": {"tie_weights": False}}), vocab_size=VOCAB)
    assert "targets.mlm.output.weight" in dict(untied.named_parameters())


def test_lm_ignores_padding_pairs():
    model = build_model(tiny(encoder="gpt", embedding=["word", "pos"], targets={"lm": 1.0}), vocab_size=VOCAB)
    out = model(make_batch())
    assert out.metrics["lm/count"] == 3 * 11 - 4  # row 1 has 8 real tokens: 7 pairs instead of 11


def test_missing_label_names_the_target():
    model = build_model(tiny(), vocab_size=VOCAB)
    batch = make_batch()
    del batch["is_next"]
    with pytest.raises(KeyError, match="target 'sp' needs batch key 'is_next'"):
        model(batch)


@pytest.mark.parametrize("name", list_presets())
def test_every_preset_is_a_valid_config(name):
    cfg = ModelConfig.from_dict(load_preset(name))
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with torch.device("meta"):  # builds at full size without allocating the weights
        build_model(cfg, vocab_size=1000, tgt_vocab_size=1000)


# Hugging Face's parameter counts of the published models (t5-small, t5-base,
# google/t5-v1_1-small at vocabulary 32128; facebook/bart-base at 50265). BART: ours has 2 position
# rows fewer per stack (HF's offset) and the output bias as a parameter (HF: a buffer).
PUBLISHED = {"t5-small": (32128, 60_506_624), "t5-base": (32128, 222_903_552),
             "t5-v1_1-small": (32128, 76_961_152),
             "bart-base": (50265, 139_420_416 - 2 * 2 * 768 + 50265)}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_encoder_decoder_presets_have_the_published_sizes(name):
    vocab, count = PUBLISHED[name]
    with torch.device("meta"):
        model = build_model(load_preset(name), vocab_size=vocab)
    assert sum(p.numel() for p in model.parameters()) == count


def test_bert_tiny_preset_builds_at_full_size():
    model = build_model(load_preset("bert-tiny"), vocab_size=100)
    assert isinstance(model, Model) and model.hidden_size == 128
    assert len(model.encoder.layers) == 2 and model.encoder.layers[0].attn.heads == 2
    assert model.encoder.layers[0].ffn.inner.out_features == 512


def test_preset_by_path_and_unknown_name(tmp_path):
    p = tmp_path / "m.json"
    p.write_text('{"encoder": "lstm", "embedding": ["word"], "targets": {"lm": 1}}')
    assert load_preset(p)["encoder"] == "lstm"
    with pytest.raises(KeyError, match="did you mean 'bert-tiny'"):
        load_preset("bert-tine")


def test_subword_vectors_come_from_the_spelling(tmp_path):
    from uer_ray.models import load_model, save_pretrained

    model = build_model(tiny(embedding=["subword", "pos"], targets={"lm": 1.0},
                             target_options={"lm": {"tie_weights": False}}), vocab_size=VOCAB).eval()
    tokens = [f"w{i % 7}" for i in range(VOCAB)]  # ids 0 and 7 are spelled alike, 1 is not
    model.set_vocabulary(tokens)
    part = model.embedding.part("subword")
    vec = part(torch.tensor([[0, 7, 1]]), None)[0]
    torch.testing.assert_close(vec[0], vec[1])
    assert not torch.allclose(vec[0], vec[2])
    save_pretrained(model, tmp_path / "c")
    assert torch.equal(load_model(tmp_path / "c").embedding.part("subword").spellings, part.spellings)
    with pytest.raises(ValueError, match="3 tokens for a vocabulary of 40"):
        model.set_vocabulary(["a", "b", "c"])


def test_meta_builds_skip_initialisation_and_keep_every_shape():
    """``on_meta`` (the driver's checks before Ray starts) builds the same parameters as a plain
    meta-device build, all on meta, without the meta kernels of weight initialisation, which
    import torch._dynamo (over a second) for values that a meta tensor does not hold."""
    import subprocess
    import sys

    from uer_ray.models import build_model, load_preset, on_meta

    for preset in ("bert-tiny", "gpt2-small", "t5-tiny", "bart-tiny", "lstm"):
        config = load_preset(preset)
        with on_meta():
            skipped = build_model(config, vocab_size=300, tgt_vocab_size=200)
        with torch.device("meta"):
            plain = build_model(config, vocab_size=300, tgt_vocab_size=200)
        assert [(n, p.shape) for n, p in skipped.named_parameters()] == \
            [(n, p.shape) for n, p in plain.named_parameters()]
        assert all(p.is_meta for p in skipped.parameters())
    code = ("import sys; from uer_ray.models import build_model, load_preset, on_meta\n"
            "with on_meta(): build_model(load_preset('bert-base'), vocab_size=21128)\n"
            "print('torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr[-2000:]
