"""``run.py report``: a search folder, pre-training / fine-tuning output folders, or the zoo ->
one self-contained HTML page, PNG figures and a Markdown summary (docs/report.md).

    python run.py report runs/search/book_review --out runs/report
    python run.py report runs/bert-tiny runs/book_review --out runs/report
    python run.py report --zoo [URI] [--dataset book_review] --out runs/zoo-report
"""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("sources", nargs="*", help="a search folder (or its store URI), or pretrain/finetune output folders")
    p.add_argument("--out", required=True, help="folder for report.html, report.md and the PNGs")
    p.add_argument("--zoo", nargs="?", const="", metavar="URI",
                   help="report the zoo (default UER_RAY_ZOO, else ~/.cache/uer_ray/zoo)")
    for name in ("kind", "task", "dataset", "encoder", "target"):
        p.add_argument(f"--{name}", help=f"with --zoo: only entries of this {name}")
    p.add_argument("--no-compare", dest="compare", action="store_false",
                   help="skip scoring finished configurations on the test set")


def run(args: argparse.Namespace) -> int:
    from uer_ray.report import gather, make_report

    filters = {k: getattr(args, k) for k in ("kind", "task", "dataset", "encoder", "target")}
    use_zoo = args.zoo is not None
    collected = gather(args.sources, zoo=(args.zoo or None) if use_zoo else None,
                       zoo_filters=filters if use_zoo else None)
    result = make_report(collected, args.out, compare=args.compare)
    notes = "; ".join(result["notes"])
    print(f"Report of {collected.title}: {result['trials']} trial(s), {len(result['figures'])} "
          f"figure(s), {result['comparisons']} paired comparison(s) on the test set, sections "
          f"{', '.join(result['sections']) or 'none'}. Open {result['html']} (self-contained) or "
          f"read {result['markdown']}." + (f" Notes: {notes}." if notes else ""))
    return 0
