#!/usr/bin/env bash
# spectro — the one check to run on a GPU machine, from the repository root:
#
#   OUT=out bash scripts/gpu_check.sh          # OUT: folder for logs and results (default ./out)
#
# Steps (each logged to $OUT; a failing step is recorded and the next ones still run):
#   info       nvidia-smi -L, python / torch / CUDA / nvcc versions
#   build      make build (pip install --no-build-isolation --no-deps -e .)       -> build.log
#   kernels    standalone CUDA kernel tests (tests/kernels/Makefile; test_fused     -> kernels.log
#              --quick, then --fuzz FUZZ random geometries, default 300)
#   cpp        make cpp-example: the C++ example (CMake, find_package(spectro)) on CUDA -> cpp.log
#   pytest     pytest tests -q -rfEs (-n WORKERS with pytest-xdist)               -> pytest.log (junit.xml: JUNIT=1)
#   demo       make demo (round trip, timing vs torch, PNG)                       -> demo.log
#   sanitizer  SANITIZE=1: scripts/sanitize.sh (memcheck, racecheck, synccheck,  -> sanitizer.log, sanitize_*.log
#              initcheck over both kernel tests; SANITIZE_QUICK=0: full grids)
#   large      LARGE=1: scripts/large_check.py (every CUDA path past 2^31 elements) -> large.log
#   ddp        with 2+ GPUs: torchrun scripts/ddp_check.py, and --cross-device     -> ddp.log
#   fused      test_fused --bench --sweep (fused kernels vs framing + cuFFT)      -> fused_bench.log
#   profile    PROFILE=1: ncu on benchmarks/profile_driver.py (PROFILE_ARGS)      -> profile.log
#   variants   VARIANTS=1: benchmarks/fused_variants.sh (build-time knobs, timed)  -> variants.log
#   frontends  benchmarks/frontends.py, losses: benchmarks/losses.py      -> FRONTENDS.md, LOSSES.md (+ .json)
#   bench      benchmarks/bench.py (QUICK=1: --quick)                             -> bench.log, RESULTS.md,
#                                                                                    results.json, results.png
#   host       benchmarks/host_overhead.py: host vs GPU time of small eager calls, forward + backward, and the  -> host.log
#              event-timed forward + backward calls event by event (--timeline)
# Wheels in .whl/ (scripts/gpu_wheels.sh: auraloss, librosa; carry .whl to a machine without network) are installed
# first, into a scratch folder on PYTHONPATH.
# and prints a summary last. Exit status: 0 iff every step that ran passed.
# Environment: OUT, PYTHON (python3), MAX_JOBS (16), FUZZ, QUICK, SANITIZE, PROFILE (PROFILE_ARGS, PROFILE_SET), VARIANTS,
# JUNIT, BUNDLE (a .tar.gz to write of everything in OUT), PYTEST_ARGS (extra pytest args), WORKERS (pytest-xdist workers, default 8; 0 runs in one process), SKIP (step names
# to skip, e.g. "kernels fused"; with "build", the later steps use an earlier build of this tree), PYTEST_SHARD (i/n:
# the i-th of n interleaved shards of the test suite; 0/2 then 1/2 run it in two calls).
# Nothing is downloaded: it uses the machine's torch, numpy, pytest, matplotlib, ninja and nvcc.

set -o pipefail
export PYTHONUNBUFFERED=1
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2

OUT=${OUT:-./out}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd) || exit 2
PYTHON=${PYTHON:-python3}
export MAX_JOBS=${MAX_JOBS:-16}
T0=$SECONDS

declare -A STATUS      # step -> ok / FAILED (rc N) / skipped (...)
ORDER=()

have_timeout=0
command -v timeout >/dev/null 2>&1 && have_timeout=1

