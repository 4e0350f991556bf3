"""What every pre-training target is (UER paper §3.4): the ``Target`` base class, whose class
attributes are the facts the rest of the package reads off a target, the ``TARGETS`` registry
(one registered target per file of this folder, named after it), the runtime context a target
is built with, its output, and the two heads that several targets share (a pooled sentence
classifier, a decoder for sequence-to-sequence targets)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from uer_ray.layers.pooling import pool
from uer_ray.layers.validation import require_positive
from uer_ray.registry import Registry


@dataclass
class TargetContext:
    """Explicit runtime values a target may need (no global args object)."""

    hidden_size: int
    """H, the width of the encoder output"""
    vocab_size: int
    word_embedding: nn.Module | None = None
    """the model's ``word`` embedding part (``output_weight`` (V,e)) for tied output layers"""
    tgt_vocab_size: int | None = None
    pad_id: int = 0
    encoder_name: str = ""
    encoder_bidirectional: bool = False
    make_decoder: Callable[[int], nn.Module] | None = None
    """builds the configured decoder for a given output vocabulary size"""


@dataclass
class TargetOutput:
    """``loss`` (scalar), ``metrics`` (name -> 0-d tensor: loss, accuracy, count)."""

    loss: torch.Tensor
    metrics: dict[str, torch.Tensor] = field(default_factory=dict)


class ShardFacts(Protocol):
    """What a target may read off the shard folder it trains on (``train.inputs.ShardInfo``)."""

    vocab_size: int
    tgt_vocab_size: int | None

    def labels_num(self) -> int: ...


class Target(nn.Module):
    """Base class of the targets: ``cls(cfg, ctx: TargetContext)``;
    ``forward(hidden (B,T,H), batch, padding_mask (B,T) | None) -> TargetOutput`` and
    ``logits(hidden, batch, padding_mask)`` (inference: every position). A subclass declares
    (docs/extending.md):

    - ``Config``: a frozen keyword-only dataclass of its options;
    - ``columns``: shard columns it reads besides ``input_ids``/``segment_ids`` (pre-training
      refuses shards without them and names the processors that write them);
    - ``logits_columns``: the columns ``logits`` needs too (the sequences it teacher-forces:
      ``mt``'s ``tgt_ids``); ``Model.logits`` leaves the target out when they are not given;
    - ``needs_masking``: its batches need dynamic MLM masking (``mlm_labels``);
    - ``needs_decoder``: it owns a decoder (the model config must name one);
    - ``predicts_next_token``: position t is trained on token t+1, so an encoder that sees the
      future (or does not say) is refused;
    - ``card_task_type``: the Hugging Face pipeline tag of a model pre-trained with it (None:
      nothing a pipeline can use);
    - ``logits_shape``: the shape ``logits`` returns, in the symbols ``B`` (batch), ``T``
      (input length), ``V`` (vocabulary), ``T_tgt`` / ``V_tgt`` (target sequence and
      vocabulary), ``labels`` (classes), ``T-1`` / ``T_tgt-1`` and integers;
    - ``from_shards(config, shards)``: the model config with what this target derives from the
      shards filled in (e.g. the number of classes);
    - optionally ``reads(batch, padding_mask)``: the positions ``forward`` reads (None: any),
      which lets training compute the last transformer block only there;
    - ``generates``: what ``uer_ray.generate`` can do with a model pre-trained with it:
      ``"continuation"`` (the next token after a prompt: ``lm``, ``bilm``'s forward half, with
      ``next_token_logits(states)``), ``"sequence"`` (a decoder writes a new sequence from the
      encoded input: ``mt``, ``ae``), or None (nothing);
    - ``output_vocabulary``: for ``"sequence"``, which tokenizer decodes what it writes
      (``"target"``: the shards' target-side one, ``"source"``: the input's);
    - ``needs_mask``: the attention mask the encoder must be configured with (``prefixlm``:
      ``causal_with_prefix``), or None for any.
    """

    name: ClassVar[str] = ""
    """set by the registry"""
    Config: ClassVar[type]
    columns: ClassVar[tuple[str, ...]] = ()
    logits_columns: ClassVar[tuple[str, ...]] = ()
    needs_masking: ClassVar[bool] = False
    needs_decoder: ClassVar[bool] = False
    predicts_next_token: ClassVar[bool] = False
    card_task_type: ClassVar[str | None] = None
    logits_shape: ClassVar[tuple[str | int, ...]] = ()
    generates: ClassVar[str | None] = None
    output_vocabulary: ClassVar[str] = "source"
    needs_mask: ClassVar[str | None] = None

    @classmethod
    def from_shards(cls, config: dict[str, Any], shards: ShardFacts) -> dict[str, Any]:
        return config

    def reads(self, batch: dict, padding_mask: torch.Tensor | None) -> torch.Tensor | None:
        return None


