"""``python run.py convert --from {hf,ours} --to {ours,hf} --input DIR --out DIR``: import a Hugging
Face BERT / GPT-2 checkpoint into a uer_ray checkpoint directory, or export one back.

The output folder appears whole or not at all; it holds ``convert.json`` (what was mapped,
initialised afresh and dropped). The command ends with a one-paragraph summary."""

from __future__ import annotations

import argparse
from pathlib import Path

from uer_ray.errors import UerRayError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="source", choices=("hf", "ours"), required=True,
                        help="format of --input: a Hugging Face folder or a uer_ray checkpoint")
    parser.add_argument("--to", dest="target", choices=("ours", "hf"), required=True,
                        help="format to write into --out")
    parser.add_argument("--input", type=Path, required=True, help="folder to convert")
    parser.add_argument("--out", type=Path, required=True,
                        help="output folder (replaced atomically if it exists)")


def run(args: argparse.Namespace) -> int:
    if args.source == args.target:
        raise UerRayError(f"--from {args.source} --to {args.target}: nothing to convert "
                          "(use --from hf --to ours, or --from ours --to hf)")
    if not args.input.is_dir():
        raise UerRayError(f"{args.input}: no such folder")
    if args.out.resolve() == args.input.resolve():
        raise UerRayError(f"{args.out}: --out must differ from --input")
    # Imported here so that `run.py --help` does not pay for torch.
    from uer_ray.models.hf_interop import export_hf, import_hf

    convert = import_hf if args.source == "hf" else export_hf
    report = convert(args.input, args.out)
    print(report.summary())
    return 0