# run_step NAME LOG LIMIT_S CMD...: runs CMD with output to LOG, records the result, shows the log's tail on failure.
run_step() {
  local name=$1 log=$2 limit=$3
  shift 3
  if [[ " ${SKIP:-} " == *" $name "* ]]; then
    skip_step "$name" "SKIP"
    return 1
  fi
  ORDER+=("$name")
  echo "=== $name: $*" >"$log"
  echo "=== $name ($(basename "$log"))"
  local start=$SECONDS rc
  if [ "$have_timeout" = 1 ]; then
    timeout --kill-after=10 "$limit" "$@" >>"$log" 2>&1
  else
    "$@" >>"$log" 2>&1
  fi
  rc=$?
  if [ $rc -eq 0 ]; then
    STATUS[$name]="ok ($((SECONDS - start)) s)"
  else
    [ $rc -eq 124 ] && echo "!!! timed out after ${limit} s" >>"$log"
    STATUS[$name]="FAILED (rc $rc, $((SECONDS - start)) s; see $(basename "$log"))"
    echo "--- $name FAILED (rc $rc); last lines of $log:"
    tail -n 30 "$log" | sed 's/^/    /'
  fi
  echo "--- $name: ${STATUS[$name]}"
  return $rc
}

skip_step() {
  ORDER+=("$1")
  STATUS[$1]="skipped ($2)"
  echo "=== $1: skipped ($2)"
}

# Wheels carried from a machine with network access (scripts/gpu_wheels.sh: the parity anchors auraloss, librosa):
# installed into a scratch folder on PYTHONPATH, for this script's steps only.
WHEEL_SITE=${TMPDIR:-/tmp}/spectro-wheels
if compgen -G ".whl/*.whl" >/dev/null; then
  if $PYTHON -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$WHEEL_SITE" \
      .whl/*.whl; then
    export PYTHONPATH="$WHEEL_SITE${PYTHONPATH:+:$PYTHONPATH}"
    echo "installed the carried wheels: $(ls .whl | tr '\n' ' ')"
  else
    echo "warning: the carried wheels (.whl/) did not install; the tests that need them skip"
  fi
fi

# ---------------------------------------------------------------------------------------------------------------- info
echo "=== info"
nvidia-smi -L 2>&1 || echo "nvidia-smi: not available"
CARD=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)
TORCH_INFO=$($PYTHON -c "import sys, torch; print(f'torch {torch.__version__}, CUDA {torch.version.cuda}, ' \
  f'GPU available: {torch.cuda.is_available()}, python {sys.version.split()[0]}')" 2>&1 | tail -n 1)
echo "$TORCH_INFO"
NVCC=$(command -v nvcc || { [ -x /usr/local/cuda/bin/nvcc ] && echo /usr/local/cuda/bin/nvcc; })
if [ -n "$NVCC" ]; then "$NVCC" --version | tail -n 2; else echo "nvcc: not found"; fi
echo "OUT=$OUT MAX_JOBS=$MAX_JOBS QUICK=${QUICK:-0} SANITIZE=${SANITIZE:-0}"

# --------------------------------------------------------------------------------------------------------------- build
# A CUDA torch must get the CUDA kernels: otherwise the tests would silently cover the CPU path only.
check_installed() {
  $PYTHON - <<'EOF'
import os, sys
sys.path[:] = [p for p in sys.path if p not in ("", ".", os.getcwd())]
import torch, spectro
cuda = torch._C._dispatch_has_kernel_for_dispatch_key("spectro::analysis", "CUDA")
print(f"spectro {spectro.__version__} from {os.path.dirname(spectro.__file__)}; CUDA kernels registered: {cuda}")
sys.exit(0 if cuda or torch.version.cuda is None else 1)
EOF
}
build_and_check() {
  # `make build` (what `make demo` / `make test` run): the editable install, plus a stamp so that the demo step
  # below does not rebuild. Without make: the editable install directly.
  if command -v make >/dev/null 2>&1; then
    make --no-print-directory build PYTHON="$PYTHON" || return 1
  else
    $PYTHON -m pip install --no-build-isolation --no-deps -e . || return 1
  fi
  check_installed
}
export -f check_installed build_and_check
export PYTHON
BUILD_OK=0
run_step build "$OUT/build.log" 1200 bash -c build_and_check && BUILD_OK=1
# SKIP="build": the steps after it take an earlier build of this tree (a previous call on the same machine) where it
# imports with its CUDA kernels.
if [[ " ${SKIP:-} " == *" build "* ]] && check_installed; then BUILD_OK=1; fi

