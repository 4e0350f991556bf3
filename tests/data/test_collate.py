"""Padding per batch and dynamic MLM masking (token, whole-word, span) on real text."""

import numpy as np
import pytest
import torch
from data_paths import data_file

from uer_ray.data import Collator, MaskingConfig, RayCollateFn
from uer_ray.data.masking import IGNORE
from uer_ray.tokenizers import build_tokenizer


@pytest.fixture(scope="module")
def en():
    return build_tokenizer("wordpiece", vocab=data_file("vocab/google_uncased_en_vocab.txt"))


@pytest.fixture(scope="module")
def rows(en):
    """Rows like the cls processor makes: [CLS] text [SEP], uneven lengths, up to 128 tokens."""
    lines = [x for x in data_file("corpora/wikitext2_valid.txt").read_text(encoding="utf-8").split("\n")
             if x.strip()][:64]
    out = []
    for ids in en.encode_batch(lines):
        ids = [en.cls_id] + ids[:126] + [en.sep_id]
        out.append({"input_ids": np.array(ids, np.int32), "segment_ids": np.ones(len(ids), np.int8),
                    "label": len(ids) % 2})
    return out


def _ray_like(rows):
    """What Ray Data hands a NumpyBatchCollateFn: object arrays of read-only arrays."""
    batch = {}
    for k in rows[0]:
        vals = [r[k] for r in rows]
        if isinstance(vals[0], np.ndarray):
            arr = np.empty(len(vals), dtype=object)
            for i, v in enumerate(vals):
                v = v.copy()
                v.flags.writeable = False
                arr[i] = v
        else:
            arr = np.array(vals)
        batch[k] = arr
    return batch


def test_pads_to_longest_row_and_accepts_both_batch_forms(rows, en):
    c = Collator(en.pad_id)
    a, b = c(rows[:8]), c(_ray_like(rows[:8]))
    longest = max(len(r["input_ids"]) for r in rows[:8])
    assert a["input_ids"].shape == (8, longest) and a["input_ids"].dtype == torch.long
    for k in a:
        assert torch.equal(a[k], b[k]), k
    for i, r in enumerate(rows[:8]):
        n = len(r["input_ids"])
        assert a["input_ids"][i, :n].tolist() == r["input_ids"].tolist()
        assert (a["input_ids"][i, n:] == en.pad_id).all() and (a["segment_ids"][i, n:] == 0).all()
    assert a["label"].tolist() == [r["label"] for r in rows[:8]]
    # equal-length rows may arrive as one 2-D array
    same = {"input_ids": np.stack([rows[0]["input_ids"]] * 3)}
    out = c(same)
    assert out["input_ids"].shape == (3, len(rows[0]["input_ids"]))
    assert out["segment_ids"].sum().item() == 3 * len(rows[0]["input_ids"])


def test_every_id_list_column_is_padded_to_its_own_longest_row(rows, en):
    """tgt_ids, prev_ids, next_ids, ...: any list column other than the scalar ones."""
    batch = [{**r, "prev_ids": r["input_ids"][:3 + i], "next_ids": r["input_ids"][-2:]}
             for i, r in enumerate(rows[:4])]
    for form in (batch, _ray_like(batch)):
        out = Collator(en.pad_id)(form)
        assert out["prev_ids"].shape == (4, 6) and out["next_ids"].shape == (4, 2)
        assert out["prev_ids"].dtype == torch.long and out["label"].shape == (4,)
        assert out["prev_ids"][0].tolist() == rows[0]["input_ids"][:3].tolist() + [en.pad_id] * 3
        assert out["next_ids"].tolist() == [r["input_ids"][-2:].tolist() for r in rows[:4]]


def test_token_masking_is_bert_80_10_10(rows, en):
    c = Collator.from_tokenizer(en, masking=MaskingConfig(), seed=3)
    plain = Collator(en.pad_id)(rows)["input_ids"]
    stats = np.zeros(4)
    for _ in range(20):
        out = c(rows)
        lab, ids = out["mlm_labels"], out["input_ids"]
        picked = lab != IGNORE
        assert torch.equal(lab[picked], plain[picked])
        assert torch.equal(ids[~picked], plain[~picked])
        assert not picked[torch.isin(plain, torch.tensor([en.pad_id, en.cls_id, en.sep_id]))].any()
        stats += [picked.sum(), (ids[picked] == en.mask_id).sum(), (ids[picked] == plain[picked]).sum(),
                  ((plain != en.pad_id) & (plain != en.cls_id) & (plain != en.sep_id)).sum()]
    assert abs(stats[0] / stats[3] - 0.15) < 0.01
    assert abs(stats[1] / stats[0] - 0.8) < 0.02
    assert abs(stats[2] / stats[0] - 0.1) < 0.02  # kept (a random draw may also hit the same id)


