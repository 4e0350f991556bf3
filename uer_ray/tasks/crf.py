"""A linear-chain conditional random field for sequence labelling (Lafferty et al., 2001), as the
optional output layer of the ``tag`` task: per-token emission scores plus learned tag-to-tag
transition scores, trained by the negative log-likelihood of the gold path (forward algorithm)
and decoded with Viterbi."""

from __future__ import annotations

import torch
from torch import nn


class Crf(nn.Module):
    """Transition scores for ``num_tags`` tags, with start and end scores.

    Sequences are left-aligned: ``mask`` (B,T) bool is True on real positions, which form a
    prefix of each row, and every row has at least one real position.
    """

    def __init__(self, num_tags: int):
        super().__init__()
        self.num_tags = num_tags
        self.transitions = nn.Parameter(torch.zeros(num_tags, num_tags))  # [from, to]
        self.start = nn.Parameter(torch.zeros(num_tags))
        self.end = nn.Parameter(torch.zeros(num_tags))

    def nll(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood of ``tags`` (B,T) under ``emissions`` (B,T,K)."""
        return (self._log_partition(emissions, mask) - self._path_score(emissions, tags, mask)).mean()

    def _path_score(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        tags = tags.clamp(min=0)  # padding labels (-100) are masked out below
        maskf = mask.float()
        emit = emissions.gather(2, tags.unsqueeze(2)).squeeze(2) * maskf  # (B,T)
        trans = self.transitions[tags[:, :-1], tags[:, 1:]] * maskf[:, 1:]  # (B,T-1)
        last = tags.gather(1, (mask.sum(1) - 1).unsqueeze(1)).squeeze(1)  # (B,)
        return self.start[tags[:, 0]] + emit.sum(1) + trans.sum(1) + self.end[last]

    def _log_partition(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        alpha = self.start + emissions[:, 0]  # (B,K)
        for t in range(1, emissions.size(1)):
            # (B,K,1) + (K,K) + (B,1,K) -> logsumexp over the previous tag
            step = torch.logsumexp(alpha.unsqueeze(2) + self.transitions + emissions[:, t].unsqueeze(1), dim=1)
            alpha = torch.where(mask[:, t].unsqueeze(1), step, alpha)
        return torch.logsumexp(alpha + self.end, dim=1)

    @torch.no_grad()
    def decode(self, emissions: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
        """The highest-scoring tag path of each row, as lists as long as the real positions."""
        score = self.start + emissions[:, 0]  # (B,K)
        back = []
        for t in range(1, emissions.size(1)):
            total = score.unsqueeze(2) + self.transitions  # (B,K_prev,K)
            best, arg = total.max(dim=1)
            step = best + emissions[:, t]
            keep = mask[:, t].unsqueeze(1)
            score = torch.where(keep, step, score)
            # A padded step points each tag at itself, so back-tracking passes through it.
            ident = torch.arange(self.num_tags, device=emissions.device).expand_as(arg)
            back.append(torch.where(keep, arg, ident))
        score = score + self.end
        lengths = mask.sum(1).tolist()
        best_last = score.argmax(1).tolist()
        paths = []
        for b, length in enumerate(lengths):
            tag = best_last[b]
            path = [tag]
            for t in range(len(back) - 1, -1, -1):
                tag = int(back[t][b, tag])
                path.append(tag)
            path.reverse()
            paths.append(path[:length])
        return paths
