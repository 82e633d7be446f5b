// spectro — fused kernels: the general (2^a 3^b 5^c) analysis engine: tiles of frames transformed together in shared
// memory.
#pragma once

#include "../fft/two_step_fft.cuh"
#include "helpers.cuh"
#include "mel.cuh"
#include "spectral_loss.cuh"

namespace spectro {
namespace kernels {
namespace cuda {
namespace detail {

// ----------------------------------------------------------------------------------------------------------------
// General engine.

// How the general analysis transforms a tile's frames (the launcher, generic_analysis, chooses):
enum class GenericTransform : int {
  PassLoop,     // a packing pass, then block_fft's mixed-radix pass loop (any 2^a 3^b 5^c)
  TwoStep,      // the two-step register-blocked transform (fft/two_step_fft.cuh: real frames at the lengths it
                // covers), every stage block-wide behind block barriers
  TwoStepWarp,  // the same transform, the mel forward warp by warp (two_step_mel_frames): each warp's frames through
                // the transform, the powers and the band sums behind warp barriers
};

template <typename V, typename Out = Complex<typename RealOf<V>::type>, typename In = V>
struct GenericAnalysis {
  using R = typename RealOf<V>::type;
  using Cx = Complex<R>;
  static constexpr bool kComplex = IsComplex<V>::value;
  // Out = MelOut<R>: the mel epilogue (mel.cuh; real signals), the powers in the FFT buffer the result is not in.
  static constexpr bool kMel = IsMelOut<Out>::value;
  static_assert(!kMel || !kComplex, "mel epilogue: real signals");
  // Out = LossOut<R>: the spectral-loss epilogue (spectral_loss.cuh; the complex signal x + i y).
  static constexpr bool kLoss = IsLossOut<Out>::value;
  static_assert(!kLoss || kComplex, "loss epilogue: the complex signal x + i y");
  using Params = typename std::conditional<
      kMel, FusedMelParams<V>, typename std::conditional<kLoss, FusedLossParams<V>, FusedAnalysisParams<V>>::type>::type;
  static constexpr int kThreads = 256;
  // Register cap: 3 blocks per SM in float (80 registers), 2 in double. Uncapped, the two-step transform's window
  // and twiddle loads are hoisted across frames (128-154 registers: one block per SM); capped, no spills.
  static constexpr int kMinBlocks = sizeof(R) == 4 ? 3 : 2;
  // The loss epilogue's block reduction needs this much shared memory (the launcher's minimum).
  static constexpr int64_t kLossSmem = kLossSums * kThreads * int64_t{sizeof(double)};

  // Bin k = 0..m of a real signal's frame from its half-length transform zf[0..m) (real_split_bin; Z[m] = Z[0]).
  SPECTRO_HD static Cx split_bin(const Cx* zf, int m, int k, Cx w) {
    return real_split_bin(zf[k == m ? 0 : k], zf[k == 0 ? 0 : m - k], w);
  }

  // Frames in flight at once in the warp-local transform: kSlotsPerWarp sequences of Q threads per warp (a frame never
  // straddles two warps; the warp's other lanes idle), one slot of kMidSeq complex values each.
  static constexpr int kSlotsPerWarp = 32 / fft::TwoStep200::kQ;
  static constexpr int kWarpSlots = kThreads / 32 * kSlotsPerWarp;

  // The warp-by-warp mel forward's band table in shared memory, past the span, built once per block: per band m
  // {lo, hi, base} (its nonzero bins [lo, hi), its weight of bin k at weights[base + k]), then, where they fit in
  // `band_weights` values, the weights of every band's bins packed (else weights = the basis in global memory, base =
  // m basis_bins). The bands' ranges and weights then come from shared memory, not from global memory per band.
  static constexpr int kBandTableBands = 256;      // the warp-by-warp forward takes n_mels <= this
  static constexpr int64_t kBandTableBytes = 6144;  // the launcher's budget for the table
  // ints of the entries (3 per band and the table's flag, a multiple of 4: the weights 16-byte aligned after them).
  // The flag is read from shared memory at each band pass: passed as an argument instead, it was a register live
  // through the tile loop (ptxas: 142 / 156 bytes of spill stores / loads against 86 / 108).
  SPECTRO_HD static int band_entries(int n_mels) { return (3 * n_mels + 4) / 4 * 4; }
  SPECTRO_HD static int64_t band_table_bytes(int n_mels, int band_weights) {
    return band_entries(n_mels) * int64_t{sizeof(int)} + band_weights * int64_t{sizeof(R)};
  }
  // The weights the budget holds for a call (none past the dense basis' count).
  SPECTRO_HD static int band_weights_budget(int n_mels, int basis_bins) {
    const int64_t room = (kBandTableBytes - band_entries(n_mels) * int64_t{sizeof(int)}) / int64_t{sizeof(R)};
    return static_cast<int>(max64(0, min64(room, int64_t{n_mels} * basis_bins)));
  }

