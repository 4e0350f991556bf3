"""``mrc``: span-extraction reading comprehension (CMRC 2018, SQuAD): the answer is a span of
the context, read off start and end logits over its tokens.

Files are SQuAD-style JSON: ``{"data": [{"paragraphs": [{"context": ..., "qas": [{"id": ...,
"question": ..., "answers": [{"text": ..., "answer_start": ...}, ...]}]}]}]}``. Each question is
one row (its "line" is its JSON path, ``data[3].paragraphs[0].qas[2]``, which every error
names). Training needs the position of an answer: the first answer whose text is at its
``answer_start``, or within ``NEARBY`` characters of it; dev and test need only the answer
texts (CMRC 2018's test answers have ``answer_start`` -1).

A question becomes one example per window of its context: ``[CLS] question [SEP] window
[SEP]`` (segment 1, then 2), the question cut to ``max_query_length`` tokens, windows of
``seq_length - len(question) - 3`` context tokens starting every ``doc_stride`` tokens. A
training window that does not hold the whole answer points at [CLS] (start = end = 0), as BERT
does. The head (``SpanHead``) is one linear layer giving each token a start and an end logit
(the layout of transformers' ``BertForQuestionAnswering.qa_outputs``). The answer of a question
is the best span over its windows: the ``n_best`` highest start and end logits of each window,
spans of at most ``max_answer_length`` tokens, a start token counted only in the window where
it has the most context on both sides (BERT's rule), scored by start + end logit; it is cut out
of the original context by character offsets, so case, spaces and characters the tokenizer
maps to [UNK] come back as written.

Metrics are the official CMRC 2018 evaluation's (``cmrc_f1``, ``cmrc_em``): F1 over the longest
common subsequence of mixed segmentations (each Chinese character a word; other runs split into
words as nltk's ``word_tokenize`` splits them; punctuation removed), EM on the texts without
punctuation, each the maximum over the gold answers, averaged over questions. Like every metric
of this package they are fractions (the official script prints them times 100).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from uer_ray.errors import InputError, MismatchError, OptionsError
from uer_ray.tasks.base import TASKS, Task
from uer_ray.tasks.readers import LabelMap, Row

_PLACEHOLDER = re.compile(r"FAKE_ANSWER_\d+")
NEARBY = 20
"""characters around ``answer_start`` searched for an answer text that is not exactly there"""

# -- the official CMRC 2018 evaluation -----------------------------------------------------------
# Punctuation the official script removes (its list, including the two-character "……", which a
# per-character test never meets, so a lone "…" stays).
PUNCTUATION = frozenset(["-", ":", "_", "*", "^", "/", "\\", "~", "`", "+", "=", "，", "。", "：",
                         "？", "！", "“", "”", "；", "’", "《", "》", "……", "·", "、", "「", "」",
                         "（", "）", "－", "～", "『", "』"])
_CJK = re.compile(r"[\u4e00-\u9fa5]")

# Runs of non-Chinese text are split into words the way nltk's word_tokenize (the Penn Treebank
# rules) splits them: at spaces, around brackets and most symbols, commas and colons not followed
# by a digit, a final period, quotes (opening `` and closing ''), and English contractions; a
# period inside a word or a number stays. (On the 6,071 distinct non-Chinese runs of CMRC 2018's
# dev and test answers and contexts this agrees with nltk on all but three runs of doubled
# quotes; nltk is not a dependency.)
_OPEN_QUOTE = re.compile(r'(^|(?<=[\s(\[{<]))"')
_OPEN_SINGLE = re.compile(r"(^|(?<=[\s(\[{<]))(['‘])(?=\w)")
_FINAL_PERIOD = re.compile(r"(?<!\.)\.(?=[\s\]\)}>\"']*$)")
_WORD_RULES = [
    (re.compile(r"\.\.\."), " ... "),
    (re.compile(r"[;@#$%&?!\[\](){}<>—–‘]|--"), r" \g<0> "),
    (re.compile(r"[,:](?!\d)"), r" \g<0> "),
    (re.compile(r'"'), " '' "),
    (re.compile(r"(?i)('s|'m|'d|'ll|'re|'ve|n't)(?=\s|$)"), r" \1"),
    (re.compile(r"(?<=\w)'(?=\s|$)"), " ' "),
]


def split_words(text: str) -> list[str]:
    """A run of non-Chinese text as words (see above)."""
    text = _OPEN_QUOTE.sub(" `` ", text)
    text = _OPEN_SINGLE.sub(r" \2 ", text)
    text = _FINAL_PERIOD.sub(" . ", text, count=1)
    for rule, repl in _WORD_RULES:
        text = rule.sub(repl, text)
    return text.split()


def mixed_segmentation(text: str, remove_punctuation: bool = False) -> list[str]:
    """The official script's segmentation: lower-cased and stripped, each Chinese character
    (and each punctuation mark, unless removed) a word, other runs split by ``split_words``."""
    out: list[str] = []
    run = ""
    for ch in str(text).lower().strip():
        if remove_punctuation and ch in PUNCTUATION:
            continue
        if _CJK.match(ch) or ch in PUNCTUATION:
            if run:
                out.extend(split_words(run))
                run = ""
            out.append(ch)
        else:
            run += ch
    if run:
        out.extend(split_words(run))
    return out


def strip_punctuation(text: str) -> str:
    """The official ``remove_punctuation``: lower-cased, stripped, punctuation dropped."""
    return "".join(ch for ch in str(text).lower().strip() if ch not in PUNCTUATION)


def _lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common substring of two word lists (the official ``find_lcs``:
    contiguous, despite its name)."""
    best = 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b):
            if x == y:
                cur[j + 1] = prev[j] + 1
                best = max(best, cur[j + 1])
        prev = cur
    return best


