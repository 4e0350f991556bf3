"""``Model``: embedding -> encoder -> weighted targets (UER paper §3: the assemble-on-demand
model). Built by ``uer_ray.models.build_model``; loaded by ``uer_ray.load_model``.

Parameter names: ``embedding.*``, ``encoder.*`` (``encoder.stack.{i}.*`` for a stack),
``targets.<name>.*``.
"""

from __future__ import annotations

import torch
from torch import nn

from uer_ray.models.config import ModelConfig
from uer_ray.models.output import ModelOutput


class Model(nn.Module):
    """batch -> ModelOutput; ``encode`` (B,T) ids -> (B,T,H); ``logits`` -> dict of target logits."""

    def __init__(self, config: ModelConfig, embedding: nn.Module, encoder: nn.Module,
                 targets: dict[str, nn.Module]):
        super().__init__()
        self.config = config
        self.embedding = embedding
        self.encoder = encoder
        self.targets = nn.ModuleDict(targets)
        self.weights = dict(config.targets)
        self.hidden_size = encoder.output_dim
        self.tokenizer = None  # set by load_model when the checkpoint has a tokenizer/
        self.tgt_tokenizer = None  # ... and an mt model's tgt_tokenizer/
        # training: the last transformer block computes only the rows the targets read
        # (uer_ray.layers.packing); False computes every row
        self.read_rows_only = True

    def set_vocabulary(self, tokens: list[str]) -> None:
        """Give parts that read the vocabulary's strings (``subword``: its spelling table) the
        tokens, id order; the table is saved with the weights."""
        for name in self.embedding.part_names:
            part = self.embedding.part(name)
            if hasattr(part, "set_spellings"):
                part.set_spellings(tokens)

    def compile_backbone(self, **options) -> Model:
        """``torch.compile`` the embedding and the encoder in place (the targets gather a
        data-dependent number of masked positions and stay eager). Returns the model."""
        self.embedding.compile(**options)
        self.encoder.compile(**options)
        return self

    @staticmethod
    def padding_mask(segment_ids: torch.Tensor) -> torch.Tensor | None:
        """(B,T) True at padding (segment id 0), or None when the batch has no padding, which
        lets attention use its fused kernels."""
        mask = segment_ids == 0
        return mask if bool(mask.any()) else None

    def _encode(self, input_ids, segment_ids, batch: dict | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        padding = self.padding_mask(segment_ids)
        x = self.embedding(input_ids, segment_ids)
        read = self._rows_read(batch, padding)
        more = {} if read is None else {"read": read}
        if getattr(self.encoder, "reads_segments", False):  # the prefix-LM mask
            more["segment_ids"] = segment_ids
        return self.encoder(x, padding, **more), padding

    def _rows_read(self, batch: dict | None, padding: torch.Tensor | None) -> torch.Tensor | None:
        """(B,T) bool: the positions any target's loss reads, when there is a training batch,
        every target says which and the encoder can use it; else None."""
        if batch is None or not (self.training and self.read_rows_only
                                 and getattr(self.encoder, "reads_rows", False)):
            return None
        read = None
        for target in self.targets.values():
            mine = target.reads(batch, padding)
            if mine is None:
                return None
            read = mine if read is None else read | mine
        return read

    def encode(self, input_ids: torch.Tensor, segment_ids: torch.Tensor) -> torch.Tensor:
        """(B,T), (B,T) -> (B,T,H). Padding (segment id 0, at the right) never changes the hidden
        states of real tokens."""
        return self._encode(input_ids, segment_ids)[0]

    def forward(self, batch: dict[str, torch.Tensor]) -> ModelOutput:
        """Σ weight·loss over the targets, with each target's loss/accuracy/count as floats.
        In training, ``hidden`` may hold zeros at positions no target reads (``read_rows_only``)."""
        hidden, padding = self._encode(batch["input_ids"], batch["segment_ids"], batch)
        total, losses, names, values = None, {}, [], []
        for name, target in self.targets.items():
            out = target(hidden, batch, padding)
            losses[name] = out.loss
            weighted = self.weights[name] * out.loss
            total = weighted if total is None else total + weighted
            for key, value in out.metrics.items():
                names.append(f"{name}/{key}")
                values.append(value.detach().float().reshape(()))
        names.append("loss")
        values.append(total.detach().float())
        metrics = dict(zip(names, torch.stack(values).tolist(), strict=False))  # one host sync for all metrics
        return ModelOutput(loss=total, metrics=metrics, losses=losses, hidden=hidden)

    @torch.no_grad()
    def logits(self, input_ids: torch.Tensor, segment_ids: torch.Tensor,
               tgt_ids: torch.Tensor | None = None, **columns: torch.Tensor) -> dict[str, torch.Tensor]:
        """Target name -> logits: ``mlm`` (B,T,V) at every position, ``lm`` (B,T,V), ``sp``/``cls``
        (B,labels), ``bilm`` (B,T,2,V), ``ae`` (B,T-1,V); a target that teacher-forces a sequence
        only when it is given (``Target.logits_columns``): ``mt`` (B,T2-1,V) with ``tgt_ids``,
        ``skipthought`` (B,2,T2-1,V) with ``prev_ids`` and ``next_ids``."""
        hidden, padding = self._encode(input_ids, segment_ids)
        batch = {"input_ids": input_ids, "segment_ids": segment_ids, **columns}
        if tgt_ids is not None:
            batch["tgt_ids"] = tgt_ids
        out = {}
        for name, target in self.targets.items():
            if any(c not in batch for c in target.logits_columns):
                continue  # nothing to teacher-force without the sequence
            out[name] = target.logits(hidden, batch, padding)
        return out
