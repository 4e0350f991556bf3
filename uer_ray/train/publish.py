"""Publishing a stage's checkpoint to the model zoo (``--publish``), and logging it as a W&B model
artifact of the stage's run."""

from __future__ import annotations

from pathlib import Path


def publish_result(record: dict, name: str | None, zoo: str | None, *,
                   aliases: tuple = (), provenance: dict | None = None) -> dict:
    """Publish a stage's checkpoint to the zoo; with W&B on, also log it as a model artifact of
    the stage's run (a reference to the zoo version). Returns ``{"entry", "uri"}``."""
    from uer_ray.zoo import publish

    ref = publish(record["checkpoint"], name=name or None, zoo=zoo, aliases=aliases,
                  provenance=provenance)
    run = record.get("wandb")
    if run and run.get("mode") != "disabled":
        from uer_ray.tracking.wandb_run import log_model_artifact

        log_model_artifact(run, name=f"{ref.name}-{ref.version}", reference=_reference(ref.uri),
                           metadata={"zoo_entry": f"{ref.name}@{ref.version}", "zoo_uri": ref.uri,
                                     "stage": record["stage"], "metrics": record["metrics"]},
                           aliases=["latest", *aliases])
    return {"entry": f"{ref.name}@{ref.version}", "uri": ref.uri}


def _reference(uri: str) -> str:
    """A W&B reference URI for a zoo version (local folders become file:// URIs)."""
    return uri if "://" in uri else Path(uri).absolute().as_uri()
