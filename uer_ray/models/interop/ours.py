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
    layer.i.ff.gate                   encoder.layers.i.ffn.gate          (gated feed-forward)
    rel_bias                          encoder.position_bias.weight       (T5 relative positions)

Encoder–decoder families (T5, BART) add the decoder, which lives in the sequence-to-sequence
target ``<t>`` (``t5``, ``bart``, ``gsg``)::

    dec.emb.{word,pos} / dec.emb.norm     targets.<t>.decoder.embedding.{word,pos}.weight / .norm
                                          (no dec.emb.word when the decoder shares emb.word)
    dec.layer.i.attn.{q,k,v} / .out       targets.<t>.decoder.layers.i.attn.qkv / .out
    dec.layer.i.cross.q / {k,v} / .out    targets.<t>.decoder.layers.i.cross.q / .kv (rows k | v) / .out
    dec.layer.i.{attn,cross,ff}_norm      targets.<t>.decoder.layers.i.{attn,cross,ffn}_norm
    dec.layer.i.ff.{in,gate,out}          targets.<t>.decoder.layers.i.ffn.{inner,gate,outer}
    dec.final_norm / dec.rel_bias         targets.<t>.decoder.final_norm / .position_bias.weight
    lm_head / lm_bias                     targets.<t>.output.weight (untied) / .output_bias
"""

from __future__ import annotations

import re

import torch

from uer_ray.errors import MismatchError
from uer_ray.models.builder import component_config
from uer_ray.models.config import ModelConfig
from uer_ray.models.interop.base import ArchSpec, Family, families, family_names
from uer_ray.models.presets import load_preset

_EMB = {"emb.word": "embedding.word.weight", "emb.pos": "embedding.pos.weight",
        "emb.norm.weight": "embedding.norm.weight", "emb.norm.bias": "embedding.norm.bias",
        "final_norm.weight": "encoder.final_norm.weight", "final_norm.bias": "encoder.final_norm.bias"}
_EMB["rel_bias"] = "encoder.position_bias.weight"
_LAYER = {"attn.out": "attn.out", "attn_norm": "attn_norm", "ff.in": "ffn.inner",
          "ff.gate": "ffn.gate", "ff.out": "ffn.outer", "ff_norm": "ffn_norm"}
_DEC_TOP = {"dec.emb.word": "embedding.word.weight", "dec.emb.pos": "embedding.pos.weight",
            "dec.emb.norm.weight": "embedding.norm.weight", "dec.emb.norm.bias": "embedding.norm.bias",
            "dec.final_norm.weight": "final_norm.weight", "dec.final_norm.bias": "final_norm.bias",
            "dec.rel_bias": "position_bias.weight"}
_DEC_LAYER = {**_LAYER, "cross.q": "cross.q", "cross.out": "cross.out", "cross_norm": "cross_norm"}
_FUSED = {"attn.q": ("attn.qkv", "qkv"), "cross.k": ("cross.kv", "kv")}  # first part -> fused, parts
_CONSUMED = ("attn.k", "attn.v", "cross.v")  # fused in with the first part
_HEADS = {"mlm.dense": "targets.mlm.dense", "mlm.norm": "targets.mlm.norm",
          "pooler": "targets.sp.pooler", "sp": "targets.sp.output"}


# --------------------------------------------------------------------------- names


def _layer_from_canonical(t: dict, name: str, table: dict, prefix: str) -> tuple[str, torch.Tensor] | None:
    """One ``[dec.]layer.i.<sub>.<leaf>`` tensor -> (uer_ray name under ``prefix``, value); the
    first of fused parts brings the others (q+k+v, k+v); None for the others and unknown ones."""
    module, _, leaf = name.rpartition(".")
    head, i, sub = re.fullmatch(r"((?:dec\.)?layer)\.(\d+)\.(.+)", module).groups()
    if sub in _FUSED:
        fused, parts = _FUSED[sub]
        base = sub.split(".")[0]
        value = torch.cat([t[f"{head}.{i}.{base}.{p}.{leaf}"] for p in parts])
        return f"{prefix}layers.{i}.{fused}.{leaf}", value
    if sub in table:
        return f"{prefix}layers.{i}.{table[sub]}.{leaf}", t[name]
    return None


def ours_from_canonical(t: dict[str, torch.Tensor], seq2seq: str | None = None
                        ) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Canonical tensors -> (uer_ray state-dict entries, canonical names that have no place).

    Query, key and value are fused into ``attn.qkv`` (rows q | k | v), cross-attention keys and
    values into ``cross.kv``; Hugging Face token type t becomes our segment id t+1, and row 0
    (padding, never seen by a real token) is zero. ``seq2seq``: the target that holds the
    decoder (``t5``, ``bart``): the ``dec.*``, ``lm_head`` and ``lm_bias`` tensors go there."""
    out: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    target = f"targets.{seq2seq}."
    for name, value in t.items():
        module, _, leaf = name.rpartition(".")
        if seq2seq is not None and (name.startswith("dec.") or name in ("lm_head", "lm_bias")):
            if name == "lm_head":
                out[f"{target}output.weight"] = value
            elif name == "lm_bias":
                out[f"{target}output_bias"] = value
            elif name in _DEC_TOP:
                out[f"{target}decoder.{_DEC_TOP[name]}"] = value
            elif name.startswith("dec.layer."):
                if module.split(".", 3)[3] not in _CONSUMED:
                    entry = _layer_from_canonical(t, name, _DEC_LAYER, f"{target}decoder.")
                    if entry is None:
                        continue
                    out[entry[0]] = entry[1]
            else:
                continue
            used.add(name)
            continue
        if name in _EMB:
            out[_EMB[name]] = value
        elif name == "emb.seg":
            out["embedding.seg.weight"] = torch.cat([torch.zeros_like(value[:1]), value])
        elif name == "mlm.bias":
            out["targets.mlm.output_bias"] = value
        elif module in _HEADS:
            out[f"{_HEADS[module]}.{leaf}"] = value
        elif name.startswith("layer."):
            if module.split(".", 2)[2] not in _CONSUMED:
                entry = _layer_from_canonical(t, name, _LAYER, "encoder.")
                if entry is None:
                    continue
                out[entry[0]] = entry[1]
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
    inv_dec_top = {v: k for k, v in _DEC_TOP.items()}
    inv_dec_layer = {v: k for k, v in _DEC_LAYER.items()}
    out: dict[str, torch.Tensor] = {}
    for name, value in state.items():
        module, _, leaf = name.rpartition(".")
        s2s = re.fullmatch(r"targets\.\w+\.(decoder\..+|output\.weight|output_bias)", name)
        if s2s and module not in inv_heads and name != "targets.mlm.output_bias":
            rest = s2s.group(1)
            if rest == "output.weight":
                out["lm_head"] = value
            elif rest == "output_bias":
                out["lm_bias"] = value
            elif rest.removeprefix("decoder.") in inv_dec_top:
                out[inv_dec_top[rest.removeprefix("decoder.")]] = value
            elif m := re.fullmatch(r"decoder\.layers\.(\d+)\.(.+)\.(weight|bias)", rest):
                i, sub, leaf = m.groups()
                if sub in ("attn.qkv", "cross.kv"):
                    base, parts = sub.split(".")[0], ("qkv" if sub == "attn.qkv" else "kv")
                    for p, part in zip(parts, value.chunk(len(parts)), strict=True):
                        out[f"dec.layer.{i}.{base}.{p}.{leaf}"] = part
                else:
                    out[f"dec.layer.{i}.{inv_dec_layer[sub]}.{leaf}"] = value
            else:
                raise MismatchError(f"parameter {name} has no Hugging Face counterpart")
            continue
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