def test_masking_depends_only_on_seed_rank_step(rows, en):
    def run(seed, rank, step=0, n=1):
        c = Collator.from_tokenizer(en, masking=MaskingConfig(), seed=seed, rank=rank)
        c.step = step
        return [c(rows[:16])["input_ids"] for _ in range(n)]

    three = run(0, 0, n=3)
    assert torch.equal(run(0, 0, step=2)[0], three[2])  # resuming at step 2 replays batch 2
    assert not torch.equal(three[0], three[1])
    assert not torch.equal(run(0, 1)[0], three[0]) and not torch.equal(run(1, 0)[0], three[0])


@pytest.mark.parametrize("strategy", ["whole_word", "span"])
def test_word_and_span_masking_keep_words_whole(rows, en, strategy):
    c = Collator.from_tokenizer(en, masking=MaskingConfig(strategy=strategy), seed=1)
    cont = torch.tensor([en.id_to_token(i).startswith("##") for i in range(en.vocab_size)])
    plain = Collator(en.pad_id)(rows)["input_ids"]
    runs = []
    for _ in range(5):
        picked = c(rows)["mlm_labels"] != IGNORE
        is_cont = cont[plain]
        # a picked continuation has a picked token before it; the next continuation is picked too
        assert not (picked[:, 1:] & is_cont[:, 1:] & ~picked[:, :-1]).any()
        assert not (picked[:, :-1] & is_cont[:, 1:] & ~picked[:, 1:]).any()
        real = ((plain != en.pad_id) & (plain != en.cls_id) & (plain != en.sep_id)).sum(1)
        assert (picked.sum(1) <= torch.round(real * 0.15)).all()  # never over budget
        assert picked.sum() > 0.1 * real.sum()
        for row in picked:
            pos = torch.nonzero(row).flatten().tolist()
            runs += [1 + sum(1 for a, b in zip(pos, pos[1:], strict=False) if b == a + 1)] if pos else []
    if strategy == "span":  # spans of several words give long runs of picked tokens
        c2 = Collator.from_tokenizer(en, masking=MaskingConfig(strategy="whole_word"), seed=1)
        picked2 = c2(rows)["mlm_labels"] != IGNORE
        adj_span = (picked[:, 1:] & picked[:, :-1]).sum()
        adj_word = (picked2[:, 1:] & picked2[:, :-1]).sum()
        assert adj_span > 2 * adj_word


def test_ray_collate_fn_in_iter_torch_batches(rows, en, ray_session):
    import ray
    from ray.data.collate_fn import NumpyBatchCollateFn

    fn = RayCollateFn(Collator.from_tokenizer(en, masking=MaskingConfig(), seed=5))
    assert isinstance(fn, NumpyBatchCollateFn)
    ds = ray.data.from_items([{k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in r.items()}
                              for r in rows[:12]])
    batches = list(ds.iter_torch_batches(batch_size=4, collate_fn=fn, prefetch_batches=1))
    assert len(batches) == 3 and fn.collator.step == 3
    ref = Collator.from_tokenizer(en, masking=MaskingConfig(), seed=5)
    for b, i in zip(batches, range(0, 12, 4), strict=True):
        exp = ref(rows[i:i + 4])
        assert torch.equal(b["input_ids"], exp["input_ids"]) and torch.equal(b["mlm_labels"], exp["mlm_labels"])


def test_sentencepiece_words_for_whole_word_masking(spm_model):
    tok = build_tokenizer("sentencepiece", spm_model=spm_model)
    cont = tok.continuation_mask()
    assert not cont[[tok.pad_id, tok.cls_id, tok.sep_id, tok.mask_id]].any()
    pieces = tok.tokenize("unbelievable results")
    ids = tok.encode("unbelievable results")
    assert [not cont[i] for i in ids] == [p.startswith("\u2581") for p in pieces]
