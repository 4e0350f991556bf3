# ruff: noqa: F811  (pytest fixtures imported from corpus_helpers are redefined as arguments)
"""``run.py preprocess`` end to end on Ray: manifest counts match the shards, rows are
deterministic for a seed, the shards read back as a Ray Dataset, vocabulary checks."""

import pyarrow.parquet as pq
import pytest
from corpus_helpers import en_tok, zh_tok  # noqa: F401  (fixtures)
from data_paths import data_file

from uer_ray.cli import main as cli_main
from uer_ray.data import (
    ProcessorConfig,
    check_vocab,
    preprocess,
    read_manifest,
    read_shards,
    shard_files,
)
from uer_ray.errors import InputError, MismatchError
from uer_ray.tokenizers import load_tokenizer

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def bert_corpus(tmp_path_factory):
    """The first ~4000 lines of the bert corpus (whole documents)."""
    text = data_file("corpora/CLUECorpusSmall_bert_sampled.txt").read_text(encoding="utf-8")
    lines = text.split("\n")[:4000]
    path = tmp_path_factory.mktemp("bert") / "bert.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _rows(directory):
    return [pq.read_table(f).to_pylist() for f in shard_files(directory)]


def test_bert_preprocess_command_writes_matching_manifest(bert_corpus, tmp_path, capsys, zh_tok, en_tok,
                                                         ray_session):
    out = tmp_path / "shards"
    rc = cli_main(["preprocess", "--corpus", str(bert_corpus), "--processor", "bert",
                   "--tokenizer", "wordpiece", "--vocab", str(data_file("vocab/google_zh_vocab.txt")),
                   "--seq-length", "128", "--out", str(out), "--chunk-mb", "0.1", "--no-progress"])
    assert rc == 0
    said = capsys.readouterr().out
    assert "Preprocessed 1 file(s)" in said and "with the bert processor" in said
    m = read_manifest(out)
    assert m["processor"] == "bert" and m["seq_length"] == 128 and m["format_version"] == 1
    assert m["tokenizer"] == zh_tok.describe() and m["columns"] == ["input_ids", "segment_ids", "is_next"]
    assert m["lines"] == 4000 and m["skipped"]["total"] == 0
    assert len(m["shards"]) > 3 and m["corpus"][0]["bytes"] == bert_corpus.stat().st_size
    shards = _rows(out)
    for entry, rows in zip(m["shards"], shards, strict=True):
        assert entry["instances"] == len(rows)
        assert entry["tokens"] == sum(len(r["input_ids"]) for r in rows)
    assert m["instances"] == sum(map(len, shards)) and m["tokens"] == sum(s["tokens"] for s in m["shards"])
    ds = read_shards(out, shuffle_files=True)
    assert ds.count() == m["instances"]
    assert set(ds.schema().names) == {"input_ids", "segment_ids", "is_next"}
    check_vocab(m, zh_tok)
    # the tokenizer travels with the shards (pretrain --data DIR needs no --vocab)
    assert load_tokenizer(out / "tokenizer").describe() == zh_tok.describe()
    with pytest.raises(MismatchError, match=r"google_zh_vocab.txt.*google_uncased_en_vocab.txt.*size 21128 vs 30522"):
        check_vocab(m, en_tok)


def test_segment_jieba_writes_the_word_column_and_says_so(bert_corpus, tmp_path, capsys, ray_session):
    out = tmp_path / "seg"
    rc = cli_main(["preprocess", "--corpus", str(bert_corpus), "--processor", "bert",
                   "--tokenizer", "wordpiece", "--vocab", str(data_file("vocab/google_zh_vocab.txt")),
                   "--seq-length", "128", "--out", str(out), "--chunk-mb", "0.1", "--no-progress",
                   "--segment", "jieba"])
    assert rc == 0
    assert "jieba word boundaries (column continues_word)" in capsys.readouterr().out
    m = read_manifest(out)
    assert m["columns"] == ["input_ids", "segment_ids", "is_next", "continues_word"]
    assert m["config"]["segment"] == "jieba"
    assert m["segmenter"]["name"] == "jieba" and m["segmenter"]["version"]
    for rows in _rows(out):
        assert all(len(r["continues_word"]) == len(r["input_ids"]) for r in rows)
    assert set(read_shards(out).schema().names) == set(m["columns"])


def test_same_seed_same_rows_other_seed_other_rows(bert_corpus, tmp_path, zh_tok, ray_session):
    def run(name, seed, workers):
        preprocess([bert_corpus], tmp_path / name, processor="bert", tokenizer=zh_tok,
                   config=ProcessorConfig(seq_length=64), seed=seed, chunk_mb=0.1, workers=workers,
                   progress=False)
        return tmp_path / name

    a, b, c = run("a", 7, 2), run("b", 7, 1), run("c", 8, 2)
    files_a, files_b = shard_files(a), shard_files(b)
    assert [open(f, "rb").read() for f in files_a] == [open(f, "rb").read() for f in files_b]
    assert _rows(a) != _rows(c)


def test_missing_shards_and_manifest_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="no manifest.json"):
        read_manifest(tmp_path)
