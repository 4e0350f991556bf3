"""Text-generation metrics: hand-computed values from the published definitions."""

import math

import pytest

from uer_ray.generate.metrics import (
    METRICS,
    bleu,
    exact_match,
    rouge_l,
    score_all,
    units,
)


def test_units_levels():
    assert units("Hello, world !") == ["Hello,", "world", "!"]
    assert units("我爱 北京") == ["我", "爱", "北", "京"]
    assert units("a b", level="char") == ["a", "b"]
    assert units("我爱 北京", level="word") == ["我爱", "北京"]
    assert units("こんにちは")[0] == "こ"  # Hiragana counts as CJK
    assert units("안녕 하세요") == ["안", "녕", "하", "세", "요"]  # Hangul too
    with pytest.raises(ValueError):
        units("x", level="byte")


def test_bleu_hand_computed():
    # hyp "the cat sat on the mat" vs ref "the cat is on the mat" (both 6 words, BP = 1):
    #   1-grams: the x2, cat, on, mat match; sat does not             -> 5/6
    #   2-grams: the cat, on the, the mat match; cat sat, sat on do not -> 3/5
    #   3-grams: only "on the mat" matches                            -> 1/4
    #   4-grams: none of the 3 match                                  -> 0/3
    hyp, ref = ["the cat sat on the mat"], ["the cat is on the mat"]
    assert bleu(hyp, ref, max_n=3) == pytest.approx(100 * (5 / 6 * 3 / 5 * 1 / 4) ** (1 / 3))
    assert bleu(hyp, ref, max_n=3) == pytest.approx(50.0)
    assert bleu(hyp, ref) == 0.0  # a zero 4-gram precision without smoothing
    # smoothing 1 for n >= 2: 5/6 * 4/6 * 2/5 * 1/4 = 1/18
    assert bleu(hyp, ref, smooth=True) == pytest.approx(100 * (1 / 18) ** 0.25)


def test_bleu_identical_is_100():
    assert bleu(["a b c d e"], ["a b c d e"]) == pytest.approx(100.0)
    assert bleu(["我爱北京天安门"], ["我爱北京天安门"]) == pytest.approx(100.0)


def test_bleu_is_corpus_level_not_sentence_mean():
    # 1-grams 2/2 + 1/2 = 3/4, 2-grams 1/1 + 0/1 = 1/2 -> sqrt(3/8); sentence mean would be 50.
    score = bleu(["a b", "c d"], ["a b", "c e"], max_n=2)
    assert score == pytest.approx(100 * math.sqrt(3 / 8))


def test_bleu_brevity_penalty():
    # 4 of 6 reference words, all n-grams match: BP = exp(1 - 6/4)
    score = bleu(["the cat is on"], ["the cat is on the mat"], max_n=2)
    assert score == pytest.approx(100 * math.exp(-0.5))
    # reference lengths 3 and 5 are equally close to 4: the shorter (3) is used, so BP = 1
    assert bleu(["a b c d"], [["a b c", "a b c d e"]], max_n=1) == pytest.approx(100.0)


def test_bleu_multi_reference_clipping():
    # Papineni et al. 2002: "the" appears at most twice in a reference -> modified precision 2/7;
    # the closest reference length is 7 (= hypothesis length), so BP = 1.
    hyp = ["the the the the the the the"]
    refs = [["the cat is on the mat", "there is a cat on the mat"]]
    assert bleu(hyp, refs, max_n=1) == pytest.approx(100 * 2 / 7)


def test_bleu_errors_are_one_line():
    with pytest.raises(ValueError, match="empty") as exc:
        bleu([], [])
    assert "\n" not in str(exc.value)
    with pytest.raises(ValueError) as exc:
        bleu(["a", "b"], ["a", "b", "c"])
    assert "2" in str(exc.value) and "3" in str(exc.value) and "\n" not in str(exc.value)
    with pytest.raises(ValueError):
        bleu("a b", "a b")  # a bare string is not a corpus


def test_rouge_l_hand_computed():
    # LCS "police the gunman" = 3 -> P = R = 3/4 -> F = 3/4 whatever beta
    assert rouge_l(["police killed the gunman"], ["police kill the gunman"]) == pytest.approx(75)
    # LCS 2, P = 1, R = 1/2: F = (1 + 1.44) * 0.5 / (0.5 + 1.44 * 1)
    expected = 100 * 2.44 * 0.5 / (0.5 + 1.44)
    assert rouge_l(["a b"], ["a b c d"]) == pytest.approx(expected)
    # the LCS need not be contiguous and is symmetric: "a c d" in both orders
    assert rouge_l(["a b c d"], ["a x c y d"]) == pytest.approx(
        100 * 2.44 * (3 / 4) * (3 / 5) / (3 / 5 + 1.44 * 3 / 4))
    assert rouge_l(["a x c y d"], ["a b c d"]) == pytest.approx(
        100 * 2.44 * (3 / 5) * (3 / 4) / (3 / 4 + 1.44 * 3 / 5))
    assert rouge_l(["a b"], ["c d"]) == 0.0


def test_rouge_l_chinese_chars_and_best_reference():
    assert rouge_l(["我爱北京"], ["我爱上海"]) == pytest.approx(50.0)  # LCS 2 of 4 chars
    assert rouge_l(["我爱北京"], [["我爱上海", "我爱北京"]]) == pytest.approx(100.0)
    # mean over sentences
    assert rouge_l(["a b", "c"], ["a b", "d"]) == pytest.approx(50.0)


def test_exact_match_normalisation():
    assert exact_match(["我 爱 北京"], ["我爱北京"]) == 100.0
    assert exact_match(["  the   cat "], ["the cat"]) == 100.0
    assert exact_match(["the cat"], ["thecat"]) == 0.0  # spaces between Latin words matter
    assert exact_match(["a", "b"], [["x", "a"], "c"]) == 50.0


def test_score_all():
    scores = score_all(["the cat sat on the mat"], ["the cat sat on the mat"])
    assert set(scores) == set(METRICS) == {"bleu", "rouge_l", "exact_match"}
    assert all(v == pytest.approx(100.0) for v in scores.values())
