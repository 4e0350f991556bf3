"""``make_report``: collected runs -> tables, figures, paired comparisons -> ``report.html``
(self-contained), ``report.md`` and one PNG per figure in the output folder."""

from __future__ import annotations

import html
import json
from pathlib import Path

from uer_ray.report import collect, page, plots
from uer_ray.report.collect import Collected

CAPTIONS = {
    "groups": "Dev (and test) metric by encoder × stage-2 target set",
    "weights": "Dev metric against stage-2 target weights",
    "parallel": "Parallel coordinates: configuration → dev metric",
    "asha": "Dev metric per epoch of every trial (crosses: stopped early)",
    "pretraining": "Pre-training loss per target and throughput",
}


def gather(sources: list[str], *, zoo: str | None = None, zoo_filters: dict | None = None) -> Collected:
    """What the sources hold: one search folder, a list of run folders, or the zoo."""
    from uer_ray.errors import InputError

    if zoo is not None or zoo_filters is not None:
        if sources:
            raise InputError("give run folders or --zoo, not both")
        return collect.zoo(zoo, zoo_filters or {})
    if not sources:
        raise InputError("name a search folder, run folders, or --zoo")
    from uer_ray.tune.home import SearchHome, is_remote

    if len(sources) == 1 and is_remote(sources[0]):  # a search whose home is a store
        return collect.search(SearchHome(sources[0]).mirror())
    if any(is_remote(s) for s in sources):
        raise InputError("only a search folder can be read from a store URI; give run folders as paths")
    folders = [Path(s) for s in sources]
    if len(folders) == 1 and collect.is_search(folders[0]):
        return collect.search(folders[0])
    return collect.runs(folders)


def make_report(c: Collected, out: str | Path, *, compare: bool = True) -> dict:
    """Write the report; returns ``{html, markdown, figures, sections, comparisons}``."""
    from uer_ray.atomic import atomic_file

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sections, figures = [], {}
    comparisons, test_scores = [], {}
    if c.trials:
        sections.append(("Leaderboard", *_leaderboard(c)))
        if compare and c.test_file and Path(c.test_file).exists():
            comparisons, notes, test_scores = _compare_trials(c, out)
            c.notes.extend(notes)
            if comparisons:
                sections.append(("Which differences are larger than the noise", *_comparisons(comparisons, c)))
        if c.repeats:
            sections.append(("Repeated seeds", *_repeats(c)))
        for name, png in (("groups", plots.groups_bar(c.trials, c.metric, c.repeats, test_scores)),
                          ("weights", plots.weight_effect(c.trials, c.metric)),
                          ("parallel", plots.parallel(c.trials, c.metric)),
                          ("asha", plots.asha(c.trials, c.metric))):
            if png is not None:
                figures[name] = png
    if c.finetune:
        sections.append(("Fine-tuning runs", *_finetune(c)))
    if c.pretrain:
        sections.append(("Pre-training runs", *_pretrain(c)))
        png = plots.pretraining(c.pretrain)
        if png is not None:
            figures["pretraining"] = png
    if c.zoo:
        sections.append(("Best model per dataset (zoo)", *_zoo_best(c)))
    if not (c.trials or c.finetune or c.pretrain or c.zoo):
        c.notes.append("nothing to show yet")
    for name, png in figures.items():
        (out / f"{name}.png").write_bytes(png)
    html_text, md = page.render(c, sections, figures, CAPTIONS)
    with atomic_file(out / "report.html") as f:
        f.write(html_text)
    with atomic_file(out / "report.md") as f:
        f.write(md)
    from uer_ray.report.evaluate import summary

    labels = {t.trial_id: t.label for t in c.trials + c.repeat_trials}
    rows = [{**summary(x), "a_label": labels.get(x.a), "b_label": labels.get(x.b)} for x in comparisons]
    (out / "comparisons.json").write_text(json.dumps(rows, indent=1),
                                          encoding="utf-8")
    return {"html": str(out / "report.html"), "markdown": str(out / "report.md"),
            "figures": [str(out / f"{n}.png") for n in figures], "sections": [s[0] for s in sections],
            "comparisons": len(comparisons), "notes": list(c.notes), "trials": len(c.trials)}


def _leaderboard(c: Collected) -> tuple[str, str]:
    order = sorted(c.trials, key=lambda t: (t.best_dev is None, -(t.best_dev or 0)))
    keys = []
    for t in order:
        keys += [k for k in t.config if k not in keys and k != "seed"]
    # a value every trial shares is said once, under the table, not in a column
    same = {k: order[0].config.get(k) for k in keys
            if len(order) > 1 and len({json.dumps(t.config.get(k)) for t in order}) == 1}
    keys = [k for k in keys if k not in same]
    header = ["trial", *keys, f"best dev {c.metric}", "epoch", "epochs run", "seconds", "status"]
    rows = [[t.trial_id, *[t.config.get(k) for k in keys], t.best_dev, t.best_epoch,
             len(t.history), int(round(t.seconds)), t.status + (f": {t.error[:80]}" if t.error else "")]
            for t in order]
    if c.planned and c.planned > len(c.trials):
        rows.append([f"({c.planned - len(c.trials)} more planned)"] + [""] * (len(header) - 1))
    h, md = page.table_rows(header, rows)
    if same:
        common = ", ".join(f"{k} = {v}" for k, v in same.items())
        h += f"<p>Every trial: {html.escape(common)}.</p>"
        md += f"\n\nEvery trial: {common}."
    return h, md


