"""Contract test over every registered tokenizer, plus vocabulary building and the vocab command."""

import pickle

import pytest
from tokenizer_helpers import data_file

from uer_ray.cli import main as cli_main
from uer_ray.errors import InputError
from uer_ray.tokenizers import (
    SPECIAL_TOKENS,
    TOKENIZERS,
    build_tokenizer,
    build_vocab,
    load_tokenizer,
)

ZH = "corpora/CLUECorpusSmall_sampled.txt"


@pytest.fixture(scope="module")
def zh_slice(tmp_path_factory):
    """The first 300 documents of the Chinese corpus."""
    lines = data_file(ZH).read_text(encoding="utf-8").split("\n")[:300]
    path = tmp_path_factory.mktemp("corpus") / "zh.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tokenizers(zh_slice, spm_model, tmp_path_factory):
    """One tokenizer of each kind: published vocabularies where they exist, built ones otherwise."""
    d = tmp_path_factory.mktemp("vocab")
    char_vocab = d / "char.txt"
    build_vocab([zh_slice], "char", 3000, char_vocab)
    space_vocab = d / "space.txt"  # a space vocabulary is a token list; reuse the char one
    space_vocab.write_text(char_vocab.read_text(encoding="utf-8") + "hello\nworld\n", encoding="utf-8")
    return {
        "wordpiece": build_tokenizer("wordpiece", vocab=data_file("vocab/google_zh_vocab.txt")),
        "sentencepiece": build_tokenizer("sentencepiece", spm_model=spm_model),
        "char": build_tokenizer("char", vocab=char_vocab),
        "space": build_tokenizer("space", vocab=space_vocab),
    }


def test_registry_has_the_four_kinds():
    assert TOKENIZERS.names() == ["char", "sentencepiece", "space", "wordpiece"]


@pytest.mark.parametrize("kind", ["char", "sentencepiece", "space", "wordpiece"])
def test_tokenizer_contract(kind, tokenizers, zh_slice, tmp_path):
    tok = tokenizers[kind]
    assert tok.kind == kind
    lines = zh_slice.read_text(encoding="utf-8").split("\n")[:50]
    ids = tok.encode_batch(lines)
    assert ids == [tok.encode(x) for x in lines]
    assert all(0 <= i < tok.vocab_size for row in ids for i in row)
    special = {tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id}
    assert len(special) == 5 and all(isinstance(i, int) for i in special)
    assert [tok.token_to_id(t) for t in SPECIAL_TOKENS] == [
        tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id]
    assert tok.id_to_token(tok.cls_id) == "[CLS]"
    text = " ".join("我们今天去北京") if kind == "space" else "我们今天去北京"
    assert tok.encode(text) == [tok.token_to_id(t) for t in tok.tokenize(text)]
    assert tok.decode(tok.encode(text)).replace(" ", "").replace("▁", "") == text.replace(" ", "")
    d = tok.describe()
    assert d["kind"] == kind and d["size"] == tok.vocab_size and len(d["sha256"]) == 64
    assert d["special_ids"]["mask"] == tok.mask_id
    # save / load round trip and pickling (Ray ships tokenizers to workers) keep ids and identity
    again = load_tokenizer(tok.save(tmp_path / "tok"))
    assert again.describe() == d and again.encode_batch(lines) == ids
    assert pickle.loads(pickle.dumps(tok)).encode_batch(lines) == ids


@pytest.mark.parametrize("kind", ["char", "sentencepiece", "space", "wordpiece"])
def test_encode_starts_gives_the_ids_and_where_each_token_starts(kind, tokenizers, zh_slice):
    """Word segmentation (uer_ray.data.words) meets the tokens at these character indices."""
    import unicodedata

    import numpy as np

    tok = tokenizers[kind]
    lines = zh_slice.read_text(encoding="utf-8").split("\n")[:50] + ["", "  我们 hello，北京 "]
    flat, offsets, starts = tok.encode_starts(lines)
    ref_flat, ref_offsets = tok.encode_flat(lines)
    assert np.array_equal(flat, ref_flat) and np.array_equal(offsets, ref_offsets)
    assert len(starts) == len(flat) and starts.dtype == np.int64
    for i, line in enumerate(lines):
        s = starts[offsets[i]:offsets[i + 1]]
        assert (np.diff(s) >= 0).all() and ((s >= 0) & (s < max(len(line), 1))).all()
        for k, at in zip(range(offsets[i], offsets[i + 1]), s.tolist(), strict=True):
            piece = tok.id_to_token(flat[k]).lstrip("▁").removeprefix("##")
            if piece and flat[k] not in tok.special_ids.values():
                if tok.id_to_token(flat[k]).startswith("▁"):  # SentencePiece: ▁ is the space before
                    at += len(line[at:]) - len(line[at:].lstrip())
                # the first character, as the tokenizer normalises it (case, width, accents)
                first = unicodedata.normalize("NFKD", line[at].lower())[:1]
                assert first == unicodedata.normalize("NFKD", piece.lower())[:1], (kind, piece, line[at:at + 9])


