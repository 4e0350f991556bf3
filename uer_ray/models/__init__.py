"""Models (UER paper §3): ``ModelConfig``, ``build_model``, ``Model``, presets and checkpoint IO."""

from uer_ray.models.builder import build_model, on_meta
from uer_ray.models.checkpoint import (
    checkpoint_folder,
    load_model,
    load_state,
    load_weights,
    read_config,
    save_pretrained,
)
from uer_ray.models.config import ModelConfig
from uer_ray.models.model import Model
from uer_ray.models.output import ModelOutput
from uer_ray.models.presets import list_presets, load_preset

__all__ = [
    "Model", "ModelConfig", "ModelOutput", "build_model", "checkpoint_folder", "list_presets", "load_model",
    "load_preset", "load_state", "load_weights", "on_meta", "read_config", "save_pretrained",
]
