"""Does T5 pre-training pay off for text-to-text fine-tuning? The whole loop on bundled data,
through the commands a user runs:

1. ``vocab --sentinels 100``: the Google Chinese WordPiece vocabulary plus <extra_id_0..99>;
2. ``preprocess --processor t5``: span corruption of the bundled CLUECorpusSmall slice
   (``tests/fixtures/data/corpora/CLUECorpusSmall_sampled.txt``, 300 documents);
3. ``pretrain --model PRESET`` for each of ``--presets`` (default ``t5-v1_1-tiny,t5-tiny``: tiny
   T5s, 2+2 layers, hidden 128, RMSNorm, relative position buckets, a shared embedding; v1.1
   with a gated GELU feed-forward and its own output layer, T5 with the tied, rescaled one) for
   ``--steps`` steps on Ray Train;
4. ``finetune --task text2text`` on a task built from the bundled sentences
   (``tests/fixtures/data/corpora/CLUECorpusSmall_bert_sampled.txt``): the source is a sentence
   with a comma, the target its first clause (the text before the first "，"); 1,286 such
   sentences of 12-60 characters with a 4-20 character first clause, the first 1,000 train,
   the next 143 dev, the last 143 test; from each pre-trained T5 and from random weights with
   the same preset;
5. the test BLEU / ROUGE-L / exact match of both (character level), against copying the
   source (BLEU 27: every reference n-gram is in the source, with the rest of it around).

(English -> Chinese on the 300 bundled News Commentary pairs was tried first: 240 training
pairs are too few for a tiny model; both starts and copying scored BLEU 0.)

A third row fine-tunes a plain post-LN transformer encoder-decoder of the same size (``mt``
target, learned positions) from random weights. ``--adam-bias-correction`` runs pre-training
and fine-tuning with torch's bias-corrected AdamW instead of the default BertAdamW: at lr 1e-3
BertAdamW's uncorrected first steps (about 3x larger) leave these models on the unigram plateau.

    .venv/bin/python bench/t5_text2text.py [--steps 300] [--epochs 20] [--presets t5-v1_1-tiny,t5-tiny]
                                           [--adam-bias-correction] [--out runs/bench_t5]

Writes ``bench/results/t5_text2text.{txt,json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "fixtures" / "data"
sys.path.insert(0, str(REPO))


def run(*argv: str) -> float:
    start = time.perf_counter()
    print("$ python run.py " + " ".join(argv), flush=True)
    subprocess.run([sys.executable, str(REPO / "run.py"), *argv], check=True, cwd=REPO)
    return time.perf_counter() - start


def first_clauses() -> list[tuple[str, str]]:
    """(sentence, its first clause) for the bundled sentences that have one of 4-20 characters."""
    lines = (DATA / "corpora" / "CLUECorpusSmall_bert_sampled.txt").read_text(encoding="utf-8").splitlines()
    pairs = []
    for line in lines:
        line = line.strip()
        if "，" in line and 12 <= len(line) <= 60 and "\t" not in line:
            first = line.split("，", 1)[0]
            if 4 <= len(first) <= 20:
                pairs.append((line, first))
    return pairs


def split_pairs(out: Path) -> dict[str, Path]:
    pairs = first_clauses()
    parts = {"train": pairs[:1000], "dev": pairs[1000:1143], "test": pairs[1143:1286]}
    files = {}
    for name, rows in parts.items():
        files[name] = out / f"{name}.tsv"
        with open(files[name], "w", encoding="utf-8") as f:
            f.write("text_a\tlabel\n")
            for en, zh in rows:
                f.write(f"{en.strip()}\t{zh.strip()}\n")
    return files


def test_scores(folder: Path) -> dict:
    record = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    results = record["results"]
    return {**results["test"], "best_epoch": results["best_epoch"], "dev": results["dev"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--presets", default="t5-v1_1-tiny,t5-tiny",
                   help="the tiny T5 presets to pre-train and fine-tune (comma-separated)")
    p.add_argument("--out", default=str(REPO / "runs" / "bench_t5"))
    p.add_argument("--adam-bias-correction", action="store_true",
                   help="torch's bias-corrected AdamW for pre-training and fine-tuning")
    args = p.parse_args()
    adam = ["--adam-bias-correction"] if args.adam_bias_correction else []
    os.environ.setdefault("WANDB_MODE", "disabled")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seconds = {}
    vocab = out / "vocab_sentinels.txt"
    seconds["vocab"] = run("vocab", "--vocab", str(DATA / "vocab" / "google_zh_vocab.txt"),
                           "--sentinels", "100", "--out", str(vocab))
    seconds["preprocess"] = run("preprocess", "--corpus", str(DATA / "corpora" / "CLUECorpusSmall_sampled.txt"),
                                "--processor", "t5", "--tokenizer", "wordpiece", "--vocab", str(vocab),
                                "--seq-length", "128", "--out", str(out / "shards"))
    files = split_pairs(out)
    common = ["--task", "text2text", "--train", str(files["train"]), "--dev", str(files["dev"]),
              "--test", str(files["test"]), "--epochs", str(args.epochs), "--batch-size", "16",
              "--lr", "1e-3", "--seq-length", "64", "--tgt-seq-length", "24", "--quiet", *adam]
    results = {}
    for preset in args.presets.split(","):
        pre = out / preset
        if (pre / "final" / "config.json").exists():
            print(f"reusing the pre-trained model in {pre} (delete it to pre-train again)")
        else:
            seconds[f"pretrain {preset}"] = run(
                "pretrain", "--model", preset, "--data", str(out / "shards"), "--out", str(pre),
                "--steps", str(args.steps), "--batch-size", "16", "--lr", "1e-3", "--warmup", "0.1", *adam)
        seconds[f"finetune pre-trained {preset}"] = run(
            "finetune", *common, "--init", str(pre / "final"), "--out", str(out / f"ft_pretrained_{preset}"))
        seconds[f"finetune scratch {preset}"] = run(
            "finetune", *common, "--model", preset, "--vocab", str(vocab), "--out", str(out / f"ft_scratch_{preset}"))
        results[f"pre-trained {preset}"] = test_scores(out / f"ft_pretrained_{preset}")
        results[f"{preset} from random weights"] = test_scores(out / f"ft_scratch_{preset}")
    plain = out / "transformer-encdec.json"
    plain.write_text(json.dumps({
        "embedding": ["word", "pos"], "encoder": "transformer", "decoder": "transformer",
        "targets": {"mt": 1.0}, "emb_size": 128, "hidden_size": 128, "layers": 2, "heads": 2,
        "ffn_size": 512, "max_seq_length": 128, "dropout": 0.1}), encoding="utf-8")
    seconds["finetune plain transformer"] = run("finetune", *common, "--model", str(plain), "--vocab", str(vocab),
                                                "--out", str(out / "ft_plain"))

    from uer_ray.generate.metrics import score_all

    rows = [line.split("\t") for line in files["test"].read_text(encoding="utf-8").splitlines()[1:]]
    copy = score_all([en for en, _ in rows], [zh for _, zh in rows])
    results["post-LN transformer, random"] = test_scores(out / "ft_plain")
    results["copy the source"] = copy
    width = max(map(len, results)) + 1
    lines = [f"T5 pre-training then text2text (first clause of a sentence, 1,000 train / 143 dev / 143 test), "
             f"{time.strftime('%Y-%m-%d %H:%M')}, 2-core CPU",
             f"command: .venv/bin/python bench/t5_text2text.py --steps {args.steps} --epochs {args.epochs}"
             + (f" --presets {args.presets}" if args.presets != "t5-v1_1-tiny,t5-tiny" else "")
             + (" --adam-bias-correction" if args.adam_bias_correction else ""),
             "", f"{'model':{width}s} {'BLEU':>7s} {'ROUGE-L':>8s} {'exact':>6s}"]
    for name, s in results.items():
        lines.append(f"{name:{width}s} {s.get('bleu', float('nan')):7.2f} {s.get('rouge_l', float('nan')):8.2f} "
                     f"{s.get('exact_match', float('nan')):6.1f}")
    lines += ["", "seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items())]
    text = "\n".join(lines)
    print(text)
    results_dir = REPO / "bench" / "results"
    stem = "t5_text2text" + ("_bias_corrected" if args.adam_bias_correction else "")
    (results_dir / f"{stem}.txt").write_text(text + "\n", encoding="utf-8")
    (results_dir / f"{stem}.json").write_text(json.dumps({"results": results, "seconds": seconds,
                                                               "steps": args.steps, "epochs": args.epochs},
                                                              indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
