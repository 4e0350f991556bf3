"""The tokenizer interface every kind implements, the ``TOKENIZERS`` registry (one registered
tokenizer per file of this folder, named after it), the shared base of the ``vocab.txt``
tokenizers, and building or loading a tokenizer by name.

A tokenizer maps text to ids of one fixed vocabulary (a BERT ``vocab.txt`` or a SentencePiece
``.model``). It never adds special tokens on its own: processors place ``[CLS]``/``[SEP]``.
``describe()`` is what a shard manifest records and what training compares against a model.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from tokenizers import Regex, normalizers, pre_tokenizers
from tokenizers import Tokenizer as RustTokenizer
from tokenizers.models import WordLevel

from uer_ray.atomic import atomic_dir, atomic_file, write_json
from uer_ray.errors import InputError
from uer_ray.registry import Registry

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
SPECIAL_NAMES = ("pad", "unk", "cls", "sep", "mask")
CONFIG_FILE = "tokenizer_config.json"

class Tokenizer:
    """Base class: text → ids of one vocabulary, plus the special-token ids.

    Subclasses implement ``tokenize``, ``encode_batch``, ``decode``, ``id_to_token``,
    ``token_to_id``, ``vocab_size`` and ``_special_id``, and declare where their file comes
    from (``file_option``: ``vocab`` for a vocab.txt, ``spm_model`` for a SentencePiece model),
    whether their vocabularies lower-case by default and, to be buildable by ``run.py vocab``,
    ``train_vocab``. The vocabulary file's bytes are kept so that ``save`` writes them
    unchanged (its sha256 stays the same).
    """

    name: ClassVar[str] = ""
    """set by the registry; a saved tokenizer and a shard manifest record it as ``kind``"""
    file_name: ClassVar[str] = "vocab.txt"
    """name of the vocabulary file inside a saved tokenizer folder"""
    file_option: ClassVar[str] = "vocab"
    """the option that gives the file: ``vocab`` (``--vocab``) or ``spm_model`` (``--spm-model``)"""
    lowercase_by_default: ClassVar[bool] = True
    """whether ``run.py vocab`` lower-cases the corpus unless told ``--case keep``"""

    @property
    def kind(self) -> str:
        return self.name

    @classmethod
    def train_vocab(cls, lines: Callable[[], Iterator[str]], size: int, out: Path,
                    lowercase: bool) -> int | None:
        """Train a vocabulary of at most ``size`` entries on ``lines()`` (a fresh iterator per
        call), with ``[PAD] [UNK] [CLS] [SEP] [MASK]`` first, written atomically to ``out``;
        returns its size. None: this kind cannot build its own vocabulary."""
        return None

    def continuation_mask(self) -> np.ndarray:
        """Bool per id: the piece continues a word (whole-word masking keeps words together).
        WordPiece-style vocabularies mark continuations with ``##``."""
        return np.array([self.id_to_token(i).startswith("##") for i in range(self.vocab_size)],
                        dtype=bool)

    def __init__(self, data: bytes, source: str, lowercase: bool):
        self._data = data
        self.source = source
        self.lowercase = lowercase
        self.sha256 = hashlib.sha256(data).hexdigest()

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | Path, lowercase: bool | None = None) -> Tokenizer:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{cls.name} vocabulary file not found", str(path))
        return cls(path.read_bytes(), path.name, lowercase)

    def __reduce__(self):
        # Rebuild from the file bytes in Ray workers: backends hold native objects.
        return (type(self), (self._data, self.source, self.lowercase))

    # -- interface ----------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        raise NotImplementedError

    def tokenize(self, text: str) -> list[str]:
        raise NotImplementedError

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        raise NotImplementedError

    def decode(self, ids: list[int]) -> str:
        raise NotImplementedError

    def id_to_token(self, i: int) -> str:
        raise NotImplementedError

    def token_to_id(self, token: str) -> int | None:
        raise NotImplementedError

    def _special_id(self, token: str) -> int | None:
        return self.token_to_id(token)

    # -- shared behaviour ---------------------------------------------------------------
    def decode_text(self, ids: list[int]) -> str:
        """Readable text of generated ids: special tokens but ``[UNK]`` dropped, WordPiece
        ``##`` pieces and SentencePiece ``▁`` pieces joined by ``decode``, and no space left
        next to a Chinese/Japanese/Korean character."""
        try:
            special = {self.special_ids[n] for n in ("pad", "cls", "sep", "mask")}
        except InputError:
            special = set()
        return join_cjk(self.decode([i for i in ids if int(i) not in special]))

    def encode(self, text: str) -> list[int]:
        """Ids of ``text`` without special tokens."""
        return self.encode_batch([text])[0]

    def encode_flat(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """All ids of ``texts`` as one int32 array plus int64 offsets (len(texts)+1), the form
        Arrow list columns and the processors use."""
        return flatten(self.encode_batch(texts))

    def encode_starts(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``encode_flat(texts)`` plus, per token, the index of its first character in its text
        (int64): where word segmentation meets the tokens (``uer_ray.data.words``)."""
        raise InputError(f"the {self.kind} tokenizer does not say where its tokens start in the "
                         "text, which word segmentation (--segment) needs")

    @functools.cached_property
    def special_ids(self) -> dict[str, int]:
        """``{pad, unk, cls, sep, mask} -> id``; an error names the missing token."""
        out = {}
        for name, token in zip(SPECIAL_NAMES, SPECIAL_TOKENS, strict=True):
            i = self._special_id(token)
            if i is None:
                raise InputError(
                    f"the {self.kind} vocabulary has no {token} token; build one with "
                    f"`python run.py vocab --tokenizer {self.kind}`, which puts "
                    f"{' '.join(SPECIAL_TOKENS)} in place",
                    self.source,
                )
            out[name] = i
        return out

    pad_id = property(lambda self: self.special_ids["pad"])
    unk_id = property(lambda self: self.special_ids["unk"])
    cls_id = property(lambda self: self.special_ids["cls"])
    sep_id = property(lambda self: self.special_ids["sep"])
    mask_id = property(lambda self: self.special_ids["mask"])

    def describe(self) -> dict[str, Any]:
        """What identifies the ids: kind, vocabulary file, sha256, size, casing, special ids."""
        return {
            "kind": self.kind,
            "vocab_file": self.source,
            "sha256": self.sha256,
            "size": self.vocab_size,
            "lowercase": self.lowercase,
            "special_ids": self.special_ids,
        }

    def save(self, directory: str | Path) -> Path:
        """Write the vocabulary (bytes unchanged) and ``tokenizer_config.json`` into ``directory``."""
        directory = Path(directory)
        with atomic_dir(directory) as tmp:
            (tmp / self.file_name).write_bytes(self._data)
            write_json(
                tmp / CONFIG_FILE,
                {"kind": self.kind, "file": self.file_name, "source": self.source,
                 "lowercase": self.lowercase, "sha256": self.sha256},
            )
        return directory

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(source={self.source!r}, size={self.vocab_size}, "
                f"lowercase={self.lowercase})")


TOKENIZERS: Registry[type[Tokenizer]] = Registry("tokenizer", package="uer_ray.tokenizers",
                                                  base=Tokenizer)


def flatten(ids: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Lists of ids → (int32 values, int64 offsets of length len(ids)+1)."""
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    offsets = np.zeros(len(ids) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.fromiter((i for x in ids for i in x), dtype=np.int32, count=int(offsets[-1]))
    return flat, offsets


def build_tokenizer(kind: str, *, vocab: str | Path | None = None, spm_model: str | Path | None = None,
                    lowercase: bool | None = None) -> Tokenizer:
    """A tokenizer of registry ``kind`` from a vocabulary file (``vocab``) or a SentencePiece
    model (``spm_model``). ``lowercase=None`` picks the vocabulary's own casing."""
    cls = TOKENIZERS.get(kind)
    path = {"vocab": vocab, "spm_model": spm_model}[cls.file_option]
    if path is None:
        need = "--spm-model (a SentencePiece .model)" if cls.file_option == "spm_model" else "--vocab (a vocab.txt)"
        raise InputError(f"the {kind} tokenizer needs {need}")
    return cls.from_file(path, lowercase=lowercase)


def tokenizer_kind(kind: str, spm_model: str | Path | None) -> str:
    """``--tokenizer`` as the commands read it: given a SentencePiece model (``--spm-model``) but
    a kind that reads a vocab.txt (the default ``wordpiece``), the kind that reads the model."""
    if spm_model is None or TOKENIZERS.get(kind).file_option == "spm_model":
        return kind
    readers = [n for n, cls in TOKENIZERS.items() if cls.file_option == "spm_model"]
    return readers[0] if len(readers) == 1 else kind


def load_tokenizer(directory: str | Path) -> Tokenizer:
    """Rebuild the tokenizer that ``Tokenizer.save(directory)`` wrote."""
    directory = Path(directory)
    cfg_path = directory / CONFIG_FILE
    if not cfg_path.is_file():
        raise InputError(f"no {CONFIG_FILE} here: not a saved tokenizer folder", str(directory))
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    cls = TOKENIZERS.get(cfg["kind"])
    data = (directory / cfg["file"]).read_bytes()
    return cls(data, cfg.get("source", cfg["file"]), cfg["lowercase"])


def vocab_lines(data: bytes, source: str) -> list[str]:
    """Tokens of a vocab.txt, one per line, id = line number (as BERT's ``load_vocab``)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise InputError(f"vocabulary is not UTF-8 ({e.reason})", source, line) from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise InputError("vocabulary file is empty", source)
    return lines


def write_tokens(tokens: list[str], out: Path) -> int:
    """A vocab.txt of ``tokens``, written atomically; returns how many."""
    with atomic_file(out) as f:
        for t in tokens:
            f.write(t + "\n")
    return len(tokens)


def guess_lowercase(tokens: list[str]) -> bool:
    """An uncased vocabulary has (almost) no token with an upper-case ASCII letter; markers
    such as ``[CLS]`` or ``<S>`` do not count."""
    lettered = upper = 0
    for t in tokens:
        if len(t) > 2 and t[0] + t[-1] in ("[]", "<>"):
            continue
        if any(c.isascii() and c.isalpha() for c in t):
            lettered += 1
            upper += any("A" <= c <= "Z" for c in t)
    return upper <= 0.01 * lettered


class VocabTokenizer(Tokenizer):
    """A vocab.txt tokenizer backed by a Rust ``tokenizers.Tokenizer`` built in ``_backend``."""

    joiner = " "  # how decode joins tokens (WordPiece uses its own decoder)

    def __init__(self, data: bytes, source: str, lowercase: bool | None):
        tokens = vocab_lines(data, source)
        if lowercase is None:
            lowercase = guess_lowercase(tokens)
        super().__init__(data, source, lowercase)
        self._tokens = tokens
        # Later duplicates win, as in BERT's load_vocab.
        self._vocab = {t: i for i, t in enumerate(tokens)}
        self._rust = self._backend(self._vocab)
        # Special tokens are matched whole in text (as transformers does), never split.
        present = [t for t in SPECIAL_TOKENS if t in self._vocab]
        self._rust.add_special_tokens(present)

    def _backend(self, vocab: dict[str, int]) -> RustTokenizer:
        raise NotImplementedError

    @property
    def vocab_size(self) -> int:
        return len(self._tokens)

    def tokenize(self, text: str) -> list[str]:
        return self._rust.encode(text, add_special_tokens=False).tokens

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        encs = self._rust.encode_batch_fast(texts, add_special_tokens=False)
        return [e.ids for e in encs]

    def encode_starts(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # the Rust pipeline's character offsets (into the text as given, before normalising)
        encs = self._rust.encode_batch(list(texts), add_special_tokens=False)
        flat, offsets = flatten([e.ids for e in encs])
        starts = np.fromiter((o[0] for e in encs for o in e.offsets), dtype=np.int64, count=len(flat))
        return flat, offsets, starts

    def decode(self, ids: list[int]) -> str:
        return self.joiner.join(self._tokens[int(i)] for i in ids)

    def id_to_token(self, i: int) -> str:
        return self._tokens[int(i)]

    def token_to_id(self, token: str) -> int | None:
        return self._vocab.get(token)

    @property
    def tokens(self) -> list[str]:
        """The vocabulary in id order (a copy)."""
        return list(self._tokens)


_CJK = ("\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u3130-\u318f\u31c0-\u9fff"
        "\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef")
_SPACE_NEAR_CJK = re.compile(f"(?<=[{_CJK}]) +| +(?=[{_CJK}])")


def join_cjk(text: str) -> str:
    """``text`` without the spaces a token-joining decoder puts next to CJK characters and
    full-width punctuation ("我 爱 北 京 。" -> "我爱北京。"); other spaces stay."""
    return _SPACE_NEAR_CJK.sub("", text)


def word_level(vocab: dict[str, int], tokenizer: Tokenizer, per_char: bool) -> RustTokenizer:
    unk = "[UNK]" if "[UNK]" in vocab else next(iter(vocab))
    tok = RustTokenizer(WordLevel(vocab, unk_token=unk))
    if tokenizer.lowercase:
        tok.normalizer = normalizers.Lowercase()
    steps = [pre_tokenizers.WhitespaceSplit()]
    if per_char:
        steps.append(pre_tokenizers.Split(Regex("."), behavior="isolated"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(steps)
    return tok
