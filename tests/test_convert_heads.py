"""Fine-tuned Hugging Face heads through ``convert`` (docs/interop.md, "Fine-tuned heads"):
``BertForSequenceClassification``, ``BertForTokenClassification`` and ``BertForQuestionAnswering``
built by transformers from a small random config become fine-tuned uer_ray checkpoints with
identical logits on a padded batch of pairs; fine-tuned uer_ray models go out as those classes and
come back unchanged; ``predict`` on an imported classifier agrees with transformers' argmax; the
refusals are one line. Nothing is downloaded.

The question-answering cases use the ``mrc`` task (``uer_ray/tasks/mrc.py``), built on another
branch of issue 23: without it they fail with "unknown task 'mrc'"."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

transformers = pytest.importorskip("transformers")

import uer_ray  # noqa: E402
from uer_ray.cli import main  # noqa: E402
from uer_ray.errors import InputError, MismatchError, OptionsError  # noqa: E402
from uer_ray.models.interop import export_hf, import_hf  # noqa: E402
from uer_ray.tasks import get_task  # noqa: E402
from uer_ray.tasks.checkpoint import TaskSettings, load_finetuned, read_settings, save_finetuned  # noqa: E402
from uer_ray.tasks.heads import FinetuneModel  # noqa: E402
from uer_ray.tokenizers import build_tokenizer  # noqa: E402

TOL = 1e-5
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ["the", "cat", "sat", "on", "mat", "dog", "##s", "ran", "a", "far", "big", "red"]
VOCAB = SPECIALS + WORDS + [f"w{i}" for i in range(64 - len(SPECIALS) - len(WORDS))]
LABELS = ["neg", "pos", "mid"]
CONFIG = dict(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
              intermediate_size=48, max_position_embeddings=32, layer_norm_eps=1e-3)
CLASSES = {  # Hugging Face class -> (uer_ray task, label names in config.json)
    "BertForSequenceClassification": ("classify", LABELS),
    "BertForTokenClassification": ("tag", ["O", "B-X", "I-X", "B-Y"]),
    "BertForQuestionAnswering": ("mrc", None),
}


def _randomise(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Every parameter random (norm weights near 1, biases non-zero): a swapped or skipped tensor
    shows in the logits. The pooler and the output layers get unit-scale weights, so that the
    logits are large and differ from input to input."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            module_name = name.rsplit(".", 2)[-2]
            norm = "norm" in module_name.lower()  # LayerNorm, norm, attn_norm, ...
            head = name.startswith(("head.", "classifier.", "qa_outputs.")) or "pooler" in name
            p.copy_(1.0 + 0.2 * noise if norm and name.endswith("weight") else (1.0 if head else 0.1) * noise)
    return module.eval()


def _hf_model(cls_name: str, path, seed: int = 1, **config):
    """A random Hugging Face head model saved with a vocab.txt, as a downloaded folder is."""
    labels = CLASSES[cls_name][1]
    if labels:
        config.setdefault("id2label", dict(enumerate(labels)))
    model = _randomise(getattr(transformers, cls_name)(transformers.BertConfig(**CONFIG, **config)), seed)
    model.save_pretrained(path)
    (path / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    (path / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}))
    return model


def _batch(seed: int = 0):
    """Three rows right-padded to 12: a pair, a shorter pair, a single text; [CLS] first."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, len(VOCAB), (3, 12), generator=g)
    seg = torch.zeros(3, 12, dtype=torch.long)
    seg[0, :7], seg[0, 7:] = 1, 2
    seg[1, :4], seg[1, 4:8] = 1, 2
    seg[2, :5] = 1
    ids[:, 0] = 2
    ids[seg == 0] = 0
    return ids, seg


def _hf_logits(model, ids, seg) -> torch.Tensor:
    """(B,C) or (B,T,C) logits; question answering as (B,T,2): start, end."""
    with torch.no_grad():
        out = model(input_ids=ids, token_type_ids=(seg == 2).long(), attention_mask=(seg > 0).long())
    if hasattr(out, "start_logits"):
        return torch.stack([out.start_logits, out.end_logits], -1)
    return out.logits


