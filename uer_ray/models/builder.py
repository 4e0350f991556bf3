"""``build_model``: a ``ModelConfig`` (or its dict) + runtime values -> ``Model``.

Every check happens here, before any training: unknown module names (with "did you mean"),
component options that do not fit their config, widths that do not chain from the embedding
through the encoder stack, targets that need a decoder or a runtime value they did not get.
``encoder_facts`` reads what the encoder classes declare about a model's encoder (stack) without
building it; ``check_targets_fit`` refuses targets that a model's encoder would make trivial
(training checks it; loading a checkpoint does not, so old checkpoints always load).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from uer_ray import config as cfgio
from uer_ray.config import ConfigError
from uer_ray.decoders import DECODERS
from uer_ray.embeddings import EMBEDDINGS, Embedding, EmbeddingConfig
from uer_ray.encoders import ENCODERS, EncoderStack
from uer_ray.models.config import ModelConfig
from uer_ray.models.model import Model
from uer_ray.targets import TARGETS, TargetContext


def component_config(cls: type, shared: ModelConfig, options: dict[str, Any], path: str) -> Any:
    """Config ``cls`` filled from the shared sizes it has fields for, then from ``options``."""
    fields = {f.name for f in dataclasses.fields(cls)}
    shared_values = {k: v for k, v in cfgio.to_dict(shared).items() if k in fields}
    return cfgio.from_dict(cls, {**shared_values, **options}, path)


def _check_option_names(section: str, options: dict, names: list[str]) -> None:
    for key in options:
        if key not in names:
            raise ConfigError(f"{section}.{key}: not a module of this model (it has: {', '.join(names)})")


@dataclass(frozen=True)
class EncoderFacts:
    """What the encoder classes of a model declare, combined over a stack."""

    names: tuple[str, ...]
    sees_future: bool | None
    """True when any member sees later tokens; None when none does but some member does not say"""
    default_pooling: str
    """the last member's"""
    lr_pretrained: float
    """the smallest of the members' (a stack is as delicate as its most delicate member)"""
    lr_scratch: float
    undeclared: tuple[str, ...]
    """members that do not say whether they see the future"""


def encoder_facts(config: dict | ModelConfig) -> EncoderFacts:
    """The facts of ``config``'s encoder (stack), from the registered classes and their configs."""
    if not isinstance(config, ModelConfig):
        config = ModelConfig.from_dict(config)
    members = []
    for name in config.encoder_names:
        cls = ENCODERS.get(name)
        cfg = component_config(cls.Config, config, config.encoder_options.get(name, {}),
                               f"encoder_options.{name}")
        members.append((name, cls, cfg))
    future = [cls.sees_future(cfg) for _, cls, cfg in members]
    undeclared = tuple(name for (name, _, _), f in zip(members, future, strict=True) if f is None)
    sees = True if any(f is True for f in future) else (None if undeclared else False)
    name, last, cfg = members[-1]
    return EncoderFacts(names=tuple(config.encoder_names), sees_future=sees,
                        default_pooling=last.default_pooling(cfg),
                        lr_pretrained=min(c.lr_pretrained for _, c, _ in members),
                        lr_scratch=min(c.lr_scratch for _, c, _ in members), undeclared=undeclared)


def check_targets_fit(config: dict | ModelConfig) -> None:
    """Refuse targets that the encoder makes trivial: a next-token target (``lm``) on an
    encoder that sees the next token, or that does not say whether it does."""
    if not isinstance(config, ModelConfig):
        config = ModelConfig.from_dict(config)
    readers = [t for t in config.targets if TARGETS.get(t).predicts_next_token]
    if not readers:
        return
    facts = encoder_facts(config)
    if facts.sees_future is False:
        return
    encoder = "+".join(facts.names)
    what = f"target {readers[0]!r} predicts the next token"
    if facts.sees_future is None:
        raise ConfigError(f"{what}, and encoder {', '.join(map(repr, facts.undeclared))} does not "
                          "declare whether it sees later tokens: give its class a sees_future "
                          "method (docs/extending.md); until then it counts as seeing them")
    causal = [n for n, c in ENCODERS.items() if _causal_by_default(c)]
    raise ConfigError(f"{what}, but encoder {encoder!r} sees it (use a target that does not read "
                      f"ahead, such as mlm, or a left-to-right encoder: {', '.join(causal)}, "
                      "or one configured causal, e.g. transformer with mask: causal)")


