"""``sentencepiece``: a SentencePiece ``.model`` (Kudo & Richardson, 2018) as a tokenizer.

The special tokens are looked up as pieces (``[PAD]`` ``[UNK]`` ``[CLS]`` ``[SEP]`` ``[MASK]``, as
UER-py's SentencePiece vocabularies and ``run.py vocab --tokenizer sentencepiece`` have them);
``[UNK]`` and ``[PAD]`` fall back to the model's own unk/pad ids.
"""

from __future__ import annotations

import sentencepiece as spm

from uer_ray.errors import InputError
from uer_ray.tokenizers.base import TOKENIZERS, Tokenizer


@TOKENIZERS.register("sentencepiece")
class SentencePieceTokenizer(Tokenizer):
    """Ids of a SentencePiece model; ``lowercase=True`` lower-cases text before encoding."""

    kind = "sentencepiece"
    file_name = "spm.model"

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
