# ruff: noqa: F811  (pytest fixtures imported from corpus_helpers are redefined as arguments)
"""Chinese whole-word masking: jieba words aligned with the tokens at preprocessing, carried by
the ``continues_word`` column, and picked whole by the collator; shards without the column
mask exactly as before."""

import hashlib

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from corpus_helpers import en_tok, run_processor, zh_tok  # noqa: F401  (fixtures)
from data_paths import REPO, data_file

from uer_ray.data import PROCESSORS, Collator, MaskingConfig, ProcessorConfig
from uer_ray.data.corpus import SkipLog
from uer_ray.data.masking import IGNORE
from uer_ray.data.words import (
    WORD_COLUMN,
    _by_offsets,
    continues_word,
    glued_pieces,
    segment,
    word_lengths,
)
from uer_ray.tokenizers import build_tokenizer, load_tokenizer

SENTENCE = "我们在北京大学学习自然语言处理"  # jieba: 我们 在 北京大学 学习 自然语言 处理
LEGACY = REPO / "tests" / "fixtures" / "legacy" / "shards"


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


@pytest.mark.parametrize("kind,vocab", [("wordpiece", "google_zh_vocab.txt"), ("char", "google_zh_vocab.txt"),
                                        ("wordpiece", "google_uncased_en_vocab.txt")])
def test_the_shortcut_gives_the_rule_of_the_offsets(kind, vocab):
    """Texts whose ids are their words' ids end to end skip the character offsets: the flags
    must be those the offsets give, on Chinese and mixed Chinese/English lines."""
    tok = build_tokenizer(kind, vocab=data_file(f"vocab/{vocab}"))
    lines = [x for rel, n in (("CLUECorpusSmall_bert_sampled.txt", 1500),
                              ("news-commentary-v13-en-zh_sampled.txt", 400))
             for x in data_file(f"corpora/{rel}").read_text(encoding="utf-8").split("\n")[:n]]
    flat, offsets, cont = continues_word(tok, lines)
    ids, offsets2, by_offsets = _by_offsets(tok, lines, segment(lines), glued_pieces(tok))
    assert np.array_equal(flat, ids) and np.array_equal(offsets, offsets2)
    assert np.array_equal(cont, by_offsets)


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


def _sentence_rows(tok, n=16):
    """Rows of [CLS] SENTENCE [SEP] (twice in the second segment) with their word column."""
    flat, _, cont = continues_word(tok, [SENTENCE])
    ids = np.r_[tok.cls_id, flat, tok.sep_id, flat, flat, tok.sep_id].astype(np.int32)
    words_col = np.r_[0, cont, 0, cont, cont, 0].astype(np.int8)
    return [{"input_ids": ids, WORD_COLUMN: words_col} for _ in range(n)]


@pytest.mark.parametrize("strategy", ["whole_word", "span"])
def test_whole_word_masking_masks_whole_jieba_words(zh_tok, strategy):
    rows = _sentence_rows(zh_tok)
    cont = rows[0][WORD_COLUMN].astype(bool)
    word_of = np.cumsum(~cont)  # word number of every position ([CLS]/[SEP] are words of their own)
    sizes = np.bincount(word_of)
    picked_sizes = []
    for seed in range(40):
        out = Collator.from_tokenizer(zh_tok, masking=MaskingConfig(strategy=strategy), seed=seed)(rows)
        picked = (out["mlm_labels"] != IGNORE).numpy()
        for row in picked:
            hit = np.bincount(word_of[row], minlength=len(sizes))
            assert ((hit == 0) | (hit == sizes)).all()  # every picked word entirely, never a part
            picked_sizes += sizes[np.flatnonzero(hit)].tolist()
        # the 80/10/10 choice is made once per word: a [MASK] never stops inside a word
        ids = out["input_ids"].numpy()
        for r in range(len(rows)):
            for w in np.unique(word_of[picked[r]]):
                masked = ids[r][word_of == w] == zh_tok.mask_id
                assert masked.all() or not masked.any()
    assert max(picked_sizes) == 4 and min(picked_sizes) == 1  # 北京大学 and 在 both get picked


def test_token_masking_ignores_the_column(zh_tok):
    rows = _sentence_rows(zh_tok)
    bare = [{"input_ids": r["input_ids"]} for r in rows]
    a = Collator.from_tokenizer(zh_tok, masking=MaskingConfig(), seed=2)(rows)
    b = Collator.from_tokenizer(zh_tok, masking=MaskingConfig(), seed=2)(bare)
    assert a.keys() == b.keys() and WORD_COLUMN not in a
    assert all(torch.equal(a[k], b[k]) for k in a)


