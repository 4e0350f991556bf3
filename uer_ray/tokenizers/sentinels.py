"""Sentinel tokens ``<extra_id_0>``, ``<extra_id_1>``, ...: the placeholders T5's span corruption
puts where it removed a span (Raffel et al. 2020). A vocabulary has them as ordinary entries,
appended after its own (UER-py's ``google_zh_with_sentinel_vocab.txt`` is the Google Chinese
vocabulary plus ``<extra_id_0>`` .. ``<extra_id_99>`` at ids 21128-21227). The ``t5`` processor
writes their ids itself, so tokenizers need not recognise them in text; decoding maps an id back
to its ``<extra_id_N>`` line like any other entry.

``python run.py vocab ... --sentinels N`` appends N of them to the vocabulary it builds, or to an
existing ``--vocab`` vocab.txt / ``--spm-model`` SentencePiece model (``add_sentinels``).
"""

from __future__ import annotations

from pathlib import Path

from uer_ray.atomic import atomic_file
from uer_ray.errors import InputError
from uer_ray.tokenizers.base import Tokenizer, vocab_lines, write_tokens

DEFAULT_COUNT = 100
"""how many sentinels T5's and UER-py's vocabularies carry"""


def sentinel_token(k: int) -> str:
    return f"<extra_id_{k}>"


def sentinel_ids(tokenizer: Tokenizer) -> list[int]:
    """Ids of ``<extra_id_0>``, ``<extra_id_1>``, ... in the vocabulary, up to the first one it
    lacks (UER-py's have consecutive increasing ids; a T5 SentencePiece vocabulary has them in
    decreasing order: either works, the ids are looked up one by one)."""
    ids: list[int] = []
    while (i := tokenizer.token_to_id(sentinel_token(len(ids)))) is not None:
        ids.append(i)
    return ids


def add_sentinels_hint(tokenizer: Tokenizer) -> str:
    """The command that adds sentinels to ``tokenizer``'s vocabulary file."""
    source = Path(tokenizer.source)
    option = "--spm-model" if tokenizer.file_option == "spm_model" else "--vocab"
    out = source.with_name(f"{source.stem}_sentinels{source.suffix}")
    return f"python run.py vocab {option} {source} --sentinels {DEFAULT_COUNT} --out {out}"


def require_sentinels(tokenizer: Tokenizer, user: str, at_least: int = 2) -> list[int]:
    """``sentinel_ids``, or a one-line error naming the vocabulary file and the command that
    adds sentinels when it has fewer than ``at_least``."""
    ids = sentinel_ids(tokenizer)
    if len(ids) < at_least:
        have = "no sentinel tokens" if not ids else f"only {len(ids)} sentinel token(s)"
        raise InputError(
            f"the {tokenizer.kind} vocabulary has {have} ({sentinel_token(0)}, {sentinel_token(1)}, "
            f"...; the {user} processor needs at least {at_least}); add {DEFAULT_COUNT} with "
            f"`{add_sentinels_hint(tokenizer)}`", tokenizer.source)
    return ids


def add_sentinels(path: str | Path, count: int, out: str | Path, spm_model: bool = False) -> dict:
    """Copy the vocab.txt (or SentencePiece model, ``spm_model``) at ``path`` to ``out`` with
    ``<extra_id_0>`` .. ``<extra_id_{count-1}>`` appended; refuses a vocabulary that already
    has ``<extra_id_0>``. Returns {size, first_id, count, path}."""
    path, out = Path(path), Path(out)
    if count < 1:
        raise InputError(f"--sentinels must be at least 1, got {count}")
    if not path.is_file():
        raise InputError("vocabulary file not found", str(path))
    new = [sentinel_token(k) for k in range(count)]
    if spm_model:
        return _add_to_model(path, new, out)
    tokens = vocab_lines(path.read_bytes(), path.name)
    _refuse_present(tokens, path)
    write_tokens(tokens + new, out)
    return {"size": len(tokens) + count, "first_id": len(tokens), "count": count, "path": str(out)}


def _refuse_present(pieces: list[str], path: Path) -> None:
    if sentinel_token(0) in pieces:
        line = pieces.index(sentinel_token(0)) + 1
        have = sum(1 for p in pieces if p.startswith("<extra_id_") and p.endswith(">"))
        raise InputError(f"the vocabulary already has {have} sentinel token(s), from "
                         f"{sentinel_token(0)} on", str(path), line)


def _add_to_model(path: Path, new: list[str], out: Path) -> dict:
    """Append user-defined pieces to a SentencePiece model (its protobuf)."""
    from sentencepiece import sentencepiece_model_pb2

    model = sentencepiece_model_pb2.ModelProto()
    try:
        model.ParseFromString(path.read_bytes())
    except Exception as e:  # protobuf's DecodeError
        raise InputError(f"not a SentencePiece model ({e})", str(path)) from None
    if not model.pieces:
        raise InputError("not a SentencePiece model (no pieces)", str(path))
    _refuse_present([p.piece for p in model.pieces], path)
    first = len(model.pieces)
    for token in new:
        piece = model.pieces.add()
        piece.piece, piece.score = token, 0.0
        piece.type = sentencepiece_model_pb2.ModelProto.SentencePiece.USER_DEFINED
    with atomic_file(out, "wb") as f:
        f.write(model.SerializeToString())
    return {"size": first + len(new), "first_id": first, "count": len(new), "path": str(out)}
