"""Checkpoint directories (DESIGN §4): ``config.json``, ``model.safetensors``, ``tokenizer/``,
``meta.json``, written atomically; loading never unpickles.

safetensors refuses tensors that share memory; tied layers in this package hold no second copy
(targets read the word table through the embedding), and any other sharing is saved once with
its aliases listed in the file's metadata.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from uer_ray.atomic import atomic_dir, write_json
from uer_ray.errors import InputError, MismatchError
from uer_ray.models.builder import build_model
from uer_ray.models.config import ModelConfig
from uer_ray.models.model import Model

WEIGHTS, CONFIG, META, TOKENIZER = "model.safetensors", "config.json", "meta.json", "tokenizer"
TGT_TOKENIZER = "tgt_tokenizer"


def _dedupe(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors to write, alias -> saved name) with one entry per shared storage region."""
    seen: dict[tuple, str] = {}
    tensors, aliases = {}, {}
    for name, t in state.items():
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), tuple(t.stride()))
        if t.numel() and key in seen:
            aliases[name] = seen[key]
            continue
        seen[key] = name
        tensors[name] = t.detach().cpu().contiguous().clone()
    return tensors, aliases


def save_pretrained(model: Model, directory: str | Path, tokenizer: Any = None,
                    meta: dict | None = None, tgt_tokenizer: Any = None) -> Path:
    """Write the checkpoint directory atomically (a previous one at that path is replaced);
    ``tgt_tokenizer``: an ``mt`` model's target side, as ``tgt_tokenizer/``."""
    tokenizer = tokenizer if tokenizer is not None else getattr(model, "tokenizer", None)
    from uer_ray.version import __version__

    with atomic_dir(directory) as tmp:
        write_json(tmp / CONFIG, model.config.to_dict())
        tensors, aliases = _dedupe(model.state_dict())
        save_file(tensors, str(tmp / WEIGHTS), metadata={"format": "pt", "aliases": json.dumps(aliases)})
        if tokenizer is not None:
            tokenizer.save(tmp / TOKENIZER)
        tgt_tokenizer = tgt_tokenizer if tgt_tokenizer is not None else getattr(model, "tgt_tokenizer", None)
        if tgt_tokenizer is not None:
            tgt_tokenizer.save(tmp / TGT_TOKENIZER)
        write_json(tmp / META, {"package": "uer_ray", "version": __version__,
                                "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **(meta or {})})
    return Path(directory)


def checkpoint_folder(path: str | Path) -> Path:
    """The checkpoint directory that ``path`` names: itself, or the ``final/`` that a pretrain
    ``--out`` folder holds. Raises ``InputError`` when neither has a ``config.json``."""
    path = Path(path)
    for candidate in (path, path / "final"):
        if (candidate / CONFIG).is_file():
            return candidate
    if not path.exists():
        raise InputError("no such checkpoint folder", str(path))
    raise InputError(f"not a checkpoint folder: no {CONFIG} here or in final/", str(path))


def load_state(directory: str | Path) -> dict[str, torch.Tensor]:
    """All tensors of ``DIR/model.safetensors`` (aliases of shared tensors restored)."""
    path = Path(directory) / WEIGHTS
    if not path.exists():
        raise InputError(f"no {WEIGHTS} (is this a checkpoint directory?)", str(directory))
    with safe_open(str(path), framework="pt") as f:
        state = {k: f.get_tensor(k) for k in f.keys()}
        aliases = json.loads((f.metadata() or {}).get("aliases", "{}"))
    for alias, name in aliases.items():
        state[alias] = state[name]
    return state


def read_config(directory: str | Path) -> ModelConfig:
    path = Path(directory) / CONFIG
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"no {CONFIG} (is this a checkpoint directory?)", str(directory)) from None
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON: {e.msg}", str(path), e.lineno) from None
    return ModelConfig.from_dict(data, str(path))


def _differences(model_state: dict, ckpt: dict, keys: list[str]) -> list[str]:
    return [f"{k}: checkpoint {tuple(ckpt[k].shape)} vs model {tuple(model_state[k].shape)}"
            for k in keys if k in ckpt and k in model_state and ckpt[k].shape != model_state[k].shape]


def _listing(keys: list[str], limit: int = 8) -> str:
    more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def load_model(directory: str | Path, map_location: str | torch.device = "cpu") -> Model:
    """Rebuild the model of a checkpoint directory, load its weights, set eval mode; attach
    ``model.tokenizer`` when the directory has ``tokenizer/``."""
    directory = Path(directory)
    model = build_model(read_config(directory))
    ckpt = load_state(directory)
    expected = model.state_dict()
    ckpt, fused = _separate_directions(ckpt, expected)
    missing = sorted(set(expected) - set(ckpt))
    unexpected = sorted(set(ckpt) - set(expected))
    shapes = _differences(expected, ckpt, sorted(expected))
    if missing or unexpected or shapes:
        parts = [f"missing in the weights: {_listing(missing)}" if missing else "",
                 f"not in the config's model: {_listing(unexpected)}" if unexpected else "",
                 f"shape mismatch: {_listing(shapes)}" if shapes else ""]
        if fused and shapes:
            parts.append("the bidirectional RNN was saved as one fused PyTorch module, whose "
                         "second layer reads both directions of the first (later tokens leak "
                         "into the forward states); since uer_ray keeps the directions as two "
                         "stacks, only 1-layer ones convert: pre-train it again")
        raise MismatchError(f"{directory}: {CONFIG} and {WEIGHTS} do not match; "
                            + "; ".join(p for p in parts if p))
    model.load_state_dict(ckpt)
    model.to(map_location).eval()
    model.tokenizer = _load_tokenizer(directory / TOKENIZER)
    model.tgt_tokenizer = _load_tokenizer(directory / TGT_TOKENIZER)
    return model


_FUSED_REVERSE = re.compile(r"(.*)\.rnn\.((?:weight|bias)_(?:ih|hh)_l\d+)_reverse$")


def _separate_directions(ckpt: dict, expected: dict) -> tuple[dict, bool]:
    """Checkpoints of bilstm/bigru from before the directions were separate stacks hold a fused
    module (``rnn.*_reverse``): its reverse weights become ``rnn_backward.*``. Exact for one
    layer; deeper ones then fail on shapes. Returns (state, whether any were renamed)."""
    renamed = {}
    for key in ckpt:
        m = _FUSED_REVERSE.fullmatch(key)
        if m and f"{m[1]}.rnn_backward.{m[2]}" in expected:
            renamed[key] = f"{m[1]}.rnn_backward.{m[2]}"
    if not renamed:
        return ckpt, False
    return {renamed.get(k, k): v for k, v in ckpt.items()}, True


def _load_tokenizer(folder: Path) -> Any:
    if not folder.is_dir():
        return None
    try:
        from uer_ray.tokenizers import load_tokenizer
    except ImportError:
        return None
    return load_tokenizer(folder)


def load_weights(model: nn.Module, directory: str | Path,
                 prefixes: tuple[str, ...] = ("embedding.", "encoder.")) -> dict[str, list[str]]:
    """Copy the checkpoint's weights whose names start with one of ``prefixes`` into ``model``
    (stage-2 and fine-tuning ``--init``). Returns ``loaded`` (copied), ``missing`` (model weights
    under the prefixes that the checkpoint lacks) and ``ignored`` (checkpoint weights not used).
    A shape mismatch is a MismatchError naming the keys and both shapes."""
    ckpt = load_state(directory)
    own = model.state_dict()
    wanted = [k for k in ckpt if k.startswith(prefixes) and k in own]
    shapes = _differences(own, ckpt, wanted)
    if shapes:
        raise MismatchError(f"{directory}: weights do not fit the model: {_listing(shapes)}")
    with torch.no_grad():
        for k in wanted:
            own[k].copy_(ckpt[k])
    return {
        "loaded": sorted(wanted),
        "missing": sorted(k for k in own if k.startswith(prefixes) and k not in ckpt),
        "ignored": sorted(k for k in ckpt if k not in wanted),
    }
