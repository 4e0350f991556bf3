"""Optimiser grouping and learning-rate schedules."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from uer_ray.train.optim import build_optimizer, build_scheduler, lr_factor


class _Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 4)
        self.proj = nn.Linear(4, 4)
        self.norm = nn.LayerNorm(4)
        self.out = nn.Linear(4, 10)
        self.out.weight = self.emb.weight  # tied: must be listed once
        self.frozen = nn.Linear(4, 4)
        self.frozen.requires_grad_(False)


def test_no_decay_on_bias_and_norm():
    model = _Tiny()
    opt = build_optimizer(model, lr=1e-3, weight_decay=0.1)
    by_decay = {g["weight_decay"]: {id(p) for p in g["params"]} for g in opt.param_groups}
    assert by_decay[0.1] == {id(model.emb.weight), id(model.proj.weight)}
    assert by_decay[0.0] == {
        id(model.proj.bias),
        id(model.norm.weight),
        id(model.norm.bias),
        id(model.out.bias),
    }
    n_params = sum(len(g["params"]) for g in opt.param_groups)
    assert n_params == 6  # tied weight once, frozen layer excluded


def test_decay_applies_only_to_decay_group():
    model = _Tiny()
    opt = build_optimizer(model, lr=0.1, weight_decay=0.5)
    before_w = model.proj.weight.detach().clone()
    before_b = model.proj.bias.detach().clone()
    for p in model.parameters():
        p.grad = torch.zeros_like(p) if p.requires_grad else None
    opt.step()
    # zero gradient: only decoupled weight decay moves a parameter (w <- w - lr*wd*w)
    assert torch.allclose(model.proj.weight, before_w * (1 - 0.1 * 0.5))
    assert torch.equal(model.proj.bias, before_b)


@pytest.mark.parametrize("kind", ["linear", "cosine", "constant"])
def test_schedule_shapes(kind):
    model = _Tiny()
    opt = build_optimizer(model, lr=2.0)
    sched = build_scheduler(opt, kind=kind, warmup_steps=4, total_steps=12)
    lrs = []
    for _ in range(12):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:4] == pytest.approx([0.5, 1.0, 1.5, 2.0])
    if kind == "constant":
        assert lrs[4:] == pytest.approx([2.0] * 8)
    elif kind == "linear":
        assert lrs[4:] == pytest.approx([2.0 * (1 - i / 8) for i in range(8)])
    else:
        assert lrs[4:] == pytest.approx([1.0 + math.cos(math.pi * i / 8) for i in range(8)])
    assert lr_factor(100, kind=kind, warmup_steps=4, total_steps=12) == pytest.approx(
        1.0 if kind == "constant" else 0.0
    )


def test_scheduler_state_round_trip():
    model = _Tiny()
    opt = build_optimizer(model, lr=1.0)
    sched = build_scheduler(opt, kind="cosine", warmup_steps=2, total_steps=10)
    for _ in range(5):
        opt.step()
        sched.step()
    opt2 = build_optimizer(_Tiny(), lr=1.0)
    sched2 = build_scheduler(opt2, kind="cosine", warmup_steps=2, total_steps=10)
    opt2.load_state_dict(opt.state_dict())
    sched2.load_state_dict(sched.state_dict())
    for _ in range(3):  # the restored pair continues the same curve
        opt.step()
        sched.step()
        opt2.step()
        sched2.step()
        assert opt2.param_groups[0]["lr"] == pytest.approx(opt.param_groups[0]["lr"])
    assert sched2.last_epoch == sched.last_epoch == 8


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown schedule 'cosin'"):
        build_scheduler(
            build_optimizer(_Tiny(), lr=1.0), kind="cosin", warmup_steps=0, total_steps=5
        )
    with pytest.raises(ValueError, match="learning rate"):
        build_optimizer(_Tiny(), lr=0.0)


def _reference_bert_adamw(params, grads_per_step, lrs, *, weight_decay, betas=(0.9, 0.999), eps=1e-6):
    """The update of UER-py's ``AdamW(correct_bias=False)`` (and Google's BERT optimizer), written
    out: m, v moving averages without bias correction, and decoupled decay at the step's lr.
    UER-py decays after the Adam step, torch before it: the two differ by lr²·wd·update, so the
    reference decays first, as every torch AdamW does."""
    params = [p.clone() for p in params]
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    for grads, lr in zip(grads_per_step, lrs, strict=True):
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            m[i] = betas[0] * m[i] + (1 - betas[0]) * g
            v[i] = betas[1] * v[i] + (1 - betas[1]) * g * g
            p -= lr * weight_decay * p
            p -= lr * m[i] / (v[i].sqrt() + eps)
    return params


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_default_update_is_uer_py_without_bias_correction(weight_decay):
    """The default optimiser takes UER-py's steps (no bias correction), through warm-up and decay,
    eps and weight decay included; its first step is ~3.16x torch AdamW's."""
    torch.manual_seed(0)
    w = nn.Parameter(torch.randn(5, 3))
    model = nn.Module()
    model.w = w
    opt = build_optimizer(model, lr=1e-2, weight_decay=weight_decay)
    opt.param_groups[0]["eps"] = 1e-6  # UER-py's eps
    sched = build_scheduler(opt, kind="linear", warmup_steps=3, total_steps=12)
    start = w.detach().clone()
    grads, lrs = [], []
    for _ in range(12):
        g = torch.randn(5, 3)
        grads.append([g])
        lrs.append(opt.param_groups[0]["lr"])
        w.grad = g.clone()
        opt.step()
        sched.step()
    (expected,) = _reference_bert_adamw([start], grads, lrs, weight_decay=weight_decay)
    torch.testing.assert_close(w.detach(), expected, rtol=1e-5, atol=1e-6)
    assert opt.param_groups[0]["eps"] == 1e-6 and opt.param_groups[0]["weight_decay"] == weight_decay

    # the first update: uncorrected |Δ| = lr·0.1/sqrt(0.001) ≈ 3.16·lr, torch AdamW's ≈ lr
    steps = {}
    for correction in (False, True):
        p = nn.Parameter(torch.ones(4))
        holder = nn.Module()
        holder.p = p
        o = build_optimizer(holder, lr=1e-3, weight_decay=0.0, bias_correction=correction)
        p.grad = torch.full((4,), 0.5)
        o.step()
        steps[correction] = float((1 - p.detach()).abs().mean())
    assert steps[True] == pytest.approx(1e-3, rel=1e-3)
    assert steps[False] == pytest.approx(1e-3 * 0.1 / math.sqrt(0.001), rel=1e-3)


def test_bias_correction_true_is_torch_adamw():
    torch.manual_seed(1)
    a, b = nn.Parameter(torch.randn(6)), None
    b = nn.Parameter(a.detach().clone())
    ma, mb = nn.Module(), nn.Module()
    ma.w, mb.w = a, b
    ours = build_optimizer(ma, lr=3e-3, weight_decay=0.0, bias_correction=True)
    ref = torch.optim.AdamW([b], lr=3e-3, weight_decay=0.0)
    for _ in range(5):
        g = torch.randn(6)
        a.grad, b.grad = g.clone(), g.clone()
        ours.step()
        ref.step()
    torch.testing.assert_close(a.detach(), b.detach())
    # the state is torch's: it loads into either class
    ours_default = build_optimizer(ma, lr=3e-3, weight_decay=0.0)
    ours_default.load_state_dict(ours.state_dict())
