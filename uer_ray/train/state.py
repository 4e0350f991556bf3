"""Training checkpoints: the DESIGN §4 model directory plus what resumes a run exactly.

Layout of one training checkpoint (what rank 0 hands to ``ray.train.report``)::

    model/              config.json, model.safetensors, tokenizer/, meta.json (save_pretrained)
    trainer_state.pt    optimiser, scheduler, step, data position, RNG (torch.save of tensors,
                        dicts, lists and numbers only, so it loads with weights_only=True)

Under DDP every rank holds the same weights and optimiser state after each update, so rank 0's
copy is the state of the whole run. Random streams (dropout, masking) are re-derived from
(seed, rank, step) at every step, so they need no per-rank state; rank 0's generator state is
stored as a record of where the run was.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported where it is used: `pretrain --help` must not load it
    import torch

MODEL_DIR = "model"
STATE_FILE = "trainer_state.pt"
FORMAT = 1


@dataclass
class Position:
    """Where a run stands: optimiser updates done, data epoch, batches used in that epoch, and
    micro-batches used since the start (each update takes ``grad_accum`` of them); the run's
    real tokens and sequences trained on (all workers) and the world size that trained up to
    here. The counters live in the checkpoint, so a restarted worker group continues them
    without reading any file of the driver's."""

    step: int = 0
    epoch: int = 0
    batches_in_epoch: int = 0
    micro_batches: int = 0
    tokens_seen: int = 0
    sequences_seen: int = 0
    world: int = 0
    """workers of the run when this position was saved (0: unknown, an older checkpoint)"""

    def resized(self, world: int) -> Position:
        """This position for a worker group of ``world`` workers. An elastic run that grows or
        shrinks splits each epoch between a different number of workers, so the batches a
        worker has used in the current epoch are scaled by old/new world size: the same share
        of the epoch counts as done (which rows each worker gets is Ray Data's choice)."""
        if not self.world or self.world == world:
            return replace(self, world=world)
        batches = self.batches_in_epoch * self.world // world
        return replace(self, batches_in_epoch=batches, world=world)


def step_seed(seed: int, rank: int, step: int) -> int:
    """A 63-bit seed for (run seed, worker rank, step): each stream is independent and
    reproducible, whatever step a run resumes from."""
    x = (seed * 1_000_003 + rank) * 2_654_435_761 + step * 40_503
    return x % (2**63 - 1)


def reseed(seed: int, rank: int, step: int) -> None:
    """Seed torch and Python for one step (dropout etc.); see ``step_seed``."""
    import torch

    s = step_seed(seed, rank, step)
    torch.manual_seed(s)
    random.seed(s)


def save_state(
    directory: str | Path,
    *,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    position: Position,
    seed: int,
    extra: dict | None = None,
) -> Path:
    """Write ``trainer_state.pt`` into ``directory`` (the model goes to ``directory/model``)."""
    import torch

    path = Path(directory) / STATE_FILE
    torch.save(
        {
            "format": FORMAT,
            "position": asdict(position),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": {"seed": seed, "torch": torch.get_rng_state()},
            "extra": extra or {},
        },
        path,
    )
    return path


def load_state(directory: str | Path) -> dict:
    """Read ``trainer_state.pt`` safely (``weights_only=True``: no arbitrary unpickling)."""
    import torch

    path = Path(directory) / STATE_FILE
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("format") != FORMAT:
        raise ValueError(f"{path}: unknown trainer state format {state.get('format')!r}")
    return state


def restore(state: dict, *, optimizer: torch.optim.Optimizer, scheduler: Any) -> Position:
    """Load optimiser and scheduler state; returns the position to continue from.

    The learning rate is then set from the schedule built for this run: the same value on a
    plain resume, and the re-planned one when ``--resume --steps`` extended the run (the stored
    rate belongs to the old total; at the end of a linear schedule it is 0)."""
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    step = scheduler.last_epoch
    for group, base, rule in zip(optimizer.param_groups, scheduler.base_lrs,
                                 scheduler.lr_lambdas, strict=True):
        group["lr"] = base * rule(step)
    scheduler._last_lr = [group["lr"] for group in optimizer.param_groups]
    known = {k: v for k, v in state["position"].items() if k in Position.__dataclass_fields__}
    return Position(**known)
