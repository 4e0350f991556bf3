import subprocess
import sys

from uer_testing import REPO


def test_cli_help_and_unknown_command():
    out = subprocess.run([sys.executable, "run.py", "--help"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0 and "COMMAND" in out.stdout
    bad = subprocess.run([sys.executable, "run.py", "pretrian"], cwd=REPO, capture_output=True, text=True)
    assert bad.returncode == 2
    assert "unknown command 'pretrian'" in bad.stderr