def _our_logits(path, ids, seg) -> torch.Tensor:
    ft = load_finetuned(path)[0]
    with torch.no_grad():
        return ft(ids, seg)


def _diff(a, b, seg) -> float:
    """Max abs difference: per row for sentence logits, at real tokens for token logits."""
    if a.dim() == 3:
        a, b = a[seg > 0], b[seg > 0]
    return (a - b).abs().max().item()


@pytest.mark.parametrize("cls_name", list(CLASSES))
def test_hf_head_imports_with_identical_logits(cls_name, tmp_path):
    hf = _hf_model(cls_name, tmp_path / "hf")
    report = import_hf(tmp_path / "hf", tmp_path / "ours")
    task, labels = CLASSES[cls_name]
    assert report.task == task and report.architecture == cls_name
    assert not [k for k, _ in report.dropped], report.dropped  # the head is taken, nothing left
    settings = read_settings(tmp_path / "ours")
    assert (settings.task, settings.labels, settings.pooling, settings.crf) == (task, labels, "first", False)
    ids, seg = _batch()
    ref, got = _hf_logits(hf, ids, seg), _our_logits(tmp_path / "ours", ids, seg)
    assert got.shape == ref.shape
    assert _diff(got, ref, seg) <= TOL
    assert ref.abs().max() > 1.0  # the batch exercises the head


