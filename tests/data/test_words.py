# ruff: noqa: F811  (pytest fixtures imported from corpus_helpers are redefined as arguments)
"""Chinese word boundaries: jieba words aligned with the tokens at preprocessing, carried by the
``continues_word`` column."""

import numpy as np
import pytest
from corpus_helpers import en_tok, run_processor, zh_tok  # noqa: F401  (fixtures)
from data_paths import REPO, data_file

from uer_ray.data import PROCESSORS, ProcessorConfig
from uer_ray.data.corpus import SkipLog
from uer_ray.data.words import WORD_COLUMN, continues_word, word_lengths
from uer_ray.tokenizers import build_tokenizer

SENTENCE = "我们在北京大学学习自然语言处理"  # jieba: 我们 在 北京大学 学习 自然语言 处理


def words(tok, text):
    """The words of ``text`` as the shards record them: lists of vocabulary tokens."""
    flat, _, cont = continues_word(tok, [text])
    out = []
    for i, c in zip(flat.tolist(), cont.tolist(), strict=True):
        if not c or not out:
            out.append([])
        out[-1].append(tok.id_to_token(i))
    return [" ".join(w) for w in out]


def test_jieba_words_of_the_sentence():
    assert word_lengths([SENTENCE]).tolist() == [2, 1, 4, 2, 4, 2]
    assert word_lengths(["", "北京", ""]).tolist() == [2]


def test_a_jieba_word_of_n_characters_is_n_character_tokens(zh_tok):
    assert words(zh_tok, SENTENCE) == ["我 们", "在", "北 京 大 学", "学 习", "自 然 语 言", "处 理"]
    char = build_tokenizer("char", vocab=data_file("vocab/google_zh_vocab.txt"))
    assert words(char, SENTENCE) == ["我 们", "在", "北 京 大 学", "学 习", "自 然 语 言", "处 理"]


def test_alignment_on_mixed_chinese_english_digits(zh_tok, en_tok):
    # jieba: 他用 iPhone12 拍 了 42 ℃ 的 照片 ' ' hello ' ' world; WordPiece splits iPhone12 and
    # glues 42℃ (42 ##℃): a WordPiece word is never cut, spaces make no token
    assert words(zh_tok, "他用iPhone12拍了42℃的照片 hello world") == [
        "他 用", "iphone ##12", "拍", "了", "42 ##℃", "的", "照 片", "hello", "world"]
    # [UNK] (the literal token, and a character outside the vocabulary) starts a word where its
    # text starts; a character unknown to the vocabulary inside a jieba word (们 in English
    # BERT's) continues that word
    assert words(zh_tok, "我们[UNK]𠀀。") == ["我 们", "[UNK]", "[UNK]", "。"]
    assert words(en_tok, "我们在北京 unbelievable results") == [
        "我 [UNK]", "[UNK]", "北 京", "unbelievable", "results"]


def test_alignment_with_sentencepiece(spm_model):
    tok = build_tokenizer("sentencepiece", spm_model=spm_model)
    got = words(tok, SENTENCE + " hello")
    # pieces never split: a piece over a jieba boundary joins the words it spans, a piece inside
    # a jieba word continues it; ▁-less Chinese pieces are not glued (▁ marks no Chinese word)
    assert "".join(got).replace(" ", "").replace("▁", "") == SENTENCE + "hello"
    flat, _, cont = continues_word(tok, [SENTENCE])
    starts = np.cumsum([len(tok.id_to_token(i).replace("▁", "")) for i in flat]) \
        - [len(tok.id_to_token(i).replace("▁", "")) for i in flat]
    jieba_starts = {0, 2, 3, 7, 9, 13}
    for s, c, i in zip(starts.tolist(), cont.tolist(), flat.tolist(), strict=True):
        if tok.id_to_token(i) != "▁":
            assert c == (s not in jieba_starts), (tok.id_to_token(i), s)


@pytest.mark.parametrize("name", ["mlm", "bert", "cls"])
def test_segmentation_adds_the_column_and_changes_no_id(name, zh_tok):
    rel, n = {"mlm": ("corpora/CLUECorpusSmall_sampled.txt", 200),
              "bert": ("corpora/CLUECorpusSmall_bert_sampled.txt", 400),
              "cls": ("corpora/book_review_cls.txt", 200)}[name]
    _, plain, _ = run_processor(name, zh_tok, rel, n, seq_length=64)
    _, seg, _ = run_processor(name, zh_tok, rel, n, seq_length=64, segment="jieba")
    assert seg.column_names == plain.column_names + [WORD_COLUMN]
    assert seg.drop_columns([WORD_COLUMN]).equals(plain)
    ids, cont = seg["input_ids"].to_pylist(), seg[WORD_COLUMN].to_pylist()
    assert [len(r) for r in ids] == [len(r) for r in cont]
    special = {zh_tok.cls_id, zh_tok.sep_id}
    assert all(c == 0 for r, f in zip(ids, cont, strict=True) for i, c in zip(r, f, strict=True)
               if i in special)
    share = np.mean([c for f in cont for c in f])
    assert 0.2 < share < 0.6  # Chinese words are mostly two characters or more


def test_packed_rows_carry_each_documents_words(zh_tok):
    lines, table, _ = run_processor("mlm", zh_tok, "corpora/CLUECorpusSmall_sampled.txt", 50,
                                    seq_length=64, segment="jieba")
    docs = [x for x in lines if x.strip()]
    flat, offsets, cont = continues_word(zh_tok, docs)
    expected = np.concatenate([np.r_[0, cont[a:b], 0] for a, b in zip(offsets[:-1], offsets[1:], strict=True)
                               if b > a])
    got = np.concatenate([np.asarray(r) for r in table[WORD_COLUMN].to_pylist()])
    assert np.array_equal(got, expected[: len(got)])


def test_segment_option_is_checked():
    with pytest.raises(ValueError, match="unknown word segmenter 'thulac'"):
        ProcessorConfig(segment="thulac")


def test_processor_pickles_with_its_segmenter(zh_tok):
    import pickle

    proc = PROCESSORS.get("mlm")(zh_tok, ProcessorConfig(seq_length=32, segment="jieba"))
    again = pickle.loads(pickle.dumps(proc))
    lines = [SENTENCE, "我们去北京"]
    a = proc.instances("x", lines, [1, 2], np.random.default_rng(0), SkipLog())
    b = again.instances("x", lines, [1, 2], np.random.default_rng(0), SkipLog())
    assert a.equals(b) and a[WORD_COLUMN].to_pylist()[0][:5] == [0, 0, 1, 0, 0]


def test_jieba_is_quiet_and_loads_once_per_process():
    import os
    import subprocess
    import sys

    code = ("from uer_ray.data import words\n"
            "words.word_lengths(['我们在北京'])\n"
            "seg = words._segmenters['jieba']\n"
            "words.word_lengths(['自然语言处理'])\n"
            "assert words._segmenters['jieba'] is seg\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and done.stdout == ""
