"""Hugging Face interop (DESIGN §4): import BERT (``BertForPreTraining``, ``BertForMaskedLM``,
``BertModel``) and GPT-2 (``GPT2LMHeadModel``, ``GPT2Model``) checkpoints into uer_ray checkpoint
directories, and export them back. An imported model gives the same logits as the original.

``hf_format`` reads and writes the Hugging Face side in canonical names; this module maps the
canonical names onto uer_ray parameters (table below, ``docs/interop.md``) and builds the config from
the Hugging Face one (``bert-base`` / ``gpt2-small`` presets with the checkpoint's sizes).

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

import dataclasses
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import save_file

from uer_ray.atomic import atomic_dir, write_json
from uer_ray.config import ConfigError
from uer_ray.errors import InputError, MismatchError, UerRayError
from uer_ray.models.builder import build_model, component_config
from uer_ray.models.checkpoint import META, load_model, save_pretrained
from uer_ray.models.config import ModelConfig
from uer_ray.models.hf_format import (
    HF_TOKENIZER_FILES,
    ArchSpec,
    HFCheckpoint,
    hf_config_from_spec,
    hf_state_dict,
    read_hf_checkpoint,
    spec_from_hf,
)
from uer_ray.models.presets import load_preset

HF_TOKENIZER_DIR = "hf_tokenizer"  # the source's tokenizer files, kept verbatim for export
REPORT = "convert.json"
_FAMILY = {"bert": "BERT", "gpt2": "GPT-2"}

_EMB = {"emb.word": "embedding.word.weight", "emb.pos": "embedding.pos.weight",
        "emb.norm.weight": "embedding.norm.weight", "emb.norm.bias": "embedding.norm.bias",
        "final_norm.weight": "encoder.final_norm.weight", "final_norm.bias": "encoder.final_norm.bias"}
_LAYER = {"attn.out": "attn.out", "attn_norm": "attn_norm", "ff.in": "ffn.inner",
          "ff.out": "ffn.outer", "ff_norm": "ffn_norm"}
_HEADS = {"mlm.dense": "targets.mlm.dense", "mlm.norm": "targets.mlm.norm",
          "pooler": "targets.sp.pooler", "sp": "targets.sp.output"}


@dataclass
class ConversionReport:
    """What a conversion did: written to ``convert.json`` and summarised for the CLI."""

    direction: str
    """``hf->ours``, ``uer->ours`` or ``ours->hf``"""
    family: str
    architecture: str
    """the Hugging Face class read (import) or written (export)"""
    source: str
    output: str
    mapped: int = 0
    """tensors copied (import: uer_ray tensors filled; export: Hugging Face tensors written)"""
    total: int = 0
    """tensors of the written model"""
    fresh: list[str] = field(default_factory=list)
    """uer_ray parameters the source has no weights for (freshly initialised)"""
    dropped: list[list[str]] = field(default_factory=list)
    """[source key, why] of weights with no counterpart"""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def summary(self) -> str:
        """One paragraph: what was converted, what is new, what was left behind."""
        if self.direction == "hf->ours":
            text = [f"Imported the Hugging Face {_FAMILY[self.family]} checkpoint {self.source} "
                    f"({self.architecture}) into the uer_ray checkpoint {self.output}: {self.mapped} "
                    f"of the model's {self.total} tensors come from it."]
        elif self.direction == "uer->ours":
            text = [f"Imported the UER-py {_FAMILY[self.family]}-shaped checkpoint {self.source} "
                    f"into the uer_ray checkpoint {self.output}: {self.mapped} of the model's "
                    f"{self.total} tensors come from it."]
        else:
            text = [f"Exported the uer_ray checkpoint {self.source} as a Hugging Face "
                    f"{self.architecture} in {self.output}: {self.mapped} tensors written."]
        if self.fresh:
            names = sorted({k.removesuffix(".weight").removesuffix(".bias") for k in self.fresh})
            text.append(f"A {self.architecture} has no weights for {', '.join(names)}: they are freshly "
                        "initialised and need training before their outputs mean anything.")
        if self.dropped:
            text.append(f"Dropped {len(self.dropped)} source tensors: "
                        + "; ".join(f"{k} ({why})" for k, why in self.dropped[:6])
                        + (" ..." if len(self.dropped) > 6 else "") + ".")
        text += self.notes
        return " ".join(text)


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
    """uer_ray state dict of a BERT- or GPT-2-shaped model -> canonical tensors (inverse of
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


def our_config(spec: ArchSpec, targets: list[str], pad_id: int) -> dict:
    """The uer_ray config of a Hugging Face architecture: the ``bert-base`` / ``gpt2-small``
    preset with every size and option taken from the checkpoint."""
    preset, encoder = ("bert-base", "transformer") if spec.family == "bert" else ("gpt2-small", "gpt")
    cfg = load_preset(preset)
    cfg.update(
        vocab_size=spec.vocab_size, pad_id=pad_id, emb_size=spec.hidden_size,
        hidden_size=spec.hidden_size, layers=spec.layers, heads=spec.heads, ffn_size=spec.ffn_size,
        max_seq_length=spec.max_positions, dropout=spec.dropout, layernorm_eps=spec.eps,
        targets={name: 1.0 for name in targets},
    )
    cfg["embedding_options"] = {**cfg.get("embedding_options", {}), "dropout": spec.embedding_dropout}
    if spec.family == "bert":
        cfg["embedding_options"]["segment_vocab_size"] = spec.type_vocab_size + 1  # + padding row
    cfg["encoder_options"] = {encoder: {"act": spec.act, "attention_dropout": spec.attention_dropout}}
    # BERT's MLM transform uses the encoder's activation and LayerNorm eps.
    cfg["target_options"] = {"mlm": {"act": spec.act, "tie_weights": True}} if "mlm" in targets else {}
    if "lm" in targets:
        cfg["target_options"] = {"lm": {"tie_weights": True, "bias": False}}
    return cfg


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
    way in which it is not a BERT (post-LN, [word, pos, seg] + LayerNorm, mlm/sp) or a GPT-2
    (pre-LN causal, [word, pos], tied lm without bias)."""
    problems: list[str] = []
    if len(config.encoder_names) != 1 or config.encoder_names[0] not in ("transformer", "gpt"):
        raise MismatchError(f"encoder {config.encoder!r} has no Hugging Face BERT / GPT-2 equivalent "
                            "(only a single 'transformer' or 'gpt' encoder does)")
    emb, enc, tgt = _resolved(config)
    family = "gpt2" if enc.pre_ln else "bert"
    if family == "bert":
        want_emb, want_mask, allowed = {"word", "pos", "seg"}, "fully_visible", {"mlm", "sp"}
    else:
        want_emb, want_mask, allowed = {"word", "pos"}, "causal", {"lm"}
    if set(config.embedding) != want_emb:
        problems.append(f"embedding {config.embedding} (a {family.upper()} has {sorted(want_emb)})")
    if enc.mask != want_mask:
        problems.append(f"attention mask {enc.mask!r} (a {family.upper()} has {want_mask!r})")
    if emb.layernorm != (family == "bert") or emb.factorized_size or emb.emb_size != enc.hidden_size:
        problems.append("embedding LayerNorm / factorisation / emb_size differ from the "
                        f"{family.upper()} layout")
    if family == "bert" and emb.layernorm and emb.layernorm_eps != enc.layernorm_eps:
        problems.append("embedding and encoder LayerNorm eps differ (BERT has one layer_norm_eps)")
    if set(config.targets) - allowed:
        problems.append(f"targets {sorted(set(config.targets) - allowed)} (exportable: {sorted(allowed)})")
    for name, c in tgt.items():
        if not getattr(c, "tie_weights", True) or getattr(c, "bias", False):
            problems.append(f"target {name}: output layer untied or with bias")
        if name == "mlm" and (c.act != enc.act or c.layernorm_eps != enc.layernorm_eps):
            problems.append("target mlm: activation / eps differ from the encoder's")
        if name == "sp" and (c.labels_num != 2 or c.pooling != "first"):
            problems.append("target sp: BERT's NSP head has 2 labels and first-token pooling")
    if problems:
        raise MismatchError("this model cannot be written as a Hugging Face "
                            f"{family.upper()}: " + "; ".join(problems))
    spec = ArchSpec(family, config.vocab_size, enc.hidden_size, enc.layers, enc.heads, enc.ffn_size,
                    emb.max_seq_length, emb.segment_vocab_size - 1 if family == "bert" else 0,
                    enc.layernorm_eps, enc.act, enc.dropout, enc.attention_dropout, emb.dropout)
    if family == "gpt2":
        return spec, "GPT2LMHeadModel"
    arch = {frozenset({"mlm", "sp"}): "BertForPreTraining", frozenset({"mlm"}): "BertForMaskedLM",
            frozenset({"sp"}): "BertForNextSentencePrediction"}
    return spec, arch[frozenset(config.targets)]


# --------------------------------------------------------------------------- conversions


def _choose_targets(ckpt: HFCheckpoint) -> list[str]:
    if ckpt.family == "gpt2":
        return ["lm"]  # tied to the word table: a GPT2Model gives the full LM too
    # MLM-only checkpoints stay MLM-only; anything else gets BERT's two pre-training heads.
    return ["mlm"] if ckpt.heads == {"mlm"} else ["mlm", "sp"]


def _hf_tokenizer(src: Path, vocab_size: int, notes: list[str]):
    """(uer_ray tokenizer or None, tokenizer files of ``src`` to keep). A ``vocab.txt`` (BERT,
    and GPT-2 models that use ``BertTokenizer``, such as the Chinese GPT-2 of UER-py) becomes the
    ``wordpiece`` tokenizer (same ids), a SentencePiece ``.model`` the ``sentencepiece`` one, so
    that ``load_model`` attaches it and ``finetune --init`` works."""
    files = [f for f in HF_TOKENIZER_FILES if (src / f).is_file()]
    if not files:
        notes.append("The source has no tokenizer files; give the training commands its vocabulary.")
        return None, files
    spm = [f for f in files if f.endswith(".model")]
    if "vocab.txt" not in files and not spm:
        notes.append(f"Tokenizer files ({', '.join(files)}) are kept in {HF_TOKENIZER_DIR}/ for export; "
                     "uer_ray has no byte-level BPE tokenizer, so the model has none attached.")
        return None, files
    from uer_ray.tokenizers import build_tokenizer

    kind, name = ("wordpiece", "vocab.txt") if "vocab.txt" in files else ("sentencepiece", spm[0])
    settings = src / "tokenizer_config.json"
    lower = json.loads(settings.read_text()).get("do_lower_case") if settings.is_file() else None
    try:
        tok = build_tokenizer(kind, vocab=src / name, spm_model=src / name, lowercase=lower)
        tok.special_ids  # noqa: B018  (raises when [PAD] [UNK] [CLS] [SEP] [MASK] are missing)
        if tok.vocab_size > vocab_size:
            raise MismatchError(f"{tok.vocab_size} entries for {vocab_size} word embeddings")
    except UerRayError as e:
        notes.append(f"{name} was kept in {HF_TOKENIZER_DIR}/ but is not a uer_ray tokenizer: {e}")
        return None, files
    notes.append(f"{name} became the {kind} tokenizer (lowercase={tok.lowercase}); "
                 f"the original tokenizer files are kept in {HF_TOKENIZER_DIR}/.")
    return tok, files


def _copy_files(src: Path, names: list[str], dst: Path) -> None:
    if names:
        dst.mkdir(exist_ok=True)
        for name in names:
            shutil.copy2(src / name, dst / name)


def import_hf(src: str | Path, out: str | Path) -> ConversionReport:
    """Hugging Face BERT / GPT-2 folder ``src`` -> uer_ray checkpoint directory ``out`` (atomic)."""
    src, out = Path(src), Path(out)
    ckpt = read_hf_checkpoint(src)
    spec = spec_from_hf(ckpt.family, ckpt.config)
    targets = _choose_targets(ckpt)
    try:
        model = build_model(our_config(spec, targets, ckpt.config.get("pad_token_id") or 0))
    except (ConfigError, ValueError) as e:
        raise InputError(f"config.json describes a model uer_ray cannot build: {e}", str(src)) from e
    mapped, unused = ours_from_canonical(ckpt.tensors)
    state = model.state_dict()
    shapes = [f"{k}: checkpoint {tuple(v.shape)} vs config {tuple(state[k].shape)}"
              for k, v in mapped.items() if k in state and v.shape != state[k].shape]
    if shapes:
        raise MismatchError(f"{src}: weights do not match config.json: {'; '.join(shapes[:5])}")
    unknown = sorted(set(mapped) - set(state))
    if unknown:
        raise MismatchError(f"{src}: no uer_ray parameter for {', '.join(unknown[:5])}")
    model.load_state_dict({**state, **mapped})
    dtypes = sorted({str(v.dtype).removeprefix("torch.") for v in ckpt.tensors.values()})
    report = ConversionReport(
        "hf->ours", ckpt.family, ckpt.architecture, str(src), str(out), mapped=len(mapped), total=len(state),
        fresh=sorted(set(state) - set(mapped)),
        dropped=[[k, why] for k, why in ckpt.dropped]
        + [[k, f"the converted model has targets {targets} only"] for k in unused],
    )
    if dtypes != ["float32"]:
        report.notes.append(f"Weights were {'/'.join(dtypes)} and are stored as float32.")
    meta = {"converted_from": {"format": "huggingface", "source": str(src.resolve()),
                               "architecture": ckpt.architecture, "hf_config": ckpt.config}}
    tok, tok_files = _hf_tokenizer(src, spec.vocab_size, report.notes)
    with atomic_dir(out) as tmp:
        save_pretrained(model, tmp, tokenizer=tok, meta=meta)  # replaces the (empty) tmp folder
        _copy_files(src, tok_files, tmp / HF_TOKENIZER_DIR)
        write_json(tmp / REPORT, report.to_dict())
    return report


def _export_tokenizer(src: Path, model, dst: Path, notes: list[str]) -> None:
    """Tokenizer files for the Hugging Face folder: the imported originals when present, else
    a BERT ``vocab.txt`` + ``tokenizer_config.json`` from a uer_ray wordpiece tokenizer."""
    kept = src / HF_TOKENIZER_DIR
    if kept.is_dir():
        _copy_files(kept, sorted(p.name for p in kept.iterdir() if p.is_file()), dst)
        notes.append(f"The original tokenizer files from {HF_TOKENIZER_DIR}/ were restored.")
        return
    tok = getattr(model, "tokenizer", None)
    if tok is None or tok.kind != "wordpiece":
        kind = "no tokenizer" if tok is None else f"a {tok.kind} tokenizer"
        notes.append(f"The checkpoint has {kind}; no Hugging Face tokenizer files were written.")
        return
    with tempfile.TemporaryDirectory() as tmp:
        tok.save(Path(tmp) / "tok")
        shutil.copy2(Path(tmp) / "tok" / tok.file_name, dst / "vocab.txt")
    write_json(dst / "tokenizer_config.json", {"tokenizer_class": "BertTokenizer",
                                               "do_lower_case": bool(tok.lowercase)})
    notes.append("The wordpiece vocabulary was written as vocab.txt for BertTokenizer.")


def export_hf(src: str | Path, out: str | Path) -> ConversionReport:
    """uer_ray checkpoint directory ``src`` -> Hugging Face folder ``out`` (atomic):
    ``config.json`` + ``model.safetensors`` (+ tokenizer files) that ``from_pretrained`` loads."""
    src, out = Path(src), Path(out)
    model = load_model(src)
    spec, arch = spec_from_ours(model.config)
    canonical = canonical_from_ours(model.state_dict())
    ckpt = HFCheckpoint(spec.family, arch, {}, canonical, set(model.config.targets))
    tensors = {k: v.detach().float().contiguous().clone() for k, v in hf_state_dict(ckpt).items()}
    base = None
    if (src / META).is_file():
        origin = json.loads((src / META).read_text()).get("converted_from") or {}
        if (origin.get("hf_config") or {}).get("model_type") == spec.family:
            base = origin["hf_config"]
    config = hf_config_from_spec(spec, arch, base)
    if spec.family == "bert":
        config["pad_token_id"] = model.config.pad_id
    report = ConversionReport("ours->hf", spec.family, arch, str(src), str(out), mapped=len(tensors),
                              total=len(tensors))
    with atomic_dir(out) as tmp:
        write_json(tmp / "config.json", config)
        save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        _export_tokenizer(src, model, tmp, report.notes)
        write_json(tmp / REPORT, report.to_dict())
    return report
