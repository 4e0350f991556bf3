"""Weights & Biases for training runs: opened on world rank 0 only, offline unless configured.

W&B's own Ray helper opens one run per worker under Ray Train V2; here only the caller that is
rank 0 opens a run, so a dashboard shows one curve per experiment. Without ``WANDB_MODE`` set,
runs are written offline under ``<out>/wandb`` (sync later with ``wandb sync``): nothing needs a
key or a network. Run name, group and tags carry the embedding/encoder/target choice so runs
compare on a dashboard.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, kw_only=True)
class WandbSettings:
    """What a run is called on the dashboard. ``mode``: "offline" (default), "online",
    "disabled"; ``None`` takes ``WANDB_MODE`` or falls back to offline."""

    project: str = "uer_ray"
    name: str | None = None
    group: str | None = None
    tags: list[str] = field(default_factory=list)
    mode: str | None = None
    run_id: str | None = None
    dir: str | None = None
    job_type: str | None = None
    """the stage (``pretrain`` / ``finetune``): W&B groups and filters runs by it"""


def describe_model(model_config: dict) -> dict[str, Any]:
    """Name, group and tags for a model config: e.g. ``word+pos+seg/transformer/mlm1+sp0.5``."""
    emb = list(model_config.get("embedding", []))
    enc = model_config.get("encoder", "")
    enc_names = [enc] if isinstance(enc, str) else list(enc)
    targets = dict(model_config.get("targets", {}))
    target_part = "+".join(f"{t}{w:g}" for t, w in targets.items())
    return {
        "name": f"{'+'.join(emb)}/{'+'.join(enc_names)}/{target_part}",
        "group": f"{'+'.join(enc_names)}-{'+'.join(targets)}",
        "tags": [f"emb:{e}" for e in emb]
        + [f"enc:{e}" for e in enc_names]
        + [f"target:{t}" for t in targets],
    }


class WandbRun:
    """A thin handle: ``log(metrics, step)`` and ``finish()``; does nothing when disabled."""

    def __init__(self, settings: WandbSettings, config: dict):
        self._run = None
        mode = settings.mode or os.environ.get("WANDB_MODE") or "offline"
        self._mode, self._dir = mode, settings.dir
        if mode == "disabled":
            return
        import wandb

        if settings.dir:
            os.makedirs(settings.dir, exist_ok=True)
        self._run = wandb.init(
            project=settings.project,
            name=settings.name,
            group=settings.group,
            job_type=settings.job_type,
            tags=list(settings.tags),
            config=config,
            mode=mode,
            dir=settings.dir,
            id=settings.run_id,
            resume="allow" if settings.run_id else None,
            # Quiet, no system-stats thread (it competes with training for the CPU), no code/git.
            settings=wandb.Settings(
                silent=True,
                quiet=True,
                console="off",
                x_disable_stats=True,
                disable_git=True,
                save_code=False,
                x_save_requirements=False,
                disable_job_creation=True,
            ),
        )

    def describe(self) -> dict | None:
        """``{run_id, project, group, name, mode}`` of the open run (None when disabled): what a
        record keeps so that later steps (a zoo artifact) can attach to the same run."""
        if self._run is None:
            return None
        r = self._run
        return {"run_id": r.id, "project": r.project, "group": r.group, "name": r.name,
                "mode": self._mode, "dir": self._dir}

    def log(self, metrics: dict[str, float], step: int) -> None:
        if self._run is not None:
            self._run.log(metrics, step=step)

    def summary(self, values: dict[str, Any]) -> None:
        if self._run is not None:
            self._run.summary.update(values)

    def finish(self) -> None:
        if self._run is not None:
            _finish(self._run, self._mode)
            self._run = None


def _finish(run, mode: str) -> None:
    """``run.finish()``; offline, also until the run's file is completely written."""
    sync_file = getattr(run.settings, "sync_file", None) if mode == "offline" else None
    run.finish()
    if sync_file:
        from uer_ray.tracking.wandb_files import wait_complete

        wait_complete(sync_file)


def log_model_artifact(run: dict, *, name: str, reference: str, metadata: dict,
                       aliases: list[str] | None = None) -> None:
    """Attach a model artifact to an existing run (``WandbRun.describe()``): a reference to
    the zoo version's folder or URI (no bytes uploaded; the zoo keeps them), with the zoo entry
    as metadata. Offline, the artifact goes into the run's files and reaches W&B on sync."""
    import re

    import wandb

    handle = wandb.init(project=run["project"], id=run["run_id"], resume="allow", mode=run["mode"],
                        dir=run.get("dir"), name=run.get("name"), group=run.get("group"),
                        job_type="publish", settings=wandb.Settings(
                            silent=True, quiet=True, console="off", x_disable_stats=True,
                            disable_git=True, save_code=False, x_save_requirements=False,
                            disable_job_creation=True))
    try:
        artifact = wandb.Artifact(name=re.sub(r"[^A-Za-z0-9._-]", "-", name)[:120], type="model",
                                  metadata=metadata)
        artifact.add_reference(reference, checksum=False)
        handle.log_artifact(artifact, aliases=list(aliases or []))
    finally:
        _finish(handle, run["mode"])
