#!/usr/bin/env bash
# spectro — compute-sanitizer over the standalone CUDA kernel tests, from the repository root:
#
#   OUT=out bash scripts/sanitize.sh            # every tool on the grids that reach every kernel instance
#   QUICK=1 OUT=out bash scripts/sanitize.sh    # samples only (the old `make -f tests/kernels/Makefile sanitize`)
#
# Binaries: build/kernels/test_frame_ola and build/kernels/test_fused (`make kernels-test`); built here with
# tests/kernels/Makefile when missing (BUILD=0: never build). Tools: memcheck (out-of-bounds and misaligned
# accesses, leaks), racecheck (shared-memory hazards), synccheck (illegal barriers, e.g. divergent __syncthreads),
# initcheck (reads of uninitialised global memory).
#
# What runs (full mode), per tool:
#   test_frame_ola (framing / overlap-add kernels, frame_ola.cuh): the whole grid (--stride 1): every value type
#     (f32, f64, c64, c128) x path (Auto, Tiled, Direct) x kernel (analysis direct / tiled, synthesis direct /
#     gather, their 16-byte vector variants where the geometry is aligned) plus the edge cases; the log's coverage
#     line tells tiles with F > 1 and K < n_fft were reached.
#   test_fused (single-kernel path, fused.cuh / block_fft.cuh): the full grid (no --quick): every value type,
#     every spectrum mode, both FFT engines (the radix-8 power-of-two kernels for every size the grid has, and the
#     mixed-radix general engine, also forced on the power-of-two sizes), the forced launch shapes (several rounds
#     per block, long and short synthesis segments, one wave), the half-precision storage types on every third case
#     (float16 / bfloat16 / complex32 inputs, complex32 / float16 results), and the instances grid (every template
#     instance: each power-of-two length of each engine with every storage combination, also in --quick); then
#     --fuzz FUZZ random geometries (fixed seed: every size of 2^a 3^b 5^c up to 16384, hop > n_fft, every pad and
#     mode). racecheck gets the --quick grid plus the fuzz (it is the slowest tool; the forced launch shapes change
#     block sizes, not the shared-memory protocol).
#   QUICK=1: test_frame_ola --stride 7 (memcheck, initcheck) / 13 (racecheck, synccheck); test_fused --fuzz 80
#     (memcheck, initcheck) / 40 (racecheck, synccheck).
#
# Environment: OUT (logs: sanitize_<tool>_<test>.log and sanitize_summary.txt; default ./out), NVCC, SANITIZER
# (compute-sanitizer binary), FUZZ (default 120), QUICK, TOOLS (subset, e.g. "memcheck initcheck"), TIMEOUT
# (seconds per run, default 1500), BUILD, DRY_RUN (1: print the runs without building or running anything).
# Exit status 0 iff every run finished with 0 sanitizer errors and every test check passed. Expected time on an
# H100: see notes/guarantees.md ("compute-sanitizer").

set -o pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2

OUT=${OUT:-./out}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd) || exit 2
QUICK=${QUICK:-0}
FUZZ=${FUZZ:-120}
TIMEOUT=${TIMEOUT:-1500}
TOOLS=${TOOLS:-memcheck racecheck synccheck initcheck}
BUILD=${BUILD:-1}
DRY_RUN=${DRY_RUN:-0}
FRAME_OLA=${FRAME_OLA:-build/kernels/test_frame_ola}
FUSED=${FUSED:-build/kernels/test_fused}
SUMMARY="$OUT/sanitize_summary.txt"
T0=$SECONDS

NVCC=${NVCC:-$(command -v nvcc || { [ -x /usr/local/cuda/bin/nvcc ] && echo /usr/local/cuda/bin/nvcc; })}
SANITIZER=${SANITIZER:-$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer \
  "$(dirname "${NVCC:-/x/x}")"/compute-sanitizer 2>/dev/null | head -n 1)}

echo "=== sanitize: OUT=$OUT QUICK=$QUICK FUZZ=$FUZZ TOOLS=($TOOLS) TIMEOUT=${TIMEOUT}s"
if [ "$DRY_RUN" = 1 ]; then
  SANITIZER=${SANITIZER:-compute-sanitizer}
elif [ -z "$SANITIZER" ] || [ ! -x "$SANITIZER" ]; then
  echo "compute-sanitizer not found (set SANITIZER=...)" | tee "$SUMMARY"
  exit 2
fi
[ "$DRY_RUN" = 1 ] || "$SANITIZER" --version | tail -n 1
nvidia-smi -L 2>/dev/null || echo "nvidia-smi: not available"

if [ "$DRY_RUN" != 1 ] && { [ ! -x "$FRAME_OLA" ] || [ ! -x "$FUSED" ]; }; then
  if [ "$BUILD" = 1 ] && [ -n "$NVCC" ]; then
    echo "=== building the kernel tests (tests/kernels/Makefile) -> $OUT/sanitize_build.log"
    make --no-print-directory -f tests/kernels/Makefile NVCC="$NVCC" -j"$(nproc 2>/dev/null || echo 8)" \
      >"$OUT/sanitize_build.log" 2>&1 || { echo "build failed: see $OUT/sanitize_build.log" | tee "$SUMMARY"; exit 2; }
  else
    echo "kernel test binaries missing ($FRAME_OLA, $FUSED): run make kernels-test" | tee "$SUMMARY"
    exit 2
  fi
