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

  // Complex values of the FFT buffers per frame of a tile: two buffers of M, or with the two-step transform
  // (two_step_fft.cuh; real frames, M = 200) its padded intermediate and the result.
  SPECTRO_HD static int64_t buffer_values(int64_t m, bool two_step) {
    return two_step ? fft::TwoStep200::kMidSeq + m : 2 * m;
  }
  // Complex values of shared memory besides the tile's buffers, the twiddle table and the span: the window's copy.
  SPECTRO_HD static int64_t window_values(int64_t m, bool two_step) { return two_step ? m : 0; }

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
    const auto twiddle = [table](int e) { return table[2 * e]; };  // W_M^e: the table holds the (2 M)-th roots
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

#pragma nv_exec_check_disable
  template <class Ctx>
  SPECTRO_HD static void run(Ctx& ctx, Params p, int frames_per_tile, int64_t tiles_per_row,
                             fft::Plan plan, int table_n, bool two_step) {
    const AnalysisParams<V>& a = p.a;
    const Geometry& g = a.g;
    const int n_fft = static_cast<int>(g.n_fft);
    const int hop = static_cast<int>(g.hop);
    const int m = static_cast<int>(fft_length(kComplex, g.n_fft));
    const int tid = ctx.tid();

    const int64_t b = ctx.block() / tiles_per_row;
    const int64_t n0 = (ctx.block() - b * tiles_per_row) * frames_per_tile;
    const int count = static_cast<int>(min64(frames_per_tile, g.n_frames - n0));
    const int span = (count - 1) * hop + n_fft;

    // The FFT buffers (buf, scratch; with the two-step transform its intermediate and its result), the twiddle table,
    // the span.
    Cx* buf = reinterpret_cast<Cx*>(ctx.smem());
    Cx* scratch = buf + static_cast<int64_t>(frames_per_tile) * (buffer_values(m, two_step) - m);
    Cx* table = scratch + static_cast<int64_t>(frames_per_tile) * m;
    // With the two-step transform, a copy of the window (its frames read it from shared memory: read from global
    // memory, the compiler keeps the thread's 2 P window values in registers across frames).
    Cx* window_pairs = two_step ? table + table_n : nullptr;
    V* sig = reinterpret_cast<V*>(two_step ? window_pairs + m : table + table_n);

    // 0. Twiddle table exp(-2 pi i q / table_n), table_n = n_fft (real) or m (complex), when it fits; the window's
    // copy.
    for (int q = tid; q < table_n; q += kThreads) table[q] = fft::expi_pi<R>(-2 * q, table_n);
    if (two_step) {
      for (int q = tid; q < m; q += kThreads) window_pairs[q] = Cx{a.window[2 * q], a.window[2 * q + 1]};
    }
    const fft::TwiddleTable<R> tt{table_n > 0 ? table : nullptr, kComplex ? 1 : 2};

    // 1. The tile's padded span, read once: sig[i] = x[src(p)] * h(p) * scale.
    const int64_t base = n0 * g.hop;
    const In* x = input_row<In>(p, b);
    const bool interior = !g.env_normalize && base - g.pad >= 0 && base - g.pad + span <= g.length;
    if (interior) {  // (32-bit indices from the span's first sample; several loads in flight per thread)
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
