import subprocess
import sys

from tests.conftest import ROOT


def test_code_is_ruff_clean():
    run = subprocess.run([sys.executable, "-m", "ruff", "check", "rag", "tests", "app.py"],
                         cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
