"""Names, versions, aliases and ``zoo:`` references, and the errors the zoo raises.

An entry name follows UER-py's corpus + encoder + targets naming
(``cluecorpussmall+bert-tiny+mlm-sp``); a version id is ``YYYYMMDD-HHMMSS-mmm-<8 hex>`` (UTC time of
publishing to the millisecond plus 32 random bits, so concurrent publishers never pick the same
one and ids sort by time); an alias is a movable short name (``latest`` always means the newest version)."""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass

from uer_ray.errors import UerRayError

PREFIX = "zoo:"
LATEST = "latest"
_NAME = re.compile(r"[a-z0-9][a-z0-9._+-]{0,99}")
_ALIAS = re.compile(r"[a-z0-9][a-z0-9._+-]{0,63}")
_VERSION = re.compile(r"\d{8}-\d{6}-\d{3}-[0-9a-f]{8}")
NAME_RULE = "lower-case letters, digits and . _ + - (at most 100, starting with a letter or digit)"


class ZooError(UerRayError):
    """A zoo operation that cannot be done: unknown entry, invalid name, unreachable store,
    a file that fails its sha256 check. The CLI prints it as one line."""


@dataclass(frozen=True)
class Ref:
    """A parsed reference: ``name`` plus an optional ``version`` id or ``alias``."""

    name: str
    tag: str | None = None

    @property
    def is_version(self) -> bool:
        return self.tag is not None and bool(_VERSION.fullmatch(self.tag))

    def __str__(self) -> str:
        return self.name if self.tag is None else f"{self.name}@{self.tag}"


def is_zoo_ref(text: object) -> bool:
    """True for ``zoo:NAME[@VERSION|@ALIAS]`` strings (whether or not the entry exists)."""
    return isinstance(text, str) and text.startswith(PREFIX)


def parse_ref(text: str) -> Ref:
    """``[zoo:]NAME[@VERSION|@ALIAS]`` -> Ref; an invalid name or tag is a ZooError."""
    body = text[len(PREFIX):] if is_zoo_ref(text) else text
    name, _, tag = body.partition("@")
    check_name(name)
    if "@" in body and not (_VERSION.fullmatch(tag) or _ALIAS.fullmatch(tag)):
        raise ZooError(f"{text!r}: {tag!r} is neither a version id (YYYYMMDD-HHMMSS-mmm-xxxxxxxx) nor an alias")
    return Ref(name, tag or None)


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name or "") or ".." in name:
        raise ZooError(f"invalid zoo entry name {name!r}: use {NAME_RULE}")
    return name


def check_alias(alias: str) -> str:
    if not _ALIAS.fullmatch(alias or "") or _VERSION.fullmatch(alias):
        raise ZooError(f"invalid alias {alias!r}: use lower-case letters, digits and . _ + - "
                       "(not shaped like a version id)")
    return alias


def new_version() -> str:
    """A fresh version id: UTC time to the millisecond plus 32 random bits."""
    now = time.time()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
    return f"{stamp}-{int(now * 1000) % 1000:03d}-{secrets.token_hex(4)}"


def is_version(text: str) -> bool:
    return bool(_VERSION.fullmatch(text))


def slug(text: str) -> str:
    """``text`` turned into a valid name part: lower case, other characters as ``-``."""
    out = re.sub(r"[^a-z0-9._+-]+", "-", str(text).lower()).strip("-._+")
    return re.sub(r"-{2,}", "-", out).replace("..", ".") or "model"


def derive_name(record: dict, parent_name: str | None = None) -> str:
    """The default entry name of a result record, UER-py style.

    pre-trained: ``<corpus>+<preset or encoders>+<targets>`` (``cluecorpussmall+bert-tiny+mlm-sp``);
    fine-tuned: ``<parent entry name or model part>+<dataset>`` (``...+book_review``)."""
    model = record.get("model") or {}
    encoder = model.get("encoder") or []
    arch = slug(model.get("preset") or "-".join(encoder if isinstance(encoder, list) else [encoder]))
    targets = slug("-".join(model.get("targets") or {}))
    data = record.get("data") or {}
    if record.get("stage") == "finetune":
        fine = data.get("finetune") or {}
        dataset = slug(fine.get("dataset") or fine.get("task") or "finetuned")
        base = parent_name or ("scratch+" + arch if not record.get("parent") else f"{arch}+{targets}")
        return _fit(f"{base}+{dataset}")
    shards = (data.get("pretrain") or {}).get("shards") or "corpus"
    corpus = slug(str(shards).rstrip("/").rsplit("/", 1)[-1])
    return _fit(f"{corpus}+{arch}+{targets}")


def _fit(name: str) -> str:
    name = slug(name)[:100].rstrip("-._+")
    return check_name(name)
