"""``uer_ray.embed`` and ``run.py embed``: pooled sentence vectors of a pre-trained or a
fine-tuned model, BERT-whitening fitted, saved and applied, one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import uer_ray
from uer_ray.cli import main
from uer_ray.errors import InputError, OptionsError
from uer_ray.layers.pooling import pool
from uer_ray.models import build_model, save_pretrained
from uer_ray.tokenizers import build_tokenizer
from uer_ray.vectors import Whitening

TINY = {"embedding": ["word", "pos", "seg"], "encoder": "transformer", "targets": {"mlm": 1.0},
        "emb_size": 32, "hidden_size": 32, "layers": 1, "heads": 2, "ffn_size": 64,
        "max_seq_length": 64, "dropout": 0.1}
TEXTS = ["这本书写得非常好", "内容一般", "故事人物有点", "作者", "读完觉得这本书的内容非常一般", "好"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A fresh tiny transformer saved with a character tokenizer (a pre-trained folder)."""
    d = tmp_path_factory.mktemp("embed")
    vocab = d / "vocab.txt"
    chars = sorted(set("".join(TEXTS)) | set("甲乙丙"))
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars]) + "\n",
                     encoding="utf-8")
    tokenizer = build_tokenizer("char", vocab=str(vocab))
    torch.manual_seed(0)
    model = build_model(TINY, vocab_size=tokenizer.vocab_size)
    save_pretrained(model, d / "ckpt", tokenizer=tokenizer)
    return d / "ckpt"


def _by_hand(model, texts, how, length=64):
    tok = model.tokenizer
    out = []
    for t in texts:
        ids = [tok.cls_id, *tok.encode(t)[: length - 2], tok.sep_id]
        hidden = model.encode(torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long))
        out.append(pool(hidden, None, how)[0].numpy())
    return np.stack(out)


@pytest.mark.parametrize("how", ["mean", "cls", "max"])
def test_embed_matches_pooling_by_hand(checkpoint, how):
    vectors = uer_ray.embed(checkpoint, TEXTS, pooling=how, batch_size=4)
    assert vectors.shape == (len(TEXTS), 32) and vectors.dtype == np.float32
    model = uer_ray.load_model(checkpoint)
    with torch.no_grad():
        expected = _by_hand(model, TEXTS, "first" if how == "cls" else how)
    # batched with padding, in length order, yet each row is its own text alone
    np.testing.assert_allclose(vectors, expected, atol=1e-5)
    assert not np.allclose(vectors[0], vectors[1])
    np.testing.assert_allclose(uer_ray.embed(model, TEXTS, pooling=how), vectors, atol=1e-6)


def test_whitening_fit_save_apply(tmp_path, checkpoint):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 6)) @ rng.normal(size=(6, 6)) + 3.0
    w = Whitening.fit(x)
    y = w.apply(x)
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(np.cov(y.T, bias=True), np.eye(6), atol=1e-3)
    cut = Whitening.fit(x, 2)
    assert cut.apply(x).shape == (200, 2)
    np.testing.assert_allclose(cut.apply(x), y[:, :2], atol=1e-4)  # the largest directions first
    w.save(tmp_path / "w.npz")
    np.testing.assert_allclose(Whitening.load(tmp_path / "w.npz").apply(x), y, atol=1e-6)
    with pytest.raises(OptionsError, match="keeps 1 to 6 dimensions"):
        Whitening.fit(x, 7)
    with pytest.raises(InputError, match="at least 2 vectors"):
        Whitening.fit(x[:1])
    whitened = uer_ray.embed(checkpoint, TEXTS, whiten=3)
    assert whitened.shape == (len(TEXTS), 3)
    plain = uer_ray.embed(checkpoint, TEXTS)
    np.testing.assert_allclose(whitened, Whitening.fit(plain, 3).apply(plain), atol=1e-4)


