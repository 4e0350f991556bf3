"""Generated ids back to text: special tokens dropped, WordPiece ``##`` pieces joined,
SentencePiece ``▁`` pieces spaced, and no space next to a Chinese character."""

from __future__ import annotations

from uer_testing import data_file

from uer_ray.tokenizers import build_tokenizer
from uer_ray.tokenizers.base import join_cjk


def test_wordpiece_english_joins_pieces_and_drops_special_tokens():
    tok = build_tokenizer("wordpiece", vocab=str(data_file("vocab/google_uncased_en_vocab.txt")))
    ids = tok.encode("the unaffable tokenizer")
    assert any(tok.id_to_token(i).startswith("##") for i in ids)
    assert tok.decode_text([tok.cls_id, *ids, tok.sep_id, tok.pad_id]) == "the unaffable tokenizer"


def test_wordpiece_chinese_has_no_spaces_between_characters():
    tok = build_tokenizer("wordpiece", vocab=str(data_file("vocab/google_zh_vocab.txt")))
    text = "我爱北京天安门。今天是2026年，GPT很好"
    assert tok.decode_text([tok.cls_id, *tok.encode(text), tok.sep_id]) == text.lower()


def test_sentencepiece_pieces_become_words(spm_model):
    tok = build_tokenizer("sentencepiece", spm_model=str(spm_model))
    text = "今天天气很好"
    assert tok.decode_text([tok.cls_id, *tok.encode(text), tok.sep_id]) == text


def test_join_cjk_keeps_spaces_between_latin_words():
    assert join_cjk("我 爱 北 京 。 hello world ， 你 好") == "我爱北京。hello world，你好"