@pytest.mark.parametrize("cls_name", list(CLASSES))
def test_imported_head_round_trips_through_hf(cls_name, tmp_path):
    hf = _hf_model(cls_name, tmp_path / "hf", seed=2)
    import_hf(tmp_path / "hf", tmp_path / "ours")
    report = export_hf(tmp_path / "ours", tmp_path / "back")
    assert report.architecture == cls_name
    back, info = getattr(transformers, f"AutoModelFor{_auto(cls_name)}").from_pretrained(
        tmp_path / "back", output_loading_info=True)
    assert type(back).__name__ == cls_name
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    assert back.config.id2label == hf.config.id2label
    ids, seg = _batch(1)
    assert _diff(_hf_logits(back.eval(), ids, seg), _hf_logits(hf, ids, seg), seg) <= TOL
    import_hf(tmp_path / "back", tmp_path / "again")
    assert read_settings(tmp_path / "again") == read_settings(tmp_path / "ours")
    a, b = (load_file(str(tmp_path / d / "head.safetensors")) for d in ("ours", "again"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _auto(cls_name: str) -> str:
    return cls_name.removeprefix("BertFor")


def _our_finetuned(path, task_name: str, labels, seed: int, pooling: str = "first", crf: bool = False,
                   columns=None):
    """A fine-tuned model made in uer_ray (no Hugging Face config to start from)."""
    cfg = {"embedding": ["word", "pos", "seg"], "encoder": "transformer", "targets": {"mlm": 1.0},
           "emb_size": 32, "hidden_size": 32, "layers": 2, "heads": 4, "ffn_size": 48,
           "max_seq_length": 32, "dropout": 0.1, "layernorm_eps": 1e-3}
    model = uer_ray.build_model(cfg, vocab_size=len(VOCAB))
    head = get_task(task_name).build_head(32, len(labels) if labels else 1, pooling, crf, dropout=0.1)
    ft = _randomise(FinetuneModel(model, head), seed)
    (path.parent / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    tok = build_tokenizer("wordpiece", vocab=path.parent / "vocab.txt", lowercase=True)
    settings = TaskSettings(task_name, labels, pooling, 24, crf=crf, columns=columns)
    save_finetuned(path, ft, tok, settings)
    return settings


@pytest.mark.parametrize("task_name, labels, cls_name", [
    ("pair", ["entail", "neutral", "contradict"], "BertForSequenceClassification"),
    ("regress", None, "BertForSequenceClassification"),
    ("tag", ["O", "B-PER", "I-PER"], "BertForTokenClassification"),
    ("mrc", None, "BertForQuestionAnswering"),
])
def test_our_finetuned_model_goes_to_hf_and_back(task_name, labels, cls_name, tmp_path):
    columns = ["text_a", "text_b"] if task_name in ("pair", "regress") else None
    settings = _our_finetuned(tmp_path / "ours", task_name, labels, seed=3, columns=columns)
    export_hf(tmp_path / "ours", tmp_path / "hf")
    hf, info = getattr(transformers, f"AutoModelFor{_auto(cls_name)}").from_pretrained(
        tmp_path / "hf", output_loading_info=True)
    assert type(hf).__name__ == cls_name and not info["missing_keys"] and not info["unexpected_keys"]
    if labels:
        assert [hf.config.id2label[i] for i in range(len(labels))] == labels
    if task_name == "regress":
        assert hf.config.problem_type == "regression" and hf.config.num_labels == 1
    ids, seg = _batch(2)
    ours = _our_logits(tmp_path / "ours", ids, seg)
    assert _diff(_hf_logits(hf.eval(), ids, seg), ours, seg) <= TOL
    # the task settings travel in config.json, so pair stays pair and regress keeps its columns
    import_hf(tmp_path / "hf", tmp_path / "again")
    assert read_settings(tmp_path / "again") == settings
    assert _diff(_our_logits(tmp_path / "again", ids, seg), ours, seg) <= TOL


def test_predict_on_imported_classifier_matches_hf_argmax(tmp_path, capsys):
    hf = _hf_model("BertForSequenceClassification", tmp_path / "hf", seed=4)
    texts = ["the cat sat on the mat", "dogs ran far", "a big red dog", "the mat", "red cats sat",
             "a dog ran on a mat", "far far far", "big cat", "the red mat sat far", "cats"]
    tok = transformers.BertTokenizer(str(tmp_path / "hf" / "vocab.txt"), do_lower_case=True)
    enc = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():  # a random classifier gives every text one label: centre its bias
        hf.classifier.bias.sub_(hf(**enc).logits.mean(0))
        best = hf(**enc).logits.argmax(-1).tolist()
    hf.save_pretrained(tmp_path / "hf")
    assert main(["convert", "--from", "hf", "--to", "ours", "--input", str(tmp_path / "hf"),
                 "--out", str(tmp_path / "ours")]) == 0
    out = capsys.readouterr().out
    assert "BertForSequenceClassification head became the classify head" in out and "--task pair" in out
    (tmp_path / "test.tsv").write_text("text_a\n" + "\n".join(texts) + "\n", encoding="utf-8")
    assert main(["predict", "--model", str(tmp_path / "ours"), "--input", str(tmp_path / "test.tsv"),
                 "--out", str(tmp_path / "pred.tsv"), "--quiet"]) == 0
    rows = (tmp_path / "pred.tsv").read_text(encoding="utf-8").splitlines()
    assert rows[0] == "label"
    expected = [hf.config.id2label[i] for i in best]
    assert rows[1:] == expected
    assert len(set(expected)) > 1  # the texts are told apart, so agreement means something


def test_task_option_and_problem_type_choose_the_task(tmp_path):
    _hf_model("BertForSequenceClassification", tmp_path / "hf", seed=5)
    assert import_hf(tmp_path / "hf", tmp_path / "pair", task="pair").task == "pair"
    assert read_settings(tmp_path / "pair").labels == LABELS
    with pytest.raises(OptionsError, match="--task tag does not fit a BertForSequenceClassification"):
        import_hf(tmp_path / "hf", tmp_path / "x", task="tag")
    _hf_model("BertForSequenceClassification", tmp_path / "reg", id2label={0: "LABEL_0"},
              problem_type="regression")
    assert import_hf(tmp_path / "reg", tmp_path / "reg_ours").task == "regress"
    assert read_settings(tmp_path / "reg_ours").labels is None


def _one_line_error(capsys, *args) -> str:
    capsys.readouterr()  # what came before (transformers' progress bars)
    assert main(["convert", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


def test_unsupported_head_and_missing_labels_are_one_line(tmp_path, capsys):
    cfg = transformers.BertConfig(**CONFIG)
    transformers.BertForMultipleChoice(cfg).save_pretrained(tmp_path / "mc")
    err = _one_line_error(capsys, "--from", "hf", "--to", "ours", "--input", str(tmp_path / "mc"),
                          "--out", str(tmp_path / "o"))
    assert "BertForMultipleChoice" in err and "BertForQuestionAnswering" in err and "--drop-head" in err
    assert not (tmp_path / "o").exists()
    # --drop-head imports the encoder alone, as a pre-trained checkpoint
    assert main(["convert", "--from", "hf", "--to", "ours", "--input", str(tmp_path / "mc"),
                 "--out", str(tmp_path / "o"), "--drop-head"]) == 0
    assert not (tmp_path / "o" / "task.json").exists()
    dropped = [k for k, _ in json.loads((tmp_path / "o" / "convert.json").read_text())["dropped"]]
    assert dropped == ["classifier.bias", "classifier.weight"]

    _hf_model("BertForTokenClassification", tmp_path / "nolabels")
    cfg_file = tmp_path / "nolabels" / "config.json"
    data = json.loads(cfg_file.read_text())
    del data["id2label"]
    data.pop("label2id", None)
    cfg_file.write_text(json.dumps(data))
    err = _one_line_error(capsys, "--from", "hf", "--to", "ours", "--input", str(tmp_path / "nolabels"),
                          "--out", str(tmp_path / "o2"))
    assert "no id2label" in err and "config.json" in err
    with pytest.raises(InputError, match="no id2label"):
        import_hf(tmp_path / "nolabels", tmp_path / "o2")
    assert not (tmp_path / "o2").exists()


@pytest.mark.parametrize("task_name, kw, why", [
    ("tag", {"crf": True}, "CRF"),
    ("classify", {"pooling": "mean"}, "pooling 'mean'"),
])
def test_heads_without_hf_counterpart_are_refused(task_name, kw, why, tmp_path, capsys):
    _our_finetuned(tmp_path / "ours", task_name, ["O", "B-X", "I-X"], seed=6, **kw)
    err = _one_line_error(capsys, "--from", "ours", "--to", "hf", "--input", str(tmp_path / "ours"),
                          "--out", str(tmp_path / "hf"))
    assert why in err and "cannot be written" in err
    assert not (tmp_path / "hf").exists()
    with pytest.raises(MismatchError, match=why):
        export_hf(tmp_path / "ours", tmp_path / "hf")
    # the encoder still goes out with --drop-head, as a pre-training class
    assert main(["convert", "--from", "ours", "--to", "hf", "--input", str(tmp_path / "ours"),
                 "--out", str(tmp_path / "hf"), "--drop-head"]) == 0
    assert json.loads((tmp_path / "hf" / "config.json").read_text())["architectures"] == ["BertForMaskedLM"]


def test_zoo_import_records_the_head(tmp_path):
    from uer_ray.zoo.card import render_card
    from uer_ray.zoo.imports import import_entry
    from uer_ray.zoo.store import Zoo

    hf = _hf_model("BertForTokenClassification", tmp_path / "ner")
    ref = import_entry("hf", tmp_path / "ner", zoo=str(tmp_path / "zoo"), name="hf-ner")[0]
    zoo = Zoo(str(tmp_path / "zoo"))
    entry = zoo.record(ref.name, ref.version)
    assert entry["lineage"]["task"] == "tag" and entry["lineage"]["architecture"] == "BertForTokenClassification"
    card = render_card(entry, zoo.lineage(f"{ref.name}@{ref.version}")[:-1])
    assert "BertForTokenClassification head as task `tag`" in card
    assert "pipeline_tag: token-classification" in card and "python run.py predict --model zoo:hf-ner" in card
    ids, seg = _batch(3)
    got = _our_logits(zoo.checkout(f"{ref.name}@{ref.version}"), ids, seg)
    assert _diff(got, _hf_logits(hf, ids, seg), seg) <= TOL