TARGETS: Registry[type[Target]] = Registry("target", package="uer_ray.targets", base=Target)


def require(batch: dict, key: str, target: str) -> torch.Tensor:
    """``batch[key]``, or a KeyError saying which target needs it."""
    try:
        return batch[key]
    except KeyError:
        raise KeyError(f"target {target!r} needs batch key {key!r} (batch has: {', '.join(batch)})") from None


class _CrossEntropySum(torch.autograd.Function):
    """Summed cross-entropy of logits (N,C) against labels (N,), and each row's top logit.

    One exponential per logit: the forward keeps exp(logits - max) and the backward scales it
    into the softmax. ``F.cross_entropy`` takes two (log-softmax, then its backward), and on
    the CPU the exponentials are most of the cost of a 21k-vocabulary MLM loss
    (``bench/loss.py``: with the accuracy below, 22 ms instead of 61-64 ms forward and backward
    for 500 masked positions)."""

    @staticmethod
    def forward(ctx, logits: torch.Tensor, labels: torch.Tensor):
        top = logits.amax(-1, keepdim=True)
        shifted = torch.sub(logits, top).exp_()
        total = shifted.sum(-1, keepdim=True)
        log_z = (top + total.log()).squeeze(-1)
        loss = (log_z - logits.gather(-1, labels[:, None]).squeeze(-1)).sum()
        ctx.save_for_backward(shifted, total, labels)
        return loss, top.squeeze(-1)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_loss: torch.Tensor, _grad_top):
        shifted, total, labels = ctx.saved_tensors
        grad = shifted.mul_(grad_loss / total)  # softmax x upstream gradient, in place
        grad.scatter_add_(-1, labels[:, None], (-grad_loss).expand(labels.shape[0], 1).contiguous())
        return grad, None


def prediction_loss(logits: torch.Tensor, labels: torch.Tensor) -> TargetOutput:
    """Mean cross-entropy and accuracy of logits (N,C) against labels (N,); N may be 0.

    A prediction is correct when the label's logit is the largest (a tie with another class
    counts as correct): the row maxima come with the loss, whereas ``argmax`` over a 21k
    vocabulary is about ten times slower than a max on the CPU."""
    n = labels.shape[0]
    if n == 0:
        loss = logits.float().sum() * 0.0  # keeps the graph (and DDP's view of it) connected
        return TargetOutput(loss, {"loss": loss.detach(), "accuracy": torch.zeros((), device=logits.device),
                                   "count": torch.tensor(0.0)})
    logits = logits.float()
    total, top = _CrossEntropySum.apply(logits, labels)
    loss = total / n
    with torch.no_grad():
        correct = (logits.gather(-1, labels[:, None]).squeeze(-1) >= top).sum().float()
        metrics = {"loss": loss.detach(), "accuracy": correct / n, "count": torch.tensor(float(n))}
    return TargetOutput(loss, metrics)


def tied_or_own(ctx: TargetContext, tie: bool, in_dim: int, name: str) -> tuple[nn.Module | None, int]:
    """The width an output projection reads and, when not tied, its own (V, in_dim) weight holder.

    Tied: the projection multiplies with the word table (V,e), so it reads width e."""
    if tie:
        if ctx.word_embedding is None:
            raise ValueError(f"target {name!r}: tie_weights needs a 'word' embedding part")
        return None, ctx.word_embedding.output_weight.shape[1]
    return nn.Linear(in_dim, ctx.vocab_size, bias=False), in_dim


# -- a pooled sentence classifier (sp, cls) ------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class SentenceConfig:
    labels_num: int = 2
    pooling: Literal["first", "mean", "max", "last"] = "first"

    def __post_init__(self) -> None:
        require_positive(self, "labels_num")


class SentenceTarget(Target):
    """hidden (B,T,H) + the label column (B,) -> loss; logits (B, labels_num).

    Head: pooling (``first``: position 0 as BERT) -> ``pooler`` Linear(H,H) + tanh ->
    ``output`` Linear(H, labels). For BERT ``pooler`` is Hugging Face's ``bert.pooler.dense``
    and ``output`` is ``cls.seq_relationship``."""

    Config = SentenceConfig
    logits_shape = ("B", "labels")

    def __init__(self, cfg: SentenceConfig, ctx: TargetContext):
        super().__init__()
        self.pooling = cfg.pooling
        self.pooler = nn.Linear(ctx.hidden_size, ctx.hidden_size)
        self.output = nn.Linear(ctx.hidden_size, cfg.labels_num)

    def reads(self, batch: dict, padding_mask) -> torch.Tensor | None:
        if self.pooling != "first":
            return None
        ids = batch["input_ids"]
        read = torch.zeros(ids.shape, dtype=torch.bool, device=ids.device)
        read[:, 0] = True
        return read

    def logits(self, hidden: torch.Tensor, batch: dict, padding_mask) -> torch.Tensor:
        keep = None if padding_mask is None else ~padding_mask
        return self.output(torch.tanh(self.pooler(pool(hidden, keep, self.pooling))))

    def forward(self, hidden: torch.Tensor, batch: dict, padding_mask) -> TargetOutput:
        labels = require(batch, self.columns[0], self.name).long()
        return prediction_loss(self.logits(hidden, batch, padding_mask), labels)