# masks drawn by the code before the column existed (seed 11, rank 1, three batches)
BEFORE = {("legacy", "token"): "69529c6b4131b39d", ("legacy", "whole_word"): "bd976876224c91fc",
          ("legacy", "span"): "bebac09b275da87a", ("en", "token"): "4027e6ce5af5d6e6",
          ("en", "whole_word"): "ec16751e063245ea", ("en", "span"): "146b52a95c28a52b"}


@pytest.mark.parametrize("name,strategy", sorted(BEFORE))
def test_shards_without_the_column_mask_as_before(name, strategy, en_tok):
    if name == "legacy":  # the committed legacy shard: char tokenizer, no segmentation
        tok = load_tokenizer(LEGACY / "tokenizer")
        rows = [{k: np.asarray(v) for k, v in r.items()}
                for r in pq.read_table(LEGACY / "shard-00000.parquet").to_pylist()[:64]]
    else:
        tok = en_tok
        lines = [x for x in data_file("corpora/wikitext2_valid.txt").read_text(encoding="utf-8")
                 .split("\n") if x.strip()][:64]
        rows = [{"input_ids": np.array([tok.cls_id] + ids[:126] + [tok.sep_id], np.int32)}
                for ids in tok.encode_batch(lines)]
    c = Collator.from_tokenizer(tok, masking=MaskingConfig(strategy=strategy), seed=11, rank=1)
    h = hashlib.sha256()
    for _ in range(3):
        out = c(rows)
        h.update(out["input_ids"].numpy().tobytes())
        h.update(out["mlm_labels"].numpy().tobytes())
    assert h.hexdigest()[:16] == BEFORE[(name, strategy)]


def test_the_column_as_ray_data_hands_it(zh_tok):
    """iter_torch_batches gives columns as object arrays of read-only arrays (or one 2-D array)."""
    rows = _sentence_rows(zh_tok, n=4)
    cols = {}
    for k in rows[0]:
        cols[k] = np.empty(len(rows), dtype=object)
        for i, r in enumerate(rows):
            v = r[k].copy()
            v.flags.writeable = False
            cols[k][i] = v
    stacked = {k: np.stack([r[k] for r in rows]) for k in rows[0]}
    masking = MaskingConfig(strategy="whole_word")
    ref = Collator.from_tokenizer(zh_tok, masking=masking, seed=4)(rows)
    for batch in (cols, stacked):
        out = Collator.from_tokenizer(zh_tok, masking=masking, seed=4)(batch)
        assert all(torch.equal(out[k], ref[k]) for k in ref)


@pytest.mark.ray
@pytest.mark.parametrize("cache", [False, True])
def test_segmented_shards_through_ray_data_mask_whole_words(zh_tok, tmp_path, cache, ray_session):
    """The training stream (Ray Data, streamed or cached, ``--cache-data``) brings the column to
    the collator, which masks whole jieba words."""
    import itertools

    from uer_ray.train.batches import StreamConfig, micro_batches
    from uer_ray.train.state import Position

    _, table, _ = run_processor("mlm", zh_tok, "corpora/CLUECorpusSmall_sampled.txt", 60,
                                seq_length=64, segment="jieba")
    pq.write_table(table, tmp_path / "shard.parquet")
    ds = ray_session.data.read_parquet(str(tmp_path / "shard.parquet"))
    collator = Collator.from_tokenizer(zh_tok, masking=MaskingConfig(strategy="whole_word"), seed=1)
    cfg = StreamConfig(batch_size=8, seed=1, shuffle_buffer=0, cache=cache)
    rows = [(np.asarray(r["input_ids"]), np.asarray(r[WORD_COLUMN], bool)) for r in table.to_pylist()]
    longest = 0
    for _, _, batch in itertools.islice(micro_batches(ds, collator, Position(), cfg, rank=0), 4):
        assert WORD_COLUMN not in batch
        labels, inputs = batch["mlm_labels"].numpy(), batch["input_ids"].numpy()
        for lab, inp in zip(labels, inputs, strict=True):
            picked = lab != IGNORE
            original = np.where(picked, lab, inp)
            ids, cont = next((i, c) for i, c in rows if len(i) <= len(original)
                             and np.array_equal(i, original[: len(i)]))
            word_of = np.cumsum(~cont)
            hit = np.bincount(word_of[picked[: len(ids)]], minlength=word_of.max() + 1)
            sizes = np.bincount(word_of)
            assert picked.any() and ((hit == 0) | (hit == sizes)).all()
            longest = max(longest, int(sizes[hit > 0].max()))
    assert longest >= 3
