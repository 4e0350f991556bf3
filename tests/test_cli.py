import subprocess
import sys

from uer_testing import REPO


def test_cli_help_and_unknown_command():
    out = subprocess.run([sys.executable, "run.py", "--help"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0 and "COMMAND" in out.stdout
    bad = subprocess.run([sys.executable, "run.py", "pretrian"], cwd=REPO, capture_output=True, text=True)
    assert bad.returncode == 2
    assert "unknown command 'pretrian'" in bad.stderr


SHORT = """
import contextlib, io, sys
from uer_ray.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    main(sys.argv[1:])
print(sorted(m for m in ("torch", "ray") if m in sys.modules))
"""


def test_the_command_line_exits_quickly_and_completely():
    """``console`` (run.py, the uer-ray script) skips only Python's teardown: exit handlers run,
    threads that are not daemons finish, buffered output is written, the status is main's."""
    import os

    code = """
import atexit, threading, time
from uer_ray.cli import console
atexit.register(lambda: print("handler ran"))
threading.Thread(target=lambda: (time.sleep(0.3), print("thread done"))).start()
print("before")
console(["pretrian"])
"""
    env = {**os.environ, "PYTHONUNBUFFERED": ""}  # stdout to a pipe is block-buffered
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, env=env)
    assert out.returncode == 2 and "unknown command 'pretrian'" in out.stderr
    assert out.stdout.split() == ["before", "thread", "done", "handler", "ran"]


def test_short_commands_load_neither_torch_nor_ray():
    """`--help` and a misspelt option are answered before torch or Ray is imported (each costs
    a second or more), for every command."""
    from uer_ray.cli import COMMANDS

    for name in COMMANDS:
        for argv in ([name, "--help"], [name, "--no-such-option"]):
            out = subprocess.run([sys.executable, "-c", SHORT, *argv], cwd=REPO,
                                 capture_output=True, text=True)
            assert out.stdout.strip() == "[]", (argv, out.stdout, out.stderr[-2000:])


def test_a_misspelt_address_is_one_line():
    out = subprocess.run([sys.executable, "-c", "from uer_ray.cluster import ensure_ray; ensure_ray('lcoal')"],
                         cwd=REPO, capture_output=True, text=True)
    assert out.returncode != 0
    assert "could not start or reach the Ray cluster at lcoal: Invalid address format" in out.stderr


def test_sigterm_unwinds_like_ctrl_c(monkeypatch, capsys):
    """A terminated command runs its cleanup (finally blocks, Ray shutdown) and exits 130."""
    import os
    import signal
    import sys
    import time
    import types

    from uer_ray import cli

    cleaned = []
    mod = types.ModuleType("uer_fake_sleeper")
    mod.add_arguments = lambda p: None

    def run(args):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
            return 0
        finally:
            cleaned.append(True)

    mod.run = run
    monkeypatch.setitem(sys.modules, "uer_fake_sleeper", mod)
    monkeypatch.setitem(cli.COMMANDS, "sleeper", ("uer_fake_sleeper", "test"))
    monkeypatch.setattr(cli, "_available", lambda: {"sleeper": ("uer_fake_sleeper", "test")})
    # A process without a SIGTERM handler of its own (Ray installs one once it starts in this
    # process, e.g. for the suite's shared cluster; the command then leaves it alone).
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        assert cli.main(["sleeper"]) == 130
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # restored
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert cleaned == [True]
    assert "interrupted" in capsys.readouterr().err


def _parser(command: str):
    import importlib

    from uer_ray.cli import Parser

    parser = Parser(prog=f"uer-ray {command}")
    importlib.import_module(f"uer_ray.cli.{command}").add_arguments(parser)
    return parser


def test_the_options_typed_are_the_options_given_to_resume(tmp_path, capsys):
    """``pretrain --resume`` refuses options that differ from the stored run's; an option typed
    with its default's value is typed (refused when the stored run has another value), one not
    typed is not (the stored run's value is kept) — no scanning of argv."""
    import json

    import pytest

    from uer_ray.cli import main
    from uer_ray.cli.options import given, options_from
    from uer_ray.errors import OptionsError
    from uer_ray.train.pretrain import PretrainOptions, _resume

    out = tmp_path / "run"
    out.mkdir()
    stored = PretrainOptions(out=str(out), model="bert-tiny", data=str(tmp_path / "shards"),
                             lr=3e-3, steps=30, bf16=False)
    (out / "run.json").write_text(json.dumps({"name": "pretrain", "options": stored.to_dict()}))
    parser = _parser("pretrain")

    def resume(*argv: str):
        args = parser.parse_args(["--out", str(out), "--resume", *argv])
        assert given(args) == {"out", "resume", *(a[2:].replace("-", "_") for a in argv if a[:2] == "--")}
        return _resume(options_from(PretrainOptions, args), given(args))

    kept = resume().options
    assert (kept.lr, kept.steps, kept.bf16) == (3e-3, 30, False)  # nothing typed: the stored run
    assert PretrainOptions.__dataclass_fields__["lr"].default == 1e-4
    with pytest.raises(OptionsError, match=r"lr \(stored 0.003, given 0.0001\)"):
        resume("--lr", "1e-4")  # the default's value, typed
    assert main(["pretrain", "--out", str(out), "--resume", "--lr", "0.0001"]) == 2
    assert "lr (stored 0.003, given 0.0001)" in capsys.readouterr().err
    assert resume("--seed", "7").options.seed == 7  # typed, and the same as stored: fine
    extended = resume("--steps", "1000")  # the default's value, typed: extends the run to it
    assert extended.options.steps == 1000
    assert extended.extended == {"from_steps": 30, "to_steps": 1000}


def test_defaults_come_from_the_options_dataclasses(capsys):
    """A command's defaults are its options dataclass's: the namespace holds only what was
    typed, ``--help`` shows each default, and switches that turn a default off still do."""
    from uer_ray.cli import main
    from uer_ray.cli.options import options_from
    from uer_ray.train.finetune import FinetuneOptions
    from uer_ray.train.pretrain import PretrainOptions

    args = _parser("pretrain").parse_args(["--out", "o", "--no-bf16", "--workers", "2-4"])
    assert vars(args) == {"out": "o", "bf16": False, "workers": (2, 4)}
    assert options_from(PretrainOptions, args) == PretrainOptions(out="o", bf16=False, workers=(2, 4))
    assert options_from(PretrainOptions, _parser("pretrain").parse_args(["--out", "o"])).bf16 is True
    ft = ["--task", "classify", "--train", "a", "--dev", "b", "--out", "o"]
    quiet = options_from(FinetuneOptions, _parser("finetune").parse_args([*ft, "--quiet"]))
    assert quiet == FinetuneOptions(task="classify", train="a", dev="b", out="o", progress=False)
    assert options_from(FinetuneOptions, _parser("finetune").parse_args(ft)).progress is True
    for command, shown in (("pretrain", ["optimiser updates (default: 1000)", "--seed SEED (default: 7)",
                                         "(default: linear)", "grows to MAX as nodes join (default: 1)"]),
                           ("finetune", ["--epochs EPOCHS (default: 3)", "(default: wordpiece)",
                                         "shared by all workers (default: 32)"])):
        assert main([command, "--help"]) == 0
        text = " ".join(capsys.readouterr().out.split())
        for needle in shown:
            assert needle in text, (needle, text)
        assert "(default: None)" not in text and "(default: True)" not in text
