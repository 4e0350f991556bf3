"""Parity with transformers' ``generate``: a GPT-2 built by transformers from a random config
(as the conversion parity tests build it), converted into uer_ray, gives exactly the token ids
transformers gives: greedy, beam search (length penalty, early stopping true/false/never,
several hypotheses), repetition penalty, a stop token met mid-way, and batches of prompts of
different lengths (transformers left-pads them, uer_ray keeps each row at its own positions)."""

from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip("transformers")

import uer_ray  # noqa: E402
from uer_ray.generate import GenerateOptions, generate  # noqa: E402
from uer_ray.models.interop import import_hf  # noqa: E402

V = 300
GPT2 = dict(vocab_size=V, n_embd=96, n_layer=3, n_head=6, n_positions=64, n_inner=200,
            layer_norm_epsilon=1e-3, bos_token_id=1, eos_token_id=2)
PROMPTS = [[5, 17, 33, 8], [9, 100, 250, 3, 77, 12, 40], [1]]
NEW = 20

# transformers' generate keyword arguments -> the same search in GenerateOptions
SEARCHES = {
    "greedy": ({}, {}),
    "beam4": ({"num_beams": 4}, {"beams": 4}),
    "beam3-lp0.6-early-return2": ({"num_beams": 3, "length_penalty": 0.6, "early_stopping": True,
                                   "num_return_sequences": 2},
                                  {"beams": 3, "length_penalty": 0.6, "early_stopping": True, "num_return": 2}),
    "beam3-lp2-never": ({"num_beams": 3, "length_penalty": 2.0, "early_stopping": "never"},
                        {"beams": 3, "length_penalty": 2.0, "early_stopping": "never"}),
    "greedy-repetition1.5": ({"repetition_penalty": 1.5}, {"repetition_penalty": 1.5}),
    "beam2-repetition1.3": ({"num_beams": 2, "repetition_penalty": 1.3},
                            {"beams": 2, "repetition_penalty": 1.3}),
}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    g = torch.Generator().manual_seed(4)
    hf = transformers.GPT2LMHeadModel(transformers.GPT2Config(**GPT2))
    with torch.no_grad():  # every parameter random, LayerNorm weights around 1
        for name, p in hf.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            p.copy_(1.0 + 0.2 * noise if ".ln_" in name and name.endswith("weight") else 0.1 * noise)
    hf.eval()
    root = tmp_path_factory.mktemp("gpt2_generate")
    hf.save_pretrained(root / "hf")
    import_hf(root / "hf", root / "ours")
    return hf, uer_ray.load_model(root / "ours")


def _hf(hf, prompt: list[int], eos: int, kwargs: dict) -> list[list[int]]:
    with torch.no_grad():
        out = hf.generate(torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                          max_new_tokens=NEW, pad_token_id=0, eos_token_id=eos, do_sample=False, **kwargs)
    rows = [r[len(prompt):].tolist() for r in out]
    return [r[: r.index(eos) + 1] if eos in r else r for r in rows]


def _ours(model, prompts, eos: int, options: dict, cache: bool = True) -> list[list[list[int]]]:
    opts = GenerateOptions(max_new_tokens=NEW, stop=[], stop_ids=[eos], cache=cache, **options)
    return [g.ids for g in generate(model, prompts, opts)]


@pytest.mark.parametrize("search", list(SEARCHES))
def test_same_ids_as_transformers(models, search):
    hf, ours = models
    hf_kwargs, options = SEARCHES[search]
    stopped = 0
    for prompt in PROMPTS:
        free = _hf(hf, prompt, V - 1, hf_kwargs)[0]  # id V-1 never comes: the unstopped text
        for eos in {free[3], free[8]}:  # stop tokens the search meets mid-way
            want = _hf(hf, prompt, eos, hf_kwargs)
            assert _ours(ours, [prompt], eos, options)[0] == want, (prompt, eos)
            stopped += any(len(w) < NEW for w in want)
    if options.get("length_penalty", 1.0) <= 1.0:  # a penalty of 2 favours running to the limit
        assert stopped, "no hypothesis ended at the stop token: the test would not see stopping"


@pytest.mark.parametrize("search", ["greedy", "beam3-lp0.6-early-return2"])
def test_a_batch_of_different_lengths_matches_each_prompt_alone(models, search):
    hf, ours = models
    hf_kwargs, options = SEARCHES[search]
    eos = _hf(hf, PROMPTS[0], V - 1, hf_kwargs)[0][5]
    want = [_hf(hf, p, eos, hf_kwargs) for p in PROMPTS]
    assert _ours(ours, PROMPTS, eos, options) == want
    assert _ours(ours, PROMPTS, eos, options, cache=False) == want
