"""A finished search as results: the leaderboard (``leaderboard.csv`` and a Markdown table), the
winner scored on test once, repeated seeds as mean ± std, the top configurations published to
the zoo with their lineage, and the search's result record."""

from __future__ import annotations

import csv
import io
import json
import statistics
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from uer_ray.tune.space import SearchSpace
from uer_ray.tune.trial import SearchContext, trial_summary
from uer_ray.tune.trial_config import DEFAULT_EPOCHS, TrialConfig


@dataclass
class Row:
    """One trial on the leaderboard."""

    trial_id: str
    config: TrialConfig | None  # (None: Tune kept no configuration for the trial)
    best_dev: float | None
    best_epoch: int | None
    epochs_run: int
    seconds: float
    status: str  # finished | stopped | failed
    error: str | None = None
    history: list[dict] = field(default_factory=list)


def leaderboard(grid, space: SearchSpace) -> list[Row]:
    """Rows of a ResultGrid, best dev first (failed trials last)."""
    rows = []
    for result in grid:
        flat = result.config.get("trial")
        config = TrialConfig.from_flat(flat) if flat else None
        df = result.metrics_dataframe
        history = []
        if df is not None and "dev" in df:
            df = df.dropna(subset=["dev"])
            history = [{"epoch": int(e), "dev": float(d)} for e, d in zip(df["epoch"], df["dev"], strict=True)]
        best = max(history, key=lambda h: h["dev"]) if history else None
        wanted = config.epochs if config is not None else DEFAULT_EPOCHS
        error = str(result.error).strip().splitlines()[-1] if result.error else None
        status = "failed" if error else ("stopped" if len(history) < wanted else "finished")
        if not error and not history:
            status = "unfinished"
        seconds = float((result.metrics or {}).get("time_total_s", 0.0) or 0.0)
        trial_id = (result.metrics or {}).get("trial_id") or Path(result.path).name.removeprefix("trial_")
        rows.append(Row(trial_id, config, best["dev"] if best else None,
                        best["epoch"] if best else None, len(history), seconds, status, error,
                        history))
    rows.sort(key=lambda r: (r.status == "failed", -(r.best_dev if r.best_dev is not None else -1e9)))
    return rows


def trial_folder(ctx: SearchContext, trial_id: str) -> Path:
    """A trial's fine-tuned model in the driver's folder (pulled from a store home first)."""
    home = ctx.home
    local = home.local()
    folder = local / "trials" / trial_id / "finetune"
    if home.remote and not folder.exists() and home.exists("trials", trial_id, "finetune", "metrics.json"):
        home.pull(local, "trials", trial_id, "finetune")
    return folder


def evaluate_winner(board: list[Row], ctx: SearchContext) -> dict | None:
    """The best finished trial scored on the test file once; its record gains the test rows."""
    if "test" not in ctx.files:
        return None
    for row in board:
        folder = trial_folder(ctx, row.trial_id)
        if row.status == "finished" and (folder / "metrics.json").exists():
            local = ctx.home.local()
            test = score(folder, ctx.path(ctx.files["test"], local))
            _add_test(folder, test)
            ctx.home.push(local, "trials", row.trial_id, "finetune", "metrics.json")
            return {"trial_id": row.trial_id, "test": test}
    return None


def score(folder: Path, test_file: str) -> dict:
    """The task's metrics of a fine-tuned model folder on a labelled file."""
    from uer_ray.tasks.checkpoint import load_finetuned
    from uer_ray.tasks.loop import evaluate

    ft, task, labels, settings, tokenizer = load_finetuned(folder)
    examples = task.encode(task.read(test_file), test_file, tokenizer, labels, settings.seq_length)
    return evaluate(ft, ft.head, task, examples, labels, batch_size=64, pad_id=tokenizer.pad_id,
                    progress=False, desc="test")


def _add_test(folder: Path, test: dict) -> None:
    from uer_ray.atomic import write_json
    from uer_ray.records import metric_rows, read_record

    record = read_record(folder / "metrics.json")
    record["results"]["test"] = test
    r = record["results"]
    dataset = record["data"]["finetune"]["dataset"]
    record["metrics"] = [m for m in record["metrics"] if m["split"] != "test"] + metric_rows(
        r["task"], dataset, "test", test)
    record["provenance"]["test_scored_by"] = "search"
    write_json(folder / "metrics.json", record)


def top_configs(board: list[Row], n: int) -> list[TrialConfig]:
    return [r.config for r in board if r.status == "finished"][:n]