def cmrc_f1(answers: Sequence[str], prediction: str) -> float:
    """The official ``calc_f1_score``: the best F1 over the gold answers."""
    scores = []
    pred = mixed_segmentation(prediction, remove_punctuation=True)
    for answer in answers:
        gold = mixed_segmentation(answer, remove_punctuation=True)
        common = _lcs_length(gold, pred)
        if common == 0:
            scores.append(0.0)
            continue
        precision, recall = common / len(pred), common / len(gold)
        scores.append(2 * precision * recall / (precision + recall))
    return max(scores)


def cmrc_em(answers: Sequence[str], prediction: str) -> float:
    """The official ``calc_em_score``: 1 when the prediction equals a gold answer once both
    lose their punctuation."""
    pred = strip_punctuation(prediction)
    return float(any(strip_punctuation(a) == pred for a in answers))


# -- the head ------------------------------------------------------------------------------------
class SpanHead(nn.Module):
    """(B,T,H) -> (B,T,2): one linear layer on every token; ``[..., 0]`` start logits,
    ``[..., 1]`` end logits (``BertForQuestionAnswering.qa_outputs``). No dropout."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.output = nn.Linear(hidden_size, 2)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.output(hidden)


# -- reading -------------------------------------------------------------------------------------
def _load_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise InputError("no such file", path) from None
    except UnicodeDecodeError as e:
        raise InputError(f"not valid UTF-8 ({e.reason})", path) from None
    except json.JSONDecodeError as e:
        raise InputError(f"not valid JSON ({e.msg}, column {e.colno})", path, e.lineno) from None


def _expect(value: Any, kind: type, what: str, path: str, where: str) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = {list: "a list", dict: "an object", str: "a string", int: "an integer"}
        raise InputError(f"{what} must be {names[kind]}, found {type(value).__name__}", path, where)
    return value


def locate(context: str, text: str, start: int) -> int | None:
    """Where ``text`` starts in ``context``: at ``start``, else the occurrence nearest to it
    within ``NEARBY`` characters, else None."""
    if 0 <= start and context.startswith(text, start):
        return start
    best = None
    lo = max(0, start - NEARBY)
    i = context.find(text, lo)
    while i != -1 and i <= start + NEARBY:
        if best is None or abs(i - start) < abs(best - start):
            best = i
        i = context.find(text, i + 1)
    return best


def read_squad(path: str, labelled: bool) -> list[Row]:
    """One row per question: cells ``id``, ``question``, ``context`` (strings) and, with
    ``labelled``, ``label``: the answers as ``(text, start or None)`` pairs, the located ones
    first."""
    doc = _load_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise InputError('expected SQuAD-style JSON: {"data": [{"paragraphs": [...]}, ...]}', path, "data")
    rows = []
    for i, article in enumerate(doc["data"]):
        paragraphs = _expect(article, dict, "an article", path, f"data[{i}]").get("paragraphs")
        for j, para in enumerate(_expect(paragraphs, list, "paragraphs", path, f"data[{i}].paragraphs")):
            where_p = f"data[{i}].paragraphs[{j}]"
            _expect(para, dict, "a paragraph", path, where_p)
            context = _expect(para.get("context"), str, "context", path, f"{where_p}.context")
            for k, qa in enumerate(_expect(para.get("qas"), list, "qas", path, f"{where_p}.qas")):
                where = f"{where_p}.qas[{k}]"
                _expect(qa, dict, "a question", path, where)
                question = _expect(qa.get("question"), str, "question", path, f"{where}.question")
                qid = qa.get("id", where)
                cells: dict[str, Any] = {"id": str(qid), "question": question, "context": context}
                if labelled:
                    cells["label"] = _answers(qa, context, path, where)
                rows.append(Row(where, cells))  # type: ignore[arg-type]  (a JSON path, not a number)
    if not rows:
        raise InputError("no questions in the file", path, "data")
    if labelled and all(_PLACEHOLDER.fullmatch(a) for r in rows for a, _ in r.cells["label"]):
        raise InputError("every answer is a placeholder (FAKE_ANSWER_n, as in CMRC 2018's "
                         "published test set): the file has no answers to learn or score; "
                         "`predict` reads it", path, "data")
    return rows


def _answers(qa: dict, context: str, path: str, where: str) -> list[tuple[str, int | None]]:
    answers = _expect(qa.get("answers"), list, "answers", path, f"{where}.answers")
    if not answers:
        raise InputError("the question has no answers (a labelled file needs at least one)", path, where)
    out = []
    for n, a in enumerate(answers):
        _expect(a, dict, "an answer", path, f"{where}.answers[{n}]")
        text = _expect(a.get("text"), str, "answer text", path, f"{where}.answers[{n}].text")
        start = a.get("answer_start", -1)
        start = start if isinstance(start, int) and not isinstance(start, bool) else -1
        out.append((text, locate(context, text, start) if text.strip() else None))
    return sorted(out, key=lambda a: a[1] is None)


# -- the task ------------------------------------------------------------------------------------
@TASKS.register("mrc")
class MrcTask(Task):
    """Span extraction over windows of long contexts; dev metric CMRC 2018 F1 (or EM)."""

    text_columns = ("question", "context")
    select_metric = "f1"
    metric_choices = ("f1", "em")
    card_task_type = "question-answering"
    output = "sequence"
    option_fields = ("doc_stride", "max_query_length", "n_best", "max_answer_length")

    def __init__(self) -> None:
        self.doc_stride, self.max_query_length, self.n_best, self.max_answer_length = 128, 64, 20, 30

    def configure(self, options: dict) -> None:
        super().configure(options)
        for name in self.option_fields:
            if name in options:
                value = options[name]
                if not isinstance(value, int) or value < 1:
                    raise OptionsError(f"--{name.replace('_', '-')} must be an integer >= 1, got {value!r}")
                setattr(self, name, value)

    def read(self, path: str, labelled: bool = True) -> list[Row]:
        return read_squad(path, labelled)

    def build_labels(self, rows: Sequence[Row], path: str) -> None:
        for r in rows:
            text, start = r.cells["label"][0]
            if start is None:
                raise InputError(f"answer {text!r} is not in the context at its answer_start nor "
                                 f"within {NEARBY} characters of it (training needs its position)",
                                 path, f"{r.line}.answers[0]")
        return None

    def encode(self, rows: Sequence[Row], path: str, tokenizer: Any, labels: LabelMap | None,
               seq_length: int) -> list[dict]:
        contexts = list(dict.fromkeys(r.cells["context"] for r in rows))
        try:
            flat, offsets, starts = tokenizer.encode_starts(contexts)
        except InputError:
            raise MismatchError(f"mrc maps answers back to characters and needs a tokenizer that "
                                f"says where its tokens start; the {tokenizer.kind} tokenizer "
                                "does not") from None
        spans = {}
        for c, text in enumerate(contexts):
            a, b = int(offsets[c]), int(offsets[c + 1])
            first = [int(s) for s in starts[a:b]]
            ends = [_token_end(text, first, t) for t in range(len(first))]
            spans[text] = ([int(x) for x in flat[a:b]], first, ends)
        questions = tokenizer.encode_batch([r.cells["question"] for r in rows])
        out = []
        for row, q in zip(rows, questions, strict=True):
            q = q[: self.max_query_length]
            room = seq_length - len(q) - 3
            if room < 1:
                raise InputError(f"--seq-length {seq_length} leaves no room for the context after "
                                 f"a {len(q)}-token question (lower --max-query-length)", path, row.line)
            ids, first, ends = spans[row.cells["context"]]
            gold = None
            if "label" in row.cells:
                text, at = row.cells["label"][0]
                gold = _token_span(first, ends, at, at + len(text)) if at is not None else None
            windows = _windows(len(ids), room, self.doc_stride)
            for w, (offset, length) in enumerate(windows):
                head = [tokenizer.cls_id, *q, tokenizer.sep_id]
                example = {
                    "input_ids": head + ids[offset : offset + length] + [tokenizer.sep_id],
                    "segment_ids": [1] * len(head) + [2] * (length + 1),
                    "line": row.line, "qid": row.cells["id"], "window": w, "offset": offset,
                    "first": len(head), "context": row.cells["context"],
                    "starts": first[offset : offset + length], "ends": ends[offset : offset + length],
                    "max_context": [_is_max_context(windows, w, offset + t) for t in range(length)],
                    "label": None,
                }
                if "label" in row.cells:
                    example["answers"] = [a for a, _ in row.cells["label"]]
                    s = e = 0
                    if gold is not None and offset <= gold[0] and gold[1] < offset + length:
                        s, e = gold[0] - offset + len(head), gold[1] - offset + len(head)
                    example["label"] = (s, e)
                out.append(example)
        return out

    def build_head(self, hidden_size: int, num_labels: int, pooling: str, crf: bool,
                   dropout: float = 0.1) -> nn.Module:
        return SpanHead(hidden_size)

    def loss(self, head: nn.Module, output: torch.Tensor, batch: dict) -> torch.Tensor:
        real = batch["segment_ids"] != 0
        logits = output.float().masked_fill(~real[..., None], -1e4)
        gold = batch["label"]  # (B,2)
        return (F.cross_entropy(logits[..., 0], gold[:, 0]) + F.cross_entropy(logits[..., 1], gold[:, 1])) / 2

    def predict(self, head: nn.Module, output: torch.Tensor, batch: dict) -> list:
        """Per window: (start logits, end logits) over its context tokens."""
        out = []
        segs = batch["segment_ids"]
        for i in range(output.shape[0]):
            where = (segs[i] == 2).nonzero().flatten()
            a, b = int(where[0]), int(where[-1])  # the window's tokens, then its final [SEP]
            out.append((output[i, a:b, 0].tolist(), output[i, a:b, 1].tolist()))
        return out

    # -- answers -------------------------------------------------------------------------------
    def answers(self, examples: Sequence[dict], predictions: Sequence) -> dict[str, dict]:
        """``{question id: {"answer", "answers" (gold, when labelled), "line"}}`` in file order:
        the best span over each question's windows."""
        best: dict[str, dict] = {}
        for e, (start, end) in zip(examples, predictions, strict=True):
            q = best.setdefault(e["qid"], {"answer": "", "score": -np.inf, "line": e["line"]})
            if "answers" in e:
                q["answers"] = e["answers"]
            for s, t, score in self.candidates(e, start, end):
                if score > q["score"]:
                    q["score"], q["answer"] = score, e["context"][e["starts"][s] : e["ends"][t]]
        return best

    def candidates(self, example: dict, start: Sequence[float], end: Sequence[float]):
        """(start token, end token, score) of the spans this window may answer with."""
        n = len(start)
        top_s = sorted(range(n), key=start.__getitem__, reverse=True)[: self.n_best]
        top_e = sorted(range(n), key=end.__getitem__, reverse=True)[: self.n_best]
        for s in top_s:
            if not example["max_context"][s]:
                continue
            for t in top_e:
                if s <= t < s + self.max_answer_length:
                    yield s, t, start[s] + end[t]

    def metrics(self, examples: Sequence[dict], predictions: Sequence, labels: LabelMap | None) -> dict:
        u = self.units(examples, predictions, labels)
        return {"f1": float(u[:, 0].mean()), "em": float(u[:, 1].mean()), "count": len(u)}

    def units(self, examples: Sequence[dict], predictions: Sequence,
              labels: LabelMap | None) -> np.ndarray:
        """Per question: its F1 and EM."""
        rows = [[cmrc_f1(q["answers"], q["answer"]), cmrc_em(q["answers"], q["answer"])]
                for q in self.answers(examples, predictions).values()]
        return np.array(rows, dtype=float).reshape(-1, 2)

    def metric_from_units(self, units: np.ndarray) -> np.ndarray:
        return units[..., 0 if self.select_metric == "f1" else 1].mean(-1)

    # -- prediction files ------------------------------------------------------------------------
    def write_predictions(self, f: Any, examples: Sequence[dict], predictions: Sequence,
                          labels: LabelMap | None, probs: bool) -> int:
        """``{question id: answer}`` JSON; returns the number of questions."""
        answers = {qid: q["answer"] for qid, q in self.answers(examples, predictions).items()}
        f.write(json.dumps(answers, ensure_ascii=False, indent=1) + "\n")
        return len(answers)


