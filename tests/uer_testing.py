"""Paths and helpers shared by the tests, importable as ``uer_testing`` from any test folder.

(Several folders have a conftest.py of their own, and pytest keeps whichever it imported last as
the module ``conftest``, so tests must not ``from conftest import ...``.)

Test data: a test names a file by its path under the shared data folder (``../shared/data``,
e.g. ``"corpora/wikitext2_valid.txt"``) and gets it from one of two places:

- ``data_file(rel)``: the bundled slice in ``tests/fixtures/data`` (the default, the same file on
  every machine; ``tests/fixtures/data/README.md`` says what each holds);
- ``shared_data(rel)``: the whole file in ``../shared/data``, only for tests marked
  ``shared_data`` (they measure against whole corpora and run when ``UER_RAY_SHARED_TESTS=1``)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURE_DATA = REPO / "tests" / "fixtures" / "data"
SHARED_DATA = REPO.parent / "shared" / "data"
SAMPLES = REPO / "uer_ray" / "samples"
SHARED_TESTS = "UER_RAY_SHARED_TESTS"


def data_file(rel: str) -> Path:
    """The bundled slice of ``rel`` (a path under ../shared/data) in tests/fixtures/data."""
    p = FIXTURE_DATA / rel
    if not p.is_file():
        raise FileNotFoundError(f"{p}: not in the bundled test data (add it to "
                                "tests/fixtures/data/make_fixtures.py)")
    return p


def shared_data(rel: str) -> Path:
    """The whole file ``rel`` under ../shared/data, for tests marked ``shared_data`` only; the
    test is skipped where that folder is absent."""
    p = SHARED_DATA / rel
    if not p.exists():
        pytest.skip(f"{p} not present (shared data folder missing)")
    return p


def train_spm(corpus: Path, out: Path, vocab_size: int = 8000) -> Path:
    """A SentencePiece model trained on ``corpus`` with the special pieces of the published
    ``cluecorpussmall_spm.model`` ([PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, [MASK] 4, [unused1..10])."""
    import sentencepiece as spm

    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(out.with_suffix("")), vocab_size=vocab_size,
        max_sentencepiece_length=6, max_sentence_length=1 << 16, pad_id=0, unk_id=1, bos_id=2,
        eos_id=3, pad_piece="[PAD]", unk_piece="[UNK]", bos_piece="[CLS]", eos_piece="[SEP]",
        user_defined_symbols=["[MASK]"] + [f"[unused{i}]" for i in range(1, 11)],
        num_threads=1, minloglevel=2)
    return out.with_suffix(".model")


def wandb_values(data: bytes, key: str) -> list[str]:
    """The JSON values logged under ``key`` in W&B's binary run file (its items are encoded as
    key, then field 16 (0x82 0x01), a length byte and the JSON text)."""
    import re

    out = []
    for m in re.finditer(re.escape(key.encode()) + rb"\x82\x01(.)", data, re.S):
        n = m.group(1)[0]
        out.append(data[m.end() : m.end() + n].decode())
    return out


def edit(document: dict, keys: str, value) -> dict:
    """A deep copy of a YAML document (a search space, a recipe) with the value at the dotted
    key path ``keys`` replaced by ``value``, or deleted when ``value`` is ``KeyError``."""
    import copy

    out = copy.deepcopy(document)
    *path, last = keys.split(".")
    node = out
    for k in path:
        node = node[k]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return out


def fails_in_one_line(error: type[Exception], load, path, *needles: str, prefix: str = "") -> str:
    """``load(path)`` raises ``error`` with one line that starts with the file's path (and
    ``prefix`` after it) and holds every needle; returns the message."""
    with pytest.raises(error) as e:
        load(path)
    text = str(e.value)
    assert "\n" not in text and text.startswith(f"{path}{prefix}"), text
    for n in needles:
        assert n in text, (n, text)
    return text
