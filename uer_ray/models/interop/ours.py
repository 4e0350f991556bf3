"""The uer_ray side of every conversion: canonical names <-> uer_ray parameters, the shared part
of an imported model's config, and which family (if any) a uer_ray model can be exported as.

Mapping (canonical -> uer_ray)::

    emb.word / emb.pos / emb.seg      embedding.{word,pos,seg}.weight   (seg: HF type t -> our row t+1)
    emb.norm                          embedding.norm
    layer.i.attn.{q,k,v}              encoder.layers.i.attn.qkv          (fused: rows q | k | v)
    layer.i.attn.out                  encoder.layers.i.attn.out
    layer.i.{attn_norm,ff_norm}       encoder.layers.i.{attn_norm,ffn_norm}
    layer.i.ff.{in,out}               encoder.layers.i.ffn.{inner,outer}
    final_norm                        encoder.final_norm
    mlm.dense / mlm.norm / mlm.bias   targets.mlm.{dense,norm,output_bias}
    pooler / sp                       targets.sp.{pooler,output}
"""

from __future__ import annotations

import torch

from uer_ray.errors import MismatchError
from uer_ray.models.builder import component_config
from uer_ray.models.config import ModelConfig
from uer_ray.models.interop.base import ArchSpec, Family, families, family_names
from uer_ray.models.presets import load_preset

_EMB = {"emb.word": "embedding.word.weight", "emb.pos": "embedding.pos.weight",
        "emb.norm.weight": "embedding.norm.weight", "emb.norm.bias": "embedding.norm.bias",
        "final_norm.weight": "encoder.final_norm.weight", "final_norm.bias": "encoder.final_norm.bias"}
_LAYER = {"attn.out": "attn.out", "attn_norm": "attn_norm", "ff.in": "ffn.inner",
          "ff.out": "ffn.outer", "ff_norm": "ffn_norm"}
_HEADS = {"mlm.dense": "targets.mlm.dense", "mlm.norm": "targets.mlm.norm",
          "pooler": "targets.sp.pooler", "sp": "targets.sp.output"}


# --------------------------------------------------------------------------- names


