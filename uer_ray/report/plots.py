"""The report's figures, with matplotlib (Agg, no display): labelled axes with units, legends,
sizes readable on a laptop screen, and colour that survives greyscale (each series also differs
in line style and marker; continuous values use viridis, which is monotone in lightness).

Every function returns a figure's PNG bytes, or None when there is nothing to draw."""

from __future__ import annotations

import io
import math
from collections import defaultdict

from uer_ray.report.collect import PretrainRun, Trial

STYLES = ["-", "--", "-.", ":"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 11, "axes.grid": True, "grid.alpha": 0.3,
                         "savefig.dpi": 110, "figure.autolayout": True})
    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    _plt().close(fig)
    return buf.getvalue()


def _style(i: int) -> dict:
    return {"linestyle": STYLES[i % len(STYLES)], "marker": MARKERS[i % len(MARKERS)]}


def groups_bar(trials: list[Trial], metric: str, repeats: list[dict],
               test: dict[str, float]) -> bytes | None:
    """Dev (and test) metric per encoder × stage-2 target set: the best trial of each group, or
    mean ± std over seeds where its configuration was repeated; n = trials behind the bar."""
    done = [t for t in trials if t.best_dev is not None]
    if not done:
        return None
    plt = _plt()
    by_group = defaultdict(list)
    for t in done:
        by_group[t.group].append(t)
    names = sorted(by_group, key=lambda g: -max(t.best_dev for t in by_group[g]))
    values, errors, counts, tests = [], [], [], []
    for g in names:
        best = max(by_group[g], key=lambda t: t.best_dev)
        rep = next((r for r in repeats if _same_config(r["config"], best.config)), None)
        if rep and len(rep["dev"]) > 1:
            values.append(rep["mean"])
            errors.append(rep["std"])
            counts.append(f"n={len(by_group[g])}, {len(rep['dev'])} seeds")
        else:
            values.append(best.best_dev)
            errors.append(0.0)
            counts.append(f"n={len(by_group[g])}")
        tests.append(test.get(best.trial_id))
    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(names) + 2), 4.5))
    x = range(len(names))
    width = 0.4 if any(v is not None for v in tests) else 0.6
    ax.bar([i - (width / 2 if width < 0.6 else 0) for i in x], values, width, yerr=errors,
           capsize=4, color="#3b528b", edgecolor="black", label=f"dev {metric} (best trial)")
    if width < 0.6:
        ax.bar([i + width / 2 for i in x], [v or 0 for v in tests], width, color="#bfe0a8",
               edgecolor="black", hatch="//", label=f"test {metric} (same trial)")
    for i, (v, n) in enumerate(zip(values, counts, strict=True)):
        ax.annotate(n, (i, v), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=9)
    ax.set_xticks(list(x), names, rotation=20, ha="right")
    ax.set_ylabel(f"{metric} (fraction)")
    ax.set_xlabel("encoder / stage-2 target set")
    low = min(values + [v for v in tests if v is not None])
    ax.set_ylim(max(0.0, low - 0.1), min(1.0, max(values) + 0.08) if max(values) <= 1 else None)
    ax.set_title(f"{metric} by encoder and stage-2 targets")
    ax.legend(loc="lower right")
    return _png(fig)


def _same_config(a: dict, b: dict) -> bool:
    return {k: v for k, v in a.items() if k != "seed"} == {k: v for k, v in b.items() if k != "seed"}


def weight_effect(trials: list[Trial], metric: str) -> bytes | None:
    """Dev metric against each stage-2 target weight that varies, per target and encoder."""
    series = defaultdict(list)
    for t in trials:
        config = t.typed
        if t.best_dev is None or config is None:
            continue
        for target, weight in config.targets.items():
            series[(target, config.encoder, config.stage2)].append((weight, t.best_dev))
    series = {k: sorted(v) for k, v in series.items() if len({w for w, _ in v}) > 1}
    if not series:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, ((target, enc, s2), points) in enumerate(sorted(series.items())):
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, label=f"{target} weight ({enc}, {s2})", **_style(i))
    ax.set_xlabel("stage-2 target weight (loss multiplier)")
    ax.set_ylabel(f"best dev {metric}")
    ax.set_title("effect of a target's weight")
    ax.legend()
    return _png(fig)


