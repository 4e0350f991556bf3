"""The search strategies over a stepper (``uer_ray.generate.stepper``): greedy, sampling
(temperature, top-k, top-p) and beam search (length penalty, early stopping), with a
repetition penalty for all three.

They follow the definitions transformers' ``generate`` uses, so that the same weights give the
same token ids (``tests/generate/test_hf_generate.py``):

* repetition penalty (Keskar et al. 2019, CTRL): a token already in the row (prompt or
  generated) has its score divided by the penalty when positive, multiplied when negative;
  greedy and sampling apply it to the logits, beam search to the log-probabilities;
* sampling: temperature, then top-k, then top-p (Holtzman et al. 2020: the smallest set of
  most likely tokens whose probability reaches p), then one draw per row from a
  ``torch.Generator`` seeded with ``seed``;
* beam search: each step scores every continuation of every beam by its summed log-probability,
  keeps the best 2·beams (more with several stop tokens), moves those that end in a stop token
  (or reach the length limit) among the best ``beams`` to the finished list, scored
  sum / generated_length ** length_penalty, and continues the best ``beams`` that did not end.
  ``early_stopping``: True stops once ``beams`` hypotheses are finished; False stops when the
  best running beam, scored at its current length, cannot beat the worst finished one;
  ``"never"`` scores it at the longest length it could reach when length_penalty > 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

NEG = -1.0e9


@dataclass
class Hypothesis:
    """Generated ids (stop token included when one ended it), and its score: the beam score for
    beam search, else the sum of the model's log-probabilities of the ids (``logprobs``)."""

    ids: list[int]
    score: float
    logprobs: list[float]


@dataclass(frozen=True)
class Settings:
    max_new_tokens: int
    sample: bool = False
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    beams: int = 1
    length_penalty: float = 1.0
    early_stopping: bool | str = False
    num_return: int = 1
    seed: int = 0