  // Whether a call's epilogue has a warp-local form (GenericTransform::TwoStepWarp): the mel forward, its tiles and
  // frames counted in 32 bits (mel_warp_tiles; past that the output alone would be hundreds of GB).
  SPECTRO_HD static bool warp_epilogue(const Params& p) {
    if constexpr (kMel) {
      return p.grad_spec == nullptr && !mel_loss_pair(p) && p.n_mels <= kBandTableBands &&
             p.a.batch * p.a.g.n_frames <= int64_t{0x7fffffff};
    } else {
      (void)p;
      return false;
    }
  }

  // Complex values of a tile's FFT buffers: two buffers of M per frame; with the two-step transform (two_step_fft.cuh;
  // real frames, M = 200) its padded intermediate and the result per frame; warp-local, one intermediate per slot
  // (the results and the powers overwrite it).
  SPECTRO_HD static int64_t buffer_values(int64_t frames, int64_t m, GenericTransform t) {
    switch (t) {
      case GenericTransform::TwoStep:
        return frames * (fft::TwoStep200::kMidSeq + m);
      case GenericTransform::TwoStepWarp:  // (and step 1's twiddles, P Q values)
        return int64_t{kWarpSlots} * fft::TwoStep200::kMidSeq + fft::TwoStep200::kM;
      default:
        return frames * 2 * m;
    }
  }
  // Complex values of shared memory besides the tile's buffers, the twiddle table and the span: the window's copy.
  SPECTRO_HD static int64_t window_values(int64_t m, GenericTransform t) {
    return t == GenericTransform::PassLoop ? 0 : m;
  }

  // The two-step transform of a tile's `count` real frames (frame f: the M = P Q complex values (sig[f hop + 2n]
  // w[2n], sig[f hop + 2n + 1] w[2n + 1]), read straight from the span and the window's copy (window[n] = (w[2n],
  // w[2n + 1])): no packing pass): Q threads per frame, kThreads / Q frames at a time; the intermediate in mid
  // (kMidSeq values per frame), the result in out (M per frame); `table` the twiddle table of the real split (n_fft =
  // 2 M entries; the launcher takes this path only with one). Must be called by the whole block; ends with a barrier.
#pragma nv_exec_check_disable
  template <class S, class Ctx>
  SPECTRO_HD static Cx* two_step_frames(Ctx& ctx, const V* sig, const Cx* window, int hop, int count, Cx* mid, Cx* out,
                                        const Cx* table) {
    constexpr int P = S::kP, Q = S::kQ;
    constexpr int kSlots = kThreads / Q;
    const int tid = ctx.tid();
    const int slot = tid / Q, q = tid - slot * Q;
    const auto twiddle = [table](int q, int k1) { return table[2 * q * k1]; };  // the table holds the (2 M)-th roots
    if (slot < kSlots) {
      for (int f = slot; f < count; f += kSlots) {
        const V* sf = sig + f * hop;
        fft::two_step_first<P, Q, -1, R>(
            [sf, window](int n) {
              const Cx w = window[n];
              return Cx{sf[2 * n] * w.re, sf[2 * n + 1] * w.im};
            },
            q, mid + f * S::kMidSeq, twiddle);
      }
    }
    ctx.sync();
    if (slot < kSlots) {
      for (int f = slot; f < count; f += kSlots)
        fft::two_step_second<P, Q, -1, R>(q, mid + f * S::kMidSeq, out + f * S::kM);
    }
    ctx.sync();
    return out;
  }

