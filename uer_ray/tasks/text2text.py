"""``text2text``: text to text, as UER-py's run_text2text — columns ``text_a`` (the source; with
a ``text_b`` column in the training file the source is ``text_a [SEP] text_b``) and ``label``
(the target text).

The model is an encoder–decoder one: the embedding and encoder of a model whose target writes a
new sequence (``Target.generates == "sequence"``: ``mt``, ``ae``, and the denoising targets),
and that target's decoder and output layer, all trained together; there is no other head.
Training is teacher-forced cross-entropy over ``[CLS] label [SEP]`` (tokenized with the
target's output vocabulary: the source tokenizer, or an ``mt`` checkpoint's ``tgt_tokenizer/``).
Dev and test are scored on the text the model writes (``uer_ray.generate``: greedy, or beam
search with ``--beams``) against the label as the tokenizer reads it (lower-cased, unknown
characters as ``[UNK]``: the text a perfect model writes), with BLEU, ROUGE-L and exact match
(``uer_ray.generate.metrics``, per character for Chinese); ``--metric`` chooses the one that
picks the best epoch (default BLEU).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from uer_ray.errors import InputError, MismatchError, OptionsError
from uer_ray.generate import metrics as text_metrics
from uer_ray.tasks.base import TASKS, Task
from uer_ray.tasks.readers import LabelMap, Row, read_tsv


def sequence_target(model: nn.Module) -> tuple[str, nn.Module]:
    """(name, module) of the target of ``model`` whose decoder writes a new sequence; a
    ``MismatchError`` says why there is none (``generate``'s own message for a model that
    cannot generate at all)."""
    from uer_ray.generate import generating_target
    from uer_ray.targets import TARGETS

    names = [n for n, t in model.targets.items() if getattr(t, "generates", None) == "sequence"]
    if len(names) == 1:
        return names[0], model.targets[names[0]]
    if len(names) > 1:
        raise MismatchError(f"this model has several targets that write a sequence "
                            f"({', '.join(names)}); text2text fine-tunes one decoder")
    writers = ", ".join(n for n, c in TARGETS.items() if c.generates == "sequence")
    try:
        name, target = generating_target(model)
    except MismatchError as e:
        raise MismatchError(f"{e}; text2text needs a decoder and a target that writes a sequence "
                            f"({writers}): a config with \"decoder\": \"transformer\" and, for "
                            "example, \"targets\": {\"mt\": 1.0}") from None
    raise MismatchError(f"text2text needs an encoder-decoder model: target {name!r} continues "
                        f"a prompt ({target.generates}) and has no decoder; start from a model "
                        f"pre-trained with a target that writes a sequence ({writers})")


class DecoderHead(nn.Module):
    """text2text's head: nothing of its own (no parameters). The decoder and output layer it
    trains are the sequence target's, inside the model, and are saved with it."""

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return hidden


class Seq2seqFinetuneModel(nn.Module):
    """An encoder–decoder ``Model`` fine-tuned through its sequence target (``target_name``).

    ``forward(input_ids (B,T), segment_ids (B,T), tgt_ids (B,T2), tgt_segment_ids (B,T2))
    -> (B,T2-1,V)``: teacher forcing, position t of the decoder reads ``tgt_ids[:, :t+1]`` and
    predicts token t+1 (the computation ``generate`` repeats token by token: ``decoder(ids,
    padding, memory, memory_padding)`` then ``next_token_logits``). The model's other targets
    get no gradient."""

    def __init__(self, model: nn.Module, head: nn.Module, target_name: str):
        super().__init__()
        self.model = model
        self.head = head
        self.target_name = target_name
        trained = {id(p) for part in (model.embedding, model.encoder, model.targets[target_name])
                   for p in part.parameters()}
        for p in model.targets.parameters():
            if id(p) not in trained:
                p.requires_grad_(False)

    @property
    def target(self) -> nn.Module:
        return self.model.targets[self.target_name]

    def forward(self, input_ids: torch.Tensor, segment_ids: torch.Tensor, tgt_ids: torch.Tensor,
                tgt_segment_ids: torch.Tensor) -> torch.Tensor:
        memory = self.model.encode(input_ids, segment_ids)  # (B,T,H)
        memory_padding = self.model.padding_mask(segment_ids)
        tgt_padding = tgt_segment_ids[:, :-1] == 0
        states = self.target.decoder(tgt_ids[:, :-1], tgt_padding if bool(tgt_padding.any()) else None,
                                     memory, memory_padding)
        return self.target.next_token_logits(states)

    def freeze_encoder(self) -> None:
        raise OptionsError("--freeze does not apply to text2text (the decoder trains with the encoder)")


