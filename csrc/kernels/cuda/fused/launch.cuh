// spectro — fused kernels: the launch policy of each engine (tile, segment and grid sizes from the geometry and the
// occupancy), on any executor.
#pragma once

#include <type_traits>

#include "finish_synthesis.cuh"
#include "generic_analysis.cuh"
#include "generic_synthesis.cuh"
#include "pow2_analysis.cuh"
#include "pow2_synthesis.cuh"

namespace spectro {
namespace kernels {
namespace cuda {
// Shared memory a fused block may take: the budget the launchers size tiles for, and the hard cap (H100/H200 allow
// 227 KB per block after opting in).
constexpr int64_t kFusedSmemBudget = 96 * 1024;
// The general engine's launchers split short inputs finer until they have this many blocks (two per SM of an H100 /
// H200), rather than leave SMs idle.
constexpr int64_t kFusedWideGrid = 264;
constexpr int64_t kFusedSmemMax = 200 * 1024;

// Whether the fused kernels handle this size for value type V: real FFTs need an even n_fft whose half factors into
// 2, 3, 5, complex ones n_fft itself; and one frame's FFT buffers plus its signal span must fit in shared memory.
template <typename V>
bool fused_supported(int64_t n_fft, bool complex_fft) {
  using R = typename RealOf<V>::type;
  if (n_fft < 2 || n_fft > 16384) return false;
  if (!complex_fft && n_fft % 2 != 0) return false;
  const int64_t m = detail::fft_length(complex_fft, n_fft);
  fft::Plan plan;
  if (!fft::make_plan(m, &plan)) return false;
  return 2 * m * static_cast<int64_t>(sizeof(Complex<R>)) + n_fft * static_cast<int64_t>(sizeof(V)) <= kFusedSmemMax;
}

namespace detail {

// Resident blocks of Body on the device: Exec::slots, at least one SM's worth of one block.
template <class Body, class Exec, class... Args>
int64_t resident_blocks(const Exec& exec, int64_t smem) {
  const int64_t s = exec.template slots<Body, Args...>(smem);
  return s > 0 ? s : 132;
}

// The analysis engines' parameters: FusedAnalysisParams<V>, or FusedMelParams<V> for the mel epilogue (Out MelOut),
// or FusedLossParams<V> for the spectral-loss epilogue (Out LossOut).
template <typename V, typename Out>
using AnalysisParamsOf = typename std::conditional<
    IsMelOut<Out>::value, FusedMelParams<V>,
    typename std::conditional<IsLossOut<Out>::value, FusedLossParams<V>, FusedAnalysisParams<V>>::type>::type;

// The analysis launchers set *grid (when not null) to the number of blocks launched (the loss epilogue writes one
// row of partial sums per block).
template <typename V, typename Out, typename In, int kLogM, class Exec>
cudaError_t pow2_analysis(const AnalysisParamsOf<V, Out>& p, const Exec& exec, int64_t* grid) {
  using Body = Pow2Analysis<V, kLogM, Out, In>;
  const Geometry& g = p.a.g;
  const int64_t smem = Body::smem_bytes();
  // One or a few waves of equal blocks, each a run of whole rounds of one row.
  const int64_t slots = resident_blocks<Body, Exec, AnalysisParamsOf<V, Out>, int, int64_t>(exec, smem);
  const int waves = fused_tuning().waves > 0 ? fused_tuning().waves : 2;
  const int64_t rounds_per_row = (g.n_frames + Body::kRound - 1) / Body::kRound;
  // Rounded down: rounding up would leave a last, nearly empty wave (up to batch - 1 blocks) that costs a whole
  // block's time.
  const int64_t blocks_per_row_target = max64(1, slots * waves / p.a.batch);
  int64_t rounds = fused_tuning().rounds > 0
                       ? fused_tuning().rounds
                       : max64(1, (rounds_per_row + blocks_per_row_target - 1) / blocks_per_row_target);
  // By cost: the fewest (waves of blocks) x (rounds per block) over one to four waves; ties: fewer, longer blocks.
  // - The mel epilogue's forward and its loss' terms, always. The loss' terms take each block's rounds twice (x, then
  //   y), so a block's work comes in even numbers of rounds and the rule above can cost a mostly empty wave (DAC's
  //   scales at B=72: 33 rounds per row, 792 blocks of 6 over 528 slots). The forward's block sets up its window
  //   factors and twiddles, and a round's band pass waits on its widest bands: at B=4 x 220500 1024/256 (431 rounds
  //   of 2 frames per row, 528 slots) one wave of 4 rounds per block took the kernel 14% under two waves of 2 (H100,
  //   test_fused --bench --tts).
  // - The plain analysis (the stft) where that cost is at most 0.9 of the rule above's: short signals, where two
  //   waves of short blocks leave the second mostly empty (stft at B=4 x 160000 1024/256: 628 blocks of 2 rounds over
  //   528 slots, 0.0165 ms; one wave of 3 rounds 0.0151; B=8 x 160000 and B=1 x 1.3M 1024/256, 2048/512 at B=4 x
  //   160000: 8-10% less, H100, test_fused --bench --shapes). Within 10% the rule above stays: its two waves of
  //   shorter blocks measured faster than one wave of longer ones at the long signals (B=4 x 1.3M: 10 rounds,
  //   0.0532 ms, against 0.0594 at 16). (The mel epilogue's backward and the loss epilogue, whose partial sums follow
  //   the grid, keep the rule above.)
  bool by_cost = false;
  if constexpr (IsMelOut<Out>::value) by_cost = mel_loss_pair(p) || p.grad_spec == nullptr;
  constexpr bool kPlain = !IsMelOut<Out>::value && !IsLossOut<Out>::value;
  if ((by_cost || kPlain) && fused_tuning().rounds <= 0 && fused_tuning().waves <= 0) {
    const auto cost_of = [&](int64_t r) {
      return (p.a.batch * ((rounds_per_row + r - 1) / r) + slots - 1) / slots * r;
    };
    int64_t best = -1, best_rounds = rounds;
    for (int w = 1; w <= 4; ++w) {
      const int64_t per_row = max64(1, slots * w / p.a.batch);
      const int64_t r = (rounds_per_row + per_row - 1) / per_row;
      const int64_t cost = cost_of(r);
      if (best < 0 || cost < best || (cost == best && r > best_rounds)) {
        best = cost;
        best_rounds = r;
      }
    }
    if (by_cost || 10 * best <= 9 * cost_of(rounds)) rounds = best_rounds;
  }
  const int64_t frames_per_block = rounds * Body::kRound;
  if (frames_per_block > 0x7fffffff) return cudaErrorInvalidConfiguration;
  const int64_t blocks_per_row = (g.n_frames + frames_per_block - 1) / frames_per_block;
  if (grid != nullptr) *grid = p.a.batch * blocks_per_row;
  return exec.template launch<Body>(p.a.batch * blocks_per_row, smem, p, static_cast<int>(frames_per_block),
                                    blocks_per_row);
}

template <typename V, typename Out, typename In, class Exec>
cudaError_t generic_synthesis(const FusedSynthesisParams<V>& p, const Exec& exec, bool complex_fft,
                              bool* folded = nullptr);

// The split of a synthesis' rows into segments (fold_split): whether its blocks fold the padding, and the shift of
// the segments' boundaries that lets them. Not where the caller leaves the fold to the finish (`in_blocks` false), nor
// under the tests' knob FusedTuning::finish_fold: the uniform split then.
inline RowSplit synthesis_split(const Geometry& g, int64_t segment, int64_t segments_per_row, bool in_blocks,
                                int64_t align, int64_t max_len) {
  if (!in_blocks || fused_tuning().finish_fold) return RowSplit{segment, segments_per_row, 0, 0};
  return fold_split(g, segment, segments_per_row, align, max_len);
}

// Whether the power-of-two synthesis engine's footprint fits shared memory (with the spectrum staged in the compute
// type).
template <typename V, int kLogM>
bool pow2_synthesis_fits(const Geometry& g) {
  using Staged = Pow2Synthesis<V, kLogM, V, Complex<typename RealOf<V>::type>>;
  return Staged::smem_bytes(Staged::ring_size(g.n_fft, g.hop), g.n_fft, g.hop) <= kFusedSmemMax;
}

// pp: FusedSynthesisParams<V>, or FusedMelGradParams<V> for the mel prologue (In MelGradIn). With an analysis
// prologue, an edge scratch (p.edge) and `edges` given, the blocks may own frames: *edges is then set to the layout
// whose edge values remain to be added (finish_synthesis); else it is left alone. With `folded` given, the blocks
// fold the padding themselves where a split of the rows allows it (synthesis_split): *folded says whether they did.
template <typename V, typename Out, typename In, int kLogM, class Exec>
cudaError_t pow2_synthesis(const typename Pow2Synthesis<V, kLogM, Out, In>::Params& pp, const Exec& exec,
                           bool complex_fft, EdgeLayout* edges = nullptr, bool* folded = nullptr) {
  using Body = Pow2Synthesis<V, kLogM, Out, In>;
  const FusedSynthesisParams<V>& p = Body::syn_params(pp);
  const Geometry& g = p.s.g;
  const int ring = Body::ring_size(g.n_fft, g.hop);
  const int64_t smem = Body::smem_bytes(ring, g.n_fft, g.hop);
  // Long hops in double precision (and complex n_fft = 4096) take the general engine. Decided on the footprint with
  // the spectrum staged in the compute type, whatever its storage: one geometry, one engine, so a complex32 spectrum
  // gives exactly the result of its complex64 copy (a smaller complex32 stage would fit where complex64 does not).
  // (The analysis prologues have no general engine: their launchers check the fit first.)
  if (!pow2_synthesis_fits<V, kLogM>(g)) {
    if constexpr (Body::kPrologue) {
      return cudaErrorInvalidValue;
    } else {
      return generic_synthesis<V, Out, In>(p, exec, complex_fft, folded);
    }
  }
  const int64_t slots =
      resident_blocks<Body, Exec, typename Body::Params, int, int64_t, int, int, int, int, int>(exec, smem);
  const int waves = fused_tuning().waves > 0 ? fused_tuning().waves : 1;
  const int64_t cover = (g.n_fft + g.hop - 1) / g.hop;
  const int64_t blocks_per_row_target = max64(1, slots * waves / p.s.batch);  // rounded down, as in analysis
  // Packed overlap-add and stores where hop and the first segment's start are multiples of the pack (the kernel
  // checks each segment's length).
  const int packed = !fused_tuning().scalar_ola && g.hop % Body::kVec == 0 && synthesis_lo(g) % Body::kVec == 0;
  if constexpr (Body::kPrologue) {
    // Frame-owning blocks (Pow2Synthesis::share_of) where the edge scratch holds them: about blocks_per_row_target
    // blocks per row of whole rounds, at least `cover` frames each (only neighbours meet).
    const int64_t e = max64(0, g.n_fft - g.hop);
    if (edges != nullptr && (p.edge != nullptr || e == 0)) {
      int64_t frames = max64(cover, (g.n_frames + blocks_per_row_target - 1) / blocks_per_row_target);
      frames = (frames + Body::kRoundFrames - 1) / Body::kRoundFrames * Body::kRoundFrames;
      if (fused_tuning().frames_per_block > 0) frames = max64(cover, fused_tuning().frames_per_block);
      const auto edge_values = [&](int64_t f) { return p.s.batch * ((g.n_frames + f - 1) / f - 1) * e; };
      if (edge_values(frames) > p.edge_capacity) {  // fewer, longer blocks: as many per row as the scratch holds
        const int64_t most = e > 0 ? p.edge_capacity / (p.s.batch * e) + 1 : 1;
        frames = max64(frames, (g.n_frames + most - 1) / max64(1, most));
      }
      const int64_t blocks_per_row = (g.n_frames + frames - 1) / frames;
      // (a block's positions in an int: at most frames hop + n_fft, or the last block's through synthesis_hi)
      const int64_t longest = max64(frames * g.hop + g.n_fft, synthesis_hi(g) - (blocks_per_row - 1) * frames * g.hop);
      // (frames >= cover: frames hop >= n_fft, so a row's edges never overlap; checked, as finish_synthesis relies
      // on it)
      if (edge_values(frames) <= p.edge_capacity && longest <= (int64_t{1} << 30) && edges_disjoint(g, frames)) {
        cudaError_t err = exec.template launch<Body>(p.s.batch * blocks_per_row, smem, pp, 0, blocks_per_row, ring,
                                                     packed, static_cast<int>(frames), 0, 0);
        if (err == cudaSuccess && blocks_per_row > 1 && e > 0) *edges = EdgeLayout{blocks_per_row, frames};
        return err;
      }
    }
  }
  // Segment: a multiple of hop, long enough that the frames transformed twice (those straddling two segments,
  // about n_fft / hop per segment) stay a small share, short enough to give `waves` waves of blocks.
  const int64_t positions = synthesis_hi(g) - synthesis_lo(g);  // per row
  const int64_t hops_per_row = (positions + g.hop - 1) / g.hop;
  int64_t seg_hops = max64(2 * cover, (hops_per_row + blocks_per_row_target - 1) / blocks_per_row_target);
  // Short signals, where the floor of 2 cover hops leaves the device part-filled: the segment of least modelled cost
  // between cover / 2 and 2 cover hops. A block's time is its frames (s + cover - 1 for s hops) times a round's
  // time, which grows with the blocks sharing its SM: about (1 + 2 f) for a wave filling f of the slots (fitted on
  // 1 to 4 blocks per SM: 2.2, 2.9, 3.7 and 4.4 us a frame at n_fft 2048). Ties: longer segments. The istft at B=4 x
  // 160000 2048/512 (40 segments of 8 hops per row, 160 blocks over 528 slots): 0.0378 ms, segments of 4 hops 0.0316;
  // the model orders the measured lengths 1 to 32 hops at this and at 1024/256 and B=8 (H100, test_fused --bench
  // --shapes).
  if (seg_hops == 2 * cover && cover <= 64 && fused_tuning().segment_hops <= 0 && fused_tuning().waves <= 0) {
    int64_t best = -1;
    for (int64_t s = 2 * cover; s >= max64(1, cover / 2); --s) {
      const int64_t blocks = p.s.batch * ((hops_per_row + s - 1) / s);
      const int64_t cost = (s + cover - 1) * ((blocks + slots - 1) / slots * slots + 2 * blocks);
      if (best < 0 || cost < best) {
        best = cost;
        seg_hops = s;
      }
    }
  }
  if (fused_tuning().segment_hops > 0) seg_hops = fused_tuning().segment_hops;
  seg_hops = min64(seg_hops, max64(1, (int64_t{1} << 30) / g.hop));
  const int64_t segment = seg_hops * g.hop;
  const int64_t segments_per_row = (positions + segment - 1) / segment;
  // (segment boundaries moved by multiples of the pack, so that the packed path keeps its alignment; any length)
  const RowSplit split =
      synthesis_split(g, segment, segments_per_row, folded != nullptr, Body::kVec, int64_t{1} << 30);
  const cudaError_t err = exec.template launch<Body>(p.s.batch * segments_per_row, smem, pp, static_cast<int>(segment),
                                                     segments_per_row, ring, packed, 0, split.shift, split.fold);
  if (err == cudaSuccess && folded != nullptr) *folded = split.fold != 0;
  return err;
}

template <typename V, typename Out, typename In, class Exec>
cudaError_t generic_analysis(const AnalysisParamsOf<V, Out>& p, const Exec& exec, int64_t* grid) {
  using R = typename RealOf<V>::type;
  using Body = GenericAnalysis<V, Out, In>;
  constexpr bool kComplex = IsComplex<V>::value;
  const Geometry& g = p.a.g;
  fft::Plan plan;
  const int64_t m = fft_length(kComplex, g.n_fft);
  fft::make_plan(m, &plan);
  const int64_t cbytes = sizeof(Complex<R>);
  // The two-step transform (two_step_fft.cuh) at the lengths it has a shape for, real frames; warp by warp where the
  // epilogue has that form (the mel forward).
  const bool two_step = !kComplex && fft::two_step_covers(static_cast<int>(m)) && !fused_tuning().no_two_step;
  const GenericTransform transform =
      !two_step ? GenericTransform::PassLoop
                : (Body::warp_epilogue(p) && !fused_tuning().block_epilogue ? GenericTransform::TwoStepWarp
                                                                             : GenericTransform::TwoStep);
  // Twiddle table when it takes at most a quarter of the budget.
  const int64_t table_n = (kComplex ? m : g.n_fft) * cbytes <= kFusedSmemBudget / 4 ? (kComplex ? m : g.n_fft) : 0;
  // Warp by warp: the band table's weights (GenericAnalysis::band_entries), at most the budget's.
  int band_weights = 0;
  int64_t band_table = 0;
  if constexpr (IsMelOut<Out>::value) {
    if (transform == GenericTransform::TwoStepWarp) {
      band_weights = Body::band_weights_budget(p.n_mels, p.basis_bins);
      if (fused_tuning().warp_band_weights != 0)
        band_weights = static_cast<int>(min64(band_weights, max64(0, fused_tuning().warp_band_weights)));
      band_table = Body::band_table_bytes(p.n_mels, band_weights);
    }
  }
  // Frames per tile: ~2048 complex values per FFT buffer, at least one frame, within the shared-memory budget.
  auto bytes_for = [&](int64_t f) {
    return (Body::buffer_values(f, m, transform) + table_n + Body::window_values(m, transform)) * cbytes +
           ((f - 1) * g.hop + g.n_fft) * static_cast<int64_t>(sizeof(V)) + band_table;
  };
  int64_t frames = fused_tuning().general_frames > 0 ? fused_tuning().general_frames : max64(1, 2048 / m);
  frames = min64(frames, g.n_frames);
  while (frames > 1 && bytes_for(frames) > kFusedSmemBudget) --frames;
  if (fused_tuning().general_frames <= 0) {
    // Larger tiles where they cost no residency: at 256 threads the kernel's registers usually bound its blocks per SM
    // (3 on an H100 at n_fft 400), which leaves shared memory for more frames per tile; a larger tile amortises the
    // per-tile work (the twiddle table, the barriers, the span's overlap). H100, n_fft 400, B=16 x 480000 stft: 10
    // frames 0.157 ms, 16 frames 0.133 ms (both 3 blocks per SM), 20 frames 0.161 ms (2 blocks per SM); this rule
    // (18 frames there) 0.129 ms.
    const int64_t need = max64(bytes_for(frames), IsLossOut<Out>::value ? Body::kLossSmem : 0);
    const int64_t share = min64(
        kFusedSmemBudget,
        exec.template smem_share<Body, AnalysisParamsOf<V, Out>, int, int64_t, fft::Plan, int, GenericTransform, int>(
            need));
    while (frames < g.n_frames && bytes_for(frames + 1) <= share) ++frames;
    // Warp-local: whole rounds of the block's slots (a tile's last round with idle warps costs a round).
    if (transform == GenericTransform::TwoStepWarp && frames > Body::kWarpSlots) frames -= frames % Body::kWarpSlots;
  }
  // Short signals: fewer frames per tile rather than idle SMs (a tile's frames are transformed one pass at a time,
  // so a lone block with many frames is latency-bound).
  // (A forced tile, FusedTuning::general_frames, is kept.)
  while (fused_tuning().general_frames <= 0 && frames > 1 &&
         p.a.batch * ((g.n_frames + frames - 1) / frames) < kFusedWideGrid)
    --frames;
  int64_t t_n = table_n;
  if (bytes_for(frames) > kFusedSmemMax) t_n = 0;
  if (t_n == 0 && two_step) return cudaErrorInvalidValue;  // (n_fft 400: the table takes 3.2 KB; never without it)
  int64_t smem = bytes_for(frames) - (table_n - t_n) * cbytes;
  if (IsLossOut<Out>::value) smem = max64(smem, Body::kLossSmem);
  if (smem > kFusedSmemMax) return cudaErrorInvalidValue;
  const int64_t tiles = (g.n_frames + frames - 1) / frames;
  int64_t blocks = p.a.batch * tiles;
  if (transform == GenericTransform::TwoStepWarp) {  // (tiles in a loop per block: as many blocks as are resident)
    using Params = AnalysisParamsOf<V, Out>;
    const int64_t resident =
        fused_tuning().tile_blocks > 0
            ? fused_tuning().tile_blocks
            : resident_blocks<Body, Exec, Params, int, int64_t, fft::Plan, int, GenericTransform, int>(exec, smem);
    blocks = min64(blocks, resident);
  }
  if (grid != nullptr) *grid = blocks;
  return exec.template launch<Body>(blocks, smem, p, static_cast<int>(frames), tiles, plan, static_cast<int>(t_n),
                                    transform, band_weights);
}

template <typename V, typename Out, typename In, class Exec>
cudaError_t generic_synthesis(const FusedSynthesisParams<V>& p, const Exec& exec, bool complex_fft, bool* folded) {
  using R = typename RealOf<V>::type;
  using Body = GenericSynthesis<V, Out, In>;
  const Geometry& g = p.s.g;
  fft::Plan plan;
  const int64_t m = fft_length(complex_fft, g.n_fft);
  fft::make_plan(m, &plan);
  const int64_t cbytes = sizeof(Complex<R>);
  const int64_t table_n = g.n_fft * cbytes <= kFusedSmemBudget / 4 ? (complex_fft ? m : g.n_fft) : 0;
  // Segment: a multiple of hop near 8 frames' worth of output (fewer when that would leave SMs idle), so that the
  // frames re-transformed at segment edges stay a small fraction.
  const int64_t rows = p.s.batch;
  int64_t segment = max64(g.hop, min64(8192, 4 * g.n_fft) / g.hop * g.hop);
  const int64_t positions = synthesis_hi(g) - synthesis_lo(g);  // per row
  while (segment > g.hop && rows * ((positions + segment - 1) / segment) < kFusedWideGrid) segment -= g.hop;
  if (fused_tuning().segment_hops > 0) segment = max64(g.hop, fused_tuning().segment_hops * g.hop);
  int64_t frames = max64(1, 2048 / m);
  auto bytes_for = [&](int64_t f, int64_t seg, int64_t tn, int64_t hn) {
    return 2 * f * m * cbytes + tn * cbytes + seg * static_cast<int64_t>(sizeof(V)) +
           hn * static_cast<int64_t>(sizeof(R));
  };
  while (frames > 1 && bytes_for(frames, segment, table_n, g.hop) > kFusedSmemBudget) --frames;
  while (segment > g.hop && bytes_for(frames, segment, table_n, g.hop) > kFusedSmemBudget) segment -= g.hop;
  // Long hops: drop the twiddle table, then the scale table, then cut the segment below a hop.
  const int64_t t_n = bytes_for(frames, segment, table_n, 0) > kFusedSmemMax ? 0 : table_n;
  const int64_t hs_n = bytes_for(frames, segment, t_n, g.hop) > kFusedSmemMax ? 0 : g.hop;
  while (segment > 64 && bytes_for(frames, segment, t_n, hs_n) > kFusedSmemMax) segment = max64(64, segment / 2);
  const int64_t smem = bytes_for(frames, segment, t_n, hs_n);
  if (smem > kFusedSmemMax) return cudaErrorInvalidValue;
  const int64_t segments_per_row = (positions + segment - 1) / segment;
  // (the accumulator holds `segment` positions: no segment longer)
  const RowSplit split = synthesis_split(g, segment, segments_per_row, folded != nullptr, 1, segment);
  const cudaError_t err =
      exec.template launch<Body>(rows * segments_per_row, smem, p, static_cast<int>(segment), static_cast<int>(frames),
                                 plan, static_cast<int>(t_n), static_cast<int>(hs_n), split.shift, split.fold);
  if (err == cudaSuccess && folded != nullptr) *folded = split.fold != 0;
  return err;
}

// The launchers' logic on any executor (DeviceExec, or the test's host emulation), for storage types Out (result)
// and In (input).
// The analysis engine for the FFT length (spectrum, mel or loss epilogue by Out).
template <typename V, typename Out, typename In, class Exec>
cudaError_t run_analysis_engine(const AnalysisParamsOf<V, Out>& p, const Exec& exec, int64_t* grid = nullptr) {
  constexpr bool kComplex = IsComplex<V>::value;
  const int logm = fused_tuning().force_general ? -1 : log2_exact(fft_length(kComplex, p.a.g.n_fft));
  switch (logm) {
    case 4: return pow2_analysis<V, Out, In, 4>(p, exec, grid);
    case 5: return pow2_analysis<V, Out, In, 5>(p, exec, grid);
    case 6: return pow2_analysis<V, Out, In, 6>(p, exec, grid);
    case 7: return pow2_analysis<V, Out, In, 7>(p, exec, grid);
    case 8: return pow2_analysis<V, Out, In, 8>(p, exec, grid);
    case 9: return pow2_analysis<V, Out, In, 9>(p, exec, grid);
    case 10: return pow2_analysis<V, Out, In, 10>(p, exec, grid);
    case 11: return pow2_analysis<V, Out, In, 11>(p, exec, grid);
    case 12: return pow2_analysis<V, Out, In, 12>(p, exec, grid);
    default: return generic_analysis<V, Out, In>(p, exec, grid);
  }
}

// The launchers' logic on any executor (DeviceExec, or the test's host emulation), for storage types Out (result)
// and In (input).
template <typename V, typename Out, typename In, class Exec>
cudaError_t run_fused_analysis_as(const FusedAnalysisParams<V>& p, const Exec& exec) {
  constexpr bool kComplex = IsComplex<V>::value;
  const Geometry& g = p.a.g;
  if (p.a.batch == 0 || g.n_frames == 0) return cudaSuccess;
  if (!fused_supported<V>(g.n_fft, kComplex)) return cudaErrorInvalidValue;
  if (kComplex != (p.mode == FftMode::Fft)) return cudaErrorInvalidValue;
  return run_analysis_engine<V, Out, In>(p, exec);
}

// A mel backward's dL/d out: given (one of grad_out, target, target_sign), and at most one of them, target_grad
// with exactly the last two.
template <typename V>
bool mel_grad_given(const FusedMelParams<V>& p) {
  return p.grad_out != nullptr || p.target != nullptr || p.target_sign != nullptr;
}
template <typename V>
bool mel_grad_one(const FusedMelParams<V>& p) {
  const int given = (p.grad_out != nullptr) + (p.target != nullptr) + (p.target_sign != nullptr);
  const bool from_loss = p.target != nullptr || p.target_sign != nullptr;
  return given <= 1 && from_loss == (p.target_grad != nullptr);
}

// The band ranges of a mel call's basis into p.band, and with `cover` (a backward, or MelBands::Only) each bin's
// covering bands after them.
template <typename V, class Exec>
cudaError_t mel_band_pass(const FusedMelParams<V>& p, const Exec& exec, bool cover) {
  using R = typename RealOf<V>::type;
  using Ranges = MelBandRanges<R>;
  cudaError_t err = exec.template launch<Ranges>(p.n_mels, Ranges::smem_bytes(), p.basis, p.basis_bins, p.band);
  if (err != cudaSuccess || !(cover || p.bands == MelBands::Only)) return err;
  const int blocks = (p.basis_bins + MelBinCover::kThreads - 1) / MelBinCover::kThreads;
  return exec.template launch<MelBinCover>(blocks, MelBinCover::smem_bytes(), static_cast<const int*>(p.band),
                                           p.n_mels, p.basis_bins, p.band + 2 * p.n_mels);
}

// Whether a mel call with the mel loss' terms (FusedMelParams::y) runs: on the power-of-two engine (n_fft a power of
// two, float or double). Elsewhere the caller forms the terms from two mel launches (MelLossTerms, mel_loss_terms.cuh).
template <typename V>
bool fused_mel_loss_pair_supported(const Geometry& g) {
  if (IsComplex<V>::value || !fused_supported<V>(g.n_fft, false) || fused_tuning().force_general) return false;
  const int logm = log2_exact(fft_length(false, g.n_fft));
  return logm >= 4 && logm <= 12;
}

// The mel frontend (mel.cuh): the band ranges of the basis (into p.band; backward: then each bin's covering bands;
// as p.bands says: skipped where the caller filled them, alone for the caller to keep),
// then the analysis with the mel epilogue (forward: the mel output, with y also the mel loss' terms; with grad_out /
// grad_spec: dL/dX). Real signals, onesided spectrum (mode Rfft), 1 <= basis_bins <= n_fft / 2 + 1; backward: n_mels
// <= n_fft / 2. *blocks (optional): the mel kernel's blocks (0 where it did not run).
template <typename V, typename In, class Exec>
cudaError_t run_fused_mel_as(const FusedMelParams<V>& p, const Exec& exec, int64_t* blocks = nullptr) {
  using R = typename RealOf<V>::type;
  const Geometry& g = p.a.g;
  if (blocks != nullptr) *blocks = 0;
  if (IsComplex<V>::value || p.mode != FftMode::Rfft || !fused_supported<V>(g.n_fft, false)) return cudaErrorInvalidValue;
  if (p.n_mels < 1 || p.basis_bins < 1 || p.basis_bins > g.n_fft / 2 + 1 || p.band == nullptr || p.basis == nullptr)
    return cudaErrorInvalidValue;
  // backward: grad_spec with exactly one of grad_out, target and target_sign (the last two with target_grad)
  const bool backward = p.grad_spec != nullptr;
  if (backward != mel_grad_given(p) || !mel_grad_one(p) ||
      (backward && p.n_mels > g.n_fft / 2))
    return cudaErrorInvalidValue;
  // the mel loss' terms against a target signal (y): forward, signal in V, with the output, signs and partials
  if (mel_loss_pair(p) && (backward || !std::is_same<In, V>::value || p.x_half != nullptr || p.out == nullptr ||
                           p.sign == nullptr || p.partials == nullptr || !fused_mel_loss_pair_supported<V>(g)))
    return cudaErrorInvalidValue;
  if (p.bands != MelBands::Only && (p.a.batch == 0 || g.n_frames == 0)) return cudaSuccess;
  if (p.bands != MelBands::Ready) {
    const cudaError_t err = mel_band_pass(p, exec, backward);
    if (err != cudaSuccess || p.bands == MelBands::Only) return err;
  }
  if constexpr (IsComplex<V>::value) {
    return cudaErrorInvalidValue;
  } else {
    return run_analysis_engine<V, MelOut<R>, In>(p, exec, blocks);
  }
}

// The spectral-loss epilogue (spectral_loss.cuh) on the complex signal z = x + i y (mode Fft, In = V): forward (p.partials
// set: one row of kLossSums partial sums per block, *blocks of them, at most batch * n_frames) or backward
// (p.grad_sums and p.grad_spec set).
template <typename V, class Exec>
cudaError_t run_fused_loss_as(const FusedLossParams<V>& p, const Exec& exec, int64_t* blocks) {
  const Geometry& g = p.a.g;
  *blocks = 0;
  if (!IsComplex<V>::value || p.mode != FftMode::Fft || !fused_supported<V>(g.n_fft, true)) return cudaErrorInvalidValue;
  if ((p.partials == nullptr) == (p.grad_sums == nullptr) || (p.grad_sums == nullptr) != (p.grad_spec == nullptr) ||
      p.spec != nullptr || p.spec_half != nullptr || p.x_half != nullptr)
    return cudaErrorInvalidValue;
  if (p.a.batch == 0 || g.n_frames == 0) return cudaSuccess;
  if constexpr (!IsComplex<V>::value) {
    return cudaErrorInvalidValue;
  } else {
    return run_analysis_engine<V, LossOut<typename RealOf<V>::type>, V>(p, exec, blocks);
  }
}

// What a synthesis into the output and side buffer leaves to do, in one launch of SynthesisFinish (none if
// nothing): the edge values of a frame-owning launch (`edges`: blocks_per_row > 1, frames_per_block > 0, n_fft > hop)
// and, where the padding is not zeros and its blocks did not fold it (`folded`), the fold of the side buffer.
template <typename V, class Exec>
cudaError_t finish_synthesis(const FusedSynthesisParams<V>& p, const Exec& exec, const EdgeLayout& edges,
                             bool folded = false) {
  using Body = SynthesisFinish<V>;
  const Geometry& g = p.s.g;
  const FoldReach fold = folded ? FoldReach{} : fold_reach(g);
  const int64_t fold_targets = fold.targets, reach = fold.reach;
  int64_t edge_values = 0;
  if (edges.frames_per_block > 0 && edges.blocks_per_row > 1 && g.n_fft > g.hop) {
    if (p.edge == nullptr || !edges_disjoint(g, edges.frames_per_block)) return cudaErrorInvalidValue;
    edge_values = p.s.batch * (edges.blocks_per_row - 1) * (g.n_fft - g.hop);
  }
  const int64_t threads = p.s.batch * fold_targets + edge_values;
  return exec.template launch<Body>((threads + Body::kThreads - 1) / Body::kThreads, 0, p, fold_targets, reach,
                                    edges.blocks_per_row, edge_values > 0 ? edges.frames_per_block : int64_t{0});
}

template <typename V, typename Out, typename In, class Exec>
cudaError_t run_fused_synthesis_engine(const FusedSynthesisParams<V>& p, const Exec& exec, bool* folded);

// For storage types Out (V, or half precision: constant padding only, the fold reads and adds to the output in V)
// and In.
template <typename V, typename Out, typename In, class Exec>
cudaError_t run_fused_synthesis_as(const FusedSynthesisParams<V>& p, const Exec& exec) {
  const Geometry& g = p.s.g;
  if (p.accumulate || p.edge != nullptr) return cudaErrorInvalidValue;  // (the prologue syntheses' options)
  if (p.s.batch == 0 || g.length == 0) return cudaSuccess;
  const bool fold = fused_side_length(g) > 0;  // positions outside the signal to fold back
  if (fold && (p.side == nullptr || !std::is_same<Out, V>::value)) return cudaErrorInvalidValue;
  bool folded = false;
  const cudaError_t err = run_fused_synthesis_engine<V, Out, In>(p, exec, &folded);
  if constexpr (std::is_same<Out, V>::value) {
    if (err != cudaSuccess || !fold || folded) return err;
    return finish_synthesis(p, exec, EdgeLayout{});  // the fold alone, where the blocks could not do it
  } else {
    return err;
  }
}

// ---- the synthesis engine with an analysis prologue (In = MelGradIn / LossGradIn) ------------------------------

// Whether the power-of-two synthesis of FFT length 2^logm fits shared memory at this geometry (false for lengths
// outside 16 .. 4096: the prologues have no general engine).
template <typename V>
bool pow2_synthesis_fits_at(int logm, const Geometry& g) {
  switch (logm) {
    case 4: return pow2_synthesis_fits<V, 4>(g);
    case 5: return pow2_synthesis_fits<V, 5>(g);
    case 6: return pow2_synthesis_fits<V, 6>(g);
    case 7: return pow2_synthesis_fits<V, 7>(g);
    case 8: return pow2_synthesis_fits<V, 8>(g);
    case 9: return pow2_synthesis_fits<V, 9>(g);
    case 10: return pow2_synthesis_fits<V, 10>(g);
    case 11: return pow2_synthesis_fits<V, 11>(g);
    case 12: return pow2_synthesis_fits<V, 12>(g);
    default: return false;
  }
}

// The synthesis side of a prologue call, checked against the analysis geometry ga it recomputes: a plain real
// output in V (no spectrum, no half-precision store), the same rows and geometry, a side buffer where the padding
// folds back.
template <typename V>
bool prologue_synthesis_ok(const FusedSynthesisParams<V>& s, const Geometry& ga, int64_t batch) {
  const Geometry& gs = s.s.g;
  if (s.spec != nullptr || s.spec_c32 != nullptr || s.out_half != nullptr || s.out_bf16 != nullptr ||
      s.s.out == nullptr || s.s.batch != batch)
    return false;
  if (gs.n_fft != ga.n_fft || gs.hop != ga.hop || gs.n_frames != ga.n_frames || gs.pad != ga.pad ||
      gs.length != ga.length || gs.mode != ga.mode || gs.env_normalize)
    return false;
  return fused_side_length(gs) == 0 || s.side != nullptr;
}

// Launches the synthesis engine with prologue In at FFT length 2^logm (pp: its Params), then its finish (one launch:
// the edge values where the blocks owned frames, and the fold of the padded positions where its blocks did not fold
// it; none where neither).
template <typename V, typename In, class Exec, class P>
cudaError_t run_prologue_synthesis(const P& pp, const FusedSynthesisParams<V>& s, int logm, bool complex_fft,
                                   const Exec& exec) {
  if (s.s.batch == 0 || s.s.g.length == 0) return cudaSuccess;
  cudaError_t err = cudaErrorInvalidValue;
  EdgeLayout edges;
  bool folded = false;
  switch (logm) {
    case 4: err = pow2_synthesis<V, V, In, 4>(pp, exec, complex_fft, &edges, &folded); break;
    case 5: err = pow2_synthesis<V, V, In, 5>(pp, exec, complex_fft, &edges, &folded); break;
    case 6: err = pow2_synthesis<V, V, In, 6>(pp, exec, complex_fft, &edges, &folded); break;
    case 7: err = pow2_synthesis<V, V, In, 7>(pp, exec, complex_fft, &edges, &folded); break;
    case 8: err = pow2_synthesis<V, V, In, 8>(pp, exec, complex_fft, &edges, &folded); break;
    case 9: err = pow2_synthesis<V, V, In, 9>(pp, exec, complex_fft, &edges, &folded); break;
    case 10: err = pow2_synthesis<V, V, In, 10>(pp, exec, complex_fft, &edges, &folded); break;
    case 11: err = pow2_synthesis<V, V, In, 11>(pp, exec, complex_fft, &edges, &folded); break;
    case 12: err = pow2_synthesis<V, V, In, 12>(pp, exec, complex_fft, &edges, &folded); break;
    default: break;
  }
  if (err != cudaSuccess) return err;
  return finish_synthesis(s, exec, edges, folded);
}

// Whether the fused mel backward (FusedMelGradParams: the synthesis engine with the mel prologue) covers a geometry:
// real signals with n_fft / 2 a power of two from 16 to 4096, whose power-of-two synthesis fits shared memory.
template <typename V>
bool fused_mel_grad_supported(const Geometry& g) {
  if (IsComplex<V>::value || g.n_fft % 2 != 0 || g.env_normalize) return false;
  return pow2_synthesis_fits_at<V>(log2_exact(g.n_fft / 2), g);
}

// The mel backward to the signal (FusedMelGradParams, mel.cuh): the band ranges and cover (unless p.mel.bands is
// Ready), the synthesis engine with the mel prologue, the fold of the padded positions. Where
// fused_mel_grad_supported says no: cudaErrorInvalidValue (the caller takes the mel backward and the synthesis).
template <typename V, class Exec>
cudaError_t run_fused_mel_grad(const FusedMelGradParams<V>& p, const Exec& exec) {
  const FusedMelParams<V>& m = p.mel;
  const Geometry& ga = m.a.g;
  if constexpr (IsComplex<V>::value) {
    return cudaErrorInvalidValue;
  } else {
    if (m.mode != FftMode::Rfft || p.syn.mode != FftMode::IrfftHalf || !fused_mel_grad_supported<V>(ga))
      return cudaErrorInvalidValue;
    if (m.n_mels < 1 || m.n_mels > ga.n_fft / 2 || m.basis_bins < 1 || m.basis_bins > ga.n_fft / 2 + 1 ||
        m.band == nullptr || m.basis == nullptr || m.bands == MelBands::Only)
      return cudaErrorInvalidValue;
    if (!mel_grad_given(m) || !mel_grad_one(m) || m.grad_spec != nullptr || m.out != nullptr || m.spec != nullptr ||
        m.spec_half != nullptr || m.x_half != nullptr || mel_loss_pair(m) || m.a.x == nullptr)
      return cudaErrorInvalidValue;
    if (!prologue_synthesis_ok(p.syn, ga, m.a.batch)) return cudaErrorInvalidValue;
    if (p.syn.s.batch == 0 || ga.length == 0) return cudaSuccess;
    if (m.bands != MelBands::Ready) {
      const cudaError_t err = mel_band_pass(m, exec, true);
      if (err != cudaSuccess) return err;
    }
    return run_prologue_synthesis<V, MelGradIn<V>>(p, p.syn, log2_exact(ga.n_fft / 2), false, exec);
  }
}

// Whether the fused loss backward (FusedLossGradParams: the synthesis engine with the loss prologue) covers a
// geometry: n_fft a power of two from 16 to 4096 whose power-of-two synthesis fits shared memory.
template <typename R>
bool fused_loss_grad_supported(const Geometry& g) {
  return !g.env_normalize && pow2_synthesis_fits_at<R>(log2_exact(g.n_fft), g);
}

// The spectral loss' backward to the prediction (FusedLossGradParams, spectral_loss.cuh): the synthesis engine with
// the loss prologue, then the fold of the padded positions. Where fused_loss_grad_supported says no:
// cudaErrorInvalidValue (the caller takes the loss backward and the synthesis).
template <typename R, class Exec>
cudaError_t run_fused_loss_grad(const FusedLossGradParams<R>& p, const Exec& exec) {
  const FusedLossParams<Complex<R>>& l = p.loss;
  const Geometry& ga = l.a.g;
  if (l.mode != FftMode::Fft || p.syn.mode != FftMode::IfftReal || !fused_loss_grad_supported<R>(ga))
    return cudaErrorInvalidValue;
  if (l.grad_sums == nullptr || l.grad_target || l.grad_spec != nullptr || l.partials != nullptr ||
      l.spec != nullptr || l.spec_half != nullptr || l.x_half != nullptr || p.x == nullptr || p.y == nullptr)
    return cudaErrorInvalidValue;
  if (!prologue_synthesis_ok(p.syn, ga, l.a.batch)) return cudaErrorInvalidValue;
  return run_prologue_synthesis<R, LossGradIn<R>>(p, p.syn, log2_exact(ga.n_fft), true, exec);
}

// The synthesis proper (output and side buffer; where *folded comes back true, the padding folded too), by FFT
// length.
template <typename V, typename Out, typename In, class Exec>
cudaError_t run_fused_synthesis_engine(const FusedSynthesisParams<V>& p, const Exec& exec, bool* folded) {
  const Geometry& g = p.s.g;
  const bool complex_fft = !(p.mode == FftMode::Irfft || p.mode == FftMode::IrfftHalf);
  if (complex_fft != (p.mode == FftMode::Ifft || p.mode == FftMode::IfftReal)) return cudaErrorInvalidValue;
  if (IsComplex<V>::value != (p.mode == FftMode::Ifft)) return cudaErrorInvalidValue;
  if (!fused_supported<V>(g.n_fft, complex_fft)) return cudaErrorInvalidValue;
  const int logm = fused_tuning().force_general ? -1 : log2_exact(fft_length(complex_fft, g.n_fft));
  switch (logm) {
    case 4: return pow2_synthesis<V, Out, In, 4>(p, exec, complex_fft, nullptr, folded);
    case 5: return pow2_synthesis<V, Out, In, 5>(p, exec, complex_fft, nullptr, folded);
    case 6: return pow2_synthesis<V, Out, In, 6>(p, exec, complex_fft, nullptr, folded);
    case 7: return pow2_synthesis<V, Out, In, 7>(p, exec, complex_fft, nullptr, folded);
    case 8: return pow2_synthesis<V, Out, In, 8>(p, exec, complex_fft, nullptr, folded);
    case 9: return pow2_synthesis<V, Out, In, 9>(p, exec, complex_fft, nullptr, folded);
    case 10: return pow2_synthesis<V, Out, In, 10>(p, exec, complex_fft, nullptr, folded);
    case 11: return pow2_synthesis<V, Out, In, 11>(p, exec, complex_fft, nullptr, folded);
    case 12: return pow2_synthesis<V, Out, In, 12>(p, exec, complex_fft, nullptr, folded);
    default: return generic_synthesis<V, Out, In>(p, exec, complex_fft, folded);
  }
}

}  // namespace detail

}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
