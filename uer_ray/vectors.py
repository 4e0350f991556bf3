"""Sentence vectors: ``uer_ray.embed(model, texts)`` and ``python run.py embed`` (this module is
``uer_ray.vectors``, not ``uer_ray.embed``, so that importing it never hides the function).

    import uer_ray
    vectors = uer_ray.embed("runs/siamese", ["今天天气很好", "明天下雨"])      # (2, H) float32
    vectors = uer_ray.embed("runs/bert/final", texts, pooling="mean", whiten=128)

Each text is encoded alone as ``[CLS] text [SEP]`` (segment 1, cut to ``seq_length`` tokens) and
its hidden states pooled into one vector (``first`` = [CLS], ``mean``, ``max``, ``last``; ``cls``
is accepted for ``first``). The model is a pre-trained checkpoint folder (a pretrain ``--out``
means its ``final/``), a fine-tuned folder (its encoder, and by default its pooling and sequence
length: a ``siamese`` model's ``text_a`` tower), a ``zoo:`` reference, a URI or a ``Model``.

Whitening (BERT-whitening, Su et al. 2021): ``Whitening.fit(vectors, dim)`` takes the mean μ and
the covariance Σ = U S Uᵀ of the vectors and maps x to (x − μ) U S^-1/2, keeping the first
``dim`` columns (the directions of largest variance); the whitened vectors have zero mean and
identity covariance. Fit it on a corpus, ``save`` it, ``load`` it to map queries the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from uer_ray.errors import InputError, MismatchError, OptionsError

POOLING_NAMES = ("first", "cls", "mean", "max", "last")


@dataclass(frozen=True)
class Whitening:
    """x -> (x - mean) @ kernel: ``mean`` (H,), ``kernel`` (H, dim)."""

    mean: np.ndarray
    kernel: np.ndarray

    @classmethod
    def fit(cls, vectors: np.ndarray, dim: int | None = None) -> Whitening:
        """Fitted on ``vectors`` (n, H), keeping ``dim`` dimensions (None: all H)."""
        vectors = np.asarray(vectors, dtype=np.float64)
        n, hidden = vectors.shape
        if n < 2:
            raise InputError(f"whitening needs at least 2 vectors to estimate a covariance, got {n}")
        dim = hidden if dim is None else dim
        if not 1 <= dim <= hidden:
            raise OptionsError(f"whitening keeps 1 to {hidden} dimensions (the vector size), got {dim}")
        mean = vectors.mean(0)
        centred = vectors - mean
        u, s, _ = np.linalg.svd(centred.T @ centred / n)
        kernel = u[:, :dim] / np.sqrt(np.maximum(s[:dim], 1e-12))
        return cls(mean.astype(np.float32), kernel.astype(np.float32))

    @property
    def dim(self) -> int:
        return int(self.kernel.shape[1])

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape[-1] != self.mean.shape[0]:
            raise MismatchError(f"this whitening was fitted on {self.mean.shape[0]}-dimensional "
                                f"vectors; these have {vectors.shape[-1]}")
        return (vectors - self.mean) @ self.kernel

    def save(self, path: str | Path) -> None:
        from uer_ray.atomic import atomic_file

        with atomic_file(path, "wb", encoding=None) as f:
            np.savez(f, mean=self.mean, kernel=self.kernel)

    @classmethod
    def load(cls, path: str | Path) -> Whitening:
        try:
            with np.load(str(path)) as data:
                return cls(data["mean"], data["kernel"])
        except FileNotFoundError:
            raise InputError("no such whitening file", str(path)) from None
        except (OSError, ValueError, KeyError) as e:
            raise InputError(f"not a whitening file written by embed ({type(e).__name__}: {e})",
                             str(path)) from None


def _load(model_or_dir: Any) -> tuple[Any, Any, dict]:
    """(model, tokenizer, defaults) where defaults hold a fine-tuned folder's pooling and
    sequence length."""
    if not isinstance(model_or_dir, (str, Path)):
        model = getattr(model_or_dir, "model", model_or_dir)  # a fine-tuning model: its encoder
        return model, getattr(model, "tokenizer", None), {}
    from uer_ray.models import load_model
    from uer_ray.models.checkpoint import checkpoint_folder
    from uer_ray.tasks.checkpoint import TASK_FILE, read_settings
    from uer_ray.zoo import resolve_checkpoint

    folder = checkpoint_folder(resolve_checkpoint(str(model_or_dir)))
    defaults = {}
    if (folder / TASK_FILE).exists():
        settings = read_settings(folder)
        defaults = {"pooling": settings.pooling, "seq_length": settings.seq_length}
    model = load_model(folder)
    return model, model.tokenizer, defaults


def embed(model_or_dir: Any, texts: Sequence[str], *, pooling: str | None = None,
          whiten: int | Whitening | str | Path | None = None, batch_size: int = 64,
          seq_length: int | None = None, tokenizer: Any = None, device: str = "cpu",
          progress: bool = False) -> np.ndarray:
    """(len(texts), H) float32 sentence vectors of ``texts``, in order.

    ``pooling``: None means a fine-tuned folder's own, else ``mean``. ``whiten``: an int fits
    BERT-whitening on these vectors and keeps that many dimensions; a ``Whitening`` (or the path
    of one saved by ``Whitening.save``) applies a fitted one. ``seq_length``: tokens per text
    with [CLS] and [SEP] (None: a fine-tuned folder's, else the model's maximum)."""
    import torch

    from uer_ray.layers.pooling import pool
    from uer_ray.tasks.batching import eval_order

    texts = list(texts)
    if not texts:
        raise InputError("no texts to embed")
    model, own_tokenizer, defaults = _load(model_or_dir)
    tokenizer = tokenizer or own_tokenizer
    if tokenizer is None:
        raise MismatchError("the model has no tokenizer (a checkpoint without tokenizer/): pass "
                            "tokenizer=")
    how = pooling or defaults.get("pooling", "mean")
    if how not in POOLING_NAMES:
        raise OptionsError(f"pooling {how!r} is not one of {', '.join(POOLING_NAMES)}")
    how = "first" if how == "cls" else how
    limit = model.config.max_seq_length
    length = seq_length or defaults.get("seq_length") or limit
    if not 2 <= length <= limit:
        raise OptionsError(f"seq_length {length}: between 2 and the model's {limit} positions")
    if batch_size < 1:
        raise OptionsError(f"batch_size must be >= 1, got {batch_size}")
    ids = [[tokenizer.cls_id, *t[: length - 2], tokenizer.sep_id] for t in tokenizer.encode_batch(texts)]
    out = np.zeros((len(ids), model.hidden_size), dtype=np.float32)
    model.eval().to(device)
    from tqdm.auto import tqdm

    with torch.no_grad(), tqdm(total=len(ids), desc="embed", unit="text", leave=False,
                               disable=not progress) as bar:
        for index in eval_order([len(x) for x in ids], batch_size):
            width = max(len(ids[i]) for i in index)
            batch = torch.full((len(index), width), tokenizer.pad_id, dtype=torch.long)
            segs = torch.zeros((len(index), width), dtype=torch.long)
            for row, i in enumerate(index):
                batch[row, : len(ids[i])] = torch.tensor(ids[i])
                segs[row, : len(ids[i])] = 1
            batch, segs = batch.to(device), segs.to(device)
            hidden = model.encode(batch, segs)
            out[index] = pool(hidden, segs != 0, how).float().cpu().numpy()
            bar.update(len(index))
    if whiten is None:
        return out
    if isinstance(whiten, bool):
        raise OptionsError("whiten is a number of dimensions, a Whitening or its file, not a bool")
    if isinstance(whiten, int):
        whiten = Whitening.fit(out, whiten)
    elif isinstance(whiten, (str, Path)):
        whiten = Whitening.load(whiten)
    return whiten.apply(out)
