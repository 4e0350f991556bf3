"""``run.py convert``: Hugging Face -> uer_ray -> Hugging Face through the command line, with the
tokenizer files carried along, a summary paragraph, ``convert.json``, and one-line errors that
leave no output behind."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import torch
from uer_testing import REPO

transformers = pytest.importorskip("transformers")

import uer_ray  # noqa: E402
from uer_ray.cli import main  # noqa: E402

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ["the", "cat", "sat", "on", "mat", "dog", "##s", "ran", "a", "far"]


def _tiny_bert(path, cls=transformers.BertForPreTraining):
    """A 2-layer BERT saved as Hugging Face does, with a vocab.txt that fits its vocabulary."""
    vocab = SPECIALS + WORDS + [f"w{i}" for i in range(64 - len(SPECIALS) - len(WORDS))]
    torch.manual_seed(0)
    model = cls(transformers.BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2,
                                        num_attention_heads=4, intermediate_size=48,
                                        max_position_embeddings=32)).eval()
    model.save_pretrained(path)
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    (path / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}))
    return model


def test_round_trip_through_run_py(tmp_path):
    hf = _tiny_bert(tmp_path / "hf")
    cmd = [sys.executable, "run.py", "convert", "--from", "hf", "--to", "ours",
           "--input", str(tmp_path / "hf"), "--out", str(tmp_path / "ours")]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "BertForPreTraining" in done.stdout and "come from it" in done.stdout
    report = json.loads((tmp_path / "ours" / "convert.json").read_text())
    assert report["direction"] == "hf->ours" and report["fresh"] == []

    model = uer_ray.load_model(tmp_path / "ours")
    assert model.tokenizer is not None and model.tokenizer.lowercase
    ids = [model.tokenizer.cls_id, *model.tokenizer.encode("The cats ran far"), model.tokenizer.sep_id]
    assert ids[1:-1] == transformers.BertTokenizer(str(tmp_path / "hf" / "vocab.txt")).convert_tokens_to_ids(
        ["the", "cat", "##s", "ran", "far"])

    assert main(["convert", "--from", "ours", "--to", "hf", "--input", str(tmp_path / "ours"),
                 "--out", str(tmp_path / "back")]) == 0
    back = transformers.AutoModelForPreTraining.from_pretrained(tmp_path / "back").eval()
    tok = transformers.AutoTokenizer.from_pretrained(tmp_path / "back")
    enc = tok("The cats ran far", return_tensors="pt")
    assert enc["input_ids"][0].tolist() == ids
    with torch.no_grad():
        a = hf(**enc).prediction_logits
        b = back(**enc).prediction_logits
    assert (a - b).abs().max().item() < 1e-5

    # without the kept originals, the uer_ray wordpiece vocabulary is written for BertTokenizer
    shutil.rmtree(tmp_path / "ours" / "hf_tokenizer")
    assert main(["convert", "--from", "ours", "--to", "hf", "--input", str(tmp_path / "ours"),
                 "--out", str(tmp_path / "back2")]) == 0
    tok2 = transformers.AutoTokenizer.from_pretrained(tmp_path / "back2")
    assert tok2("The cats ran far")["input_ids"] == ids


def test_bert_model_summary_names_the_fresh_heads(tmp_path, capsys):
    _tiny_bert(tmp_path / "hf", transformers.BertModel)
    assert main(["convert", "--from", "hf", "--to", "ours", "--input", str(tmp_path / "hf"),
                 "--out", str(tmp_path / "ours")]) == 0
    out = capsys.readouterr().out
    assert "BertModel" in out and "freshly initialised" in out and "targets.mlm" in out
    report = json.loads((tmp_path / "ours" / "convert.json").read_text())
    # the pooler exists in a BertModel and is kept; only the NSP classifier is new
    assert "targets.sp.pooler.weight" not in report["fresh"]
    assert "targets.sp.output.weight" in report["fresh"]


def test_gpt2_tokenizer_files_survive_the_round_trip(tmp_path):
    src = tmp_path / "hf"
    cfg = transformers.GPT2Config(vocab_size=40, n_embd=32, n_layer=2, n_head=4, n_positions=16,
                                  bos_token_id=0, eos_token_id=0)
    transformers.GPT2LMHeadModel(cfg).save_pretrained(src)
    (src / "vocab.json").write_text(json.dumps({chr(97 + i): i for i in range(26)}))
    (src / "merges.txt").write_text("#version: 0.2\na b\n")
    assert main(["convert", "--from", "hf", "--to", "ours", "--input", str(src), "--out", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "hf_tokenizer" / "merges.txt").is_file()
    # converting again replaces an earlier convert output without --overwrite
    assert main(["convert", "--from", "hf", "--to", "ours", "--input", str(src), "--out", str(tmp_path / "o")]) == 0
    assert main(["convert", "--from", "ours", "--to", "hf", "--input", str(tmp_path / "o"),
                 "--out", str(tmp_path / "back")]) == 0
    for name in ("vocab.json", "merges.txt"):
        assert (tmp_path / "back" / name).read_bytes() == (src / name).read_bytes()
    assert json.loads((tmp_path / "back" / "config.json").read_text())["architectures"] == ["GPT2LMHeadModel"]


def test_errors_are_one_line_and_leave_nothing_behind(tmp_path, capsys):
    def convert(*args):
        return main(["convert", *args])

    assert convert("--from", "hf", "--to", "ours", "--input", str(tmp_path / "missing"),
                   "--out", str(tmp_path / "o")) == 2
    assert "no such folder" in capsys.readouterr().err

    (tmp_path / "empty").mkdir()
    assert convert("--from", "hf", "--to", "ours", "--input", str(tmp_path / "empty"),
                   "--out", str(tmp_path / "o")) == 2
    assert "no config.json" in capsys.readouterr().err

    (tmp_path / "empty" / "config.json").write_text('{"model_type": "bert", "vocab_size": 10}')
    assert convert("--from", "hf", "--to", "ours", "--input", str(tmp_path / "empty"),
                   "--out", str(tmp_path / "o")) == 2
    assert "no weights found" in capsys.readouterr().err

    assert convert("--from", "hf", "--to", "hf", "--input", str(tmp_path / "empty"),
                   "--out", str(tmp_path / "o")) == 2
    assert "nothing to convert" in capsys.readouterr().err

    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "notes.txt").write_text("keep me")
    assert convert("--from", "hf", "--to", "ours", "--input", str(tmp_path / "empty"),
                   "--out", str(tmp_path / "precious")) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "precious" / "notes.txt").read_text() == "keep me"

    lstm = uer_ray.build_model(uer_ray.load_preset("lstm"), vocab_size=30)
    uer_ray.models.save_pretrained(lstm, tmp_path / "lstm")
    assert convert("--from", "ours", "--to", "hf", "--input", str(tmp_path / "lstm"),
                   "--out", str(tmp_path / "o")) == 2
    err = capsys.readouterr().err
    assert "no Hugging Face BART / BERT / GPT-2 / T5 equivalent" in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".o.tmp")]
