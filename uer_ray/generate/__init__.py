"""Text generation (``python run.py generate``): greedy, beam search and sampling from language
models and encoder–decoder models, with a key/value cache (docs/generate.md).

    import uer_ray
    from uer_ray.generate import GenerateOptions, generate
    model = uer_ray.load_model("zoo:clue+gpt-tiny+lm")
    print(generate(model, ["今天天气"], GenerateOptions(max_new_tokens=20))[0].text)
"""

from uer_ray.generate.api import GenerateOptions, Generation, generate, generating_target

__all__ = ["GenerateOptions", "Generation", "generate", "generating_target"]
