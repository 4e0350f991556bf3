"""The cache changes nothing but the speed: for every kind of model that generates, cached and
recomputed generation give the same ids (greedy, beam search, seeded sampling, batches of
prompts of different lengths); the recomputed path itself is checked against the model's full
forward pass, and seeds make sampling reproducible."""

from __future__ import annotations

import pytest
import torch

from uer_ray.errors import InputError, MismatchError, OptionsError
from uer_ray.generate import GenerateOptions, generate
from uer_ray.models import build_model

V, TGT_V = 60, 45
SIZES = {"emb_size": 16, "hidden_size": 16, "layers": 2, "heads": 2, "ffn_size": 32,
         "max_seq_length": 48, "dropout": 0.0}
PROMPTS = [[2, 7, 9, 11, 30], [2, 5], [2, 8, 8, 8, 8, 8, 8, 41, 3]]

T5_BLOCKS = {"pre_ln": True, "norm": "rmsnorm", "bias": False, "attention_scale": False,
             "relative_position": True, "relative_buckets": 8, "relative_max_distance": 12,
             "feed_forward": "gated", "act": "gelu_tanh", "head_size": 4}
CONTINUATION = {
    "gpt": {"encoder": "gpt"},
    "transformer-causal": {"encoder": "transformer", "encoder_options": {"transformer": {"mask": "causal"}}},
    "transformer-causal, relative bias": {"encoder": "transformer", "encoder_options": {"transformer": {
        **T5_BLOCKS, "mask": "causal"}}},
    "lstm": {"encoder": "lstm"},
    "gru": {"encoder": "gru"},
    "rnn": {"encoder": "rnn"},
    "gatedcnn": {"encoder": "gatedcnn"},
    "gatedcnn+lstm": {"encoder": ["gatedcnn", "lstm"]},
    "attention-causal (no cache: recomputed)": {"encoder": "attention",
                                                "encoder_options": {"attention": {"mask": "causal"}}},
    "bilstm bilm (forward half)": {"encoder": "bilstm", "targets": {"bilm": 1.0}, "hidden_size": 32},
    "bigru bilm (forward half)": {"encoder": "bigru", "targets": {"bilm": 1.0}, "hidden_size": 32},
}
SEQUENCE = {
    "transformer mt": {"encoder": "transformer", "decoder": "transformer", "targets": {"mt": 1.0}},
    "bilstm mt (CoVe)": {"encoder": "bilstm", "decoder": "transformer", "targets": {"mt": 1.0}},
    "lstm ae, pre-LN decoder": {"encoder": "lstm", "decoder": "transformer", "targets": {"ae": 1.0},
                                "decoder_options": {"pre_ln": True}},
    "t5-style (relative bias, rmsnorm, gated, shared embedding)": {
        "embedding": ["word"], "encoder": "transformer", "decoder": "transformer", "targets": {"t5": 1.0},
        "embedding_options": {"layernorm": False}, "encoder_options": {"transformer": T5_BLOCKS},
        "decoder_options": {**T5_BLOCKS, "position": "none", "embedding_layernorm": False,
                            "share_embedding": True},
        "target_options": {"t5": {"bias": False, "scale_output": True}}},
    "bart-style (shared, scaled embedding)": {
        "encoder": "transformer", "decoder": "transformer", "targets": {"bart": 1.0},
        "embedding_options": {"scale_embedding": True},
        "decoder_options": {"share_embedding": True, "scale_embedding": True}},
}
SEARCHES = {
    "greedy": {},
    "beam": {"beams": 3, "num_return": 2, "length_penalty": 0.7},
    "sample": {"sample": True, "top_k": 20, "top_p": 0.9, "temperature": 0.8, "seed": 5,
               "repetition_penalty": 1.3, "num_return": 2},
}


def _model(spec: dict, seed: int = 0):
    torch.manual_seed(seed)
    cfg = {"embedding": ["word", "pos"], "targets": {"lm": 1.0}, **SIZES, **spec}
    model = build_model(cfg, vocab_size=V, tgt_vocab_size=TGT_V, pad_id=0).eval()
    with torch.no_grad():  # larger weights than the initialisation: peaked, distinct outputs
        for p in model.parameters():
            p.mul_(3.0)
    return model


def _options(search: str, **more) -> GenerateOptions:
    return GenerateOptions(max_new_tokens=14, stop=[], stop_ids=[3], **SEARCHES[search], **more)


@pytest.mark.parametrize("search", list(SEARCHES))
@pytest.mark.parametrize("kind", list(CONTINUATION) + list(SEQUENCE))
def test_cached_and_recomputed_generation_give_the_same_ids(kind, search):
    model = _model({**CONTINUATION, **SEQUENCE}[kind])
    cached = generate(model, PROMPTS, _options(search), output_tokenizer=_Start())
    recomputed = generate(model, PROMPTS, _options(search, cache=False), output_tokenizer=_Start())
    assert [g.ids for g in cached] == [g.ids for g in recomputed]
    for g, h in zip(cached, recomputed, strict=True):
        assert g.scores == pytest.approx(h.scores, abs=1e-4)
    assert any(len(set(ids)) > 1 for g in cached for ids in g.ids), "outputs too degenerate to compare"


