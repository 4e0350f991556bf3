"""uer_ray: assemble-on-demand NLP pre-training (UER: embedding × encoder × weighted targets)
on Ray Data, Ray Train and Ray Tune.

Public API::

    import uer_ray
    model = uer_ray.build_model(uer_ray.load_preset("bert-tiny"), vocab_size=21128)
    model = uer_ray.load_model("runs/bert/final")      # a checkpoint directory, eval mode
    model = uer_ray.load_model("zoo:cluecorpussmall+bert-tiny+mlm-sp@latest")   # a zoo entry
    logits = model.logits(input_ids, segment_ids)      # {"mlm": (B,T,V), "sp": (B,2)}

    # the stages: plain functions over frozen options that round-trip through dicts
    record = uer_ray.pretrain(uer_ray.PretrainOptions(model="bert-tiny", data="shards",
                                                      out="runs/bert", steps=200))
    record = uer_ray.finetune(uer_ray.FinetuneOptions(task="classify", train="train.tsv",
                                                      dev="dev.tsv", out="runs/ft",
                                                      init="runs/bert/final"),
                              on_epoch=lambda r: print(r["dev/accuracy"]))
    uer_ray.predict(uer_ray.PredictOptions(model="runs/ft", input="test.tsv", out="pred.tsv"))
    lm = uer_ray.load_model("runs/gpt/final")                  # an lm, bilm, mt or ae model
    print(uer_ray.generate(lm, ["今天"], uer_ray.GenerateOptions(beams=4))[0].text)
    vectors = uer_ray.embed("runs/siamese", ["今天天气很好"], whiten=None)   # (1, H) numpy

Each stage returns its result record (docs/contracts.md), also written to ``metrics.json``.
"""

from uer_ray.version import __version__

__all__ = [
    "FinetuneOptions", "GenerateOptions", "PredictOptions", "PretrainOptions", "__version__", "build_model",
    "finetune", "generate", "load_model", "load_preset", "predict", "pretrain",
    "embed", "Whitening",
]

# name -> module that defines it; imported lazily so that `import uer_ray` (CLI start-up, Ray
# workers) does not pull in torch
_LAZY = {
    "build_model": "uer_ray.models",
    "load_preset": "uer_ray.models",
    "pretrain": "uer_ray.train.pretrain",
    "PretrainOptions": "uer_ray.train.pretrain",
    "finetune": "uer_ray.train.finetune",
    "FinetuneOptions": "uer_ray.train.finetune",
    "predict": "uer_ray.train.predict",
    "PredictOptions": "uer_ray.train.predict",
    "generate": "uer_ray.generate",
    "GenerateOptions": "uer_ray.generate",
    "embed": "uer_ray.vectors",
    "Whitening": "uer_ray.vectors",
}


def load_model(checkpoint, map_location="cpu"):
    """The model of a checkpoint directory, a ``zoo:NAME[@VERSION|@ALIAS]`` reference (fetched
    and verified by sha256 first) or a remote checkpoint URI, in eval mode, with
    ``model.tokenizer`` attached when the checkpoint has one."""
    from uer_ray.models import load_model as load_dir
    from uer_ray.zoo import resolve_checkpoint

    return load_dir(resolve_checkpoint(str(checkpoint)), map_location=map_location)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'uer_ray' has no attribute {name!r}")
