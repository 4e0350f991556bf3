"""Hugging Face checkpoint folders for BERT and GPT-2, read and written without `transformers`.

A Hugging Face folder is ``config.json`` plus ``model.safetensors`` or ``pytorch_model.bin``
(either possibly sharded behind an ``*.index.json``). Its weights are renamed into a neutral
*canonical* layout (below) that ``hf_interop`` maps onto uer_ray parameter names; writing runs
backwards and gives a folder that ``BertForPreTraining`` / ``BertForMaskedLM`` /
``GPT2LMHeadModel.from_pretrained`` load. Nothing is unpickled without ``weights_only=True``.

Canonical layout (Linear weights are ``(out, in)`` as in ``nn.Linear``)::

    emb.word (V,H)  emb.pos (P,H)  emb.seg (S,H)  emb.norm.{weight,bias}
    layer.{i}.attn.{q,k,v,out}.{weight,bias}   layer.{i}.attn_norm.{weight,bias}
    layer.{i}.ff.{in,out}.{weight,bias}        layer.{i}.ff_norm.{weight,bias}
    final_norm.{weight,bias}                   (GPT-2: after the last layer)
    mlm.dense.{weight,bias}  mlm.norm.{weight,bias}  mlm.bias  pooler.{weight,bias}  sp.{weight,bias}

``attn_norm`` / ``ff_norm`` are the LayerNorms of the attention and feed-forward sub-layers: after
the residual sum in BERT (post-LN), before the sub-layer in GPT-2 (pre-LN).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from uer_ray.errors import InputError, MismatchError

# Files a Hugging Face tokenizer may consist of; copied verbatim so that export restores them.
HF_TOKENIZER_FILES = (
    "vocab.txt", "vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json",
    "special_tokens_map.json", "added_tokens.json", "spiece.model", "sentencepiece.bpe.model",
)

# Hugging Face activation names -> uer_ray activation names. "gelu" is the exact erf GELU;
# gelu_new / gelu_fast / gelu_pytorch_tanh are the same tanh approximation written three ways.
HF_TO_OUR_ACT = {
    "gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_fast": "gelu_tanh",
    "gelu_pytorch_tanh": "gelu_tanh", "relu": "relu", "silu": "silu", "swish": "silu",
}
OUR_TO_HF_ACT = {"gelu": "gelu", "gelu_tanh": "gelu_new", "relu": "relu", "silu": "silu"}

_BERT_LAYER = {  # HF name inside encoder.layer.{i}. -> canonical name inside layer.{i}.
    "attention.self.query": "attn.q", "attention.self.key": "attn.k",
    "attention.self.value": "attn.v", "attention.output.dense": "attn.out",
    "attention.output.LayerNorm": "attn_norm", "intermediate.dense": "ff.in",
    "output.dense": "ff.out", "output.LayerNorm": "ff_norm",
}
_BERT_TOP = {  # HF module (after the "bert." prefix is removed) -> canonical module
    "embeddings.word_embeddings": "emb.word", "embeddings.position_embeddings": "emb.pos",
    "embeddings.token_type_embeddings": "emb.seg", "embeddings.LayerNorm": "emb.norm",
    "pooler.dense": "pooler", "cls.predictions.transform.dense": "mlm.dense",
    "cls.predictions.transform.LayerNorm": "mlm.norm", "cls.seq_relationship": "sp",
}
_GPT2_LAYER = {"ln_1": "attn_norm", "ln_2": "ff_norm"}
_GPT2_CONV = {"attn.c_proj": "attn.out", "mlp.c_fc": "ff.in", "mlp.c_proj": "ff.out"}
_GPT2_TOP = {"wte": "emb.word", "wpe": "emb.pos", "ln_f": "final_norm"}

# Keys that are buffers or copies of tied weights, never parameters of their own.
_IGNORED = re.compile(
    r"(embeddings\.position_ids|embeddings\.token_type_ids|h\.\d+\.attn\.(bias|masked_bias)"
    r"|cls\.predictions\.decoder\.bias)$"
)
_TIED = ("cls.predictions.decoder.weight", "lm_head.weight")


@dataclass
class HFCheckpoint:
    """A Hugging Face BERT or GPT-2 checkpoint in canonical names.

    ``family`` is ``"bert"`` or ``"gpt2"``; ``heads`` names the pre-training heads present
    (``mlm``, ``sp`` for BERT, ``lm`` for GPT-2); ``dropped`` lists (key, why) of weights
    that have no uer_ray counterpart."""

    family: str
    architecture: str
    config: dict
    tensors: dict[str, torch.Tensor]
    heads: set[str]
    dropped: list[tuple[str, str]] = field(default_factory=list)


# --------------------------------------------------------------------------- reading


def read_hf_config(path: Path) -> dict:
    """``config.json`` of a Hugging Face folder; an ``InputError`` naming the file when absent."""
    cfg_path = Path(path) / "config.json"
    if not cfg_path.is_file():
        raise InputError("no config.json: not a Hugging Face model folder", str(path))
    try:
        return json.loads(cfg_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON: {e}", str(cfg_path), e.lineno) from e


def read_hf_weights(path: Path) -> dict[str, torch.Tensor]:
    """All tensors of a Hugging Face folder: safetensors first, then ``pytorch_model.bin``
    (``weights_only=True``); sharded checkpoints are followed through their index file."""
    from safetensors.torch import load_file

    path = Path(path)
    loaders = (
        ("model.safetensors", load_file),
        ("pytorch_model.bin", lambda p: torch.load(p, map_location="cpu", weights_only=True)),
    )
    for name, load in loaders:
        if (path / name).is_file():
            return dict(load(str(path / name)))
        index = path / f"{name}.index.json"
        if index.is_file():
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            tensors: dict[str, torch.Tensor] = {}
            for shard in shards:
                if not (path / shard).is_file():
                    raise InputError(f"shard {shard} listed in {index.name} is missing", str(path))
                tensors.update(load(str(path / shard)))
            return tensors
    raise InputError(
        "no weights found (expected model.safetensors or pytorch_model.bin, possibly sharded)",
        str(path),
    )


def _old_names(key: str) -> str:
    # TF-converted BERT checkpoints name LayerNorm parameters gamma / beta.
    return re.sub(r"LayerNorm\.gamma$", "LayerNorm.weight", re.sub(r"LayerNorm\.beta$", "LayerNorm.bias", key))


def _bert_canonical(key: str) -> str | None:
    key = _old_names(key.removeprefix("bert."))
    if key == "cls.predictions.bias":
        return "mlm.bias"
    m = re.fullmatch(r"encoder\.layer\.(\d+)\.(.+)\.(weight|bias)", key)
    if m and m.group(2) in _BERT_LAYER:
        return f"layer.{m.group(1)}.{_BERT_LAYER[m.group(2)]}.{m.group(3)}"
    module, _, leaf = key.rpartition(".")
    if module in _BERT_TOP:
        name = _BERT_TOP[module]
        return name if name.startswith("emb.") and name != "emb.norm" else f"{name}.{leaf}"
    return None


def _gpt2_canonical(key: str, value: torch.Tensor, out: dict[str, torch.Tensor]) -> bool:
    """Put one GPT-2 tensor into ``out`` in canonical names; False when the key is unknown.
    GPT-2 stores Conv1D weights as ``(in, out)``: they are transposed into Linear layout, and
    the fused ``c_attn`` projection is split into query, key and value."""
    key = key.removeprefix("transformer.")
    module, _, leaf = key.rpartition(".")
    if module in _GPT2_TOP:
        out[_GPT2_TOP[module] + ("" if module in ("wte", "wpe") else f".{leaf}")] = value
        return True
    m = re.fullmatch(r"h\.(\d+)\.(.+)", module)
    if not m:
        return False
    i, sub = m.groups()
    w = value.t() if leaf == "weight" and value.dim() == 2 else value
    if sub in _GPT2_LAYER:
        out[f"layer.{i}.{_GPT2_LAYER[sub]}.{leaf}"] = value
    elif sub in _GPT2_CONV:
        out[f"layer.{i}.{_GPT2_CONV[sub]}.{leaf}"] = w.contiguous()
    elif sub == "attn.c_attn":
        for part, t in zip("qkv", w.chunk(3, dim=0), strict=True):
            out[f"layer.{i}.attn.{part}.{leaf}"] = t.contiguous()
    else:
        return False
    return True


def _family(config: dict, path: Path) -> str:
    kind = config.get("model_type")
    if kind in ("bert", "gpt2"):
        return kind
    archs = ", ".join(config.get("architectures") or []) or "none listed"
    raise InputError(
        f"model_type {kind!r} (architectures: {archs}) is not supported; "
        "convert imports BERT (model_type 'bert') and GPT-2 (model_type 'gpt2') checkpoints",
        str(path / "config.json"),
    )


def _check_supported(family: str, config: dict, path: Path) -> None:
    """Refuse configuration options whose maths uer_ray's transformer does not implement."""
    cfg_file = str(path / "config.json")
    if family == "bert":
        act = config.get("hidden_act", "gelu")
        pos = config.get("position_embedding_type", "absolute")
        if pos != "absolute":
            raise InputError(f"position_embedding_type {pos!r} is not supported (only 'absolute')", cfg_file)
        if config.get("is_decoder") or config.get("add_cross_attention"):
            raise InputError("BERT used as a decoder (is_decoder / add_cross_attention) is not supported", cfg_file)
    else:
        act = config.get("activation_function", "gelu_new")
        for opt in ("scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn", "add_cross_attention"):
            if config.get(opt):
                raise InputError(f"GPT-2 option {opt}=true is not supported", cfg_file)
        if config.get("scale_attn_weights", True) is False:
            raise InputError("GPT-2 option scale_attn_weights=false is not supported", cfg_file)
    if act not in HF_TO_OUR_ACT:
        raise InputError(f"activation {act!r} is not supported (known: {', '.join(HF_TO_OUR_ACT)})", cfg_file)


