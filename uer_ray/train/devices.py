"""Where a stage computes: ``--device auto|cpu|cuda[:N]`` for work in this process, and whether
Ray Train workers get a GPU each.

``auto`` takes the GPU when PyTorch sees one (UER-py users fine-tune on a GPU without asking);
``cuda`` without a visible GPU is a one-line error, not a CUDA traceback. On GPUs the encoder
runs under bf16 autocast (as pre-training does); CPUs compute in float32, which is faster than
bf16 on most of them.
"""

from __future__ import annotations

import re

from uer_ray.errors import OptionsError

DEVICE_CHOICES = ("auto", "cpu", "cuda")
_CUDA = re.compile(r"cuda(:\d+)?")


def check_device(choice: str) -> None:
    """Reject a device name that is none of ``auto``, ``cpu``, ``cuda``, ``cuda:N``."""
    if choice not in DEVICE_CHOICES and not _CUDA.fullmatch(choice):
        from uer_ray.suggest import did_you_mean

        raise OptionsError(f"--device {choice!r} is not auto, cpu, cuda or cuda:N"
                           f"{did_you_mean(choice, DEVICE_CHOICES)}")


def resolve_device(choice: str) -> str:
    """The torch device string for ``choice`` in this process."""
    import torch

    check_device(choice)
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice.startswith("cuda"):
        if not torch.cuda.is_available():
            build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
            raise OptionsError(f"--device {choice}: PyTorch sees no CUDA GPU here (torch "
                               f"{torch.__version__}, {build}); use --device cpu or auto")
        index = int(choice.split(":")[1]) if ":" in choice else 0
        if index >= torch.cuda.device_count():
            raise OptionsError(f"--device {choice}: only {torch.cuda.device_count()} GPU(s) visible")
    return choice


def ray_workers_use_gpu(choice: str, workers: int) -> bool:
    """Whether each of ``workers`` Ray Train workers should hold a GPU: ``cuda`` always,
    ``auto`` when the cluster has a GPU for every worker, ``cpu`` never."""
    check_device(choice)
    if choice == "cpu":
        return False
    if choice.startswith("cuda"):
        return True
    import ray

    return float(ray.cluster_resources().get("GPU", 0)) >= workers
