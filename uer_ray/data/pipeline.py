"""``preprocess``: corpus files → Parquet shards + ``manifest.json`` with Ray Data (DESIGN §6).

The driver cuts the corpus into byte-range chunks (independent of the number of workers). Ray
Data runs one task per chunk: read and decode the bytes, tokenise every line in one batch, build
instances with the processor (numpy, no per-token Python for mlm/lm), write one Parquet shard,
and return counts. Chunk ``i`` draws its randomness from ``(seed, i)``, so the same input and seed
give byte-identical rows. The output folder appears only when everything succeeded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from uer_ray.atomic import atomic_dir, write_json
from uer_ray.config import to_dict
from uer_ray.data.corpus import Chunk, SkipLog, check_files, chunk_size_for, plan_chunks, read_chunk
from uer_ray.data.processors import PROCESSORS, Processor, ProcessorConfig
from uer_ray.data.shards import FORMAT_VERSION, MANIFEST
from uer_ray.data.words import segmenter_info
from uer_ray.errors import InputError
from uer_ray.tokenizers import Tokenizer

MALFORMED = ("missing_tab", "bad_columns", "empty_field", "bad_label")


def preprocess(corpus: list[str | Path], out: str | Path, *, processor: str, tokenizer: Tokenizer,
               config: ProcessorConfig, tgt_tokenizer: Tokenizer | None = None, seed: int = 0,
               max_line_chars: int = 200_000, chunk_mb: float | None = None,
               workers: int | None = None, progress: bool = True, address: str | None = None) -> dict:
    """Write shards of ``processor`` instances for ``corpus`` into ``out``; returns the manifest."""
    from uer_ray.cluster import ensure_ray

    start = time.time()
    paths = check_files(corpus)
    proc = PROCESSORS.get(processor)(tokenizer, config, tgt_tokenizer)
    for tok in (tokenizer, tgt_tokenizer):  # build lookup tables once here; workers get them pickled
        if tok is not None:
            tok.encode_flat(["warm up"])
    sources = [_describe_file(p) for p in paths]
    chunks = plan_chunks(paths, chunk_size_for(sum(s["bytes"] for s in sources), chunk_mb), proc.by_document)
    ensure_ray(address)
    with atomic_dir(out) as tmp:
        results = _run(chunks, proc, tmp, seed, max_line_chars, workers or _default_workers(address), progress)
        manifest = _manifest(proc, config, seed, sources, results, tokenizer, tgt_tokenizer)
        _refuse_bad_corpus(manifest, proc, paths)
        manifest["seconds"] = round(time.time() - start, 3)
        manifest["task_cpu_seconds"] = round(sum(r["cpu_seconds"] for r in results), 3)
        # The tokenizer travels with the shards, so `pretrain --data DIR` needs no --vocab.
        tokenizer.save(tmp / "tokenizer")
        if tgt_tokenizer is not None:
            tgt_tokenizer.save(tmp / "tgt_tokenizer")
        write_json(tmp / MANIFEST, manifest)
    return manifest


def _default_workers(address: str | None) -> int:
    """Tasks at once: the physical cores here for an embedded cluster (its logical CPUs are
    inflated, DESIGN §5), else the cluster's CPUs."""
    if address or os.environ.get("RAY_ADDRESS"):
        import ray

        return max(1, int(ray.cluster_resources().get("CPU", 1)))
    return os.cpu_count() or 1


def _describe_file(path: Path) -> dict:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return {"path": str(path), "bytes": path.stat().st_size, "sha256": h.hexdigest()}


def process_chunk(row: dict, *, processor: Processor, out_dir: str, seed: int, max_line_chars: int) -> dict:
    """One Ray Data task: chunk → shard file; returns the chunk's counts."""
    cpu = time.process_time()
    chunk = Chunk(**row)
    skips = SkipLog()
    lines, numbers = read_chunk(chunk, skips, max_line_chars)
    rng = np.random.default_rng([seed, chunk.index])
    table = processor.instances(chunk.path, lines, numbers, rng, skips)
    name = ""
    if table.num_rows:
        name = f"shard-{chunk.index:05d}.parquet"
        # zstd: token-id shards about 5x smaller than raw, written as fast as with snappy
        pq.write_table(table, os.path.join(out_dir, name), compression="zstd")
    tgt = table["tgt_ids"] if "tgt_ids" in table.column_names else None
    return {
        "index": chunk.index, "file": name, "instances": table.num_rows,
        "tokens": _count(table["input_ids"]), "tgt_tokens": _count(tgt) if tgt is not None else 0,
        "lines": len(lines) + skips.counts.get("undecodable", 0) + skips.counts.get("too_long", 0),
        "bytes": chunk.end - chunk.start, "skips": json.dumps(skips.to_dict()),
        "cpu_seconds": time.process_time() - cpu,
    }


