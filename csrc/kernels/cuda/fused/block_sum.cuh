// spectro — fused kernels: the deterministic block reduction the loss epilogues and kernels end with (no atomics: a
// fixed pairwise order, so the same inputs give the same bits on every run).
#pragma once

#include "../../common.h"

namespace spectro {
namespace kernels {
namespace cuda {
namespace detail {

// The pairwise tree of `v` over the block's threads (kThreads a power of two) in shared memory `s` (kThreads doubles,
// free: the caller's barrier precedes); the total in s[0] after the closing barrier. Every thread of the block.
#pragma nv_exec_check_disable
template <int kThreads, class Ctx>
SPECTRO_HD void block_tree_sum(Ctx& ctx, double v, double* s) {
  static_assert((kThreads & (kThreads - 1)) == 0, "block_tree_sum: a power-of-two block");
  const int tid = ctx.tid();
  s[tid] = v;
  ctx.sync();
  for (int h = kThreads / 2; h > 0; h >>= 1) {
    if (tid < h) s[tid] += s[tid + h];
    ctx.sync();
  }
}

}  // namespace detail
}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