def _cell(text: str) -> str:
    """``text`` as one TSV cell (tabs and line breaks become spaces)."""
    return " ".join(text.replace("\t", " ").splitlines())


@TASKS.register("text2text")
class Text2textTask(Task):
    """Text to text through an encoder–decoder model; dev metric BLEU (or ``--metric``
    rouge_l / exact_match), computed on generated text."""

    select_metric = "bleu"
    metric_choices = ("bleu", "rouge_l", "exact_match")
    card_task_type = "text2text-generation"
    output = "sequence"
    generative = True

    def __init__(self) -> None:
        self.beams = 1
        self.tgt_seq_length = 32
        self.target_name: str | None = None
        self.label_tokenizer: Any = None
        """the target's output vocabulary when it is not the source one (an ``mt`` checkpoint)"""

    def configure(self, options: dict) -> None:
        super().configure(options)
        self.beams = int(options.get("beams", self.beams))
        self.tgt_seq_length = int(options.get("tgt_seq_length", self.tgt_seq_length))

    # -- files ---------------------------------------------------------------------------
    def read(self, path: str, labelled: bool = True) -> list[Row]:
        required = self.text_columns + (("label",) if labelled else ())
        optional = () if "text_b" in self.text_columns else ("text_b",)
        return read_tsv(path, required, optional=optional + (() if labelled else ("label",)))

    def adapt_to(self, rows: Sequence[Row]) -> None:
        if "text_b" in rows[0].cells:
            self.text_columns = ("text_a", "text_b")

    def build_labels(self, rows: Sequence[Row], path: str) -> None:
        return None

    # -- the model -------------------------------------------------------------------------
    def build_head(self, hidden_size: int, num_labels: int, pooling: str, crf: bool,
                   dropout: float = 0.1) -> nn.Module:
        return DecoderHead()

    def finetune_model(self, model: nn.Module, head: nn.Module) -> nn.Module:
        name, target = sequence_target(model)
        from uer_ray.generate.api import _position_limit

        limit = _position_limit(target.decoder.embedding) if hasattr(target.decoder, "embedding") else None
        if limit is not None and self.tgt_seq_length > limit:
            raise OptionsError(f"--tgt-seq-length {self.tgt_seq_length} exceeds the decoder's "
                               f"{limit} positions")
        self.target_name = name
        own = getattr(model, "tgt_tokenizer", None) if target.output_vocabulary == "target" else None
        reader = own if own is not None else getattr(model, "tokenizer", None)
        vocab = model.config.tgt_vocab_size if target.output_vocabulary == "target" else model.config.vocab_size
        if reader is not None and vocab is not None and reader.vocab_size != vocab:
            raise MismatchError(f"target {name!r} writes a vocabulary of {vocab} tokens but the "
                                f"model's tokenizer has {reader.vocab_size} (an mt model keeps its "
                                "target side in tgt_tokenizer/)")
        self.label_tokenizer = own
        return Seq2seqFinetuneModel(model, head, name)

    # -- model inputs -------------------------------------------------------------------
    def encode(self, rows: Sequence[Row], path: str, tokenizer: Any, labels: LabelMap | None,
               seq_length: int) -> list[dict]:
        """``[CLS] text_a [SEP] (text_b [SEP])``, segment 1 throughout (the source is one text,
        as ``generate`` reads a prompt), and ``[CLS] label [SEP]`` cut to ``tgt_seq_length``."""
        if seq_length < 3:
            raise InputError(f"--seq-length {seq_length} leaves no room for text", path)
        writer = self.label_tokenizer if self.label_tokenizer is not None else tokenizer
        texts = [tokenizer.encode_batch([r.cells[c] for r in rows]) for c in self.text_columns]
        targets = writer.encode_batch([r.cells["label"] for r in rows]) if "label" in rows[0].cells else None
        out = []
        for i, row in enumerate(rows):
            ids = [tokenizer.cls_id]
            for column in texts:
                ids += [*column[i], tokenizer.sep_id]
            if len(ids) > seq_length:  # keep the end marker
                ids = [*ids[: seq_length - 1], tokenizer.sep_id]
            example = {"input_ids": ids, "segment_ids": [1] * len(ids), "line": row.line, "label": None}
            if targets is not None:
                if not targets[i]:
                    raise InputError("label is empty: text2text needs a target text on every row",
                                     path, row.line)
                body = targets[i][: self.tgt_seq_length - 2]
                example["tgt_ids"] = [writer.cls_id, *body, writer.sep_id]
                example["reference"] = writer.decode_text(targets[i])
            out.append(example)
        return out

    # -- training and evaluation ----------------------------------------------------------
    def forward(self, net: nn.Module, batch: dict) -> torch.Tensor:
        return net(batch["input_ids"], batch["segment_ids"], batch["tgt_ids"], batch["tgt_segment_ids"])

    def loss(self, head: nn.Module, output: torch.Tensor, batch: dict) -> torch.Tensor:
        labels = batch["tgt_ids"][:, 1:].masked_fill(batch["tgt_segment_ids"][:, 1:] == 0, -100)
        return F.cross_entropy(output.flatten(0, 1), labels.flatten(), ignore_index=-100)

    def loss_count(self, head: nn.Module, batch: dict) -> int:
        return int(batch["tgt_segment_ids"][:, 1:].sum())

    def generate_predictions(self, ft: nn.Module, examples: Sequence[dict], *, batch_size: int,
                             runtime: Any, progress: bool, desc: str) -> list[str]:
        from uer_ray.generate import GenerateOptions, generate

        writer = self.label_tokenizer if self.label_tokenizer is not None else ft.model.tokenizer
        if writer is None:
            raise MismatchError("text2text generation needs the model's tokenizer to write text")
        options = GenerateOptions(max_new_tokens=self.tgt_seq_length - 1, beams=self.beams,
                                  target=self.target_name, batch_size=batch_size)
        bar = tqdm(total=len(examples), desc=desc, unit="ex", disable=not progress, leave=False)
        try:
            out = generate(ft.model, [e["input_ids"] for e in examples], options,
                           output_tokenizer=writer, device=runtime.device, bf16=runtime.bf16,
                           progress=bar.update)
        finally:
            bar.close()
        return [g.text for g in out]

    def metrics(self, examples: Sequence[dict], predictions: Sequence, labels: LabelMap | None) -> dict:
        return text_metrics.score_all(list(predictions), [e["reference"] for e in examples])

    # -- the report's paired comparisons ----------------------------------------------------
    def units(self, examples: Sequence[dict], predictions: Sequence,
              labels: LabelMap | None) -> np.ndarray:
        """Per example, what each metric sums: BLEU's clipped n-gram matches and totals
        (n = 1..4) and the hypothesis and reference lengths (columns 0-9), the sentence's
        ROUGE-L (10) and exact match, 100 or 0 (11)."""
        rows = []
        for h, e in zip(predictions, examples, strict=True):
            r = e["reference"]
            rows.append([*_bleu_counts(h, r), text_metrics.rouge_l([h], [r]),
                         text_metrics.exact_match([h], [r])])
        return np.array(rows, dtype=float)

    def metric_from_units(self, units: np.ndarray) -> np.ndarray:
        """``select_metric`` of resampled units."""
        if self.select_metric != "bleu":
            return units[..., 10 if self.select_metric == "rouge_l" else 11].mean(-1)
        s = units.sum(-2)  # (B, 12)
        matches, totals, hyp, ref = s[..., 0:4], s[..., 4:8], s[..., 8], s[..., 9]
        with np.errstate(divide="ignore", invalid="ignore"):
            log_p = np.where(matches > 0, np.log(np.maximum(matches, 1e-300) / np.maximum(totals, 1)), -np.inf)
            bp = np.where(hyp > ref, 1.0, np.exp(1 - ref / np.maximum(hyp, 1e-300)))
            score = 100 * bp * np.exp(log_p.mean(-1))
        return np.where((hyp > 0) & np.isfinite(score), score, 0.0)

    # -- prediction files -----------------------------------------------------------------
    def output_header(self, labels: LabelMap | None, probs: bool) -> list[str]:
        return ["label"]

    def output_row(self, example: dict, prediction: Any, labels: LabelMap | None, probs: bool) -> list[str]:
        return [_cell(prediction)]


def _bleu_counts(hypothesis: str, reference: str) -> list[float]:
    """One sentence's share of corpus BLEU as ``uer_ray.generate.metrics.bleu`` counts it (one
    reference, n = 1..4): clipped matches and totals per n, then hypothesis and reference
    length."""
    h, (r,) = text_metrics._tokenize(hypothesis, [reference], "auto")
    matches, totals = [], []
    for n in range(1, 5):
        got, ref = text_metrics._ngrams(h, n), text_metrics._ngrams(r, n)
        matches.append(sum(min(c, ref[g]) for g, c in got.items()))
        totals.append(sum(got.values()))
    return [*matches, *totals, len(h), len(r)]
