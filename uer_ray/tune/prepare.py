"""What a search makes once, before its first trial: the data files after the space's row limits,
the vocabulary (built from the training text and the stage-2 corpus, or the space's file, or the
stage-1 checkpoint's tokenizer) and the stage-2 corpus as shards. Each step is skipped when its
output is already there, so ``--resume`` finds them as they were."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from uer_ray.tune.space import NO_STAGE2, SearchSpace


@dataclass(frozen=True)
class Inputs:
    files: dict[str, str]
    vocab: str | None
    tokenizer: str
    shards: str | None
    shards_sha256: str | None


def inputs(space: SearchSpace, out: Path, *, progress: bool = True, copy: bool = False,
           zoo: str | None = None) -> Inputs:
    """The inputs in ``out``; with ``copy`` every file a trial reads is inside ``out`` (a search
    whose home is a store: trials on other machines get them from there). ``zoo``: where the
    stage-1 ``zoo:`` references are."""
    files = {split: _limited(Path(path), space.rows.get(split), out / "data", header=True, copy=copy)
             for split, path in space.data.items()}
    vocab, tokenizer = _vocabulary(space, out, files, copy, zoo)
    shards = sha = None
    if any(t != NO_STAGE2 for _, t in space.combinations()):
        shards, sha = _shards(space, out, vocab, tokenizer, progress, zoo, files)
    return Inputs(files, vocab, tokenizer, shards, sha)


def _limited(src: Path, rows: int | None, folder: Path, header: bool, copy: bool = False) -> str:
    """``src`` itself (a copy in ``folder`` with ``copy``), or a copy with its first ``rows``
    data lines."""
    from uer_ray.atomic import atomic_file

    if rows is None:
        if not copy:
            return str(src)
        dst = folder / src.name
        if not dst.exists():
            import shutil

            folder.mkdir(parents=True, exist_ok=True)
            with atomic_file(dst, "wb") as w, open(src, "rb") as f:
                shutil.copyfileobj(f, w)
        return str(dst)
    dst = folder / f"{src.stem}.first{rows}{src.suffix}"
    if not dst.exists():
        with open(src, encoding="utf-8") as f, atomic_file(dst) as w:
            for i, line in enumerate(f):
                if i >= rows + (1 if header else 0):
                    break
                w.write(line)
    return str(dst)


def _vocabulary(space: SearchSpace, out: Path, files: dict, copy: bool = False,
                zoo: str | None = None) -> tuple[str | None, str]:
    """(vocabulary file, tokenizer kind). Stage-1 checkpoints bring their own tokenizer (one
    for all of them: ``checks.check_space``); encoders from scratch beside them read its
    vocabulary, written out as ``vocab.txt``."""
    if space.from_checkpoints:
        tok = stage1_tokenizer(space, zoo)
        if all(e.from_checkpoint for e in space.encoders.values()):
            return None, tok.kind
        return _stage1_vocab(tok, out), tok.kind
    v = space.vocabulary
    kind = v.get("tokenizer", "char")
    if "size" not in v:
        return (_limited(Path(v["file"]), None, out, header=False, copy=True) if copy else v["file"]), kind
    target = out / "vocab.txt"
    if not target.exists():
        from uer_ray.tokenizers import build_vocab

        sources = [files["train"]] + ([space.stage2.corpus] if space.stage2 else [])
        build_vocab(sources, kind, int(v["size"]), target)
    return str(target), kind


def _stage1_vocab(tok, out: Path) -> str:
    """The stage-1 tokenizer's vocabulary as a file the scratch encoders build the same
    tokenizer from (checked: same kind, sha256, size, casing and special ids)."""
    import json

    from uer_ray.atomic import atomic_file
    from uer_ray.tokenizers import build_tokenizer
    from uer_ray.tune.domains import SpaceError

    target = out / "vocab.txt"
    if not target.exists():
        folder = out / "stage1_tokenizer"
        tok.save(folder)
        config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
        with atomic_file(target) as w:
            w.write((folder / config["file"]).read_text(encoding="utf-8"))
    rebuilt = build_tokenizer(tok.name, vocab=target).describe()  # as the trials build it
    keys = ("kind", "sha256", "size", "lowercase", "special_ids")
    if any(rebuilt.get(k) != tok.describe().get(k) for k in keys):
        raise SpaceError(f"the stage-1 tokenizer ({tok.name}) cannot be rebuilt from its "
                         "vocab.txt for the encoders that start from scratch")
    return str(target)


def stage2_processor(fmt: str, processor: str | None = None) -> str:
    """The processor of a stage-2 corpus: the space's ``stage2.processor`` when it names one
    (``t5`` span corruption on the downstream text), else by format: ``cls`` for labelled text
    (so every target set — lm, mlm, cls and their mixes — trains on the same instances), ``mlm``
    for plain text and for labelled text read as unlabelled."""
    if processor is not None:
        return processor
    return "cls" if fmt == "cls" else "mlm"


def _shards(space: SearchSpace, out: Path, vocab: str | None, kind: str, progress: bool,
            zoo: str | None = None, files: dict | None = None):
    """The stage-2 corpus as shards (``stage2_processor``), without the lines whose text is a
    dev or test text (``without_eval_text``) unless the space keeps them. Returns (folder,
    manifest sha256)."""
    from uer_ray.data import ProcessorConfig, preprocess

    s2 = space.stage2
    folder = out / "shards"
    manifest = folder / "manifest.json"
    if not manifest.exists():
        tokenizer = _tokenizer(space, vocab, kind, zoo)
        corpus = Path(_limited(Path(s2.corpus), s2.rows, out / "data", header=False))
        if not s2.keep_eval_text or s2.format == "unlabelled":
            corpus = stage2_corpus(space, corpus, files or {}, out / "data")
        preprocess([corpus], folder, processor=stage2_processor(s2.format, s2.processor), tokenizer=tokenizer,
                   config=ProcessorConfig(seq_length=s2.seq_length), progress=progress)
    return str(folder), hashlib.sha256(manifest.read_bytes()).hexdigest()


def stage2_corpus(space: SearchSpace, corpus: Path, files: dict, folder: Path) -> Path:
    """``corpus`` without the lines whose text (after the label in the ``cls`` and
    ``unlabelled`` formats) equals a text of the dev or test file, unless the space keeps them:
    a review that occurs in both the training and the test data must not be read by stage 2.
    In the ``unlabelled`` format only the texts are written (the labels never reach the shards).
    Writes ``<name>.stage2.txt`` and a line saying how many lines went, and returns the new file
    (``corpus`` itself when nothing changed)."""
    from uer_ray.atomic import atomic_file
    from uer_ray.tasks import get_task

    task = get_task(space.task)
    seen: set[str] = set()
    for split in ("dev", "test"):
        if files.get(split):
            for row in task.read(files[split], labelled=False):
                seen.update(row.cells[c].strip() for c in task.text_columns if row.cells.get(c))
    fmt, keep = space.stage2.format, space.stage2.keep_eval_text
    labelled = fmt in ("cls", "unlabelled")
    target = folder / f"{corpus.stem}.stage2.txt"
    kept = dropped = 0
    folder.mkdir(parents=True, exist_ok=True)
    with open(corpus, encoding="utf-8") as f, atomic_file(target) as w:
        for i, line in enumerate(f):
            text = line.rstrip("\n").split("\t", 1)[-1] if labelled else line.rstrip("\n")
            if fmt == "unlabelled" and i == 0 and line.startswith("label\t"):
                continue  # the header of a labelled file
            if not keep and text.strip() in seen:
                dropped += 1
                continue
            kept += 1
            w.write(f"{text}\n" if fmt == "unlabelled" else line)
    how = ("; labels dropped" if fmt == "unlabelled" else "")
    print(f"stage 2 corpus: {kept:,} lines{how}; {dropped:,} dropped whose text is a dev or test "
          "text (stage2.keep_eval_text: true keeps them)", flush=True)
    if not dropped and fmt != "unlabelled":
        target.unlink()
        return corpus
    return target


def _tokenizer(space: SearchSpace, vocab: str | None, kind: str, zoo: str | None = None):
    if vocab is not None:
        from uer_ray.tokenizers import build_tokenizer

        return build_tokenizer(kind, vocab=vocab)
    return stage1_tokenizer(space, zoo)


def stage1_tokenizer(space: SearchSpace, zoo: str | None = None):
    """The tokenizer of the encoders' stage-1 checkpoints (they share one)."""
    from uer_ray.models.checkpoint import checkpoint_folder
    from uer_ray.tokenizers import load_tokenizer
    from uer_ray.zoo import resolve_checkpoint

    first = next(e for e in space.encoders.values() if e.from_checkpoint)
    return load_tokenizer(checkpoint_folder(resolve_checkpoint(first.stage1, zoo=zoo)) / "tokenizer")
