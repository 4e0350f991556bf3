"""T5 (``model_type: t5``), v1.0 and v1.1: ``T5ForConditionalGeneration`` in and out; uer_ray's
``t5-small`` / ``t5-v1_1-small`` presets (pre-LN ``transformer`` encoder and decoder with
``rmsnorm``, no biases, no attention scaling, bucketed relative positions; one word table for
the encoder, the decoder and, in v1.0, the output; target ``t5``).

T5 v1.1 is the same ``model_type`` with ``feed_forward_proj: gated-gelu`` (a gated feed-forward
with tanh GELU) and an output layer that is not rescaled (``tie_word_embeddings: false``: in
the published v1.1 checkpoints ``lm_head.weight`` is a matrix of its own, imported as the
target's own ``output``; transformers 5 ties it to ``shared`` and writes only
``scale_decoder_outputs: false``).

Hugging Face names -> canonical (``base.py``)::

    shared                                                emb.word (= decoder input = tied output)
    encoder.block.i.layer.0.SelfAttention.{q,k,v,o}       layer.i.attn.{q,k,v,out}
    encoder.block.0.layer.0.SelfAttention.relative_attention_bias   rel_bias
    encoder.block.i.layer.0.layer_norm                    layer.i.attn_norm
    encoder.block.i.layer.1.DenseReluDense.{wi|wi_0,wi_1,wo}        layer.i.ff.{in,gate,out}
    encoder.block.i.layer.1.layer_norm                    layer.i.ff_norm
    encoder.final_layer_norm                              final_norm
    decoder.block.i.layer.0.SelfAttention.* / layer_norm  dec.layer.i.attn.* / attn_norm
    decoder.block.0.layer.0.SelfAttention.relative_attention_bias   dec.rel_bias
    decoder.block.i.layer.1.EncDecAttention.* / layer_norm          dec.layer.i.cross.* / cross_norm
    decoder.block.i.layer.2.DenseReluDense.* / layer_norm           dec.layer.i.ff.* / ff_norm
    decoder.final_layer_norm                              dec.final_norm
    lm_head                                               lm_head (only when not a copy of shared)
"""

from __future__ import annotations

import re

import torch

from uer_ray.errors import InputError
from uer_ray.models.interop.base import (
    FAMILIES,
    HF_TO_OUR_ACT,
    OUR_TO_HF_ACT,
    ArchSpec,
    Family,
    check_activation,
)
from uer_ray.models.interop.ours import decoder_config, resolved_configs

_ATTN = {"q": "q", "k": "k", "v": "v", "o": "out"}
_FF = {"wi": "in", "wi_0": "in", "wi_1": "gate", "wo": "out"}
# sub-layer index -> (canonical prefix of its module, its norm), per stack
_SUBLAYERS = {"encoder": {"0": ("attn", "attn_norm"), "1": ("ff", "ff_norm")},
              "decoder": {"0": ("attn", "attn_norm"), "1": ("cross", "cross_norm"), "2": ("ff", "ff_norm")}}
_STACK = {"encoder": "", "decoder": "dec."}


def _feed_forward(config: dict) -> tuple[bool, str]:
    """(gated, Hugging Face activation) of ``feed_forward_proj`` as transformers reads it."""
    proj = config.get("feed_forward_proj", "relu")
    parts = proj.split("-")
    gated = parts[0] == "gated" and len(parts) == 2
    act = parts[-1]
    return gated, "gelu_new" if proj == "gated-gelu" else act


DEFAULTS = {"gated": False, "buckets": 32, "max_distance": 128, "head_size": None, "tied": True,
            "scale": True}
"""``ArchSpec.options`` of T5 (transformers' T5Config defaults; head size: hidden / heads)"""


def _options(spec: ArchSpec) -> dict:
    o = {**DEFAULTS, **spec.options}
    o["head_size"] = o["head_size"] or spec.hidden_size // spec.heads
    return o


def _blocks(spec: ArchSpec) -> dict:
    """The block options T5 stacks share, encoder and decoder."""
    o = _options(spec)
    return {"pre_ln": True, "norm": "rmsnorm", "bias": False, "attention_scale": False,
            "relative_position": True, "relative_buckets": o["buckets"],
            "relative_max_distance": o["max_distance"], "feed_forward": "gated" if o["gated"] else "dense",
            "act": spec.act, "head_size": o["head_size"]}


