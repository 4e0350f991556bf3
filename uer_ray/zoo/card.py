"""The model card (``README.md``) of a zoo version, after the Hugging Face Hub card conventions:
YAML front matter (``library_name``, ``tags``, ``datasets``, ``base_model``, ``pipeline_tag``,
``model-index`` with every result row) and a body that says what the model is, how each stage
trained it, and how to use it. The front matter is written with ``yaml.safe_dump``, so
``yaml.safe_load`` reads back exactly the entry record's values."""

from __future__ import annotations

import yaml

_HIDDEN_OPTIONS = {"address", "overwrite", "resume", "quiet", "wandb_project", "wandb_group",
                   "wandb_name", "wandb_mode"}
_STAGE_TITLE = {"pretrain": "pre-training", "finetune": "fine-tuning"}


def task_type(task: str, targets: dict | None) -> str:
    """The Hub's pipeline tag: the fine-tuning task's (``Task.card_task_type``), else that of the
    first pre-training target that declares one (``Target.card_task_type``), else
    ``feature-extraction``."""
    from uer_ray.targets import TARGETS
    from uer_ray.tasks import TASKS

    if task in TASKS:
        return TASKS.get(task).card_task_type
    for name in targets or {}:
        if name in TARGETS and TARGETS.get(name).card_task_type:
            return TARGETS.get(name).card_task_type
    return "feature-extraction"


def model_index(entry: dict) -> list[dict]:
    """``model-index``: results grouped by (task, dataset, split), one metric item per row."""
    groups: dict[tuple, list[dict]] = {}
    for row in entry["results"]:
        groups.setdefault((row["task"], row["dataset"], row["split"]), []).append(row)
    results = []
    targets = (entry.get("model") or {}).get("targets")
    for (task, dataset, split), rows in groups.items():
        results.append({
            "task": {"type": task_type(task, targets), "name": task},
            "dataset": {"name": dataset, "type": dataset, "split": split},
            "metrics": [{"type": r["metric"], "value": r["value"], "name": f"{split} {r['metric']}"}
                        for r in rows],
        })
    return [{"name": entry["name"], "results": results}]


def front_matter(entry: dict, library: str = "uer_ray") -> dict:
    model = entry.get("model") or {}
    tags = ["uer_ray", "uer", entry["kind"], *(model.get("encoder") or []), *(model.get("targets") or {})]
    datasets = sorted({r["dataset"] for r in entry["results"]} | set(_data_names(entry)))
    meta: dict = {"library_name": library, "tags": list(dict.fromkeys(tags))}
    if datasets:
        meta["datasets"] = datasets
    parent = (entry.get("lineage") or {}).get("parent") or (entry.get("lineage") or {}).get("base_model")
    if parent:
        meta["base_model"] = parent
        if entry["kind"] == "fine-tuned":
            meta["base_model_relation"] = "finetune"
    first = entry["results"][0]["task"] if entry["results"] else _imported_task(entry) or "pretrain"
    meta["pipeline_tag"] = task_type(first, model.get("targets"))
    if entry["results"]:
        meta["model-index"] = model_index(entry)
    return meta


def _imported_task(entry: dict) -> str | None:
    """The task of a fine-tuned head an import brought along (a Hugging Face task-head class)."""
    return (entry.get("lineage") or {}).get("task")


def _data_names(entry: dict) -> list[str]:
    data = entry.get("data") or {}
    names = []
    shards = (data.get("pretrain") or {}).get("shards")
    if shards:
        names.append(str(shards).rstrip("/").rsplit("/", 1)[-1])
    if (data.get("finetune") or {}).get("dataset"):
        names.append(data["finetune"]["dataset"])
    return names


def command_of(training: dict) -> str | None:
    """The stage's command line rebuilt from its recorded options (scalars and lists; None and
    False options left out)."""
    stage, options = training.get("stage"), training.get("options") or {}
    if stage not in _STAGE_TITLE or not options:
        return None
    parts = ["python", "run.py", stage]
    for key, value in options.items():
        if key in _HIDDEN_OPTIONS or value is None or value is False or value in ({}, [], ""):
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            parts.append(flag)
        elif isinstance(value, dict):
            parts += [flag, ",".join(f"{k}:{v}" for k, v in value.items())]
        elif isinstance(value, (list, tuple)):
            parts += [flag, *map(str, value)]
        else:
            parts += [flag, str(value)]
    return " ".join(parts)


def render_card(entry: dict, ancestors: list[dict], library: str = "uer_ray") -> str:
    """The whole README.md; ``ancestors`` are the parent entries, oldest first."""
    yaml_text = yaml.safe_dump(front_matter(entry, library), sort_keys=False, allow_unicode=True)
    ref = f"{entry['name']}@{entry['version']}"
    body = [f"# {entry['name']}", "",
            f"Version `{entry['version']}` · {entry['kind']} · published {entry['created']} "
            f"with uer_ray {entry['package']['version']}.", "",
            "## What it is", "", *_what(entry), "",
            "## How it was trained", "", *_stages(ancestors + [entry]), ""]
    if entry["results"]:
        body += ["## Results", "", "| task | dataset | split | metric | value |", "|---|---|---|---|---|"]
        body += [f"| {r['task']} | {r['dataset']} | {r['split']} | {r['metric']} | {r['value']:.6g} |"
                 for r in entry["results"]]
        body.append("")
    body += ["## How to use", "", *_usage(entry, ref), "", "## Files", "",
             "| file | bytes | sha256 |", "|---|---:|---|"]
    body += [f"| `{k}` | {v['size']:,} | `{v['sha256']}`{_pieces(v)} |" for k, v in entry["files"].items()]
    if any(v.get("piece_size") for v in entry["files"].values()):
        body += ["", "A digest marked *of pieces* is the sha256 of the sha256 digests of the file's "
                 "pieces (the size given), concatenated in order: `split -b SIZE FILE p. && "
                 "sha256sum p.* | cut -c1-64 | xxd -r -p | sha256sum` prints it."]
    return f"---\n{yaml_text}---\n\n" + "\n".join(body) + "\n"


