"""What a cluster-config check finds: problems (the file would fail on the real system) and
notes (what could not be checked offline), each naming the field or line it is about."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from uer_ray.errors import UerRayError


@dataclass(frozen=True)
class Problem:
    """One thing wrong: ``where`` is a field path (``spec.workerGroupSpecs[0].minReplicas``)
    or ``line N`` for a Dockerfile; ``rule`` names the check that found it."""

    where: str
    message: str
    rule: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message} [{self.rule}]" if self.where else (
            f"{self.message} [{self.rule}]"
        )


@dataclass
class Report:
    """The result of checking one file."""

    path: str
    kind: str
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, problems: Iterable[Problem]) -> None:
        self.problems.extend(problems)

    def text(self) -> str:
        """A few lines for the terminal: the verdict, then each problem and note."""
        if not self.ok:
            verdict = f"{len(self.problems)} problem(s)"
        else:
            verdict = f"OK ({', '.join(self.checks)})" if self.checks else "not checked"
        head = f"{self.path}: {self.kind}: {verdict}"
        lines = [head, *(f"  error: {p}" for p in self.problems)]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


class ClusterConfigError(UerRayError):
    """A cluster config that fails its checks; the message lists every problem by field."""

    def __init__(self, reports: Sequence[Report]):
        self.reports = list(reports)
        bad = [r for r in self.reports if not r.ok]
        super().__init__("\n".join(r.text() for r in bad))


def field_path(parts: Iterable) -> str:
    """``["spec", "workerGroupSpecs", 0, "minReplicas"]`` -> ``spec.workerGroupSpecs[0].minReplicas``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def schema_problems(errors: Iterable, rule: str, prefix: Sequence = ()) -> list[Problem]:
    """jsonschema ``ValidationError``s as problems, one per failing leaf, named by path."""
    out = []
    for error in errors:
        leaves = _leaves(error)
        for leaf in leaves:
            where = field_path([*prefix, *leaf.absolute_path])
            out.append(Problem(where, _schema_message(leaf), rule))
    # the same leaf can be reached through several anyOf branches
    return list(dict.fromkeys(out))


def _leaves(error) -> list:
    """The most specific errors under an ``anyOf``/``oneOf`` failure (their ``context``),
    keeping those that got deepest into the instance."""
    if not error.context:
        return [error]
    deepest = max(len(e.absolute_path) for e in error.context)
    if deepest <= len(error.absolute_path):
        return [error]
    return [e for e in error.context if len(e.absolute_path) == deepest]


def _schema_message(error) -> str:
    if error.validator == "additionalProperties" and error.validator_value is False:
        known = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(known))
        named = ", ".join(_with_hint(str(name), known) for name in extra)
        return f"unknown field{'s' if len(extra) > 1 else ''} {named}"
    if error.validator == "pattern" and "[KMGTPE]i" in error.validator_value:
        return f"{error.instance!r} is not a Kubernetes quantity (e.g. 500m, 8, 16Gi)"
    return error.message


def _with_hint(name: str, known: list[str]) -> str:
    """``'minReplica' (did you mean 'minReplicas'?)``, or the name and a few known fields."""
    from uer_ray.suggest import did_you_mean

    hint = did_you_mean(name, known, brackets=True)
    if hint:
        return f"{name!r}{hint}"
    shown = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
    return f"{name!r} (known: {shown})"
