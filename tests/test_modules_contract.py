"""The contract every registered module keeps (DESIGN §4), checked for every registry entry and a
set of stacks: it builds from a config dict, gives the documented shapes, backpropagates finite
gradients into every parameter, its config round-trips through a plain dict and JSON, and its
weights survive a save/load unchanged."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

import uer_ray
from uer_ray.decoders import DECODERS
from uer_ray.embeddings import EMBEDDINGS, SUBENCODERS
from uer_ray.encoders import ENCODERS
from uer_ray.models import ModelConfig, build_model, save_pretrained
from uer_ray.targets import TARGETS

V, TGT_V, B, T, TGT_T = 37, 23, 3, 10, 6
SIZES = {"emb_size": 12, "hidden_size": 12, "layers": 2, "heads": 2, "ffn_size": 20,
         "max_seq_length": 16, "dropout": 0.0}
BIDIRECTIONAL = {"bilstm", "bigru"}
T5_BLOCKS = {"pre_ln": True, "norm": "rmsnorm", "bias": False, "attention_scale": False,
             "relative_position": True, "relative_buckets": 8, "relative_max_distance": 16,
             "feed_forward": "gated", "act": "gelu_tanh", "layernorm_eps": 1e-6, "head_size": 4}
SEQUENCES = sorted({c for _, cls in TARGETS.items() for c in cls.logits_columns})
"""the sequences some target's ``logits`` teacher-forces (``tgt_ids``, ...): the batch has them all"""


def base(**overrides) -> dict:
    return {"embedding": ["word", "pos", "seg"], "encoder": "transformer",
            "targets": {"mlm": 1.0, "sp": 1.0}, **SIZES, **overrides}


def batch() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, V, (B, T), generator=g)
    seg = torch.ones(B, T, dtype=torch.long)
    seg[0, 5:] = 2
    seg[1, 6:] = 0
    mlm = torch.full((B, T), -100)
    mlm[:, 2] = ids[:, 2]
    tgt = torch.randint(5, TGT_V, (B, TGT_T), generator=g)
    tgt[1, 4:] = 0
    out = {"input_ids": ids, "segment_ids": seg, "mlm_labels": mlm, "is_next": torch.tensor([1, 0, 1]),
           "label": torch.tensor([0, 1, 1]), "tgt_ids": tgt}
    for column in SEQUENCES:  # every other teacher-forced sequence (skipthought's neighbours)
        if column not in out:
            out[column] = torch.randint(5, TGT_V, (B, TGT_T), generator=g)  # ids of either vocabulary
            out[column][1, 4:] = 0
    return out


def target_config(name: str) -> dict:
    """The smallest model that can train target ``name``: a causal encoder for next-token
    targets, a bidirectional one when nothing else builds, a decoder when it needs one."""
    cls = TARGETS.get(name)
    cfg = base(targets={name: 1.0}, encoder="gpt" if cls.predicts_next_token else "transformer")
    if cls.needs_mask:  # prefixlm: the transformer with the mask it names
        cfg["encoder_options"] = {"transformer": {"mask": cls.needs_mask}}
    if cls.needs_decoder:
        cfg["decoder"] = "transformer"
    try:
        build_model(cfg, vocab_size=V, tgt_vocab_size=TGT_V)
    except ValueError:
        cfg["encoder"] = next(n for n, e in ENCODERS.items() if e.bidirectional)
    return cfg


def expected_logits(name: str) -> tuple[int, ...]:
    """``Target.logits_shape`` in this test's sizes."""
    sizes = {"B": B, "T": T, "V": V, "T-1": T - 1, "V_tgt": TGT_V, "T_tgt": TGT_T,
             "T_tgt-1": TGT_T - 1, "labels": 2}
    return tuple(d if isinstance(d, int) else sizes[d] for d in TARGETS.get(name).logits_shape)