  // A thread's place in the warp-local transform in the round of frames f0 ..: its slot, its index q in the frame's Q
  // threads, its frame f (on: it has one).
  struct WarpSlot {
    Cx* zs;
    int q, f;
    bool on;
  };
  template <class S>
  SPECTRO_HD static WarpSlot warp_slot(int tid, int f0, int count, Cx* slots) {
    const int warp = tid / 32, lane = tid - warp * 32;
    const int s = lane / S::kQ;
    const int f = f0 + warp * kSlotsPerWarp + s;
    return {slots + (warp * kSlotsPerWarp + (s < kSlotsPerWarp ? s : 0)) * S::kMidSeq, lane - s * S::kQ, f,
            s < kSlotsPerWarp && f < count};
  }

  // The mel forward of a tile's `count` real frames of row b (n0 the first) with the two-step transform, warp by warp.
  // Each warp takes kSlotsPerWarp frames at a time, Q threads each (thread q), one slot of kMidSeq complex values
  // each:
  //   step 1 from the span and the window's copy into the slot's intermediate (rows k1 = 0 .. P - 1 of kMidRow);
  //   step 2 in two halves, j = 0 then 1: thread q loads row k1 = q + Q j and forms bins k = k1 + P k2 (k2 < Q); it
  //     keeps the lower ones (k2 < Q / 2: k < M / 2) in registers and stores the upper ones to the slot's first M / 2
  //     values (upper[j (M / 4) + (k2 - Q / 2) Q + q]: rows j = 0 are free once every thread has loaded its own,
  //     rows j = 1 lie past them);
  //   the real split and the powers by pairs: the thread holding Z[k], k < M / 2, reads Z[M - k] from the upper
  //     values and forms P[k] and P[M - k] (the holder of Z[0] also P[M], with Z[M / 2] also P[M / 2]), written past
  //     the upper values (P[k] at real M + k: over the intermediate's consumed rows);
  //   the band sums of bands q, q + Q, ... from those powers.
  // Every exchange stays in the warp's slots, behind warp barriers. The arithmetic is that of two_step_frames and the
  // block-wide power and band passes, value for value: the same bits. `slots`: kWarpSlots slots; `table` the split's
  // twiddle table (n_fft = 2 M entries); step1_twiddles: W_M^(q k1) = table[2 q k1] at [k1 Q + q]; bands: the band
  // table (its entries; its flag at [3 n_mels]: the weights packed after the entries, else the basis'). After the
  // last round's step 1, a block barrier (every warp has read the span), then span_read() (every thread: free span).
#pragma nv_exec_check_disable
  template <class S, class Ctx, class SpanRead>
  SPECTRO_HD static void two_step_mel_frames(Ctx& ctx, const Params& p, const V* sig, const Cx* window, int hop,
                                             int count, Cx* slots, const Cx* table, const Cx* step1_twiddles,
                                             const int* bands, int64_t b, int64_t n0,
                                             const SpanRead& span_read) {
    constexpr int P = S::kP, Q = S::kQ, M = S::kM, J = P / Q, kLow = Q / 2;
    static_assert(J == 2 && Q % 2 == 0, "two_step_mel_frames: P = 2 Q, Q even");
    static_assert(S::kMidSeq * 2 >= 2 * M + 1 && Q * S::kMidRow >= M / 2,
                  "two_step_mel_frames: the upper values over rows j = 0, the powers past them");
    // Step 1's W_M^(q k1) at [k1][q]: a warp's Q threads of a frame read consecutive values (as table[2 q k1], the
    // (2 M)-th roots at stride 2 q k1, they fell into a few banks).
    const auto twiddle = [step1_twiddles](int q, int k1) { return step1_twiddles[k1 * Q + q]; };
    // The same rounds in every warp (lanes without a frame still take the warp barriers). Each stage derives the
    // thread's slot afresh (warp_slot of an opaque thread index): kept across the round, or hoisted out of the loop,
    // those addresses spilled at the register cap.
    for (int f0 = 0; f0 < count; f0 += kWarpSlots) {
      {
        const WarpSlot w = warp_slot<S>(opaque(ctx.tid()), f0, count, slots);
        if (w.on) {
          const V* sf = sig + w.f * hop;
          fft::two_step_first<P, Q, -1, R>(
              [sf, window](int n) {
                const Cx wn = window[n];
                return Cx{sf[2 * n] * wn.re, sf[2 * n + 1] * wn.im};
              },
              w.q, w.zs, twiddle);
        }
      }
      if (f0 + kWarpSlots >= count) {
        ctx.sync();
        span_read();
      } else {
        ctx.sync_warp();
      }
      Cx low[J][kLow];
      Cx half = Cx{R(0), R(0)};  // Z[M / 2] (thread 0's j = 0, k2 = kLow)
      {
        const WarpSlot w = warp_slot<S>(opaque(ctx.tid()), f0, count, slots);
        Cx row[Q];
        if (w.on) {
SPECTRO_UNROLL
          for (int r = 0; r < Q; ++r) row[r] = w.zs[w.q * S::kMidRow + r];
        }
        ctx.sync_warp();  // rows j = 0 loaded: the upper values go over them
        if (w.on) {
SPECTRO_UNROLL
          for (int j = 0; j < J; ++j) {
            if (j > 0) {
SPECTRO_UNROLL
              for (int r = 0; r < Q; ++r) row[r] = w.zs[(w.q + Q * j) * S::kMidRow + r];
            }
            fft::RegisterDft<Q, -1, R>::run_io([&](int r) { return row[r]; },
                                               [&](int k2, Cx v) {
                                                 if (k2 < kLow) {
                                                   low[j][k2] = v;
                                                 } else {
                                                   w.zs[j * (M / 4) + (k2 - kLow) * Q + w.q] = v;
                                                   if (j == 0 && k2 == kLow) half = v;
                                                 }
                                               });
          }
        }
      }
      ctx.sync_warp();  // the upper values stored, every row read
      {
        const WarpSlot w = warp_slot<S>(opaque(ctx.tid()), f0, count, slots);
        const int q = w.q;
        R* const pw = reinterpret_cast<R*>(w.zs) + M;  // P[k] at pw[k]
        // Where thread q finds Z[M - k] for its bin k = q + Q j + P k2 (k2 < kLow, k > 0): upper[base_j - Q k2], the
        // holder of M - k being thread (Q - q) mod Q.
        const int base0 = q != 0 ? 2 * (M / 4) - q : M / 4;  // j = 0: the holder's j = 1 (q = 0: its j = 0)
        const int base1 = q != 0 ? M / 4 - q : M / 2 - Q;     // j = 1: the holder's j = 0 (q = 0: its j = 1)
        const auto powers = [&](const auto& power_of) {
SPECTRO_UNROLL
          for (int j = 0; j < J; ++j) {
SPECTRO_UNROLL
            for (int k2 = 0; k2 < kLow; ++k2) {
              const int k = q + Q * j + P * k2;  // < M / 2
              const Cx zk = low[j][k2];
              const Cx zmk = k == 0 ? zk : w.zs[(j == 0 ? base0 : base1) - Q * k2];
              pw[k] = power_of(real_split_bin(zk, zmk, table[k]));
              pw[M - k] = power_of(real_split_bin(zmk, zk, table[M - k]));  // k = 0: P[M]
            }
          }
          if (q == 0) pw[M / 2] = power_of(real_split_bin(half, half, table[M / 2]));
        };
        // (power 2 apart: the general power's pow inlined 21 times holds registers the loop's values then spill to)
        if (w.on) {
          if (p.stages.power == R(2)) {
            powers([&](Cx x) { return kernels::mel_power(x.re, x.im, R(2), p.stages.mag_eps); });
          } else {
            powers([&](Cx x) { return mel_power(p, x); });
          }
        }
      }
      ctx.sync_warp();
      {
        const WarpSlot w = warp_slot<S>(opaque(ctx.tid()), f0, count, slots);
        const R* const pw = reinterpret_cast<const R*>(w.zs) + M;
        // (band mb's entry and output stepped by Q bands; the common log stage, clamp, apart: no switch per band)
        // Bands by groups of kGroup (bands mb, mb + Q, ...): their sums first, then their logs and stores, so that the
        // groups' log chains interleave.
        const auto band_pass = [&](const auto& log_of, const R* weights) {
          constexpr int kGroup = 4;
          R* o = p.out + (b * p.n_mels + w.q) * p.a.g.n_frames + n0 + w.f;
          const int64_t o_step = int64_t{Q} * p.a.g.n_frames;
          const int* e = bands + 3 * w.q;
          for (int mb = w.q; mb < p.n_mels; mb += kGroup * Q, e += 3 * kGroup * Q, o += kGroup * o_step) {
            R sums[kGroup];
SPECTRO_UNROLL
            for (int u = 0; u < kGroup; ++u) {
              const int* eu = e + 3 * Q * u;
              sums[u] = mb + Q * u < p.n_mels ? band_sum(weights + eu[2], eu[0], eu[1], [pw](int k) { return pw[k]; })
                                              : R(0);
            }
SPECTRO_UNROLL
            for (int u = 0; u < kGroup; ++u) sums[u] = log_of(sums[u]);  // (past n_mels: the log of 0, not stored)
SPECTRO_UNROLL
            for (int u = 0; u < kGroup; ++u)
              if (mb + Q * u < p.n_mels) o[u * o_step] = sums[u];
          }
        };
        // The weights packed in the band table, or the basis: one band pass for each, so that the packed weights'
        // loads are shared-memory loads (through one pointer to either, every weight load was a generic load: its
        // 64-bit address arithmetic and latency, a third of this kernel's instructions and stalls were the band sums).
        const auto weighted_pass = [&](const auto& log_of) {
          if (bands[3 * p.n_mels] != 0) {
            band_pass(log_of, reinterpret_cast<const R*>(bands + band_entries(p.n_mels)));
          } else {
            band_pass(log_of, p.basis);
          }
        };
        if (w.on) {
          const MelStages<R>& st = p.stages;
          if (st.log == MelLog::Clamp) {
            weighted_pass([&](R m) { return kernels::mel_log(m, MelLog::Clamp, st.log_eps, st.log_scale); });
          } else {
            weighted_pass([&](R m) { return mel_log(p, m); });
          }
        }
      }
      ctx.sync_warp();  // the slot's powers read before the next round's step 1
    }
  }

