"""``run.py zoo`` end to end in-process: every action's output, and one-line errors (exit 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from zoo_helpers import finetuned, pretrained

from uer_ray.cli import main
from uer_ray.zoo import Zoo


def zoo_cli(capsys, *argv):
    code = main(["zoo", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_publish_list_show_lineage_diff_alias_verify_remove(tmp_path, capsys):
    pt1, pt2 = pretrained(tmp_path, "pt1"), pretrained(tmp_path, "pt2", seed=5, shards="/s/wiki_zh", loss=2.5)
    for ckpt in (pt1, pt2):
        assert zoo_cli(capsys, "publish", ckpt, "--quiet")[0] == 0
    code, out, _ = zoo_cli(capsys, "publish", finetuned(tmp_path, pt1 / "final", "ft1"), "--alias",
                           "best-book_review", "--label", "search=s1", "--quiet")
    assert code == 0 and "fine-tuned from cluecorpussmall+bert-tiny+mlm-sp@" in out
    finetuned(tmp_path, pt2 / "final", "ft2", dev={"accuracy": 0.9})
    assert zoo_cli(capsys, "publish", tmp_path / "ft2", "--quiet")[0] == 0

    code, out, _ = zoo_cli(capsys, "list")
    assert code == 0 and out.splitlines()[0].split()[:4] == ["NAME", "VERSION", "KIND", "ENCODER"]
    assert "4 version(s) of 4 entries" in out
    # "which pre-trained model is best for book_review?": ranked by its fine-tuned children
    code, out, _ = zoo_cli(capsys, "list", "--kind", "pre-trained", "--dataset", "book_review", "--sort", "accuracy")
    rows = [ln.split() for ln in out.splitlines()[1:3]]
    assert [r[0] for r in rows] == ["wiki_zh+bert-tiny+mlm-sp", "cluecorpussmall+bert-tiny+mlm-sp"]
    assert [r[6] for r in rows] == ["0.9000", "0.8125"] and "best dev accuracy first" in out
    code, out, _ = zoo_cli(capsys, "list", "--encoder", "lstm")
    assert "match the filters" in out
    code, out, _ = zoo_cli(capsys, "list", "--target", "sp", "--json")
    assert len(json.loads(out)) == 4

    name = "cluecorpussmall+bert-tiny+mlm-sp+book_review"
    code, out, _ = zoo_cli(capsys, "show", f"{name}@best-book_review")
    assert code == 0 and "aliases: best-book_review, latest" in out and "accuracy  0.8125" in out
    assert '"search": "s1"' in out and "model.safetensors" in out
    code, out, _ = zoo_cli(capsys, "show", name, "--card")
    assert out.startswith("---\nlibrary_name: uer_ray")
    code, out, _ = zoo_cli(capsys, "lineage", f"{name}@latest")
    lines = out.splitlines()
    assert lines[0].startswith("cluecorpussmall+bert-tiny+mlm-sp@") and "[pre-trained]" in lines[0]
    assert "└─ cluecorpussmall+bert-tiny+mlm-sp+book_review@" in lines[1] and "fine-tuned from" in lines[1]
    code, out, _ = zoo_cli(capsys, "diff", "cluecorpussmall+bert-tiny+mlm-sp", "wiki_zh+bert-tiny+mlm-sp")
    assert "training.loss_last" in out and "3.25" in out and "2.5" in out

    version = Zoo().resolve(name)[1]
    assert zoo_cli(capsys, "alias", f"{name}@{version}", "stable")[0] == 0
    assert Zoo().aliases(name)["stable"] == version
    assert zoo_cli(capsys, "alias", f"{name}@stable", "--delete")[0] == 0
    assert "stable" not in Zoo().aliases(name)

    code, out, _ = zoo_cli(capsys, "verify", "--quiet")
    assert code == 0 and "4 intact, 0 damaged" in out
    code, out, _ = zoo_cli(capsys, "export", name, "--out", tmp_path / "exported", "--quiet")
    assert code == 0 and (tmp_path / "exported" / "task.json").is_file()
    code, out, _ = zoo_cli(capsys, "remove", f"{name}@latest")
    assert code == 0 and Zoo().versions(name) == []


def test_export_hf_carries_the_card(tmp_path, capsys):
    zoo_cli(capsys, "publish", pretrained(tmp_path), "--name", "tiny", "--quiet")
    code, out, err = zoo_cli(capsys, "export", "tiny", "--hf", "--out", tmp_path / "hf", "--quiet")
    assert code == 0, err
    assert "BertForPreTraining" in out and (tmp_path / "hf" / "model.safetensors").is_file()
    card = (tmp_path / "hf" / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: transformers\n")


def test_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    zoo_cli(capsys, "publish", pretrained(tmp_path), "--name", "base", "--quiet")
    zoo_cli(capsys, "publish", finetuned(tmp_path, tmp_path / "pt" / "final"), "--quiet")
    cases = [
        (["publish", tmp_path / "empty"], "not a checkpoint folder"),
        (["show", "bsae"], "did you mean 'base'"),
        (["show", "base@lates"], "did you mean 'latest'"),
        (["publish", tmp_path / "pt", "--name", "No Spaces"], "invalid zoo entry name"),
        (["remove", "base@latest"], "is the parent of"),
        (["remove", "base"], "name the version to remove"),
        (["alias", "base@latest", "latest"], "always names the newest"),
        (["list", "--zoo", "s3://b/z?endpoint_override=127.0.0.1:1&scheme=http"],
         "in the store s3://b/z?endpoint_override=127.0.0.1:1"),
    ]
    for argv, needle in cases:
        code, _, err = zoo_cli(capsys, *argv)
        assert code == 2 and needle in err and err.count("\n") == 1, (argv, err)


def test_verify_and_gc_report_damage_and_interrupted_publishes(tmp_path, capsys):
    zoo_cli(capsys, "publish", pretrained(tmp_path), "--name", "base", "--quiet")
    name, version = Zoo().resolve("base")
    weights = Zoo().storage.path(name, "versions", version, "model.safetensors")
    with open(weights, "r+b") as f:
        f.seek(200)
        b = f.read(1)
        f.seek(200)
        f.write(bytes([b[0] ^ 0xFF]))
    code = ("import os, signal, sys; from uer_ray import zoo; "
            "zoo.publish(sys.argv[1], name='base', progress=lambda n: os.kill(os.getpid(), signal.SIGKILL))")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "pt")], env={**os.environ, "PYTHONPATH": os.getcwd()})
    code, out, _ = zoo_cli(capsys, "verify", "--quiet")
    assert code == 1 and f"BAD base@{version}" in out and "model.safetensors: sha256" in out
    assert "INCOMPLETE base/versions/" in out and "1 damaged; 1 incomplete publish(es)" in out
    code, out, _ = zoo_cli(capsys, "gc", "--older-than", "0")
    assert code == 0 and "Removed 1 incomplete" in out and Zoo().orphans() == []