def repeats(top: list[TrialConfig], runs: list[Row], board: list[Row]) -> dict:
    """Per top configuration: best dev of the original and every repeated seed, mean ± std
    (configurations in their flat form: this goes into the search's record)."""
    out = {}
    for config in top:
        same = [r for r in board + runs if _same(r.config, config) and r.best_dev is not None]
        values = [r.best_dev for r in same]
        flat = config.to_flat()
        key = json.dumps({k: v for k, v in flat.items() if k != "seed"}, sort_keys=True)
        out[key] = {"config": flat, "seeds": [r.config.seed for r in same], "dev": values,
                    "mean": statistics.fmean(values) if values else None,
                    "std": statistics.stdev(values) if len(values) > 1 else 0.0}
    return out


def _same(a: TrialConfig | None, b: TrialConfig) -> bool:
    """The same configuration but for the seed."""
    return a is not None and replace(a, seed=b.seed) == b


def publish(board: list[Row], ctx: SearchContext, o) -> list[dict]:
    """The top ``o.publish_top`` finished trials into the zoo: the stage-2 checkpoint first (the
    parent), then the fine-tuned model with the search and trial ids."""
    from uer_ray.zoo import publish as zoo_publish

    out = []
    for rank, row in enumerate(r for r in board if r.status == "finished"):
        if rank >= o.publish_top:
            break
        folder = trial_folder(ctx, row.trial_id)
        if not folder.exists():
            continue
        provenance = {"search": ctx.search_id, "trial": row.trial_id, "space": ctx.space.name}
        from uer_ray.records import read_record
        from uer_ray.train.publish import publish_result

        record = read_record(folder / "metrics.json")
        home = ctx.home
        if home.remote:  # the record names the trial node's folders: use the driver's copies
            record["checkpoint"] = str(folder)
        parent = None
        if row.config is not None and row.config.has_stage2:
            stage2 = record["parent"]["checkpoint"] if record.get("parent") else None
            if stage2 and home.remote:
                key = Path(stage2).parent.name  # .../stage2/<key>/final
                stage2 = str(home.pull(home.local(), "stage2", key) / "final")
                record["parent"]["checkpoint"] = stage2
            if stage2:
                parent = zoo_publish(stage2, zoo=o.zoo, provenance=provenance,
                                     name=stage2_name(stage2, ctx.space.dataset))
        aliases = [f"best-{ctx.space.dataset}"] if rank == 0 else []
        done = publish_result(record, None, o.zoo, aliases=tuple(aliases), provenance=provenance)
        out.append({"trial_id": row.trial_id, "entry": done["entry"], "aliases": aliases,
                    "parent": f"{parent.name}@{parent.version}" if parent else None})
    return out


def stage2_name(checkpoint: str, dataset: str) -> str | None:
    """The zoo name of a stage-2 model trained from a stage-1 entry: the entry's name plus the
    dataset and the stage-2 targets (``clue+lstm+lm+book_review-lm``); None (the derived name)
    for one trained from scratch."""
    from uer_ray.records import find_record, read_record
    from uer_ray.zoo.refs import ZooError, check_name, slug

    found = find_record(checkpoint)
    record = read_record(found) if found is not None else {}
    parent = (record.get("parent") or {}).get("zoo")
    if not parent:
        return None
    targets = "-".join((record.get("model") or {}).get("targets") or {})
    try:
        return check_name(f"{parent.partition('@')[0]}+{slug(dataset)}-{slug(targets)}")
    except ZooError:  # too long: the derived name
        return None


def columns(row: Row) -> dict[str, Any]:
    c = trial_summary(row.config) if row.config is not None else {}
    return {"trial": row.trial_id, **c, "best_dev": row.best_dev, "best_epoch": row.best_epoch,
            "epochs_run": row.epochs_run, "seconds": round(row.seconds, 1), "status": row.status}


def markdown(board: list[Row], metric: str) -> str:
    rows = [columns(r) for r in board]
    if not rows:
        return "(no trials)"
    keys = list(dict.fromkeys(k for r in rows for k in r))
    head = "| " + " | ".join(f"dev {metric}" if k == "best_dev" else k for k in keys) + " |"
    lines = [head, "|" + "---|" * len(keys)]
    for r in rows:
        lines.append("| " + " | ".join(f"{r[k]:.0f}" if k == "seconds" else _cell(r.get(k))
                                       for k in keys) + " |")
    return "\n".join(lines)


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"
    return "" if v is None else str(v)


