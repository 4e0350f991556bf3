"""``generate(model, prompts, options)``: text (or ids) in, generated text and ids out, for every
model whose targets can write text (``Target.generates``): decoder-only language models
(``lm`` over ``gpt``, a causal ``transformer``, ``lstm``/``gru``/``rnn``, ``gatedcnn``;
``bilm``'s forward direction) continue the prompt; encoder–decoder models (``mt``, ``ae``)
write a new sequence from the encoded prompt.

Prompts are tokenized as the processors wrote the training rows: ``[CLS] text`` for a language
model (it goes on from there and stops at ``[SEP]``, where its documents ended), ``[CLS] text
[SEP]`` for an encoder–decoder model (whose decoder starts at the output vocabulary's
``[CLS]`` and stops at its ``[SEP]``).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Literal

import torch

from uer_ray.config import Options
from uer_ray.errors import InputError, MismatchError, OptionsError
from uer_ray.generate import search
from uer_ray.generate.stepper import ContinuationStepper, SequenceStepper, encoder_can_continue


@dataclass(frozen=True, kw_only=True)
class GenerateOptions(Options):
    """How to generate (transformers' names where they exist)."""

    max_new_tokens: int = 64
    beams: int = 1
    """beam search with this many beams (1: greedy, or sampling with ``sample``)"""
    sample: bool = False
    temperature: float = 1.0
    top_k: int = 0
    """sample among the k most likely tokens (0: all)"""
    top_p: float = 1.0
    """sample among the most likely tokens whose probability reaches p (1: all)"""
    repetition_penalty: float = 1.0
    length_penalty: float = 1.0
    """beam search: a finished hypothesis scores sum(log p) / length ** length_penalty"""
    early_stopping: bool | Literal["never"] = False
    num_return: int = 1
    """hypotheses per prompt (the best beams, or independent samples)"""
    stop: list[str] = field(default_factory=lambda: ["[SEP]"])
    """tokens that end a text (kept in ``ids``, dropped from ``text``); [] for none"""
    stop_ids: list[int] = field(default_factory=list)
    """ids that end a text too (a model without a tokenizer)"""
    seed: int = 0
    long_prompt: Literal["error", "truncate"] = "error"
    """a prompt that leaves no room for max_new_tokens within the model's positions: an error,
    or keep its end"""
    cache: bool = True
    """False: recompute the whole prefix every step (what the cache saves)"""
    batch_size: int = 32
    target: str | None = None
    """which generating target, when the model has several"""

    def __post_init__(self) -> None:
        for name in ("max_new_tokens", "beams", "num_return", "batch_size"):
            if getattr(self, name) < 1:
                raise OptionsError(f"{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.temperature <= 0:
            raise OptionsError(f"temperature must be > 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise OptionsError(f"top-p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0 or self.repetition_penalty <= 0:
            raise OptionsError("top-k must be >= 0 and repetition-penalty > 0")
        if self.sample and self.beams > 1:
            raise OptionsError("sampling and beam search do not combine here: give --sample or --beams N")
        if self.beams > 1 and self.num_return > self.beams:
            raise OptionsError(f"num-return {self.num_return} is more than the {self.beams} beams")
        if self.num_return > 1 and not self.sample and self.beams == 1:
            raise OptionsError("greedy search has one answer: num-return > 1 needs --sample or --beams")
        if self.early_stopping not in (True, False, "never"):
            raise OptionsError(f"early-stopping must be true, false or never, got {self.early_stopping!r}")


@dataclass
class Generation:
    """One prompt's result: ``texts``/``ids``/``scores``, best first (``num_return`` each);
    ``logprobs``: per generated id, the model's log-probability; ``truncated``: tokens cut from
    the prompt's start (``long_prompt="truncate"``)."""

    prompt: str | list[int]
    texts: list[str]
    ids: list[list[int]]
    scores: list[float]
    logprobs: list[list[float]]
    truncated: int = 0

    @property
    def text(self) -> str:
        return self.texts[0]


def generating_target(model, name: str | None = None) -> tuple[str, torch.nn.Module]:
    """(name, module) of the target that generates; a MismatchError says why none can."""
    targets = {n: t for n, t in model.targets.items() if getattr(t, "generates", None)}
    if name is not None:
        if name not in targets:
            why = "is not a target of this model" if name not in model.targets else "does not generate text"
            raise OptionsError(f"--target {name!r} {why} (generating targets here: "
                               f"{', '.join(targets) or 'none'})")
        return name, targets[name]
    if not targets:
        from uer_ray.targets import TARGETS

        can = [n for n, c in TARGETS.items() if c.generates]
        raise MismatchError(
            f"this model cannot generate text: its targets ({', '.join(model.targets)}) predict "
            f"{'masked tokens and labels' if 'mlm' in model.targets else 'labels or vectors'}, "
            f"not a next token; generation needs a model pre-trained with {', '.join(can)}")
    if len(targets) > 1:
        raise OptionsError(f"this model has several generating targets ({', '.join(targets)}): "
                           "choose one with --target")
    return next(iter(targets.items()))


def _position_limit(embedding) -> int | None:
    """The most positions ``embedding``'s position part has (None: no position part)."""
    parts = [embedding.part(n) for n in embedding.part_names]
    limits = [p.weight.shape[0] if hasattr(p, "weight") else p.table.shape[0]
              for p in parts if getattr(p, "positional", False)]
    return min(limits) if limits else None


def generate(model, prompts: list[str] | list[list[int]], options: GenerateOptions | None = None,
             *, tokenizer=None, output_tokenizer=None, device: str | None = None,
             bf16: bool = True, progress=None) -> list[Generation]:
    """Generate for each prompt: texts (tokenized with ``tokenizer``, default
    ``model.tokenizer``) or lists of ids (used as they are). ``output_tokenizer`` decodes an
    ``mt`` model's output (default ``model.tgt_tokenizer``); without a tokenizer the texts are
    empty and the ids say it all. ``progress(n)`` is called after each batch of n prompts."""
    o = options or GenerateOptions()
    name, target = generating_target(model, o.target)
    if not prompts:
        raise InputError("no prompts to generate from")
    tokenizer = tokenizer if tokenizer is not None else getattr(model, "tokenizer", None)
    sequence = target.generates == "sequence"
    if output_tokenizer is not None:
        out_tok = output_tokenizer
    elif sequence and target.output_vocabulary == "target":
        out_tok = getattr(model, "tgt_tokenizer", None)
        if out_tok is None and tokenizer is not None and model.config.tgt_vocab_size == model.config.vocab_size:
            out_tok = tokenizer
    else:
        out_tok = tokenizer
    as_text = isinstance(prompts[0], str)
    if as_text and tokenizer is None:
        raise MismatchError("the model has no tokenizer/ to read text prompts: pass tokenizer=, or ids")
    if not sequence:
        why = encoder_can_continue(model.config)
        if why:
            raise MismatchError(f"target {name!r} cannot continue a prompt: {why}")
    encoded = [_encode(p, tokenizer, sequence) for p in prompts] if as_text else [list(map(int, p)) for p in prompts]
    if any(not ids for ids in encoded):
        raise InputError(f"prompt {next(i for i, e in enumerate(encoded) if not e) + 1} is empty")
    stop_ids = _stop_ids(o.stop, out_tok if out_tok is not None else tokenizer) + list(o.stop_ids)
    start_id = _start_id(out_tok if out_tok is not None else tokenizer) if sequence else None
    limit = _position_limit(target.decoder.embedding if sequence else model.embedding)
    src_limit = _position_limit(model.embedding) if sequence else None
    encoded, cut = zip(*(_fit(ids, limit, src_limit, o, sequence) for ids in encoded), strict=True)

    device = device or next(model.parameters()).device.type
    model.to(device).eval()
    stop = torch.tensor(stop_ids, dtype=torch.long, device=device)
    pad_id = model.config.pad_id
    settings = search.Settings(**{f: getattr(o, f) for f in search.Settings.__dataclass_fields__})
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if bf16 and device.startswith("cuda")
                else contextlib.nullcontext())
    results: list[Generation] = []
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))  # similar lengths together
    by_index: dict[int, list[search.Hypothesis]] = {}
    with torch.inference_mode(), autocast:
        for start in range(0, len(order), o.batch_size):
            chunk = order[start : start + o.batch_size]
            rows = [encoded[i] for i in chunk]
            lengths = torch.tensor([len(r) for r in rows], device=device)
            ids = torch.full((len(rows), int(lengths.max())), pad_id, dtype=torch.long, device=device)
            for j, r in enumerate(rows):
                ids[j, : len(r)] = torch.tensor(r)
            if sequence:
                stepper = SequenceStepper(model, target, start_id, cache=o.cache)
                capacity = o.max_new_tokens
            else:
                stepper = ContinuationStepper(model, target, cache=o.cache)
                capacity = int(lengths.max()) + o.max_new_tokens
            for i, hyps in zip(chunk, search.run(stepper, ids, lengths, settings, stop, pad_id, capacity),
                               strict=True):
                by_index[i] = hyps
            if progress is not None:
                progress(len(chunk))
    for i, prompt in enumerate(prompts):
        hyps = by_index[i]
        texts = [out_tok.decode_text(_strip(h.ids, stop_ids)) if out_tok is not None else "" for h in hyps]
        results.append(Generation(prompt, texts, [h.ids for h in hyps], [h.score for h in hyps],
                                  [h.logprobs for h in hyps], cut[i]))
    return results