CASES = (
    [pytest.param(base(embedding=["word", name] if name != "word" else ["word"]), id=f"embedding-{name}")
     for name in EMBEDDINGS.names()]
    + [pytest.param(base(embedding=["word", "subword"],
                         embedding_options={"subword": {"subencoder": name, "char_dim": 6}}),
                    id=f"subencoder-{name}") for name in SUBENCODERS.names()]
    + [pytest.param(base(encoder=name, targets={"mlm": 1.0, "sp": 1.0} if name not in BIDIRECTIONAL
                         else {"mlm": 1.0, "bilm": 1.0}), id=f"encoder-{name}")
       for name in ENCODERS.names()]
    + [pytest.param(target_config(name), id=f"target-{name}") for name in TARGETS.names()]
    + [pytest.param(base(targets={"mt": 1.0, "ae": 0.5}, decoder=name), id=f"decoder-{name}")
       for name in DECODERS.names()]
    + [pytest.param(base(encoder=stack, targets={"mlm": 1.0, "lm": 0.5, "sp": 0.3}),
                    id="stack-" + "+".join(stack))
       for stack in (["cnn", "lstm"], ["lstm", "transformer"], ["gatedcnn", "gru", "attention"],
                     ["rnn", "cnn"], ["bilstm", "gpt"])]
    + [pytest.param(base(embedding_options={"factorized_size": 6}, encoder_options={
        "transformer": {"pre_ln": True, "act": "silu"}}), id="albert-factorised-preln")]
    + [pytest.param(base(embedding=["word"], decoder="transformer", targets={"t5": 1.0, "mlm": 0.5},
                         embedding_options={"layernorm": False},
                         encoder_options={"transformer": T5_BLOCKS},
                         decoder_options={**T5_BLOCKS, "position": "none", "embedding_layernorm": False,
                                          "share_embedding": True},
                         target_options={"t5": {"bias": False, "scale_output": True}}),
                    id="t5-v1_1-style"),
       pytest.param(base(embedding=["word", "pos"], decoder="transformer", targets={"bart": 1.0},
                         embedding_options={"scale_embedding": True},
                         decoder_options={"share_embedding": True, "scale_embedding": True}),
                    id="bart-style-shared-embedding"),
       pytest.param(base(targets={"prefixlm": 1.0, "mlm": 0.5}, encoder_options={"transformer": {
           "mask": "causal_with_prefix", "norm": "rmsnorm", "relative_position": True,
           "relative_buckets": 8, "relative_max_distance": 16}}), id="prefixlm-relative-rmsnorm")]
)


def _spell(model) -> None:
    sub = model.embedding.part("subword")
    if sub is not None:
        sub.set_spellings([f"tok{i}" for i in range(V)])


@pytest.mark.parametrize("cfg", CASES)
def test_module_contract(cfg, tmp_path):
    torch.manual_seed(0)
    model = build_model(cfg, vocab_size=V, tgt_vocab_size=TGT_V)
    _spell(model)
    b = batch()

    # shapes
    assert model.embedding(b["input_ids"], b["segment_ids"]).shape == (B, T, SIZES["emb_size"])
    assert model.encode(b["input_ids"], b["segment_ids"]).shape == (B, T, model.hidden_size)
    model.eval()
    logits = model.logits(b["input_ids"], b["segment_ids"], **{c: b[c] for c in SEQUENCES})
    assert set(logits) == set(cfg["targets"])
    for name, value in logits.items():
        assert value.shape == expected_logits(name), name
    model.train()

    # finite gradients into every parameter
    out = model(b)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), name
    assert all(f"{t}/accuracy" in out.metrics for t in cfg["targets"])

    # config round trip: dict and JSON
    again = ModelConfig.from_dict(json.loads(json.dumps(model.config.to_dict())))
    assert again == model.config

    # save/load: identical weights and outputs
    model.eval()
    save_pretrained(model, tmp_path / "ckpt")
    loaded = uer_ray.load_model(tmp_path / "ckpt")
    state, state2 = model.state_dict(), loaded.state_dict()
    assert state.keys() == state2.keys()
    assert all(torch.equal(state[k], state2[k]) for k in state)
    after = loaded.logits(b["input_ids"], b["segment_ids"], **{c: b[c] for c in SEQUENCES})
    for name, value in logits.items():
        torch.testing.assert_close(after[name], value, atol=0, rtol=0)


# -- the facts every registered module declares (what the rest of the package reads off it) ----
# Hugging Face Hub pipeline tags a model card may carry
PIPELINE_TAGS = {"fill-mask", "text-generation", "feature-extraction", "text-classification",
                 "token-classification", "text-ranking", "question-answering", "multiple-choice",
                 "summarization", "translation", "text2text-generation", "sentence-similarity"}