def test_sentencepiece_starts_count_characters_of_the_text_given(spm_model):
    tok = build_tokenizer("sentencepiece", spm_model=spm_model, lowercase=True)
    text = "İ北京"  # lower-cased, İ becomes two characters
    flat, _, starts = tok.encode_starts([text])
    at = {tok.id_to_token(i).lstrip("▁"): s for i, s in zip(flat.tolist(), starts.tolist(), strict=True)}
    assert at.get("北京", at.get("北")) == 1


def test_special_tokens_in_text_are_kept_whole(tokenizers):
    tok = tokenizers["wordpiece"]
    assert tok.encode("我[MASK]你") == [tok.token_to_id("我"), tok.mask_id, tok.token_to_id("你")]


def test_sentencepiece_ids_equal_the_library(spm_model):
    import sentencepiece as spm

    ref = spm.SentencePieceProcessor(model_file=str(spm_model))
    lines = data_file(ZH).read_text(encoding="utf-8").split("\n")[:200]
    assert build_tokenizer("sentencepiece", spm_model=spm_model).encode_batch(lines) == ref.encode(lines)


def test_missing_vocabulary_names_the_file(tmp_path):
    with pytest.raises(InputError, match="vocabulary file not found"):
        build_tokenizer("wordpiece", vocab=tmp_path / "nope.txt")
    with pytest.raises(InputError, match="needs --spm-model"):
        build_tokenizer("sentencepiece")
    with pytest.raises(KeyError, match="did you mean 'wordpiece'"):
        build_tokenizer("wordpeice", vocab="x")


def test_vocab_without_special_tokens_is_a_clear_error(tmp_path):
    v = tmp_path / "v.txt"
    v.write_text("[UNK]\na\nb\n", encoding="utf-8")
    tok = build_tokenizer("char", vocab=v)
    with pytest.raises(InputError, match=r"no \[PAD\] token.*run.py vocab"):
        _ = tok.pad_id


@pytest.mark.parametrize("kind,size", [("wordpiece", 3000), ("sentencepiece", 4000), ("char", 2000)])
def test_build_vocab(kind, size, zh_slice, tmp_path):
    out = tmp_path / ("v.model" if kind == "sentencepiece" else "vocab.txt")
    summary = build_vocab([zh_slice], kind, size, out)
    assert summary["size"] <= size and summary["size"] > size // 2
    tok = build_tokenizer(kind, vocab=out, spm_model=out)
    assert [tok.id_to_token(i) for i in range(5)] == list(SPECIAL_TOKENS)
    ids = [i for row in tok.encode_batch(zh_slice.read_text(encoding="utf-8").split("\n")) for i in row]
    unk_rate = sum(i == tok.unk_id for i in ids) / len(ids)
    assert len(ids) > 10000 and unk_rate < 0.03, unk_rate


def test_vocab_command(zh_slice, tmp_path, capsys):
    out = tmp_path / "vocab.txt"
    assert cli_main(["vocab", "--corpus", str(zh_slice), "--tokenizer", "char",
                     "--size", "500", "--out", str(out)]) == 0
    assert "Wrote a char vocabulary of 500 entries" in capsys.readouterr().out
    assert out.read_text(encoding="utf-8").split("\n")[:5] == list(SPECIAL_TOKENS)
    assert cli_main(["vocab", "--corpus", str(tmp_path / "missing.txt"), "--tokenizer", "char",
                     "--size", "500", "--out", str(out)]) == 2
    assert "corpus file not found" in capsys.readouterr().err


def test_sentencepiece_size_too_small_is_a_clear_error(zh_slice, tmp_path):
    with pytest.raises(InputError, match="could not train a 1000-entry model.*required_chars"):
        build_vocab([zh_slice], "sentencepiece", 1000, tmp_path / "m.model")
    assert not (tmp_path / "m.model").exists()
