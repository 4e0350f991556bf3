"""UER-py checkpoints: the ``.bin`` state dict that UER-py's ``pretrain.py`` saves (UER-py's
parameter names) plus its model-config JSON (``models/bert/tiny_config.json`` style), imported into
a uer_ray checkpoint directory and written back. The weights are read with
``torch.load(weights_only=True)``, never unrestricted pickle.

UER-py names are mapped onto the canonical layout of ``base.py`` (and from there onto uer_ray
names by ``ours.py``). The transformer's own names are shared by every family; each family adds
the modules only it has (``Family.uer_modules``: BERT's embedding LayerNorm and heads, GPT-2's
final LayerNorm). UER-py builds every model from the same named modules, and the weights are read
before the config says which family they are, so the families' names are merged::

    embedding.word.embedding.weight                  emb.word      (2019 releases: embedding.word_embedding.weight)
    embedding.pos.embedding.weight                   emb.pos       (embedding.position_embedding.weight)
    embedding.seg.embedding.weight (3,H)             embedding.seg.weight as is: UER-py segments are 0 pad, 1, 2 like ours
    embedding.layer_norm.{gamma,beta}                emb.norm.{weight,bias}
    encoder.transformer.i.self_attn.linear_layers.{0,1,2}   layer.i.attn.{q,k,v}
    encoder.transformer.i.self_attn.final_linear     layer.i.attn.out
    encoder.transformer.i.layer_norm_{1,2}           layer.i.{attn_norm,ff_norm}
    encoder.transformer.i.feed_forward.linear_{1,2}  layer.i.ff.{in,out}
    encoder.layer_norm                               final_norm    (pre-LN models: GPT-2)
    target.mlm.linear_1 / target.mlm.layer_norm      mlm.dense / mlm.norm   (target.mlm_linear_1 / target.layer_norm)
    target.mlm.linear_2.bias                         mlm.bias; its weight is the tied word embedding
    target.sp.linear_1 / target.sp.linear_2          pooler / sp   (target.nsp_linear_{1,2}, target.sp_linear_{1,2})
    target.lm.output_layer.weight                    the tied word embedding (GPT-2)

The UER-py config's ``layernorm_positioning`` picks the family (``Family.owns_uer``).

UER-py's LayerNorm divides by the unbiased standard deviation plus eps (1e-6); uer_ray's (like
Hugging Face's, and like UER-py's own Hugging Face conversion assumes) divides by
sqrt(biased variance + eps). Imported models therefore differ from UER-py's outputs by about
1/(2H) relative in each normalised value; they are exact in the other direction (a model written
by ``export_uer`` and imported again gives the same logits)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from uer_ray.atomic import atomic_dir, write_json
from uer_ray.errors import InputError, MismatchError
from uer_ray.models.builder import build_model
from uer_ray.models.checkpoint import load_model, save_pretrained
from uer_ray.models.interop.base import REPORT, ArchSpec, ConversionReport, Family, families, family
from uer_ray.models.interop.ours import canonical_from_ours, ours_from_canonical, spec_from_ours

_MODULES = {  # UER-py module (current and 2019 names) -> canonical module, for every family
    "embedding.word.embedding": "emb.word", "embedding.word_embedding": "emb.word",
    "embedding.pos.embedding": "emb.pos", "embedding.position_embedding": "emb.pos",
}
_LAYER = {"self_attn.linear_layers.0": "attn.q", "self_attn.linear_layers.1": "attn.k",
          "self_attn.linear_layers.2": "attn.v", "self_attn.final_linear": "attn.out",
          "layer_norm_1": "attn_norm", "layer_norm_2": "ff_norm",
          "feed_forward.linear_1": "ff.in", "feed_forward.linear_2": "ff.out"}
_ACT = {"gelu": "gelu", "gelu_fast": "gelu_tanh", "relu": "relu", "silu": "silu"}
_UNSUPPORTED = {  # option -> value that uer_ray's transformer does not implement
    "remove_transformer_bias": True, "remove_attention_scale": True, "layernorm": "t5",
    "feed_forward": "gated", "relative_position_embedding": True, "parameter_sharing": True,
    "factorized_embedding_parameterization": True, "has_lmtarget_bias": True,
}


def _leaf(name: str) -> str:
    return {"gamma": "weight", "beta": "bias"}.get(name, name)


def _uer_names() -> tuple[dict[str, str], dict[str, str]]:
    """(UER-py module -> canonical module, whole UER-py key -> canonical name) of every family."""
    modules, keys = dict(_MODULES), {}
    for f in families():
        modules.update(f.uer_modules)
        keys.update(f.uer_keys)
    return modules, keys


def _tied_keys() -> tuple[str, ...]:
    return tuple(k for f in families() for k in f.uer_tied)


def _segment_keys() -> tuple[str, ...]:
    return tuple(k for f in families() for k in f.uer_segments)


def canonical_from_uer(state: dict[str, torch.Tensor]) -> tuple[dict, dict, list[tuple[str, str]]]:
    """(canonical tensors, tied / segment tensors by UER-py name, [(key, why)] dropped)."""
    modules, keys = _uer_names()
    side_keys = set(_segment_keys() + _tied_keys())
    out, side, dropped = {}, {}, []
    for key, value in state.items():
        module, _, leaf = key.rpartition(".")
        m = re.fullmatch(r"encoder\.transformer\.(\d+)\.(.+)", module)
        if key in side_keys:
            side[key] = value
        elif key in keys:
            out[keys[key]] = value
        elif module in modules:
            base = modules[module]
            out[base if base in ("emb.word", "emb.pos") else f"{base}.{_leaf(leaf)}"] = value
        elif m and m.group(2) in _LAYER:
            out[f"layer.{m.group(1)}.{_LAYER[m.group(2)]}.{_leaf(leaf)}"] = value
        else:
            dropped.append((key, "not part of the encoder or a pre-training head uer_ray has"))
    return out, side, dropped


def uer_from_canonical(fam: Family, t: dict[str, torch.Tensor],
                       seg: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """Canonical tensors -> UER-py names (current release), the tied output weight included
    as UER-py stores it."""
    inv_top, inv_keys = {}, {}
    for uer, canon in {**_MODULES, **fam.uer_modules}.items():
        inv_top.setdefault(canon, uer)  # the first listed is the current name
    for uer, canon in fam.uer_keys.items():
        inv_keys.setdefault(canon, uer)
    inv_layer = {v: k for k, v in _LAYER.items()}
    out = {}
    for name, value in t.items():
        m = re.fullmatch(r"layer\.(\d+)\.(.+)\.(weight|bias)", name)
        if name in inv_keys:
            out[inv_keys[name]] = value
            continue
        if m:
            module, leaf = f"encoder.transformer.{m.group(1)}.{inv_layer[m.group(2)]}", m.group(3)
        elif name in ("emb.word", "emb.pos"):
            module, leaf = inv_top[name], "weight"
        elif name != "emb.seg":  # the segment table is passed as UER-py has it
            base, _, leaf = name.rpartition(".")
            module = inv_top[base]
        else:
            continue
        norm = module.endswith(("layer_norm", "layer_norm_1", "layer_norm_2"))
        out[f"{module}.{({'weight': 'gamma', 'bias': 'beta'}[leaf] if norm else leaf)}"] = value
    if seg is not None:
        out[fam.uer_segments[0]] = seg
    tied = fam.uer_tied_output(t)
    if tied is not None:
        out[tied] = t["emb.word"]
    return out


def read_uer_config(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("UER-py model config not found", str(path)) from None
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON: {e.msg}", str(path), e.lineno) from None


def _uer_family(cfg: dict, where: str) -> Family:
    fam = next((f for f in families() if f.uer_py and f.owns_uer(cfg)), None)
    if fam is None:
        raise InputError("no interop family takes this UER-py config", where)
    return fam


def _layout_problems(fam: Family, cfg: dict) -> list[str]:
    """How a UER-py config differs from the family's layout (the messages name the LayerNorm
    position, which is what UER-py users set)."""
    bad, ln = [], "pre" if fam.pre_ln else "post"
    want = (list(fam.embedding), fam.mask)
    if cfg.get("encoder", "transformer") != "transformer":
        bad.append(f"encoder={cfg.get('encoder')} (only transformer is imported)")
    if list(cfg.get("embedding", want[0])) != want[0] or cfg.get("mask", want[1]) != want[1]:
        bad.append(f"embedding {cfg.get('embedding')} with mask {cfg.get('mask')} (a "
                   f"{ln}-LN model has {want[0]} and {want[1]})")
    removed = not fam.embedding_layernorm
    if cfg.get("remove_embedding_layernorm", False) != removed:
        bad.append(f"remove_embedding_layernorm must be {'true' if removed else 'false'} for {ln}-LN")
    return bad


def spec_from_uer(cfg: dict, vocab_size: int, where: str) -> tuple[ArchSpec, list[str]]:
    """(ArchSpec, targets) of a UER-py config; options uer_ray cannot reproduce are refused."""
    bad = [f"{k}={v}" for k, v in _UNSUPPORTED.items() if cfg.get(k) == v]
    fam = _uer_family(cfg, where)
    bad += _layout_problems(fam, cfg)
    act = cfg.get("hidden_act", "gelu")
    if act not in _ACT:
        bad.append(f"hidden_act={act}")
    targets = [t for t in cfg.get("target", list(fam.targets))]
    allowed = set(fam.targets)
    if not targets or set(targets) - allowed:
        bad.append(f"target {targets} (a {fam.name.upper()}-shaped model has {sorted(allowed)})")
    if bad:
        raise InputError("UER-py options uer_ray cannot reproduce: " + "; ".join(bad), where)
    hidden, dropout = cfg.get("hidden_size", 768), cfg.get("dropout", 0.1)
    types = 2 if "seg" in fam.embedding else 0  # UER-py's segment table: 0 padding, 1, 2
    spec = ArchSpec(fam.name, vocab_size, hidden, cfg.get("layers_num", 12), cfg.get("heads_num", 12),
                    cfg.get("feedforward_size", 4 * hidden), cfg.get("max_seq_length", 512),
                    types, 1e-6, _ACT[act], dropout, dropout, dropout)
    if cfg.get("emb_size", hidden) != hidden:
        raise InputError(f"emb_size {cfg.get('emb_size')} differs from hidden_size {hidden} "
                         "(a factorised embedding is not imported)", where)
    return spec, targets


def _tokenizer(vocab, spm_model, kind: str):
    from uer_ray.tokenizers import build_tokenizer

    if spm_model is not None:
        return build_tokenizer("sentencepiece", spm_model=spm_model)
    if vocab is not None:
        return build_tokenizer(kind, vocab=vocab)
    return None


def _read_weights(bin_path: Path) -> tuple[dict, dict, list[tuple[str, str]]]:
    """``canonical_from_uer`` of the ``.bin``, its tied copies checked against the word table."""
    if not bin_path.is_file():
        raise InputError("UER-py weights file not found", str(bin_path))
    try:
        state = torch.load(bin_path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
        raise InputError(f"not a UER-py weights file ({type(e).__name__}: {str(e).splitlines()[0][:160]})",
                         str(bin_path)) from None
    canonical, side, dropped = canonical_from_uer(state)
    if "emb.word" not in canonical:
        raise InputError("no embedding.word.embedding.weight: not a UER-py checkpoint", str(bin_path))
    for key in (k for k in _tied_keys() if k in side):
        if not torch.equal(side[key], canonical["emb.word"]):
            raise MismatchError(f"{bin_path}: {key} differs from the word embedding (tie_weights off); "
                                "uer_ray ties the output layer and cannot import it")
    return canonical, side, dropped


def import_uer(bin_path: str | Path, config_path: str | Path, out: str | Path, *, vocab=None,
               spm_model=None, tokenizer: str = "wordpiece") -> ConversionReport:
    """UER-py ``.bin`` + config JSON (+ vocabulary) -> uer_ray checkpoint directory (atomic)."""
    bin_path, out = Path(bin_path), Path(out)
    canonical, side, dropped = _read_weights(bin_path)
    spec, targets = spec_from_uer(read_uer_config(Path(config_path)), canonical["emb.word"].shape[0],
                                  str(config_path))
    tok = _tokenizer(vocab, spm_model, tokenizer)
    if tok is not None and tok.vocab_size != spec.vocab_size:
        raise MismatchError(f"the vocabulary has {tok.vocab_size} entries but the weights have "
                            f"{spec.vocab_size} word embeddings")
    model = build_model(family(spec.family).our_config(spec, targets, tok.pad_id if tok is not None else 0))
    mapped, unused = ours_from_canonical(canonical)
    seg = next((side[k] for k in _segment_keys() if k in side), None)
    if seg is not None:
        mapped["embedding.seg.weight"] = seg
    own = model.state_dict()
    shapes = [f"{k}: {tuple(v.shape)} vs {tuple(own[k].shape)}" for k, v in mapped.items()
              if k in own and v.shape != own[k].shape]
    if shapes:
        raise MismatchError(f"{bin_path}: weights do not match {config_path}: {'; '.join(shapes[:4])}")
    model.load_state_dict({**own, **{k: v for k, v in mapped.items() if k in own}})
    report = ConversionReport("uer->ours", spec.family, "UER-py " + "+".join(targets), str(bin_path),
                              str(out), mapped=len([k for k in mapped if k in own]), total=len(own),
                              fresh=sorted(set(own) - set(mapped)),
                              dropped=[[k, why] for k, why in dropped] + [[k, "no head for it"] for k in unused])
    if tok is None:
        report.notes.append("No --vocab / --spm-model given: the checkpoint has no tokenizer.")
    meta = {"converted_from": {"format": "uer-py", "source": str(bin_path.resolve()),
                               "config": str(Path(config_path).resolve())}}
    with atomic_dir(out) as tmp:
        save_pretrained(model, tmp, tokenizer=tok, meta=meta)
        write_json(tmp / REPORT, report.to_dict())
    return report


def uer_config(fam: Family, spec: ArchSpec, targets: list[str]) -> dict:
    """The UER-py model config JSON of an exported model."""
    cfg = {"emb_size": spec.hidden_size, "feedforward_size": spec.ffn_size, "hidden_size": spec.hidden_size,
           "hidden_act": {v: k for k, v in _ACT.items()}[spec.act], "heads_num": spec.heads,
           "layers_num": spec.layers, "max_seq_length": spec.max_positions, "dropout": spec.dropout,
           "embedding": list(fam.embedding), "encoder": "transformer", "mask": fam.mask,
           "target": list(targets), "tie_weights": True}
    if not fam.embedding_layernorm:
        cfg["remove_embedding_layernorm"] = True
    if fam.pre_ln:
        cfg["layernorm_positioning"] = "pre"
    return cfg


def export_uer(src: str | Path, bin_path: str | Path, config_path: str | Path) -> dict:
    """uer_ray checkpoint of a registered family -> UER-py ``.bin`` + config JSON; returns the config."""
    model = load_model(src)
    spec, _ = spec_from_ours(model.config)
    fam = family(spec.family)
    if not fam.uer_py:
        raise MismatchError(f"a {fam.display} model cannot be written as a UER-py checkpoint (UER-py "
                            f"conversion covers {' / '.join(f.display for f in families() if f.uer_py)})")
    state = model.state_dict()
    tensors = uer_from_canonical(fam, canonical_from_ours(state), state.get("embedding.seg.weight"))
    cfg = uer_config(fam, spec, list(model.config.targets))
    torch.save({k: v.detach().clone().contiguous() for k, v in tensors.items()}, bin_path)
    write_json(config_path, cfg)
    return cfg
