"""GPT-2 (``model_type: gpt2``): ``GPT2LMHeadModel`` and ``GPT2Model`` in, ``GPT2LMHeadModel``
out; uer_ray's ``gpt2-small`` preset (pre-LN causal ``gpt`` encoder, ``[word, pos]`` without a
LayerNorm, a final LayerNorm, target ``lm`` tied without bias); UER-py's pre-LN models.

Hugging Face names (after the optional ``transformer.`` prefix) -> canonical (``base.py``)::

    wte / wpe / ln_f                 emb.word / emb.pos / final_norm
    h.i.ln_1 / h.i.ln_2              layer.i.attn_norm / layer.i.ff_norm
    h.i.attn.c_attn  (H,3H)          layer.i.attn.{q,k,v}   (split, transposed)
    h.i.attn.c_proj                  layer.i.attn.out       (transposed)
    h.i.mlp.c_fc / h.i.mlp.c_proj    layer.i.ff.in / ff.out (transposed)

GPT-2 stores its projections as ``Conv1D`` with ``(in, out)`` weights, hence the transposes.
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
    num_layers,
)
from uer_ray.models.interop.ours import arch_spec, head_problems, layout_problems, preset_config

_LAYER = {"ln_1": "attn_norm", "ln_2": "ff_norm"}
_CONV = {"attn.c_proj": "attn.out", "mlp.c_fc": "ff.in", "mlp.c_proj": "ff.out"}
_TOP = {"wte": "emb.word", "wpe": "emb.pos", "ln_f": "final_norm"}


def _is_lm_head(config: dict) -> bool:
    # Current transformers omit the tied lm_head.weight from the file: the architecture says it.
    return any(a.endswith(("LMHeadModel", "CausalLM")) for a in config.get("architectures") or [])


@FAMILIES.register("gpt2")
class Gpt2Family(Family):
    display = "GPT-2"
    preset = "gpt2-small"
    encoder = "gpt"
    embedding = ("word", "pos")
    mask = "causal"
    pre_ln = True
    embedding_layernorm = False
    targets = ("lm",)

    # ------------------------------------------------------------------ Hugging Face side
    hf_ignored = re.compile(r"h\.\d+\.attn\.(bias|masked_bias)$")  # the causal-mask buffers
    hf_tied = ("lm_head.weight",)

    def check_supported(self, config: dict, cfg_file: str) -> None:
        for opt in ("scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn", "add_cross_attention"):
            if config.get(opt):
                raise InputError(f"GPT-2 option {opt}=true is not supported", cfg_file)
        if config.get("scale_attn_weights", True) is False:
            raise InputError("GPT-2 option scale_attn_weights=false is not supported", cfg_file)
        check_activation(config.get("activation_function", "gelu_new"), cfg_file)

    def canonical_from_hf(self, key: str, value: torch.Tensor, out: dict[str, torch.Tensor]) -> bool:
        """Conv1D weights are transposed into Linear layout, and the fused ``c_attn``
        projection is split into query, key and value."""
        key = key.removeprefix("transformer.")
        module, _, leaf = key.rpartition(".")
        if module in _TOP:
            out[_TOP[module] + ("" if module in ("wte", "wpe") else f".{leaf}")] = value
            return True
        m = re.fullmatch(r"h\.(\d+)\.(.+)", module)
        if not m:
            return False
        i, sub = m.groups()
        w = value.t() if leaf == "weight" and value.dim() == 2 else value
        if sub in _LAYER:
            out[f"layer.{i}.{_LAYER[sub]}.{leaf}"] = value
        elif sub in _CONV:
            out[f"layer.{i}.{_CONV[sub]}.{leaf}"] = w.contiguous()
        elif sub == "attn.c_attn":
            for part, t in zip("qkv", w.chunk(3, dim=0), strict=True):
                out[f"layer.{i}.attn.{part}.{leaf}"] = t.contiguous()
        else:
            return False
        return True

    def hf_from_canonical(self, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Back to Conv1D layout ``(in, out)`` under ``transformer.``, with query, key and value
        fused into ``c_attn``."""
        inv_top = {v: k for k, v in _TOP.items()}
        inv_layer = {v: k for k, v in {**_LAYER, **_CONV}.items()}
        out = {}
        for name, value in tensors.items():
            if name in ("emb.word", "emb.pos"):
                out[f"transformer.{inv_top[name]}.weight"] = value
                continue
            if name.startswith("final_norm."):
                out[f"transformer.ln_f.{name.rpartition('.')[2]}"] = value
                continue
            i, sub, leaf = re.fullmatch(r"layer\.(\d+)\.(.+)\.(weight|bias)", name).groups()
            if sub in ("attn.q", "attn.k", "attn.v"):
                continue  # fused below
            conv = sub in _CONV.values() and leaf == "weight"
            out[f"transformer.h.{i}.{inv_layer[sub]}.{leaf}"] = value.t() if conv else value
        for i in range(num_layers(tensors)):
            for leaf in ("weight", "bias"):
                fused = torch.cat([tensors[f"layer.{i}.attn.{p}.{leaf}"] for p in "qkv"], dim=0)
                out[f"transformer.h.{i}.attn.c_attn.{leaf}"] = fused.t() if leaf == "weight" else fused
        return out

    def hf_heads(self, tensors: dict, tied: dict, config: dict) -> set[str]:
        return {"lm"} if "lm_head.weight" in tied or _is_lm_head(config) else set()

    def import_targets(self, heads: set[str]) -> list[str]:
        return ["lm"]  # tied to the word table: a GPT2Model gives the full LM too

    def architecture(self, targets: list[str]) -> str:
        return "GPT2LMHeadModel"

    def spec_from_hf(self, c: dict) -> ArchSpec:
        n_embd = c.get("n_embd", 768)
        return ArchSpec(
            "gpt2", c["vocab_size"], n_embd, c.get("n_layer", 12), c.get("n_head", 12),
            c.get("n_inner") or 4 * n_embd, c.get("n_positions", 1024), 0,
            c.get("layer_norm_epsilon", 1e-5), HF_TO_OUR_ACT[c.get("activation_function", "gelu_new")],
            c.get("resid_pdrop", 0.1), c.get("attn_pdrop", 0.1), c.get("embd_pdrop", 0.1),
        )

    def hf_config(self, spec: ArchSpec, base: dict, pad_id: int) -> dict:
        """``pad_id`` is not written: GPT-2 has no padding token (a base's pad_token_id stays)."""
        out = dict(base)
        out.update(
            model_type="gpt2", vocab_size=spec.vocab_size, n_embd=spec.hidden_size,
            n_layer=spec.layers, n_head=spec.heads, n_inner=spec.ffn_size,
            n_positions=spec.max_positions, layer_norm_epsilon=spec.eps,
            activation_function=OUR_TO_HF_ACT[spec.act], resid_pdrop=spec.dropout,
            attn_pdrop=spec.attention_dropout, embd_pdrop=spec.embedding_dropout,
            scale_attn_weights=True, tie_word_embeddings=True,
        )
        out.setdefault("initializer_range", 0.02)
        # GPT-2's config defaults bos/eos to 50256, outside a small vocabulary: say "none".
        for k in ("bos_token_id", "eos_token_id"):
            out.setdefault(k, None)
        return out

    # ------------------------------------------------------------------ uer_ray side
    def our_config(self, spec: ArchSpec, targets: list[str], pad_id: int) -> dict:
        cfg = preset_config(self, spec, targets, pad_id)
        cfg["target_options"] = {"lm": {"tie_weights": True, "bias": False}} if "lm" in targets else {}
        return cfg

    def owns(self, enc) -> bool:
        return enc.pre_ln

    def export_problems(self, config, emb, enc, tgt: dict) -> list[str]:
        return layout_problems(self, config, emb, enc) + head_problems(self, config, enc, tgt)

    def spec_from_ours(self, config, emb, enc) -> ArchSpec:
        return arch_spec(self, config, emb, enc, 0)  # no token types

    # ------------------------------------------------------------------ UER-py side
    uer_modules = {"encoder.layer_norm": "final_norm"}
    uer_keys: dict[str, str] = {}
    uer_segments = ()
    uer_tied = ("target.lm.output_layer.weight",)

    def owns_uer(self, cfg: dict) -> bool:
        return cfg.get("layernorm_positioning", "post") == "pre"

    def uer_tied_output(self, tensors: dict) -> str | None:
        return self.uer_tied[0]  # the LM output is always the tied word embedding
