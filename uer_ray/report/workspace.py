"""A W&B workspace for a search, built with W&B's own workspace API (``wandb_workspaces``):

- parallel coordinates over the searched config keys (encoder, stage-2 target set and weights,
  learning rate, ...) against the best dev metric;
- dev metric curves per epoch, grouped by encoder (and by stage-2 target set);
- stage-2 pre-training loss curves grouped by encoder;
- a run comparer (the runs side by side, config and summary).

The runs are the search's trial stages (group ``search-<space>-<id>``, flat config keys; see
``uer_ray.tune.trial``). ``save`` stores the workspace on W&B when the mode is online; the
definition — W&B's own view spec, as W&B would store it — is written to JSON in any case, so an
offline search keeps it for later (``wandb sync`` the runs, then save it from the JSON file).
"""

from __future__ import annotations

import json
from pathlib import Path

# config keys that are not choices of the search
_NOT_AXES = {"seed", "provenance.search", "provenance.trial", "task", "dataset", "source", "workers"}


def axes(configs: list[dict]) -> list[str]:
    """Config keys that vary across the trials, in a stable order (categorical ones first)."""
    keys: list[str] = []
    for c in configs:
        keys += [k for k in c if k not in keys and k not in _NOT_AXES]
    varying = [k for k in keys if len({json.dumps(c.get(k)) for c in configs}) > 1]
    first = [k for k in ("encoder", "stage2") if k in varying]
    return first + [k for k in varying if k not in first]


def build(*, entity: str, project: str, group: str, name: str, metric: str, configs: list[dict]):
    """The ``wandb_workspaces`` Workspace object of one search."""
    import wandb_workspaces.reports.v2 as wr
    import wandb_workspaces.workspaces as ws

    columns = [wr.ParallelCoordinatesPlotColumn(metric=wr.Config(k)) for k in axes(configs)]
    columns.append(wr.ParallelCoordinatesPlotColumn(metric=wr.SummaryMetric(f"best_dev/{metric}")))
    compare = ws.Section(name="encoder x targets x weights", is_open=True, panels=[
        wr.ParallelCoordinatesPlot(title=f"configuration -> best dev {metric}", columns=columns),
        wr.LinePlot(title=f"dev {metric} per epoch, by encoder", x="Step", y=[f"dev/{metric}"],
                    groupby="encoder"),
        wr.LinePlot(title=f"dev {metric} per epoch, by stage-2 targets", x="Step",
                    y=[f"dev/{metric}"], groupby="stage2"),
    ])
    pretrain = ws.Section(name="stage-2 pre-training", is_open=True, panels=[
        wr.LinePlot(title="pre-training loss, by encoder", x="Step", y=["loss"], groupby="encoder"),
        wr.LinePlot(title="tokens per second", x="Step", y=["tokens_per_s"]),
    ])
    table = ws.Section(name="runs", is_open=True, panels=[wr.RunComparer(diff_only="split")])
    return ws.Workspace(entity=entity, project=project, name=name,
                        sections=[compare, pretrain, table],
                        runset_settings=ws.RunsetSettings(
                            filters=f'Metric("Group") == "{group}"'))


def definition(workspace) -> dict:
    """W&B's view spec of the workspace (what ``save`` uploads), as plain JSON."""
    return json.loads(workspace._to_model().model_dump_json())


def write(workspace, path: Path, *, mode: str | None) -> str:
    """Write the definition to ``path``; with W&B online also save it there. Returns where."""
    path.write_text(json.dumps(definition(workspace), indent=1), encoding="utf-8")
    if mode == "online":
        saved = workspace.save()
        return f"{path} and W&B ({getattr(saved, 'url', '') or 'saved'})"
    return str(path)


def for_search(folder: Path, *, project: str = "uer_ray", entity: str | None = None,
               mode: str | None = None) -> str | None:
    """Build and write ``folder/wandb_workspace.json`` for a search folder; None without trials."""
    from uer_ray.report import collect

    c = collect.search(folder)
    configs = [t.config for t in c.trials]
    if not configs:
        return None
    state = json.loads((folder / "search.json").read_text(encoding="utf-8"))
    space = state.get("name") or Path(state.get("space", "search")).stem  # (the space's name:)
    group = f"search-{space}-{state['search_id']}"
    entity = entity or _entity(mode)
    w = build(entity=entity, project=project, group=group, name=f"uer_ray {group}",
              metric=c.metric, configs=configs)
    return write(w, folder / "wandb_workspace.json", mode=mode)


def _entity(mode: str | None) -> str:
    """The W&B entity to save under: the logged-in user's when online, a placeholder offline
    (W&B's view spec names an entity; replace it before saving the JSON by hand)."""
    if mode == "online":
        import wandb

        return wandb.Api().default_entity
    return "YOUR_ENTITY"