def _pieces(v: dict) -> str:
    return f" (of {v['piece_size']:,}-byte pieces)" if v.get("piece_size") else ""


def _what(entry: dict) -> list[str]:
    m = entry.get("model") or {}
    targets = ", ".join(f"{k} ({v:g})" for k, v in (m.get("targets") or {}).items())
    params = f"{m['parameters'] / 1e6:.1f} M parameters" if m.get("parameters") else "parameters unknown"
    preset = f" (preset `{m['preset']}`)" if m.get("preset") else ""
    lines = [f"Embedding {' + '.join(m.get('embedding') or [])}; encoder {' → '.join(m.get('encoder') or [])}; "
             f"pre-training targets {targets or 'none'}; {params}{preset}."]
    data = entry.get("data") or {}
    pre, fine = data.get("pretrain") or {}, data.get("finetune") or {}
    if pre:
        lines.append(f"Pre-training data: `{pre.get('shards')}` (processor {pre.get('processor')}, "
                     f"{_num(pre.get('instances'))} instances, {_num(pre.get('tokens'))} tokens).")
    if fine:
        sizes = ", ".join(f"{k} {v.get('rows', '?'):,} rows" if isinstance(v.get("rows"), int) else k
                          for k, v in (fine.get("files") or {}).items() if v)
        lines.append(f"Fine-tuned for `{fine.get('task')}` on {fine.get('dataset')} ({sizes}).")
    lines += _recipe(entry.get("provenance") or {})
    lin = entry.get("lineage") or {}
    if lin.get("relation"):
        lines.append(f"Lineage: {lin['relation']} {lin.get('parent') or lin.get('source') or 'an unpublished checkpoint'}.")
    return lines


def _recipe(p: dict) -> list[str]:
    """The recipe that built the entry (``zoo build``), from the provenance labels."""
    if not p.get("recipe"):
        return []
    return [f"Built by recipe `{p['recipe']}` (`{p.get('recipe_file')}`, sha256 "
            f"`{str(p.get('recipe_sha256'))[:12]}…`), run `{p.get('recipe_run')}`, on corpus "
            f"`{p.get('corpus')}` ({p.get('corpus_files')}); rebuild it with `python run.py zoo "
            f"build {p.get('recipe_file')} --only {p.get('recipe_run')} --force`."]


def _stages(chain: list[dict]) -> list[str]:
    lines = []
    for i, e in enumerate(chain, 1):
        t = e.get("training") or {}
        title = _STAGE_TITLE.get(t.get("stage"), "import")
        lines.append(f"{i}. {title}: `{e['name']}@{e['version']}` ({e['kind']})")
        summary = {k: t[k] for k in ("steps", "tokens_seen", "epochs_run", "best_epoch", "seconds")
                   if t.get(k) is not None}
        if summary:
            lines.append("   " + ", ".join(f"{k} {_num(v)}" for k, v in summary.items()))
        cmd = command_of(t)
        if cmd:
            lines += ["   ```bash", f"   {cmd}", "   ```"]
        elif (e.get("lineage") or {}).get("source"):
            head = (f", {e['lineage'].get('architecture')} head as task `{e['lineage']['task']}`"
                    if e["lineage"].get("task") else "")
            lines.append(f"   imported from `{e['lineage']['source']}` ({e['lineage'].get('format')}{head})")
    return lines


def _generates(entry: dict) -> str | None:
    """What ``run.py generate`` does with the model: its first target's ``Target.generates``."""
    from uer_ray.targets import TARGETS

    if entry["kind"] == "fine-tuned":
        return None
    for name in (entry.get("model") or {}).get("targets") or {}:
        if name in TARGETS and TARGETS.get(name).generates:
            return TARGETS.get(name).generates
    return None


def _num(v) -> str:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return "?" if v is None else str(v)
    return f"{v:,.6g}" if isinstance(v, float) else f"{v:,}"


def _usage(entry: dict, ref: str) -> list[str]:
    lines = ["```bash"]
    if entry["kind"] == "fine-tuned" or _imported_task(entry):
        lines.append(f"python run.py predict --model zoo:{ref} --input test.tsv --out predictions.tsv")
    generates = _generates(entry)
    if generates == "continuation":
        lines += [f'python run.py generate --model zoo:{ref} --prompt "TEXT TO CONTINUE" --max-new-tokens 50',
                  f"python run.py generate --model zoo:{ref} --input prompts.txt --out generated.tsv "
                  "--sample --top-p 0.9 --seed 1"]
    elif generates == "sequence":
        lines.append(f"python run.py generate --model zoo:{ref} --input sources.txt --out outputs.tsv --beams 4")
    lines += [f"python run.py finetune --task classify --init zoo:{ref} --train train.tsv --dev dev.tsv --out runs/cls",
              f"python run.py pretrain --init zoo:{ref} --data shards/ --out runs/stage2",
              "```", "", "```python", "import uer_ray", f'model = uer_ray.load_model("zoo:{ref}")', "```"]
    return lines