def resolved_configs(config: ModelConfig):
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


def spec_from_ours(config: ModelConfig, heads: bool = True) -> tuple[ArchSpec, str | None]:
    """(ArchSpec, Hugging Face architecture) of a uer_ray model, or a MismatchError naming every
    way in which it is not a model of the family its encoder says it is. ``heads=False``: the
    embedding and encoder only (a fine-tuned model's task head is exported instead of its
    pre-training targets); the architecture is then None."""
    encoders = list(dict.fromkeys(f.encoder for f in families()))
    if len(config.encoder_names) != 1 or config.encoder_names[0] not in encoders:
        raise MismatchError(f"encoder {config.encoder!r} has no Hugging Face {family_names()} equivalent "
                            f"(only a single {' or '.join(repr(e) for e in encoders)} encoder does)")
    emb, enc, tgt = resolved_configs(config)
    if not heads:
        tgt = {}
    # uer_ray's transformer encoders differ only in defaults: the layout, not the name, decides;
    # a model with a decoder is one of the encoder–decoder families, one without of the others
    seq2seq = config.decoder is not None
    fam = next((f for f in families() if f.seq2seq == seq2seq and f.owns(enc)), None)
    if fam is None:
        raise MismatchError(f"encoder {config.encoder!r} matches no Hugging Face {family_names()} layout")
    problems = fam.export_problems(config, emb, enc, tgt)
    if problems:
        raise MismatchError("this model cannot be written as a Hugging Face "
                            f"{fam.name.upper()}: " + "; ".join(problems))
    return fam.spec_from_ours(config, emb, enc), fam.architecture(list(config.targets)) if heads else None


def decoder_config(config: ModelConfig):
    """The resolved decoder config of a model with a decoder (as the builder fills it)."""
    from uer_ray.decoders import DECODERS

    return component_config(DECODERS.get(config.decoder).Config, config, config.decoder_options,
                            "decoder_options")


def seq2seq_target(targets) -> str | None:
    """The target that holds the decoder among ``targets`` (names), if any."""
    from uer_ray.targets import TARGETS

    return next((t for t in targets if TARGETS.get(t).needs_decoder), None)


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
    if set(tgt) - allowed:  # the resolved targets: all of config.targets, or none for encoder-only
        problems.append(f"targets {sorted(set(tgt) - allowed)} (exportable: {sorted(allowed)})")
    for name, c in tgt.items():
        if not getattr(c, "tie_weights", True) or getattr(c, "bias", False):
            problems.append(f"target {name}: output layer untied or with bias")
    return problems