def read_hf_checkpoint(path: str | Path) -> HFCheckpoint:
    """Read a Hugging Face BERT / GPT-2 folder into canonical names.

    Buffers (position ids, causal-mask biases) are skipped; tied output weights are checked to
    equal the word embedding (uer_ray ties them too) and otherwise refused; weights outside the
    encoder and the pre-training heads (e.g. a classifier) are listed in ``dropped``."""
    path = Path(path)
    config = read_hf_config(path)
    family = _family(config, path)
    _check_supported(family, config, path)
    raw = read_hf_weights(path)
    tensors: dict[str, torch.Tensor] = {}
    tied: dict[str, torch.Tensor] = {}
    dropped: list[tuple[str, str]] = []
    for key, value in raw.items():
        if _IGNORED.search(key):
            continue
        if key in _TIED:
            tied[key] = value
            continue
        if family == "bert":
            name = _bert_canonical(key)
            if name is not None:
                tensors[name] = value
                continue
        elif _gpt2_canonical(key, value, tensors):
            continue
        dropped.append((key, "not part of the encoder or a pre-training head uer_ray has"))
    if "emb.word" not in tensors:
        raise InputError("no word-embedding weight found: not a BERT / GPT-2 checkpoint", str(path))
    for key, value in tied.items():
        if value.shape != tensors["emb.word"].shape or not torch.equal(value, tensors["emb.word"]):
            raise MismatchError(
                f"{path}: {key} differs from the word embedding (an untied output layer); "
                "uer_ray ties the output projection to the word embedding and cannot import it"
            )
    heads = {"mlm"} if "mlm.dense.weight" in tensors else set()
    heads |= {"sp"} if "sp.weight" in tensors else set()
    if family == "gpt2" and ("lm_head.weight" in tied or _is_lm_head(config)):
        heads = {"lm"}
    arch = (config.get("architectures") or ["unknown"])[0]
    return HFCheckpoint(family, arch, config, tensors, heads, dropped)


