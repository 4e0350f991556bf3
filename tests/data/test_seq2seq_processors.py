# ruff: noqa: F811  (pytest fixtures imported from corpus_helpers are redefined as arguments)
"""The encoder-decoder processors on hand-made documents: ``t5`` (span corruption with sentinels),
``bart`` (permutation, deletion, infilling), ``gsg`` (gap sentences) and ``prefixlm``; sentinel
vocabularies; their bad options; and the real preprocess on bundled corpus slices."""

import re

import numpy as np
import pyarrow.parquet as pq
import pytest
from corpus_helpers import zh_tok  # noqa: F401  (fixture)
from data_paths import data_file

from uer_ray.cli import main as cli_main
from uer_ray.data import PROCESSORS, ProcessorConfig, preprocess, read_manifest, shard_files
from uer_ray.data.corpus import SkipLog
from uer_ray.data.noising import delete_tokens, infill, span_counts, span_window
from uer_ray.errors import InputError, OptionsError
from uer_ray.tokenizers import build_tokenizer
from uer_ray.tokenizers.sentinels import add_sentinels, sentinel_ids

ZH_VOCAB = "vocab/google_zh_vocab.txt"
ZH_DOCS = "corpora/CLUECorpusSmall_sampled.txt"
ZH_SENTENCES = "corpora/CLUECorpusSmall_bert_sampled.txt"
CHARS = "甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉戌亥"


@pytest.fixture(scope="module")
def st_tok(tmp_path_factory):
    """The Google Chinese vocabulary with 100 sentinels after it (UER-py's
    google_zh_with_sentinel_vocab.txt)."""
    out = tmp_path_factory.mktemp("sentinels") / "zh_sentinels.txt"
    add_sentinels(data_file(ZH_VOCAB), 100, out)
    return build_tokenizer("wordpiece", vocab=out)


def _run(name, tok, lines, seed=0, **config):
    proc = PROCESSORS.get(name)(tok, ProcessorConfig(**config))
    skips = SkipLog()
    table = proc.instances("doc.txt", lines, list(range(1, len(lines) + 1)), np.random.default_rng(seed), skips)
    return table, skips


def _docs(n_docs, length, seed=0):
    """Documents of ``length`` characters drawn from CHARS: one token each."""
    r = np.random.default_rng(seed)
    return ["".join(r.choice(list(CHARS), length)) for _ in range(n_docs)]


# -- sentinels -------------------------------------------------------------------------------------
def test_sentinels_follow_the_vocabulary_and_decode(st_tok):
    ids = sentinel_ids(st_tok)
    assert ids == list(range(21128, 21228))  # consecutive, after the 21,128 Google entries
    assert st_tok.decode([ids[0], ids[99]]) == "<extra_id_0> <extra_id_99>"
    assert st_tok.vocab_size == 21228 and st_tok.special_ids == {"pad": 0, "unk": 100, "cls": 101, "sep": 102,
                                                                 "mask": 103}