class _Start:
    """An output vocabulary whose [CLS] is id 2 (the decoder's first input) and that decodes
    nothing: these tests compare ids."""

    cls_id = 2

    def token_to_id(self, token):  # pragma: no cover - stop=[] never asks
        return None

    def decode_text(self, ids):
        return ""


@pytest.mark.parametrize("kind", ["gpt", "lstm", "gatedcnn", "bilstm bilm (forward half)"])
def test_recomputed_step_equals_the_full_forward_pass(kind):
    """The next-token logits generation reads after a prompt are the model's own logits at the
    prompt's last token (for bilm: the forward direction's)."""
    model = _model(CONTINUATION[kind])
    target = next(iter(model.targets.values()))
    from uer_ray.generate.stepper import ContinuationStepper

    ids = torch.zeros(3, 9, dtype=torch.long)
    for i, p in enumerate(PROMPTS):
        ids[i, : len(p)] = torch.tensor(p)
    lengths = torch.tensor([len(p) for p in PROMPTS])
    with torch.no_grad():
        for cache in (True, False):
            got = ContinuationStepper(model, target, cache=cache).start(ids, lengths, 20)
            for i, p in enumerate(PROMPTS):
                one = torch.tensor([p])
                full = model.logits(one, torch.ones_like(one))[next(iter(model.targets))][0, -1]
                want = full[0] if full.dim() == 2 else full  # bilm: (2,V), the forward row
                torch.testing.assert_close(got[i], want, atol=1e-5, rtol=1e-5)


def test_bidirectional_forward_states_do_not_see_later_tokens():
    """bilm's forward half at position t is the same whatever follows t (the two directions are
    separate stacks; a fused bidirectional LSTM would leak the future through layer 2)."""
    model = _model(CONTINUATION["bilstm bilm (forward half)"])
    a = torch.tensor([[2, 7, 9, 11, 30, 12]])
    b = torch.tensor([[2, 7, 9, 40, 41, 42]])
    with torch.no_grad():
        ha, hb = model.encode(a, torch.ones_like(a)), model.encode(b, torch.ones_like(b))
    torch.testing.assert_close(ha[0, :3, :16], hb[0, :3, :16])
    assert not torch.allclose(ha[0, :3, 16:], hb[0, :3, 16:])  # the backward half does see them


def test_sampling_is_reproducible_with_a_seed_and_varies_without():
    model = _model(CONTINUATION["gpt"])
    opts = dict(max_new_tokens=12, stop=[], sample=True, top_p=0.95)
    one = [g.ids for g in generate(model, PROMPTS, GenerateOptions(**opts, seed=1))]
    again = [g.ids for g in generate(model, PROMPTS, GenerateOptions(**opts, seed=1))]
    other = [g.ids for g in generate(model, PROMPTS, GenerateOptions(**opts, seed=2))]
    assert one == again and one != other


def test_greedy_is_the_argmax_chain_and_stops_at_a_stop_id():
    model = _model(CONTINUATION["lstm"])
    free = generate(model, [PROMPTS[0]], GenerateOptions(max_new_tokens=10, stop=[]))[0].ids[0]
    stop = free[4]
    got = generate(model, [PROMPTS[0]], GenerateOptions(max_new_tokens=10, stop=[], stop_ids=[stop]))[0]
    assert got.ids[0] == free[: free.index(stop) + 1]
    ids = torch.tensor([PROMPTS[0] + free[:3]])
    with torch.no_grad():
        logits = model.logits(ids, torch.ones_like(ids))["lm"][0, -1]
    assert int(logits.argmax()) == free[3]


def test_refusals_are_one_line():
    bert = build_model({"embedding": ["word", "pos", "seg"], "encoder": "transformer",
                        "targets": {"mlm": 1.0, "sp": 1.0}, **SIZES}, vocab_size=V)
    with pytest.raises(MismatchError, match=r"cannot generate text: its targets \(mlm, sp\)") as e:
        generate(bert, PROMPTS)
    assert "\n" not in str(e.value)
    gpt = _model(CONTINUATION["gpt"])
    with pytest.raises(InputError, match="positions"):
        generate(gpt, [list(range(2, 40))], GenerateOptions(max_new_tokens=20))
    cut = generate(gpt, [list(range(2, 40))], GenerateOptions(max_new_tokens=20, stop=[], long_prompt="truncate"))
    assert cut[0].truncated == 38 + 20 - 48 and len(cut[0].ids[0]) == 20
    with pytest.raises(InputError, match="empty"):
        generate(gpt, [[]])
    with pytest.raises(OptionsError, match="do not combine"):
        GenerateOptions(beams=2, sample=True)
    with pytest.raises(OptionsError, match="max-new-tokens"):
        GenerateOptions(max_new_tokens=0)