def penalise(scores: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    if penalty == 1.0:
        return scores
    hit = torch.where(scores < 0, scores * penalty, scores / penalty)
    return torch.where(seen, hit, scores)


def warp(scores: torch.Tensor, s: Settings) -> torch.Tensor:
    """Temperature, top-k, top-p: the scores sampling draws from (-inf where excluded)."""
    if s.temperature != 1.0:
        scores = scores / s.temperature
    if s.top_k > 0:
        k = min(s.top_k, scores.shape[-1])
        kth = scores.topk(k, dim=-1).values[..., -1:]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if s.top_p < 1.0:
        ordered, order = scores.sort(dim=-1)  # ascending
        cumulative = ordered.softmax(-1).cumsum(-1)
        drop = cumulative <= 1.0 - s.top_p
        drop[..., -1] = False  # the most likely token always stays
        scores = scores.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return scores


def _seen(prompts: torch.Tensor, lengths: torch.Tensor, vocab: int) -> torch.Tensor:
    """(B,V) bool: the tokens of each row's prompt (padding excluded)."""
    real = torch.arange(prompts.shape[1], device=prompts.device) < lengths[:, None]
    seen = torch.zeros(prompts.shape[0], vocab, dtype=torch.bool, device=prompts.device)
    return seen.scatter_(1, prompts.masked_fill(~real, 0), real)


def _stops(tokens: torch.Tensor, stop: torch.Tensor) -> torch.Tensor:
    return torch.isin(tokens, stop) if stop.numel() else torch.zeros_like(tokens, dtype=torch.bool)


def one_per_row(stepper, prompts: torch.Tensor, lengths: torch.Tensor, s: Settings,
                stop: torch.Tensor, pad_id: int, capacity: int) -> list[list[Hypothesis]]:
    """Greedy or sampling: one hypothesis per prompt (``num_return`` per prompt when sampling:
    the prompts are repeated)."""
    if s.num_return > 1:
        prompts = prompts.repeat_interleave(s.num_return, 0)
        lengths = lengths.repeat_interleave(s.num_return, 0)
    b, device = prompts.shape[0], prompts.device
    generator = torch.Generator(device=device).manual_seed(s.seed) if s.sample else None
    logits = stepper.start(prompts, lengths, capacity)
    seen = _seen(prompts, lengths, logits.shape[-1]) if s.repetition_penalty != 1.0 else None
    done = torch.zeros(b, dtype=torch.bool, device=device)
    rows = torch.arange(b, device=device)
    tokens, logprobs, ended_at = [], [], torch.full((b,), s.max_new_tokens, device=device)
    for i in range(s.max_new_tokens):
        logits = logits.float()
        scores = penalise(logits, seen, s.repetition_penalty) if seen is not None else logits
        if s.sample:
            probs = warp(scores, s).softmax(-1)
            token = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        else:
            token = scores.argmax(-1)
        token = token.masked_fill(done, pad_id)
        tokens.append(token)
        logprobs.append(logits.log_softmax(-1)[rows, token])
        if seen is not None:
            seen[rows, token] = True
        ended = _stops(token, stop) & ~done
        ended_at = torch.where(ended, i + 1, ended_at)
        done |= ended
        if bool(done.all()) or i == s.max_new_tokens - 1:
            break
        logits = stepper.step(token)
    ids = torch.stack(tokens, 1).tolist()
    lps = torch.stack(logprobs, 1).tolist()
    out = []
    for row, (r_ids, r_lps, n) in enumerate(zip(ids, lps, ended_at.tolist(), strict=True)):
        n = min(n, len(r_ids))
        if s.num_return == 1 or row % s.num_return == 0:
            out.append([])
        out[-1].append(Hypothesis(r_ids[:n], float(sum(r_lps[:n])), r_lps[:n]))
    return out


def beam(stepper, prompts: torch.Tensor, lengths: torch.Tensor, s: Settings, stop: torch.Tensor,
         pad_id: int, capacity: int) -> list[list[Hypothesis]]:
    """Beam search: ``num_return`` best finished hypotheses per prompt, best first."""
    n, k, steps, device = prompts.shape[0], s.beams, s.max_new_tokens, prompts.device
    prompts, lengths = prompts.repeat_interleave(k, 0), lengths.repeat_interleave(k, 0)
    logits = stepper.start(prompts, lengths, capacity)
    vocab = logits.shape[-1]
    seen = _seen(prompts, lengths, vocab) if s.repetition_penalty != 1.0 else None
    keep = max(2, 1 + stop.numel()) * k
    top_mask = torch.arange(keep, device=device) < k
    run_tokens = torch.full((n, k, steps), pad_id, dtype=torch.long, device=device)
    run_lps = torch.zeros(n, k, steps, device=device)
    run_scores = torch.full((n, k), NEG, device=device)
    run_scores[:, 0] = 0.0
    fin_tokens, fin_lps = run_tokens.clone(), run_lps.clone()
    fin_scores = torch.full((n, k), NEG, device=device)
    fin_done = torch.zeros(n, k, dtype=torch.bool, device=device)
    fin_len = torch.zeros(n, k, dtype=torch.long, device=device)
    open_ = torch.ones(n, 1, dtype=torch.bool, device=device)
    batch_offset = (torch.arange(n, device=device) * k)[:, None]
    for i in range(steps):
        logp = logits.float().log_softmax(-1)
        if seen is not None:
            logp = penalise(logp, seen, s.repetition_penalty)
        total = (logp.view(n, k, vocab) + run_scores[..., None]).view(n, k * vocab)
        top_scores, top_index = total.topk(keep, dim=1)
        source, token = top_index // vocab, top_index % vocab
        cand_tokens = run_tokens.gather(1, source[..., None].expand(-1, -1, steps)).clone()
        cand_tokens[:, :, i] = token
        cand_lps = run_lps.gather(1, source[..., None].expand(-1, -1, steps)).clone()
        cand_lps[:, :, i] = logp.view(n, k * vocab).gather(1, top_index)
        hits = _stops(token, stop) | (i + 1 >= steps)
        # the beams that go on: the best `k` candidates that did not end
        going = top_scores + hits.float() * NEG
        chosen = going.topk(k, dim=1).indices
        run_tokens = cand_tokens.gather(1, chosen[..., None].expand(-1, -1, steps))
        run_lps = cand_lps.gather(1, chosen[..., None].expand(-1, -1, steps))
        run_scores = going.gather(1, chosen)
        parents = source.gather(1, chosen)
        # the finished list: candidates among the best `k` that ended, if they beat it
        ended = hits & top_mask
        scored = top_scores / ((i + 1) ** s.length_penalty)
        full = fin_done.all(1, keepdim=True) & (s.early_stopping is True)
        scored = scored + full.float() * NEG + (~open_).float() * NEG + (~ended).float() * NEG
        merged = torch.cat([fin_scores, scored], 1).topk(k, dim=1).indices
        fin_scores = torch.cat([fin_scores, scored], 1).gather(1, merged)
        fin_tokens = torch.cat([fin_tokens, cand_tokens], 1).gather(1, merged[..., None].expand(-1, -1, steps))
        fin_lps = torch.cat([fin_lps, cand_lps], 1).gather(1, merged[..., None].expand(-1, -1, steps))
        fin_done = torch.cat([fin_done, ended], 1).gather(1, merged)
        fin_len = torch.cat([fin_len, torch.full_like(scored, i + 1, dtype=torch.long)], 1).gather(1, merged)
        # can a running beam still beat the worst finished one?
        best_len = steps if (s.early_stopping == "never" and s.length_penalty > 0) else i + 1
        best = run_scores[:, :1] / (best_len ** s.length_penalty)
        worst = torch.where(fin_done, fin_scores.min(1, keepdim=True).values, NEG)
        open_ = open_ & (best > worst).any(1, keepdim=True)
        if (not bool(open_.any()) or (bool(fin_done.all()) and s.early_stopping is True)
                or bool(hits.all()) or i == steps - 1):
            break
        flat = (parents + batch_offset).flatten()
        stepper.reorder(flat)
        if seen is not None:
            seen = seen.index_select(0, flat)
            seen[torch.arange(n * k, device=device), run_tokens[:, :, i].flatten()] = True
        logits = stepper.step(run_tokens[:, :, i].flatten())
    out = []
    for tokens, lps, scores, lens in zip(fin_tokens.tolist(), fin_lps.tolist(), fin_scores.tolist(),
                                         fin_len.tolist(), strict=True):
        out.append([Hypothesis(t[:m], sc, lp[:m]) for t, lp, sc, m
                    in list(zip(tokens, lps, scores, lens, strict=True))[: s.num_return]])
    return out


def run(stepper, prompts: torch.Tensor, lengths: torch.Tensor, s: Settings, stop: torch.Tensor,
        pad_id: int, capacity: int) -> list[list[Hypothesis]]:
    search = beam if s.beams > 1 else one_per_row
    return search(stepper, prompts, lengths, s, stop, pad_id, capacity)


__all__ = ["Hypothesis", "Settings", "penalise", "run", "warp"]