def _token_end(text: str, starts: Sequence[int], t: int) -> int:
    """The character after token ``t``: up to the next token's start (or the text's end),
    without the spaces between them."""
    end = starts[t + 1] if t + 1 < len(starts) else len(text)
    while end > starts[t] + 1 and text[end - 1].isspace():
        end -= 1
    return end


def _token_span(starts: Sequence[int], ends: Sequence[int], begin: int, stop: int) -> tuple[int, int] | None:
    """The first and last token that cover characters ``[begin, stop)``."""
    covering = [t for t in range(len(starts)) if starts[t] < stop and ends[t] > begin]
    return (covering[0], covering[-1]) if covering else None


def _windows(n: int, room: int, stride: int) -> list[tuple[int, int]]:
    """(offset, length) windows of ``room`` tokens over ``n``, each ``stride`` after the last,
    the last reaching the end (one empty window for an empty context)."""
    out, offset = [], 0
    while True:
        length = min(room, n - offset)
        out.append((offset, length))
        if offset + length >= n:
            return out
        offset += min(length, stride)


def _is_max_context(windows: Sequence[tuple[int, int]], w: int, position: int) -> bool:
    """Whether window ``w`` gives token ``position`` the most context (the smaller of its left
    and right context, plus a hundredth of the window's length; ties go to the first window)."""
    best, best_score = None, None
    for i, (offset, length) in enumerate(windows):
        if not offset <= position < offset + length:
            continue
        score = min(position - offset, offset + length - 1 - position) + 0.01 * length
        if best_score is None or score > best_score:
            best, best_score = i, score
    return best == w
