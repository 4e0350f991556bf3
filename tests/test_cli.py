import subprocess
import sys

from uer_testing import REPO


def test_cli_help_and_unknown_command():
    out = subprocess.run([sys.executable, "run.py", "--help"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0 and "COMMAND" in out.stdout
    bad = subprocess.run([sys.executable, "run.py", "pretrian"], cwd=REPO, capture_output=True, text=True)
    assert bad.returncode == 2
    assert "unknown command 'pretrian'" in bad.stderr


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
