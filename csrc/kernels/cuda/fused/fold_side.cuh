// spectro — fused kernels: the fold of reflect / replicate / circular padding back onto the samples it was read from,
// after a synthesis.
#pragma once

#include "helpers.cuh"

namespace spectro {
namespace kernels {
namespace cuda {
namespace detail {

// The transpose of reflect / replicate / circular padding, after a synthesis into the output and the side buffer:
// each output sample t that some side position reads (pad_source(p) == t, p outside [pad, pad + T)) gets those
// values added, in for_each_preimage's order (a gather: one thread per sample, deterministic). Such samples lie
// within k of either end of the row: targets [0, k) and [T - k, T) (all of [0, T) when T <= 2 k), targets_per_row of
// them per row.
template <typename V>
struct FoldSide {
  static constexpr int kThreads = 256;
  static constexpr int kMinBlocks = 1;

#pragma nv_exec_check_disable
  template <class Ctx>
  SPECTRO_HD static void run(Ctx& ctx, FusedSynthesisParams<V> p, int64_t targets_per_row, int64_t k) {
    const Geometry& g = p.s.g;
    const int64_t idx = ctx.block() * kThreads + ctx.tid();
    const int64_t b = idx / targets_per_row;
    if (b >= p.s.batch) return;
    const int64_t j = idx - b * targets_per_row;
    const int64_t t = j < k || targets_per_row == g.length ? j : g.length - targets_per_row + j;
    V* row = p.s.out + b * g.length;
    const V* side = p.side + b * fused_side_length(g);
    const int64_t direct = t + g.pad;
    V total = row[t];
    for_each_preimage(t, g, [&](int64_t q) {
      if (q != direct) total += side[q < g.pad ? q : q - g.length];  // left part at q, right part at q - T
    });
    row[t] = total;
  }
};

}  // namespace detail
}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