def test_vocab_command_adds_sentinels(tmp_path, capsys, spm_model):
    corpus = data_file(ZH_DOCS)
    built = tmp_path / "chars.txt"
    assert cli_main(["vocab", "--corpus", str(corpus), "--tokenizer", "char", "--size", "500",
                     "--sentinels", "8", "--out", str(built)]) == 0
    assert "500 entries + 8 sentinel tokens <extra_id_0> .. <extra_id_7> at ids 500-507" in capsys.readouterr().out
    char = build_tokenizer("char", vocab=built)
    assert sentinel_ids(char) == list(range(500, 508)) and char.decode([507]) == "<extra_id_7>"
    # onto an existing vocab.txt, and onto a SentencePiece model
    out = tmp_path / "zh_sentinels.txt"
    assert cli_main(["vocab", "--vocab", str(data_file(ZH_VOCAB)), "--sentinels", "3", "--out", str(out)]) == 0
    lines = out.read_text(encoding="utf-8").split("\n")
    assert lines[:21128] == data_file(ZH_VOCAB).read_text(encoding="utf-8").split("\n")[:21128]
    assert lines[21128:] == ["<extra_id_0>", "<extra_id_1>", "<extra_id_2>", ""]
    spm_out = tmp_path / "spm_sentinels.model"
    assert cli_main(["vocab", "--spm-model", str(spm_model), "--sentinels", "4", "--out", str(spm_out)]) == 0
    sp, before = build_tokenizer("sentencepiece", spm_model=spm_out), build_tokenizer("sentencepiece", spm_model=spm_model)
    assert sentinel_ids(sp) == list(range(before.vocab_size, before.vocab_size + 4))
    assert sp.encode("今天") == before.encode("今天") and sp.id_to_token(before.vocab_size) == "<extra_id_0>"
    capsys.readouterr()
    # one-line refusals
    for argv, said in [
        (["--vocab", str(out), "--sentinels", "3"], "already has 3 sentinel token(s), from <extra_id_0> on"),
        (["--vocab", str(out)], "need --sentinels N"),
        (["--vocab", str(out), "--sentinels", "3", "--corpus", str(corpus)], "give one or the other"),
        (["--tokenizer", "char", "--size", "50"], "building a vocabulary needs --corpus"),
        (["--vocab", str(tmp_path / "none.txt"), "--sentinels", "3"], "vocabulary file not found"),
    ]:
        assert cli_main(["vocab", *argv, "--out", str(tmp_path / "x.txt")]) == 2
        err = capsys.readouterr().err
        assert said in err and err.count("\n") == 1, err


def test_t5_needs_a_vocabulary_with_sentinels(zh_tok):
    with pytest.raises(InputError) as e:
        PROCESSORS.get("t5")(zh_tok, ProcessorConfig(seq_length=64))
    msg = str(e.value)
    assert msg.startswith("google_zh_vocab.txt: the wordpiece vocabulary has no sentinel tokens (<extra_id_0>")
    assert "`python run.py vocab --vocab google_zh_vocab.txt --sentinels 100 --out google_zh_vocab_sentinels.txt`" in msg
    assert "\n" not in msg


# -- t5 --------------------------------------------------------------------------------------------
def _put_back(source, target, sentinels):
    """The window a t5 row was made from: each sentinel of the source replaced by the tokens that
    follow it in the target, up to the next sentinel."""
    where = {s: k for k, s in enumerate(sentinels)}
    spans, current = {}, None
    for t in target[1:-1]:
        if t in where:
            current = where[t]
            spans[current] = []
        else:
            spans[current].append(t)
    return [x for s in source[1:-1] for x in (spans[where[s]] if s in where else [s])], spans


def test_t5_span_corruption_puts_back_to_the_document(st_tok):
    docs = _docs(3, 200) + ["", "甲乙丙", "丁"]  # an empty line, a short document, a 1-token one
    table, skips = _run("t5", st_tok, docs, seq_length=64, pack=False)
    sentinels = sentinel_ids(st_tok)
    rebuilt, n_rows = [], 0
    for src, seg, tgt in zip(table["input_ids"].to_pylist(), table["segment_ids"].to_pylist(),
                             table["tgt_ids"].to_pylist(), strict=True):
        assert src[0] == tgt[0] == st_tok.cls_id and src[-1] == tgt[-1] == st_tok.sep_id
        assert len(src) <= 64 and len(tgt) <= 64 and seg == [1] * len(src)
        window, spans = _put_back(src, tgt, sentinels)
        k = len(spans) - 1  # sentinels 0..k-1 in the source, in order; the target closes with sentinel k
        assert [s for s in src if s in sentinels] == sentinels[:k] and tgt[-2] == sentinels[k]
        assert [t for t in tgt if t in sentinels] == sentinels[:k + 1] and spans[k] == []
        noise, n_spans = span_counts(len(window), 0.15, 3.0)
        assert sum(len(v) for v in spans.values()) == noise and k == n_spans
        assert all(spans[j] for j in range(k))  # no empty span
        rebuilt += window
        n_rows += 1
    # each document cut into windows of n tokens; the 1-token document is too short to corrupt
    assert rebuilt == [i for d in docs[:3] + ["甲乙丙"] for i in st_tok.encode(d)]
    n = span_window(64, 64, 100, 0.15, 3.0)
    assert n == 69 and span_counts(69, 0.15, 3.0) == (10, 3)  # the source: 69 - 10 + 3 + 2 = 64 tokens
    assert n_rows == 3 * 3 + 1 and skips.counts == {"empty": 1}
    assert max(len(r) for r in table["input_ids"].to_pylist()) == 64


