# ruff: noqa: F811  (pytest fixtures imported from corpus_helpers are redefined as arguments)
"""Bad corpus input (DESIGN §7): each case is skipped and counted with file:line, or is an error
naming the file. Reader and processor cases run without Ray; the end-to-end ones use it."""

from pathlib import Path

import numpy as np
import pytest
from corpus_helpers import zh_tok  # noqa: F401  (fixture)
from data_paths import data_file

from uer_ray.data import PROCESSORS, ProcessorConfig, preprocess
from uer_ray.data.corpus import SkipLog, check_files, plan_chunks, read_chunk
from uer_ray.errors import InputError

ZH = "corpora/CLUECorpusSmall_sampled.txt"


def _real_lines(n, start=0):
    return data_file(ZH).read_text(encoding="utf-8").split("\n")[start:start + n]


def _read_all(path, by_document=False, chunk_bytes=1 << 20, max_line_chars=10_000):
    skips, lines, numbers = SkipLog(), [], []
    for chunk in plan_chunks([Path(path)], chunk_bytes, by_document):
        text, nos = read_chunk(chunk, skips, max_line_chars)
        lines += text
        numbers += nos
    return lines, numbers, skips


def test_undecodable_and_over_long_lines_are_skipped_with_file_line(tmp_path):
    real = _real_lines(6)
    raw = [x.encode() for x in real]
    raw[2] = b"\xff\xfe broken " + raw[2][:30]  # line 3: not UTF-8
    raw[4] = ("x" * 20_000).encode()  # line 5: over-long
    path = tmp_path / "bad.txt"
    path.write_bytes(b"\r\n".join(raw) + b"\r\n")  # CRLF endings are fine
    lines, numbers, skips = _read_all(path)
    assert skips.counts == {"undecodable": 1, "too_long": 1}
    assert skips.examples == {"undecodable": [f"{path}:3"], "too_long": [f"{path}:5"]}
    assert numbers == [1, 2, 4, 6] and lines == [real[0], real[1], real[3], real[5]]


def test_line_numbers_survive_chunking_and_documents_stay_whole(tmp_path):
    text = data_file("corpora/CLUECorpusSmall_bert_sampled.txt").read_bytes()[:300_000]
    text = text[: text.rfind(b"\n") + 1]
    path = tmp_path / "bert.txt"
    path.write_bytes(b"\xef\xbb\xbf" + text)  # with a byte-order mark
    all_lines = text.decode().split("\n")[:-1]
    chunks = plan_chunks([path], 20_000, by_document=True)
    assert len(chunks) > 5
    for c in chunks[1:]:  # every later chunk starts right after a blank line
        assert path.read_bytes()[c.start - 2:c.start] == b"\n\n"
    lines, numbers, skips = _read_all(path, by_document=True, chunk_bytes=20_000)
    assert skips.total == 0 and lines == all_lines and numbers == list(range(1, len(all_lines) + 1))


def test_empty_and_whitespace_lines_are_counted(zh_tok):
    lines = _real_lines(5)
    lines[1], lines[3] = "", " \t\u3000 "
    proc = PROCESSORS.get("mlm")(zh_tok, ProcessorConfig(seq_length=64))
    skips = SkipLog()
    table = proc.process("c.txt", lines, [1, 2, 3, 4, 5], np.random.default_rng(0), skips)
    assert skips.counts == {"empty": 2} and skips.examples["empty"] == ["c.txt:2", "c.txt:4"]
    assert sum(len(r) for r in table["input_ids"].to_pylist()) == sum(
        len(zh_tok.encode(x)) + 2 for x in lines if x.strip())


def test_malformed_mt_rows(zh_tok):
    good = data_file("corpora/news-commentary-v13-en-zh_sampled.txt").read_text(encoding="utf-8").split("\n")[:4]
    rows = [good[0], "no tab here", good[1], "a\tb\tc", "\tonly target", good[2]]
    proc = PROCESSORS.get("mt")(zh_tok, ProcessorConfig(seq_length=32))
    skips = SkipLog()
    table = proc.process("mt.tsv", rows, list(range(1, 7)), np.random.default_rng(0), skips)
    assert table.num_rows == 3
    assert skips.counts == {"missing_tab": 1, "bad_columns": 1, "empty_field": 1}
    assert skips.examples == {"missing_tab": ["mt.tsv:2"], "bad_columns": ["mt.tsv:4"],
                              "empty_field": ["mt.tsv:5"]}


def test_malformed_cls_rows_and_header(zh_tok):
    good = data_file("corpora/book_review_cls.txt").read_text(encoding="utf-8").split("\n")[:3]
    rows = ["label\ttext_a", good[0], "x\tnot a number label", "-1\tnegative", good[1], "1", good[2]]
    proc = PROCESSORS.get("cls")(zh_tok, ProcessorConfig(seq_length=32))
    skips = SkipLog()
    table = proc.process("cls.tsv", rows, list(range(1, 8)), np.random.default_rng(0), skips)
    assert table["label"].to_pylist() == [int(g[0]) for g in good]
    assert skips.counts == {"header": 1, "bad_label": 2, "missing_tab": 1}
    assert skips.examples["bad_label"] == ["cls.tsv:3", "cls.tsv:4"]
    named = PROCESSORS.get("cls")(zh_tok, ProcessorConfig(seq_length=32, labels=("neg", "pos")))
    skips = SkipLog()
    named.process("n.tsv", ["pos\t好", "meh\t一般", "neg\t差"], [1, 2, 3], np.random.default_rng(0), skips)
    assert skips.counts == {"bad_label": 1} and skips.examples["bad_label"] == ["n.tsv:2"]


