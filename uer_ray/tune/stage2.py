"""Stage-2 pre-training shared between the trials of a search.

Trials with the same stage-2 configuration — stage-1 source, encoder config, corpus identity
(the shard manifest's sha256), targets and weights, steps, seed and optimiser settings — reuse
one pre-trained checkpoint under ``SEARCH/stage2/<key>/``. A small named Ray actor per search
hands out the right to train each key: the first trial that needs it trains it, a second one
that needs it at the same time waits for it instead of training it again. A claim is kept alive
by the trainer's log lines; a claim whose trainer went silent for ``STALE_S`` (a crashed trial)
is handed to the next trial, which resumes the run from its last checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

STALE_S = 180.0
POLL_S = 2.0


def stage2_key(parts: dict[str, Any]) -> str:
    """A short stable hash of everything that makes two stage-2 runs the same."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class _Registry:
    """key -> (holder, last heartbeat); an actor, so trials on every node share it."""

    def __init__(self):
        self.claims: dict[str, tuple[str, float]] = {}

    def claim(self, key: str, holder: str) -> bool:
        now = time.time()
        current = self.claims.get(key)
        if current is None or current[0] == holder or now - current[1] > STALE_S:
            self.claims[key] = (holder, now)
            return True
        return False

    def beat(self, key: str, holder: str) -> None:
        if self.claims.get(key, (None,))[0] == holder:
            self.claims[key] = (holder, time.time())

    def release(self, key: str, holder: str) -> None:
        if self.claims.get(key, (None,))[0] == holder:
            del self.claims[key]


def registry(search_id: str):
    """The search's registry actor (created by the first caller, found by the others)."""
    import ray

    actor = ray.remote(num_cpus=0, max_concurrency=16)(_Registry)
    return actor.options(name=f"uer_ray.stage2.{search_id}", namespace="uer_ray",
                         get_if_exists=True, lifetime=None).remote()


def finished(folder: Path, steps: int, home=None) -> dict | None:
    """The stage-2 run's result record when it has trained ``steps`` steps. With a store home
    (``home.remote``) the store is asked, and a finished run is pulled into ``folder`` first."""
    from uer_ray.errors import UerRayError
    from uer_ray.records import read_record

    if home is not None and home.remote:
        data = home.read_bytes("stage2", folder.name, "metrics.json")  # pushed last: the commit
        if data is None or json.loads(data)["results"]["steps"] < steps:
            return None
        home.pull(folder.parent.parent, "stage2", folder.name, refresh=not _complete(folder, data))
    path = folder / "metrics.json"
    if not path.exists():
        return None
    try:
        record = read_record(path)
    except UerRayError:
        return None
    return record if record["results"]["steps"] >= steps else None


def _complete(folder: Path, committed: bytes) -> bool:
    """The local copy of a stage-2 folder is the one the store committed."""
    path = folder / "metrics.json"
    return path.is_file() and path.read_bytes() == committed and (folder / "final").is_dir()


def ensure(folder: Path, steps: int, *, search_id: str, holder: str,
           train: Callable[[bool, Callable[[dict], None]], dict], home=None,
           work: Path | None = None) -> tuple[dict, bool]:
    """The finished stage-2 record in ``folder``: trained here (``train(resume, on_log)``) when
    no other trial is training it, else waited for. Returns (record, trained_here). With a
    store home a run trained here is pushed (``final/``, then ``metrics.json``, the commit), and
    one trained on another node is pulled."""
    import ray

    key = folder.name
    reg = registry(search_id)
    while True:
        record = finished(folder, steps, home)
        if record is not None:
            return record, False
        if ray.get(reg.claim.remote(key, holder)):
            break
        time.sleep(POLL_S)
    try:
        record = finished(folder, steps, home)  # finished between our look and the claim
        if record is not None:
            return record, False
        remote = home is not None and home.remote
        if remote:
            # a crashed trainer left its checkpoints in the store's ray/ and its run.json in
            # stage2/<key>/: any node resumes it
            from uer_ray.train.run_storage import has_run

            resume = (home.exists("stage2", key, "run.json")
                      and has_run(folder, f"stage2-{key}", home.uri_of("ray")))
            if resume:
                home.pull(work, "stage2", key, "run.json", refresh=True)
        else:
            resume = (folder / "run.json").exists()
        pushed = []

        def beat(_line) -> None:
            reg.beat.remote(key, holder)
            if remote and not pushed:  # the run has started: its run.json is written
                home.push(work, "stage2", key, "run.json")
                pushed.append(True)

        record = train(resume, beat)
        if remote:
            home.push(work, "stage2", key, "final")
            home.push(work, "stage2", key, "metrics.json")
        return record, True
    finally:
        ray.get(reg.release.remote(key, holder))
