"""``finetune --task text2text``: a tiny encoder–decoder model (an ``mt`` transformer over the
bundled Chinese character vocabulary) learns to reverse short strings taken from the bundled
CLUE corpus. Training lowers the loss, dev and test are scored on the text the model generates
(a model that has memorised its training pairs scores BLEU 100 on them, a copy of the source
does not), ``predict`` writes the generated text, ``--metric`` picks the selection metric, a
model without a decoder and a file without its target column are one-line errors, and a search
space over the task validates with the metric it names."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from task_helpers import run_cli, write_tsv
from uer_testing import SAMPLES, data_file, fails_in_one_line

import uer_ray
from uer_ray.generate.metrics import bleu, exact_match, rouge_l, score_all
from uer_ray.models import build_model, save_pretrained
from uer_ray.tasks import get_task
from uer_ray.tokenizers import build_tokenizer

VOCAB = SAMPLES / "clue" / "zh_char_vocab.txt"
TINY_MT = {"embedding": ["word", "pos", "seg"], "encoder": "transformer", "decoder": "transformer",
           "targets": {"mt": 1.0}, "emb_size": 32, "hidden_size": 32, "layers": 1, "heads": 2,
           "ffn_size": 64, "max_seq_length": 32, "dropout": 0.0}
TINY_BERT = {**{k: v for k, v in TINY_MT.items() if k != "decoder"}, "targets": {"mlm": 1.0}}
TINY_LM = {**TINY_BERT, "targets": {"lm": 1.0},
           "encoder_options": {"transformer": {"mask": "causal"}}}


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer("char", vocab=str(VOCAB))


def _checkpoint(folder: Path, config: dict, tokenizer) -> Path:
    torch.manual_seed(0)
    model = build_model(config, vocab_size=tokenizer.vocab_size,
                        tgt_vocab_size=tokenizer.vocab_size if "mt" in config["targets"] else None)
    save_pretrained(model, folder, tokenizer=tokenizer)
    return folder


@pytest.fixture(scope="module")
def work(tmp_path_factory, tokenizer) -> dict:
    """An untrained encoder–decoder checkpoint and a reversal task: 32 strings of 3 to 6
    Chinese characters from the bundled corpus, each with its reverse as the label."""
    d = tmp_path_factory.mktemp("text2text")
    chars = [c for c in data_file("corpora/CLUECorpusSmall_sampled.txt").read_text(encoding="utf-8")
             if "\u4e00" <= c <= "\u9fff"]
    rng = random.Random(0)
    sources = ["".join(chars[7 * i : 7 * i + rng.randint(3, 6)]) for i in range(32)]
    rows = [[s, s[::-1]] for s in sources]
    return {"dir": d, "init": _checkpoint(d / "init", TINY_MT, tokenizer),
            "train": write_tsv(d / "train.tsv", ["text_a", "label"], rows), "rows": rows}


def _options(work: dict, out: Path, **kw) -> uer_ray.FinetuneOptions:
    base = dict(task="text2text", train=str(work["train"]), dev=str(work["train"]),
                test=str(work["train"]), out=str(out), init=str(work["init"]), epochs=40,
                batch_size=8, lr=3e-3, seq_length=16, tgt_seq_length=10, progress=False,
                wandb_mode="disabled", device="cpu")
    base.update(kw)
    return uer_ray.FinetuneOptions(**base)


def test_memorises_its_pairs_scores_generated_text_and_predicts(work, tmp_path):
    seen = []
    record = uer_ray.finetune(_options(work, tmp_path / "ft"), on_epoch=seen.append)
    losses = [r["train/loss"] for r in seen]
    assert losses[-1] < losses[0] / 10, losses
    r = record["results"]
    assert r["select_metric"] == "bleu" and r["test"]["bleu"] > 90 and r["dev"]["exact_match"] > 80
    assert seen[0]["dev/bleu"] < 20  # the untrained decoder writes something else
    # a copy of the source is a poor reversal: the scores measure what the model wrote
    sources, references = [s for s, _ in work["rows"]], [t for _, t in work["rows"]]
    assert bleu(sources, references) < 30

    out = tmp_path / "pred.tsv"
    assert run_cli("predict", "--model", tmp_path / "ft", "--input", work["train"], "--out", out,
                   "--quiet") == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "label" and len(lines) == 1 + len(references)
    assert score_all(lines[1:], references) == pytest.approx(r["test"])

    task = json.loads((tmp_path / "ft" / "task.json").read_text(encoding="utf-8"))
    assert task["task"] == "text2text" and task["options"] == {"beams": 1, "tgt_seq_length": 10}
    from uer_ray.zoo.card import task_type

    assert task_type("text2text", {"mt": 1.0}) == "text2text-generation"


def test_metric_and_beams_are_recorded_and_restored(work, tmp_path):
    record = uer_ray.finetune(_options(work, tmp_path / "ft", epochs=1, metric="rouge_l", beams=2))
    assert record["results"]["select_metric"] == "rouge_l"
    assert set(record["results"]["dev"]) == {"bleu", "rouge_l", "exact_match"}
    from uer_ray.tasks.checkpoint import load_finetuned

    _, task, _, settings, _ = load_finetuned(tmp_path / "ft")
    assert settings.options == {"metric": "rouge_l", "beams": 2, "tgt_seq_length": 10}
    assert (task.select_metric, task.beams, task.tgt_seq_length) == ("rouge_l", 2, 10)
    assert get_task("text2text").select_metric == "bleu"  # the class default is untouched


def test_units_give_the_metrics_back():
    hyps = ["今天天气很好", "我们去公园", "the cat sat", ""]
    refs = ["今天天气不错", "我们去公园吧", "the cat sat down", "空"]
    task = get_task("text2text")
    ex = [{"reference": r} for r in refs]
    for name, fn in (("bleu", bleu), ("rouge_l", rouge_l), ("exact_match", exact_match)):
        task.configure({"metric": name})
        units = task.units(ex, hyps, None)
        assert task.metric_from_units(units[None])[0] == pytest.approx(fn(hyps, refs)), name
    task.configure({"metric": "bleu"})
    assert task.metric_from_units(task.units(ex[:1], ["完全不同"], None)[None])[0] == 0.0
    resampled = task.metric_from_units(np.stack([task.units(ex, hyps, None)] * 3))
    assert resampled.shape == (3,)


def test_from_scratch_with_a_decoder_config(work, tmp_path):
    config = tmp_path / "mt.json"
    config.write_text(json.dumps(TINY_MT), encoding="utf-8")
    record = uer_ray.finetune(_options(work, tmp_path / "ft", init=None, model=str(config),
                                       vocab=str(VOCAB), tokenizer="char", epochs=1, test=None))
    assert record["results"]["source"].endswith("from scratch")
    cfg = json.loads((tmp_path / "ft" / "config.json").read_text(encoding="utf-8"))
    assert cfg["tgt_vocab_size"] == cfg["vocab_size"]  # one vocabulary on both sides


def _error(capsys, *argv) -> str:
    assert run_cli("finetune", "--task", "text2text", "--quiet", "--epochs", "1",
                   "--seq-length", "16", *argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, err
    return err


def test_bad_input_is_one_line(capsys, work, tokenizer, tmp_path):
    d, train, init = tmp_path, work["train"], work["init"]
    no_label = write_tsv(d / "nolabel.tsv", ["text_a", "target"], [["你好", "好你"]])
    err = _error(capsys, "--train", no_label, "--dev", train, "--init", init, "--out", d / "o")
    assert "nolabel.tsv:1: missing column 'label'" in err
    empty = write_tsv(d / "empty.tsv", ["text_a", "label"], [["你好", "好你"], ["世界", " "]])
    err = _error(capsys, "--train", empty, "--dev", train, "--init", init, "--out", d / "o")
    assert "empty.tsv:3: label is empty" in err
    bert = _checkpoint(d / "bert", TINY_BERT, tokenizer)
    err = _error(capsys, "--train", train, "--dev", train, "--init", bert, "--out", d / "o")
    assert "cannot generate text" in err and "text2text needs a decoder" in err
    lm = _checkpoint(d / "lm", TINY_LM, tokenizer)
    err = _error(capsys, "--train", train, "--dev", train, "--init", lm, "--out", d / "o")
    assert "target 'lm' continues a prompt" in err
    no_decoder = d / "bert.json"
    no_decoder.write_text(json.dumps(TINY_BERT), encoding="utf-8")
    err = _error(capsys, "--train", train, "--dev", train, "--model", no_decoder, "--vocab", VOCAB,
                 "--tokenizer", "char", "--out", d / "o")
    assert "text2text needs a decoder" in err
    err = _error(capsys, "--train", train, "--dev", train, "--init", init, "--out", d / "o",
                 "--metric", "blue")
    assert "bleu, rouge_l, exact_match" in err and "did you mean 'bleu'" in err
    err = _error(capsys, "--train", train, "--dev", train, "--init", init, "--out", d / "o",
                 "--tgt-seq-length", "40")
    assert "exceeds the decoder's 32 positions" in err
    assert not (d / "o").exists()
    rc = run_cli("finetune", "--task", "classify", "--train", train, "--dev", train, "--init", init,
                 "--out", d / "o", "--beams", "4")
    assert rc == 2 and "apply to tasks that generate text (text2text)" in capsys.readouterr().err


def _space(folder: Path, work: dict, **top) -> dict:
    return {"name": "t2t", "task": "text2text", **top,
            "data": {"train": str(work["train"]), "dev": str(work["train"])},
            "vocabulary": {"tokenizer": "char", "file": str(VOCAB)},
            "encoders": {"mt": {"model": dict(TINY_MT), "lr": {"choice": [1e-3, 3e-3]}}},
            "finetune": {"epochs": 2, "seq_length": 16, "tgt_seq_length": 10,
                         "beams": {"choice": [1, 2]}},
            "budget": {"searcher": "grid"}}


def test_a_search_space_tunes_text2text_by_its_metric(work, tmp_path):
    from uer_ray.tune import load_space
    from uer_ray.tune.domains import SpaceError
    from uer_ray.tune.trial import SearchContext, finetune_options

    def write(space: dict, name: str) -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(space, allow_unicode=True), encoding="utf-8")
        return path

    space = load_space(write(_space(tmp_path, work, metric="rouge_l"), "space.yaml"))
    assert space.select_metric == "rouge_l" and space.size() == 4
    ctx = SearchContext(space=space, out=str(tmp_path / "search"), search_id="x", files=space.data,
                        vocab=str(VOCAB), tokenizer="char", shards=None, shards_sha256=None,
                        threads=1, stage2_cpus=1.0, metric=space.select_metric)
    options = finetune_options(ctx, space.grid(0)[-1], "trial_1", None, tmp_path)
    assert (options.metric, options.beams, options.tgt_seq_length) == ("rouge_l", 2, 10)
    assert load_space(write(_space(tmp_path, work), "default.yaml")).select_metric == "bleu"

    fails_in_one_line(SpaceError, load_space, write(_space(tmp_path, work, metric="acc"), "m.yaml"),
                      "metric: 'acc' is not a metric task text2text", "bleu, rouge_l, exact_match")
    no_decoder = _space(tmp_path, work)
    no_decoder["encoders"]["mt"]["model"] = dict(TINY_BERT)
    fails_in_one_line(SpaceError, load_space, write(no_decoder, "d.yaml"), "encoders.mt",
                      "text2text needs a decoder")


@pytest.mark.ray
def test_two_ray_workers_train_what_the_in_process_run_trains(ray_session, work, tmp_path):
    """The workers rebuild the model from its config and get the tokenizers from the driver:
    rank 0 generates for dev, and the losses follow the in-process run's."""
    here = uer_ray.finetune(_options(work, tmp_path / "here", epochs=3, test=None))
    ray = uer_ray.finetune(_options(work, tmp_path / "ray", epochs=3, test=None, workers=2))
    a, b = here["results"]["history"], ray["results"]["history"]
    for x, y in zip(a, b, strict=True):
        assert y["train/loss"] == pytest.approx(x["train/loss"], rel=1e-2), (a, b)
        assert set(y) >= {"dev/bleu", "dev/rouge_l", "dev/exact_match"}