def csv_text(board: list[Row]) -> str:
    rows = [columns(r) for r in board]
    keys = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def search_record(space: SearchSpace, o, ctx: SearchContext, board: list[Row], winner: dict | None,
                  repeat: dict | None, published: list[dict], *, seconds: float, out: Path) -> dict:
    from uer_ray.records import build_record, metric_rows, sha256_file

    best = next((r for r in board if r.status == "finished"), None)
    model, parent, metrics = None, None, []
    if best is not None and (trial_folder(ctx, best.trial_id) / "metrics.json").exists():
        trial_record = json.loads((trial_folder(ctx, best.trial_id) / "metrics.json").read_text(encoding="utf-8"))
        model, parent = trial_record["model"], trial_record["parent"]
        metrics = list(trial_record["metrics"])
    elif best is not None:
        metrics = metric_rows(space.task, space.dataset, "dev", {ctx.metric: best.best_dev})
    local = ctx.home.local()
    files = {k: {"path": ctx.path(v, local), "sha256": sha256_file(ctx.path(v, local))}
             for k, v in ctx.files.items()}
    results = {
        "space": space.name, "searcher": o.searcher, "scheduler": o.scheduler,
        "samples": len(board), "concurrency": ctx.extra["concurrency"], "metric": ctx.metric,
        "winner": {"trial_id": best.trial_id, "config": best.config.to_flat(),
                   "best_dev": best.best_dev, "best_epoch": best.best_epoch} if best else None,
        "test": winner["test"] if winner else None,
        "leaderboard": [columns(r) for r in board],
        "status": {s: sum(r.status == s for r in board) for s in ("finished", "stopped", "failed")},
        "trial_seconds": sum(r.seconds for r in board),
        "repeats": list((repeat or {}).values()), "published": published,
    }
    return build_record(
        stage="search", name=f"search/{space.name}", model=model or {}, parent=parent,
        data={"search": {"dataset": space.dataset, "task": space.task, "files": files,
                         "shards_sha256": ctx.shards_sha256}},
        options=o.to_dict(), results=results, metrics=metrics,
        checkpoint=(ctx.home.uri_of("trials", best.trial_id, "finetune") if ctx.home.remote
                    else str(trial_folder(ctx, best.trial_id))) if best else str(out),
        seconds=seconds, device=o.device, provenance={"search": ctx.search_id})


def write(out: Path, board: list[Row], repeat: dict | None, record: dict) -> None:
    from uer_ray.atomic import atomic_file, write_json

    with atomic_file(out / "leaderboard.csv") as f:
        f.write(csv_text(board))
    with atomic_file(out / "leaderboard.md") as f:
        f.write(markdown(board, record["results"]["metric"]) + "\n")
    write_json(out / "metrics.json", record)


def summary_text(record: dict, board: list[Row], repeat: dict | None, published: list[dict],
                 home) -> str:
    r = record["results"]
    metric = r["metric"]
    lines = ["", markdown(board, metric), ""]
    if repeat:
        lines.append(f"Repeated with more seeds (dev {metric}, mean ± std over the seeds):")
        for item in repeat.values():
            c = trial_summary(TrialConfig.from_flat(item["config"]))
            lines.append(f"  {c['encoder']} / stage2 {c['stage2']} {c['weights']} / lr {c['lr']:.2g}: "
                         f"{item['mean']:.4f} ± {item['std']:.4f} ({len(item['dev'])} seeds)")
        lines.append("")
    w = r["winner"]
    s = r["status"]
    text = (f"Searched {r['samples']} configurations of {r['space']} ({r['searcher']}, "
            f"{r['scheduler']}, {r['concurrency']} at a time) in {record['seconds']:.0f} s: "
            f"{s['finished']} finished, {s['stopped']} stopped early, {s['failed']} failed.")
    if w:
        c = trial_summary(TrialConfig.from_flat(w["config"]))
        stage2 = "no stage 2" if c["stage2"] == "none" else f"stage 2 {c['stage2']} {c['weights']}"
        text += (f" Best: {w['trial_id']} ({c['encoder']}, {stage2}, lr {c['lr']:.2g}) with dev "
                 f"{metric} {w['best_dev']:.4f} at epoch {w['best_epoch']}")
        if r["test"]:
            text += f"; test {metric} {r['test'][metric]:.4f}"
        text += "."
    if published:
        text += " In the zoo: " + ", ".join(p["entry"] for p in published) + "."
    text += f" Leaderboard: {home.uri_of('leaderboard.md')}; record: {home.uri_of('metrics.json')}."
    lines.append(text)
    return "\n".join(lines)