def test_t5_packs_documents_with_sep_and_respects_the_target_length(st_tok):
    docs = _docs(4, 90, seed=1)
    sentinels = sentinel_ids(st_tok)
    table, _ = _run("t5", st_tok, docs, seq_length=128, tgt_seq_length=12)
    windows = [_put_back(s, t, sentinels)[0] for s, t in
               zip(table["input_ids"].to_pylist(), table["tgt_ids"].to_pylist(), strict=True)]
    stream = [i for d in docs for i in [*st_tok.encode(d), st_tok.sep_id]][:-1]
    assert [i for w in windows for i in w] == stream  # one stream, documents joined by [SEP]
    n = span_window(128, 12, 100, 0.15, 3.0)
    assert all(len(w) == n for w in windows[:-1]) and n == 49  # 7 noise tokens in 2 spans: 7+2+3 = 12
    assert max(len(t) for t in table["tgt_ids"].to_pylist()) == 12


def test_t5_is_deterministic_per_seed_and_has_few_sentinels_to_spare(st_tok, tmp_path):
    docs = _docs(5, 300, seed=2)
    a, _ = _run("t5", st_tok, docs, seed=3, seq_length=128)
    b, _ = _run("t5", st_tok, docs, seed=3, seq_length=128)
    c, _ = _run("t5", st_tok, docs, seed=4, seq_length=128)
    assert a.equals(b) and not a["input_ids"].equals(c["input_ids"])
    dense, _ = _run("t5", st_tok, docs, seq_length=128, span_density=0.5, span_length=1.0)
    sentinels = sentinel_ids(st_tok)
    src = dense["input_ids"].to_pylist()[0]
    assert sum(s in sentinels for s in src) > 40  # many short spans
    # a vocabulary with 3 sentinels: windows shrink until 2 spans + the closing sentinel suffice
    few = tmp_path / "few.txt"
    add_sentinels(data_file(ZH_VOCAB), 3, few)
    table, _ = _run("t5", build_tokenizer("wordpiece", vocab=few), docs, seq_length=128)
    assert max(len(r) for r in table["tgt_ids"].to_pylist()) <= 2 + 2 + span_counts(
        span_window(128, 128, 3, 0.15, 3.0), 0.15, 3.0)[0] + 1
    assert span_window(128, 128, 3, 0.15, 3.0) < 60


# -- bart ------------------------------------------------------------------------------------------
def _sentence_docs():
    """Three documents of distinct sentences (3 to 12 characters), one sentence per line."""
    r = np.random.default_rng(5)
    lines = []
    for n_sent in (12, 7, 20):
        lines += ["".join(r.choice(list(CHARS), int(r.integers(3, 13)))) for _ in range(n_sent)] + [""]
    return lines


def _is_subsequence(small, big):
    it = iter(big)
    return all(x in it for x in small)


def test_bart_permutation_alone_shuffles_whole_sentences(st_tok):
    lines = _sentence_docs()
    table, _ = _run("bart", st_tok, lines, seq_length=40, bart_noise=("permutation",))
    sentences = [tuple(st_tok.encode(x)) for x in lines if x]
    moved = 0
    for src, tgt in zip(table["input_ids"].to_pylist(), table["tgt_ids"].to_pylist(), strict=True):
        assert len(src) == len(tgt) <= 40 and sorted(src) == sorted(tgt)
        # the target is consecutive sentences of one document; the source the same ones reordered
        inner = tgt[1:-1]
        parts, k = [], 0
        while k < len(inner):
            s = next(s for s in sentences if tuple(inner[k:k + len(s)]) == s)
            parts.append(s)
            k += len(s)
        rest, src_inner = list(parts), src[1:-1]
        k = 0
        while rest:  # the source is these sentences, each whole, in some order
            s = next(s for s in rest if tuple(src_inner[k:k + len(s)]) == s)
            rest.remove(s)
            k += len(s)
        moved += src != tgt
    assert table.num_rows >= 6 and moved >= table.num_rows // 2


