"""``python run.py pretrain``: pre-train a model on shards with Ray Train (DESIGN §6).

Example::

    python run.py pretrain --model bert-tiny --data shards/ --out runs/bert --workers 2 --steps 200
"""

from __future__ import annotations

import argparse

from uer_ray.cli.options import OptionFlags, given, options_from
from uer_ray.cluster import ADDRESS_HELP
from uer_ray.errors import UerRayError


def parse_targets(text: str) -> dict[str, float]:
    """``"mlm:1,sp:0.5"`` -> ``{"mlm": 1.0, "sp": 0.5}`` (a bare name weighs 1)."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = part.partition(":")
        try:
            out[name.strip()] = float(weight) if weight else 1.0
        except ValueError:
            raise UerRayError(
                f"--targets: {part!r} is not NAME:WEIGHT (e.g. mlm:1,sp:0.5)"
            ) from None
    if not out:
        raise UerRayError("--targets is empty (e.g. mlm:1,sp:0.5)")
    return out


def parse_workers(text: str) -> int | tuple[int, int]:
    """``"4"`` -> 4; ``"2-8"`` -> (2, 8), an elastic run (``"4-4"`` is 4)."""
    low, sep, high = text.partition("-")
    try:
        values = (int(low), int(high)) if sep else (int(low),)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not N or MIN-MAX (e.g. 4 or 2-8)") from None
    if min(values) < 1 or values[0] > values[-1]:
        raise argparse.ArgumentTypeError(f"{text!r}: need 1 <= MIN <= MAX")
    return values[0] if values[0] == values[-1] else values


def add_arguments(p: argparse.ArgumentParser) -> None:
    from uer_ray.train.pretrain import PretrainOptions

    add = OptionFlags(PretrainOptions).add
    g = p.add_argument_group("what to train")
    add(g, "--model", help="preset name (bert-tiny, lstm, ...) or a model JSON; optional with "
        "--init (the checkpoint's config is used)")
    add(g, "--data", help="shard folder made by `run.py preprocess` (with --resume: the stored run's)")
    add(g, "--out", required=True, help="output folder (final/, metrics, checkpoints)")
    add(g, "--targets", type=parse_targets, help="override target weights: mlm:1,sp:0.5")
    add(g, "--init", help="start from this checkpoint's weights (stage-2 pre-training): a folder, "
        "zoo:NAME[@VERSION|@ALIAS] or a URI")
    add(g, "--vocab", help="vocab.txt / SentencePiece model the shards were made with (only when "
        "the shard folder has no tokenizer/)")
    g = p.add_argument_group("optimisation")
    add(g, "--steps", type=int, help="optimiser updates")
    add(g, "--batch-size", type=int, help="rows per worker per micro-batch")
    add(g, "--grad-accum", type=int, help="micro-batches per update")
    add(g, "--lr", type=float, help="peak learning rate (AdamW)")
    add(g, "--weight-decay", type=float)
    add(g, "--adam-bias-correction", action="store_true",
        help="bias-correct Adam's moments as torch's AdamW does (default: BERT's and UER-py's "
        "update, without correction: larger first steps)")
    add(g, "--warmup", type=float, help="warm-up: a fraction of --steps if < 1, else steps")
    add(g, "--schedule", choices=["linear", "cosine", "constant"])
    add(g, "--clip", type=float, help="gradient-norm clip (0: off)")
    add(g, "--seed", type=int)
    add(g, "--masking", choices=["token", "whole_word", "span"],
        help="MLM masking: BERT tokens, whole words, or SpanBERT spans")
    add(g, "--mask-prob", type=float)
    add(g, "--shuffle-buffer", type=int, help="rows in each worker's local shuffle buffer (0: off)")
    add(g, "--cache-data", choices=["auto", "on", "off"],
        help="keep each worker's shard in memory after one read instead of re-streaming it every "
        "epoch (auto: when it is under 256 MiB per worker)")
    add(g, "--compile", action="store_true", help="torch.compile the model")
    g = p.add_argument_group("Ray")
    add(g, "--workers", type=parse_workers, metavar="N|MIN-MAX",
        help="training workers (DDP); MIN-MAX: elastic, starts with what fits (at least MIN) and "
        "grows to MAX as nodes join")
    add(g, "--resize-interval", type=float, metavar="SECONDS",
        help="how often an elastic run looks for capacity to grow into")
    add(g, "--cpus-per-worker", type=float, help="CPUs reserved per worker (default: auto)")
    add(g, "--gpu", action="store_true", help="one GPU per worker, nccl, bf16 autocast")
    add(g, "--no-bf16", dest="bf16", action="store_false", help="fp32 on GPU")
    add(g, "--address", help=ADDRESS_HELP)
    add(g, "--storage", help="Ray Train checkpoint storage: a folder every node sees or a URI such "
        "as s3://bucket/runs/NAME (default: OUT/ray); the run's checkpoints go to STORAGE/pretrain/")
    add(g, "--max-failures", type=int,
        help="restarts from the latest checkpoint after worker failures")
    add(g, "--deterministic", action="store_true",
        help="deliver blocks in file order (exact replay with one worker)")
    g = p.add_argument_group("checkpoints and logging")
    add(g, "--save-every", type=int, help="checkpoint every N steps")
    add(g, "--keep", type=int, help="checkpoints kept (the last K)")
    add(g, "--log-every", type=int, help="metrics line every N steps")
    add(g, "--resume", action="store_true",
        help="continue the stopped run in --out (a larger --steps extends a finished one)")
    add(g, "--overwrite", action="store_true", help="replace a previous run in --out")
    add(g, "--publish", nargs="?", const="", metavar="NAME",
        help="publish final/ to the model zoo when done (NAME, default derived)")
    add(g, "--zoo", help="zoo for zoo: references and --publish (default UER_RAY_ZOO)")
    add(g, "--wandb-project")
    add(g, "--wandb-group", help="default: encoder-targets")
    add(g, "--wandb-name", help="default: embedding/encoder/targets")
    add(g, "--wandb-mode", choices=["offline", "online", "disabled"],
        help="default: WANDB_MODE, else offline (files under OUT/wandb)")


def run(args: argparse.Namespace) -> int:
    from uer_ray.train.pretrain import PretrainOptions, pretrain
    from uer_ray.train.pretrain_record import summary_paragraph

    # the flags typed, even with a default's value, are what --resume compares with the stored run
    record = pretrain(options_from(PretrainOptions, args), explicit=given(args))
    # a leading newline: the driver's progress bar may still occupy the current line
    print("\n" + summary_paragraph(record))
    return 0