def parallel(trials: list[Trial], metric: str) -> bytes | None:
    """Parallel coordinates: each trial a line through its configuration to its dev metric."""
    done = [t for t in trials if t.best_dev is not None]
    if len(done) < 2:
        return None
    plt = _plt()
    from matplotlib import cm

    keys = [k for k in _axes(done)]
    fig, ax = plt.subplots(figsize=(max(7, 1.3 * (len(keys) + 1)), 4.8))
    columns = [_normalise([t.config.get(k) for t in done], k) for k in keys]
    devs = [t.best_dev for t in done]
    lo, hi = min(devs), max(devs)
    columns.append(([(d - lo) / (hi - lo) if hi > lo else 0.5 for d in devs], [f"{lo:.3f}", f"{hi:.3f}"]))
    for t in sorted(range(len(done)), key=lambda i: devs[i]):
        ys = [col[0][t] for col in columns]
        shade = (devs[t] - lo) / (hi - lo) if hi > lo else 0.5
        ax.plot(range(len(columns)), ys, color=cm.viridis(shade), alpha=0.85, linewidth=1.6,
                linestyle="-" if done[t].status == "finished" else "--")
    for i, (_, ticks) in enumerate(columns):
        ax.axvline(i, color="black", linewidth=0.8)
        for pos, text in zip(_tick_positions(len(ticks)), ticks, strict=True):
            ax.annotate(text, (i, pos), xytext=(3, 0), textcoords="offset points", fontsize=8, va="center")
    ax.set_xticks(range(len(columns)), [*keys, f"dev {metric}"], rotation=15)
    ax.set_yticks([])
    ax.set_title("configuration → dev metric (solid: finished; dashed: stopped early)")
    sm = plt.cm.ScalarMappable(cmap="viridis", norm=plt.Normalize(lo, hi))
    fig.colorbar(sm, ax=ax, label=f"best dev {metric}")
    return _png(fig)


def _axes(trials: list[Trial]) -> list[str]:
    keys = []
    for t in trials:
        for k in t.config:
            if k not in keys and k != "seed":
                keys.append(k)
    return [k for k in keys if len({str(t.config.get(k)) for t in trials}) > 1] or ["encoder"]


def _normalise(values: list, key: str) -> tuple[list[float], list[str]]:
    nums = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if len(nums) == len(values):
        log = key == "lr" and min(nums) > 0
        f = (lambda v: math.log10(v)) if log else (lambda v: float(v))
        lo, hi = f(min(nums)), f(max(nums))
        pos = [(f(v) - lo) / (hi - lo) if hi > lo else 0.5 for v in values]
        return pos, [f"{min(nums):.2g}", f"{max(nums):.2g}"]
    cats = sorted({str(v) for v in values})
    pos = [cats.index(str(v)) / max(1, len(cats) - 1) if len(cats) > 1 else 0.5 for v in values]
    return pos, cats


def _tick_positions(n: int) -> list[float]:
    return [0.5] if n == 1 else [i / (n - 1) for i in range(n)]


def asha(trials: list[Trial], metric: str) -> bytes | None:
    """Dev metric after each epoch for every trial; stopped trials end in a cross."""
    shown = [t for t in trials if t.history]
    if not shown:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for i, t in enumerate(shown):
        xs = [h["epoch"] for h in t.history]
        ys = [h["dev"] for h in t.history]
        stopped = t.status == "stopped"
        ax.plot(xs, ys, linestyle="--" if stopped else "-", marker=MARKERS[i % len(MARKERS)],
                alpha=0.8, label=f"{t.trial_id} {t.group}" if len(shown) <= 12 else None)
        if stopped:
            ax.plot(xs[-1], ys[-1], marker="x", markersize=12, color="black")
    ax.plot([], [], "kx", markersize=10, label="stopped by the scheduler")
    ax.set_xlabel("fine-tuning epoch")
    ax.set_ylabel(f"dev {metric}")
    ax.set_title("dev metric per epoch (ASHA stops the trials that trail)")
    ax.legend(fontsize=8, ncol=2 if len(shown) > 6 else 1)
    ax.xaxis.get_major_locator().set_params(integer=True)
    return _png(fig)


def pretraining(runs: list[PretrainRun]) -> bytes | None:
    """Loss per target against step, and tokens/s, for each pre-training run."""
    runs = [r for r in runs if r.lines]
    if not runs:
        return None
    plt = _plt()
    fig, (ax, sp) = plt.subplots(1, 2, figsize=(12, 4.6))
    i = 0
    for run in runs:
        targets = sorted({k.split("/")[0] for line in run.lines for k in line if k.endswith("/loss")})
        for target in targets:
            pts = [(line["step"], line[f"{target}/loss"]) for line in run.lines if f"{target}/loss" in line]
            xs, ys = zip(*pts, strict=True)
            ax.plot(xs, ys, label=f"{run.name}: {target}", **_style(i), markersize=4)
            i += 1
        pts = [(line["step"], line["tokens_per_s"]) for line in run.lines if "tokens_per_s" in line]
        if pts:
            xs, ys = zip(*pts, strict=True)
            sp.plot(xs, ys, label=run.name, **_style(i), markersize=4)
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("training loss (nats per prediction)")
    ax.set_title("pre-training loss per target")
    ax.legend(fontsize=8)
    sp.set_xlabel("optimiser step")
    sp.set_ylabel("real tokens per second (all workers)")
    sp.set_title("pre-training throughput")
    sp.legend(fontsize=8)
    return _png(fig)
