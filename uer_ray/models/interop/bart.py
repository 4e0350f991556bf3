"""BART (``model_type: bart``): ``BartForConditionalGeneration`` and ``BartModel`` in,
``BartForConditionalGeneration`` out; uer_ray's ``bart-base`` preset (post-LN ``transformer``
encoder and decoder, learned positions and a LayerNorm on both embeddings, one word table for the
encoder, the decoder and the output, an output bias; target ``bart``).

Hugging Face names (after the optional ``model.`` prefix) -> canonical (``base.py``)::

    shared                                           emb.word (= decoder input = tied output)
    encoder.embed_positions  (P+2, H)                emb.pos  (P, H): BART's first 2 rows are an
                                                     offset no position uses; export writes zeros
    encoder.layernorm_embedding                      emb.norm
    encoder.layers.i.self_attn.{q,k,v,out}_proj      layer.i.attn.{q,k,v,out}
    encoder.layers.i.self_attn_layer_norm            layer.i.attn_norm
    encoder.layers.i.fc1 / fc2 / final_layer_norm    layer.i.ff.in / ff.out / ff_norm
    decoder.embed_positions / layernorm_embedding    dec.emb.pos / dec.emb.norm
    decoder.layers.i.self_attn* / encoder_attn*      dec.layer.i.attn* / cross*
    decoder.layers.i.fc1 / fc2 / final_layer_norm    dec.layer.i.ff.in / ff.out / ff_norm
    final_logits_bias (1, V)                         lm_bias

BART's LayerNorms use eps 1e-5 (not in its config).
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
from uer_ray.models.interop.ours import decoder_config

OFFSET = 2  # BartLearnedPositionalEmbedding looks up position p at row p + 2
EPS = 1e-5
_LAYER = {"self_attn.q_proj": "attn.q", "self_attn.k_proj": "attn.k", "self_attn.v_proj": "attn.v",
          "self_attn.out_proj": "attn.out", "self_attn_layer_norm": "attn_norm",
          "encoder_attn.q_proj": "cross.q", "encoder_attn.k_proj": "cross.k",
          "encoder_attn.v_proj": "cross.v", "encoder_attn.out_proj": "cross.out",
          "encoder_attn_layer_norm": "cross_norm", "fc1": "ff.in", "fc2": "ff.out",
          "final_layer_norm": "ff_norm"}
_STACK = {"encoder": "", "decoder": "dec."}


@FAMILIES.register("bart")
class BartFamily(Family):
    display = "BART"
    preset = "bart-base"
    encoder = "transformer"
    embedding = ("word", "pos")
    mask = "fully_visible"
    pre_ln = False
    embedding_layernorm = True
    targets = ("bart",)
    seq2seq = True
    exportable = ("bart", "t5", "gsg")
    """targets whose decoder writes the source vocabulary: any one of them exports"""

    # ------------------------------------------------------------------ Hugging Face side
    hf_ignored = re.compile(r"(encoder|decoder)\.version$")
    hf_tied = ("model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight",
               "encoder.embed_tokens.weight", "decoder.embed_tokens.weight", "lm_head.weight")

    def check_supported(self, config: dict, cfg_file: str) -> None:
        if config.get("normalize_before") or config.get("add_final_layer_norm"):
            raise InputError("BART options normalize_before / add_final_layer_norm (mBART) are not supported",
                             cfg_file)
        if config.get("normalize_embedding") is False:
            raise InputError("BART option normalize_embedding=false is not supported", cfg_file)
        for a, b in (("encoder_attention_heads", "decoder_attention_heads"),
                     ("encoder_ffn_dim", "decoder_ffn_dim")):
            if config.get(a, 16 if "heads" in a else 4096) != config.get(b, 16 if "heads" in b else 4096):
                raise InputError(f"{a} and {b} differ; uer_ray's BART has one of each", cfg_file)
        check_activation(config.get("activation_function", "gelu"), cfg_file)

    def canonical_from_hf(self, key: str, value: torch.Tensor, out: dict[str, torch.Tensor]) -> bool:
        key = key.removeprefix("model.")
        if key == "shared.weight":
            out["emb.word"] = value
        elif key == "final_logits_bias":
            out["lm_bias"] = value.reshape(-1)
        elif m := re.fullmatch(r"(encoder|decoder)\.embed_positions\.weight", key):
            out[f"{_STACK[m.group(1)]}emb.pos"] = value[OFFSET:]
        elif m := re.fullmatch(r"(encoder|decoder)\.layernorm_embedding\.(weight|bias)", key):
            out[f"{_STACK[m.group(1)]}emb.norm.{m.group(2)}"] = value
        elif m := re.fullmatch(r"(encoder|decoder)\.layers\.(\d+)\.(.+)\.(weight|bias)", key):
            stack, i, sub, leaf = m.groups()
            if sub not in _LAYER or (stack == "encoder" and sub.startswith("encoder_attn")):
                return False
            out[f"{_STACK[stack]}layer.{i}.{_LAYER[sub]}.{leaf}"] = value
        else:
            return False
        return True

    def hf_from_canonical(self, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        inv = {v: k for k, v in _LAYER.items()}
        out = {}
        for name, value in tensors.items():
            stack = "decoder" if name.startswith("dec.") else "encoder"
            bare = name.removeprefix("dec.")
            if name == "emb.word":
                out["model.shared.weight"] = value
            elif name == "lm_bias":
                out["final_logits_bias"] = value.reshape(1, -1)
            elif bare == "emb.pos":
                pad = value.new_zeros(OFFSET, value.shape[1])
                out[f"model.{stack}.embed_positions.weight"] = torch.cat([pad, value])
            elif bare.startswith("emb.norm."):
                out[f"model.{stack}.layernorm_embedding.{bare.rpartition('.')[2]}"] = value
            else:
                i, sub, leaf = re.fullmatch(r"layer\.(\d+)\.(.+)\.(weight|bias)", bare).groups()
                out[f"model.{stack}.layers.{i}.{inv[sub]}.{leaf}"] = value
        if "final_logits_bias" not in out:  # a model trained without an output bias
            out["final_logits_bias"] = tensors["emb.word"].new_zeros(1, tensors["emb.word"].shape[0])
        return out

    def hf_heads(self, tensors: dict, tied: dict, config: dict) -> set[str]:
        return {"bart"}

    def import_targets(self, heads: set[str]) -> list[str]:
        return ["bart"]

    def architecture(self, targets: list[str]) -> str:
        return "BartForConditionalGeneration"

    def spec_from_hf(self, c: dict) -> ArchSpec:
        layers = c.get("encoder_layers", 12)
        return ArchSpec(
            "bart", c["vocab_size"], c.get("d_model", 1024), layers, c.get("encoder_attention_heads", 16),
            c.get("encoder_ffn_dim", 4096), c.get("max_position_embeddings", 1024), 0, EPS,
            HF_TO_OUR_ACT[c.get("activation_function", "gelu")], c.get("dropout", 0.1),
            c.get("attention_dropout", 0.0), c.get("dropout", 0.1),
            decoder_layers=c.get("decoder_layers", layers),
            options={"scale_embedding": bool(c.get("scale_embedding", False))},
        )

    def hf_config(self, spec: ArchSpec, base: dict, pad_id: int) -> dict:
        out = dict(base)
        out.update(
            model_type="bart", vocab_size=spec.vocab_size, d_model=spec.hidden_size,
            encoder_layers=spec.layers, decoder_layers=spec.decoder_layers or spec.layers,
            encoder_attention_heads=spec.heads, decoder_attention_heads=spec.heads,
            encoder_ffn_dim=spec.ffn_size, decoder_ffn_dim=spec.ffn_size,
            max_position_embeddings=spec.max_positions, activation_function=OUR_TO_HF_ACT[spec.act],
            dropout=spec.dropout, attention_dropout=spec.attention_dropout,
            scale_embedding=bool(spec.options.get("scale_embedding", False)),
            is_encoder_decoder=True, tie_word_embeddings=True, pad_token_id=pad_id,
        )
        out.setdefault("activation_dropout", 0.0)
        out.setdefault("init_std", 0.02)
        return out

    # ------------------------------------------------------------------ uer_ray side
    def our_config(self, spec: ArchSpec, targets: list[str], pad_id: int) -> dict:
        scale = bool(spec.options.get("scale_embedding", False))
        return {
            "embedding": ["word", "pos"], "encoder": "transformer", "decoder": "transformer",
            "targets": {name: 1.0 for name in targets}, "vocab_size": spec.vocab_size, "pad_id": pad_id,
            "emb_size": spec.hidden_size, "hidden_size": spec.hidden_size, "layers": spec.layers,
            "heads": spec.heads, "ffn_size": spec.ffn_size, "max_seq_length": spec.max_positions,
            "dropout": spec.dropout, "layernorm_eps": EPS,
            "embedding_options": {"scale_embedding": scale, "dropout": spec.embedding_dropout},
            "encoder_options": {"transformer": {"act": spec.act, "attention_dropout": spec.attention_dropout}},
            "decoder_options": {"act": spec.act, "layers": spec.decoder_layers or spec.layers,
                                "share_embedding": True, "scale_embedding": scale},
            "target_options": {name: {"tie_weights": True, "bias": True} for name in targets},
        }

    def owns(self, enc) -> bool:
        return enc.norm == "layernorm" and not enc.pre_ln

    def export_problems(self, config, emb, enc, tgt: dict) -> list[str]:
        problems = []
        if list(config.embedding) != ["word", "pos"] or not emb.layernorm or emb.factorized_size \
                or emb.emb_size != enc.hidden_size:
            problems.append("the embedding must be word + pos with a LayerNorm, unfactorised")
        dec = decoder_config(config)
        want = {"pre_ln": False, "norm": "layernorm", "bias": True, "attention_scale": True,
                "relative_position": False, "feed_forward": "dense", "head_size": None}
        for side, cfg in (("encoder", enc), ("decoder", dec)):
            wrong = [k for k, v in want.items() if getattr(cfg, k) != v]
            if wrong:
                problems.append(f"{side} options {', '.join(wrong)} differ from BART's")
            if cfg.layernorm_eps != EPS:
                problems.append(f"{side} LayerNorm eps {cfg.layernorm_eps} (BART's is {EPS})")
        if enc.mask != "fully_visible":
            problems.append(f"attention mask {enc.mask!r} (BART's encoder is fully visible)")
        differ = [k for k in ("hidden_size", "heads", "ffn_size", "act") if getattr(enc, k) != getattr(dec, k)]
        if differ:
            problems.append(f"encoder and decoder differ in {', '.join(differ)}")
        if dec.position != "pos" or not dec.embedding_layernorm or not dec.share_embedding \
                or dec.scale_embedding != emb.scale_embedding or dec.max_seq_length != emb.max_seq_length:
            problems.append("the decoder must share the word table, with learned positions, a LayerNorm "
                            "and the encoder's scaling")
        if emb.layernorm_eps != EPS:
            problems.append(f"embedding LayerNorm eps {emb.layernorm_eps} (BART's is {EPS})")
        if len(config.targets) != 1 or next(iter(config.targets)) not in self.exportable:
            problems.append(f"targets {sorted(config.targets)} (exportable: one of {list(self.exportable)})")
        for name, c in tgt.items():
            if not getattr(c, "tie_weights", True) or getattr(c, "scale_output", False):
                problems.append(f"target {name}: output untied or rescaled (BART's is the word table)")
        return problems

    def spec_from_ours(self, config, emb, enc) -> ArchSpec:
        dec = decoder_config(config)
        return ArchSpec(
            "bart", config.vocab_size, enc.hidden_size, enc.layers, enc.heads, enc.ffn_size,
            emb.max_seq_length, 0, enc.layernorm_eps, enc.act, enc.dropout, enc.attention_dropout,
            emb.dropout, decoder_layers=dec.layers, options={"scale_embedding": emb.scale_embedding},
        )

    # ------------------------------------------------------------------ UER-py side
    uer_py = False  # UER-py's BART checkpoints are not converted (yet)
    uer_modules: dict[str, str] = {}
    uer_keys: dict[str, str] = {}
    uer_segments = ()
    uer_tied = ()

    def owns_uer(self, cfg: dict) -> bool:
        return False

    def uer_tied_output(self, tensors: dict) -> str | None:
        return None
