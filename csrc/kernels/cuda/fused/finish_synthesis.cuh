// spectro — fused kernels: the finish of a synthesis after its blocks: the sums where two frame-owning blocks meet,
// added onto the output, and the fold of reflect / replicate / circular padding back onto the samples it was read
// from. One launch for both.
#pragma once

#include "helpers.cuh"

namespace spectro {
namespace kernels {
namespace cuda {
namespace detail {

// A frame-owning synthesis launch (Pow2Synthesis' share_of with frames_per_block F > 0) whose edge values remain to be
// added: blocks_per_row blocks of F frames per row. F 0 (or one block per row, or n_fft <= hop): none.
struct EdgeLayout {
  int64_t blocks_per_row = 0;
  int64_t frames_per_block = 0;
};

// Whether the edges of frame-owning blocks of F frames do not overlap: edge row k of a row covers the padded
// positions [(k + 1) F hop, (k + 1) F hop + n_fft - hop), so F hop >= n_fft - hop keeps them apart and puts position P
// in edge row P / (F hop) - 1 if anywhere (SynthesisFinish::edge_at). The launcher's F covers a position's frames
// (F hop >= n_fft).
SPECTRO_HD bool edges_disjoint(const Geometry& g, int64_t frames_per_block) {
  return frames_per_block > 0 && frames_per_block * g.hop >= g.n_fft - g.hop;
}

// After a synthesis into the output and the side buffer (the padded positions outside the signal), whichever of two
// finishing steps it needs, in one launch:
// * Edges (a frame-owning synthesis, EdgeLayout): block k < K - 1 of row b stored the sums of its frames at the
//   padded positions P in [fb hop, (fb - 1) hop + n_fft), fb = (k + 1) F, to
//   edge[(b (K - 1) + k) (n_fft - hop) + P - fb hop], and block k + 1 wrote its own frames' sums at those positions
//   (to the output, or the side buffer outside the signal). Each is added there as v + *at: the earlier frames' sum
//   plus the later ones', a fixed order. Positions outside [synthesis_lo, synthesis_hi) were written by neither and
//   get nothing. The edges of a row do not overlap (edges_disjoint): at most one value per position.
// * Fold (pad modes other than Constant): the transpose of reflect / replicate / circular padding. Each output sample
//   t that some side position reads (pad_source(q) == t, q outside [pad, pad + T)) gets those values added, in
//   for_each_preimage's order. Such samples lie within `reach` of either end of the row: targets [0, reach) and
//   [T - reach, T) (all of [0, T) when T <= 2 reach), fold_targets of them per row.
// The result is bit for bit that of the edges first, then the fold: sample t of a fold target becomes
// ((e(t) + out[t]) + (e(q1) + side[q1])) + (e(q2) + side[q2]) ..., where e(P) + x stands for x where P has no edge
// value.
//
// Threads (one grid, every index bounded): the first batch * fold_targets, one per fold target (a gather); then
// batch * (K - 1) * (n_fft - hop), one per edge value, adding it onto its output sample unless that sample is a fold
// target or the position lies outside the signal (the side buffer, read by fold targets only, whose threads add its
// edge values in their sums; the buffer itself is left without them). No two threads write the same sample, none
// reads what another writes: deterministic, no atomics.
template <typename V>
struct SynthesisFinish {
  static constexpr int kThreads = 256;
  static constexpr int kMinBlocks = 1;

  // The edge value of padded position P of row b, as the synthesis stored it, or null where P has none.
  SPECTRO_HD static const V* edge_at(const FusedSynthesisParams<V>& p, int64_t b, int64_t P, int64_t blocks_per_row,
                                     int64_t frames_per_block) {
    const Geometry& g = p.s.g;
    if (P < synthesis_lo(g) || P >= synthesis_hi(g)) return nullptr;
    const int64_t e = g.n_fft - g.hop, stride = frames_per_block * g.hop;  // stride >= e (edges_disjoint)
    const int64_t j = P / stride;  // the block whose first frame starts at j stride
    const int64_t q = P - j * stride;
    if (j < 1 || j >= blocks_per_row || q >= e) return nullptr;
    return p.edge + (b * (blocks_per_row - 1) + j - 1) * e + q;
  }

#pragma nv_exec_check_disable
  template <class Ctx>
  SPECTRO_HD static void run(Ctx& ctx, FusedSynthesisParams<V> p, int64_t fold_targets, int64_t reach,
                             int64_t blocks_per_row, int64_t frames_per_block) {
    const Geometry& g = p.s.g;
    // edge values per row (0: none)
    const int64_t e = frames_per_block > 0 && blocks_per_row > 1 ? max64(0, g.n_fft - g.hop) : 0;
    const int64_t per_row = (blocks_per_row - 1) * e;
    int64_t idx = ctx.block() * int64_t{kThreads} + ctx.tid();
    if (idx < p.s.batch * fold_targets) {
      const int64_t b = idx / fold_targets;
      const int64_t j = idx - b * fold_targets;
      const int64_t t = j < reach || fold_targets == g.length ? j : g.length - fold_targets + j;
      V* row = p.s.out + b * g.length;
      const V* side = p.side + b * fused_side_length(g);
      const int64_t direct = t + g.pad;
      V total = row[t];
      const V* ev = e > 0 ? edge_at(p, b, direct, blocks_per_row, frames_per_block) : nullptr;
      if (ev != nullptr) total = *ev + total;
      for_each_preimage(t, g, [&](int64_t q) {
        if (q == direct) return;
        V s = side[q < g.pad ? q : q - g.length];  // left part at q, right part at q - T
        const V* eq = e > 0 ? edge_at(p, b, q, blocks_per_row, frames_per_block) : nullptr;
        if (eq != nullptr) s = *eq + s;
        total += s;
      });
      row[t] = total;
      return;
    }
    idx -= p.s.batch * fold_targets;
    if (e == 0) return;
    const int64_t b = idx / per_row;
    if (b >= p.s.batch) return;
    const int64_t r = idx - b * per_row;
    const int64_t k = r / e, q = r - k * e;
    const int64_t pos = (k + 1) * frames_per_block * g.hop + q;  // padded position
    if (pos < synthesis_lo(g) || pos >= synthesis_hi(g)) return;
    const int64_t t = pos - g.pad;
    if (t < 0 || t >= g.length) return;  // the side buffer: the fold targets that read it add this value
    if (fold_targets > 0 && (t < reach || t >= g.length - reach)) return;  // a fold target: its thread adds it
    V* at = p.s.out + b * g.length + t;
    *at = p.edge[b * per_row + r] + *at;
  }
};

}  // namespace detail
}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