# ------------------------------------------------------------------------------------------------------------- kernels
KTEST=build/kernels/test_frame_ola
if [ -z "$NVCC" ]; then
  skip_step kernels "nvcc not found"
elif [ ! -f tests/kernels/Makefile ]; then
  skip_step kernels "tests/kernels/Makefile missing"
elif ! command -v make >/dev/null 2>&1; then
  ORDER+=(kernels); STATUS[kernels]="FAILED (make not found)"
else
  # test_fused: the grid with the default launch shapes (--quick; the host emulation in `make test` runs every
  # variant of the same kernel bodies), then FUZZ random geometries on the device.
  run_step kernels "$OUT/kernels.log" 900 bash -c "make --no-print-directory -f tests/kernels/Makefile NVCC='$NVCC' \
    -j'$MAX_JOBS' run FUSED_RUN_ARGS=--quick && build/kernels/test_fused --fuzz ${FUZZ:-300}"
fi

# ----------------------------------------------------------------------------------------------------------------- cpp
if [ $BUILD_OK = 1 ] && command -v make >/dev/null 2>&1; then
  run_step cpp "$OUT/cpp.log" 600 make --no-print-directory cpp-example PYTHON="$PYTHON"
else
  skip_step cpp "build failed or no make"
fi

# -------------------------------------------------------------------------------------------------------------- pytest
if [ $BUILD_OK = 1 ]; then
  PYTEST_EXTRA=()
  [ "${JUNIT:-0}" = 1 ] && PYTEST_EXTRA+=(--junitxml "$OUT/junit.xml")
  # PYTEST_SHARD=i/n: the i-th of n interleaved shards of the suite (tests/conftest.py), for calls of limited length.
  [ -n "${PYTEST_SHARD:-}" ] && export SPECTRO_TEST_SHARD=$PYTEST_SHARD
  # Test cases are independent: with pytest-xdist they share the one GPU across worker processes.
  if [ "${WORKERS:-8}" != 0 ] && $PYTHON -c "import xdist" 2>/dev/null; then
    PYTEST_EXTRA+=(-n "${WORKERS:-8}")
    # CPU cases in every worker would otherwise each start one thread per core (oversubscription).
    cores=$(nproc 2>/dev/null || echo 8)
    export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(( cores / ${WORKERS:-8} > 0 ? cores / ${WORKERS:-8} : 1 ))}
  fi
  # With workers, the tests marked serial (they fill the device memory to a set amount) run afterwards in one process.
  if [ "${#PYTEST_EXTRA[@]}" -gt 0 ] && [[ " ${PYTEST_EXTRA[*]} " == *" -n "* ]]; then
    # shellcheck disable=SC2086
    run_step pytest "$OUT/pytest.log" 1800 bash -c "$PYTHON -m pytest tests -q -rfEs -m 'not serial' ${PYTEST_EXTRA[*]} \
      ${PYTEST_ARGS:-}; a=\$?; $PYTHON -m pytest tests -q -rfEs -m serial ${PYTEST_ARGS:-}; b=\$?; \
      [ \$a -eq 0 ] && [ \$b -eq 0 ]"
  else
    # shellcheck disable=SC2086
    run_step pytest "$OUT/pytest.log" 1800 $PYTHON -m pytest tests -q -rfEs "${PYTEST_EXTRA[@]}" ${PYTEST_ARGS:-}
  fi
else
  skip_step pytest "build failed"
fi

# ---------------------------------------------------------------------------------------------------------------- demo
if [ $BUILD_OK = 1 ] && command -v make >/dev/null 2>&1; then
  run_step demo "$OUT/demo.log" 300 make --no-print-directory demo PYTHON="$PYTHON"
else
  skip_step demo "build failed or no make"
fi