def _encode(text: str, tokenizer, sequence: bool) -> list[int]:
    ids = tokenizer.encode(text)
    if sequence:
        return [tokenizer.cls_id, *ids, tokenizer.sep_id]
    return [tokenizer.cls_id, *ids]


def _stop_ids(tokens: list[str], tokenizer) -> list[int]:
    if tokenizer is None:
        return []
    out = []
    for token in tokens:
        i = tokenizer.token_to_id(token)
        if i is None:
            from uer_ray.suggest import did_you_mean

            raise OptionsError(f"--stop {token!r} is not in the vocabulary"
                               f"{did_you_mean(token, ['[SEP]', '[CLS]', '[PAD]'])}")
        out.append(i)
    return out


def _start_id(tokenizer) -> int:
    if tokenizer is None:
        raise MismatchError("an encoder-decoder model needs its output tokenizer to know where "
                            "the decoder starts ([CLS]): pass output_tokenizer=")
    return tokenizer.cls_id


def _fit(ids: list[int], limit: int | None, src_limit: int | None, o: GenerateOptions,
         sequence: bool) -> tuple[list[int], int]:
    """The prompt as generation can take it, and how many tokens were cut from its start."""
    if sequence:
        if limit is not None and o.max_new_tokens > limit:
            raise OptionsError(f"max-new-tokens {o.max_new_tokens} is more than the decoder's "
                               f"{limit} positions")
        room = src_limit
        if room is None or len(ids) <= room:
            return ids, 0
        if o.long_prompt == "error":
            raise InputError(f"a prompt of {len(ids)} tokens is longer than the model's {room} "
                             "positions (long_prompt='truncate' keeps its end)")
        return [ids[0], *ids[len(ids) - room + 1 :]], len(ids) - room
    if limit is None or len(ids) + o.max_new_tokens <= limit:
        return ids, 0
    room = limit - o.max_new_tokens
    if room < 1:
        raise OptionsError(f"max-new-tokens {o.max_new_tokens} leaves no room for a prompt in the "
                           f"model's {limit} positions")
    if o.long_prompt == "error":
        raise InputError(f"a prompt of {len(ids)} tokens + {o.max_new_tokens} new ones is more than "
                         f"the model's {limit} positions (shorten it, lower --max-new-tokens, or "
                         "--long-prompt truncate to keep its last tokens)")
    return ids[len(ids) - room :], len(ids) - room


def _strip(ids: list[int], stop_ids: list[int]) -> list[int]:
    return ids[:-1] if ids and ids[-1] in stop_ids else ids


def perplexity(generation: Generation, k: int = 0) -> float:
    """exp(-mean log-probability) of hypothesis ``k``'s ids."""
    lps = generation.logprobs[k]
    return math.exp(-sum(lps) / max(len(lps), 1))
