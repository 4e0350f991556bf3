"""Prediction as a library stage: run a fine-tuned model (a ``finetune --out`` folder) over a TSV
file, on the GPU when there is one (``device="auto"``).

The input has the training file's text columns (a ``label`` column may be present and is then
ignored); the output is a TSV with a header: the predicted ``label`` (plus ``prob_<label>``
columns with ``probs``) for classify and pair, ``qid``/``label``/``score`` for dbqa, the tag
sequence for tag, the predicted ``score`` for regress, the generated text (``label``) for
text2text, ``{question id: answer}`` JSON for mrc (``Task.write_predictions``). Rows stay in
input order.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from uer_ray.config import Options


@dataclass(frozen=True, kw_only=True)
class PredictOptions(Options):
    """Everything ``python run.py predict`` accepts."""

    model: str
    """a fine-tuned model folder (``finetune --out``), a ``zoo:`` reference or a remote URI"""
    input: str
    out: str
    probs: bool = False
    batch_size: int = 64
    device: str = "auto"
    bf16: bool = True
    progress: bool = True
    zoo: str | None = None


def predict(options: PredictOptions) -> dict:
    """Write the predictions; returns ``{rows, seconds, rows_per_s, device, task, out}``."""
    import torch

    from uer_ray.atomic import atomic_file
    from uer_ray.tasks.checkpoint import load_finetuned
    from uer_ray.tasks.loop import Runtime
    from uer_ray.tasks.loop import predict as predict_rows
    from uer_ray.train.devices import resolve_device

    o = options
    torch.set_flush_denormal(True)
    device = resolve_device(o.device)
    start = time.perf_counter()
    from uer_ray.zoo import resolve_checkpoint

    ft, task, labels, settings, tokenizer = load_finetuned(resolve_checkpoint(o.model, zoo=o.zoo))
    rows = task.read(o.input, labelled=False)
    # A label column in the input is not needed (and may hold labels unseen in training).
    rows = [type(r)(r.line, {k: v for k, v in r.cells.items() if k != "label"}) for r in rows]
    examples = task.encode(rows, o.input, tokenizer, labels, settings.seq_length)
    runtime = Runtime(pad_id=tokenizer.pad_id, vocab_size=tokenizer.vocab_size, device=device,
                      bf16=o.bf16)
    ft.to(device)
    preds = predict_rows(ft, ft.head, task, examples, batch_size=o.batch_size,
                         pad_id=tokenizer.pad_id, runtime=runtime, progress=o.progress)
    with atomic_file(o.out) as f:
        written = task.write_predictions(f, examples, preds, labels, o.probs)
    seconds = time.perf_counter() - start
    return {"rows": written, "seconds": seconds,
            "rows_per_s": written / max(seconds, 1e-9), "device": device,
            "task": settings.task, "model": o.model, "input": o.input, "out": str(Path(o.out))}


def summary_paragraph(s: dict) -> str:
    return (f"Predicted {s['rows']:,} rows of {s['input']} with the {s['task']} model in "
            f"{s['model']} on {s['device']} ({s['seconds']:.1f} s, {s['rows_per_s']:.0f} rows/s); "
            f"wrote {s['out']}.")
