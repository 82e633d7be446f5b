#!/usr/bin/env bash
# spectro — the test suite's parity anchors as wheels for a GPU machine without network access:
#
#   bash scripts/gpu_wheels.sh              # here (with PyPI): downloads them into .whl/ (git-ignored)
#
# scripts/gpu_check.sh installs whatever .whl/ holds (pip --target into a scratch folder on PYTHONPATH) before its
# steps, so the tests that compare with auraloss and librosa run there instead of skipping. The wheels are for the
# GPU machines' Python (PY, default 3.12) on manylinux x86_64; PACKAGES lists them with the dependencies their images
# lack (librosa's audio I/O stack; expecttest for torch's OpInfo database; openai-whisper has no wheel and stays
# skipped there).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PY:-3.12}
PACKAGES=${PACKAGES:-"auraloss==0.4.0 librosa==0.11.0 audioread decorator pooch platformdirs soundfile soxr cffi pycparser expecttest"}
mkdir -p .whl
for pkg in $PACKAGES; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$PY" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "$pkg"
done
ls .whl