def test_missing_and_empty_corpus_files_are_errors(tmp_path, zh_tok):
    with pytest.raises(InputError, match=r"nope\.txt: corpus file not found"):
        check_files([tmp_path / "nope.txt"])
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(InputError, match="the corpus is empty"):
        preprocess([tmp_path / "empty.txt"], tmp_path / "out", processor="mlm", tokenizer=zh_tok,
                   config=ProcessorConfig(seq_length=32), progress=False)
    assert not (tmp_path / "out").exists()


@pytest.mark.ray
def test_bad_lines_land_in_the_manifest(tmp_path, zh_tok, ray_session):
    raw = [x.encode() for x in _real_lines(40)]
    raw[4] = b""
    raw[9] = b"\xc3\x28 invalid"
    raw[19] = b"y" * 5000
    path = tmp_path / "mixed.txt"
    path.write_bytes(b"\n".join(raw) + b"\n")
    m = preprocess([path], tmp_path / "out", processor="mlm", tokenizer=zh_tok,
                   config=ProcessorConfig(seq_length=64), max_line_chars=4000, progress=False)
    assert m["skipped"]["counts"] == {"empty": 1, "too_long": 1, "undecodable": 1}
    assert m["skipped"]["examples"] == {"empty": [f"{path}:5"], "too_long": [f"{path}:20"],
                                        "undecodable": [f"{path}:10"]}
    assert m["lines"] == 40 and m["skipped"]["total"] == 3


@pytest.mark.ray
def test_mostly_malformed_cls_corpus_is_an_error_and_leaves_nothing(tmp_path, zh_tok, ray_session):
    # a one-document-per-line corpus passed to the cls processor by mistake
    path = tmp_path / "not_cls.txt"
    path.write_text("\n".join(_real_lines(50)) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"50 of 50 rows are malformed \(missing_tab 50; first at "
                                         r".*not_cls\.txt:1\); is this a cls corpus"):
        preprocess([path], tmp_path / "out", processor="cls", tokenizer=zh_tok,
                   config=ProcessorConfig(seq_length=64), progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not_cls.txt"]  # no output, no temp


@pytest.mark.ray
def test_corpus_without_any_instance_is_an_error(tmp_path, zh_tok, ray_session):
    path = tmp_path / "blank.txt"
    path.write_text("\n \n\t\n\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"no training instances from 4 lines \(empty 4\)"):
        preprocess([path], tmp_path / "out", processor="mlm", tokenizer=zh_tok,
                   config=ProcessorConfig(seq_length=64), progress=False)
    assert not (tmp_path / "out").exists()


def test_interrupted_preprocess_leaves_nothing_behind(tmp_path, zh_tok, monkeypatch):
    """Ctrl-C while shards are being written: neither the output nor a temporary stays."""
    import uer_ray.cluster
    import uer_ray.data.pipeline as pre

    def half_done(chunks, proc, tmp, *args):
        (tmp / "shard-00000.parquet").write_bytes(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(uer_ray.cluster, "ensure_ray", lambda address=None: False)
    monkeypatch.setattr(pre, "_run", half_done)
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(_real_lines(20)) + "\n", encoding="utf-8")
    with pytest.raises(KeyboardInterrupt):
        preprocess([corpus], tmp_path / "out", processor="mlm", tokenizer=zh_tok,
                   config=ProcessorConfig(seq_length=64), progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.txt"]


def test_crlf_documents_are_cut_at_blank_lines(tmp_path):
    text = data_file("corpora/CLUECorpusSmall_bert_sampled.txt").read_bytes()[:100_000]
    text = text[: text.rfind(b"\n") + 1]
    path = tmp_path / "crlf.txt"
    path.write_bytes(text.replace(b"\n", b"\r\n"))
    chunks = plan_chunks([path], 10_000, by_document=True)
    assert len(chunks) > 3
    assert all(path.read_bytes()[c.start - 3:c.start] == b"\n\r\n" for c in chunks[1:])
    lines, numbers, skips = _read_all(path, by_document=True, chunk_bytes=10_000)
    assert lines == text.decode().split("\n")[:-1] and numbers == list(range(1, len(lines) + 1))


def test_chunks_span_several_files_with_their_own_line_numbers(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("\n".join(_real_lines(30)) + "\n", encoding="utf-8")
    b.write_text("\n".join(_real_lines(30, start=30)) + "\n", encoding="utf-8")
    chunks = plan_chunks([a, b], 8_000, by_document=False)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert {c.path for c in chunks} == {str(a), str(b)}
    for path in (a, b):
        mine = [c for c in chunks if c.path == str(path)]
        assert mine[0].start == 0 and mine[0].first_line == 1 and mine[-1].end == path.stat().st_size
        skips, numbers = SkipLog(), []
        for c in mine:
            numbers += read_chunk(c, skips, 100_000)[1]
        assert numbers == list(range(1, 31))