  // The padded span of row b's frames n0 .. n0 + count - 1, read once: sig[i] = x[src(p)] * h(p) * scale. Every
  // thread of the block, no barrier inside.
#pragma nv_exec_check_disable
  template <class Ctx>
  SPECTRO_HD static void load_span(Ctx& ctx, const Params& p, V* sig, int64_t b, int64_t n0, int count) {
    const AnalysisParams<V>& a = p.a;
    const Geometry& g = a.g;
    const int tid = ctx.tid();
    const int span = (count - 1) * static_cast<int>(g.hop) + static_cast<int>(g.n_fft);
    const int64_t base = n0 * g.hop;
    const In* x = input_row<In>(p, b);
    if (span_inside(g, n0, count)) {  // (32-bit indices from the span's first sample; several loads in flight)
      const In* xs = x + (base - g.pad);
SPECTRO_UNROLL_4
      for (int i = tid; i < span; i += kThreads) sig[i] = loaded<V>(xs[i]) * a.scale;
    } else {
      for (int i = tid; i < span; i += kThreads) {
        const int64_t pos = base + i;
        const int64_t src = pad_source(pos, g);
        sig[i] = src < 0 ? zero_value<V>() : loaded<V>(x[src]) * (a.scale * envelope_scale(a.window, pos, g));
      }
    }
  }
  // Whether the span of frames n0 .. n0 + count - 1 lies inside the signal, its samples unscaled by the envelope.
  SPECTRO_HD static bool span_inside(const Geometry& g, int64_t n0, int count) {
    const int64_t start = n0 * g.hop - g.pad;
    return !g.env_normalize && start >= 0 && start + (count - 1) * g.hop + g.n_fft <= g.length;
  }
  // Whether load_span's values of that span are the signal's samples as they are (inside, stored as V, scale 1): what
  // an asynchronous copy gives.
  SPECTRO_HD static bool span_copies(const Params& p, int64_t n0, int count) {
    return std::is_same<In, V>::value && p.a.scale == R(1) && span_inside(p.a.g, n0, count);
  }

