"""CRF against brute-force enumeration of every path; pooling ignores padding."""

import itertools

import pytest
import torch

from uer_ray.tasks.crf import Crf
from uer_ray.tasks.heads import SequenceHead, pool


def _path_score(crf, emissions, path):
    s = crf.start[path[0]] + crf.end[path[-1]]
    for t, k in enumerate(path):
        s = s + emissions[t, k]
        if t:
            s = s + crf.transitions[path[t - 1], k]
    return s


def test_crf_matches_enumeration_with_padding():
    torch.manual_seed(0)
    k, lengths = 3, [4, 2]
    crf = Crf(k)
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_()
    emissions = torch.randn(2, 4, k)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]], dtype=torch.bool)
    tags = torch.tensor([[0, 2, 1, 1], [2, 0, -100, -100]])
    expected_nll, expected_best = [], []
    for b, n in enumerate(lengths):
        paths = list(itertools.product(range(k), repeat=n))
        scores = torch.stack([_path_score(crf, emissions[b], p) for p in paths])
        gold = _path_score(crf, emissions[b], tags[b, :n].tolist())
        expected_nll.append(torch.logsumexp(scores, 0) - gold)
        expected_best.append(list(paths[int(scores.argmax())]))
    assert crf.nll(emissions, tags, mask).item() == pytest.approx(torch.stack(expected_nll).mean().item(), abs=1e-5)
    assert crf.decode(emissions, mask) == expected_best


def test_crf_learns_a_transition_rule():
    # Emissions say nothing; the rule "tag 1 always follows tag 0" is learnable from transitions.
    torch.manual_seed(0)
    crf = Crf(3)
    opt = torch.optim.Adam(crf.parameters(), lr=0.1)
    emissions = torch.zeros(1, 4, 3)
    tags = torch.tensor([[0, 1, 0, 1]])
    mask = torch.ones(1, 4, dtype=torch.bool)
    for _ in range(100):
        opt.zero_grad()
        crf.nll(emissions, tags, mask).backward()
        opt.step()
    assert crf.decode(emissions, mask) == [[0, 1, 0, 1]]


def test_pooling_ignores_padding():
    hidden = torch.tensor([[[1.0], [3.0], [100.0]], [[2.0], [-5.0], [4.0]]])  # (2,3,1)
    mask = torch.tensor([[True, True, False], [True, True, True]])
    assert pool(hidden, mask, "first").flatten().tolist() == [1.0, 2.0]
    assert pool(hidden, mask, "last").flatten().tolist() == [3.0, 4.0]
    assert pool(hidden, mask, "mean").flatten().tolist() == pytest.approx([2.0, 1 / 3])
    assert pool(hidden, mask, "max").flatten().tolist() == [3.0, 4.0]


def test_sequence_head_shape_and_bad_pooling():
    head = SequenceHead(8, 3, "mean")
    assert head(torch.randn(2, 5, 8), torch.ones(2, 5, dtype=torch.bool)).shape == (2, 3)
    with pytest.raises(ValueError, match="pooling"):
        SequenceHead(8, 3, "avg")
