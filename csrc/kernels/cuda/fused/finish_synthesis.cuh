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

// The fold of reflect / replicate / circular padding (pad modes other than Constant): each output sample t that some
// side position reads (pad_source(q) == t, q outside [pad, pad + T)) gets those values added. Such samples lie within
// `reach` of either end of a row: targets [0, reach) and [T - reach, T) (all of [0, T) when T <= 2 reach), `targets`
// of them per row, target j being sample fold_target(j). None (0, 0) for zero padding.
struct FoldReach {
  int64_t targets = 0, reach = 0;
  SPECTRO_HD int64_t target(const Geometry& g, int64_t j) const {
    return j < reach || targets == g.length ? j : g.length - targets + j;
  }
};
SPECTRO_HD FoldReach fold_reach(const Geometry& g) {
  FoldReach f;
  if (fused_side_length(g) > 0) {
    const int64_t right = g.span() - g.pad - g.length;
    // reflect reaches t = pad and T - 1 - right; circular t = T - pad, right - 1
    f.reach = max64(g.pad, right) + 1;
    f.targets = min64(g.length, 2 * f.reach);
  }
  return f;
}

// Fold target t of row b: ((e(t) + out[t]) + (e(q1) + side[q1])) + (e(q2) + side[q2]) ..., over the side positions
// q1, q2, ... that read t in for_each_preimage's order, where e(P) + x stands for x where position P has no edge value
// (edge_at with frames_per_block > 0; none with 0).
template <typename V, class EdgeAt>
SPECTRO_HD void fold_target(const FusedSynthesisParams<V>& p, int64_t b, int64_t t, EdgeAt&& edge_at) {
  const Geometry& g = p.s.g;
  V* row = p.s.out + b * g.length;
  const V* side = p.side + b * fused_side_length(g);
  const int64_t direct = t + g.pad;
  V total = row[t];
  const V* ev = edge_at(direct);
  if (ev != nullptr) total = *ev + total;
  for_each_preimage(t, g, [&](int64_t q) {
    if (q == direct) return;
    V s = side[q < g.pad ? q : q - g.length];  // left part at q, right part at q - T
    const V* eq = edge_at(q);
    if (eq != nullptr) s = *eq + s;
    total += s;
  });
  row[t] = total;
}

// How a synthesis launched in segments splits each row: `segments` of `segment` padded positions from
// synthesis_lo, but the boundaries after the first moved by `shift` (the first segment shift positions longer, the
// last as much shorter; negative: the other way), and whether the row's first and last blocks fold the padding
// themselves (`fold`, fold_in_block). Segment k covers [start(g, k), start(g, k + 1)).
struct RowSplit {
  int64_t segment = 0, segments = 1;
  int shift = 0;
  int fold = 0;
  SPECTRO_HD int64_t start(const Geometry& g, int64_t k) const {
    return k <= 0 ? synthesis_lo(g) : k >= segments ? synthesis_hi(g) : synthesis_lo(g) + k * segment + shift;
  }
};

