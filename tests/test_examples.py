"""The training example runs and its loss goes down (a few steps on the CPU)."""
import os
import re
import subprocess
import sys

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "examples", "train_mrstft.py")


def test_train_mrstft_example_runs_and_learns():
    proc = subprocess.run([sys.executable, EXAMPLE, "--steps", "30", "--device", "cpu"], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    m = re.search(r"loss ([0-9.]+) -> ([0-9.]+)", proc.stdout)
    assert m, proc.stdout
    first, last = float(m.group(1)), float(m.group(2))
    assert last < 0.9 * first, proc.stdout
