"""BERT (``model_type: bert``): ``BertForPreTraining``, ``BertForMaskedLM``, ``BertModel`` and the
other ``BertFor*`` classes in, ``BertForPreTraining`` / ``BertForMaskedLM`` /
``BertForNextSentencePrediction`` out; uer_ray's ``bert-base`` preset (post-LN ``transformer``,
``[word, pos, seg]`` + LayerNorm, targets ``mlm`` / ``sp``); UER-py's BERT-shaped models.

Hugging Face names (after the ``bert.`` prefix) -> canonical (``base.py``)::

    embeddings.{word,position,token_type}_embeddings     emb.{word,pos,seg}
    embeddings.LayerNorm                                 emb.norm
    encoder.layer.i.attention.self.{query,key,value}     layer.i.attn.{q,k,v}
    encoder.layer.i.attention.output.{dense,LayerNorm}   layer.i.{attn.out,attn_norm}
    encoder.layer.i.{intermediate,output}.dense          layer.i.ff.{in,out}
    encoder.layer.i.output.LayerNorm                     layer.i.ff_norm
    cls.predictions.transform.{dense,LayerNorm}          mlm.{dense,norm}
    cls.predictions.bias                                 mlm.bias
    pooler.dense / cls.seq_relationship                  pooler / sp
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
from uer_ray.models.interop.ours import arch_spec, head_problems, layout_problems, preset_config

_LAYER = {  # HF name inside encoder.layer.{i}. -> canonical name inside layer.{i}.
    "attention.self.query": "attn.q", "attention.self.key": "attn.k",
    "attention.self.value": "attn.v", "attention.output.dense": "attn.out",
    "attention.output.LayerNorm": "attn_norm", "intermediate.dense": "ff.in",
    "output.dense": "ff.out", "output.LayerNorm": "ff_norm",
}
_TOP = {  # HF module (after the "bert." prefix is removed) -> canonical module
    "embeddings.word_embeddings": "emb.word", "embeddings.position_embeddings": "emb.pos",
    "embeddings.token_type_embeddings": "emb.seg", "embeddings.LayerNorm": "emb.norm",
    "pooler.dense": "pooler", "cls.predictions.transform.dense": "mlm.dense",
    "cls.predictions.transform.LayerNorm": "mlm.norm", "cls.seq_relationship": "sp",
}
_ARCHITECTURES = {  # exported targets -> Hugging Face class
    frozenset({"mlm", "sp"}): "BertForPreTraining", frozenset({"mlm"}): "BertForMaskedLM",
    frozenset({"sp"}): "BertForNextSentencePrediction",
}


def _old_names(key: str) -> str:
    # TF-converted BERT checkpoints name LayerNorm parameters gamma / beta.
    return re.sub(r"LayerNorm\.gamma$", "LayerNorm.weight", re.sub(r"LayerNorm\.beta$", "LayerNorm.bias", key))


@FAMILIES.register("bert")
class BertFamily(Family):
    display = "BERT"
    preset = "bert-base"
    encoder = "transformer"
    embedding = ("word", "pos", "seg")
    mask = "fully_visible"
    pre_ln = False
    embedding_layernorm = True
    targets = ("mlm", "sp")

    # ------------------------------------------------------------------ Hugging Face side
    hf_ignored = re.compile(r"(embeddings\.position_ids|embeddings\.token_type_ids"
                            r"|cls\.predictions\.decoder\.bias)$")
    hf_tied = ("cls.predictions.decoder.weight",)

    def check_supported(self, config: dict, cfg_file: str) -> None:
        pos = config.get("position_embedding_type", "absolute")
        if pos != "absolute":
            raise InputError(f"position_embedding_type {pos!r} is not supported (only 'absolute')", cfg_file)
        if config.get("is_decoder") or config.get("add_cross_attention"):
            raise InputError("BERT used as a decoder (is_decoder / add_cross_attention) is not supported", cfg_file)
        check_activation(config.get("hidden_act", "gelu"), cfg_file)

    def canonical_from_hf(self, key: str, value: torch.Tensor, out: dict[str, torch.Tensor]) -> bool:
        key = _old_names(key.removeprefix("bert."))
        m = re.fullmatch(r"encoder\.layer\.(\d+)\.(.+)\.(weight|bias)", key)
        module, _, leaf = key.rpartition(".")
        if key == "cls.predictions.bias":
            out["mlm.bias"] = value
        elif m and m.group(2) in _LAYER:
            out[f"layer.{m.group(1)}.{_LAYER[m.group(2)]}.{m.group(3)}"] = value
        elif module in _TOP:
            name = _TOP[module]
            # embedding tables are bare names in the canonical layout
            out[name if name.startswith("emb.") and name != "emb.norm" else f"{name}.{leaf}"] = value
        else:
            return False
        return True

    def hf_from_canonical(self, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The names of a ``BertFor*`` class: the encoder under ``bert.``, the heads under ``cls.``."""
        inv_top = {v: k for k, v in _TOP.items()}
        inv_layer = {v: k for k, v in _LAYER.items()}
        out = {}
        for name, value in tensors.items():
            m = re.fullmatch(r"layer\.(\d+)\.(.+)\.(weight|bias)", name)
            if name == "mlm.bias":
                key = "cls.predictions.bias"
            elif m:
                key = f"encoder.layer.{m.group(1)}.{inv_layer[m.group(2)]}.{m.group(3)}"
            elif name in inv_top:  # bare embedding tables
                key = f"{inv_top[name]}.weight"
            else:
                module, _, leaf = name.rpartition(".")
                key = f"{inv_top[module]}.{leaf}"
            out[key if key.startswith("cls.") else f"bert.{key}"] = value
        return out

    def hf_heads(self, tensors: dict, tied: dict, config: dict) -> set[str]:
        heads = {"mlm"} if "mlm.dense.weight" in tensors else set()
        return heads | ({"sp"} if "sp.weight" in tensors else set())

    def import_targets(self, heads: set[str]) -> list[str]:
        # MLM-only checkpoints stay MLM-only; anything else gets BERT's two pre-training heads.
        return ["mlm"] if heads == {"mlm"} else ["mlm", "sp"]

    def architecture(self, targets: list[str]) -> str:
        return _ARCHITECTURES[frozenset(targets)]

    def spec_from_hf(self, c: dict) -> ArchSpec:
        return ArchSpec(
            "bert", c["vocab_size"], c.get("hidden_size", 768), c.get("num_hidden_layers", 12),
            c.get("num_attention_heads", 12), c.get("intermediate_size", 3072),
            c.get("max_position_embeddings", 512), c.get("type_vocab_size", 2),
            c.get("layer_norm_eps", 1e-12), HF_TO_OUR_ACT[c.get("hidden_act", "gelu")],
            c.get("hidden_dropout_prob", 0.1), c.get("attention_probs_dropout_prob", 0.1),
            c.get("hidden_dropout_prob", 0.1),
        )

    def hf_config(self, spec: ArchSpec, base: dict, pad_id: int) -> dict:
        out = dict(base)
        out.update(
            model_type="bert", vocab_size=spec.vocab_size, hidden_size=spec.hidden_size,
            num_hidden_layers=spec.layers, num_attention_heads=spec.heads,
            intermediate_size=spec.ffn_size, max_position_embeddings=spec.max_positions,
            type_vocab_size=spec.type_vocab_size, layer_norm_eps=spec.eps,
            hidden_act=OUR_TO_HF_ACT[spec.act], hidden_dropout_prob=spec.dropout,
            attention_probs_dropout_prob=spec.attention_dropout,
            position_embedding_type="absolute", tie_word_embeddings=True,
        )
        out.setdefault("initializer_range", 0.02)
        out["pad_token_id"] = pad_id
        return out

    # ------------------------------------------------------------------ uer_ray side
    def our_config(self, spec: ArchSpec, targets: list[str], pad_id: int) -> dict:
        cfg = preset_config(self, spec, targets, pad_id)
        cfg["embedding_options"]["segment_vocab_size"] = spec.type_vocab_size + 1  # + padding row
        # BERT's MLM transform uses the encoder's activation and LayerNorm eps.
        cfg["target_options"] = {"mlm": {"act": spec.act, "tie_weights": True}} if "mlm" in targets else {}
        return cfg

    def owns(self, enc) -> bool:
        return not enc.pre_ln

    def export_problems(self, config, emb, enc, tgt: dict) -> list[str]:
        problems = layout_problems(self, config, emb, enc)
        if emb.layernorm and emb.layernorm_eps != enc.layernorm_eps:
            problems.append("embedding and encoder LayerNorm eps differ (BERT has one layer_norm_eps)")
        problems += head_problems(self, config, enc, tgt)
        # BERT's MLM transform shares the encoder's activation and eps; its NSP head is a 2-way
        # classifier of the first token
        mlm, sp = tgt.get("mlm"), tgt.get("sp")
        if mlm is not None and (mlm.act != enc.act or mlm.layernorm_eps != enc.layernorm_eps):
            problems.append("target mlm: activation / eps differ from the encoder's")
        if sp is not None and (sp.labels_num != 2 or sp.pooling != "first"):
            problems.append("target sp: BERT's NSP head has 2 labels and first-token pooling")
        return problems

    def spec_from_ours(self, config, emb, enc) -> ArchSpec:
        return arch_spec(self, config, emb, enc, emb.segment_vocab_size - 1)  # less the padding row

    # ------------------------------------------------------------------ UER-py side
    uer_modules = {  # current names, then the 2019 ones
        "embedding.layer_norm": "emb.norm",
        "target.mlm.linear_1": "mlm.dense", "target.mlm_linear_1": "mlm.dense",
        "target.mlm.layer_norm": "mlm.norm", "target.layer_norm": "mlm.norm",
        "target.sp.linear_1": "pooler", "target.sp_linear_1": "pooler", "target.nsp_linear_1": "pooler",
        "target.sp.linear_2": "sp", "target.sp_linear_2": "sp", "target.nsp_linear_2": "sp",
    }
    uer_keys = {"target.mlm.linear_2.bias": "mlm.bias", "target.mlm_linear_2.bias": "mlm.bias"}
    uer_segments = ("embedding.seg.embedding.weight", "embedding.segment_embedding.weight")
    uer_tied = ("target.mlm.linear_2.weight", "target.mlm_linear_2.weight")

    def owns_uer(self, cfg: dict) -> bool:
        return cfg.get("layernorm_positioning", "post") != "pre"

    def uer_tied_output(self, tensors: dict) -> str | None:
        return self.uer_tied[0] if "mlm.bias" in tensors else None
