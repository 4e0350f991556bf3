"""``run.py generate`` end to end: an ``mt`` model (transformer encoder and decoder, CoVe's target)
pre-trained on Ray Train for 150 steps on 32 of the bundled News Commentary en–zh pairs
translates its English sources back into their Chinese through the command (the decoder's
cache, the cross-attention over the encoded source, the target tokenizer saved in the
checkpoint, Chinese decoded without spaces); the same through beam search and without the
cache; and every mistake is one line."""

from __future__ import annotations

import json

import pytest
import torch
from uer_testing import data_file

from uer_ray.cli import main
from uer_ray.generate.metrics import exact_match, rouge_l

MT_MODEL = {"embedding": ["word", "pos"], "encoder": "transformer", "decoder": "transformer",
            "targets": {"mt": 1.0}, "emb_size": 64, "hidden_size": 64, "layers": 2, "heads": 2,
            "ffn_size": 256, "max_seq_length": 64, "dropout": 0.0}


@pytest.fixture(scope="module")
def mt_run(ray_session, tmp_path_factory):
    """(checkpoint folder, English sources file, Chinese references)."""
    from uer_ray.data import ProcessorConfig, preprocess
    from uer_ray.tokenizers import build_tokenizer
    from uer_ray.train.pretrain import PretrainOptions, pretrain

    root = tmp_path_factory.mktemp("mt")
    pairs = [line.split("\t") for line in
             data_file("corpora/news-commentary-v13-en-zh_sampled.txt").read_text(encoding="utf-8").splitlines()]
    pairs = [p for p in pairs if len(p) == 2 and p[1].strip() and len(p[0]) < 70][:32]
    (root / "pairs.txt").write_text("".join(f"{en}\t{zh}\n" for en, zh in pairs), encoding="utf-8")
    (root / "sources.txt").write_text("".join(f"{en}\n" for en, _ in pairs), encoding="utf-8")
    preprocess([root / "pairs.txt"], root / "shards", processor="mt",
               tokenizer=build_tokenizer("wordpiece", vocab=str(data_file("vocab/google_uncased_en_vocab.txt"))),
               tgt_tokenizer=build_tokenizer("wordpiece", vocab=str(data_file("vocab/google_zh_vocab.txt"))),
               config=ProcessorConfig(seq_length=32), progress=False)
    (root / "mt.json").write_text(json.dumps(MT_MODEL))
    pretrain(PretrainOptions(model=str(root / "mt.json"), data=str(root / "shards"), out=str(root / "run"),
                             steps=150, batch_size=16, lr=2e-3, save_every=1000, progress=False,
                             wandb_mode="disabled"))
    return root / "run", root / "sources.txt", [zh for _, zh in pairs]


def _column(path, name: str) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    col = lines[0].split("\t").index(name)
    return [line.split("\t")[col] for line in lines[1:]]


def test_mt_model_translates_its_training_pairs_through_the_command(mt_run, tmp_path, capsys):
    run, sources, references = mt_run
    assert (run / "final" / "tgt_tokenizer").is_dir(), "the checkpoint must keep the target tokenizer"
    out = tmp_path / "greedy.tsv"
    assert main(["generate", "--model", str(run), "--input", str(sources), "--out", str(out),
                 "--max-new-tokens", "40", "--quiet"]) == 0
    texts = _column(out, "text")
    assert _column(out, "prompt") == sources.read_text(encoding="utf-8").splitlines()
    # memorised in 150 steps: most sources come back as their own translation, in Chinese
    # characters with no spaces between them
    assert rouge_l(texts, references) > 80 and exact_match(texts, references) > 50, texts[:4]
    assert not any(" " in t for t in texts if all(ord(c) > 0x2e80 for c in t.replace(" ", "")))
    assert "tokens/s" in capsys.readouterr().out

    uncached = tmp_path / "uncached.tsv"
    assert main(["generate", "--model", str(run), "--input", str(sources), "--out", str(uncached),
                 "--max-new-tokens", "40", "--no-cache", "--quiet"]) == 0
    assert uncached.read_text(encoding="utf-8") == out.read_text(encoding="utf-8")

    beams = tmp_path / "beams.tsv"
    assert main(["generate", "--model", str(run), "--input", str(sources), "--out", str(beams),
                 "--beams", "3", "--num-return", "2", "--probs", "--quiet"]) == 0
    header, *rows = beams.read_text(encoding="utf-8").splitlines()
    assert header.split("\t") == ["prompt", "rank", "text", "score"] and len(rows) == 2 * len(references)
    best = [r.split("\t") for r in rows if r.split("\t")[1] == "1"]
    assert rouge_l([b[2] for b in best], references) > 80
    assert all(float(a.split("\t")[3]) >= float(b.split("\t")[3]) for a, b in zip(rows[::2], rows[1::2], strict=True))


def test_prompt_is_printed(mt_run, capsys):
    run, sources, references = mt_run
    first = sources.read_text(encoding="utf-8").splitlines()[0]
    assert main(["generate", "--model", str(run), "--prompt", first, "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == references[0]


@pytest.fixture(scope="module")
def bert_checkpoint(tmp_path_factory):
    from uer_ray.models import build_model, save_pretrained

    path = tmp_path_factory.mktemp("bert") / "ckpt"
    model = build_model({**MT_MODEL, "decoder": None, "targets": {"mlm": 1.0, "sp": 1.0},
                         "embedding": ["word", "pos", "seg"]}, vocab_size=50)
    save_pretrained(model, path)
    return path


def _fails(capsys, argv: list[str], *needles: str) -> None:
    assert main(["generate", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err


def test_mistakes_are_one_line(mt_run, bert_checkpoint, tmp_path, capsys):
    run, sources, _ = mt_run
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    _fails(capsys, ["--model", str(run), "--input", str(empty), "--out", str(tmp_path / "o.tsv")],
           "no prompts", "empty.txt")
    _fails(capsys, ["--model", str(bert_checkpoint), "--prompt", "x"], "cannot generate text",
           "mlm, sp", "lm")
    _fails(capsys, ["--model", str(run), "--prompt", "x", "--stop", "[SPE]"], "'[SPE]'", "[SEP]")
    _fails(capsys, ["--model", str(run), "--input", str(sources)], "--input needs --out")
    _fails(capsys, ["--model", str(run), "--input", str(tmp_path / "nope.txt"), "--out", "o.tsv"],
           "no such prompt file")
    _fails(capsys, ["--model", str(run), "--prompt", "x", "--beams", "2", "--sample"], "do not combine")
    _fails(capsys, ["--model", str(run), "--prompt", "x", "--early-stopping", "sometimes"], "never")
    _fails(capsys, ["--model", str(run), "--prompt", "x", "--max-new-tokens", "80"], "positions")
    _fails(capsys, ["--model", str(tmp_path / "missing"), "--prompt", "x"], "no such checkpoint")
    assert torch.get_num_threads() >= 1
