"""Real data for ``multi_label`` and ``siamese``, derived from the bundled data sets (no new
download), written as the tasks' TSV files:

- multi-label, from MSRA NER (Levow 2006): an example is a sentence (the characters of
  ``text_a`` joined without spaces) and its labels are the entity types its BIO tags contain
  (``LOC``, ``ORG``, ``PER``, comma-separated; an empty cell for a sentence without entities).
  The shared data has MSRA's dev and test sets only; as for NER (docs/finetune.md) the model
  trains on ``dev.tsv``, and ``test.tsv`` is cut in two halves: dev (first) and test (second).
- LCQMC-like sentence pairs, from Douban book review: two reviews of the same split form a pair;
  label 1 when they carry the same sentiment, 0 when not, half of each (a pair never repeats a
  review). The same file serves ``--siamese-objective classify`` (labels 0/1) and ``cosine``
  (scores 1.0/0.0); ``simcse.tsv`` holds the training reviews alone (column ``text_a``).
- sentence pairs from CLUECorpusSmall (UER-py's BERT corpus: one sentence per line, documents
  separated by blank lines; ``--pairs-from documents``): label 1 for two sentences of the same
  document, 0 for sentences of two different documents, half of each. The documents are split
  80/10/10 into train, dev and test (no document in two splits); ``simcse.tsv`` holds training
  sentences alone.

    .venv/bin/python bench/tower_data.py [--data ../shared/data] [--out runs/tower_data]
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from uer_ray.tasks.metrics import entity_spans  # noqa: E402
from uer_ray.tasks.readers import read_tsv  # noqa: E402


def msra_multilabel(ner_tsv: str | Path) -> list[tuple[str, str]]:
    """(labels, text) per sentence of an MSRA NER file (columns ``text_a``, ``label``)."""
    out = []
    for row in read_tsv(ner_tsv, ("text_a", "label")):
        kinds = sorted({kind for kind, _, _ in entity_spans(row.cells["label"].split())})
        out.append((",".join(kinds), "".join(row.cells["text_a"].split())))
    return out


def sentiment_pairs(review_tsv: str | Path, n: int, seed: int) -> list[tuple[str, str, str]]:
    """``n`` (label, text_a, text_b) pairs of distinct reviews of a book review file (columns
    ``label``, ``text_a``): label 1 for the same sentiment, 0 for opposite ones, alternating."""
    rng = random.Random(seed)
    by_label: dict[str, list[str]] = {}
    for row in read_tsv(review_tsv, ("label", "text_a")):
        by_label.setdefault(row.cells["label"], []).append(row.cells["text_a"])
    if len(by_label) != 2:
        raise SystemExit(f"{review_tsv}: expected two sentiment labels, found {sorted(by_label)}")
    pools = [rng.sample(v, len(v)) for _, v in sorted(by_label.items())]  # shuffled, drawn from the end
    out = []
    for i in range(n):
        same = i % 2 == 0
        first = rng.randrange(2)
        second = first if same else 1 - first
        if len(pools[first]) < 2 or not pools[second]:
            raise SystemExit(f"{review_tsv}: not enough reviews for {n} pairs")
        a = pools[first].pop()
        b = pools[second].pop()
        out.append(("1" if same else "0", a, b))
    return out


def documents(corpus: str | Path) -> list[list[str]]:
    """The documents of a one-sentence-per-line corpus (blank lines between documents), those
    with at least two sentences."""
    docs, current = [], []
    for line in Path(corpus).read_text(encoding="utf-8").split("\n"):
        line = line.strip().replace("\t", " ")
        if line:
            current.append(line)
        elif current:
            docs.append(current)
            current = []
    docs.append(current)
    return [d for d in docs if len(d) >= 2]


def document_pairs(docs: list[list[str]], n: int, seed: int) -> list[tuple[str, str, str]]:
    """``n`` (label, text_a, text_b) pairs: 1 for two sentences of one document, 0 for sentences
    of two different documents, alternating."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        first = rng.randrange(len(docs))
        if i % 2 == 0:
            a, b = rng.sample(docs[first], 2)
        else:
            second = rng.choice([j for j in range(len(docs)) if j != first])
            a, b = rng.choice(docs[first]), rng.choice(docs[second])
        out.append(("1" if i % 2 == 0 else "0", a, b))
    return out


def write(path: Path, header: list[str], rows: list[tuple[str, ...]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\t".join(header) + "\n")
        f.writelines("\t".join(r) + "\n" for r in rows)
    return path


def build(data: Path, out: Path, pairs: tuple[int, int, int] = (4000, 1000, 1000),
          pairs_from: str = "sentiment") -> dict[str, Path]:
    """Write the derived files under ``out``; returns their paths by name. ``pairs_from``:
    ``sentiment`` (book review) or ``documents`` (CLUECorpusSmall sentences)."""
    files = {}
    train = msra_multilabel(data / "datasets/msra_ner/dev.tsv")
    held = msra_multilabel(data / "datasets/msra_ner/test.tsv")
    half = len(held) // 2
    for split, rows in (("train", train), ("dev", held[:half]), ("test", held[half:])):
        files[f"msra_{split}"] = write(out / "msra_multilabel" / f"{split}.tsv", ["label", "text_a"], rows)
    if pairs_from == "documents":
        docs = documents(data / "corpora/CLUECorpusSmall_bert_sampled.txt")
        cut = [0, len(docs) * 8 // 10, len(docs) * 9 // 10, len(docs)]
        for k, split in enumerate(("train", "dev", "test")):
            rows = document_pairs(docs[cut[k]:cut[k + 1]], pairs[k], seed=k + 1)
            files[f"pairs_{split}"] = write(out / "document_pairs" / f"{split}.tsv",
                                            ["label", "text_a", "text_b"], rows)
        texts = [(t,) for d in docs[: cut[1]] for t in d]
        files["simcse_train"] = write(out / "document_pairs" / "simcse.tsv", ["text_a"],
                                      random.Random(4).sample(texts, min(pairs[0], len(texts))))
        return files
    for (split, n), seed in zip(zip(("train", "dev", "test"), pairs, strict=True), (1, 2, 3), strict=True):
        rows = sentiment_pairs(data / f"datasets/book_review/{split}.tsv", n, seed)
        files[f"pairs_{split}"] = write(out / "review_pairs" / f"{split}.tsv",
                                        ["label", "text_a", "text_b"], rows)
    texts = [(r.cells["text_a"],) for r in read_tsv(data / "datasets/book_review/train.tsv", ("text_a",))]
    files["simcse_train"] = write(out / "review_pairs" / "simcse.tsv", ["text_a"],
                                  random.Random(4).sample(texts, pairs[0]))
    return files


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    p.add_argument("--out", default=str(REPO / "runs" / "tower_data"))
    p.add_argument("--pairs-from", choices=("sentiment", "documents"), default="sentiment")
    args = p.parse_args()
    for name, path in build(Path(args.data), Path(args.out), pairs_from=args.pairs_from).items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