def _causal_by_default(cls: type) -> bool:
    try:
        return cls.sees_future(cls.Config()) is False
    except (TypeError, ValueError):  # a config without defaults for every field
        return False


def build_encoder(config: ModelConfig, input_dim: int) -> nn.Module:
    """The encoder (or stack) with each member's input width checked against its predecessor."""
    names = config.encoder_names
    _check_option_names("encoder_options", config.encoder_options, names)
    members, width, source = [], input_dim, f"the embedding (emb_size {input_dim})"
    for i, name in enumerate(names):
        cls = ENCODERS.get(name)
        cfg = component_config(cls.Config, config, config.encoder_options.get(name, {}),
                               f"encoder_options.{name}")
        expected = cls.expected_input_dim(cfg)
        if expected is not None and expected != width:
            where = f"encoder {name!r}" + (f" (stack position {i})" if len(names) > 1 else "")
            raise ConfigError(f"dimension mismatch: {source} outputs width {width} but {where} "
                              f"expects input width {expected}")
        members.append(cls(cfg, width))
        width, source = members[-1].output_dim, f"encoder {name!r} (stack position {i})"
    return members[0] if len(members) == 1 else EncoderStack(members)


def _decoder_factory(config: ModelConfig, memory_dim: int, word: nn.Module | None):
    if config.decoder is None:
        return None
    cls = DECODERS.get(config.decoder)
    cfg = component_config(cls.Config, config, config.decoder_options, "decoder_options")

    def make(vocab: int) -> nn.Module:
        if getattr(cfg, "share_embedding", False):
            if vocab != config.vocab_size:
                raise ValueError(f"decoder_options.share_embedding: the decoder writes a vocabulary of "
                                 f"{vocab} but the shared word table has {config.vocab_size} rows "
                                 "(share it only for targets in the source vocabulary)")
            return cls(cfg, vocab_size=vocab, memory_dim=memory_dim, word_embedding=word)
        return cls(cfg, vocab_size=vocab, memory_dim=memory_dim)

    return make


def _check_mask(config: ModelConfig, name: str, want: str) -> None:
    """A target that needs the encoder configured with attention mask ``want`` (``prefixlm``)."""
    last = config.encoder_names[-1]
    cls = ENCODERS.get(last)
    cfg = component_config(cls.Config, config, config.encoder_options.get(last, {}),
                           f"encoder_options.{last}")
    mask = getattr(cfg, "mask", None)
    if mask != want:
        fix = (f"set encoder_options.{last}.mask: {want}" if mask is not None
               else f"use the transformer encoder with mask: {want}")
        has = f"has mask {mask!r}" if mask is not None else "has no attention mask"
        raise ConfigError(f"targets.{name}: target {name!r} needs an encoder with mask {want!r}, but "
                          f"encoder {last!r} {has} ({fix})")