# ----------------------------------------------------------------------------------------------------------- sanitizer
if [ "${SANITIZE:-0}" = 1 ]; then
  SAN=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer "$(dirname "${NVCC:-/x/x}")"/compute-sanitizer 2>/dev/null | head -n 1)
  if [ -z "$SAN" ]; then
    ORDER+=(sanitizer); STATUS[sanitizer]="FAILED (compute-sanitizer not found)"
  elif [ ! -x "$KTEST" ] || [ ! -x build/kernels/test_fused ]; then
    ORDER+=(sanitizer); STATUS[sanitizer]="FAILED (kernel test binaries missing: run the kernels step)"
  else
    # memcheck / racecheck / synccheck / initcheck over both standalone kernel tests (scripts/sanitize.sh)
    run_step sanitizer "$OUT/sanitizer.log" 3600 env OUT="$OUT" NVCC="$NVCC" SANITIZER="$SAN" \
      QUICK="${SANITIZE_QUICK:-1}" bash scripts/sanitize.sh
  fi
fi

# --------------------------------------------------------------------------------------------------------------- large
if [ "${LARGE:-0}" = 1 ]; then
  if [ $BUILD_OK = 1 ]; then
    run_step large "$OUT/large.log" 900 $PYTHON scripts/large_check.py
  else
    skip_step large "build failed"
  fi
fi

# ----------------------------------------------------------------------------------------------------------------- ddp
GPUS=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
if [ $BUILD_OK = 1 ] && [ "${GPUS:-0}" -ge 2 ]; then
  run_step ddp "$OUT/ddp.log" 600 bash -c "$PYTHON -m torch.distributed.run --nproc-per-node 2 scripts/ddp_check.py \
    && $PYTHON scripts/ddp_check.py --cross-device"
else
  skip_step ddp "needs the build and 2 GPUs (found ${GPUS:-0})"
fi

# --------------------------------------------------------------------------------------------------------------- fused
FTEST=build/kernels/test_fused
if [ -x "$FTEST" ] && [ "${STATUS[kernels]%% *}" = ok ]; then
  run_step fused "$OUT/fused_bench.log" 300 "$FTEST" --bench --sweep
else
  skip_step fused "no passing kernel test binary $FTEST"
fi

# ------------------------------------------------------------------------------------------------------------- profile
# PROFILE=1: Nsight Compute on the stft + istft calls of benchmarks/profile_driver.py (the seed configuration, or
# PROFILE_ARGS="--config B,T,n_fft,hop ...", "--ops melloss" for a loss' forward + backward): every kernel of each
# call, section set PROFILE_SET (default full), as text.
if [ "${PROFILE:-0}" = 1 ]; then
  NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu 2>/dev/null | head -n 1)
  if [ $BUILD_OK != 1 ] || [ -z "$NCU" ]; then
    ORDER+=(profile); STATUS[profile]="FAILED (needs the build and ncu)"
  else
    # shellcheck disable=SC2086
    run_step profile "$OUT/profile.log" 600 "$NCU" --profile-from-start off --target-processes all \
      --set "${PROFILE_SET:-full}" --import-source no $PYTHON benchmarks/profile_driver.py ${PROFILE_ARGS:-}
  fi
fi

# ------------------------------------------------------------------------------------------------------------ variants
# VARIANTS=1: the fused kernels' build-time knobs, each built and timed (before bench: its builds must not overlap
# any timing).
if [ "${VARIANTS:-0}" = 1 ]; then
  if [ -z "$NVCC" ]; then
    ORDER+=(variants); STATUS[variants]="FAILED (nvcc not found)"
  else
    run_step variants "$OUT/variants.log" 900 env NVCC="$NVCC" bash benchmarks/fused_variants.sh
  fi
fi

# ----------------------------------------------------------------------------------------------- frontends, losses
# The mel frontends' and spectral losses' tables on their own (bench.py includes both): FRONTENDS.md, LOSSES.md.
if [ $BUILD_OK = 1 ]; then
  run_step frontends "$OUT/frontends.log" 600 $PYTHON benchmarks/frontends.py --out "$OUT"
  run_step losses "$OUT/losses.log" 600 $PYTHON benchmarks/losses.py --out "$OUT"
else
  skip_step frontends "build failed"
  skip_step losses "build failed"
fi

