"""``python run.py pretrain``: pre-train a model on shards with Ray Train (DESIGN §6).

Example::

    python run.py pretrain --model bert-tiny --data shards/ --out runs/bert --workers 2 --steps 200
"""

from __future__ import annotations

import argparse

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
    g = p.add_argument_group("what to train")
    g.add_argument(
        "--model",
        help="preset name (bert-tiny, lstm, ...) or a model JSON; "
        "optional with --init (the checkpoint's config is used)",
    )
    g.add_argument("--data", help="shard folder made by `run.py preprocess` (with --resume: the "
                   "stored run's)")
    g.add_argument("--out", required=True, help="output folder (final/, metrics, checkpoints)")
    g.add_argument("--targets", type=parse_targets, help="override target weights: mlm:1,sp:0.5")
    g.add_argument("--init", help="start from this checkpoint's weights (stage-2 pre-training): "
                   "a folder, zoo:NAME[@VERSION|@ALIAS] or a URI")
    g.add_argument(
        "--vocab",
        help="vocab.txt / SentencePiece model the shards were made with "
        "(only when the shard folder has no tokenizer/)",
    )
    g = p.add_argument_group("optimisation")
    g.add_argument("--steps", type=int, default=1000, help="optimiser updates (default 1000)")
    g.add_argument("--batch-size", type=int, default=32, help="rows per worker per micro-batch")
    g.add_argument("--grad-accum", type=int, default=1, help="micro-batches per update")
    g.add_argument("--lr", type=float, default=1e-4, help="peak learning rate (AdamW)")
    g.add_argument("--weight-decay", type=float, default=0.01)
    g.add_argument(
        "--warmup",
        type=float,
        default=0.1,
        help="warm-up: a fraction of --steps if < 1, else steps (default 0.1)",
    )
    g.add_argument("--schedule", choices=["linear", "cosine", "constant"], default="linear")
    g.add_argument("--clip", type=float, default=1.0, help="gradient-norm clip (0: off)")
    g.add_argument("--seed", type=int, default=7)
    g.add_argument(
        "--masking",
        choices=["token", "whole_word", "span"],
        default="token",
        help="MLM masking: BERT tokens, whole words, or SpanBERT spans",
    )
    g.add_argument("--mask-prob", type=float, default=0.15)
    g.add_argument(
        "--shuffle-buffer",
        type=int,
        default=1000,
        help="rows in each worker's local shuffle buffer (0: off)",
    )
    g.add_argument(
        "--cache-data",
        choices=["auto", "on", "off"],
        default="auto",
        help="keep each worker's shard in memory after one read instead of re-streaming it "
        "every epoch (auto: when it is under 256 MiB per worker)",
    )
    g.add_argument("--compile", action="store_true", help="torch.compile the model")
    g = p.add_argument_group("Ray")
    g.add_argument("--workers", type=parse_workers, default=1, metavar="N|MIN-MAX",
                   help="training workers (DDP); MIN-MAX: elastic, starts with what fits (at "
                   "least MIN) and grows to MAX as nodes join")
    g.add_argument("--resize-interval", type=float, default=60.0, metavar="SECONDS",
                   help="how often an elastic run looks for capacity to grow into (default 60)")
    g.add_argument("--cpus-per-worker", type=float, help="CPUs reserved per worker (default: auto)")
    g.add_argument("--gpu", action="store_true", help="one GPU per worker, nccl, bf16 autocast")
    g.add_argument("--no-bf16", dest="bf16", action="store_false", help="fp32 on GPU")
    g.add_argument("--address", help="attach to this Ray cluster (default: RAY_ADDRESS or local)")
    g.add_argument("--storage", help="Ray Train checkpoint storage: a folder every node sees or a "
                   "URI such as s3://bucket/runs/NAME (default: OUT/ray); the run's checkpoints go "
                   "to STORAGE/pretrain/")
    g.add_argument(
        "--max-failures",
        type=int,
        default=3,
        help="restarts from the latest checkpoint after worker failures",
    )
    g.add_argument(
        "--deterministic",
        action="store_true",
        help="deliver blocks in file order (exact replay with one worker)",
    )
    g = p.add_argument_group("checkpoints and logging")
    g.add_argument("--save-every", type=int, default=500, help="checkpoint every N steps")
    g.add_argument("--keep", type=int, default=2, help="checkpoints kept (the last K)")
    g.add_argument("--log-every", type=int, default=10, help="metrics line every N steps")
    g.add_argument("--resume", action="store_true",
                   help="continue the stopped run in --out (a larger --steps extends a finished one)")
    g.add_argument("--overwrite", action="store_true", help="replace a previous run in --out")
    g.add_argument("--publish", nargs="?", const="", metavar="NAME",
                   help="publish final/ to the model zoo when done (NAME, default derived)")
    g.add_argument("--zoo", help="zoo for zoo: references and --publish (default UER_RAY_ZOO)")
    g.add_argument("--wandb-project", default="uer_ray")
    g.add_argument("--wandb-group", help="default: encoder-targets")
    g.add_argument("--wandb-name", help="default: embedding/encoder/targets")
    g.add_argument(
        "--wandb-mode",
        choices=["offline", "online", "disabled"],
        help="default: WANDB_MODE, else offline (files under OUT/wandb)",
    )


def run(args: argparse.Namespace) -> int:
    from uer_ray.train.pretrain import PretrainOptions, pretrain
    from uer_ray.train.pretrain_record import summary_paragraph

    fields = PretrainOptions.__dataclass_fields__
    options = PretrainOptions(**{k: v for k, v in vars(args).items() if k in fields})
    explicit = {k for k in getattr(args, "explicit", ()) if k in fields}
    record = pretrain(options, explicit=explicit)
    # a leading newline: the driver's progress bar may still occupy the current line
    print("\n" + summary_paragraph(record))
    return 0
