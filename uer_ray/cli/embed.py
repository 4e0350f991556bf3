"""``run.py embed``: sentence vectors of a text file (one text per line) written as a NumPy
``.npy`` matrix, row i = line i (``uer_ray.embed``, docs/finetune.md): from a pre-trained or a
fine-tuned model (a ``siamese`` one: its ``text_a`` tower), with optional BERT-whitening, fitted
on the file (``--whiten N``, saved next to the output) or loaded (``--whitening FILE``)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="a checkpoint folder (pretrain --out, finetune "
                   "--out, convert --out), zoo:NAME[@VERSION|@ALIAS] or a URI")
    p.add_argument("--zoo", help="zoo for a zoo: --model (default UER_RAY_ZOO)")
    p.add_argument("--input", required=True, help="a text file, one text per line, or a task's TSV "
                   "(a header with text_a: that column)")
    p.add_argument("--out", required=True, help="the .npy file to write: (lines, dim) float32")
    p.add_argument("--pooling", choices=["mean", "cls", "first", "max", "last"],
                   help="how a vector is read off the hidden states (default: a fine-tuned "
                   "model's own, else mean; cls = first)")
    w = p.add_mutually_exclusive_group()
    w.add_argument("--whiten", type=int, metavar="N", help="fit BERT-whitening on these vectors, "
                   "keep N dimensions, and save it as OUT with the suffix .whitening.npz")
    w.add_argument("--whitening", metavar="FILE", help="apply a whitening saved by --whiten")
    p.add_argument("--seq-length", type=int, help="tokens per text with [CLS] and [SEP] (default: "
                   "a fine-tuned model's, else the model's maximum)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="auto", help="auto (the GPU when there is one), cpu, cuda or cuda:N")
    p.add_argument("--quiet", dest="progress", action="store_false", help="no progress bar")


def _texts(path: str) -> list[str]:
    from uer_ray.errors import InputError

    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        raise InputError("no such input file", path) from None
    except IsADirectoryError:
        raise InputError("is a folder, not a text file", path) from None
    except UnicodeDecodeError as e:
        raise InputError(f"not UTF-8 text ({e.reason} at byte {e.start})", path) from None
    if not any(line.strip() for line in lines):
        raise InputError("no texts: the file is empty (one text per line)", path)
    if "text_a" in lines[0].split("\t"):  # a task's TSV (label, text_a, ...): its text_a column
        from uer_ray.tasks.readers import read_tsv

        return [row.cells["text_a"] for row in read_tsv(path, ("text_a",))]
    return lines


def whitening_path(out: str) -> str:
    """Where ``--whiten`` saves the fitted whitening: OUT without .npy, plus .whitening.npz."""
    return (out[:-4] if out.endswith(".npy") else out) + ".whitening.npz"


def run(args: argparse.Namespace) -> int:
    import time

    import numpy as np

    from uer_ray.atomic import atomic_file
    from uer_ray.models.checkpoint import checkpoint_folder
    from uer_ray.train.devices import check_device, resolve_device
    from uer_ray.vectors import Whitening, embed
    from uer_ray.zoo import resolve_checkpoint

    check_device(args.device)
    texts = _texts(args.input)
    whitening = Whitening.load(args.whitening) if args.whitening else None
    device = resolve_device(args.device)
    start = time.perf_counter()
    model = str(checkpoint_folder(resolve_checkpoint(args.model, zoo=args.zoo)))
    vectors = embed(model, texts, pooling=args.pooling, batch_size=args.batch_size,
                    seq_length=args.seq_length, device=device, progress=args.progress)
    note = ""
    if args.whiten is not None:
        whitening = Whitening.fit(vectors, args.whiten)
        whitening.save(whitening_path(args.out))
        note = f", whitened to {whitening.dim} dimensions (saved as {whitening_path(args.out)})"
    elif whitening is not None:
        note = f", whitened with {args.whitening}"
    if whitening is not None:
        vectors = whitening.apply(vectors)
    with atomic_file(args.out, "wb", encoding=None) as f:
        np.save(f, vectors.astype(np.float32))
    seconds = time.perf_counter() - start
    print(f"Embedded {len(texts):,} lines of {args.input} into {vectors.shape[1]}-dimensional "
          f"vectors on {device} in {seconds:.1f} s{note}; wrote {args.out}.")
    return 0