# --------------------------------------------------------------------------------------------------------------- bench
if [ $BUILD_OK = 1 ]; then
  BENCH_ARGS=()
  [ "${QUICK:-0}" = 1 ] && BENCH_ARGS+=(--quick)
  # Results land in benchmarks/ (RESULTS.md, results.json, results.png) and are copied to $OUT.
  run_step bench "$OUT/bench.log" 1200 $PYTHON benchmarks/bench.py "${BENCH_ARGS[@]}" --out benchmarks \
    && cp benchmarks/RESULTS.md benchmarks/results.json benchmarks/results.png "$OUT"/ 2>/dev/null
else
  skip_step bench "build failed"
fi

# -------------------------------------------------------------------------------------------------------------- host
# Where a small eager call's time goes (host vs GPU), for the benchmark's small configurations.
if [ $BUILD_OK = 1 ]; then
  run_step host "$OUT/host.log" 300 bash -c "$PYTHON benchmarks/host_overhead.py --config 1,16000,400,160 --profile && \
    $PYTHON benchmarks/host_overhead.py --config 4,160000,1024,256 --backward --timeline \
    'spectro.stft f+b,spectro.stft f+b constant,spectro.istft f+b,torch.stft f+b'"
else
  skip_step host "build failed"
fi

# ------------------------------------------------------------------------------------------------------------- summary
line_of() {  # last line of a log matching a pattern, or "-"
  local l
  l=$(grep -E "$2" "$1" 2>/dev/null | tail -n 1)
  echo "${l:--}"
}
echo
echo "================================================================ summary"
echo "card:      ${CARD:-none}"
echo "torch:     $TORCH_INFO"
echo "time:      $((SECONDS - T0)) s"
detail() {  # what a step's log says about its result
  case $1 in
    pytest) grep -E '^=* *([0-9]+ (passed|failed|errors?|skipped|xfailed|xpassed|deselected|warnings?|tests? collected)|no tests ran)' \
              "$OUT/pytest.log" 2>/dev/null | paste -sd ';' - ;;
    kernels) grep -E '([0-9]+ passed, [0-9]+ failed|compiled only)' "$OUT/kernels.log" 2>/dev/null | paste -sd ';' - ;;
    sanitizer) tail -n 1 "$OUT/sanitize_summary.txt" 2>/dev/null || echo "-" ;;
    large) line_of "$OUT/large.log" '[0-9]+ passed, [0-9]+ failed' ;;
    ddp) line_of "$OUT/ddp.log" 'ddp_check: ' ;;
    cpp) line_of "$OUT/cpp.log" '^(ok|FAILED)$' ;;
    build) line_of "$OUT/build.log" 'CUDA kernels registered' ;;
    demo) line_of "$OUT/demo.log" 'SNR' ;;
    *) echo "-" ;;
  esac
}
for s in "${ORDER[@]}"; do
  d=$(detail "$s")
  printf '%-10s %s%s\n' "$s:" "${STATUS[$s]}" "$([ "$d" != - ] && echo " | $d")"
done
[ -z "${STATUS[sanitizer]:-}" ] && echo "sanitizer: not run (SANITIZE=1 runs it)"
if [ -f "$OUT/results.json" ] && [ "${STATUS[bench]%% *}" = ok ]; then
  echo "bench ($OUT/RESULTS.md):"
  $PYTHON benchmarks/bench.py --summarize "$OUT/results.json" 2>&1 | sed 's/^/  /'
fi

# BUNDLE=FILE: every file the run left in OUT, in one .tar.gz (for a machine that hands back only a few files).
if [ -n "${BUNDLE:-}" ]; then
  tar -czf "$BUNDLE" -C "$OUT" --exclude "$(basename "$BUNDLE")" . && echo "bundle: $BUNDLE ($(du -h "$BUNDLE" | cut -f1))"
fi

FAILED=()
for s in "${ORDER[@]}"; do [ "${STATUS[$s]%% *}" = FAILED ] && FAILED+=("$s"); done
if [ ${#FAILED[@]} -gt 0 ]; then
  echo "FAILED steps: ${FAILED[*]}"
  exit 1
fi
echo "all steps passed"
exit 0