def test_bart_deletion_alone_only_removes_tokens(st_tok):
    table, _ = _run("bart", st_tok, _sentence_docs(), seq_length=40, bart_noise=("deletion",), mask_ratio=0.25)
    for src, tgt in zip(table["input_ids"].to_pylist(), table["tgt_ids"].to_pylist(), strict=True):
        n = len(tgt) - 2
        assert len(src) - 2 == n - round(n * 0.25) and _is_subsequence(src, tgt)
        assert st_tok.mask_id not in src


def test_bart_infilling_alone_replaces_each_span_by_one_mask(st_tok):
    lines = data_file(ZH_SENTENCES).read_text(encoding="utf-8").split("\n")[:400]
    table, _ = _run("bart", st_tok, lines, seq_length=96, bart_noise=("infilling",))
    masks = removed = 0
    for src, tgt in zip(table["input_ids"].to_pylist(), table["tgt_ids"].to_pylist(), strict=True):
        assert len(src) <= 96 and len(tgt) <= 96
        kept = [t for t in src if t != st_tok.mask_id]
        n, m = len(tgt) - 2, src.count(st_tok.mask_id)
        assert len(tgt) - len(kept) == round(n * 0.3) and _is_subsequence(kept, tgt)
        assert all(not (a == b == st_tok.mask_id) for a, b in zip(src, src[1:], strict=False))  # never adjacent
        masks, removed = masks + m, removed + len(tgt) - len(kept)
    assert 2.5 < removed / masks < 3.5  # spans of Poisson(3) tokens on average (0-length ones included)


def test_infill_inserts_masks_for_zero_length_spans_within_the_limit():
    ids = np.arange(100, 140, dtype=np.int32)
    rng = np.random.default_rng(0)
    out = infill(ids, 0.25, 0.2, 7, rng, limit=60)  # lambda 0.2: mostly 0-length spans
    kept = out[out != 7]
    assert len(kept) == 30 and list(kept) == sorted(kept)  # 10 tokens masked, order kept
    assert (out == 7).sum() > 10  # more masks than masked tokens: inserted ones
    capped = infill(ids, 0.25, 0.2, 7, np.random.default_rng(0), limit=40)
    assert len(capped) <= 40 and len(capped[capped != 7]) == 30 and (capped == 7).sum() > 5
    assert list(delete_tokens(ids[:1], 0.9, rng)) == [100]  # one token always stays


def test_bart_default_noise_is_deterministic_per_seed(st_tok):
    lines = _sentence_docs()
    a, _ = _run("bart", st_tok, lines, seed=1, seq_length=48)
    b, _ = _run("bart", st_tok, lines, seed=1, seq_length=48)
    c, _ = _run("bart", st_tok, lines, seed=2, seq_length=48)
    assert a.equals(b) and not a["input_ids"].equals(c["input_ids"]) and a["tgt_ids"].equals(c["tgt_ids"])
    assert a.column_names == ["input_ids", "segment_ids", "tgt_ids"]
    # instances never exceed the target length either; a sentence longer than it is cut
    short, _ = _run("bart", st_tok, lines + ["甲" * 50], seq_length=48, tgt_seq_length=20)
    assert max(len(r) for r in short["tgt_ids"].to_pylist()) == 20
    assert max(len(r) for r in short["input_ids"].to_pylist()) <= 20


# -- gsg -------------------------------------------------------------------------------------------
def _gsg_doc():
    return [c * (k + 2) for k, c in enumerate("甲乙丙丁戊己庚辛壬癸")]  # 10 sentences: 甲甲, 乙乙乙, ...


def test_gsg_lead_masks_the_first_sentences(st_tok):
    doc = _gsg_doc()
    table, _ = _run("gsg", st_tok, doc + ["", "子丑寅"], seq_length=128)  # + a one-sentence document
    assert table.num_rows == 1
    enc = [st_tok.encode(s) for s in doc]
    m = st_tok.mask_id
    assert table["input_ids"].to_pylist() == [[st_tok.cls_id, m, m, m, *sum(enc[3:], []), st_tok.sep_id]]
    assert table["tgt_ids"].to_pylist() == [[st_tok.cls_id, *sum(enc[:3], []), st_tok.sep_id]]
    cut, _ = _run("gsg", st_tok, doc, seq_length=128, tgt_seq_length=8, gap_ratio=0.5)
    assert cut["tgt_ids"].to_pylist() == [[st_tok.cls_id, *sum(enc[:5], [])[:6], st_tok.sep_id]]


