"""Stage-1 zoo entries for the search tests, made without Ray: a tiny model saved as a
``pretrain --out`` folder (``final/`` + result record) and published, as ``zoo build`` would."""

from __future__ import annotations

from pathlib import Path

from space_helpers import TINY_LSTM

TINY_GCNN = {"embedding": ["word"], "encoder": "gatedcnn", "targets": {"lm": 1.0}, "emb_size": 32,
             "hidden_size": 32, "layers": 2, "max_seq_length": 128, "dropout": 0.0,
             "embedding_options": {"layernorm": False},
             "encoder_options": {"gatedcnn": {"kernel_size": 3, "block_size": 1}}}


def char_vocab(path: Path, extra: str = "") -> Path:
    """A char vocabulary of the tiny task's characters (space_helpers.data_files)."""
    from space_helpers import SAMPLES

    chars = sorted({c for c in SAMPLES.joinpath("corpus.txt").read_text(encoding="utf-8")[:3000]
                    if c.strip() and c != "\t"} | set("好差") | set(extra))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars]) + "\n",
                    encoding="utf-8")
    return path


def stage1_entry(folder: Path, zoo: Path, name: str, config: dict, vocab: Path,
                 aliases: tuple[str, ...] = ()) -> str:
    """Publish a randomly initialised model as a pre-trained entry; returns ``zoo:NAME@VERSION``."""
    import torch

    from uer_ray import zoo as Z
    from uer_ray.atomic import write_json
    from uer_ray.models import build_model, save_pretrained
    from uer_ray.records import build_record, model_section
    from uer_ray.tokenizers import build_tokenizer

    tok = build_tokenizer("char", vocab=vocab)
    torch.manual_seed(0)
    model = build_model(config, vocab_size=tok.vocab_size)
    out = folder / name
    save_pretrained(model, out / "final", tokenizer=tok)
    record = build_record(
        stage="pretrain", name=name, model=model_section(model.config.to_dict(), 1000),
        data={"pretrain": {"shards": str(folder / "shards" / "clue"), "processor": "lm"}},
        parent=None, options={"steps": 1}, results={"steps": 1, "loss_first": 5.0, "loss_last": 4.0},
        metrics=[], checkpoint=str(out / "final"), seconds=1.0, device="cpu")
    write_json(out / "metrics.json", record)
    ref = Z.publish(out, name=name, zoo=str(zoo), aliases=aliases)
    return ref.ref


__all__ = ["TINY_GCNN", "TINY_LSTM", "char_vocab", "stage1_entry"]
