"""uer_ray: assemble-on-demand NLP pre-training (UER: embedding × encoder × weighted targets)
on Ray Data, Ray Train and Ray Tune.

Public API::

    import uer_ray
    model = uer_ray.build_model(uer_ray.load_preset("bert-tiny"), vocab_size=21128)
    model = uer_ray.load_model("runs/bert/final")      # a checkpoint directory, eval mode
    logits = model.logits(input_ids, segment_ids)      # {"mlm": (B,T,V), "sp": (B,2)}
"""

__version__ = "0.1.0"

__all__ = ["__version__", "build_model", "load_model", "load_preset"]


def __getattr__(name: str):
    # imported lazily so that `import uer_ray` (CLI start-up, Ray workers) does not pull in torch
    if name in ("build_model", "load_model", "load_preset"):
        from uer_ray import models

        return getattr(models, name)
    raise AttributeError(f"module 'uer_ray' has no attribute {name!r}")