def _is_lm_head(config: dict) -> bool:
    # Current transformers omit the tied lm_head.weight from the file: the architecture says it.
    return any(a.endswith(("LMHeadModel", "CausalLM")) for a in config.get("architectures") or [])


# --------------------------------------------------------------------------- writing


def hf_state_dict(ckpt: HFCheckpoint) -> dict[str, torch.Tensor]:
    """Canonical tensors -> Hugging Face names of a BertFor* / GPT2LMHeadModel class (the
    ``bert.`` / ``transformer.`` prefix; heads under ``cls.``). Tied output weights are left out,
    as ``save_pretrained`` does; ``from_pretrained`` ties them again."""
    if ckpt.family == "bert":
        return {k: v.contiguous() for k, v in _bert_hf_names(ckpt.tensors).items()}
    return {k: v.contiguous() for k, v in _gpt2_hf_names(ckpt.tensors).items()}


def _bert_hf_names(t: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    inv_top = {v: k for k, v in _BERT_TOP.items()}
    inv_layer = {v: k for k, v in _BERT_LAYER.items()}
    out = {}
    for name, value in t.items():
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


def _gpt2_hf_names(t: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Back to Conv1D layout ``(in, out)``, with query, key and value fused into ``c_attn``."""
    inv_top = {v: k for k, v in _GPT2_TOP.items()}
    inv_layer = {v: k for k, v in {**_GPT2_LAYER, **_GPT2_CONV}.items()}
    out = {}
    for name, value in t.items():
        if name in ("emb.word", "emb.pos"):
            out[f"transformer.{inv_top[name]}.weight"] = value
            continue
        if name.startswith("final_norm."):
            out[f"transformer.ln_f.{name.rpartition('.')[2]}"] = value
            continue
        i, sub, leaf = re.fullmatch(r"layer\.(\d+)\.(.+)\.(weight|bias)", name).groups()
        if sub in ("attn.q", "attn.k", "attn.v"):
            continue  # fused below
        conv = sub in _GPT2_CONV.values() and leaf == "weight"
        out[f"transformer.h.{i}.{inv_layer[sub]}.{leaf}"] = value.t() if conv else value
    for i in range(_num_layers(t)):
        for leaf in ("weight", "bias"):
            fused = torch.cat([t[f"layer.{i}.attn.{p}.{leaf}"] for p in "qkv"], dim=0)
            out[f"transformer.h.{i}.attn.c_attn.{leaf}"] = fused.t() if leaf == "weight" else fused
    return out


def _num_layers(tensors: dict[str, torch.Tensor]) -> int:
    ids = {int(m.group(1)) for k in tensors if (m := re.match(r"layer\.(\d+)\.", k))}
    return max(ids) + 1 if ids else 0


# --------------------------------------------------------------------------- configs


@dataclass(frozen=True)
class ArchSpec:
    """The sizes and options a BERT / GPT-2 checkpoint is defined by, in neutral names."""

    family: str
    vocab_size: int
    hidden_size: int
    layers: int
    heads: int
    ffn_size: int
    max_positions: int
    type_vocab_size: int  # BERT token types (0 for GPT-2, which has none)
    eps: float
    act: str  # uer_ray activation name
    dropout: float
    attention_dropout: float
    embedding_dropout: float


def spec_from_hf(family: str, c: dict) -> ArchSpec:
    """Read an ``ArchSpec`` from a Hugging Face ``config.json`` dict (HF defaults fill gaps)."""
    if family == "bert":
        return ArchSpec(
            "bert", c["vocab_size"], c.get("hidden_size", 768), c.get("num_hidden_layers", 12),
            c.get("num_attention_heads", 12), c.get("intermediate_size", 3072),
            c.get("max_position_embeddings", 512), c.get("type_vocab_size", 2),
            c.get("layer_norm_eps", 1e-12), HF_TO_OUR_ACT[c.get("hidden_act", "gelu")],
            c.get("hidden_dropout_prob", 0.1), c.get("attention_probs_dropout_prob", 0.1),
            c.get("hidden_dropout_prob", 0.1),
        )
    n_embd = c.get("n_embd", 768)
    return ArchSpec(
        "gpt2", c["vocab_size"], n_embd, c.get("n_layer", 12), c.get("n_head", 12),
        c.get("n_inner") or 4 * n_embd, c.get("n_positions", 1024), 0,
        c.get("layer_norm_epsilon", 1e-5), HF_TO_OUR_ACT[c.get("activation_function", "gelu_new")],
        c.get("resid_pdrop", 0.1), c.get("attn_pdrop", 0.1), c.get("embd_pdrop", 0.1),
    )


def hf_config_from_spec(spec: ArchSpec, architecture: str, base: dict | None = None) -> dict:
    """A Hugging Face ``config.json`` dict for ``spec``. ``base`` (the config the model was
    imported from, if any) keeps fields uer_ray has no notion of, such as special-token ids."""
    out = {k: v for k, v in (base or {}).items() if k not in ("architectures", "transformers_version")}
    if spec.family == "bert":
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
        out.setdefault("pad_token_id", 0)
    else:
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
    return {"architectures": [architecture], **out}