// The split of rows into `segments` segments (at least one) of `segment` positions (segments - 1 of them fall short
// of the row) under which the row's blocks can fold the padding: each fold target, its own position and every side
// position that reads it in one block, the row's first for targets [0, reach) and its last for [T - reach, T). So:
// one segment per row; or, for reflect and replicate (circular padding reads the other end) with the two target
// ranges apart (2 reach <= T), a first segment reaching past pad + reach and a last one starting at or before
// pad + T - reach. (Reflect: side position q < pad reads pad - q < reach; q >= pad + T reads 2 (T - 1) - (q - pad)
// >= T - 1 - right >= T - reach.) The shift is the multiple of `align` nearest 0 that gives those two segments
// their reach and keeps every segment at most max_len long; none (fold 0, shift 0): the uniform split, and the
// finish folds (SynthesisFinish), or nothing is to be folded.
SPECTRO_HD RowSplit fold_split(const Geometry& g, int64_t segment, int64_t segments, int64_t align, int64_t max_len) {
  RowSplit r;
  r.segment = segment;
  r.segments = segments;
  const FoldReach f = fold_reach(g);
  if (f.targets == 0 || segments < 1 || align < 1) return r;
  if (segments == 1) {
    r.fold = synthesis_hi(g) - synthesis_lo(g) <= max_len;
    return r;
  }
  if (g.mode == PadMode::Circular || 2 * f.reach > g.length) return r;
  const int64_t lo = synthesis_lo(g), hi = synthesis_hi(g);
  const int64_t rest = hi - lo - (segments - 1) * segment;  // the last segment's length unshifted
  const int64_t need_first = g.pad + f.reach - lo, need_last = hi - (g.pad + g.length - f.reach);
  // shift in [a, b]: first = segment + shift >= need_first, last = rest - shift >= need_last, both <= max_len
  const int64_t a = max64(need_first - segment, rest - max_len), b = min64(rest - need_last, max_len - segment);
  int64_t shift = 0;
  if (a > 0) shift = (a + align - 1) / align * align;
  if (b < 0) shift = -((-b + align - 1) / align * align);
  if (shift < a || shift > b || shift < -0x3fffffff || shift > 0x3fffffff) return r;
  r.shift = static_cast<int>(shift);
  r.fold = 1;
  return r;
}

// The fold inside a synthesis block whose launch's split folds (fold_split), after the block has stored its segment
// (output and side buffer): block kb of row b's segments folds the targets it holds, one thread per target, after a
// barrier (which makes the block's global stores visible to all its threads). The same sums as SynthesisFinish's
// fold, so the same bits. Every thread of the block calls it (the barrier), or none.
#pragma nv_exec_check_disable
template <class Ctx, typename V>
SPECTRO_HD void fold_in_block(Ctx& ctx, const FusedSynthesisParams<V>& p, int64_t b, int64_t kb,
                              int64_t segments_per_row) {
  if (kb != 0 && kb != segments_per_row - 1) return;  // (uniform over the block)
  const FoldReach f = fold_reach(p.s.g);
  // the row's first block: targets [0, reach); its last: the rest (one block: all)
  const int64_t j_lo = kb == 0 ? 0 : f.reach;
  const int64_t j_hi = kb == segments_per_row - 1 ? f.targets : f.reach;
  ctx.sync();
  const auto no_edge = [](int64_t) -> const V* { return nullptr; };
  for (int64_t j = j_lo + ctx.tid(); j < j_hi; j += ctx.nthreads()) fold_target(p, b, f.target(p.s.g, j), no_edge);
}

// After a synthesis into the output and the side buffer (the padded positions outside the signal), whichever of two
// finishing steps it needs, in one launch:
// * Edges (a frame-owning synthesis, EdgeLayout): block k < K - 1 of row b stored the sums of its frames at the
//   padded positions P in [fb hop, (fb - 1) hop + n_fft), fb = (k + 1) F, to
//   edge[(b (K - 1) + k) (n_fft - hop) + P - fb hop], and block k + 1 wrote its own frames' sums at those positions
//   (to the output, or the side buffer outside the signal). Each is added there as v + *at: the earlier frames' sum
//   plus the later ones', a fixed order. Positions outside [synthesis_lo, synthesis_hi) were written by neither and
//   get nothing. The edges of a row do not overlap (edges_disjoint): at most one value per position.
// * Fold (pad modes other than Constant, FoldReach): the transpose of reflect / replicate / circular padding, each
//   fold target by fold_target, unless the synthesis' blocks folded it (fold_split).
// The result is bit for bit that of the edges first, then the fold (fold_target's order).
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
      const FoldReach f{fold_targets, reach};
      fold_target(p, b, f.target(g, j), [&](int64_t q) {
        return e > 0 ? edge_at(p, b, q, blocks_per_row, frames_per_block) : nullptr;
      });
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
