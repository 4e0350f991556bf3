"""What every interop family provides (``Family``), the registry of families keyed by Hugging Face
``model_type`` (``FAMILIES``), and the family-independent pieces: ``ArchSpec``, ``ConversionReport``
and the activation names.

Every family translates through one neutral *canonical* layout (Linear weights are ``(out, in)``
as in ``nn.Linear``)::

    emb.word (V,H)  emb.pos (P,H)  emb.seg (S,H)  emb.norm.{weight,bias}
    layer.{i}.attn.{q,k,v,out}.{weight,bias}   layer.{i}.attn_norm.{weight,bias}
    layer.{i}.ff.{in,out}.{weight,bias}        layer.{i}.ff_norm.{weight,bias}
    final_norm.{weight,bias}                   (GPT-2: after the last layer)
    mlm.dense.{weight,bias}  mlm.norm.{weight,bias}  mlm.bias  pooler.{weight,bias}  sp.{weight,bias}
    layer.{i}.ff.gate.weight (gated feed-forward)  rel_bias (buckets, heads) (T5 relative positions)

Encoder–decoder families (``seq2seq = True``: T5, BART) add the decoder under ``dec.``::

    dec.emb.word (only when not shared with emb.word)  dec.emb.pos  dec.emb.norm.{weight,bias}
    dec.layer.{i}.{attn,cross}.{q,k,v,out}.{weight,bias}  dec.layer.{i}.{attn,cross,ff}_norm.*
    dec.layer.{i}.ff.{in,gate,out}.*  dec.final_norm.*  dec.rel_bias
    lm_head (V,H) (an output projection not tied to emb.word)  lm_bias (V,) (an output bias)

Position tables hold the rows of positions 0, 1, ... (a family strips its own offsets: BART's 2).

``attn_norm`` / ``ff_norm`` are the LayerNorms of the attention and feed-forward sub-layers: after
the residual sum in BERT (post-LN), before the sub-layer in GPT-2 (pre-LN). A family maps its
Hugging Face names onto this layout; ``ours`` maps the layout onto uer_ray parameter names.
"""

from __future__ import annotations

import abc
import dataclasses
import re
from dataclasses import dataclass, field

import torch

from uer_ray.errors import InputError
from uer_ray.registry import Registry

# Hugging Face activation names -> uer_ray activation names. "gelu" is the exact erf GELU;
# gelu_new / gelu_fast / gelu_pytorch_tanh are the same tanh approximation written three ways.
HF_TO_OUR_ACT = {
    "gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_fast": "gelu_tanh",
    "gelu_pytorch_tanh": "gelu_tanh", "relu": "relu", "silu": "silu", "swish": "silu",
}
OUR_TO_HF_ACT = {"gelu": "gelu", "gelu_tanh": "gelu_new", "relu": "relu", "silu": "silu"}


@dataclass(frozen=True)
class ArchSpec:
    """The sizes and options a checkpoint of one family is defined by, in neutral names."""

    family: str
    vocab_size: int
    hidden_size: int
    layers: int
    heads: int
    ffn_size: int
    max_positions: int
    type_vocab_size: int  # BERT token types (0 for GPT-2, which has none)
    eps: float
    act: str  # uer_ray activation name
    dropout: float
    attention_dropout: float
    embedding_dropout: float
    decoder_layers: int = 0
    """encoder–decoder families: the decoder's depth"""
    options: dict = field(default_factory=dict)
    """what only one family has (T5: gated, relative buckets, head size, tied, scaled output)"""


