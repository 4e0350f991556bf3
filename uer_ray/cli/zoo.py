"""``python run.py zoo {list,show,publish,alias,lineage,diff,verify,export,import,remove,gc,build}``: the
model zoo from the command line. ``--zoo URI`` (or ``$UER_RAY_ZOO``) picks the store: a folder,
``file://``, ``s3://bucket/prefix?endpoint_override=host:port`` or ``gs://...``; the default is
``~/.cache/uer_ray/zoo``. See docs/zoo.md."""

from __future__ import annotations

import argparse
import json
import sys

from uer_ray.cluster import ADDRESS_HELP
from uer_ray.zoo import report as R
from uer_ray.zoo.refs import ZooError, parse_ref
from uer_ray.zoo.store import Zoo


def add_arguments(p: argparse.ArgumentParser) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--zoo", default=argparse.SUPPRESS, help="store URI (default $UER_RAY_ZOO or ~/.cache/uer_ray/zoo)")
    common.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bar")
    p.add_argument("--zoo", default=None, help="store URI (default $UER_RAY_ZOO or ~/.cache/uer_ray/zoo)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    def cmd(name: str, help_: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_, parents=[common], description=help_)

    q = cmd("list", "a table of entries; filter and sort by a metric")
    q.add_argument("--kind", help="pre-trained, fine-tuned or imported")
    q.add_argument("--task", help="only entries with results (their own or their fine-tuned children's) for this task")
    q.add_argument("--dataset", help="... for this dataset")
    q.add_argument("--encoder", help="encoder name in the model (transformer, lstm, ...)")
    q.add_argument("--target", help="pre-training target (mlm, sp, lm, ...)")
    q.add_argument("--sort", metavar="METRIC", help="sort by this metric (best first; losses ascending)")
    q.add_argument("--split", default="dev", help="split of --sort's metric (default dev)")
    q.add_argument("--all", action="store_true", help="every version, not only the newest of each name")
    q.add_argument("--json", action="store_true", help="entry records as JSON")
    q = cmd("show", "one version: model, data, training, results, lineage, files")
    q.add_argument("ref", metavar="NAME[@VERSION|@ALIAS]")
    q.add_argument("--json", action="store_true", help="the entry record as JSON")
    q.add_argument("--card", action="store_true", help="print the model card (README.md)")
    q = cmd("publish", "publish a checkpoint (results and lineage from its result record)")
    q.add_argument("checkpoint", metavar="CKPT")
    q.add_argument("--name", help="entry name (default: corpus+encoder+targets, UER-py style)")
    q.add_argument("--alias", action="append", default=[], help="also point this alias at it (repeatable)")
    q.add_argument("--label", action="append", default=[], metavar="KEY=VALUE", help="provenance label")
    q = cmd("alias", "point an alias at a version (or --delete it)")
    q.add_argument("ref", metavar="NAME@VERSION")
    q.add_argument("alias", nargs="?")
    q.add_argument("--delete", action="store_true", help="remove the alias NAME@ALIAS")
    q = cmd("lineage", "the chain stage 1 -> stage 2 -> fine-tuned, and the children")
    q.add_argument("ref", metavar="NAME[@VERSION|@ALIAS]")
    q = cmd("diff", "configs and results of two versions side by side")
    q.add_argument("a", metavar="A")
    q.add_argument("b", metavar="B")
    q = cmd("verify", "re-read every stored file and check its sha256; report incomplete publishes")
    q.add_argument("refs", nargs="*", metavar="REF", help="default: every version")
    q = cmd("export", "copy a version out of the zoo (uer_ray folder, or --hf for transformers)")
    q.add_argument("ref", metavar="NAME[@VERSION|@ALIAS]")
    q.add_argument("--out", required=True, help="output folder")
    q.add_argument("--hf", action="store_true", help="as a Hugging Face folder (through convert), with the card")
    q = cmd("import", "import a Hugging Face folder or a UER-py checkpoint as an entry")
    q.add_argument("source", metavar="SRC", help="HF folder, or UER-py .bin")
    q.add_argument("--from", dest="fmt", choices=("hf", "uer"), required=True)
    q.add_argument("--name")
    q.add_argument("--alias", action="append", default=[])
    q.add_argument("--config", help="UER-py model config JSON (--from uer)")
    q.add_argument("--vocab", help="UER-py vocabulary (--from uer)")
    q.add_argument("--spm-model", help="UER-py SentencePiece model (--from uer)")
    q.add_argument("--tokenizer", choices=("wordpiece", "char", "space"), default="wordpiece")
    q = cmd("remove", "remove versions (refused while another entry names one as its parent)")
    q.add_argument("refs", nargs="+", metavar="NAME@VERSION")
    q = cmd("gc", "delete files of interrupted publishes (version folders without a record)")
    q.add_argument("--older-than", type=float, default=1.0, metavar="HOURS",
                   help="only folders untouched this long (younger ones may still be publishing); default 1")
    q.add_argument("--dry-run", action="store_true")
    q = cmd("build", "pre-train a recipe's grid of corpus x model and publish each run (recipes/*.yaml)")
    q.add_argument("recipe", metavar="RECIPE", help="recipe YAML (recipes/*.yaml)")
    q.add_argument("--out", help="work folder: shards, run folders, build record (default runs/recipes/<name>)")
    q.add_argument("--force", action="store_true", help="train and publish again runs the zoo already has")
    q.add_argument("--only", nargs="+", default=[], metavar="NAME", help="only these runs (entry names)")
    q.add_argument("--max-concurrent", type=int, help="runs at once (default: one per two logical CPUs)")
    q.add_argument("--address", help=ADDRESS_HELP)
    q.add_argument("--wandb-mode", choices=["offline", "online", "disabled"])


def run(args: argparse.Namespace) -> int:
    store = Zoo(args.zoo)
    return ACTIONS[args.action](store, args)


class _Bar:
    """A byte progress bar on stderr (tqdm), or nothing with --quiet."""

    def __init__(self, args, desc: str):
        self.bar, self.quiet, self.desc = None, args.quiet, desc

    def __call__(self, n: int) -> None:
        if self.bar is None and not self.quiet:  # opened on the first bytes: errors come first
            from tqdm import tqdm

            self.bar = tqdm(desc=self.desc, unit="B", unit_scale=True, unit_divisor=1024,
                            file=sys.stderr, leave=False, dynamic_ncols=True)
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _with_bar(args, desc: str, fn):
    bar = _Bar(args, desc)
    try:
        return fn(bar)
    finally:
        bar.close()


def do_list(store: Zoo, args) -> int:
    f = R.Filters(args.kind, args.task, args.dataset, args.encoder, args.target, args.sort, args.split)
    everything = store.entries()
    shown = everything if args.all else [e for e in everything if e["version"] == max(
        x["version"] for x in everything if x["name"] == e["name"])]
    selected = R.select(shown, everything, f)
    if args.json:
        print(json.dumps([e for e, _ in selected], indent=2, ensure_ascii=False))
        return 0
    if not selected:
        print(f"No entries in {store.uri}" + (" match the filters." if everything else
              "; publish one with: python run.py zoo publish CKPT"))
        return 0
    aliases = {n: store.aliases(n) for n in {e["name"] for e, _ in selected}}
    print(R.list_table(selected, aliases, f))
    names = len({e["name"] for e, _ in selected})
    print(f"\n{len(selected)} version(s) of {names} entr{'y' if names == 1 else 'ies'} in {store.uri}"
          + (f", best {args.split} {args.sort} first" if args.sort else "") + ".")
    return 0


def do_show(store: Zoo, args) -> int:
    name, version = store.resolve(args.ref)
    entry = store.record(name, version)
    if args.json:
        print(json.dumps(entry, indent=2, ensure_ascii=False))
    elif args.card:
        print(store.storage.read_bytes(name, "versions", version, "README.md").decode("utf-8"))
    else:
        aliases = [a for a, v in store.aliases(name).items() if v == version]
        print(R.show_text(entry, aliases, store.children(name, version), store.version_uri(name, version)))
    return 0


def do_publish(store: Zoo, args) -> int:
    labels = dict(_label(x) for x in args.label)
    ref = _with_bar(args, "publish", lambda bar: store.publish(
        args.checkpoint, name=args.name, aliases=args.alias, provenance=labels, progress=bar))
    entry = store.record(ref.name, ref.version)
    size = sum(f["size"] for f in entry["files"].values())
    print(f"Published {args.checkpoint} as {ref.ref} ({entry['kind']}, {len(entry['files'])} files, "
          f"{size / 1e6:.1f} MB, {len(entry['results'])} result rows"
          + (f", lineage: {entry['lineage']['relation']} {entry['lineage']['parent']}" if entry["lineage"].get("parent") else "")
          + f") in {ref.uri}. Use it as --init {ref.ref}.")
    return 0


def _label(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ZooError(f"--label {text!r}: use KEY=VALUE")
    return key, value


def do_alias(store: Zoo, args) -> int:
    if args.delete:
        ref = parse_ref(args.ref)
        if ref.tag is None:
            raise ZooError("--delete takes NAME@ALIAS")
        store.delete_alias(ref.name, ref.tag)
        print(f"Removed the alias {ref.tag} of {ref.name}.")
        return 0
    if not args.alias:
        raise ZooError("give the alias to set: zoo alias NAME@VERSION ALIAS")
    name, version = store.set_alias(args.ref, args.alias)
    print(f"zoo:{name}@{args.alias} now names version {version}.")
    return 0


def do_lineage(store: Zoo, args) -> int:
    chain = store.lineage(args.ref)
    print(R.lineage_text(chain, store.children(chain[-1]["name"], chain[-1]["version"])))
    return 0


def do_diff(store: Zoo, args) -> int:
    a, b = (store.record(*store.resolve(r)) for r in (args.a, args.b))
    print(R.diff_text(a, b))
    return 0


def do_verify(store: Zoo, args) -> int:
    refs = args.refs or [f"{e['name']}@{e['version']}" for e in store.entries()]
    bad = 0
    for ref in refs:
        problems = _with_bar(args, f"verify {ref}", lambda bar, r=ref: store.verify(r, progress=bar))
        bad += bool(problems)
        print(f"{'OK ' if not problems else 'BAD'} {ref}" + "".join(f"\n    {p}" for p in problems))
    orphans = store.orphans() if not args.refs else []
    for name, version, age in orphans:
        age_text = f"{age / 3600:.1f} h old" if age is not None else "empty"
        print(f"INCOMPLETE {name}/versions/{version} (no record, {age_text}): an interrupted or "
              "running publish; nothing lists it; `zoo gc` removes it")
    print(f"\nVerified {len(refs)} version(s) in {store.uri}: {len(refs) - bad} intact, {bad} damaged"
          + (f"; {len(orphans)} incomplete publish(es)" if orphans else "") + ".")
    return 1 if bad else 0


def do_export(store: Zoo, args) -> int:
    import shutil
    from pathlib import Path

    name, version = store.resolve(args.ref)
    folder = _with_bar(args, "fetch", lambda bar: store.checkout(f"{name}@{version}", progress=bar))
    out = Path(args.out)
    if args.hf:
        from uer_ray.atomic import atomic_dir
        from uer_ray.models.interop import export_hf
        from uer_ray.zoo.card import render_card

        report = export_hf(folder, out)
        entry = store.record(name, version)
        card = render_card(entry, store.lineage(f"{name}@{version}")[:-1], library="transformers")
        with atomic_dir(out) as tmp:  # add the card to the finished export, atomically
            shutil.copytree(out, tmp, dirs_exist_ok=True)
            (tmp / "README.md").write_text(card, encoding="utf-8")
        print(report.summary() + f" The model card is {out / 'README.md'}.")
        return 0
    from uer_ray.atomic import atomic_dir

    with atomic_dir(out) as tmp:
        shutil.copytree(folder, tmp, dirs_exist_ok=True)
    print(f"Copied zoo:{name}@{version} (verified) to {out}.")
    return 0


def do_import(store: Zoo, args) -> int:
    from uer_ray.zoo.imports import import_entry

    if args.fmt == "uer" and not args.config:
        raise ZooError("--from uer needs --config (the UER-py model config JSON)")
    ref, report = _with_bar(args, "publish", lambda bar: import_entry(
        args.fmt, args.source, zoo=store.uri, name=args.name, aliases=args.alias, config=args.config,
        vocab=args.vocab, spm_model=args.spm_model, tokenizer=args.tokenizer, progress=bar))
    print(report.summary() + f" Published as {ref.ref} in {ref.uri}.")
    return 0


def do_remove(store: Zoo, args) -> int:
    for text in args.refs:
        ref = parse_ref(text)
        if ref.tag is None:
            raise ZooError(f"{text}: name the version to remove (NAME@VERSION or NAME@ALIAS)")
        name, version = store.remove(text)
        print(f"Removed zoo:{name}@{version} from {store.uri}.")
    return 0


def do_gc(store: Zoo, args) -> int:
    gone = store.gc(older_than=args.older_than * 3600, dry_run=args.dry_run)
    verb = "Would remove" if args.dry_run else "Removed"
    for name, version in gone:
        print(f"{verb} {name}/versions/{version} (no record)")
    print(f"{verb} {len(gone)} incomplete publish(es) older than {args.older_than:g} h from {store.uri}.")
    return 0


def do_build(store: Zoo, args) -> int:
    from uer_ray.zoo.build import BuildOptions, build

    record = build(BuildOptions(recipe=args.recipe, zoo=store.uri, out=args.out, force=args.force,
                                only=list(args.only), max_concurrent=args.max_concurrent,
                                address=args.address, wandb_mode=args.wandb_mode,
                                progress=not args.quiet))
    return 1 if record["results"]["failed"] else 0


ACTIONS = {"list": do_list, "show": do_show, "publish": do_publish, "alias": do_alias,
           "lineage": do_lineage, "diff": do_diff, "verify": do_verify, "export": do_export,
           "import": do_import, "remove": do_remove, "gc": do_gc, "build": do_build}
