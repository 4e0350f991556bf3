"""``python run.py convert --from {hf,uer,ours} --to {ours,hf,uer} --input SRC --out DIR``: import a
Hugging Face BERT / GPT-2 folder or a UER-py checkpoint (``.bin`` + ``--config`` JSON, with
``--vocab`` / ``--spm-model``) into a uer_ray checkpoint directory, or export one back.

With ``--from ours`` the input may be a ``zoo:NAME@TAG`` reference or a remote checkpoint URI.
The output folder appears whole or not at all; it holds ``convert.json`` (what was mapped,
initialised afresh and dropped). The command ends with a one-paragraph summary.

Fine-tuned Hugging Face heads (``BertForSequenceClassification``, ``BertForTokenClassification``,
``BertForQuestionAnswering``) become fine-tuned uer_ray checkpoints and back (docs/interop.md,
"Fine-tuned heads"); ``--task`` and ``--drop-head`` steer that."""

from __future__ import annotations

import argparse
from pathlib import Path

from uer_ray.errors import UerRayError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="source", choices=("hf", "uer", "ours"), required=True,
                        help="format of --input: a Hugging Face folder, a UER-py .bin, or a uer_ray checkpoint")
    parser.add_argument("--to", dest="target", choices=("ours", "hf", "uer"), required=True,
                        help="format to write into --out")
    parser.add_argument("--input", required=True,
                        help="folder (hf, ours), .bin file (uer), or zoo:NAME@TAG / URI (ours)")
    parser.add_argument("--out", type=Path, required=True,
                        help="output folder, written atomically; an earlier convert output there is replaced")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace --out even if it is not an earlier convert output")
    uer = parser.add_argument_group("UER-py input (--from uer)")
    uer.add_argument("--config", type=Path, help="the UER-py model config JSON (models/bert/base_config.json)")
    uer.add_argument("--vocab", type=Path, help="its vocabulary (models/google_zh_vocab.txt)")
    uer.add_argument("--spm-model", type=Path, help="or its SentencePiece model")
    uer.add_argument("--tokenizer", choices=("wordpiece", "char", "space"), default="wordpiece",
                     help="how --vocab splits text (UER-py's bert tokenizer is wordpiece)")
    parser.add_argument("--zoo", help="zoo store for a zoo: --input (default $UER_RAY_ZOO)")
    heads = parser.add_argument_group("fine-tuned heads (--from hf / --to hf; docs/interop.md)")
    heads.add_argument("--task", help="the uer_ray task of an imported BertForSequenceClassification: "
                       "classify (default), pair, dbqa, regress or multi_label")
    heads.add_argument("--drop-head", action="store_true",
                       help="import a task-head model's encoder alone / export a fine-tuned model's "
                            "encoder with its pre-training heads instead of its task head")


def run(args: argparse.Namespace) -> int:
    if args.source == args.target or "ours" not in (args.source, args.target):
        raise UerRayError(f"--from {args.source} --to {args.target}: nothing to convert "
                          "(convert to or from ours: --from hf|uer --to ours, or --from ours --to hf|uer)")
    src = _input(args)
    if args.out.resolve() == src.resolve():
        raise UerRayError(f"{args.out}: --out must differ from --input")
    # Replacing a folder deletes it: only do that silently for our own earlier output.
    if args.out.exists() and not args.overwrite:
        if not args.out.is_dir() or (any(args.out.iterdir()) and not (args.out / "convert.json").is_file()):
            raise UerRayError(f"{args.out}: exists and is not an earlier convert output; "
                              "choose another --out or pass --overwrite")
    # Imported here so that `run.py --help` does not pay for torch.
    if (args.task is not None or args.drop_head) and "hf" not in (args.source, args.target):
        raise UerRayError("--task and --drop-head apply to Hugging Face conversion (--from hf / --to hf)")
    if args.source == "uer":
        from uer_ray.models.interop import import_uer

        if args.config is None:
            raise UerRayError("--from uer needs --config (the UER-py model config JSON)")
        report = import_uer(src, args.config, args.out, vocab=args.vocab, spm_model=args.spm_model,
                            tokenizer=args.tokenizer)
        print(report.summary())
        return 0
    if args.target == "uer":
        return _export_uer(src, args.out)
    from uer_ray.models.interop import export_hf, import_hf

    if args.source == "hf":
        report = import_hf(src, args.out, task=args.task, drop_head=args.drop_head)
    elif args.task is not None:
        raise UerRayError("--task applies to --from hf (a fine-tuned checkpoint's task.json names its task)")
    else:
        report = export_hf(src, args.out, drop_head=args.drop_head)
    print(report.summary())
    return 0


def _input(args: argparse.Namespace) -> Path:
    text = args.input
    if args.source == "ours":
        from uer_ray.zoo import resolve_checkpoint

        text = resolve_checkpoint(text, zoo=args.zoo)
    path = Path(text)
    if args.source == "uer":
        if not path.is_file():
            raise UerRayError(f"{path}: no such file (--from uer reads UER-py's .bin weights file)")
    elif not path.is_dir():
        raise UerRayError(f"{path}: no such folder")
    return path


def _export_uer(src: Path, out: Path) -> int:
    """``OUT/model.bin`` + ``OUT/config.json`` (+ ``OUT/vocab.txt``), for UER-py's
    ``--pretrained_model_path`` / ``--config_path`` / ``--vocab_path``."""
    import json
    import shutil

    from uer_ray.atomic import atomic_dir, write_json
    from uer_ray.models.interop import export_uer

    with atomic_dir(out) as tmp:
        cfg = export_uer(src, tmp / "model.bin", tmp / "config.json")
        tok_cfg = src / "tokenizer" / "tokenizer_config.json"
        vocab = None
        if tok_cfg.is_file():
            vocab = json.loads(tok_cfg.read_text())["file"]
            shutil.copy2(src / "tokenizer" / vocab, tmp / vocab)
        write_json(tmp / "convert.json", {"direction": "ours->uer", "source": str(src), "config": cfg,
                                          "vocabulary": vocab})
    print(f"Exported the uer_ray checkpoint {src} as a UER-py checkpoint in {out}: model.bin "
          f"(targets {', '.join(cfg['target'])}), config.json" + (f" and {vocab}" if vocab else "")
          + "; pass them to UER-py as --pretrained_model_path, --config_path"
          + (" and --vocab_path." if vocab else "."))
    return 0
