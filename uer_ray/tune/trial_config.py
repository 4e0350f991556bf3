"""``TrialConfig``: the configuration of one search trial, as the space proposed it.

Ray Tune, W&B's parallel coordinates and the search's files keep it flat — ``encoder``,
``stage2`` (the target set), ``targets.<name>`` (its weights), ``stage2_steps``, ``lr``, the
fine-tuning fields (``batch_size``, ``epochs``, ...) and ``seed`` — because those tools compare
flat keys. ``to_flat`` and ``from_flat`` convert at that boundary, and are the only code that
knows the flat keys: everything else reads fields. Flat configurations written before this type
existed (a search to resume, a folder to report on) read unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from uer_ray.train.finetune import FinetuneOptions

NO_STAGE2 = "none"
"""the target set of a trial without stage-2 pre-training"""
DEFAULT_EPOCHS: int = next(f.default for f in fields(FinetuneOptions) if f.name == "epochs")
"""fine-tuning epochs of a trial whose space does not set them"""
_TARGET = "targets."


@dataclass(frozen=True, kw_only=True)
class TrialConfig:
    """One point of a search space. Values are kept as the space gave them (a weight written
    ``1`` stays an int), so that ``from_flat(c.to_flat()) == c`` and the flat form is what it
    always was."""

    encoder: str
    """the name of the space's encoder choice"""
    stage2: str = NO_STAGE2
    """the stage-2 target set (``NO_STAGE2``: fine-tune the stage-1 model directly)"""
    targets: dict[str, float] = field(default_factory=dict)
    """the target set's weights (empty without stage 2)"""
    stage2_steps: int | None = None
    """stage-2 optimiser steps (None without stage 2)"""
    lr: float
    """the fine-tuning learning rate"""
    finetune: dict[str, Any] = field(default_factory=dict)
    """the fine-tuning options the space fixes or searches (``FinetuneOptions`` fields)"""
    seed: int

    @property
    def has_stage2(self) -> bool:
        return self.stage2 != NO_STAGE2

    @property
    def epochs(self) -> int:
        """Fine-tuning epochs (ASHA's horizon; fewer reported means stopped early)."""
        return int(self.finetune.get("epochs", DEFAULT_EPOCHS))

    def to_flat(self) -> dict[str, Any]:
        """The flat form, in the order the search has always written it."""
        out: dict[str, Any] = {"encoder": self.encoder, "stage2": self.stage2, "lr": self.lr}
        out.update({f"{_TARGET}{name}": weight for name, weight in self.targets.items()})
        if self.stage2_steps is not None:
            out["stage2_steps"] = self.stage2_steps
        out.update(self.finetune)
        out["seed"] = self.seed
        return out

    @classmethod
    def from_flat(cls, flat: dict[str, Any]) -> TrialConfig:
        """Read a flat configuration (Tune's ``config["trial"]``, a record's ``config``); keys
        other than the trial's own are fine-tuning fields."""
        own = {"encoder", "stage2", "lr", "stage2_steps", "seed"}
        return cls(encoder=flat["encoder"], stage2=flat["stage2"], lr=flat["lr"],
                   targets={k.removeprefix(_TARGET): v for k, v in flat.items() if k.startswith(_TARGET)},
                   stage2_steps=flat.get("stage2_steps"), seed=flat["seed"],
                   finetune={k: v for k, v in flat.items()
                             if k not in own and not k.startswith(_TARGET)})
