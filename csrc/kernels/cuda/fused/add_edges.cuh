// spectro — fused kernels: the sums where two frame-owning synthesis blocks meet, added onto the output.
#pragma once

#include "helpers.cuh"

namespace spectro {
namespace kernels {
namespace cuda {
namespace detail {

// After a synthesis whose blocks own frames (Pow2Synthesis' share_of with frames_per_block F > 0): block k < K - 1 of
// row b stored the sums of its frames at the padded positions P in [fb hop, (fb - 1) hop + n_fft), fb = (k + 1) F, to
// edge[(b (K - 1) + k) (n_fft - hop) + P - fb hop], and block k + 1 wrote its own frames' sums at those positions
// (to the output, or the side buffer outside the signal). One thread per edge value adds it there: the earlier
// frames' sum plus the later ones', a fixed order (deterministic). Positions outside [synthesis_lo, synthesis_hi) were
// written by neither. Before fold_side, which reads the side buffer.
template <typename V>
struct AddEdges {
  static constexpr int kThreads = 256;
  static constexpr int kMinBlocks = 1;

#pragma nv_exec_check_disable
  template <class Ctx>
  SPECTRO_HD static void run(Ctx& ctx, FusedSynthesisParams<V> p, int64_t blocks_per_row, int64_t frames_per_block) {
    const Geometry& g = p.s.g;
    const int64_t e = g.n_fft - g.hop;  // values per edge row
    const int64_t per_row = (blocks_per_row - 1) * e;
    const int64_t idx = ctx.block() * int64_t{kThreads} + ctx.tid();
    const int64_t b = idx / per_row;
    if (b >= p.s.batch) return;
    const int64_t r = idx - b * per_row;
    const int64_t k = r / e, q = r - k * e;
    const int64_t pos = (k + 1) * frames_per_block * g.hop + q;  // padded position
    if (pos < synthesis_lo(g) || pos >= synthesis_hi(g)) return;
    const V v = p.edge[b * per_row + r];
    const int64_t t = pos - g.pad;
    V* at = t >= 0 && t < g.length ? p.s.out + b * g.length + t
                                   : p.side + b * fused_side_length(g) + (t < 0 ? t + g.pad : t - g.length + g.pad);
    *at = v + *at;
  }
};

}  // namespace detail
}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
