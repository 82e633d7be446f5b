"""The generated CUDA launcher instances (csrc/kernels/cuda/instances) are what scripts/generate_instances.py writes
from its list of type combinations: edit the list and regenerate, never the files."""
from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_generated_instances_are_up_to_date():
    script = os.path.join(ROOT, "scripts", "generate_instances.py")
    run = subprocess.run([sys.executable, script, "--check"], capture_output=True, text=True)
    assert run.returncode == 0, f"run `python scripts/generate_instances.py`: {run.stdout}{run.stderr}"
