"""Benchmark: ``multi_label`` and ``siamese`` on real data derived from the bundled sets
(``bench/tower_data.py``): entity types of MSRA NER sentences, and sentence pairs: two
sentences of one CLUECorpusSmall document against two documents' (``--pairs-from documents``,
the default) or book reviews of the same / different sentiment (``--pairs-from sentiment``). Every model is ``bert-tiny`` from random initialisation (no
pre-training; Google's Chinese vocabulary), so the numbers say what the tasks learn from the
fine-tuning data alone.

    .venv/bin/python bench/finetune_towers.py [--data ../shared/data] [--out runs/bench_towers]

Rows: multi-label micro/macro F1 on test against two constant predictors (always the most
frequent training label; always every label); siamese ``classify`` pair accuracy against
chance (the majority class of test); siamese ``cosine`` Spearman; unsupervised SimCSE's effect
on the test pairs' cosine Spearman (``uer_ray.embed`` of the model before and after SimCSE,
and of the cosine-trained model). Writes ``bench/results/finetune_towers.{txt,json}``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import numpy as np  # noqa: E402
import tower_data  # noqa: E402

import uer_ray  # noqa: E402
from uer_ray.tasks.metrics import regression_metrics  # noqa: E402
from uer_ray.tasks.multi_label import multilabel_metrics, split_labels  # noqa: E402
from uer_ray.tasks.readers import read_tsv  # noqa: E402


def command(o: uer_ray.FinetuneOptions) -> str:
    """The ``run.py finetune`` line of ``o`` (the options that differ from the defaults)."""
    default = uer_ray.FinetuneOptions(task=o.task, train=o.train, dev=o.dev, out=o.out)
    parts = ["python run.py finetune"]
    for name, value in o.to_dict().items():
        if name == "progress" and value is False:
            parts.append("--quiet")
        elif value != getattr(default, name) or name in ("task", "train", "dev", "out"):
            flag = "--" + name.replace("_", "-")
            parts.append(flag if value is True else f"{flag} {shlex.quote(str(value))}")
    return " ".join(parts)


def finetune(log: dict, name: str, **options) -> dict:
    o = uer_ray.FinetuneOptions(**options)
    log["commands"][name] = command(o)
    print(f"\n$ {log['commands'][name]}", flush=True)
    start = time.perf_counter()
    record = uer_ray.finetune(o)
    log["seconds"][name] = round(time.perf_counter() - start, 1)
    return record["results"]


def label_matrix(path: Path, names: list[str]) -> np.ndarray:
    rows = read_tsv(path, ("label", "text_a"))
    return np.array([[n in split_labels(r.cells["label"], str(path), r.line) for n in names] for r in rows])


def pair_spearman(model, path: Path, seq_length: int) -> float:
    rows = read_tsv(path, ("label", "text_a", "text_b"))
    u = uer_ray.embed(model, [r.cells["text_a"] for r in rows], pooling="mean", seq_length=seq_length)
    v = uer_ray.embed(model, [r.cells["text_b"] for r in rows], pooling="mean", seq_length=seq_length)
    cos = (u * v).sum(1) / (np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1))
    return regression_metrics([float(r.cells["label"]) for r in rows], cos.tolist())["spearman"]


def write_results(log: dict) -> None:
    """The table (printed, and bench/results/finetune_towers.txt) and the JSON record."""
    res, a = log["results"], log["settings"]
    m, c = res["multi_label"], res["siamese_classify"]
    lines = [
        "finetune_towers: bert-tiny from random initialisation, seq length "
        f"{a['seq_length']}, {a['epochs']} epochs, lr {a['lr']}, batch 32, CPU",
        "",
        f"{'task / data':58} {'metric (test)':22} {'model':>7} {'baseline':>9}",
    ]
    for name, b in m["baselines"].items():
        lines.append(f"{'multi_label / MSRA entity types (' + name + ')':58} {'micro F1':22} "
                     f"{m['test']['micro_f1']:7.3f} {b['micro_f1']:9.3f}")
        lines.append(f"{'':58} {'macro F1':22} {m['test']['macro_f1']:7.3f} {b['macro_f1']:9.3f}")
    lines.append(f"{'':58} {'per label F1':22} " + ", ".join(f"{k} {v:.3f}" for k, v in m["per_label_f1"].items())
                 + f" (threshold {m['test']['threshold']:.3f}, tuned on dev)")
    pairs = {"sentiment": "book-review same-sentiment pairs",
             "documents": "CLUECorpus same-document sentence pairs"}[a.get("pairs_from", "sentiment")]
    lines.append(f"{'siamese classify / ' + pairs:58} {'accuracy':22} "
                 f"{c['test_accuracy']:7.3f} {c['chance_majority_class']:9.3f}")
    lines.append(f"{'siamese cosine / the same pairs (score 1/0)':58} {'Spearman':22} "
                 f"{res['siamese_cosine']['test_spearman']:7.3f} {0.0:9.3f}")
    s = res["simcse"]
    simcse = f"siamese simcse / {log['results']['simcse']['sentences']} sentences alone, scored on pairs"
    lines.append(f"{simcse:58} {'Spearman of cos(u,v)':22} "
                 f"{s['test_spearman_after_simcse']:7.3f} {s['test_spearman_random_init']:9.3f}  (baseline: the random init)")
    lines += ["", "seconds: " + ", ".join(f"{k} {v}" for k, v in log["seconds"].items()), "", "commands:"]
    lines += [f"  {k}: {v}" for k, v in log["commands"].items()]
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    results = REPO / "bench" / "results"
    name = a.get("name", "finetune_towers")
    (results / f"{name}.txt").write_text(text, encoding="utf-8")
    (results / f"{name}.json").write_text(json.dumps(log, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    p.add_argument("--out", default=str(REPO / "runs" / "bench_towers"))
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--seq-length", type=int, default=64)
    p.add_argument("--pairs", default="2000,500,1000", help="train,dev,test pairs")
    p.add_argument("--pairs-from", choices=("sentiment", "documents"), default="documents",
                   help="siamese pairs: same/different sentiment of book reviews, or two sentences "
                   "of one CLUECorpusSmall document against sentences of two documents")
    p.add_argument("--name", default="finetune_towers", help="bench/results/NAME.{txt,json}")
    p.add_argument("--render", action="store_true", help="only rewrite the table from the JSON record")
    args = p.parse_args()
    if args.render:
        write_results(json.loads((REPO / "bench" / "results" / f"{args.name}.json").read_text(encoding="utf-8")))
        return
    data, out = Path(args.data), Path(args.out)
    files = tower_data.build(data, out / "data", tuple(int(x) for x in args.pairs.split(",")),
                             args.pairs_from)
    common = {"model": "bert-tiny", "vocab": str(data / "vocab" / "google_zh_vocab.txt"),
              "tokenizer": "wordpiece", "epochs": args.epochs, "lr": args.lr, "batch_size": 32,
              "seq_length": args.seq_length, "device": "cpu", "progress": False, "wandb_mode": "disabled"}
    log = {"settings": vars(args), "model": "bert-tiny, random initialisation (seed 7)",
           "commands": {}, "seconds": {}, "results": {}}
    res = log["results"]

    # multi-label: entity types of MSRA sentences
    ml = finetune(log, "multi_label", task="multi_label", train=str(files["msra_train"]),
                  dev=str(files["msra_dev"]), test=str(files["msra_test"]),
                  out=str(out / "multi_label"), **common)
    names = ml["labels"]
    train, test = label_matrix(files["msra_train"], names), label_matrix(files["msra_test"], names)
    top = np.zeros_like(test)
    top[:, int(train.sum(0).argmax())] = True
    constant = {"always " + names[int(train.sum(0).argmax())]: multilabel_metrics(test, top, names),
                "always every label": multilabel_metrics(test, np.ones_like(test), names)}
    res["multi_label"] = {
        "test": {k: ml["test"][k] for k in ("micro_f1", "macro_f1", "micro_precision",
                                             "micro_recall", "subset_accuracy", "threshold")},
        "per_label_f1": {k: v["f1"] for k, v in ml["test"]["per_label"].items()},
        "baselines": {k: {"micro_f1": v["micro_f1"], "macro_f1": v["macro_f1"]} for k, v in constant.items()},
        "examples": ml["examples"], "label_frequency_train": dict(zip(names, train.mean(0).round(3).tolist(), strict=True)),
    }

    # siamese on same / different sentiment pairs
    pairs = {"train": str(files["pairs_train"]), "dev": str(files["pairs_dev"]), "test": str(files["pairs_test"])}
    cls = finetune(log, "siamese_classify", task="siamese", **pairs, out=str(out / "siamese_classify"), **common)
    gold = [r.cells["label"] for r in read_tsv(files["pairs_test"], ("label",))]
    majority = max(gold.count("0"), gold.count("1")) / len(gold)
    res["siamese_classify"] = {"test_accuracy": cls["test"]["accuracy"], "dev_accuracy": cls["dev"]["accuracy"],
                               "chance_majority_class": majority}
    cos = finetune(log, "siamese_cosine", task="siamese", siamese_objective="cosine", **pairs,
                   out=str(out / "siamese_cosine"), **common)
    res["siamese_cosine"] = {"test_spearman": cos["test"]["spearman"], "test_pearson": cos["test"]["pearson"]}

    # SimCSE: the cosine of mean-pooled vectors before and after unsupervised training
    sim = finetune(log, "simcse", task="siamese", siamese_objective="simcse",
                   train=str(files["simcse_train"]), dev=pairs["dev"], test=pairs["test"],
                   out=str(out / "simcse"), **common)
    import torch

    from uer_ray.models import build_model, load_preset
    from uer_ray.tokenizers import build_tokenizer

    tokenizer = build_tokenizer("wordpiece", vocab=common["vocab"])
    torch.manual_seed(7)
    fresh = build_model(load_preset("bert-tiny"), vocab_size=tokenizer.vocab_size)
    fresh.tokenizer = tokenizer
    res["simcse"] = {
        "test_spearman_random_init": pair_spearman(fresh, files["pairs_test"], args.seq_length),
        "test_spearman_after_simcse": sim["test"]["spearman"],
        "test_spearman_after_simcse_embed": pair_spearman(str(out / "simcse"), files["pairs_test"], args.seq_length),
        "test_spearman_cosine_objective": res["siamese_cosine"]["test_spearman"],
        "sentences": len(read_tsv(files["simcse_train"], ("text_a",))),
    }

    write_results(log)


if __name__ == "__main__":
    main()
