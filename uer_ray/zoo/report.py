"""Text views of zoo entries for the ``zoo`` command: the list table (with filters and metric
sorting over an entry's own results and those of the models fine-tuned from it), ``show``,
``lineage`` and ``diff``. Pure functions over entry records."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

_LOWER_IS_BETTER = re.compile(r"loss|mse|mae|rmse|perplexity|ppl|error", re.I)
_KIND_WORDS = {"pretrained": "pre-trained", "pre-trained": "pre-trained", "finetuned": "fine-tuned",
               "fine-tuned": "fine-tuned", "imported": "imported"}


def table(header: list[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell, two spaces apart."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in [header, *rows]]
    return "\n".join(lines)


def ref(entry: dict) -> str:
    return f"{entry['name']}@{entry['version']}"


def kind_word(text: str) -> str:
    from uer_ray.zoo.refs import ZooError

    try:
        return _KIND_WORDS[text.lower()]
    except KeyError:
        raise ZooError(f"unknown kind {text!r}: pre-trained, fine-tuned or imported") from None


def downstream(entries: list[dict]) -> dict[str, list[tuple[dict, str]]]:
    """ref -> [(result row, ref of the entry that produced it)]: an entry's own rows plus every
    row of its descendants (models fine-tuned or further pre-trained from it)."""
    by_ref = {ref(e): e for e in entries}
    out = {r: [(row, r) for row in e["results"]] for r, e in by_ref.items()}
    for r, e in by_ref.items():
        seen, parent = set(), (e.get("lineage") or {}).get("parent")
        while parent in by_ref and parent not in seen:
            seen.add(parent)
            out[parent] += [(row, r) for row in e["results"]]
            parent = (by_ref[parent].get("lineage") or {}).get("parent")
    return out


@dataclass
class Filters:
    kind: str | None = None
    task: str | None = None
    dataset: str | None = None
    encoder: str | None = None
    target: str | None = None
    sort: str | None = None
    split: str = "dev"


def select(entries: list[dict], all_entries: list[dict], f: Filters) -> list[tuple[dict, tuple | None]]:
    """(entry, (value, metric, from-ref) or None) for entries passing the filters, best first
    when sorting by a metric."""
    rows = downstream(all_entries)
    out = []
    for e in entries:
        model = e.get("model") or {}
        if f.kind and e["kind"] != kind_word(f.kind):
            continue
        if f.encoder and f.encoder not in (model.get("encoder") or []):
            continue
        if f.target and f.target not in (model.get("targets") or {}):
            continue
        mine = [(row, src) for row, src in rows.get(ref(e), [])
                if (not f.task or row["task"] == f.task) and (not f.dataset or row["dataset"] == f.dataset)]
        if (f.task or f.dataset) and not mine:
            continue
        out.append((e, _best(mine, f) if f.sort else None))
    if f.sort:
        lower = bool(_LOWER_IS_BETTER.search(f.sort))
        out.sort(key=lambda x: (x[1] is None, (x[1][0] if lower else -x[1][0]) if x[1] else 0))
    return out


def _best(rows: list[tuple[dict, str]], f: Filters) -> tuple | None:
    hits = [(row["value"], row["metric"], src) for row, src in rows
            if row["metric"] == f.sort and row["split"] == f.split]
    if not hits:
        return None
    lower = bool(_LOWER_IS_BETTER.search(f.sort))
    return min(hits) if lower else max(hits, key=lambda h: h[0])


def list_table(selected: list[tuple[dict, tuple | None]], aliases: dict[str, dict[str, str]],
               f: Filters) -> str:
    header = ["NAME", "VERSION", "KIND", "ENCODER", "TARGETS", "PARAMS"]
    if f.sort:
        header += [f"{f.split} {f.sort}".upper(), "FROM"]
    header += ["ALIASES"]
    body = []
    for e, best in selected:
        m = e.get("model") or {}
        params = f"{m['parameters'] / 1e6:.1f}M" if m.get("parameters") else "-"
        row = [e["name"], e["version"], e["kind"], "+".join(m.get("encoder") or []),
               ",".join(f"{k}:{v:g}" for k, v in (m.get("targets") or {}).items()), params]
        if f.sort:
            row += [f"{best[0]:.4f}" if best else "-",
                    ("itself" if best[2] == ref(e) else best[2]) if best else "-"]
        names = [a for a, v in (aliases.get(e["name"]) or {}).items() if v == e["version"]]
        row.append(",".join(sorted(names)) or "-")
        body.append(row)
    return table(header, body)


def show_text(e: dict, aliases: list[str], children: list[dict], uri: str) -> str:
    m, t, lin = e.get("model") or {}, e.get("training") or {}, e.get("lineage") or {}
    lines = [f"{ref(e)}  ({e['kind']}; aliases: {', '.join(sorted(aliases)) or '-'})",
             f"  store      {uri}",
             f"  created    {e['created']} with uer_ray {e['package']['version']}",
             f"  model      {' + '.join(m.get('embedding') or [])} / {' → '.join(m.get('encoder') or [])} / "
             + ", ".join(f"{k}:{v:g}" for k, v in (m.get("targets") or {}).items())
             + (f"; {m['parameters']:,} parameters" if m.get("parameters") else "")
             + (f"; preset {m['preset']}" if m.get("preset") else "")]
    for stage, d in (e.get("data") or {}).items():
        lines.append(f"  data       {stage}: " + json.dumps(_brief(d), ensure_ascii=False))
    summary = {k: v for k, v in t.items() if k not in ("options", "final") and v is not None}
    lines.append("  training   " + json.dumps(summary, ensure_ascii=False))
    if lin.get("relation") or lin.get("source"):
        lines.append(f"  lineage    {lin.get('relation')} {lin.get('parent') or lin.get('source') or lin.get('checkpoint')}")
    if e.get("provenance"):
        lines.append("  provenance " + json.dumps(e["provenance"], ensure_ascii=False))
    if children:
        lines.append("  children   " + ", ".join(ref(c) for c in children))
    if e["results"]:
        lines += ["", table(["TASK", "DATASET", "SPLIT", "METRIC", "VALUE"],
                            [[r["task"], r["dataset"], r["split"], r["metric"], f"{r['value']:.6g}"]
                             for r in e["results"]])]
    lines += ["", table(["FILE", "BYTES", "SHA256"],
                        [[k, f"{v['size']:,}", v["sha256"][:16] + "…" + (" (pieces)" if v.get("piece_size") else "")]
                         for k, v in e["files"].items()])]
    return "\n".join(lines)


def _brief(d: dict) -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, str) and len(v) == 64 and all(c in "0123456789abcdef" for c in v):
            v = v[:12] + "…"
        out[k] = _brief(v) if isinstance(v, dict) else v
    return out


def lineage_text(chain: list[dict], children: list[dict]) -> str:
    lines = []
    for i, e in enumerate(chain):
        lin = e.get("lineage") or {}
        how = f"{lin.get('relation')} ↑" if i else (
            f"{lin['relation']} {lin.get('source') or lin.get('checkpoint')}" if lin.get("relation") else "trained from scratch")
        metric = ", ".join(f"{r['split']} {r['metric']} {r['value']:.4g}" for r in e["results"][:3])
        lines.append(f"{'   ' * i}{'└─ ' if i else ''}{ref(e)}  [{e['kind']}] {how}"
                     + (f"  ({metric})" if metric else ""))
    for c in children:
        lines.append(f"{'   ' * len(chain)}└─ {ref(c)}  [{c['kind']}] {(c.get('lineage') or {}).get('relation')} ↑")
    return "\n".join(lines)


def flatten(d, prefix: str = "") -> dict:
    if not isinstance(d, dict):
        return {prefix: d}
    out = {}
    for k, v in d.items():
        out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def diff_text(a: dict, b: dict) -> str:
    """Configs, training summaries and results of two entries side by side (only what differs
    for the config; every result row)."""
    ca, cb = _comparable(a), _comparable(b)
    rows = [[k, _cell(ca.get(k)), _cell(cb.get(k))] for k in sorted(set(ca) | set(cb))
            if ca.get(k) != cb.get(k) and not k.startswith("training.options.out")]
    out = [f"A = {ref(a)} ({a['kind']})", f"B = {ref(b)} ({b['kind']})", ""]
    out.append(table(["KEY", "A", "B"], rows) if rows else "models, data, training and lineage are identical")
    ka = {(r["task"], r["dataset"], r["split"], r["metric"]): r["value"] for r in a["results"]}
    kb = {(r["task"], r["dataset"], r["split"], r["metric"]): r["value"] for r in b["results"]}
    if ka or kb:
        res = []
        for key in sorted(set(ka) | set(kb)):
            va, vb = ka.get(key), kb.get(key)
            delta = f"{vb - va:+.4f}" if va is not None and vb is not None else "-"
            res.append([*key, _cell(va), _cell(vb), delta])
        out += ["", table(["TASK", "DATASET", "SPLIT", "METRIC", "A", "B", "B-A"], res)]
    return "\n".join(out)


def _comparable(e: dict) -> dict:
    """The flat keys ``diff`` compares: model (config separately), data, training, lineage."""
    model = e.get("model") or {}
    return flatten({"model": {k: v for k, v in model.items() if k != "config"},
                    "config": model.get("config") or {}, "data": e.get("data") or {},
                    "training": e.get("training") or {}, "lineage": e.get("lineage") or {}})


def _cell(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.6g}"
    text = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
    return text if len(text) <= 72 else text[:71] + "…"