def _registries() -> dict:
    from uer_ray.data import PROCESSORS
    from uer_ray.models.interop import FAMILIES
    from uer_ray.tasks import TASKS
    from uer_ray.tokenizers import TOKENIZERS

    return {"tokenizers": TOKENIZERS, "processors": PROCESSORS, "embeddings": EMBEDDINGS,
            "subencoders": SUBENCODERS, "encoders": ENCODERS, "decoders": DECODERS,
            "targets": TARGETS, "tasks": TASKS, "interop": FAMILIES}


ENTRIES = [pytest.param(family, name, id=f"{family}-{name}")
           for family, reg in _registries().items() for name in reg.names()]


@pytest.mark.parametrize("family, name", ENTRIES)
def test_every_registered_name_is_a_file_of_that_name(family, name):
    """One hop from a name to its code: ``ENCODERS.where("lstm")`` is ``encoders/lstm.py``."""
    reg = _registries()[family]
    assert reg.where(name).stem == name, f"{family} {name!r} is defined in {reg.where(name)}"
    assert reg.get(name).name == name  # the registry names the class: no second declaration


@pytest.mark.parametrize("name", ENCODERS.names())
def test_encoder_facts(name):
    from uer_ray.encoders import POOLINGS

    cls = ENCODERS.get(name)
    cfg = cls.Config()
    assert dataclasses.is_dataclass(cls.Config)
    assert cls.sees_future(cfg) in (True, False), f"{name} does not declare sees_future"
    assert cls.default_pooling(cfg) in POOLINGS
    assert 0 < cls.lr_pretrained <= cls.lr_scratch < 1
    assert isinstance(cls.bidirectional, bool)
    if cls.bidirectional:
        assert cls.sees_future(cfg), "a backward direction sees later tokens"
    built = build_model(base(encoder=name, targets={"mlm": 1.0}), vocab_size=V)
    assert built.encoder.output_dim > 0


@pytest.mark.parametrize("name", TARGETS.names())
def test_target_facts(name):
    from uer_ray.data import PROCESSORS

    cls = TARGETS.get(name)
    assert dataclasses.is_dataclass(cls.Config)
    written = {c for _, p in PROCESSORS.items() for c in p.columns}
    assert set(cls.columns) <= written, f"no processor writes {set(cls.columns) - written}"
    assert set(cls.logits_columns) <= set(cls.columns), "logits reads a column training does not"
    for fact in ("needs_masking", "needs_decoder", "predicts_next_token"):
        assert isinstance(getattr(cls, fact), bool), fact
    assert cls.needs_mask is None or isinstance(cls.needs_mask, str)
    assert cls.card_task_type is None or cls.card_task_type in PIPELINE_TAGS
    assert cls.logits_shape, f"{name} does not declare logits_shape"
    shards = _FakeShards()
    config = cls.from_shards(base(targets={name: 1.0}), shards)
    assert isinstance(config, dict) and config["targets"] == {name: 1.0}


class _FakeShards:
    vocab_size, tgt_vocab_size = V, TGT_V

    def labels_num(self) -> int:
        return 3


@pytest.mark.parametrize("name", sorted(_registries()["tasks"].names()))
def test_task_facts(name):
    from uer_ray.tasks import TASKS

    cls = TASKS.get(name)
    assert cls.card_task_type in PIPELINE_TAGS, f"{name} does not declare card_task_type"
    assert cls.output in ("pooled", "sequence")
    assert isinstance(cls.takes_crf, bool) and isinstance(cls.exact_test, bool)
    task = cls()
    assert isinstance(task.select_metric, str) and task.select_metric
    assert task.select_metric == cls.selectable_metrics()[0] and isinstance(cls.generative, bool)
    assert callable(task.units) and callable(task.metric_from_units)


@pytest.mark.parametrize("name", sorted(_registries()["tokenizers"].names()))
def test_tokenizer_facts(name):
    from uer_ray.tokenizers import TOKENIZERS

    cls = TOKENIZERS.get(name)
    assert cls.file_option in ("vocab", "spm_model")
    assert isinstance(cls.lowercase_by_default, bool) and cls.file_name


@pytest.mark.parametrize("name", sorted(_registries()["processors"].names()))
def test_processor_facts(name):
    from uer_ray.data import PROCESSORS

    cls = PROCESSORS.get(name)
    assert {"input_ids", "segment_ids"} <= set(cls.columns)
    assert cls.line_format and isinstance(cls.supervised, bool)