def _count(column) -> int:
    return int(pc.sum(pc.list_value_length(column)).as_py() or 0) if len(column) else 0


def _run(chunks, proc, tmp: Path, seed, max_line_chars, workers, progress) -> list[dict]:
    import ray.data
    from tqdm import tqdm

    # Ray Data's own start/finish notes would interleave with the progress bar
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    ds = ray.data.from_items([asdict(c) for c in chunks], override_num_blocks=len(chunks))
    ds = ds.map(process_chunk, fn_kwargs={"processor": proc, "out_dir": str(tmp), "seed": seed,
                                          "max_line_chars": max_line_chars},
                compute=ray.data.TaskPoolStrategy(size=max(1, min(workers, len(chunks)))), num_cpus=1)
    results = []
    total = sum(c.end - c.start for c in chunks)
    with tqdm(total=total, unit="B", unit_scale=True, desc=f"preprocess {proc.name}",
              disable=not progress, dynamic_ncols=True) as bar:
        tokens = 0
        for row in ds.iter_rows():
            results.append(row)
            tokens += row["tokens"]
            bar.set_postfix(instances=sum(r["instances"] for r in results), tokens=tokens, refresh=False)
            bar.update(row["bytes"])
    return sorted(results, key=lambda r: r["index"])


def _manifest(proc, config, seed, sources, results, tok, tgt_tok) -> dict:
    skips = SkipLog()
    for r in results:  # chunk order: stable examples
        skips.merge(json.loads(r["skips"]))
    manifest = {
        "format_version": FORMAT_VERSION,
        "processor": proc.name,
        "columns": proc.written_columns,
        "seq_length": config.seq_length,
        "config": to_dict(config),
        "seed": seed,
        "tokenizer": tok.describe(),
        "corpus": sources,
        "instances": sum(r["instances"] for r in results),
        "tokens": sum(r["tokens"] for r in results),
        "lines": sum(r["lines"] for r in results),
        "skipped": {"total": skips.total, **skips.to_dict()},
        "shards": [{"file": r["file"], "instances": r["instances"], "tokens": r["tokens"]}
                   for r in results if r["file"]],
    }
    if config.segment is not None:
        manifest["segmenter"] = segmenter_info(config.segment)
    if "tgt_ids" in proc.columns:
        manifest["tgt_tokenizer"] = (tgt_tok or tok).describe()
        manifest["tgt_tokens"] = sum(r["tgt_tokens"] for r in results)
    return manifest


def _refuse_bad_corpus(manifest: dict, proc: Processor, paths: list[Path]) -> None:
    """Errors where silently skipping would hide a real problem (DESIGN §7)."""
    counts, examples = manifest["skipped"]["counts"], manifest["skipped"]["examples"]
    where = ", ".join(map(str, paths))
    if proc.supervised:
        bad = sum(counts.get(k, 0) for k in MALFORMED)
        rows = manifest["lines"] - counts.get("empty", 0) - counts.get("header", 0)
        if rows and bad > rows / 2:
            first = next(examples[k][0] for k in MALFORMED if examples.get(k))
            detail = ", ".join(f"{k} {counts[k]}" for k in MALFORMED if counts.get(k))
            raise InputError(f"{bad} of {rows} rows are malformed ({detail}; first at {first}); "
                             f"is this a {proc.name} corpus ({proc.line_format} per line)?", where)
    if manifest["instances"] == 0:
        detail = ", ".join(f"{k} {n}" for k, n in counts.items()) or "nothing skipped"
        raise InputError(f"no training instances from {manifest['lines']} lines ({detail})", where)
