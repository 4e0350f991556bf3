"""What a fine-tuning run leaves behind: its W&B run, its result record (``metrics.json``,
docs/contracts.md), the files of its output folder, and the paragraph ``run.py finetune`` ends
with."""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from uer_ray.train.finetune import FinetuneOptions, Prepared


def open_wandb(o: FinetuneOptions, p: Prepared, folder: Path):
    """The run's W&B handle (the driver logs; workers never do): offline files in ``folder``
    unless ``wandb_mode``/``WANDB_MODE`` say otherwise."""
    from uer_ray.tracking import WandbRun, WandbSettings, describe_model

    names = describe_model(p.ft.model.config.to_dict())
    arch = names["name"].rsplit("/", 1)[0]  # embedding/encoder: the pre-training targets are gone
    start = "pretrained" if p.init else "scratch"
    settings = WandbSettings(
        project=o.wandb_project, name=o.wandb_name or f"{o.task}/{arch}/{start}",
        group=o.wandb_group or f"finetune-{o.task}",
        tags=[f"task:{o.task}", f"start:{start}", *names["tags"], *o.wandb_tags],
        mode=o.wandb_mode, dir=str(folder), job_type="finetune")
    config = {"task": o.task, "dataset": o.dataset_name, "source": p.source,
              "pooling": p.settings.pooling, "seq_length": o.seq_length, "freeze": o.freeze,
              "crf": o.crf, "workers": o.workers, "epochs": o.epochs, "batch_size": o.batch_size,
              "lr": p.hp.lr, "warmup": o.warmup, "patience": o.patience, "seed": o.seed,
              **{f"provenance.{k}": v for k, v in o.provenance.items()}, **o.wandb_config}
    state = random.getstate()  # W&B must not shift the seeded Python random stream
    try:
        return WandbRun(settings, config)
    finally:
        random.setstate(state)


def build(o: FinetuneOptions, p: Prepared, fitted: dict, test: dict | None, device: str,
            seconds: float) -> dict:
    from uer_ray.records import build_record, metric_rows, model_section, parent_of, sha256_file

    history = fitted["history"]
    epochs = [r["epoch_seconds"] for r in history]
    files = {split: {**info, "sha256": sha256_file(info["path"])} for split, info in p.files.items()}
    results = {
        "task": o.task, "source": p.source, "select_metric": p.task.select_metric,
        "best_epoch": fitted["best_epoch"], "epochs_run": len(history),
        "stopped_early": fitted["stopped_early"], "dev": fitted["best_dev"], "test": test,
        "history": history,
        "examples": {k: len(v) for k, v in p.data.items() if v is not None},
        "labels": p.settings.labels, "pooling": p.settings.pooling,
        "seq_length": p.settings.seq_length, "freeze": o.freeze, "crf": o.crf,
        "workers": o.workers, "lr": p.hp.lr,
        "seconds_per_epoch": sum(epochs) / len(epochs) if epochs else 0.0,
    }
    model = p.ft.model
    n_params = sum(t.numel() for t in model.parameters())
    dataset = o.dataset_name
    return build_record(
        stage="finetune", name=o.wandb_name or _default_name(o, p),
        model=model_section(model.config.to_dict(), n_params, p.preset),
        data={"finetune": {"dataset": dataset, "task": o.task, "files": files}},
        parent=parent_of(p.init, "fine-tuned from", _zoo_ref(p.init)), options=o.to_dict(),
        results=results,
        metrics=metric_rows(o.task, dataset, "dev", fitted["best_dev"])
        + metric_rows(o.task, dataset, "test", test),
        checkpoint=o.out, seconds=seconds, device=device, provenance=o.provenance)


def _zoo_ref(folder: str | None) -> str | None:
    """``NAME@VERSION`` when the starting checkpoint is a zoo version."""
    if folder is None:
        return None
    from uer_ray.zoo import entry_of

    return entry_of(folder)


def _default_name(o: FinetuneOptions, p: Prepared) -> str:
    from uer_ray.tracking import describe_model

    arch = describe_model(p.ft.model.config.to_dict())["name"].rsplit("/", 1)[0]
    return f"{o.task}/{arch}/{'pretrained' if p.init else 'scratch'}"


def write_outputs(folder: Path, p: Prepared, fitted: dict, record: dict, scratch: Path) -> None:
    import json

    from uer_ray.atomic import write_json
    from uer_ray.records import numeric
    from uer_ray.tasks.checkpoint import save_finetuned

    results = record["results"]
    # save_pretrained writes the folder afresh, so everything else goes in after it.
    save_finetuned(folder, p.ft, p.tokenizer, p.settings,
                   meta={"produced_by": "finetune", "task": results["task"], "source": p.source,
                         "best_epoch": results["best_epoch"], "dev": numeric(results["dev"]),
                         "test": numeric(results["test"])})
    if (scratch / "wandb").exists():
        shutil.move(scratch / "wandb", folder / "wandb")
    with open(folder / "metrics.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in fitted["history"])
    write_json(folder / "metrics.json", record)


def summary_paragraph(record: dict) -> str:
    """The one paragraph ``run.py finetune`` ends with."""
    r = record["results"]
    metric = r["select_metric"]
    dev = r["dev"].get(metric, float("nan"))
    test = f"; test {metric} {r['test'][metric]:.4f}" if r["test"] else ""
    where = f"{r['workers']} Ray workers" if r["workers"] else "in-process"
    early = " (stopped early)" if r["stopped_early"] else ""
    out = record["checkpoint"]
    published = (f" Published to the zoo as {record['published']['entry']}."
                 if record.get("published") else "")
    return (
        f"Fine-tuned {r['task']} ({r['source']}"
        f"{', CRF' if r['crf'] else ''}{', pooling ' + r['pooling'] if _pooled(r['task']) else ''}"
        f"{', encoder frozen' if r['freeze'] else ''}) on {r['examples']['train']:,} examples "
        f"for {r['epochs_run']} epoch(s){early}, {r['seconds_per_epoch']:.1f} s/epoch {where} "
        f"on {record['device']}; best dev {metric} {dev:.4f} at epoch {r['best_epoch']}{test}. "
        f"Model and metrics.json in {out}; predict with: python run.py predict --model {out} "
        "--input FILE --out FILE." + published
    )


def _pooled(task: str) -> bool:
    from uer_ray.tasks import TASKS

    return task not in TASKS or TASKS.get(task).output == "pooled"