def _compare_trials(c: Collected, out: Path):
    from uer_ray.report.evaluate import comparisons

    # the top configurations' repeated seeds are compared too: seed against seed of one
    # configuration is the noise the differences between configurations must exceed
    models = {t.trial_id: t.folder for t in c.trials + c.repeat_trials if t.folder is not None}
    if len(models) < 2:
        return [], ["fewer than two finished configurations: no comparison on the test set"], {}
    items, notes = comparisons(models, c.test_file, c.metric, out / "cache")
    scores = {}
    for x in items:
        scores.setdefault(x.a, x.a_value)
        scores.setdefault(x.b, x.b_value)
    return items, notes, scores


def _comparisons(items, c: Collected) -> tuple[str, str]:
    labels = {t.trial_id: t.label for t in c.trials + c.repeat_trials}
    header = ["configuration A", "configuration B", f"test {c.metric} A", f"test {c.metric} B",
              "A − B", "95% interval (paired bootstrap)", "McNemar p", "resolved"]
    rows = [[f"{x.a} {labels.get(x.a, '')}", f"{x.b} {labels.get(x.b, '')}", x.a_value, x.b_value,
             x.difference, f"[{x.low:+.4f}, {x.high:+.4f}]",
             None if x.mcnemar_p is None else round(x.mcnemar_p, 4), "yes" if x.resolved else "no"]
            for x in items]
    h, md = page.table_rows(header, rows)
    lead = (f"<p>Each pair scored on the same {c.test_file} examples; a difference is resolved when "
            "its 95% interval excludes zero.</p>")
    return lead + h, md


def _repeats(c: Collected) -> tuple[str, str]:
    rows = [[" ".join(f"{k}={v}" for k, v in r["config"].items() if k != "seed"),
             len(r["dev"]), r["mean"], r["std"], ", ".join(f"{v:.4f}" for v in r["dev"])]
            for r in c.repeats]
    return page.table_rows(["configuration", "seeds", f"mean dev {c.metric}", "std", "values"], rows)


def _finetune(c: Collected) -> tuple[str, str]:
    rows = []
    for r in c.finetune:
        res = r["results"]
        metric = res["select_metric"]
        rows.append([r["checkpoint"], "+".join(r["model"]["encoder"]), res["task"],
                     (r["data"]["finetune"] or {}).get("dataset"), res["dev"].get(metric),
                     (res["test"] or {}).get(metric), res["best_epoch"],
                     (r.get("parent") or {}).get("checkpoint") or "scratch"])
    return page.table_rows(["run", "encoder", "task", "dataset", "dev", "test", "best epoch", "from"], rows)


def _pretrain(c: Collected) -> tuple[str, str]:
    rows = []
    for run in c.pretrain:
        last = run.lines[-1] if run.lines else {}
        targets = {k: v for k, v in last.items() if k.endswith("/loss")}
        status = "finished" if run.record else "running or stopped"
        if run.torn:
            status += " (last log line cut)"
        rows.append([run.name, last.get("step"), run.lines[0]["loss"] if run.lines else None,
                     last.get("loss"), ", ".join(f"{k} {v:.3f}" for k, v in targets.items()),
                     None if last.get("tokens_per_s") is None else int(round(last["tokens_per_s"])), status])
    return page.table_rows(["run", "steps", "first loss", "last loss", "per target", "tokens/s", "status"], rows)


def _zoo_best(c: Collected) -> tuple[str, str]:
    best: dict[tuple, tuple] = {}
    for e in c.zoo:
        for r in e.get("results", []):
            if r.get("split") not in ("dev", "test"):
                continue
            key = (r.get("dataset"), r.get("task"), r.get("split"), r.get("metric"))
            if key not in best or r["value"] > best[key][0]:
                best[key] = (r["value"], e)
    rows = []
    for (dataset, task, split, metric), (value, e) in sorted(best.items(), key=lambda kv: str(kv[0])):
        lineage = (e.get("lineage") or {}).get("parent") or "-"
        rows.append([dataset, task, split, metric, value, f"{e['name']}@{e['version']}", e.get("kind"), lineage])
    return page.table_rows(["dataset", "task", "split", "metric", "best", "entry", "kind", "parent"], rows)