def build_targets(config: ModelConfig, embedding: Embedding, encoder: nn.Module) -> dict[str, nn.Module]:
    names = list(config.targets)
    _check_option_names("target_options", config.target_options, names)
    ctx = TargetContext(
        hidden_size=encoder.output_dim, vocab_size=config.vocab_size, word_embedding=embedding.part("word"),
        tgt_vocab_size=config.tgt_vocab_size, pad_id=config.pad_id,
        encoder_name=config.encoder_names[-1],
        encoder_bidirectional=ENCODERS.get(config.encoder_names[-1]).bidirectional,
        make_decoder=_decoder_factory(config, encoder.output_dim, embedding.part("word")),
    )
    targets = {}
    for name in names:
        cls = TARGETS.get(name)
        if cls.needs_decoder and ctx.make_decoder is None:
            raise ConfigError(f"targets.{name}: target {name!r} needs a decoder (this model is "
                              f"encoder-only); set \"decoder\": \"transformer\" (available: "
                              f"{', '.join(DECODERS.names())}) or start from an encoder-decoder preset")
        if cls.needs_mask is not None:
            _check_mask(config, name, cls.needs_mask)
        cfg = component_config(cls.Config, config, config.target_options.get(name, {}),
                               f"target_options.{name}")
        try:
            targets[name] = cls(cfg, ctx)
        except ValueError as e:
            raise ConfigError(f"targets.{name}: {e}") from e
    return targets


def check_names(config: dict | ModelConfig, path: str = "config") -> ModelConfig:
    """The config, checked for unknown keys (with their path) and unknown module names (with
    "did you mean") without building anything: the first check a run makes."""
    if not isinstance(config, ModelConfig):
        config = ModelConfig.from_dict(config, path)
    for name in config.embedding:
        EMBEDDINGS.get(name)
    for name in config.encoder_names:
        ENCODERS.get(name)
    for name in config.targets:
        TARGETS.get(name)
    if config.decoder is not None:
        DECODERS.get(config.decoder)
    return config


def build_model(config: dict | ModelConfig, *, vocab_size: int | None = None,
                tgt_vocab_size: int | None = None, pad_id: int | None = None) -> Model:
    """Assemble the model that ``config`` names. Runtime values given here override the config's
    and are recorded in ``model.config`` so a checkpoint rebuilds the same model."""
    if not isinstance(config, ModelConfig):
        config = ModelConfig.from_dict(config)
    runtime = {k: v for k, v in {"vocab_size": vocab_size, "tgt_vocab_size": tgt_vocab_size,
                                 "pad_id": pad_id}.items() if v is not None}
    if runtime:
        config = cfgio.from_dict(ModelConfig, {**config.to_dict(), **runtime}, "config")
    if config.vocab_size is None:
        raise ConfigError("vocab_size is not set: pass build_model(..., vocab_size=tokenizer.vocab_size)")
    check_names(config)  # unknown names fail first, with "did you mean"
    emb_cfg = component_config(EmbeddingConfig, config, config.embedding_options, "embedding_options")
    try:
        embedding = Embedding(config.embedding, emb_cfg, config.vocab_size)
    except ValueError as e:
        raise ConfigError(str(e)) from e
    encoder = build_encoder(config, embedding.output_dim)
    targets = build_targets(config, embedding, encoder)
    return Model(config, embedding, encoder, targets)


# Weight-initialising in-place ops: ``nn.init``'s functions and the tensor fills they call. Ops
# that take another tensor (``copy_``, ``add_``) still run, so their shape checks still hold.
_INIT_OPS = frozenset({"normal_", "uniform_", "trunc_normal_", "xavier_uniform_", "xavier_normal_",
                       "kaiming_uniform_", "kaiming_normal_", "constant_", "ones_", "zeros_",
                       "fill_", "zero_"})


class _SkipMetaInit(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        if (getattr(func, "__name__", None) in _INIT_OPS and args
                and isinstance(args[0], torch.Tensor) and args[0].is_meta):
            return args[0]
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def on_meta() -> Iterator[None]:
    """Build modules on PyTorch's meta device (full shapes, no memory) without running their
    weight initialisation, which has no values to fill there. The meta kernel of ``normal_``
    alone imports ``torch._dynamo`` (about 1.2 s on a 2-core machine): the driver's checks of a
    model config before Ray starts took 2 s instead of 0.7 s."""
    with torch.device("meta"), _SkipMetaInit():
        yield