def test_embed_cli(tmp_path, checkpoint, capsys):
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    out = tmp_path / "v.npy"
    assert main(["embed", "--model", str(checkpoint), "--input", str(texts), "--out", str(out),
                 "--whiten", "4", "--quiet"]) == 0
    assert "Embedded 6 lines" in capsys.readouterr().out
    vectors = np.load(out)
    assert vectors.shape == (6, 4)
    saved = tmp_path / "v.whitening.npz"
    plain = uer_ray.embed(checkpoint, TEXTS)
    np.testing.assert_allclose(vectors, Whitening.load(saved).apply(plain), atol=1e-5)
    # the saved whitening maps other texts the same way
    queries = tmp_path / "q.txt"
    queries.write_text("好\n内容一般\n", encoding="utf-8")
    assert main(["embed", "--model", str(checkpoint), "--input", str(queries), "--out",
                 str(tmp_path / "q.npy"), "--whitening", str(saved), "--quiet"]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "q.npy"), vectors[[5, 1]], atol=1e-5)


def test_embed_reads_a_finetuned_siamese_model(tmp_path, checkpoint):
    """A fine-tuned folder: its encoder (text_a's tower) and its pooling by default."""
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("label\ttext_a\ttext_b\n" + "".join(
        f"{i % 2}\t{TEXTS[i % 6]}\t{TEXTS[(i + i % 2) % 6]}\n" for i in range(12)), encoding="utf-8")
    out = tmp_path / "siamese"
    assert main(["finetune", "--task", "siamese", "--train", str(pairs), "--dev", str(pairs),
                 "--out", str(out), "--init", str(checkpoint), "--epochs", "1", "--pooling",
                 "max", "--seq-length", "16", "--quiet"]) == 0
    assert json.loads((out / "task.json").read_text(encoding="utf-8"))["pooling"] == "max"
    vectors = uer_ray.embed(out, TEXTS)
    model = uer_ray.load_model(out)
    with torch.no_grad():
        np.testing.assert_allclose(vectors, _by_hand(model, TEXTS, "max", 16), atol=1e-5)
    assert not np.allclose(vectors, uer_ray.embed(checkpoint, TEXTS, pooling="max"), atol=1e-4)


def _one_line_error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


def test_embed_errors(tmp_path, checkpoint, capsys):
    base = ["embed", "--model", str(checkpoint), "--out", str(tmp_path / "v.npy")]
    err = _one_line_error(capsys, [*base, "--input", str(tmp_path / "nope.txt")])
    assert "nope.txt: no such input file" in err
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    assert "empty.txt: no texts: the file is empty" in _one_line_error(capsys, [*base, "--input", str(empty)])
    texts = tmp_path / "t.txt"
    texts.write_text("好\n", encoding="utf-8")
    err = _one_line_error(capsys, [*base, "--input", str(texts), "--whiten", "4"])
    assert "whitening needs at least 2 vectors" in err
    err = _one_line_error(capsys, [*base, "--input", str(texts), "--whitening", str(tmp_path / "w.npz")])
    assert "w.npz: no such whitening file" in err
    err = _one_line_error(capsys, ["embed", "--model", str(tmp_path / "missing"), "--input",
                                   str(texts), "--out", str(tmp_path / "v.npy")])
    assert "missing: no such checkpoint folder" in err
    assert not (tmp_path / "v.npy").exists()
    with pytest.raises(InputError, match="no texts to embed"):
        uer_ray.embed(checkpoint, [])


def test_embed_cli_reads_a_task_tsv_by_its_text_a_column(tmp_path, checkpoint, capsys):
    tsv = tmp_path / "dev.tsv"
    tsv.write_text("label\ttext_a\n" + "".join(f"{i % 2}\t{t}\n" for i, t in enumerate(TEXTS)), encoding="utf-8")
    out = tmp_path / "v.npy"
    assert main(["embed", "--model", str(checkpoint), "--input", str(tsv), "--out", str(out), "--quiet"]) == 0
    assert "Embedded 6 lines" in capsys.readouterr().out
    np.testing.assert_allclose(np.load(out), uer_ray.embed(checkpoint, TEXTS), atol=1e-5)
    tsv.write_text("label\ttext_a\n1\n", encoding="utf-8")
    err = _one_line_error(capsys, ["embed", "--model", str(checkpoint), "--input", str(tsv), "--out", str(out)])
    assert "dev.tsv:2: expected 2 tab-separated columns (label, text_a), found 1" in err