def ours_from_canonical(t: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Canonical tensors -> (uer_ray state-dict entries, canonical names that have no place).

    Query, key and value are fused into ``attn.qkv`` (rows q | k | v); Hugging Face token type
    t becomes our segment id t+1, and row 0 (padding, never seen by a real token) is zero."""
    out: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    for name, value in t.items():
        module, _, leaf = name.rpartition(".")
        if name in _EMB:
            out[_EMB[name]] = value
        elif name == "emb.seg":
            out["embedding.seg.weight"] = torch.cat([torch.zeros_like(value[:1]), value])
        elif name == "mlm.bias":
            out["targets.mlm.output_bias"] = value
        elif module in _HEADS:
            out[f"{_HEADS[module]}.{leaf}"] = value
        elif name.startswith("layer."):
            _, i, sub = module.split(".", 2)
            if sub == "attn.q":  # k and v are consumed here too
                parts = [t[f"layer.{i}.attn.{p}.{leaf}"] for p in "qkv"]
                out[f"encoder.layers.{i}.attn.qkv.{leaf}"] = torch.cat(parts)
            elif sub in _LAYER:
                out[f"encoder.layers.{i}.{_LAYER[sub]}.{leaf}"] = value
            elif sub not in ("attn.k", "attn.v"):
                continue
        else:
            continue
        used.add(name)
    return out, sorted(set(t) - used)


def canonical_from_ours(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """uer_ray state dict of an exportable model -> canonical tensors (inverse of
    ``ours_from_canonical``; the padding row of the segment table is left out)."""
    inv_emb = {v: k for k, v in _EMB.items()}
    inv_heads = {v: k for k, v in _HEADS.items()}
    inv_layer = {v: k for k, v in _LAYER.items()}
    out: dict[str, torch.Tensor] = {}
    for name, value in state.items():
        module, _, leaf = name.rpartition(".")
        if name in inv_emb:
            out[inv_emb[name]] = value
        elif name == "embedding.seg.weight":
            out["emb.seg"] = value[1:]
        elif name == "targets.mlm.output_bias":
            out["mlm.bias"] = value
        elif module in inv_heads:
            out[f"{inv_heads[module]}.{leaf}"] = value
        elif name.startswith("encoder.layers."):
            _, _, i, sub = module.split(".", 3)
            if sub == "attn.qkv":
                for p, part in zip("qkv", value.chunk(3), strict=True):
                    out[f"layer.{i}.attn.{p}.{leaf}"] = part
            else:
                out[f"layer.{i}.{inv_layer[sub]}.{leaf}"] = value
        else:
            raise MismatchError(f"parameter {name} has no Hugging Face counterpart")
    return out


# --------------------------------------------------------------------------- configs


def preset_config(fam: Family, spec: ArchSpec, targets: list[str], pad_id: int) -> dict:
    """The family's preset with every size and option taken from ``spec``; families add what is
    theirs alone (segment table, target options)."""
    cfg = load_preset(fam.preset)
    cfg.update(
        vocab_size=spec.vocab_size, pad_id=pad_id, emb_size=spec.hidden_size,
        hidden_size=spec.hidden_size, layers=spec.layers, heads=spec.heads, ffn_size=spec.ffn_size,
        max_seq_length=spec.max_positions, dropout=spec.dropout, layernorm_eps=spec.eps,
        targets={name: 1.0 for name in targets},
    )
    cfg["embedding_options"] = {**cfg.get("embedding_options", {}), "dropout": spec.embedding_dropout}
    cfg["encoder_options"] = {fam.encoder: {"act": spec.act, "attention_dropout": spec.attention_dropout}}
    return cfg


def arch_spec(fam: Family, config: ModelConfig, emb, enc, type_vocab_size: int) -> ArchSpec:
    """The ``ArchSpec`` of a uer_ray model from its resolved embedding and encoder configs."""
    return ArchSpec(fam.name, config.vocab_size, enc.hidden_size, enc.layers, enc.heads, enc.ffn_size,
                    emb.max_seq_length, type_vocab_size, enc.layernorm_eps, enc.act, enc.dropout,
                    enc.attention_dropout, emb.dropout)


def _resolved(config: ModelConfig):
    """(embedding config, encoder config, target name -> config) as the builder fills them."""
    from uer_ray.embeddings import EmbeddingConfig
    from uer_ray.encoders import ENCODERS
    from uer_ray.targets import TARGETS

    emb = component_config(EmbeddingConfig, config, config.embedding_options, "embedding_options")
    name = config.encoder_names[0]
    enc = component_config(ENCODERS.get(name).Config, config, config.encoder_options.get(name, {}), name)
    tgt = {t: component_config(TARGETS.get(t).Config, config, config.target_options.get(t, {}), t)
           for t in config.targets}
    return emb, enc, tgt


def spec_from_ours(config: ModelConfig) -> tuple[ArchSpec, str]:
    """(ArchSpec, Hugging Face architecture) of a uer_ray model, or a MismatchError naming every
    way in which it is not a model of the family its encoder says it is."""
    encoders = list(dict.fromkeys(f.encoder for f in families()))
    if len(config.encoder_names) != 1 or config.encoder_names[0] not in encoders:
        raise MismatchError(f"encoder {config.encoder!r} has no Hugging Face {family_names()} equivalent "
                            f"(only a single {' or '.join(repr(e) for e in encoders)} encoder does)")
    emb, enc, tgt = _resolved(config)
    # uer_ray's transformer encoders differ only in defaults: the layout, not the name, decides.
    fam = next((f for f in families() if f.owns(enc)), None)
    if fam is None:
        raise MismatchError(f"encoder {config.encoder!r} matches no Hugging Face {family_names()} layout")
    problems = fam.export_problems(config, emb, enc, tgt)
    if problems:
        raise MismatchError("this model cannot be written as a Hugging Face "
                            f"{fam.name.upper()}: " + "; ".join(problems))
    return fam.spec_from_ours(config, emb, enc), fam.architecture(list(config.targets))


def layout_problems(fam: Family, config: ModelConfig, emb, enc) -> list[str]:
    """How the embedding and the encoder's mask differ from the family's layout."""
    problems = []
    want = set(fam.embedding)
    if set(config.embedding) != want:
        problems.append(f"embedding {config.embedding} (a {fam.name.upper()} has {sorted(want)})")
    if enc.mask != fam.mask:
        problems.append(f"attention mask {enc.mask!r} (a {fam.name.upper()} has {fam.mask!r})")
    if emb.layernorm != fam.embedding_layernorm or emb.factorized_size or emb.emb_size != enc.hidden_size:
        problems.append("embedding LayerNorm / factorisation / emb_size differ from the "
                        f"{fam.name.upper()} layout")
    return problems


def head_problems(fam: Family, config: ModelConfig, enc, tgt: dict) -> list[str]:
    """How the targets differ from what the family exports: only its own targets, and every
    output layer tied to the word embedding without a bias (a family checks the details of its
    heads in its own ``export_problems``)."""
    problems = []
    allowed = set(fam.targets)
    if set(config.targets) - allowed:
        problems.append(f"targets {sorted(set(config.targets) - allowed)} (exportable: {sorted(allowed)})")
    for name, c in tgt.items():
        if not getattr(c, "tie_weights", True) or getattr(c, "bias", False):
            problems.append(f"target {name}: output layer untied or with bias")
    return problems