def test_gsg_random_selection_varies_with_the_seed(st_tok):
    doc = _gsg_doc()
    enc = [st_tok.encode(s) for s in doc]
    chosen = set()
    for seed in range(6):
        table, _ = _run("gsg", st_tok, doc, seed=seed, seq_length=128, gap_selection="random")
        src, tgt = table["input_ids"].to_pylist()[0], table["tgt_ids"].to_pylist()[0]
        # put each gap sentence back at its [MASK]: the document again
        gaps = [i for i, e in enumerate(enc) if e[0] not in src]
        assert len(gaps) == 3 and tgt == [st_tok.cls_id, *sum((enc[i] for i in gaps), []), st_tok.sep_id]
        rebuilt, k = [], 0
        for t in src[1:-1]:
            rebuilt += enc[gaps[k]] if t == st_tok.mask_id else [t]
            k += t == st_tok.mask_id
        assert rebuilt == sum(enc, [])
        chosen.add(tuple(gaps))
        again, _ = _run("gsg", st_tok, doc, seed=seed, seq_length=128, gap_selection="random")
        assert again.equals(table)
    assert len(chosen) >= 4


def test_gsg_long_documents_give_several_instances(st_tok):
    lines = data_file(ZH_SENTENCES).read_text(encoding="utf-8").split("\n")[:300]
    table, _ = _run("gsg", st_tok, lines, seq_length=64, tgt_seq_length=32)
    src, tgt = table["input_ids"].to_pylist(), table["tgt_ids"].to_pylist()
    assert len(src) > 30 and max(map(len, src)) <= 64 and max(map(len, tgt)) <= 32
    assert all(st_tok.mask_id in s and len(t) > 2 for s, t in zip(src, tgt, strict=True))


# -- prefixlm --------------------------------------------------------------------------------------
def test_prefixlm_segments_and_truncation(zh_tok):
    lines = ["甲乙丙\t丁戊", "no tab here", "子丑寅卯辰巳午未申酉戌亥子丑寅卯\t甲乙丙丁戊己庚辛壬癸"]
    table, skips = _run("prefixlm", zh_tok, lines, seq_length=16)
    e = zh_tok.encode
    c, s = zh_tok.cls_id, zh_tok.sep_id
    assert table["input_ids"].to_pylist() == [
        [c, *e("甲乙丙"), s, *e("丁戊"), s],
        [c, *e("子丑寅卯辰巳午"), s, *e("甲乙丙丁戊己"), s],  # 13 tokens left: the longer prefix is cut more
    ]
    assert table["segment_ids"].to_pylist() == [[1] * 5 + [2] * 3, [1] * 9 + [2] * 7]
    assert skips.counts == {"missing_tab": 1} and table.column_names == ["input_ids", "segment_ids"]
    cls = PROCESSORS.get("prefixlm")
    assert cls.supervised and cls.line_format == "prefix<TAB>target"


# -- bad options -----------------------------------------------------------------------------------
@pytest.mark.parametrize("option,value,said", [
    ("span_density", 0.0, "span_density must be in (0, 1), got 0.0"),
    ("span_length", 0.5, "span_length must be at least 1, got 0.5"),
    ("bart_noise", ("infilling", "shuffle"), "unknown bart noise 'shuffle'; known: permutation, deletion, infilling"),
    ("bart_noise", ("deletion", "deletion"), "bart_noise must name each of"),
    ("bart_noise", (), "and at least one; got nothing"),
    ("mask_ratio", 1.0, "mask_ratio must be in (0, 1), got 1.0"),
    ("poisson_lambda", 0, "poisson_lambda must be positive, got 0"),
    ("gap_ratio", 1.5, "gap_ratio must be in (0, 1), got 1.5"),
    ("gap_selection", "principal", "unknown gap_selection 'principal'; known: lead, random"),
])
def test_bad_option_values_are_one_line(option, value, said):
    with pytest.raises(ValueError, match=re.escape(said)) as e:
        ProcessorConfig(**{option: value})
    assert "\n" not in str(e.value)


