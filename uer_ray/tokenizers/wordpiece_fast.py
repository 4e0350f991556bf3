"""A vectorised fast path for BERT WordPiece on many lines at once (mostly for CJK text).

In BERT's pipeline every CJK character and every punctuation mark is a word of its own, and
whitespace only separates words. So those characters can be looked up in a per-code-point table
with numpy, and only the remaining runs of other characters (Latin words, digits, emoji, ...)
need real WordPiece: they go, de-duplicated, through the Rust tokenizer, which also handles
lower-casing, accent stripping and control characters inside them. On Chinese text this is many
times faster than encoding every line with ``tokenizers``, with identical ids.

The tables are not written by hand: each candidate character (BMP CJK ideographs and
punctuation) is checked against the Rust tokenizer itself; a character that does not behave as a
one-token word there simply stays in the slow (delegated) class.
"""

from __future__ import annotations

import unicodedata

import numpy as np

from uer_ray.tokenizers.base import SPECIAL_TOKENS

LIMIT = 0x10000  # table covers the BMP; other code points are delegated
RUN, SEP, SINGLE = 0, 1, 2  # delegated run character / word separator / one-token word
_CACHE_MAX = 500_000


def _candidates() -> tuple[list[int], list[int]]:
    singles, seps = [], []
    for o in range(LIMIT):
        c = chr(o)
        if 0x3400 <= o <= 0x4DBF or 0x4E00 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF:
            singles.append(o)
        elif c.isspace() or unicodedata.category(c) in ("Zs", "Zl", "Zp"):
            seps.append(o)
        elif unicodedata.category(c).startswith("P") or (c.isascii() and not c.isalnum() and c.isprintable()):
            singles.append(o)
    return singles, seps


class FastWordPiece:
    """Batch encoder equivalent to ``rust`` (a BERT WordPiece ``tokenizers.Tokenizer``)."""

    def __init__(self, rust, tables: tuple[np.ndarray, np.ndarray] | None = None):
        self.rust = rust
        self.cache: dict[str, np.ndarray] = {}
        if tables is not None:  # shipped from a process that already checked them
            self.kind, self.ids = tables
            return
        self.kind = np.zeros(LIMIT, dtype=np.uint8)  # RUN by default
        self.ids = np.zeros(LIMIT, dtype=np.int32)
        singles, seps = _candidates()
        for o in seps:  # separates "a" from "a" and leaves nothing behind
            if self._words(f"a{chr(o)}a") == ["a", "a"]:
                self.kind[o] = SEP
        self._check_singles(singles)

    def _check_singles(self, singles: list[int]) -> None:
        """A candidate c is a one-token word if "a" c "a" encodes as [a, one token on c, a].
        All candidates go through the Rust tokenizer as one text ("aXa aYa ..."), 4 chars each."""
        text = " ".join(f"a{chr(o)}a" for o in singles)
        enc = self.rust.encode(text, add_special_tokens=False)
        a_ids = self.rust.encode("a", add_special_tokens=False).ids
        if len(a_ids) != 1:
            return  # a vocabulary without "a": leave everything to the slow path
        ids = np.asarray(enc.ids, dtype=np.int64)
        span = np.asarray(enc.offsets, dtype=np.int64).reshape(-1, 2)
        triple = span[:, 0] // 4
        n = len(singles)
        count = np.bincount(triple, minlength=n)
        first = np.cumsum(count) - count
        ok = count == 3
        k = np.flatnonzero(ok)
        mid = first[k] + 1
        good = ((ids[first[k]] == a_ids[0]) & (ids[mid + 1] == a_ids[0])
                & (span[mid, 0] == 4 * k + 1) & (span[mid, 1] == 4 * k + 2))
        chosen = np.asarray(singles, dtype=np.int64)[k[good]]
        self.kind[chosen] = SINGLE
        self.ids[chosen] = ids[mid[good]]

    def _words(self, text: str) -> list[str]:
        normalized = self.rust.normalizer.normalize_str(text)
        return [w for w, _ in self.rust.pre_tokenizer.pre_tokenize_str(normalized)]

    def usable(self, joined: str, n_texts: int) -> bool:
        """The fast path needs lines without inner newlines and without special-token text."""
        return joined.count("\n") == n_texts - 1 and not any(t in joined for t in SPECIAL_TOKENS)

    def encode_joined(self, joined: str) -> tuple[np.ndarray, np.ndarray]:
        """Lines joined by "\\n" → (int32 ids, int64 line offsets)."""
        cp = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
        kind = np.zeros(len(cp), dtype=np.uint8)
        inside = cp < LIMIT
        kind[inside] = self.kind[cp[inside]]
        run_ids, run_starts, run_lens = self._runs(joined, kind == RUN)
        count = (kind == SINGLE).astype(np.int64)
        count[run_starts] = run_lens
        end = np.cumsum(count)
        start = end - count
        out = np.empty(int(end[-1]) if len(end) else 0, dtype=np.int32)
        single = np.flatnonzero(kind == SINGLE)
        out[start[single]] = self.ids[cp[single]]
        if len(run_ids):
            first = np.cumsum(run_lens) - run_lens
            pos = np.repeat(start[run_starts] - first, run_lens) + np.arange(len(run_ids))
            out[pos] = run_ids
        newlines = np.flatnonzero(cp == 10)
        offsets = np.concatenate([[0], start[newlines], [len(out)]]).astype(np.int64)
        return out, offsets

    def _runs(self, joined: str, is_run: np.ndarray):
        """WordPiece ids of every maximal run of delegated characters, in text order."""
        edges = np.diff(is_run.view(np.int8), prepend=0, append=0)
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        words = [joined[s:e] for s, e in zip(starts.tolist(), ends.tolist(), strict=True)]
        cache = self.cache
        if len(cache) > _CACHE_MAX:
            cache.clear()
        new = [w for w in dict.fromkeys(words) if w not in cache]
        if new:
            for w, e in zip(new, self.rust.encode_batch_fast(new, add_special_tokens=False), strict=True):
                cache[w] = np.asarray(e.ids, dtype=np.int32)
        pieces = [cache[w] for w in words]
        lens = np.fromiter((len(p) for p in pieces), dtype=np.int64, count=len(pieces))
        ids = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int32)
        return ids, starts, lens
