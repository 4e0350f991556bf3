# ruff: noqa: F811  (pytest fixtures imported from corpus_helpers are redefined as arguments)
"""Every processor on real text, the bundled corpus slices (no Ray: processors work on one chunk)."""

import numpy as np
import pytest
from corpus_helpers import en_tok, run_processor, zh_tok  # noqa: F401  (fixtures)

from uer_ray.data import PROCESSORS, ProcessorConfig
from uer_ray.data.corpus import SkipLog

ZH_DOCS = "corpora/CLUECorpusSmall_sampled.txt"
ZH_SENTENCES = "corpora/CLUECorpusSmall_bert_sampled.txt"


def test_registry_names():
    assert PROCESSORS.names() == ["ae", "bart", "bert", "bilm", "cls", "cls_mlm", "gsg", "lm", "mlm", "mt",
                                  "prefixlm", "skipthought", "sop", "t5"]


def _streams(tok, lines):
    """[CLS] doc [SEP] per non-empty document, as one list per document."""
    return [[tok.cls_id, *ids, tok.sep_id] for ids in tok.encode_batch(lines) if ids]


@pytest.mark.parametrize("name", ["mlm", "lm", "bilm"])
def test_packed_stream_processors_fill_every_row(name, zh_tok):
    lines, table, _ = run_processor(name, zh_tok, ZH_DOCS, 200, seq_length=64)
    rows = table["input_ids"].to_pylist()
    assert all(len(r) == 64 for r in rows[:-1]) and 2 <= len(rows[-1]) <= 64
    stream = [i for doc in _streams(zh_tok, lines) for i in doc]
    assert [i for r in rows for i in r] == stream  # nothing lost, nothing reordered
    assert all(set(s) == {1} for s in table["segment_ids"].to_pylist())
    assert table.schema.field("input_ids").type.value_type == "int32"
    assert table.schema.field("segment_ids").type.value_type == "int8"


@pytest.mark.parametrize("name,pack", [("mlm", False), ("ae", True)])
def test_unpacked_rows_stay_inside_one_document(name, pack, zh_tok):
    lines, table, _ = run_processor(name, zh_tok, ZH_DOCS, 100, seq_length=64, pack=pack)
    rows = table["input_ids"].to_pylist()
    docs = _streams(zh_tok, lines)
    expected = [d[k:k + 64] for d in docs for k in range(0, len(d), 64) if len(d[k:k + 64]) >= 2]
    assert rows == expected


@pytest.mark.parametrize("name", ["bert", "sop"])
def test_sentence_pair_processors(name, zh_tok):
    lines, table, _ = run_processor(name, zh_tok, ZH_SENTENCES, 3000, seq_length=128)
    ids, segs = table["input_ids"].to_pylist(), table["segment_ids"].to_pylist()
    is_next = np.asarray(table["is_next"].to_pylist())
    assert len(ids) > 500 and abs(is_next.mean() - 0.5) < 0.06
    # documents as int32 byte strings, to find A and B inside them
    docs, cur = [], []
    for ids_line, text in zip(zh_tok.encode_batch(lines), lines, strict=True):
        if text.strip():
            cur += ids_line
        elif cur:
            docs.append(np.asarray(cur, np.int32).tobytes())
            cur = []
    docs.append(np.asarray(cur, np.int32).tobytes())
    contiguous = real = 0
    for row, seg, nxt in zip(ids, segs, is_next, strict=True):
        assert len(row) <= 128 and row[0] == zh_tok.cls_id and row[-1] == zh_tok.sep_id
        first_sep = row.index(zh_tok.sep_id)
        assert seg == [1] * (first_sep + 1) + [2] * (len(row) - first_sep - 1)
        a, b = row[1:first_sep], row[first_sep + 1:-1]
        assert a and b
        pair = (a + b) if (name == "bert" or nxt) else (b + a)
        if (nxt or name == "sop") and len(row) < 128:  # untrimmed real pairs
            whole = np.asarray(pair, np.int32).tobytes()
            contiguous += any(whole in d for d in docs)
            real += 1
    # a real pair (either order for sop) is consecutive text of one document
    assert real > 100 and contiguous == real


