"""The end of a pre-training run, on the driver: ``OUT/final`` from the last checkpoint (read
from the run's storage, local or ``s3://``), the result record (``OUT/metrics.json``,
docs/contracts.md) from the ``metrics.jsonl`` the driver wrote, and the summary paragraph.

World size can change within a run (``--workers MIN-MAX``, or a restart on fewer nodes), so the
record takes the world size and the effective batch from the lines themselves: ``workers`` is
the size at the end, ``world_sizes`` the sizes the run trained with in their order, and ``sequences_seen`` /
``tokens_seen`` are counted per step by the workers that trained it.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from uer_ray.atomic import atomic_dir, write_json
from uer_ray.errors import InputError
from uer_ray.train.state import MODEL_DIR


def finish(o, info, result, started: float, model_config: dict, parameters: int,
           extended: dict | None, init: str | None, init_entry: str | None = None,
           restarts: int = 0) -> dict:
    """Copy the final model into ``OUT/final`` and write the result record; returns it."""
    from uer_ray.records import build_record, model_section, parent_of
    from uer_ray.tracking import describe_model as names_of
    from uer_ray.tracking import read_metrics

    out = Path(o.out)
    with result.checkpoint.as_directory() as d, atomic_dir(out / "final") as final:
        shutil.copytree(Path(d) / MODEL_DIR, final, dirs_exist_ok=True)
    records = read_metrics(out / "metrics.jsonl")
    if not records:
        raise InputError("no metrics were logged", str(out / "metrics.jsonl"))
    results = run_results(o, records, extended, restarts)
    losses = {k: v for k, v in results["final"].items() if k == "loss" or k.endswith("/loss")}
    preset = o.model if isinstance(o.model, str) and not o.model.endswith(".json") else None
    record = build_record(
        stage="pretrain", name=o.wandb_name or names_of(model_config)["name"],
        model=model_section(model_config, parameters, preset),
        data=data_section(o, info), parent=parent_of(init, "stage 2 of", init_entry),
        options=o.to_dict(), results=results,
        metrics=[{"task": "pretrain", "dataset": Path(o.data).absolute().name, "split": "train",
                  "metric": k, "value": float(v)} for k, v in losses.items()],
        checkpoint=str(out / "final"), seconds=time.time() - started,
        device="cuda" if o.gpu else "cpu", provenance=o.provenance)
    write_json(out / "metrics.json", record)
    return record


def run_results(o, records: list[dict], extended: dict | None, restarts: int) -> dict:
    """The ``results`` section from the log lines (first and last line, speeds, world sizes)."""
    first, last = records[0], records[-1]
    speeds = [r["tokens_per_s"] for r in records[1:]] or [first["tokens_per_s"]]
    final_metrics = {k: v for k, v in last.items() if k not in ("step", "epoch", "time")}
    fallback = max(o.workers) if isinstance(o.workers, tuple) else o.workers
    sizes: list[int] = []  # in the order the run used them
    for r in records:
        if not sizes or sizes[-1] != int(r.get("workers", fallback)):
            sizes.append(int(r.get("workers", fallback)))
    workers = int(last.get("workers", fallback))
    return {
        "steps": last["step"],
        "epochs": last["epoch"],
        "loss_first": first["loss"],
        "loss_last": last["loss"],
        "final": final_metrics,
        "tokens_seen": last.get("tokens_seen"),
        "sequences_seen": last.get("sequences_seen"),
        "tokens_per_s": sum(speeds) / len(speeds),
        "effective_batch_size": last.get("effective_batch_size",
                                         o.batch_size * o.grad_accum * workers),
        "workers": workers,
        "world_sizes": sizes,
        "restarts": restarts,
        "extended": extended,
    }


def data_section(o, info) -> dict:
    manifest = info.manifest
    return {"pretrain": {
        "shards": str(Path(o.data).absolute()), "manifest_sha256": info.manifest_sha256,
        "processor": info.processor,
        "corpus_sha256": [c.get("sha256") for c in manifest.get("corpus", [])],
        "instances": manifest.get("instances"), "tokens": manifest.get("tokens")}}


def summary_paragraph(record: dict) -> str:
    """The one paragraph the command prints at the end."""
    s = record["results"]
    targets = ", ".join(
        f"{k.split('/')[0]} {v:.3f}" for k, v in s["final"].items() if k.endswith("/accuracy")
    )
    extended = s.get("extended")
    grown = (f" (extended from {extended['from_steps']} to {extended['to_steps']} steps; the "
             "learning-rate schedule was re-planned for the new total)") if extended else ""
    sizes = s.get("world_sizes") or [s["workers"]]
    workers = f"{s['workers']} worker(s)" if len(sizes) == 1 else (
        f"{' -> '.join(map(str, sizes))} workers (ending with {s['workers']})")
    restarts = s.get("restarts") or 0
    restarted = f", {restarts} restart(s) from a checkpoint" if restarts else ""
    return (
        f"Pre-trained {s['steps']} steps{grown} ({s['epochs'] + 1} epoch(s) started) on "
        f"{workers}{restarted}, effective batch {s['effective_batch_size']}, in "
        f"{record['seconds']:.0f} s; loss {s['loss_first']:.4f} -> {s['loss_last']:.4f}"
        + (f"; accuracy {targets}" if targets else "")
        + f"; {s['tokens_per_s']:.0f} tokens/s. Model: {record['checkpoint']} "
        "(load with uer_ray.load_model or finetune --init); metrics in metrics.jsonl/metrics.json."
        + (f" Published to the zoo as {record['published']['entry']}." if record.get("published") else "")
    )
