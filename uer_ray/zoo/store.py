"""``Zoo``: a store of named, versioned models on a local folder or an object store.

Layout under the store root (the same on a folder and on S3)::

    NAME/versions/VERSION/...      checkpoint files, metrics.json, README.md, zoo_entry.json
    NAME/records/VERSION.json      the entry record: written LAST, it makes the version exist
    NAME/aliases/ALIAS.json        {"version": ...}: one small object per alias

Object stores have no atomic rename, so a version never moves: its files are uploaded under a
fresh version id (UTC time + 32 random bits: concurrent publishers never collide), and it becomes
visible only when its record is written, in one PUT (a local store writes the record under a
temporary name and renames it). Readers list ``records/``, so they never see a version without
its record; a crash or Ctrl-C mid-publish leaves files under ``versions/`` that nothing lists,
which ``verify`` reports and ``gc`` removes. Aliases are single objects: last writer wins.
``latest`` is not stored: it is always the newest committed version."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from uer_ray.records import find_record, read_record
from uer_ray.suggest import did_you_mean
from uer_ray.zoo import entry as E
from uer_ray.zoo.cache import local_copy
from uer_ray.zoo.card import render_card
from uer_ray.zoo.refs import (
    LATEST,
    Ref,
    ZooError,
    check_alias,
    check_name,
    derive_name,
    is_version,
    new_version,
    parse_ref,
)
from uer_ray.zoo.storage import Progress, Storage, _no_progress

ENV = "UER_RAY_ZOO"


def default_uri() -> str:
    return os.environ.get(ENV) or str(Path("~/.cache/uer_ray/zoo").expanduser())


@dataclass(frozen=True)
class EntryRef:
    """A published version: ``name``, ``version`` and the URI of its folder."""

    name: str
    version: str
    uri: str

    @property
    def ref(self) -> str:
        return f"zoo:{self.name}@{self.version}"

    def __str__(self) -> str:
        return self.ref


class Zoo:
    """The store at ``uri`` (None: ``$UER_RAY_ZOO``, else ``~/.cache/uer_ray/zoo``)."""

    def __init__(self, uri: str | None = None):
        self.storage = Storage(uri or default_uri())
        self.uri = self.storage.uri

    def __repr__(self) -> str:
        return f"Zoo({self.uri!r})"

    # -- reading --------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Entry names with at least one committed version."""
        found = [n for n in self.storage.names(dirs=True) if _valid_name(n)]
        with ThreadPoolExecutor(8) as pool:
            has = list(pool.map(self.versions, found))
        return [n for n, v in zip(found, has, strict=True) if v]

    def versions(self, name: str) -> list[str]:
        """Committed version ids of ``name``, oldest first (ids sort by time)."""
        files = self.storage.names(name, "records", dirs=False)
        return sorted(f[:-5] for f in files if f.endswith(".json") and is_version(f[:-5]))

    def record(self, name: str, version: str) -> dict:
        data = self.storage.read_bytes(name, "records", f"{version}.json")
        if data is None:
            raise ZooError(f"zoo:{name}@{version}: no such version in {self.uri}")
        return E.parse_entry(data, f"zoo:{name}@{version}")

    def entries(self, names: Sequence[str] | None = None, all_versions: bool = True) -> list[dict]:
        """Entry records (every version, or the newest of each name), read in parallel."""
        names = self.names() if names is None else list(names)
        with ThreadPoolExecutor(8) as pool:
            per_name = list(pool.map(self.versions, names))
            keys = [(n, v) for n, vs in zip(names, per_name, strict=True)
                    for v in (vs if all_versions else vs[-1:])]
            return list(pool.map(lambda k: self.record(*k), keys))

    def aliases(self, name: str) -> dict[str, str]:
        """alias -> version of ``name``, ``latest`` included."""
        versions = self.versions(name)
        out = {LATEST: versions[-1]} if versions else {}
        for file in self.storage.names(name, "aliases", dirs=False):
            if file.startswith("."):  # a local alias being written (temporary name)
                continue
            data = self.storage.read_bytes(name, "aliases", file)
            version = json.loads(data).get("version") if data else None
            if file.endswith(".json") and version in versions:
                out[file[:-5]] = version
        return out

    def resolve(self, ref: str | Ref) -> tuple[str, str]:
        """(name, version) of ``[zoo:]NAME[@VERSION|@ALIAS|@UNIQUE-VERSION-PREFIX]``; an unknown
        name or tag is a ZooError with a "did you mean"."""
        ref = parse_ref(ref) if isinstance(ref, str) else ref
        versions = self.versions(ref.name)
        if not versions:
            hint = did_you_mean(ref.name, self.names(), cutoff=0.5, brackets=True)
            raise ZooError(f"no zoo entry {ref.name!r} in {self.uri}{hint}")
        tag = ref.tag or LATEST
        if tag in versions:
            return ref.name, tag
        aliases = self.aliases(ref.name)
        if tag in aliases:
            return ref.name, aliases[tag]
        matches = [v for v in versions if v.startswith(tag)]
        if len(matches) == 1:
            return ref.name, matches[0]
        if len(matches) > 1:
            raise ZooError(f"zoo:{ref.name}@{tag} is ambiguous: {', '.join(matches[:5])}")
        hint = did_you_mean(tag, [*aliases, *versions], cutoff=0.5, brackets=True)
        raise ZooError(f"zoo:{ref.name} has no version or alias {tag!r}{hint}; aliases: "
                       f"{', '.join(sorted(aliases))}")

    def children(self, name: str, version: str) -> list[dict]:
        """Entries whose lineage names ``name@version`` as their parent."""
        return [e for e in self.entries() if (e.get("lineage") or {}).get("parent") == f"{name}@{version}"]

    def lineage(self, ref: str) -> list[dict]:
        """The chain of entries from the oldest ancestor in this zoo to ``ref``."""
        chain = [self.record(*self.resolve(ref))]
        while (parent := (chain[0].get("lineage") or {}).get("parent")) and len(chain) < 50:
            name, _, version = parent.partition("@")
            try:
                chain.insert(0, self.record(name, version))
            except ZooError:
                break  # a parent in another store, or removed: the chain stops here
        return chain

    def version_uri(self, name: str, version: str) -> str:
        return self.storage.uri_of(name, "versions", version)

    # -- writing --------------------------------------------------------------------------
    def publish(self, checkpoint: str | Path, *, name: str | None = None, aliases: Sequence[str] = (),
                provenance: dict | None = None, progress: Progress | None = None,
                imported: dict | None = None) -> EntryRef:
        """Publish a checkpoint folder as a new version; see ``uer_ray.zoo.publish``."""
        folder = E.checkpoint_folder(checkpoint)
        record_path = find_record(folder)
        if record_path is None and imported is None:
            raise ZooError(f"{checkpoint}: no result record (metrics.json) here or beside it; "
                           "publish reads results and lineage from the record that pretrain and "
                           "finetune write (import other checkpoints with `zoo import`)")
        record = read_record(record_path) if record_path is not None else None
        lineage = imported or self._lineage_of(record)
        parent_name = (lineage.get("parent") or "").partition("@")[0] or None
        name = check_name(name) if name else derive_name(record, parent_name) if record else None
        if name is None:
            raise ZooError(f"{checkpoint}: give the entry a name (--name)")
        for alias in aliases:
            if check_alias(alias) == LATEST:
                raise ZooError("'latest' always names the newest version; choose another alias")
        fields = dict(  # everything but the files, checked before any byte is written
            name=name, kind=E.kind_of(record), model=E.model_description(record, folder),
            data=(record or {}).get("data") or {},
            training=E.training_summary(record) if record else {"stage": None},
            results=E.result_rows(record) if record else [], lineage=lineage,
            provenance={**((record or {}).get("provenance") or {}), **(provenance or {})},
            source={"checkpoint": str(folder), "record_checkpoint": (record or {}).get("checkpoint"),
                    "stage": (record or {}).get("stage")})
        files = E.collect_files(folder, record_path)
        version = self._fresh_version(name)
        try:
            self._upload(files, fields, version, progress or _no_progress)
        except BaseException:
            with contextlib.suppress(ZooError):  # best effort: gc removes what is left
                self.storage.delete_dir(name, "versions", version)
            raise
        for alias in aliases:
            self.set_alias(f"{name}@{version}", alias)
        return EntryRef(name, version, self.version_uri(name, version))

    def _fresh_version(self, name: str) -> str:
        for _ in range(5):
            version = new_version()
            if not self.storage.list(name, "versions", version):
                return version
        raise ZooError(f"could not find a free version id under {self.uri}/{name}")

    def _upload(self, files, fields: dict, version: str, progress) -> dict:
        """Files first, then the card, then the record; the record is the commit."""
        name = fields["name"]
        prefix = (name, "versions", version)
        stored = {}
        for rel, path in files:
            stored[rel] = self.storage.upload(path, (*prefix, *rel.split("/")), progress)
        draft = E.build_entry(**fields, version=version, files=stored, card_sha256="")
        card = render_card(draft, self._ancestors(fields["lineage"])).encode("utf-8")
        self.storage.put_bytes(card, *prefix, E.CARD_FILE)
        entry = {**draft, "card": {"file": E.CARD_FILE, "sha256": _sha(card)}}
        self.storage.put_bytes(E.dump(entry), *prefix, E.ENTRY_FILE)
        self.storage.put_bytes(E.dump(entry), name, "records", f"{version}.json")  # commit
        return entry

    def _ancestors(self, lineage: dict) -> list[dict]:
        parent = lineage.get("parent")
        if not parent:
            return []
        try:
            return self.lineage(parent)
        except ZooError:
            return []

    def _lineage_of(self, record: dict) -> dict:
        """Lineage from the record's ``parent``: the zoo entry it names, else the entry whose
        folder or weights the parent checkpoint is (so a parent published from a plain path is
        still found)."""
        parent = record.get("parent") or {}
        out = {"parent": None, "relation": parent.get("relation"),
               "checkpoint": parent.get("checkpoint"), "stage": parent.get("stage")}
        if not parent:
            return out
        if parent.get("zoo"):
            out["parent"] = self._parent_ref(parent["zoo"])
        elif parent.get("checkpoint"):
            out["parent"] = self._find_published(Path(parent["checkpoint"]))
        return out

    def _parent_ref(self, text: str) -> str:
        """``name@version`` of the parent the record names; kept as written when it lives in
        another store (the lineage walk then stops there)."""
        try:
            name, version = self.resolve(text)
        except ZooError:
            return str(parse_ref(text))
        return f"{name}@{version}"

    def _find_published(self, folder: Path) -> str | None:
        marker = folder / E.ENTRY_FILE
        if marker.is_file():
            entry = E.parse_entry(marker.read_bytes(), str(marker))
            return f"{entry['name']}@{entry['version']}"
        weights = folder / "model.safetensors"
        if not weights.is_file():
            return None
        from uer_ray.zoo.digest import hash_file

        size = weights.stat().st_size
        same_size = [e for e in self.entries() if (e["files"].get("model.safetensors") or {}).get("size") == size]
        digests: dict = {}  # one hash per digest scheme among the candidates (usually one)
        hits = []
        for e in same_size:
            want = e["files"]["model.safetensors"]
            scheme = want.get("piece_size")
            if scheme not in digests:
                digests[scheme] = hash_file(weights, scheme)[0]
            if digests[scheme] == want["sha256"]:
                hits.append(e)
        hits.sort(key=lambda e: e["version"])
        return f"{hits[-1]['name']}@{hits[-1]['version']}" if hits else None

    def set_alias(self, ref: str, alias: str) -> tuple[str, str]:
        """Point ``alias`` of the entry at the version ``ref`` names (last writer wins)."""
        if check_alias(alias) == LATEST:
            raise ZooError("'latest' always names the newest version and cannot be moved")
        name, version = self.resolve(ref)
        self.storage.put_bytes(E.dump({"version": version}), name, "aliases", f"{alias}.json")
        return name, version

    def delete_alias(self, name: str, alias: str) -> None:
        if alias not in self.aliases(check_name(name)) or alias == LATEST:
            hint = did_you_mean(alias, self.aliases(name), cutoff=0.5, brackets=True)
            raise ZooError(f"zoo:{name} has no alias {alias!r}{hint}")
        self.storage.delete_file(name, "aliases", f"{alias}.json")

    def remove(self, ref: str) -> tuple[str, str]:
        """Remove one version; refused while another entry names it as its parent. The record
        goes first (the version disappears at once), then aliases to it, then its files."""
        name, version = self.resolve(ref)
        kids = self.children(name, version)
        if kids:
            raise ZooError(f"zoo:{name}@{version} is the parent of "
                           + ", ".join(f"{k['name']}@{k['version']}" for k in kids[:3])
                           + "; remove those first")
        aliases = self.aliases(name)
        self.storage.delete_file(name, "records", f"{version}.json")
        for alias, target in aliases.items():
            if target == version and alias != LATEST:
                self.storage.delete_file(name, "aliases", f"{alias}.json")
        self.storage.delete_dir(name, "versions", version)
        return name, version

    # -- checking -------------------------------------------------------------------------
    def orphans(self) -> list[tuple[str, str, float | None]]:
        """(name, version, age in seconds) of version folders without a record: publishes that
        are still running, or were interrupted."""
        import time

        out = []
        for name in (n for n in self.storage.names(dirs=True) if _valid_name(n)):
            committed = set(self.versions(name))
            for v in self.storage.names(name, "versions", dirs=True):
                if v not in committed:
                    found = [*self.storage.list(name, "versions", v, recursive=True),
                             self.storage.info(name, "versions", v)]  # an empty folder has its own time
                    times = [i.mtime.timestamp() for i in found if i.mtime is not None]
                    out.append((name, v, time.time() - max(times) if times else None))
        return out

    def gc(self, older_than: float = 3600.0, dry_run: bool = False) -> list[tuple[str, str]]:
        """Delete record-less version folders untouched for ``older_than`` seconds (younger
        ones may be publishes in progress)."""
        gone = [(n, v) for n, v, age in self.orphans() if age is None or age >= older_than]
        if not dry_run:
            for name, version in gone:
                self.storage.delete_dir(name, "versions", version)
        return gone

    def verify(self, ref: str, progress: Progress = _no_progress) -> list[str]:
        """Problems of one stored version (every file re-read from the store and hashed);
        [] when it is intact."""
        name, version = self.resolve(ref)
        entry = self.record(name, version)
        problems = []
        listing = {i.path: i for i in self.storage.list(name, "versions", version, recursive=True)}
        expected = {**entry["files"], E.CARD_FILE: {"sha256": entry["card"]["sha256"], "size": None}}
        for rel, want in expected.items():
            info = listing.get(self.storage.path(name, "versions", version, *rel.split("/")))
            if info is None:
                problems.append(f"{rel}: missing")
                continue
            if want["size"] is not None and info.size != want["size"]:
                problems.append(f"{rel}: {info.size:,} bytes, recorded {want['size']:,} (truncated or replaced)")
                continue
            sha, _ = self.storage.hash(name, "versions", version, *rel.split("/"),
                                       piece_size=want.get("piece_size"), progress=progress)
            if sha != want["sha256"]:
                problems.append(f"{rel}: sha256 {sha[:12]}… differs from the recorded {want['sha256'][:12]}…")
        return problems

    def checkout(self, ref: str, progress: Progress | None = None) -> Path:
        """A verified local folder of the version ``ref`` names (see ``uer_ray.zoo.cache``)."""
        name, version = self.resolve(ref)
        return local_copy(self, name, version, self.record(name, version), progress or _no_progress)


def _valid_name(name: str) -> bool:
    try:
        check_name(name)
        return True
    except ZooError:
        return False


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()  # the card's record has no piece_size: plain sha256

