#!/usr/bin/env bash
# spectro — the fused kernels' build-time launch knobs, measured: builds tests/kernels/test_fused once per variant
# (in parallel, each in its own build folder) and runs `test_fused --bench` for each, on the GPU of this machine.
#
#   bash benchmarks/fused_variants.sh                        # the default variants below
#   bash benchmarks/fused_variants.sh "" "-DSPECTRO_FUSED_MIN_BLOCKS=3"
#
# A variant is a string of extra nvcc flags ("" = the defaults). Output: each variant's bench rows, then one table
# (ms per launch of every configuration, one column per variant). Knobs (csrc/kernels/cuda/fused/tuning.cuh):
# SPECTRO_FUSED_THREADS (block size of the power-of-two engine), SPECTRO_FUSED_MIN_BLOCKS and
# SPECTRO_FUSED_SYNTHESIS_MIN_BLOCKS and SPECTRO_FUSED_PROLOGUE_MIN_BLOCKS / _SMALL_MIN_BLOCKS (resident blocks per SM
# the kernels, and the synthesis with an analysis prologue at M > 64 / M <= 64, are compiled for: the register cap),
# SPECTRO_FUSED_PREFETCH (analysis software pipelining), SPECTRO_FUSED_GATHER_TESTED_FRAMES (the synthesis' packed
# overlap-add: rounds of at most this many frames test each frame, 0 = always the division), SPECTRO_MEL_BAND_PARTIALS (4 or 1: the mel epilogue's band
# sums as four partial sums or one serial chain; `test_fused --bench` ends with the mel kernels' rows).
# On the GPU machine: VARIANTS=1 SKIP="pytest demo bench" bash scripts/gpu_check.sh. Three variants take about 380 s
# to build on 16 cores (every instance under csrc/kernels/cuda/instances/ per variant; the f64 ones are the slowest).
# INSTANCES="fused_mel_grad_f32 fused_loss_grad_f32": each variant rebuilds only these instances and links them with
# the default build's other objects (build/kernels, made first): a knob that changes only those kernels (e.g. the
# prologues' register cap) costs a minute, not minutes. BENCH_ARGS: what test_fused --bench gets besides (e.g.
# "--losses" or "--mel": those rows only).
set -o pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
NVCC=${NVCC:-nvcc}
if [ $# -gt 0 ]; then
  VARIANTS=("$@")
else
  VARIANTS=("" "-DSPECTRO_FUSED_PREFETCH=0" "-DSPECTRO_FUSED_SYNTHESIS_MIN_BLOCKS=3")
fi
TMP=$(mktemp -d)
pids=()
# Interrupted (e.g. by `timeout`): take the parallel builds down too, so that nothing keeps compiling behind later
# timings.
trap 'kill "${pids[@]}" 2>/dev/null; pkill -f "build/variants/" 2>/dev/null; rm -rf "$TMP"; exit 130' INT TERM
if [ -n "${INSTANCES:-}" ]; then
  # the default build first (its objects are the variants' others), then per variant the named instances alone
  make --no-print-directory -f tests/kernels/Makefile NVCC="$NVCC" NVCCFLAGS="-std=c++17 -O3 -arch=sm_90" \
    build/kernels/test_fused >"$TMP/build_default.log" 2>&1 || { echo "default build FAILED"; tail -n 20 "$TMP/build_default.log"; exit 1; }
  for i in "${!VARIANTS[@]}"; do
    (set -e
     mkdir -p "build/variants/$i"
     for f in $INSTANCES; do
       [ -f "csrc/kernels/cuda/instances/$f.cu" ] || { echo "no instance $f"; exit 1; }
       "$NVCC" -std=c++17 -O3 -arch=sm_90 ${VARIANTS[$i]} -I csrc --resource-usage \
         -c "csrc/kernels/cuda/instances/$f.cu" -o "build/variants/$i/$f.o"
     done
     others=()
     for o in build/kernels/fused_*.o; do
       case " $INSTANCES " in *" $(basename "$o" .o) "*) ;; *) others+=("$o") ;; esac
     done
     # shellcheck disable=SC2046
     "$NVCC" -arch=sm_90 build/kernels/test_fused.o "${others[@]}" \
       $(for f in $INSTANCES; do echo "build/variants/$i/$f.o"; done) -o "build/variants/$i/test_fused"
    ) >"$TMP/build_$i.log" 2>&1 &
    pids+=($!)
  done
else
  for i in "${!VARIANTS[@]}"; do
    (make --no-print-directory -f tests/kernels/Makefile NVCC="$NVCC" BUILD="build/variants/$i" \
       NVCCFLAGS="-std=c++17 -O3 -arch=sm_90 ${VARIANTS[$i]}" "build/variants/$i/test_fused" >"$TMP/build_$i.log" 2>&1) &
    pids+=($!)
  done
fi
rc=0
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then
    echo "variant $i (${VARIANTS[$i]:-defaults}): build FAILED"; tail -n 20 "$TMP/build_$i.log"; rc=1
  fi
done
for i in "${!VARIANTS[@]}"; do
  [ -x "build/variants/$i/test_fused" ] || continue
  echo "=== variant $i: ${VARIANTS[$i]:-defaults}"
  # shellcheck disable=SC2086
  "build/variants/$i/test_fused" --bench ${BENCH_ARGS:-} | tee "$TMP/bench_$i.log" || rc=1
done
echo
echo "=== ms per launch (columns: variants 0..$((${#VARIANTS[@]} - 1)))"
for i in "${!VARIANTS[@]}"; do echo "  $i: ${VARIANTS[$i]:-defaults}"; done
python3 - "$TMP" "${#VARIANTS[@]}" <<'EOF'
import re, sys
tmp, n = sys.argv[1], int(sys.argv[2])
rows, order = {}, []
for i in range(n):
    try:
        text = open(f"{tmp}/bench_{i}.log").read().split("\nsummary")[0]
    except OSError:
        continue
    for line in text.splitlines():
        m = re.match(r"(.*?)\s+([0-9.]+) ms\s+[0-9]+ GB/s", line)
        if m and "copy" not in m.group(1):
            if m.group(1) not in rows:
                order.append(m.group(1))
            rows.setdefault(m.group(1), {})[i] = float(m.group(2))
for what in order:
    print(f"{what:<50}" + "".join(f"{rows[what].get(i, float('nan')):>9.4f}" for i in range(n)))
EOF
rm -rf "$TMP"
exit $rc
