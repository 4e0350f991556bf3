"""``sentencepiece``: a SentencePiece ``.model`` (Kudo & Richardson, 2018) as a tokenizer.

The special tokens are looked up as pieces (``[PAD]`` ``[UNK]`` ``[CLS]`` ``[SEP]`` ``[MASK]``, as
UER-py's SentencePiece vocabularies and ``run.py vocab --tokenizer sentencepiece`` have them);
``[UNK]`` and ``[PAD]`` fall back to the model's own unk/pad ids.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import sentencepiece as spm

from uer_ray.atomic import atomic_file
from uer_ray.errors import InputError
from uer_ray.tokenizers.base import TOKENIZERS, Tokenizer, flatten


@TOKENIZERS.register("sentencepiece")
class SentencePieceTokenizer(Tokenizer):
    """Ids of a SentencePiece model; ``lowercase=True`` lower-cases text before encoding."""

    file_name = "spm.model"
    file_option = "spm_model"
    lowercase_by_default = False

    def __init__(self, data: bytes, source: str, lowercase: bool | None):
        super().__init__(data, source, bool(lowercase))
        self._sp = spm.SentencePieceProcessor()
        try:
            self._sp.LoadFromSerializedProto(data)
        except Exception as e:  # the library raises a bare RuntimeError/OSError
            raise InputError(f"not a SentencePiece model ({e})", source) from None

    @property
    def vocab_size(self) -> int:
        return self._sp.get_piece_size()

    def _prep(self, text: str) -> str:
        return text.lower() if self.lowercase else text

    def tokenize(self, text: str) -> list[str]:
        return self._sp.encode(self._prep(text), out_type=str)

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        if self.lowercase:
            texts = [t.lower() for t in texts]
        return self._sp.encode(list(texts), out_type=int)

    def encode_starts(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        texts = list(texts)
        prepped = [self._prep(t) for t in texts]
        try:
            protos = self._sp.encode(prepped, return_type="proto")
        except TypeError:  # sentencepiece releases before return_type
            protos = self._sp.encode(prepped, out_type="immutable_proto")
        flat, offsets = flatten([[p.id for p in s.pieces] for s in protos])
        starts = [_char_starts(t, p, [q.begin for q in s.pieces])
                  for t, p, s in zip(texts, prepped, protos, strict=True)]
        return flat, offsets, np.concatenate(starts + [np.zeros(0, np.int64)])

    def decode(self, ids: list[int]) -> str:
        return self._sp.decode([int(i) for i in ids])

    def id_to_token(self, i: int) -> str:
        return self._sp.id_to_piece(int(i))

    def token_to_id(self, token: str) -> int | None:
        i = self._sp.piece_to_id(token)
        # piece_to_id answers unk for an unknown piece
        if i == self._sp.unk_id() and token != self._sp.id_to_piece(i):
            return None
        return i

    def _special_id(self, token: str) -> int | None:
        i = self.token_to_id(token)
        if i is None and token == "[UNK]":
            i = self._sp.unk_id()
        if i is None and token == "[PAD]" and self._sp.pad_id() >= 0:
            i = self._sp.pad_id()
        return i

    def continuation_mask(self) -> np.ndarray:
        # SentencePiece marks word starts with "▁"; its special pieces start nothing
        special = set(self.special_ids.values())
        return np.array([not self.id_to_token(i).startswith("\u2581") and i not in special
                         for i in range(self.vocab_size)], dtype=bool)

    @classmethod
    def train_vocab(cls, lines: Callable[[], Iterator[str]], size: int, out: Path,
                    lowercase: bool) -> int:
        """A unigram SentencePiece model with the special tokens as its first five pieces."""
        work = Path(tempfile.mkdtemp(prefix="uer-ray-spm-"))
        try:
            text = work / "corpus.txt"
            with open(text, "w", encoding="utf-8") as f:
                for line in lines():
                    f.write((line.lower() if lowercase else line) + "\n")
            try:
                spm.SentencePieceTrainer.train(
                    input=str(text), model_prefix=str(work / "m"), vocab_size=size,
                    pad_id=0, pad_piece="[PAD]", unk_id=1, unk_piece="[UNK]", bos_id=-1, eos_id=-1,
                    control_symbols=["[CLS]", "[SEP]", "[MASK]"], character_coverage=0.9995,
                    hard_vocab_limit=False, minloglevel=2, num_threads=os.cpu_count() or 1,
                )
            except RuntimeError as e:  # e.g. "Vocabulary size is smaller than required_chars"
                msg = str(e).split("] ")[-1]
                raise InputError(f"sentencepiece could not train a {size}-entry model: {msg}") from None
            out.parent.mkdir(parents=True, exist_ok=True)
            with atomic_file(out, "wb") as f:
                f.write((work / "m.model").read_bytes())
            return spm.SentencePieceProcessor(model_file=str(out)).get_piece_size()
        finally:
            shutil.rmtree(work, ignore_errors=True)


def _char_starts(text: str, prepped: str, begins: list[int]) -> np.ndarray:
    """SentencePiece's byte offsets into ``prepped`` (``text`` lower-cased or not) → character
    indices into ``text``."""
    raw = np.frombuffer(prepped.encode("utf-8"), dtype=np.uint8)
    char_of_byte = np.cumsum((raw & 0xC0) != 0x80) - 1  # UTF-8 continuation bytes are 10xxxxxx
    at = np.minimum(np.asarray(begins, dtype=np.int64), max(len(raw) - 1, 0))
    starts = char_of_byte[at] if len(raw) else np.zeros(len(begins), np.int64)
    if len(prepped) != len(text):  # lower-casing changed the length (a rare letter such as İ)
        starts = np.repeat(np.arange(len(text)), [len(c.lower()) for c in text])[starts]
    return starts.astype(np.int64)
