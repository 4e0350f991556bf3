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
                        help="output folder, written atomically; an earlier convert output there is replaced")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace --out even if it is not an earlier convert output")


def run(args: argparse.Namespace) -> int:
    if args.source == args.target:
        raise UerRayError(f"--from {args.source} --to {args.target}: nothing to convert "
                          "(use --from hf --to ours, or --from ours --to hf)")
    if not args.input.is_dir():
        raise UerRayError(f"{args.input}: no such folder")
    if args.out.resolve() == args.input.resolve():
        raise UerRayError(f"{args.out}: --out must differ from --input")
    # Replacing a folder deletes it: only do that silently for our own earlier output.
    if args.out.exists() and not args.overwrite:
        if not args.out.is_dir() or (any(args.out.iterdir()) and not (args.out / "convert.json").is_file()):
            raise UerRayError(f"{args.out}: exists and is not an earlier convert output; "
                              "choose another --out or pass --overwrite")
    # Imported here so that `run.py --help` does not pay for torch.
    from uer_ray.models.hf_interop import export_hf, import_hf

    convert = import_hf if args.source == "hf" else export_hf
    report = convert(args.input, args.out)
    print(report.summary())
    return 0