fi

have_timeout=0
command -v timeout >/dev/null 2>&1 && have_timeout=1

RESULTS=()   # one line per run
FAILED=0

# run_one TOOL NAME BINARY ARGS...: one sanitizer run, logged to $OUT/sanitize_TOOL_NAME.log
run_one() {
  local tool=$1 name=$2 bin=$3
  shift 3
  local log="$OUT/sanitize_${tool}_${name}.log"
  local opts=(--tool "$tool" --error-exitcode 99 --print-limit 50)
  case $tool in
    memcheck) opts+=(--leak-check full) ;;
    racecheck) opts+=(--racecheck-report all) ;;
  esac
  echo "=== $tool $name: $SANITIZER ${opts[*]} $bin $*"
  if [ "$DRY_RUN" = 1 ]; then
    RESULTS+=("$(printf '%-10s %-22s (dry run)' "$tool" "$name")")
    return 0
  fi
  echo "=== $SANITIZER ${opts[*]} $bin $*" >"$log"
  local start=$SECONDS rc
  if [ "$have_timeout" = 1 ]; then
    timeout --kill-after=10 "$TIMEOUT" "$SANITIZER" "${opts[@]}" "$bin" "$@" >>"$log" 2>&1
  else
    "$SANITIZER" "${opts[@]}" "$bin" "$@" >>"$log" 2>&1
  fi
  rc=$?
  local secs=$((SECONDS - start))
  # compute-sanitizer ends with "ERROR SUMMARY: N errors"; the tests print "... N passed, M failed"
  local errors checks status
  # (racecheck instead: "RACECHECK SUMMARY: N hazards displayed (E errors, W warnings)"; its errors count)
  errors=$(grep -Eo 'ERROR SUMMARY: [0-9]+ error|RACECHECK SUMMARY: [0-9]+ hazards? displayed \([0-9]+ error' "$log" \
    | tail -n 1 | grep -Eo '[0-9]+ error' | grep -Eo '[0-9]+')
  checks=$(grep -E '[0-9]+ passed, [0-9]+ failed|checks passed' "$log" | tail -n 1 | sed 's/^ *//')
  if grep -q "no CUDA device" "$log"; then
    status="FAILED (no CUDA device: nothing ran)"
    FAILED=1
  elif [ $rc -eq 0 ] && [ "${errors:-x}" = 0 ]; then
    status=ok
  else
    status=FAILED
    FAILED=1
    [ $rc -eq 124 ] && status="FAILED (timed out after ${TIMEOUT}s)"
    [ $rc -eq 99 ] && status="FAILED (sanitizer errors)"
    echo "--- $tool $name $status (rc $rc); first reports:"
    grep -m 20 -E '^========= (Invalid|Race|Barrier|Uninitialized|Error|.*hazard|Program hit|Leaked)' "$log" |
      sed 's/^/    /'
    tail -n 5 "$log" | sed 's/^/    /'
  fi
  local line
  line=$(printf '%-10s %-22s %-28s %6ss  sanitizer errors: %-4s %s | %s' "$tool" "$name" "$status" "$secs" \
    "${errors:-?}" "$(basename "$log")" "${checks:-no test summary line}")
  echo "--- $line"
  RESULTS+=("$line")
}

has_tool() { [[ " $TOOLS " == *" $1 "* ]]; }

for tool in memcheck initcheck synccheck racecheck; do
  has_tool "$tool" || continue
  if [ "$QUICK" = 1 ]; then
    case $tool in memcheck | initcheck) stride=7 fuzz=80 ;; *) stride=13 fuzz=40 ;; esac
    run_one "$tool" "frame_ola_stride$stride" "$FRAME_OLA" --stride "$stride"
    run_one "$tool" "fused_fuzz$fuzz" "$FUSED" --fuzz "$fuzz"
  else
    run_one "$tool" frame_ola_grid "$FRAME_OLA"
    if [ "$tool" = racecheck ]; then
      run_one "$tool" fused_quick_grid "$FUSED" --quick
    else
      run_one "$tool" fused_grid "$FUSED"
    fi
    run_one "$tool" "fused_fuzz$FUZZ" "$FUSED" --fuzz "$FUZZ"
  fi
done

{
  echo "================================================================ compute-sanitizer summary"
  echo "sanitizer: $("$SANITIZER" --version 2>/dev/null | tail -n 1)"
  echo "card:      $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)"
  echo "mode:      $([ "$QUICK" = 1 ] && echo "QUICK (samples)" || echo "full grids + fuzz $FUZZ"), tools: $TOOLS"
  echo "time:      $((SECONDS - T0)) s"
  for r in "${RESULTS[@]}"; do echo "$r"; done
  if [ $FAILED = 0 ]; then echo "all sanitizer runs clean"; else echo "SOME SANITIZER RUNS FAILED"; fi
} | tee "$SUMMARY"
exit $FAILED
