"""``python run.py modules [FAMILY]``: every registered module, the file that defines it and the
facts it declares (docs/extending.md). Plugins named in ``UER_RAY_PLUGINS`` are listed too.

Example::

    python run.py modules encoder
"""

from __future__ import annotations

import argparse

# family -> (module, registry) holding it
FAMILIES = {
    "tokenizer": ("uer_ray.tokenizers", "TOKENIZERS"), "processor": ("uer_ray.data", "PROCESSORS"),
    "embedding": ("uer_ray.embeddings", "EMBEDDINGS"), "subencoder": ("uer_ray.embeddings", "SUBENCODERS"),
    "encoder": ("uer_ray.encoders", "ENCODERS"), "decoder": ("uer_ray.decoders", "DECODERS"),
    "target": ("uer_ray.targets", "TARGETS"), "task": ("uer_ray.tasks", "TASKS"),
    "interop": ("uer_ray.models.interop", "FAMILIES"),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("family", nargs="?", help=f"one of {', '.join(FAMILIES)} (default: all, names only)")


def _registry(family: str):
    import importlib

    module, name = FAMILIES[family]
    return getattr(importlib.import_module(module), name)


def _facts(family: str, cls) -> str:
    """The declared facts of one entry, as ``key=value`` pairs."""
    if family == "encoder":
        cfg = cls.Config()
        return (f"sees_future={cls.sees_future(cfg)} pooling={cls.default_pooling(cfg)} "
                f"lr={cls.lr_pretrained:g}/{cls.lr_scratch:g}"
                + (" bidirectional" if cls.bidirectional else "")
                + (" cached-generation" if cls.incremental else ""))
    if family == "target":
        flags = [f for f in ("needs_masking", "needs_decoder", "predicts_next_token") if getattr(cls, f)]
        flags += [f"needs_mask={cls.needs_mask}"] if cls.needs_mask else []
        return " ".join([f"columns={','.join(cls.columns) or '-'}", *flags,
                         f"card={cls.card_task_type or '-'}", f"generates={cls.generates or '-'}"])
    if family == "task":
        return (f"card={cls.card_task_type} output={cls.output} metric={cls.select_metric}"
                + (" crf" if cls.takes_crf else ""))
    if family == "processor":
        return f"columns={','.join(cls.columns)} lines: {cls.line_format}"
    if family == "tokenizer":
        return f"file={cls.file_option}"
    return ""


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from uer_ray import plugins
    from uer_ray.errors import OptionsError
    from uer_ray.suggest import did_you_mean

    plugins.load_configured()
    if args.family is None:
        for family in FAMILIES:
            print(f"{family:11} {', '.join(_registry(family).names())}")
        print("\n`python run.py modules FAMILY` lists each module's file and declared facts.")
        return 0
    family = args.family.rstrip("s") if args.family.rstrip("s") in FAMILIES else args.family
    if family not in FAMILIES:
        raise OptionsError(f"unknown family {args.family!r}{did_you_mean(args.family, FAMILIES)} "
                           f"(families: {', '.join(FAMILIES)})")
    reg = _registry(family)
    root = Path(__file__).resolve().parents[2]
    rows = []
    for name, cls in reg.items():
        where = reg.where(name)
        shown = where.relative_to(root) if where.is_relative_to(root) else where
        rows.append((name, str(shown), _facts(family, cls)))
    wide = [max(len(r[i]) for r in rows) for i in range(2)]
    for name, where, facts in rows:
        print(f"{name:{wide[0]}}  {where:{wide[1]}}  {facts}".rstrip())
    return 0
