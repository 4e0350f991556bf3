"""A model seen one token at a time: what the search strategies (``uer_ray.generate.search``) call.

``start`` reads the prompts (a right-padded batch and each row's length) and returns the logits
of every row's next token; ``step`` takes one new token per row and returns the logits after
it; ``reorder`` keeps, drops and copies rows (beam search). Rows of different lengths stay
right-padded: every row writes its next token at its own position, so no row is shifted and
position embeddings count from each row's first token.

Two ways to step, with the same results (``tests/generate/test_cache.py``):

* **cached** (default): the encoder continues from its cache (``Encoder.start``/``extend``:
  transformer keys and values, RNN states, the last inputs of each causal convolution); a
  sequence-to-sequence decoder keeps its self-attention keys/values and computes the encoded
  input's keys/values once. Each step costs one position.
* **recomputed** (``cache=False``, and for encoders without a cache): every step runs the whole
  prefix again. This is what the cache saves (``bench/generate.py``).
"""

from __future__ import annotations

import torch
from torch import nn

from uer_ray.encoders import ENCODERS


def _last_bidirectional(encoder: nn.Module) -> bool:
    last = encoder.stack[-1] if hasattr(encoder, "stack") else encoder
    return bool(getattr(last, "bidirectional", False))


class ContinuationStepper:
    """Decoder-only models (``lm``, ``bilm``): the prompt is the start of the text and each new
    token is appended to it."""

    def __init__(self, model: nn.Module, target: nn.Module, cache: bool = True):
        self.model, self.target = model, target
        self.cached = cache and bool(getattr(model.encoder, "incremental", False))
        # a bidirectional last encoder (bilm): generation reads its forward states only
        self.width = model.encoder.output_dim // (2 if _last_bidirectional(model.encoder) else 1)

    def start(self, ids: torch.Tensor, lengths: torch.Tensor, capacity: int) -> torch.Tensor:
        b, t = ids.shape
        segments = (torch.arange(t, device=ids.device) < lengths[:, None]).long()
        rows = torch.arange(b, device=ids.device)
        self.lengths = lengths.clone()
        if self.cached:
            x = self.model.embedding(ids, segments)
            states, self.cache = self.model.encoder.start(x, lengths, capacity)
            return self.target.next_token_logits(states[rows, lengths - 1])
        self.buffer = ids.new_zeros(b, capacity)
        self.buffer[:, :t] = ids
        return self._recompute()

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        rows = torch.arange(tokens.shape[0], device=tokens.device)
        if self.cached:
            x = self.model.embedding(tokens[:, None], torch.ones_like(tokens)[:, None],
                                     self.lengths[:, None])
            states, self.cache = self.model.encoder.extend(x, self.cache)
            self.lengths = self.lengths + 1
            return self.target.next_token_logits(states[:, 0])
        self.buffer[rows, self.lengths] = tokens
        self.lengths = self.lengths + 1
        return self._recompute()

    def _recompute(self) -> torch.Tensor:
        t = int(self.lengths.max())
        ids = self.buffer[:, :t]
        segments = (torch.arange(t, device=ids.device) < self.lengths[:, None]).long()
        hidden = self.model.encode(ids, segments)[..., : self.width]
        rows = torch.arange(ids.shape[0], device=ids.device)
        return self.target.next_token_logits(hidden[rows, self.lengths - 1])

    def reorder(self, index: torch.Tensor) -> None:
        self.lengths = self.lengths.index_select(0, index)
        if self.cached:
            self.cache = self.model.encoder.reorder(self.cache, index)
        else:
            self.buffer = self.buffer.index_select(0, index)


class SequenceStepper:
    """Encoder–decoder models (``mt``, ``ae``): the prompt is encoded once; the decoder writes a
    new sequence from ``start_id`` (the output vocabulary's ``[CLS]``)."""

    def __init__(self, model: nn.Module, target: nn.Module, start_id: int, cache: bool = True):
        self.model, self.target, self.decoder = model, target, target.decoder
        self.start_id = start_id
        self.cached = cache

    def start(self, ids: torch.Tensor, lengths: torch.Tensor, capacity: int) -> torch.Tensor:
        b, t = ids.shape
        segments = (torch.arange(t, device=ids.device) < lengths[:, None]).long()
        self.memory = self.model.encode(ids, segments)
        padding = segments == 0
        self.memory_padding = padding if bool(padding.any()) else None
        first = torch.full((b,), self.start_id, dtype=torch.long, device=ids.device)
        if self.cached:
            self.cache = self.decoder.start(self.memory, self.memory_padding, capacity)
        else:
            self.buffer = ids.new_zeros(b, capacity)
            self.length = 0
        return self.step(first)

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.cached:
            states, self.cache = self.decoder.extend(tokens[:, None], self.cache)
            return self.target.next_token_logits(states[:, 0])
        self.buffer[:, self.length] = tokens
        self.length += 1
        states = self.decoder(self.buffer[:, : self.length], None, self.memory, self.memory_padding)
        return self.target.next_token_logits(states[:, -1])

    def reorder(self, index: torch.Tensor) -> None:
        if self.cached:
            self.cache = self.decoder.reorder(self.cache, index)
            return
        self.buffer = self.buffer.index_select(0, index)
        self.memory = self.memory.index_select(0, index)
        if self.memory_padding is not None:
            self.memory_padding = self.memory_padding.index_select(0, index)


def encoder_can_continue(config) -> str | None:
    """None when no left-to-right state of the model's encoder depends on a later token (a
    bidirectional last member counts by its forward stack); else why not, in a few words."""
    from uer_ray.models.builder import component_config

    names = config.encoder_names
    for i, name in enumerate(names):
        cls = ENCODERS.get(name)
        if i == len(names) - 1 and cls.bidirectional:
            continue  # its forward stack reads left to right (encoders/rnn.py)
        cfg = component_config(cls.Config, config, config.encoder_options.get(name, {}),
                               f"encoder_options.{name}")
        if cls.sees_future(cfg) is not False:
            return f"encoder {name!r} sees later tokens"
    return None
