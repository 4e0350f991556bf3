"""Hugging Face checkpoint folders, read and written without ``transformers`` (DESIGN §4):
``import_hf`` turns one into a uer_ray checkpoint directory, ``export_hf`` writes one back. An
imported model gives the same logits as the original.

A Hugging Face folder is ``config.json`` plus ``model.safetensors`` or ``pytorch_model.bin``
(either possibly sharded behind an ``*.index.json``). Its ``model_type`` picks the family
(``FAMILIES``), which renames the weights into the canonical layout (``base.py``) that ``ours.py``
maps onto uer_ray parameters; writing runs backwards and gives a folder that the family's
``from_pretrained`` loads. Nothing is unpickled without ``weights_only=True``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import save_file

from uer_ray.atomic import atomic_dir, write_json
from uer_ray.config import ConfigError
from uer_ray.errors import InputError, MismatchError, OptionsError, UerRayError
from uer_ray.models.builder import build_model
from uer_ray.models.checkpoint import META, load_model, save_pretrained
from uer_ray.models.interop.base import (
    FAMILIES,
    REPORT,
    ArchSpec,
    ConversionReport,
    Family,
    families,
    family,
    family_names,
)
from uer_ray.models.interop.hf_heads import (
    MARKER,
    attach_head,
    encoder_state,
    export_head,
    plan_import,
    supported,
)
from uer_ray.models.interop.ours import (
    canonical_from_ours,
    ours_from_canonical,
    seq2seq_target,
    spec_from_ours,
)

# Files a Hugging Face tokenizer may consist of; copied verbatim so that export restores them.
HF_TOKENIZER_FILES = (
    "vocab.txt", "vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json",
    "special_tokens_map.json", "added_tokens.json", "spiece.model", "sentencepiece.bpe.model",
)
HF_TOKENIZER_DIR = "hf_tokenizer"  # the source's tokenizer files, kept verbatim for export


@dataclass
class HFCheckpoint:
    """A Hugging Face checkpoint in canonical names.

    ``family`` is the registered family name (the ``model_type``); ``heads`` names the
    pre-training heads present (``mlm``, ``sp`` for BERT, ``lm`` for GPT-2); ``dropped`` lists
    (key, why) of weights that have no uer_ray counterpart."""

    family: str
    architecture: str
    config: dict
    tensors: dict[str, torch.Tensor]
    heads: set[str]
    dropped: list[tuple[str, str]] = field(default_factory=list)
    extra: dict[str, torch.Tensor] = field(default_factory=dict)
    """the dropped tensors themselves: a fine-tuned task head is among them (``hf_heads.py``)"""


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


def _family(config: dict, path: Path) -> Family:
    kind = config.get("model_type")
    if isinstance(kind, str) and kind in FAMILIES:
        return family(kind)
    archs = ", ".join(config.get("architectures") or []) or "none listed"
    known = [f"{f.display} (model_type {f.name!r})" for f in families()]
    listed = " and ".join([", ".join(known[:-1]), known[-1]] if len(known) > 1 else known)
    raise InputError(
        f"model_type {kind!r} (architectures: {archs}) is not supported; "
        f"convert imports {listed} checkpoints",
        str(path / "config.json"),
    )


def read_hf_checkpoint(path: str | Path) -> HFCheckpoint:
    """Read a Hugging Face folder of a registered family into canonical names.

    Buffers (position ids, causal-mask biases) are skipped; tied output weights are checked to
    equal the word embedding (uer_ray ties them too) and otherwise refused; weights outside the
    encoder and the pre-training heads (e.g. a classifier) are listed in ``dropped``."""
    path = Path(path)
    config = read_hf_config(path)
    fam = _family(config, path)
    fam.check_supported(config, str(path / "config.json"))
    tensors: dict[str, torch.Tensor] = {}
    tied: dict[str, torch.Tensor] = {}
    dropped: list[tuple[str, str]] = []
    extra: dict[str, torch.Tensor] = {}
    for key, value in read_hf_weights(path).items():
        if fam.hf_ignored.search(key):
            continue
        if key in fam.hf_tied:
            tied[key] = value
        elif not fam.canonical_from_hf(key, value, tensors):
            dropped.append((key, "not part of the encoder or a pre-training head uer_ray has"))
            extra[key] = value
    if "emb.word" not in tensors:
        raise InputError(f"no word-embedding weight found: not a {family_names()} checkpoint", str(path))
    for key, value in tied.items():
        if value.shape != tensors["emb.word"].shape or not torch.equal(value, tensors["emb.word"]):
            raise MismatchError(
                f"{path}: {key} differs from the word embedding (an untied output layer); "
                "uer_ray ties the output projection to the word embedding and cannot import it"
            )
    arch = (config.get("architectures") or ["unknown"])[0]
    return HFCheckpoint(fam.name, arch, config, tensors, fam.hf_heads(tensors, tied, config), dropped, extra)


# --------------------------------------------------------------------------- writing


def hf_state_dict(ckpt: HFCheckpoint) -> dict[str, torch.Tensor]:
    """Canonical tensors -> Hugging Face names of the family's exported class. Tied output
    weights are left out, as ``save_pretrained`` does; ``from_pretrained`` ties them again."""
    return {k: v.contiguous() for k, v in family(ckpt.family).hf_from_canonical(ckpt.tensors).items()}


def hf_config_from_spec(spec: ArchSpec, architecture: str, base: dict | None, pad_id: int) -> dict:
    """A Hugging Face ``config.json`` dict for ``spec``. ``base`` (the config the model was
    imported from, if any) keeps fields uer_ray has no notion of, such as special-token ids."""
    out = {k: v for k, v in (base or {}).items() if k not in ("architectures", "transformers_version")}
    return {"architectures": [architecture], **family(spec.family).hf_config(spec, out, pad_id)}


# --------------------------------------------------------------------------- conversions


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


def _loaded(src: Path, ckpt: HFCheckpoint, config: dict):
    """(uer_ray model built from ``config`` holding the checkpoint's weights, mapped tensors,
    canonical names no target takes)."""
    try:
        model = build_model(config)
    except (ConfigError, ValueError) as e:
        raise InputError(f"config.json describes a model uer_ray cannot build: {e}", str(src)) from e
    mapped, unused = ours_from_canonical(ckpt.tensors, seq2seq_target(config["targets"]))
    state = model.state_dict()
    shapes = [f"{k}: checkpoint {tuple(v.shape)} vs config {tuple(state[k].shape)}"
              for k, v in mapped.items() if k in state and v.shape != state[k].shape]
    if shapes:
        raise MismatchError(f"{src}: weights do not match config.json: {'; '.join(shapes[:5])}")
    unknown = sorted(set(mapped) - set(state))
    if unknown:
        raise MismatchError(f"{src}: no uer_ray parameter for {', '.join(unknown[:5])}")
    model.load_state_dict({**state, **mapped})
    return model, mapped, unused


def import_hf(src: str | Path, out: str | Path, *, task: str | None = None,
              drop_head: bool = False) -> ConversionReport:
    """Hugging Face folder ``src`` -> uer_ray checkpoint directory ``out`` (atomic).

    A ``BertForSequenceClassification`` / ``BertForTokenClassification`` /
    ``BertForQuestionAnswering`` becomes a fine-tuned checkpoint (``hf_heads.py``; ``task``
    picks among the tasks the class can be); another task-head class is refused unless
    ``drop_head``, which imports the encoder alone as a pre-trained checkpoint."""
    src, out = Path(src), Path(out)
    ckpt = read_hf_checkpoint(src)
    head = None
    if not drop_head:
        head = plan_import(ckpt.architecture, ckpt.config, ckpt.extra, ckpt.tensors, task,
                           str(src / "config.json"))
    elif task is not None:
        raise OptionsError("--task names the task of an imported head; --drop-head drops it")
    fam = family(ckpt.family)
    spec = fam.spec_from_checkpoint(ckpt.config, ckpt.tensors)
    targets = fam.import_targets(ckpt.heads)
    config = fam.our_config(spec, targets, ckpt.config.get("pad_token_id") or 0)
    model, mapped, unused = _loaded(src, ckpt, config)
    state = model.state_dict()
    dtypes = sorted({str(v.dtype).removeprefix("torch.") for v in ckpt.tensors.values()})
    used = set(head.used) if head else set()
    report = ConversionReport(
        "hf->ours", ckpt.family, ckpt.architecture, str(src), str(out), mapped=len(mapped), total=len(state),
        fresh=sorted(set(state) - set(mapped)),
        dropped=[[k, why] for k, why in ckpt.dropped if k not in used]
        + [[k, f"the converted model has targets {targets} only"] for k in unused],
    )
    ft = settings = None
    if head is not None:
        ft, settings = attach_head(model, head, report.notes)
        report.task = head.task
        report.mapped += len(head.state)
        report.total += len(head.state)
        report.notes += head.notes
        if report.fresh:
            report.notes.append("The fresh pre-training heads matter only to further pre-training.")
    if dtypes != ["float32"]:
        report.notes.append(f"Weights were {'/'.join(dtypes)} and are stored as float32.")
    meta = {"converted_from": {"format": "huggingface", "source": str(src.resolve()),
                               "architecture": ckpt.architecture, "hf_config": ckpt.config}}
    tok, tok_files = _hf_tokenizer(src, spec.vocab_size, report.notes)
    if head is not None and tok is None:
        report.notes.append("predict needs a tokenizer: add a tokenizer/ folder to the checkpoint.")
    with atomic_dir(out) as tmp:
        if ft is not None:
            from uer_ray.tasks.checkpoint import save_finetuned

            save_finetuned(tmp, ft, tok, settings, meta=meta)  # replaces the (empty) tmp folder
        else:
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


def _imported_config(src: Path, name: str) -> dict | None:
    """The ``config.json`` a checkpoint was imported from, when it is of family ``name``."""
    if not (src / META).is_file():
        return None
    origin = json.loads((src / META).read_text()).get("converted_from") or {}
    return origin["hf_config"] if (origin.get("hf_config") or {}).get("model_type") == name else None


def export_hf(src: str | Path, out: str | Path, *, drop_head: bool = False) -> ConversionReport:
    """uer_ray checkpoint directory ``src`` -> Hugging Face folder ``out`` (atomic):
    ``config.json`` + ``model.safetensors`` (+ tokenizer files) that ``from_pretrained`` loads.

    A fine-tuned checkpoint (``task.json``) is written as the Hugging Face class of its task head
    (``hf_heads.py``); ``drop_head`` writes the encoder with its pre-training heads instead."""
    from uer_ray.tasks.checkpoint import TASK_FILE

    src, out = Path(src), Path(out)
    model = load_model(src)
    finetuned = not drop_head and (src / TASK_FILE).is_file()
    if finetuned:
        arch, head, fields = export_head(src)
        spec, _ = spec_from_ours(model.config, heads=False)
        if spec.family != "bert":
            raise MismatchError(f"{src}: fine-tuned heads are written for BERT only; {supported()}")
        canonical = canonical_from_ours(encoder_state(model.state_dict()))
    else:
        spec, arch = spec_from_ours(model.config)
        canonical = canonical_from_ours(model.state_dict())
    ckpt = HFCheckpoint(spec.family, arch, {}, canonical, set(model.config.targets))
    tensors = {k: v.detach().float().contiguous().clone() for k, v in hf_state_dict(ckpt).items()}
    config = hf_config_from_spec(spec, arch, _imported_config(src, spec.family), model.config.pad_id)
    if finetuned:
        tensors.update({k: v.detach().float().contiguous().clone() for k, v in head.items()})
        config.pop("num_labels", None)
        config.update(fields)
    report = ConversionReport("ours->hf", spec.family, arch, str(src), str(out), mapped=len(tensors),
                              total=len(tensors), task=fields[MARKER]["task"] if finetuned else None)
    with atomic_dir(out) as tmp:
        write_json(tmp / "config.json", config)
        save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        _export_tokenizer(src, model, tmp, report.notes)
        write_json(tmp / REPORT, report.to_dict())
    return report