class Family(abc.ABC):
    """One Hugging Face ``model_type`` and everything about converting it; subclasses live in
    ``interop/<name>.py`` and register with ``@FAMILIES.register(name)``.

    Data attributes describe the uer_ray layout the family converts to and from; ``hf.py``,
    ``uer.py`` and ``ours.py`` read them instead of asking which family they hold."""

    name: str
    """the Hugging Face ``model_type``; set by the registry"""
    display: str
    """how summaries and errors name the family (``BERT``, ``GPT-2``)"""
    preset: str
    """the uer_ray preset an import starts from"""
    encoder: str
    """the uer_ray encoder an import uses (a uer_ray model with it may be exported)"""
    embedding: tuple[str, ...]
    """the uer_ray (and UER-py) embedding parts, in UER-py's order"""
    mask: str
    """the encoder's attention mask"""
    pre_ln: bool
    """LayerNorm before each sub-layer (else after the residual sum)"""
    embedding_layernorm: bool
    """a LayerNorm after the embedding sum"""
    targets: tuple[str, ...]
    """the uer_ray targets that have a Hugging Face head here: all pre-training heads"""
    seq2seq: bool = False
    """an encoder–decoder family: its uer_ray models have a decoder (in their sequence-to-sequence
    target) and its canonical tensors ``dec.*`` layers"""

    # ------------------------------------------------------------------ Hugging Face side
    hf_ignored: re.Pattern
    """keys that are buffers, never parameters (searched, not matched)"""
    hf_tied: tuple[str, ...]
    """keys that are stored copies of the tied output weight"""

    @abc.abstractmethod
    def check_supported(self, config: dict, cfg_file: str) -> None:
        """Raise an ``InputError`` for ``config.json`` options uer_ray does not implement."""

    @abc.abstractmethod
    def canonical_from_hf(self, key: str, value: torch.Tensor, out: dict[str, torch.Tensor]) -> bool:
        """Put one Hugging Face tensor into ``out`` in canonical names; False when unknown."""

    @abc.abstractmethod
    def hf_from_canonical(self, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Canonical tensors -> Hugging Face names of the exported class, tied copies left out."""

    @abc.abstractmethod
    def hf_heads(self, tensors: dict, tied: dict, config: dict) -> set[str]:
        """The pre-training heads a checkpoint has (canonical tensors, tied copies, config)."""

    @abc.abstractmethod
    def import_targets(self, heads: set[str]) -> list[str]:
        """The uer_ray targets an imported checkpoint with ``heads`` gets."""

    @abc.abstractmethod
    def architecture(self, targets: list[str]) -> str:
        """The Hugging Face class an export of a model with ``targets`` is written as."""

    @abc.abstractmethod
    def spec_from_hf(self, config: dict) -> ArchSpec:
        """The ``ArchSpec`` of a ``config.json`` dict (Hugging Face defaults fill gaps)."""

    def spec_from_checkpoint(self, config: dict, tensors: dict[str, torch.Tensor]) -> ArchSpec:
        """The ``ArchSpec`` of a checkpoint whose canonical ``tensors`` may settle what its
        ``config.json`` does not (T5: whether the output layer is tied); it may drop tensors
        that turn out to be copies. Default: ``spec_from_hf(config)``."""
        return self.spec_from_hf(config)

    @abc.abstractmethod
    def hf_config(self, spec: ArchSpec, base: dict, pad_id: int) -> dict:
        """``base`` (fields uer_ray has no notion of) updated with ``spec`` in this family's
        ``config.json`` names; ``pad_id`` is the exported model's padding id."""

    # ------------------------------------------------------------------ uer_ray side
    @abc.abstractmethod
    def our_config(self, spec: ArchSpec, targets: list[str], pad_id: int) -> dict:
        """The uer_ray model config of ``spec`` with ``targets``."""

    @abc.abstractmethod
    def owns(self, enc) -> bool:
        """Whether a uer_ray model with resolved encoder config ``enc`` is of this family."""

    @abc.abstractmethod
    def export_problems(self, config, emb, enc, tgt: dict) -> list[str]:
        """Every way in which a uer_ray model (config, resolved embedding / encoder / target
        configs) differs from this family's layout; empty when it can be exported."""

    @abc.abstractmethod
    def spec_from_ours(self, config, emb, enc) -> ArchSpec:
        """The ``ArchSpec`` of an exportable uer_ray model."""

    # ------------------------------------------------------------------ UER-py side
    uer_py: bool = True
    """UER-py checkpoints of this family are converted (``uer.py``); False: refused in one line"""
    uer_modules: dict[str, str]
    """UER-py module -> canonical module for the modules only this family has (current name
    first, then older ones); the transformer's own names are shared (``uer.py``)"""
    uer_keys: dict[str, str]
    """whole UER-py keys -> canonical names (current name first)"""
    uer_segments: tuple[str, ...]
    """keys of UER-py's segment table, which is uer_ray's as it is (current name first)"""
    uer_tied: tuple[str, ...]
    """keys of stored copies of the tied output weight (current name first)"""

    @abc.abstractmethod
    def owns_uer(self, cfg: dict) -> bool:
        """Whether a UER-py model config describes a model of this family."""

    @abc.abstractmethod
    def uer_tied_output(self, tensors: dict) -> str | None:
        """The UER-py key an export stores the tied output weight under (None: no such head)."""


FAMILIES: Registry[type[Family]] = Registry("interop family", package="uer_ray.models.interop",
                                            base=Family)
REPORT = "convert.json"  # what a conversion did, next to what it wrote


def family(name: str) -> Family:
    """The registered family ``name`` (an ``UnknownNameError`` lists the others)."""
    return FAMILIES.get(name)()


def families() -> list[Family]:
    """Every registered family, in name order (messages that list them read the same each run)."""
    return [family(name) for name in FAMILIES.names()]


def family_names() -> str:
    """The display names of all families, e.g. ``BERT / GPT-2``."""
    return " / ".join(f.display for f in families())


def check_activation(act: str, cfg_file: str) -> None:
    """Refuse a Hugging Face activation uer_ray does not have, naming the ones it has."""
    if act not in HF_TO_OUR_ACT:
        raise InputError(f"activation {act!r} is not supported (known: {', '.join(HF_TO_OUR_ACT)})", cfg_file)


def num_layers(tensors: dict[str, torch.Tensor]) -> int:
    """How many ``layer.{i}.`` blocks canonical ``tensors`` hold."""
    ids = {int(m.group(1)) for k in tensors if (m := re.match(r"layer\.(\d+)\.", k))}
    return max(ids) + 1 if ids else 0


@dataclass
class ConversionReport:
    """What a conversion did: written to ``convert.json`` and summarised for the CLI."""

    direction: str
    """``hf->ours``, ``uer->ours`` or ``ours->hf``"""
    family: str
    architecture: str
    """the Hugging Face class read (import) or written (export)"""
    source: str
    output: str
    mapped: int = 0
    """tensors copied (import: uer_ray tensors filled; export: Hugging Face tensors written)"""
    total: int = 0
    """tensors of the written model"""
    fresh: list[str] = field(default_factory=list)
    """uer_ray parameters the source has no weights for (freshly initialised)"""
    dropped: list[list[str]] = field(default_factory=list)
    """[source key, why] of weights with no counterpart"""
    notes: list[str] = field(default_factory=list)
    task: str | None = None
    """the uer_ray task of a fine-tuned head carried across (``hf_heads.py``); None: none"""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def summary(self) -> str:
        """One paragraph: what was converted, what is new, what was left behind."""
        display = family(self.family).display
        if self.direction == "hf->ours":
            text = [f"Imported the Hugging Face {display} checkpoint {self.source} "
                    f"({self.architecture}) into the uer_ray checkpoint {self.output}: {self.mapped} "
                    f"of the model's {self.total} tensors come from it."]
        elif self.direction == "uer->ours":
            text = [f"Imported the UER-py {display}-shaped checkpoint {self.source} "
                    f"into the uer_ray checkpoint {self.output}: {self.mapped} of the model's "
                    f"{self.total} tensors come from it."]
        else:
            text = [f"Exported the uer_ray checkpoint {self.source} as a Hugging Face "
                    f"{self.architecture} in {self.output}: {self.mapped} tensors written."]
        if self.fresh:
            names = sorted({k.removesuffix(".weight").removesuffix(".bias") for k in self.fresh})
            text.append(f"A {self.architecture} has no weights for {', '.join(names)}: they are freshly "
                        "initialised and need training before their outputs mean anything.")
        if self.dropped:
            text.append(f"Dropped {len(self.dropped)} source tensors: "
                        + "; ".join(f"{k} ({why})" for k, why in self.dropped[:6])
                        + (" ..." if len(self.dropped) > 6 else "") + ".")
        text += self.notes
        return " ".join(text)