def test_short_seq_prob_makes_shorter_instances(zh_tok):
    _, full, _ = run_processor("bert", zh_tok, ZH_SENTENCES, 2000, seq_length=128, short_seq_prob=0.0)
    _, short, _ = run_processor("bert", zh_tok, ZH_SENTENCES, 2000, seq_length=128, short_seq_prob=1.0)
    mean = lambda t: np.mean([len(r) for r in t["input_ids"].to_pylist()])  # noqa: E731
    # the target only decides where sentences stop being gathered (as in BERT's script), so
    # whole long sentences keep rows longer than the target; still clearly shorter and more
    assert mean(short) < 0.9 * mean(full) and short.num_rows > 1.1 * full.num_rows


def _skipthought(tok, lines, **config):
    proc = PROCESSORS.get("skipthought")(tok, ProcessorConfig(**config))
    skips = SkipLog()
    table = proc.process("doc.txt", lines, list(range(1, len(lines) + 1)), np.random.default_rng(0), skips)
    return table, skips


def test_skipthought_triples_stay_inside_their_documents(zh_tok):
    """One instance per sentence with a neighbour on both sides in its document: the first and
    last sentences of a document are only neighbours, a two-sentence document gives nothing,
    and a token-less line is skipped (its neighbours become each other's)."""
    lines = ["甲一", "乙二二", "丙三三三", "丁四", "", "", "戊", "己", "  ", "庚", "辛", "\x01", "壬", "癸"]
    wrap = lambda text, n=64: [zh_tok.cls_id, *zh_tok.encode(text)[: n - 2], zh_tok.sep_id]  # noqa: E731
    table, skips = _skipthought(zh_tok, lines, seq_length=64)
    assert table.column_names == ["input_ids", "segment_ids", "prev_ids", "next_ids"]
    triples = [("甲一", "乙二二", "丙三三三"), ("乙二二", "丙三三三", "丁四"), ("庚", "辛", "壬"), ("辛", "壬", "癸")]
    assert table["input_ids"].to_pylist() == [wrap(b) for _, b, _ in triples]
    assert table["prev_ids"].to_pylist() == [wrap(a) for a, _, _ in triples]
    assert table["next_ids"].to_pylist() == [wrap(c) for _, _, c in triples]
    assert table["segment_ids"].to_pylist() == [[1] * len(wrap(b)) for _, b, _ in triples]
    assert skips.counts == {"no_tokens": 1}  # blank (or whitespace) lines only separate documents
    for column in ("input_ids", "prev_ids", "next_ids"):
        assert table.schema.field(column).type.value_type == "int32"
    assert _skipthought(zh_tok, lines, seq_length=64)[0].equals(table)  # no randomness


def test_skipthought_truncates_the_sentence_and_its_neighbours(zh_tok):
    lines = ["一二三四五六七八九十"] * 3 + ["", "甲", "乙", "丙"]
    table, _ = _skipthought(zh_tok, lines, seq_length=8, tgt_seq_length=5)
    ids = zh_tok.encode(lines[0])
    assert table["input_ids"].to_pylist()[0] == [zh_tok.cls_id, *ids[:6], zh_tok.sep_id]
    assert table["prev_ids"].to_pylist()[0] == table["next_ids"].to_pylist()[0] == [zh_tok.cls_id, *ids[:3], zh_tok.sep_id]
    table, _ = _skipthought(zh_tok, lines, seq_length=8)  # neighbours default to seq_length
    assert len(table["next_ids"].to_pylist()[0]) == 8 and table.num_rows == 2