@FAMILIES.register("t5")
class T5Family(Family):
    display = "T5"
    preset = "t5-small"
    encoder = "transformer"
    embedding = ("word",)
    mask = "fully_visible"
    pre_ln = True
    embedding_layernorm = False
    targets = ("t5",)
    seq2seq = True
    exportable = ("t5", "bart", "gsg")
    """targets whose decoder writes the source vocabulary: any one of them exports"""

    # ------------------------------------------------------------------ Hugging Face side
    hf_ignored = re.compile(r"decoder\.block\.0\.layer\.1\.EncDecAttention\.relative_attention_bias\.weight$")
    hf_tied = ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight")

    def check_supported(self, config: dict, cfg_file: str) -> None:
        gated, act = _feed_forward(config)
        proj = config.get("feed_forward_proj", "relu")
        if len(proj.split("-")) > 2 or ("-" in proj and not gated):
            raise InputError(f"feed_forward_proj {proj!r} is not supported (e.g. 'relu', 'gated-gelu')",
                             cfg_file)
        check_activation(act, cfg_file)

    def canonical_from_hf(self, key: str, value: torch.Tensor, out: dict[str, torch.Tensor]) -> bool:
        if key == "shared.weight":
            out["emb.word"] = value
        elif key == "lm_head.weight":
            out["lm_head"] = value
        elif m := re.fullmatch(r"(encoder|decoder)\.final_layer_norm\.weight", key):
            out[f"{_STACK[m.group(1)]}final_norm.weight"] = value
        elif m := re.fullmatch(r"(encoder|decoder)\.block\.(\d+)\.layer\.(\d)\.(.+)\.weight", key):
            stack, i, sub, rest = m.groups()
            if sub not in _SUBLAYERS[stack]:
                return False
            module, norm = _SUBLAYERS[stack][sub]
            pre = f"{_STACK[stack]}layer.{i}."
            attn = re.fullmatch(r"(?:SelfAttention|EncDecAttention)\.(q|k|v|o)", rest)
            ff = re.fullmatch(r"DenseReluDense\.(wi|wi_0|wi_1|wo)", rest)
            if rest == "layer_norm":
                out[f"{pre}{norm}.weight"] = value
            elif rest == "SelfAttention.relative_attention_bias" and i == "0":
                out[f"{_STACK[stack]}rel_bias"] = value
            elif attn and module != "ff":
                out[f"{pre}{module}.{_ATTN[attn.group(1)]}.weight"] = value
            elif ff and module == "ff":
                out[f"{pre}ff.{_FF[ff.group(1)]}.weight"] = value
            else:
                return False
        else:
            return False
        return True

    def hf_from_canonical(self, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        gated = any(".ff.gate." in k for k in tensors)
        inv_attn = {v: k for k, v in _ATTN.items()}
        ff_names = {"in": "wi_0" if gated else "wi", "gate": "wi_1", "out": "wo"}
        out = {}
        for name, value in tensors.items():
            if name == "emb.word":
                out["shared.weight"] = value
            elif name == "lm_head":
                out["lm_head.weight"] = value
            elif name in ("final_norm.weight", "dec.final_norm.weight"):
                out[f"{'decoder' if name.startswith('dec.') else 'encoder'}.final_layer_norm.weight"] = value
            elif name in ("rel_bias", "dec.rel_bias"):
                stack = "decoder" if name.startswith("dec.") else "encoder"
                out[f"{stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight"] = value
            else:
                m = re.fullmatch(r"(dec\.)?layer\.(\d+)\.(.+)\.weight", name)
                stack = "decoder" if m.group(1) else "encoder"
                i, sub = m.group(2), m.group(3)
                index = {mod: (k, norm) for k, (mod, norm) in _SUBLAYERS[stack].items()}
                norms = {norm: k for k, (_, norm) in _SUBLAYERS[stack].items()}
                pre = f"{stack}.block.{i}.layer."
                if sub in norms:
                    out[f"{pre}{norms[sub]}.layer_norm.weight"] = value
                    continue
                module, leaf = sub.split(".")
                if module == "ff":
                    out[f"{pre}{index['ff'][0]}.DenseReluDense.{ff_names[leaf]}.weight"] = value
                else:
                    kind = "SelfAttention" if module == "attn" else "EncDecAttention"
                    out[f"{pre}{index[module][0]}.{kind}.{inv_attn[leaf]}.weight"] = value
        return out

    def hf_heads(self, tensors: dict, tied: dict, config: dict) -> set[str]:
        return {"t5"}

    def import_targets(self, heads: set[str]) -> list[str]:
        return ["t5"]

    def architecture(self, targets: list[str]) -> str:
        return "T5ForConditionalGeneration"

    def spec_from_hf(self, c: dict) -> ArchSpec:
        gated, act = _feed_forward(c)
        d_model, heads = c.get("d_model", 512), c.get("num_heads", 8)
        layers = c.get("num_layers", 6)
        dropout = c.get("dropout_rate", 0.1)
        scale = c["scale_decoder_outputs"] if "scale_decoder_outputs" in c else \
            c.get("tie_word_embeddings", True) is not False
        return ArchSpec(
            "t5", c["vocab_size"], d_model, layers, heads, c.get("d_ff", 2048), 512, 0,
            c.get("layer_norm_epsilon", 1e-6), HF_TO_OUR_ACT[act], dropout, dropout, dropout,
            decoder_layers=c.get("num_decoder_layers") or layers,
            options={"gated": gated, "buckets": c.get("relative_attention_num_buckets", 32),
                     "max_distance": c.get("relative_attention_max_distance", 128),
                     "head_size": c.get("d_kv", 64), "tied": True, "scale": scale},
        )

    def spec_from_checkpoint(self, config: dict, tensors: dict[str, torch.Tensor]) -> ArchSpec:
        """The output layer is tied when the file has no ``lm_head.weight`` or a copy of
        ``shared`` (the copy is dropped); v1.1's own ``lm_head`` becomes the target's output."""
        spec = self.spec_from_hf(config)
        head = tensors.get("lm_head")
        if head is not None and head.shape == tensors["emb.word"].shape and torch.equal(head, tensors["emb.word"]):
            del tensors["lm_head"]
            head = None
        spec.options["tied"] = head is None
        return spec

    def hf_config(self, spec: ArchSpec, base: dict, pad_id: int) -> dict:
        o = _options(spec)
        act = OUR_TO_HF_ACT[spec.act]
        proj = ("gated-gelu" if spec.act == "gelu_tanh" else f"gated-{act}") if o["gated"] else act
        out = dict(base)
        out.update(
            model_type="t5", vocab_size=spec.vocab_size, d_model=spec.hidden_size,
            d_kv=o["head_size"], d_ff=spec.ffn_size, num_layers=spec.layers,
            num_decoder_layers=spec.decoder_layers or spec.layers, num_heads=spec.heads,
            relative_attention_num_buckets=o["buckets"], relative_attention_max_distance=o["max_distance"],
            dropout_rate=spec.dropout, layer_norm_epsilon=spec.eps, feed_forward_proj=proj,
            is_encoder_decoder=True, pad_token_id=pad_id,
            # transformers 4 reads tie_word_embeddings as "tied and rescaled", 5 as "rescaled"
            tie_word_embeddings=o["scale"] and o["tied"], scale_decoder_outputs=o["scale"],
        )
        out.pop("dense_act_fn", None)
        out.pop("is_gated_act", None)
        out.setdefault("decoder_start_token_id", pad_id)
        out.setdefault("eos_token_id", 1)
        return out

    # ------------------------------------------------------------------ uer_ray side
    def our_config(self, spec: ArchSpec, targets: list[str], pad_id: int) -> dict:
        blocks = _blocks(spec)
        o = _options(spec)
        return {
            "embedding": ["word"], "encoder": "transformer", "decoder": "transformer",
            "targets": {name: 1.0 for name in targets}, "vocab_size": spec.vocab_size, "pad_id": pad_id,
            "emb_size": spec.hidden_size, "hidden_size": spec.hidden_size, "layers": spec.layers,
            "heads": spec.heads, "ffn_size": spec.ffn_size, "max_seq_length": spec.max_positions,
            "dropout": spec.dropout, "layernorm_eps": spec.eps,
            "embedding_options": {"layernorm": False, "dropout": spec.embedding_dropout},
            "encoder_options": {"transformer": {**blocks, "attention_dropout": spec.attention_dropout}},
            "decoder_options": {**blocks, "layers": spec.decoder_layers or spec.layers, "position": "none",
                                "embedding_layernorm": False, "share_embedding": True},
            "target_options": {name: {"bias": False, "tie_weights": o["tied"], "scale_output": o["scale"]}
                               for name in targets},
        }

    def owns(self, enc) -> bool:
        return enc.norm == "rmsnorm"

    def export_problems(self, config, emb, enc, tgt: dict) -> list[str]:
        problems = []
        if list(config.embedding) != ["word"] or emb.layernorm or emb.factorized_size or emb.scale_embedding:
            problems.append("the embedding must be the word table alone, without LayerNorm or scaling")
        dec = decoder_config(config)
        want = {"pre_ln": True, "norm": "rmsnorm", "bias": False, "attention_scale": False,
                "relative_position": True}
        for side, cfg in (("encoder", enc), ("decoder", dec)):
            wrong = [k for k, v in want.items() if getattr(cfg, k) != v]
            if wrong:
                problems.append(f"{side} options {', '.join(wrong)} differ from T5's "
                                "(pre_ln, rmsnorm, no bias, no attention scale, relative positions)")
        if enc.mask != "fully_visible":
            problems.append(f"attention mask {enc.mask!r} (T5's encoder is fully visible)")
        same = ("hidden_size", "heads", "ffn_size", "act", "feed_forward", "layernorm_eps",
                "relative_buckets", "relative_max_distance")
        differ = [k for k in same if getattr(enc, k) != getattr(dec, k)]
        if differ or (enc.head_size or enc.hidden_size // enc.heads) != (dec.head_size or dec.hidden_size // dec.heads):
            problems.append(f"encoder and decoder differ in {', '.join(differ) or 'head_size'} (T5 has one of each)")
        if dec.position != "none" or dec.embedding_layernorm or dec.scale_embedding or not dec.share_embedding:
            problems.append("the decoder must share the word table, without positions, LayerNorm or scaling")
        if enc.feed_forward == "gated" and enc.act == "gelu":
            problems.append("a gated feed-forward with exact gelu (T5's gated-gelu is gelu_tanh)")
        if len(config.targets) != 1 or next(iter(config.targets)) not in self.exportable:
            problems.append(f"targets {sorted(config.targets)} (exportable: one of {list(self.exportable)})")
        for name, c in tgt.items():
            if getattr(c, "bias", False):
                problems.append(f"target {name}: an output bias (T5 has none)")
        return problems

    def spec_from_ours(self, config, emb, enc) -> ArchSpec:
        dec = decoder_config(config)
        tgt = resolved_configs(config)[2][next(iter(config.targets))]
        return ArchSpec(
            "t5", config.vocab_size, enc.hidden_size, enc.layers, enc.heads, enc.ffn_size,
            emb.max_seq_length, 0, enc.layernorm_eps, enc.act, enc.dropout, enc.attention_dropout,
            emb.dropout, decoder_layers=dec.layers,
            options={"gated": enc.feed_forward == "gated", "buckets": enc.relative_buckets,
                     "max_distance": enc.relative_max_distance,
                     "head_size": enc.head_size or enc.hidden_size // enc.heads,
                     "tied": tgt.tie_weights, "scale": tgt.scale_output},
        )

    # ------------------------------------------------------------------ UER-py side
    uer_py = False  # UER-py's T5 checkpoints are not converted (yet)
    uer_modules: dict[str, str] = {}
    uer_keys: dict[str, str] = {}
    uer_segments = ()
    uer_tied = ()

    def owns_uer(self, cfg: dict) -> bool:
        return False

    def uer_tied_output(self, tensors: dict) -> str | None:
        return None
