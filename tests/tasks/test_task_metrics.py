"""Metric values checked by hand (the arithmetic is in the comments)."""

import math

import pytest

from uer_ray.tasks.metrics import (
    classification_metrics,
    entity_metrics,
    entity_spans,
    ranking_metrics,
    regression_metrics,
)


def test_classification_confusion_and_per_label():
    # gold 0 0 1 1 2 / pred 0 1 1 1 0 -> rows (gold) [1 1 0] [0 2 0] [1 0 0]
    m = classification_metrics([0, 0, 1, 1, 2], [0, 1, 1, 1, 0], ["a", "b", "c"])
    assert m["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["per_label"]["a"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    # b: predicted 3 times, 2 right; all 2 gold found -> P 2/3, R 1, F 0.8
    assert m["per_label"]["b"]["precision"] == pytest.approx(2 / 3)
    assert m["per_label"]["b"]["f1"] == pytest.approx(0.8)
    assert m["per_label"]["c"]["f1"] == 0.0  # never predicted
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)


@pytest.mark.parametrize(
    "tags, spans",
    [
        ("B-PER I-PER O B-LOC", [("PER", 0, 2), ("LOC", 3, 4)]),
        ("I-PER I-PER O", [("PER", 0, 2)]),  # conlleval: I after O starts an entity
        ("B-PER I-LOC", [("PER", 0, 1), ("LOC", 1, 2)]),  # a type change splits
        ("B-LOC B-LOC", [("LOC", 0, 1), ("LOC", 1, 2)]),
        ("O O", []),
        ("B-ORG I-ORG I-ORG", [("ORG", 0, 3)]),  # runs to the end of the sentence
    ],
)
def test_entity_spans_follow_conlleval(tags, spans):
    assert entity_spans(tags.split()) == spans


def test_entity_metrics():
    gold = ["B-PER I-PER O B-LOC".split(), "O B-LOC I-LOC O".split()]
    pred = ["B-PER I-PER O B-ORG".split(), "O B-LOC O O".split()]
    # gold entities: PER(0,2) LOC(3,4) LOC(1,3); predicted PER(0,2) ORG(3,4) LOC(1,2)
    # only PER is exactly right: P = R = F = 1/3; tokens right 3/4 + 3/4
    m = entity_metrics(gold, pred)
    assert (m["correct_entities"], m["predicted_entities"], m["gold_entities"]) == (1, 3, 3)
    assert m["precision"] == pytest.approx(1 / 3)
    assert m["recall"] == pytest.approx(1 / 3)
    assert m["f1"] == pytest.approx(1 / 3)
    assert m["token_accuracy"] == pytest.approx(6 / 8)
    assert m["per_type"]["PER"]["f1"] == 1.0
    assert m["per_type"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}
    assert m["per_type"]["ORG"]["support"] == 0


def test_entity_metrics_length_mismatch():
    with pytest.raises(ValueError):
        entity_metrics([["O", "O"]], [["O"]])


def test_ranking_map_mrr():
    qids = ["q1", "q1", "q1", "q2", "q2", "q3"]
    gold = [0, 1, 1, 1, 0, 0]
    scores = [0.9, 0.8, 0.7, 0.6, 0.2, 0.5]
    # q1 ranked gold 0 1 1: AP = (1/2 + 2/3) / 2 = 7/12, RR = 1/2
    # q2 ranked gold 1 0:   AP = 1, RR = 1;  q3 has no answer and is left out
    m = ranking_metrics(qids, gold, scores)
    assert m["map"] == pytest.approx((7 / 12 + 1) / 2)
    assert m["mrr"] == pytest.approx((0.5 + 1) / 2)
    assert (m["questions"], m["questions_without_answer"]) == (2, 1)


def test_regression_pearson_spearman():
    # gold 1 2 3 4, pred 2 4 5 4: deviations (-1.5 -.5 .5 1.5) and (-1.75 .25 1.25 .25)
    # Sxy = 3.5, Sxx = 5, Syy = 4.75 -> r = 3.5 / sqrt(23.75)
    # pred ranks with the tie averaged: 1 2.5 4 2.5 -> Sxy = 3, Syy = 4.5 -> rho = 3 / sqrt(22.5)
    m = regression_metrics([1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 5.0, 4.0])
    assert m["pearson"] == pytest.approx(3.5 / math.sqrt(23.75))
    assert m["spearman"] == pytest.approx(3 / math.sqrt(22.5))
    assert m["mse"] == pytest.approx((1 + 4 + 4 + 0) / 4)


def test_constant_prediction_has_zero_correlation():
    assert regression_metrics([1.0, 2.0], [3.0, 3.0])["pearson"] == 0.0