def test_skipthought_on_the_bert_corpus(zh_tok):
    lines, table, _ = run_processor("skipthought", zh_tok, ZH_SENTENCES, 2000, seq_length=64)
    docs, cur = [], []
    for ids, text in zip(zh_tok.encode_batch(lines), lines, strict=True):
        if text.strip() and ids:
            cur.append([zh_tok.cls_id, *ids[:62], zh_tok.sep_id])
        elif not text.strip() and cur:
            docs.append(cur)
            cur = []
    docs.append(cur)
    expected = [(d[i - 1], d[i], d[i + 1]) for d in docs for i in range(1, len(d) - 1)]
    got = zip(table["prev_ids"].to_pylist(), table["input_ids"].to_pylist(), table["next_ids"].to_pylist(),
              strict=True)
    assert len(expected) > 500 and [tuple(t) for t in got] == expected


def test_mt_uses_the_target_tokenizer(zh_tok, en_tok):
    lines, table, skips = run_processor("mt", en_tok, "corpora/news-commentary-v13-en-zh_sampled.txt",
                                        300, seq_length=64, tgt_tokenizer=zh_tok, tgt_seq_length=48)
    src, tgt = table["input_ids"].to_pylist(), table["tgt_ids"].to_pylist()
    good = [x.split("\t") for x in lines if len(x.split("\t")) == 2 and all(f.strip() for f in x.split("\t"))]
    assert len(src) == len(good) == 300 - skips.total
    for (s, t), si, ti in zip(good, src, tgt, strict=True):
        assert si == [en_tok.cls_id, *en_tok.encode(s)[:62], en_tok.sep_id]
        assert ti == [zh_tok.cls_id, *zh_tok.encode(t)[:46], zh_tok.sep_id]


@pytest.mark.parametrize("name", ["cls", "cls_mlm"])
def test_cls_single_and_pair_rows(name, zh_tok):
    lines, table, skips = run_processor(name, zh_tok, "corpora/book_review_cls.txt", 400, seq_length=64)
    labels = table["label"].to_pylist()
    assert skips.total == 0 and len(labels) == 400 and set(labels) == {0, 1}
    assert labels == [int(x.split("\t")[0]) for x in lines]
    row = table["input_ids"].to_pylist()[0]
    assert row == [zh_tok.cls_id, *zh_tok.encode(lines[0].split("\t")[1])[:62], zh_tok.sep_id]
    # label<TAB>text_a<TAB>text_b, with label names: both texts fit in seq_length, b in segment 2
    pairs = [f"{'pos' if x[0] == '1' else 'neg'}\t{x[2:]}\t{x[2:][::-1]}" for x in lines[:50]]
    proc = PROCESSORS.get(name)(zh_tok, ProcessorConfig(seq_length=64, labels=("neg", "pos")))
    t2 = proc.process("pairs.tsv", pairs, list(range(2, 52)), np.random.default_rng(0), SkipLog())
    assert t2["label"].to_pylist() == labels[:50]
    for ids, seg in zip(t2["input_ids"].to_pylist(), t2["segment_ids"].to_pylist(), strict=True):
        assert len(ids) <= 64 and ids.count(zh_tok.sep_id) == 2 and seg[-1] == 2 and seg[0] == 1


@pytest.mark.parametrize("kind", ["sentencepiece", "char"])
def test_stream_processor_with_other_tokenizers(kind, tmp_path, spm_model):
    from data_paths import data_file

    from uer_ray.tokenizers import build_tokenizer, build_vocab

    if kind == "sentencepiece":
        tok = build_tokenizer(kind, spm_model=spm_model)
    else:
        build_vocab([data_file(ZH_DOCS)], "char", 4000, tmp_path / "chars.txt")
        tok = build_tokenizer(kind, vocab=tmp_path / "chars.txt")
    lines, table, _ = run_processor("mlm", tok, ZH_DOCS, 100, seq_length=64)
    assert [i for r in table["input_ids"].to_pylist() for i in r] == [
        i for doc in _streams(tok, lines) for i in doc]
