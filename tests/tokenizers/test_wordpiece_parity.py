"""WordPiece ids equal transformers' BertTokenizer on every line of two real corpora: the bundled
slices in every run, the whole corpora of ../shared/data with ``UER_RAY_SHARED_TESTS=1``.

In transformers 5.x ``BertTokenizer`` is the ``tokenizers``-backed class; the original pure-Python
implementation survives as ``BertTokenizerLegacy``. Both are compared.
"""

import pytest
from tokenizer_helpers import data_file, shared_data

from uer_ray.tokenizers import build_tokenizer

transformers = pytest.importorskip("transformers")

CASES = [
    ("corpora/CLUECorpusSmall_sampled.txt", "vocab/google_zh_vocab.txt"),
    ("corpora/wikitext2_valid.txt", "vocab/google_uncased_en_vocab.txt"),
]
SOURCES = [pytest.param(data_file, id="bundled"),
           pytest.param(shared_data, id="whole", marks=pytest.mark.shared_data)]


def _lines(path):
    return path.read_text(encoding="utf-8").split("\n")


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("corpus,vocab", CASES, ids=["zh", "en"])
def test_every_line_matches_bert_tokenizer(corpus, vocab, source):
    from transformers import BertTokenizer
    from transformers.models.bert.tokenization_bert import load_vocab

    lines = _lines(source(corpus))
    vocab_path = data_file(vocab)
    ours = build_tokenizer("wordpiece", vocab=vocab_path)
    assert ours.lowercase  # both vocabularies are uncased
    ref = BertTokenizer(vocab=load_vocab(str(vocab_path)), do_lower_case=True)
    expected = ref(lines, add_special_tokens=False)["input_ids"]
    got = ours.encode_batch(lines)
    flat, offsets = ours.encode_flat(lines)
    bad = [i for i, (a, b) in enumerate(zip(got, expected, strict=True)) if a != b]
    assert len(got) == len(expected) == len(lines)
    assert not bad, f"{len(bad)} of {len(lines)} lines differ, first at line {bad[0] + 1}"
    assert [flat[offsets[i]:offsets[i + 1]].tolist() for i in range(len(lines))] == expected


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("corpus,vocab", CASES, ids=["zh", "en"])
def test_matches_legacy_python_bert_tokenizer(corpus, vocab, source):
    """The original (pure-Python) BERT tokenizer, on every 4th line to keep the test short."""
    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

    lines = _lines(source(corpus))[::4]
    ours = build_tokenizer("wordpiece", vocab=data_file(vocab))
    ref = BertTokenizerLegacy(str(data_file(vocab)), do_lower_case=True)
    got = ours.encode_batch(lines)
    bad = [i for i, line in enumerate(lines) if got[i] != ref.encode(line, add_special_tokens=False)]
    assert not bad, f"{len(bad)} lines differ, first: {lines[bad[0]][:80]!r}"


def test_hard_characters_match():
    """Accents, control and zero-width characters, compatibility ideographs, special tokens."""
    from transformers import BertTokenizer
    from transformers.models.bert.tokenization_bert import load_vocab

    vocab = data_file("vocab/google_zh_vocab.txt")
    text = [
        "Café NAÏVE façade ﬁne \u00e9\u0301x",
        "ab\u200bcd 中\u200bab 中\u0301 !\u0301 \x00\ufffd\x07 \u3000全角\u3000空格",
        "豈更車 \uf900\uf901 ＡＢＣ１２３ ＃ ｛｝",
        "[CLS] x [SEP] [MASK]y 我[UNK]你 " + "a" * 120 + " unaffable",
        "\t \n", "", "emoji 😀👍🏽 and 𠀀𪚥 ext-B",
    ]
    ref = BertTokenizer(vocab=load_vocab(str(vocab)), do_lower_case=True)
    ours = build_tokenizer("wordpiece", vocab=vocab)
    assert ours.encode_batch(text) == ref(text, add_special_tokens=False)["input_ids"]
    # without special-token text the whole batch takes the vectorised path
    plain = [t for t in text if "[" not in t and "\n" not in t]
    assert ours._fast.usable("\n".join(plain), len(plain))
    assert ours.encode_batch(plain) == ref(plain, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("lowercase", [True, False], ids=["uncased", "cased"])
@pytest.mark.parametrize("vocab", ["vocab/google_zh_vocab.txt", "vocab/google_uncased_en_vocab.txt"])
def test_random_mixed_script_text_matches(vocab, lowercase):
    """Seeded random strings drawn from every character class the fast path distinguishes."""
    import random

    from transformers import BertTokenizer
    from transformers.models.bert.tokenization_bert import load_vocab

    pool = ("的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能"
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ÀÉÎõüçÅÆßñ"
            ".,;:!?'\"()[]{}<>/\\|@#$%^&*-_+=~`，。、；：？！“”‘’（）《》【】…—·￥"
            " \t\u3000\u00a0\u2009\u200b\u200d\u00ad\x00\x07\x1f\u0301\u0308\ufffd"
            "😀👍🏽𠀀ＡＢ１２＃\uf900\uf9ffΣσςΩİıĳﬁ")
    rng = random.Random(7)
    text = ["".join(rng.choice(pool) for _ in range(rng.randint(0, 60))) for _ in range(400)]
    ref = BertTokenizer(vocab=load_vocab(str(data_file(vocab))), do_lower_case=lowercase)
    ours = build_tokenizer("wordpiece", vocab=data_file(vocab), lowercase=lowercase)
    assert ours._fast is None or ours._fast.usable("\n".join(text), len(text))
    expected = ref(text, add_special_tokens=False)["input_ids"]
    got = ours.encode_batch(text)
    bad = [t for t, a, b in zip(text, got, expected, strict=True) if a != b]
    assert not bad, f"{len(bad)} differ, first {bad[0]!r}"


def test_grouped_encoding_equals_one_batch(monkeypatch):
    """encode_flat works in groups of ~1M characters; group bounds must not change any id."""
    import uer_ray.tokenizers.wordpiece as vt

    lines = _lines(data_file(CASES[0][0]))
    tok = build_tokenizer("wordpiece", vocab=data_file(CASES[0][1]))
    whole = tok.encode_batch(lines)
    monkeypatch.setattr(vt, "GROUP_CHARS", 3000)
    flat, offsets = tok.encode_flat(lines)
    assert len(offsets) == len(lines) + 1
    assert [flat[a:b].tolist() for a, b in zip(offsets[:-1], offsets[1:], strict=True)] == whole
