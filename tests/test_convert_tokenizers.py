"""``convert --from hf`` keeps the tokenizer of a GPT-2 folder with a ``vocab.txt`` (the Chinese
GPT-2 models that use BertTokenizer) and of a folder with a SentencePiece model, so that
``finetune --init`` finds one; ``--input zoo:...`` for export."""

from __future__ import annotations

import json

import pytest
import torch

transformers = pytest.importorskip("transformers")

import uer_ray  # noqa: E402
from uer_ray.cli import main  # noqa: E402

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _gpt2(path, vocab_size=40):
    cfg = transformers.GPT2Config(vocab_size=vocab_size, n_embd=32, n_layer=1, n_head=4, n_positions=16,
                                  bos_token_id=0, eos_token_id=0)
    torch.manual_seed(0)
    transformers.GPT2LMHeadModel(cfg).save_pretrained(path)


def test_gpt2_with_vocab_txt_keeps_a_wordpiece_tokenizer(tmp_path, capsys):
    src = tmp_path / "gpt2-chinese"
    vocab = SPECIALS + list("的一是了我不人在他有这个上们来到时大地为子中你说生国年着就那和要")[:35]
    _gpt2(src, vocab_size=len(vocab))
    (src / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    (src / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "BertTokenizer", "do_lower_case": True}))
    assert main(["convert", "--from", "hf", "--to", "ours", "--input", str(src), "--out", str(tmp_path / "o")]) == 0
    assert "vocab.txt became the wordpiece tokenizer" in capsys.readouterr().out
    model = uer_ray.load_model(tmp_path / "o")
    assert model.tokenizer.kind == "wordpiece" and model.tokenizer.encode("我的") == [vocab.index("我"), vocab.index("的")]
    assert model.tokenizer.encode("我的") == transformers.BertTokenizer(str(src / "vocab.txt")).convert_tokens_to_ids(["我", "的"])


def test_bert_with_a_sentencepiece_model_keeps_it(tmp_path, capsys, spm_model):
    spm = spm_model
    from uer_ray.tokenizers import build_tokenizer

    tok = build_tokenizer("sentencepiece", spm_model=spm)
    src = tmp_path / "bert-spm"
    cfg = transformers.BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=1,
                                  num_attention_heads=4, intermediate_size=48, max_position_embeddings=32)
    transformers.BertForMaskedLM(cfg).save_pretrained(src)
    (src / "spiece.model").write_bytes(spm.read_bytes())
    assert main(["convert", "--from", "hf", "--to", "ours", "--input", str(src), "--out", str(tmp_path / "o")]) == 0
    assert "spiece.model became the sentencepiece tokenizer" in capsys.readouterr().out
    model = uer_ray.load_model(tmp_path / "o")
    assert model.tokenizer.kind == "sentencepiece" and model.tokenizer.encode("中文") == tok.encode("中文")


def test_a_vocabulary_larger_than_the_model_is_not_attached(tmp_path, capsys):
    src = tmp_path / "g"
    _gpt2(src, vocab_size=8)
    (src / "vocab.txt").write_text("\n".join(SPECIALS + list("abcdefgh")) + "\n")
    assert main(["convert", "--from", "hf", "--to", "ours", "--input", str(src), "--out", str(tmp_path / "o")]) == 0
    assert "13 entries for 8 word embeddings" in capsys.readouterr().out
    assert uer_ray.load_model(tmp_path / "o").tokenizer is None


def test_export_reads_a_zoo_ref(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("UER_RAY_ZOO", str(tmp_path / "zoo"))
    monkeypatch.setenv("UER_RAY_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "gpt"
    _gpt2(src)
    assert main(["convert", "--from", "hf", "--to", "ours", "--input", str(src), "--out", str(tmp_path / "o")]) == 0
    assert main(["zoo", "import", str(src), "--from", "hf", "--name", "gpt-tiny", "--quiet"]) == 0
    assert main(["convert", "--from", "ours", "--to", "hf", "--input", "zoo:gpt-tiny@latest",
                 "--out", str(tmp_path / "back")]) == 0
    back = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "back").eval()
    ids = torch.tensor([[1, 2, 3, 4]])
    ref = transformers.GPT2LMHeadModel.from_pretrained(src).eval()
    with torch.no_grad():
        assert (back(ids).logits - ref(ids).logits).abs().max() < 1e-5
    assert main(["convert", "--from", "hf", "--to", "uer", "--input", str(src), "--out", str(tmp_path / "u")]) == 2
    assert "nothing to convert" in capsys.readouterr().err
