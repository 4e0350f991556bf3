"""What a driver sends to its Ray Train workers: small frozen specs instead of string-keyed dicts,
so that a worker reads ``spec.schedule.lr`` and a misspelt field fails on the driver, at build
time, not on a worker minutes into a run. Both pickle to the workers as they are (Ray sends the
``train_loop_config``); object references travel inside them untouched."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from uer_ray.data.masking import MaskingConfig
from uer_ray.plugins import Plugin
from uer_ray.tasks.checkpoint import TaskSettings
from uer_ray.tasks.loop import Hyperparameters, Runtime
from uer_ray.train.batches import StreamConfig


@dataclass(frozen=True, kw_only=True)
class Schedule:
    """The optimiser's run: AdamW steps with warm-up and decay, clipping, accumulation."""

    steps: int
    lr: float
    weight_decay: float
    adam_bias_correction: bool
    """torch's AdamW; False: BERT's and UER-py's update (``optim.BertAdamW``)"""
    warmup_steps: int
    kind: str
    """linear, cosine or constant (``optim.build_scheduler``)"""
    clip: float
    """gradient-norm clip (0: off)"""
    grad_accum: int


@dataclass(frozen=True, kw_only=True)
class PretrainSpec:
    """Everything a pre-training worker needs (``worker.pretrain_worker``). Nothing in it names
    a file of the output folder: the workers write no file there."""

    model_config: dict[str, Any]
    tokenizer: Any
    tgt_tokenizer: Any = None
    """``mt``: the target side's (saved as the checkpoint's ``tgt_tokenizer/``)"""
    init: str | None
    """absolute path of the checkpoint to start from (stage 2), or None"""
    masking: MaskingConfig | None
    """dynamic MLM masking when a target needs it (``Target.needs_masking``)"""
    schedule: Schedule
    stream: StreamConfig
    seed: int
    save_every: int
    log_every: int
    use_gpu: bool = False
    bf16: bool = True
    compile: bool = False
    meta: dict[str, Any] = field(default_factory=dict)
    """what produced the run: saved in every checkpoint's meta.json"""
    progress: bool = True
    on_step: Callable[[int, int], None] | None = None
    """called as ``on_step(rank, step)`` after every optimiser step (tests, profilers)"""
    plugins: tuple[Plugin, ...] = ()
    """modules from outside uer_ray that the model needs registered (``uer_ray.plugins``)"""

    @property
    def rows_per_step(self) -> int:
        """Rows one worker trains on per optimiser step."""
        return self.stream.batch_size * self.schedule.grad_accum


@dataclass(frozen=True, kw_only=True)
class FinetuneSpec:
    """Everything a fine-tuning worker needs (``finetune_ray.finetune_worker``): worker ``r``
    reads only ``parts[r]`` from the object store, rank 0 also the starting weights and dev."""

    settings: TaskSettings
    model_config: dict[str, Any]
    hp: Hyperparameters
    runtime: Runtime
    """``device`` is set by each worker"""
    use_gpu: bool
    parts: tuple[Any, ...]
    """object references to each worker's training examples (example i on worker i % N)"""
    part_sizes: tuple[int, ...]
    lengths: tuple[int, ...]
    """token counts of all training examples, from which every worker plans each epoch"""
    state: Any
    """object reference to the starting weights (rank 0 loads them, DDP broadcasts)"""
    dev: Any
    """object reference to the dev examples (rank 0 evaluates)"""
    plugins: tuple[Plugin, ...] = ()
    tokenizers: tuple[Any, Any] = (None, None)
    """the model's tokenizer and target-side tokenizer: a task that writes text (text2text)
    decodes with them when rank 0 generates for dev"""