  // The warp-by-warp mel forward (two_step_mel_frames) of the call's tiles t = block, block + blocks, ... (tile t:
  // row t / tiles_per_row, its frames from (t mod tiles_per_row) frames_per_tile on), the twiddle tables set up once
  // per block. A tile's span is read ahead where span_copies holds for it: by asynchronous copies issued once every
  // warp has read the previous tile's span (after its last step 1), which complete under that tile's epilogue; other
  // spans are read when their tile begins (load_span); the block's first tile's span is copied ahead before the
  // set-up of the band table, under it. table and window: run's, set up (not yet behind a barrier);
  // the band table (band_entries, band_weights values) past the span of frames_per_tile frames. Tiles and frames in
  // 32 bits (warp_epilogue: batch * n_frames < 2^31; 64-bit tile indices were spilled across the epilogue).
#pragma nv_exec_check_disable
  template <class Ctx>
  SPECTRO_HD static void mel_warp_tiles(Ctx& ctx, const Params& p, int frames_per_tile, int64_t tiles_per_row,
                                        Cx* slots, const Cx* table, const Cx* window, V* sig, int band_weights) {
    using S = fft::TwoStep200;
    const Geometry& g = p.a.g;
    const int tid = ctx.tid();
    const int n_mels = p.n_mels;
    // Step 1's twiddles W_M^(q k1) = table[2 q k1] at [k1 Q + q], past the slots (after the barrier below).
    Cx* step1_twiddles = slots + int64_t{kWarpSlots} * S::kMidSeq;
    const int tiles = static_cast<int>(p.a.batch * tiles_per_row), per_row = static_cast<int>(tiles_per_row);
    const auto tile_count = [&](int64_t n0) { return static_cast<int>(min64(frames_per_tile, g.n_frames - n0)); };
    // A tile's span copied ahead into sig (where span_copies holds for it): true when it was.
    const auto copy_ahead = [&](int t) {
      if constexpr (std::is_same<In, V>::value) {
        const int b = t / per_row, n0 = (t - b * per_row) * frames_per_tile;
        if (t < tiles && span_copies(p, n0, tile_count(n0))) {
          const int span = (tile_count(n0) - 1) * static_cast<int>(g.hop) + static_cast<int>(g.n_fft);
          copy_async_block(ctx, sig, input_row<In>(p, b) + (n0 * g.hop - g.pad), span);
          return true;
        }
      }
      (void)t;
      return false;
    };
    bool ahead = copy_ahead(static_cast<int>(ctx.block()));  // this tile's span was copied ahead
    // The band table, a band per thread (n_mels <= kBandTableBands <= kThreads): its range; after a barrier, each
    // thread sums every band's width (the total: whether the weights fit, the same in every thread) and those of the
    // bands before its own (its weights' place in the packed run), sets its band's base and copies its weights there
    // asynchronously. The tile loop's first copy_wait and barrier complete the table.
    static_assert(kBandTableBands <= kThreads, "mel_warp_tiles: a band per thread");
    int* bands = reinterpret_cast<int*>(sig + ((frames_per_tile - 1) * g.hop + g.n_fft));
    R* packed = reinterpret_cast<R*>(bands + band_entries(n_mels));
    int lo = 0, hi = 0;
    if (tid < n_mels) {
      lo = p.band[2 * tid];
      hi = p.band[2 * tid + 1];
      bands[3 * tid] = lo;
      bands[3 * tid + 1] = hi;
    }
    ctx.sync();  // the twiddle table, the ranges
    for (int e = tid; e < S::kM; e += kThreads) {
      const int k1 = e / S::kQ, q = e - k1 * S::kQ;
      step1_twiddles[e] = table[2 * q * k1];
    }
    int64_t total = 0;
    int before = 0;
    for (int m = 0; m < n_mels; ++m) {
      const int width = bands[3 * m + 1] - bands[3 * m];
      total += width;
      before += m < tid ? width : 0;
    }
    const bool fit = total <= band_weights;
    if (tid < n_mels) {
      bands[3 * tid + 2] = fit ? before - lo : tid * p.basis_bins;
      if (fit) {
        const R* wm = p.basis + static_cast<int64_t>(tid) * p.basis_bins;
        for (int k = lo; k < hi; ++k) ctx.copy_async(packed + before + (k - lo), wm + k);
      }
    }
    if (tid == 0) bands[3 * n_mels] = fit;
    ctx.copy_commit();
    const int nblocks = static_cast<int>(ctx.nblocks());
    for (int t = static_cast<int>(ctx.block()); t < tiles; t += nblocks) {
      const int b = t / per_row, n0 = (t - b * per_row) * frames_per_tile;
      const int count = tile_count(n0);
      if (!ahead) load_span(ctx, p, sig, b, n0, count);
      ctx.copy_wait();
      ctx.sync();
      two_step_mel_frames<S>(ctx, p, sig, window, static_cast<int>(g.hop), count, slots, table, step1_twiddles, bands,
                             b, n0, [&]() { ahead = copy_ahead(t + nblocks); });
    }
    ctx.copy_wait();  // (a block without a tile: its band table's copies)
  }

#pragma nv_exec_check_disable
  template <class Ctx>
  SPECTRO_HD static void run(Ctx& ctx, Params p, int frames_per_tile, int64_t tiles_per_row,
                             fft::Plan plan, int table_n, GenericTransform transform, int band_weights) {
    const AnalysisParams<V>& a = p.a;
    const Geometry& g = a.g;
    const int n_fft = static_cast<int>(g.n_fft);
    const int hop = static_cast<int>(g.hop);
    const int m = static_cast<int>(fft_length(kComplex, g.n_fft));
    const int tid = ctx.tid();

    const bool two_step = transform != GenericTransform::PassLoop;
    // The FFT buffers (buf, scratch; with the two-step transform its intermediate and its result; warp-local, the
    // slots), the twiddle table, the span.
    Cx* buf = reinterpret_cast<Cx*>(ctx.smem());
    Cx* table = buf + buffer_values(frames_per_tile, m, transform);
    Cx* scratch =
        transform == GenericTransform::TwoStepWarp ? nullptr : table - static_cast<int64_t>(frames_per_tile) * m;
    // With the two-step transform, a copy of the window (its frames read it from shared memory: read from global
    // memory, the compiler keeps the thread's 2 P window values in registers across frames).
    Cx* window_pairs = two_step ? table + table_n : nullptr;
    V* sig = reinterpret_cast<V*>(two_step ? window_pairs + window_values(m, transform) : table + table_n);

    // 0. Twiddle table exp(-2 pi i q / table_n), table_n = n_fft (real) or m (complex), when it fits; the window's
    // copy.
    for (int q = tid; q < table_n; q += kThreads) table[q] = fft::expi_pi<R>(-2 * q, table_n);
    if (two_step) {
      for (int q = tid; q < m; q += kThreads) window_pairs[q] = Cx{a.window[2 * q], a.window[2 * q + 1]};
    }
    const fft::TwiddleTable<R> tt{table_n > 0 ? table : nullptr, kComplex ? 1 : 2};

    // The warp-by-warp mel forward: tiles in a loop, the tables set up once.
    if constexpr (kMel) {
      if (transform == GenericTransform::TwoStepWarp && fft::two_step_covers(m)) {
        mel_warp_tiles(ctx, p, frames_per_tile, tiles_per_row, buf, table, window_pairs, sig, band_weights);
        return;
      }
    }

    const int64_t b = ctx.block() / tiles_per_row;
    const int64_t n0 = (ctx.block() - b * tiles_per_row) * frames_per_tile;
    const int count = static_cast<int>(min64(frames_per_tile, g.n_frames - n0));

    // 1. The tile's padded span, read once.
    load_span(ctx, p, sig, b, n0, count);
    ctx.sync();

    // 2, 3. Windowed frames, packed for the FFT, and the FFT (forward); or the two-step transform straight from the
    // span.
    const Cx* z = nullptr;
    if constexpr (!kComplex) {
      if (two_step && fft::two_step_covers(m))
        z = two_step_frames<fft::TwoStep200>(ctx, sig, window_pairs, hop, count, buf, scratch, tt.table);
    }
    if (z == nullptr) {
      const fft::SmallDiv div_m(m);
      for (int e = tid; e < count * m; e += kThreads) {
        const int f = div_m.div(e), j = e - f * m;
        const V* sf = sig + f * hop;
        if constexpr (kComplex) {
          buf[e] = as_complex(sf[j] * a.window[j]);
        } else {
          buf[e] = Cx{sf[2 * j] * a.window[2 * j], sf[2 * j + 1] * a.window[2 * j + 1]};
        }
      }
      ctx.sync();
      z = fft::block_fft<-1, R>(ctx, buf, scratch, m, count, plan, tt);
    }

    // 4. The spectrum, written frame-major (coalesced along bins); or, with the mel epilogue, its powers in the FFT
    // buffer the result is not in (count * (m + 1) <= 2 * frames_per_tile * m reals), then the bands.
    if constexpr (kMel) {
      const fft::SmallDiv div_m1(m + 1);
      R* other = reinterpret_cast<R*>(z == buf ? scratch : buf);
      const auto bin = [&](int f, int k) {
        return split_bin(z + f * m, m, k, table_n > 0 ? table[k] : fft::expi_pi<R>(-2 * k, n_fft));
      };
      if (p.grad_spec == nullptr) {  // forward: the powers, then the bands
        for (int e = tid; e < count * (m + 1); e += kThreads) {
          const int f = div_m1.div(e), k = e - f * (m + 1);
          other[e] = mel_power(p, bin(f, k));
        }
        ctx.sync();
        mel_bands(ctx, p, static_cast<const R*>(other), m + 1, count, b, n0);
      } else {  // backward: the coefficients, then dL/dX per bin; the powers stored first where the buffer holds
                // both (count (m + 1 + n_mels) <= 2 frames_per_tile m reals), else recomputed per band
        const bool stored = !p.recompute_powers && p.n_mels + 1 <= m;
        R* coef = stored ? other + count * (m + 1) : other;
        if (stored) {
          for (int e = tid; e < count * (m + 1); e += kThreads) {
            const int f = div_m1.div(e), k = e - f * (m + 1);
            other[e] = mel_power(p, bin(f, k));
          }
          ctx.sync();
          mel_grad_coefs(ctx, p, [other, m](int f, int k) { return other[f * (m + 1) + k]; }, coef, count, b, n0);
        } else {
          mel_grad_coefs(ctx, p, [&](int f, int k) { return mel_power(p, bin(f, k)); }, coef, count, b, n0);
        }
        ctx.sync();
        Cx* out = p.grad_spec + (b * g.n_frames + n0) * (m + 1);
        for (int e = tid; e < count * (m + 1); e += kThreads) {
          const int f = div_m1.div(e), k = e - f * (m + 1);
          out[e] = mel_grad_bin(p, static_cast<const R*>(coef) + f * p.n_mels, k, bin(f, k));
        }
      }
    } else if constexpr (kLoss) {
      // Each onesided bin of each frame from Z[k] and Z[m - k] (natural order, frame f at z + f m).
      if (p.grad_sums == nullptr) {
        double acc[kLossSums] = {0, 0, 0, 0};
        const int half = m / 2 + 1;
        const fft::SmallDiv div_h(half);
        for (int e = tid; e < count * half; e += kThreads) {
          const int f = div_h.div(e), k = e - f * half;
          const Cx* zf = z + f * m;
          loss_accumulate(p, zf[k], zf[k == 0 ? 0 : m - k], acc);
        }
        ctx.sync();  // every thread's reads of the FFT buffers are done
        loss_block_sums(ctx, acc, reinterpret_cast<double*>(ctx.smem()), p.partials + ctx.block() * kLossSums);
      } else {
        R gsum[kLossSums];
        loss_grad_sums(p, gsum);
        const int bins = p.grad_target ? m : m / 2 + 1;
        const fft::SmallDiv div_b(bins);
        Cx* out = p.grad_spec + (b * g.n_frames + n0) * bins;
        for (int e = tid; e < count * bins; e += kThreads) {
          const int f = div_b.div(e), k = e - f * bins;
          const Cx* zf = z + f * m;
          out[e] = loss_grad_out(p, gsum, m, k, [zf](int q) { return zf[q]; });
        }
      }
    } else {
      const int bins = (p.mode == FftMode::Rfft || p.mode == FftMode::RfftDouble) ? n_fft / 2 + 1 : n_fft;
      Out* out = output_of<Out>(p) + (b * g.n_frames + n0) * bins;
      if constexpr (kComplex) {
        for (int e = tid; e < count * m; e += kThreads) out[e] = stored<Out>(z[e]);
      } else {
        const fft::SmallDiv div_m1(m + 1);
        for (int e = tid; e < count * (m + 1); e += kThreads) {
          const int f = div_m1.div(e), k = e - f * (m + 1);
          Cx xk = split_bin(z + f * m, m, k, table_n > 0 ? table[k] : fft::expi_pi<R>(-2 * k, n_fft));
          Out* row = out + static_cast<int64_t>(f) * bins;
          if (p.mode == FftMode::RfftDouble && k > 0 && 2 * k < n_fft) xk = fft::cscale(xk, R(2));
          row[k] = stored<Out>(xk);
          if (p.mode == FftMode::RfftFull && k > 0 && k < m) row[n_fft - k] = stored<Out>(fft::cconj(xk));
        }
      }
    }
  }
};

}  // namespace detail
}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
