"""Does T5 pre-training pay off for text-to-text fine-tuning? The whole loop on bundled data,
through the commands a user runs:

1. ``vocab --sentinels 100``: the Google Chinese WordPiece vocabulary plus <extra_id_0..99>;
2. ``preprocess --processor t5``: span corruption of the bundled CLUECorpusSmall slice
   (``tests/fixtures/data/corpora/CLUECorpusSmall_sampled.txt``, 300 documents);
3. ``pretrain --model t5-tiny``: a tiny T5 (2+2 layers, hidden 128, RMSNorm, relative position
   buckets, shared embedding) for ``--steps`` steps on Ray Train;
4. ``finetune --task text2text``: English -> Chinese on the bundled News Commentary pairs
   (``tests/fixtures/data/corpora/news-commentary-v13-en-zh_sampled.txt``: 300 pairs; the first
   240 train, the next 30 dev, the last 30 test), from the pre-trained T5 and from random
   weights with the same preset;
5. the test BLEU / ROUGE-L / exact match of both (character level: the references are
   Chinese), against the copy-the-source baseline (the English source as the output).

    .venv/bin/python bench/t5_text2text.py [--steps 300] [--epochs 20] [--out runs/bench_t5]

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


def split_pairs(out: Path) -> dict[str, Path]:
    lines = (DATA / "corpora" / "news-commentary-v13-en-zh_sampled.txt").read_text(encoding="utf-8").splitlines()
    pairs = [p.split("\t") for p in lines if len(p.split("\t")) == 2 and all(x.strip() for x in p.split("\t"))]
    parts = {"train": pairs[:240], "dev": pairs[240:270], "test": pairs[270:300]}
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
    return {k.split("/", 1)[1]: v for k, v in record.items() if k.startswith("test/") and
            k.split("/", 1)[1] in ("bleu", "rouge_l", "exact_match")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--out", default=str(REPO / "runs" / "bench_t5"))
    args = p.parse_args()
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
    seconds["pretrain"] = run("pretrain", "--model", "t5-tiny", "--data", str(out / "shards"),
                              "--out", str(out / "t5"), "--steps", str(args.steps), "--batch-size", "16",
                              "--lr", "1e-3", "--warmup", "0.1")
    files = split_pairs(out)
    common = ["--task", "text2text", "--train", str(files["train"]), "--dev", str(files["dev"]),
              "--test", str(files["test"]), "--epochs", str(args.epochs), "--batch-size", "16",
              "--lr", "1e-3", "--seq-length", "64", "--tgt-seq-length", "64", "--quiet"]
    seconds["finetune pre-trained"] = run("finetune", *common, "--init", str(out / "t5" / "final"),
                                          "--out", str(out / "ft_pretrained"))
    seconds["finetune scratch"] = run("finetune", *common, "--model", "t5-tiny", "--vocab", str(vocab),
                                      "--out", str(out / "ft_scratch"))

    from uer_ray.generate.metrics import score_all

    rows = [line.split("\t") for line in files["test"].read_text(encoding="utf-8").splitlines()[1:]]
    copy = score_all([en for en, _ in rows], [zh for _, zh in rows])
    results = {"pre-trained t5-tiny": test_scores(out / "ft_pretrained"),
               "t5-tiny from random weights": test_scores(out / "ft_scratch"),
               "copy the source": copy}
    lines = [f"T5 pre-training then text2text (en->zh, 240 train / 30 dev / 30 test pairs), "
             f"{time.strftime('%Y-%m-%d %H:%M')}, 2-core CPU",
             f"command: .venv/bin/python bench/t5_text2text.py --steps {args.steps} --epochs {args.epochs}",
             "", f"{'model':30s} {'BLEU':>7s} {'ROUGE-L':>8s} {'exact':>6s}"]
    for name, s in results.items():
        lines.append(f"{name:30s} {s.get('bleu', float('nan')):7.2f} {s.get('rouge_l', float('nan')):8.2f} "
                     f"{s.get('exact_match', float('nan')):6.1f}")
    lines += ["", "seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items())]
    text = "\n".join(lines)
    print(text)
    results_dir = REPO / "bench" / "results"
    (results_dir / "t5_text2text.txt").write_text(text + "\n", encoding="utf-8")
    (results_dir / "t5_text2text.json").write_text(json.dumps({"results": results, "seconds": seconds,
                                                               "steps": args.steps, "epochs": args.epochs},
                                                              indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