def test_option_clashes_are_one_line(st_tok, zh_tok):
    with pytest.raises(OptionsError, match=r"^--tgt-seq-length 4 is too short for a t5 target"):
        PROCESSORS.get("t5")(st_tok, ProcessorConfig(seq_length=64, tgt_seq_length=4))
    for name in ("t5", "bart", "gsg"):
        with pytest.raises(OptionsError, match=f"^the {name} processor writes its target in the source vocabulary"):
            PROCESSORS.get(name)(st_tok, ProcessorConfig(seq_length=64), zh_tok)
        with pytest.raises(OptionsError, match=f"^--segment does not apply to the {name} processor"):
            PROCESSORS.get(name)(st_tok, ProcessorConfig(seq_length=64, segment="jieba"))


def test_preprocess_command_names_the_bad_flag(tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("甲乙丙\n", encoding="utf-8")
    base = ["preprocess", "--corpus", str(corpus), "--tokenizer", "wordpiece", "--vocab",
            str(data_file(ZH_VOCAB)), "--seq-length", "32", "--out", str(tmp_path / "out"), "--no-progress"]
    for extra, said in [
        (["--processor", "bart", "--bart-noise", "infilling,shufle"], "unknown bart noise 'shufle'"),
        (["--processor", "bart", "--mask-ratio", "1.5"], "--mask-ratio must be in (0, 1), got 1.5"),
        (["--processor", "t5", "--span-length", "0"], "--span-length must be at least 1, got 0.0"),
        (["--processor", "t5"], "google_zh_vocab.txt: the wordpiece vocabulary has no sentinel tokens"),
    ]:
        assert cli_main(base + extra) == 2
        err = capsys.readouterr().err
        assert said in err and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()


# -- the real preprocess ---------------------------------------------------------------------------
@pytest.mark.ray
def test_preprocess_t5_and_bart_shards(st_tok, tmp_path, capsys, ray_session):
    docs = tmp_path / "docs.txt"
    docs.write_text("\n".join(data_file(ZH_DOCS).read_text(encoding="utf-8").split("\n")[:60]) + "\n",
                    encoding="utf-8")
    m = preprocess([docs], tmp_path / "t5", processor="t5", tokenizer=st_tok, seed=7, progress=False,
                   config=ProcessorConfig(seq_length=64, tgt_seq_length=24), chunk_mb=0.02)
    assert m["columns"] == ["input_ids", "segment_ids", "tgt_ids"] and m["tgt_tokenizer"] == st_tok.describe()
    rows = [r for f in shard_files(tmp_path / "t5") for r in pq.read_table(f).to_pylist()]
    assert len(m["shards"]) > 1 and len(rows) == m["instances"] > 100
    sentinels = set(sentinel_ids(st_tok))
    assert all(len(r["input_ids"]) <= 64 and len(r["tgt_ids"]) <= 24 for r in rows)
    assert all(r["tgt_ids"][1] in sentinels and r["tgt_ids"][-2] in sentinels for r in rows)
    # the command, with the bart flags, on the sentence corpus
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("\n".join(data_file(ZH_SENTENCES).read_text(encoding="utf-8").split("\n")[:300]) + "\n",
                         encoding="utf-8")
    out = tmp_path / "bart"
    assert cli_main(["preprocess", "--corpus", str(sentences), "--processor", "bart", "--tokenizer", "wordpiece",
                     "--vocab", str(data_file(ZH_VOCAB)), "--seq-length", "64", "--bart-noise", "deletion",
                     "--mask-ratio", "0.2", "--out", str(out), "--no-progress"]) == 0
    assert "with the bart processor" in capsys.readouterr().out
    m = read_manifest(out)
    assert m["config"]["bart_noise"] == ["deletion"] and m["config"]["mask_ratio"] == 0.2
    for f in shard_files(out):
        for r in pq.read_table(f).to_pylist():
            n = len(r["tgt_ids"]) - 2
            assert _is_subsequence(r["input_ids"], r["tgt_ids"]) and len(r["input_ids"]) - 2 == n - round(n * 0.2)
