"""uer_ray: assemble-on-demand NLP pre-training (UER: embedding × encoder × weighted targets)
on Ray Data, Ray Train and Ray Tune.

Public API::

    import uer_ray
    model = uer_ray.build_model(uer_ray.load_preset("bert-tiny"), vocab_size=21128)
    model = uer_ray.load_model("runs/bert/final")      # a checkpoint directory, eval mode
    model = uer_ray.load_model("zoo:cluecorpussmall+bert-tiny+mlm-sp@latest")   # a zoo entry
    logits = model.logits(input_ids, segment_ids)      # {"mlm": (B,T,V), "sp": (B,2)}
"""

__version__ = "0.1.0"

__all__ = ["__version__", "build_model", "load_model", "load_preset"]


def load_model(checkpoint, map_location="cpu"):
    """The model of a checkpoint directory, a ``zoo:NAME[@VERSION|@ALIAS]`` reference (fetched
    and verified by sha256 first) or a remote checkpoint URI, in eval mode, with
    ``model.tokenizer`` attached when the checkpoint has one."""
    from uer_ray.models import load_model as load_dir
    from uer_ray.zoo import resolve_checkpoint

    return load_dir(resolve_checkpoint(str(checkpoint)), map_location=map_location)


def __getattr__(name: str):
    # imported lazily so that `import uer_ray` (CLI start-up, Ray workers) does not pull in torch
    if name in ("build_model", "load_preset"):
        from uer_ray import models

        return getattr(models, name)
    raise AttributeError(f"module 'uer_ray' has no attribute {name!r}")