# -- a decoder over the encoder's output (mt, ae) ---------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Seq2seqConfig:
    tie_weights: bool = True
    """share the output projection with the decoder's target-side word table"""
    bias: bool = True
    """an output bias (``output_bias``; BART's ``final_logits_bias``; T5 has none)"""
    scale_output: bool = False
    """multiply the decoder states by hidden_size**-0.5 before the projection (T5 v1.0, whose
    projection is the tied word table)"""


class Seq2seqTarget(Target):
    """Teacher forcing: the decoder reads ``ids[:, :-1]`` of the sequence to generate and
    predicts ``ids[:, 1:]``; its first input (the start token) is always a real position, even
    when its id is the padding id (T5 starts the decoder with its pad token). Parameter names:
    ``decoder.*`` (the decoder's own names) and ``output_bias`` (unless ``bias`` is false); the
    projection is tied to the decoder's word table unless ``tie_weights`` is false (then
    ``output`` Linear(Hd, V))."""

    Config = Seq2seqConfig
    needs_decoder = True
    generates = "sequence"

    def __init__(self, cfg: Seq2seqConfig, ctx: TargetContext):
        super().__init__()
        vocab = self._vocab_size(ctx)
        self.pad_id = ctx.pad_id
        self.decoder = ctx.make_decoder(vocab)
        self.output = None if cfg.tie_weights else nn.Linear(self.decoder.output_dim, vocab, bias=False)
        self.output_bias = nn.Parameter(torch.zeros(vocab)) if cfg.bias else None
        self.output_scale = self.decoder.output_dim**-0.5 if cfg.scale_output else None

    def _vocab_size(self, ctx: TargetContext) -> int:
        raise NotImplementedError

    def _sequence(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """(ids (B,T2), padding (B,T2) bool) of the sequence to generate."""
        raise NotImplementedError

    def _project(self, h: torch.Tensor) -> torch.Tensor:
        weight = self.decoder.output_weight if self.output is None else self.output.weight
        if self.output_scale is not None:
            h = h * self.output_scale
        return F.linear(h, weight, self.output_bias)

    def next_token_logits(self, states: torch.Tensor) -> torch.Tensor:
        """Decoder states (..., Hd) -> logits (..., V) of the next target token (generation)."""
        return self._project(states)

    def _decode(self, hidden, batch, padding_mask) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        ids, pad = self._sequence(batch)
        pad = torch.cat([torch.zeros_like(pad[:, :1]), pad[:, 1:]], 1)  # the start is real
        tgt_pad = pad[:, :-1]
        out = self.decoder(ids[:, :-1], tgt_pad if tgt_pad.any() else None, hidden, padding_mask)
        return out, ids[:, 1:], ~pad[:, 1:]

    def logits(self, hidden: torch.Tensor, batch: dict, padding_mask) -> torch.Tensor:
        """(B,T2-1,V): position t predicts token t+1 of the target sequence."""
        return self._project(self._decode(hidden, batch, padding_mask)[0])

    def forward(self, hidden: torch.Tensor, batch: dict, padding_mask) -> TargetOutput:
        out, labels, valid = self._decode(hidden, batch, padding_mask)
        return prediction_loss(self._project(out[valid]), labels[valid])


# -- denoising / text-to-text through the decoder in the source vocabulary (t5, bart, gsg) ------
class TextToTextTarget(Seq2seqTarget):
    """The decoder writes ``tgt_ids`` (``[CLS] target [SEP]``, padded with pad_id) in the
    source vocabulary: the encoder reads the corrupted text, the decoder the text (or spans) to
    restore. Subclasses differ in the processor that writes their shards."""

    logits_shape = ("B", "T_tgt-1", "V")
    columns = logits_columns = ("tgt_ids",)
    output_vocabulary = "source"
    card_task_type = "text2text-generation"

    def _vocab_size(self, ctx: TargetContext) -> int:
        return ctx.vocab_size

    def _sequence(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        ids = require(batch, "tgt_ids", self.name)
        return ids, ids == self.pad_id
