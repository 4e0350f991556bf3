"""Run tracking: ``metrics.jsonl`` in the output folder and Weights & Biases (rank 0 only)."""

from uer_ray.tracking.metrics_log import MetricsLog, read_metrics
from uer_ray.tracking.wandb_run import WandbRun, WandbSettings, describe_model

__all__ = ["MetricsLog", "WandbRun", "WandbSettings", "describe_model", "read_metrics"]
