// spectro — fused kernels: the power-of-two analysis engine (register-blocked radix-8 FFT, frames straight from global
// memory).
#pragma once

#include "helpers.cuh"
#include "mel.cuh"
#include "spectral_loss.cuh"
#include "tuning.cuh"

namespace spectro {
namespace kernels {
namespace cuda {
namespace detail {

// ----------------------------------------------------------------------------------------------------------------
// Power-of-two engine.

// Out: how the spectrum is stored (Complex<R>, or __half2 for complex32), or MelOut<R>: the mel epilogue (mel.cuh;
// real signals, onesided spectrum), or LossOut<R>: the spectral-loss epilogue (spectral_loss.cuh; the complex signal
// x + i y). In: how the signal is stored (V, or for single precision __half /
// __nv_bfloat16 (real) and __half2 (complex32)).
template <typename V, int kLogM, typename Out = Complex<typename RealOf<V>::type>, typename In = V>
struct Pow2Analysis {
  using R = typename RealOf<V>::type;
  using Cx = Complex<R>;
  using S = fft::Pow2Shape<kLogM>;
  static constexpr bool kComplex = IsComplex<V>::value;
  static constexpr bool kMel = IsMelOut<Out>::value;
  static constexpr bool kLoss = IsLossOut<Out>::value;
  using Params = typename std::conditional<
      kMel, FusedMelParams<V>, typename std::conditional<kLoss, FusedLossParams<V>, FusedAnalysisParams<V>>::type>::type;
  static constexpr int kM = S::kM, kTpf = S::kTpf;
  static constexpr int kThreads = kTpf > SPECTRO_FUSED_THREADS ? kTpf : SPECTRO_FUSED_THREADS;
  static constexpr int kMinBlocks =
      SPECTRO_FUSED_MIN_BLOCKS * SPECTRO_FUSED_THREADS / kThreads > 0 ? SPECTRO_FUSED_MIN_BLOCKS * SPECTRO_FUSED_THREADS / kThreads : 1;
  static constexpr int kRound = kThreads / kTpf;  // frames transformed together
  // Two sequence buffers per frame of a round, then the 2M-th roots on the half circle (the real split step's
  // twiddles, and the FFT passes' twiddles in every mode).
  static constexpr int64_t smem_bytes() { return (2 * int64_t{kRound} * S::kFrameStride + kM) * int64_t{sizeof(Cx)}; }
  // The mel epilogue's powers, kM + 1 per frame of a round, take the FFT buffer the last pass did not write.
  static constexpr int kPowerStride = kM + 1;
  static_assert(!kMel || (!kComplex && kRound * kPowerStride * sizeof(R) <= kRound * S::kFrameStride * sizeof(Cx) &&
                          (kThreads & (kThreads - 1)) == 0 &&
                          kThreads * sizeof(double) <= 2 * kRound * S::kFrameStride * sizeof(Cx)),
                "mel epilogue: real signals, powers within one FFT buffer, the loss terms' block sum in shared memory");
  static_assert(!kLoss || (kComplex && (kThreads & (kThreads - 1)) == 0 &&
                           kLossSums * kThreads * sizeof(double) <= 2 * kRound * S::kFrameStride * sizeof(Cx)),
                "loss epilogue: the complex signal x + i y, the block's sums within the FFT buffers");

  // The interior frames n, lo <= n <= hi: they lie inside the signal (start = n hop - pad >= 0, start + n_fft <=
  // T), and with envelope scaling also inside the positions n_fft - hop <= p < n_frames hop where h(p) depends on p
  // mod hop only, so h(n hop + e) = h(e mod hop) folds into the thread's window factors. Read with plain vector
  // loads; the others element by element.
  SPECTRO_HD static void interior_frames(const Geometry& g, int64_t* lo, int64_t* hi) {
    *lo = 1;
    *hi = 0;
    if (g.pad < 0 || g.length + g.pad < g.n_fft) return;
    *lo = (g.pad + g.hop - 1) / g.hop;
    *hi = (g.length + g.pad - g.n_fft) / g.hop;
    if (g.env_normalize) {
      *lo = max64(*lo, max64(0, (g.n_fft - g.hop + g.hop - 1) / g.hop));
      const int64_t top = g.n_frames * g.hop - g.n_fft;  // n hop <= top
      *hi = top < 0 ? -1 : min64(*hi, top / g.hop);
    }
  }
  // The thread's 8 raw samples (pairs for real signals) of interior frame n: element j + r M/8 of the FFT input.
  // Real pairs are single loads of twice the sample's width where the frame start is aligned for that.
  SPECTRO_HD static void load_interior(const In* xrow, int64_t n, const Geometry& g, int j, Cx (&x)[8]) {
    const In* xs = xrow + (n * g.hop - g.pad);
    if constexpr (kComplex) {
SPECTRO_UNROLL
      for (int r = 0; r < 8; ++r) x[r] = loaded<Cx>(xs[j + r * kTpf]);
    } else {
      using Pair = typename PairOf<In>::type;
      if ((reinterpret_cast<uintptr_t>(xs) & (sizeof(Pair) - 1)) == 0) {
        const Pair* xp = reinterpret_cast<const Pair*>(xs);
SPECTRO_UNROLL
        for (int r = 0; r < 8; ++r) x[r] = loaded_pair<Cx>(xp[j + r * kTpf]);
      } else {
        const EightPairs<R> u = unaligned_pairs<R, kTpf>(xs, j);
SPECTRO_UNROLL
        for (int r = 0; r < 8; ++r) x[r] = u.v[r];
      }
    }
  }

#pragma nv_exec_check_disable
  template <class Ctx>
  SPECTRO_HD static void run(Ctx& ctx, Params p, int frames_per_block, int64_t blocks_per_row) {
    const AnalysisParams<V>& a = p.a;
    const Geometry& g = a.g;
    const int tid = ctx.tid();
    const int fl = tid >> S::kLogTpf, j = tid & (kTpf - 1);
    const int64_t b = ctx.block() / blocks_per_row;
    const int64_t n_begin = (ctx.block() - b * blocks_per_row) * frames_per_block;
    const int64_t n_end = min64(n_begin + frames_per_block, g.n_frames);
    Cx* buf0 = reinterpret_cast<Cx*>(ctx.smem());
    Cx* buf1 = buf0 + kRound * S::kFrameStride;
    Cx* st = buf1 + kRound * S::kFrameStride;  // st[k] = exp(-2 pi i k / n_fft), k < M (real signals)
    const int off = fl * S::kFrameStride;

    // scale * window (* h(e mod hop) with envelope scaling) at the thread's elements e: (e, e + 1) = (2i, 2i + 1)
    // for real signals, e = i for complex ones; what an interior frame's elements are multiplied by.
    const int n_fft = static_cast<int>(g.n_fft), hop = static_cast<int>(min64(g.hop, 0x40000000));
    const auto factor = [&](int e) {
      const R ws = a.scale * a.window[e];
      return g.env_normalize ? ws * periodic_envelope_scale(a.window, n_fft, hop, e % hop) : ws;
    };
    Cx ws[8];
SPECTRO_UNROLL
    for (int r = 0; r < 8; ++r) {
      const int i = j + r * kTpf;
      if constexpr (kComplex) {
        ws[r] = Cx{factor(i), R(0)};
      } else {
        ws[r] = Cx{factor(2 * i), factor(2 * i + 1)};
      }
    }
    // The half-circle roots in shared memory: the split step reads them there, and each thread copies its pass
    // twiddles into registers from them.
    for (int k = tid; k < kM; k += kThreads) st[k] = fft::expi_pi<R>(-2 * k, 2 * kM);
    ctx.sync();
    fft::Pow2Twiddles<kLogM, -1, R> tw;
    tw.init(j, st);
    // The block's frames n_begin + m, 0 <= m < count (ints: count <= frames_per_block); interior ones for
    // lo_rel <= m <= lo_rel + width_rel, all below count (none: lo_rel out of reach).
    const int count = static_cast<int>(n_end - n_begin);
    int lo_rel = 0x3fffffff, width_rel = 0;
    {
      int64_t lo, hi;
      interior_frames(g, &lo, &hi);
      lo = max64(lo, n_begin);
      hi = min64(hi, n_end - 1);
      if (lo <= hi) {
        lo_rel = static_cast<int>(lo - n_begin);
        width_rel = static_cast<int>(hi - lo);
      }
    }
    const auto interior_rel = [lo_rel, width_rel](int m) {
      return static_cast<unsigned>(m - lo_rel) <= static_cast<unsigned>(width_rel);
    };
    const bool full = p.mode == FftMode::RfftFull, dbl = p.mode == FftMode::RfftDouble;
    const int64_t bins = kComplex ? kM : (full ? 2 * kM : kM + 1);
    // The loss epilogue's running sums (the thread's bins of the block's frames).
    double acc[kLossSums] = {0, 0, 0, 0};
    R gsum[kLossSums] = {R(0), R(0), R(0), R(0)};
    if constexpr (kLoss) {
      if (p.grad_sums != nullptr) loss_grad_sums(p, gsum);
    }
    (void)acc;
    (void)gsum;

    // The mel loss' terms (FusedMelParams::y): the block's frames twice, of a.x and then of the target y; the
    // thread's sum of |difference| over the second pass.
    bool pair = false;
    if constexpr (kMel) pair = mel_loss_pair(p);
    double terms = 0;
    (void)terms;

    int par = 0;
    for (int pass = 0; pass < (pair ? 2 : 1); ++pass) {
      const In* xrow = input_row<In>(p, b, pass == 1);
      // Software pipeline (SPECTRO_FUSED_PREFETCH): the next round's interior frame is loaded (into xn) before this
      // round's FFT passes, so the global loads overlap the shared-memory passes and barriers.
      Cx xn[8];
      bool next_interior = false;
#if SPECTRO_FUSED_PREFETCH
      next_interior = interior_rel(fl);
      if (next_interior) load_interior(xrow, n_begin + fl, g, j, xn);
#endif

      for (int mr = 0; mr < count; mr += kRound) {
        const int m = mr + fl;
        const int64_t n = n_begin + m;
        const bool valid = m < count;
#if !SPECTRO_FUSED_PREFETCH
        next_interior = interior_rel(m);
        if (next_interior) load_interior(xrow, n, g, j, xn);
#endif
        Cx v[8];
        if (valid && next_interior) {
SPECTRO_UNROLL
          for (int r = 0; r < 8; ++r) {
            if constexpr (kComplex) {
              v[r] = Cx{xn[r].re * ws[r].re, xn[r].im * ws[r].re};
            } else {
              v[r] = Cx{xn[r].re * ws[r].re, xn[r].im * ws[r].im};
            }
          }
        } else if (valid) {  // the frame reaches into the padding or the envelope's ends: element by element
          const int64_t pos0 = n * g.hop;
SPECTRO_UNROLL
          for (int r = 0; r < 8; ++r) {
            const int i = j + r * kTpf;
            if constexpr (kComplex) {
              v[r] = padded_sample<V>(xrow, a.window, pos0 + i, a.scale * a.window[i], g);
            } else {
              v[r] = Cx{padded_sample<V>(xrow, a.window, pos0 + 2 * i, a.scale * a.window[2 * i], g),
                        padded_sample<V>(xrow, a.window, pos0 + 2 * i + 1, a.scale * a.window[2 * i + 1], g)};
            }
          }
        } else {
SPECTRO_UNROLL
          for (int r = 0; r < 8; ++r) v[r] = Cx{R(0), R(0)};
        }
#if SPECTRO_FUSED_PREFETCH
        next_interior = interior_rel(m + kRound);
        if (next_interior) load_interior(xrow, n + kRound, g, j, xn);
#endif
        fft::pow2_pass<kLogM, -1, 0, true>(v, tw, j, (par ? buf1 : buf0) + off);
        ctx.sync();
        fft::pow2_passes_from<kLogM, -1, 1, !kComplex || kLoss>(ctx, v, tw, j, buf0, buf1, par, off);
        // v[r] = Z[j + r M/8]; the last pass's output (natural order) is in buffer (par + kPasses - 1) & 1.
        if constexpr (kMel) {
          // Z of the round's frames in buffer zb (frame f at f * kFrameStride); the other buffer is free since the last
          // pass's closing barrier.
          const Cx* zb = ((par + S::kPasses - 1) & 1) ? buf1 : buf0;
          const Cx* z = zb + off;
          R* other = reinterpret_cast<R*>(((par + S::kPasses - 1) & 1) ? buf0 : buf1);
          const int in_round = mini(kRound, count - mr);
          // P[k] of the thread's bins of its frame into the free buffer, row fl.
          const auto store_powers = [&]() {
            if (!valid) return;
            R* prow = other + fl * kPowerStride;
SPECTRO_UNROLL
            for (int r = 0; r < 8; ++r) {
              const int k = j + r * kTpf;
              prow[k] = mel_power(p, real_split_bin(v[r], z[(kM - k) & (kM - 1)], st[k]));
            }
            if (j == 0) prow[kM] = mel_power(p, Cx{v[0].re - v[0].im, R(0)});
          };
          if (p.grad_spec == nullptr) {
            // Forward: the powers, then the bands.
            store_powers();
            ctx.sync();
            if (pass == 0) {
              mel_bands(ctx, p, static_cast<const R*>(other), kPowerStride, in_round, b, n_begin + mr);
            } else {
              mel_loss_terms(ctx, p, static_cast<const R*>(other), kPowerStride, in_round, b, n_begin + mr, terms);
            }
          } else {
            // Backward: the coefficients into the free buffer, then dL/dX per bin. Where the buffer holds both, the
            // powers go there first (as in the forward) and the coefficients after them; else each band recomputes
            // its bins' powers from Z.
            const bool stored = !p.recompute_powers && kPowerStride + p.n_mels <= 2 * S::kFrameStride;
            R* coef = stored ? other + kRound * kPowerStride : other;
            if (stored) {
              store_powers();
              ctx.sync();
              mel_grad_coefs(ctx, p, [other](int f, int k) { return other[f * kPowerStride + k]; }, coef, in_round, b,
                             n_begin + mr);
            } else {
              const auto power_of = [&](int f, int k) {
                const Cx* zf = zb + f * S::kFrameStride;
                return mel_power(p, k == kM ? Cx{zf[0].re - zf[0].im, R(0)}
                                            : real_split_bin(zf[k], zf[(kM - k) & (kM - 1)], st[k]));
              };
              mel_grad_coefs(ctx, p, power_of, coef, in_round, b, n_begin + mr);
            }
            ctx.sync();
            if (valid) {
              const R* cf = coef + fl * p.n_mels;
              Cx* row = p.grad_spec + (b * g.n_frames + n) * (kM + 1);
SPECTRO_UNROLL
              for (int r = 0; r < 8; ++r) {
                const int k = j + r * kTpf;
                row[k] = mel_grad_bin(p, cf, k, real_split_bin(v[r], z[(kM - k) & (kM - 1)], st[k]));
              }
              if (j == 0) row[kM] = mel_grad_bin(p, cf, kM, Cx{v[0].re - v[0].im, R(0)});
            }
          }
          ctx.sync();  // the next round's first pass writes the free buffer
        } else if constexpr (kLoss) {
          // Z of the frame in shared memory (the last pass wrote it; the next round's first pass writes the other
          // buffer, and its barrier orders this round's reads before the pass after it overwrites this one).
          const Cx* z = (((par + S::kPasses - 1) & 1) ? buf1 : buf0) + off;
          if (valid && p.grad_sums == nullptr) {
SPECTRO_UNROLL
            for (int r = 0; r < 8; ++r) {
              const int k = j + r * kTpf;
              if (2 * k <= kM) loss_accumulate(p, v[r], z[(kM - k) & (kM - 1)], acc);
            }
          } else if (valid) {
            const int bins = p.grad_target ? kM : kM / 2 + 1;
            Cx* row = p.grad_spec + (b * g.n_frames + n) * bins;
            const auto at = [&](int q) { return z[q]; };
SPECTRO_UNROLL
            for (int r = 0; r < 8; ++r) {
              const int k = j + r * kTpf;
              if (k < bins) row[k] = loss_grad_out(p, gsum, kM, k, at);
            }
          }
        } else if (valid) {
          Out* row = output_of<Out>(p) + (b * g.n_frames + n) * bins;
          if constexpr (kComplex) {
SPECTRO_UNROLL
            for (int r = 0; r < 8; ++r) row[j + r * kTpf] = stored<Out>(v[r]);
          } else {
            const Cx* z = (((par + S::kPasses - 1) & 1) ? buf1 : buf0) + off;
SPECTRO_UNROLL
            for (int r = 0; r < 8; ++r) {
              const int k = j + r * kTpf;
              Cx xk = real_split_bin(v[r], z[(kM - k) & (kM - 1)], st[k]);
              if (dbl && k > 0) xk = fft::cscale(xk, R(2));
              row[k] = stored<Out>(xk);
              if (full && k > 0) row[2 * kM - k] = stored<Out>(fft::cconj(xk));
            }
            if (j == 0) row[kM] = stored<Out>(Cx{v[0].re - v[0].im, R(0)});
          }
        }
        par ^= (S::kPasses & 1);
      }
    }
    if constexpr (kMel) {
      if (pair) {  // (the last round's closing barrier ordered every read of the FFT buffers before this)
        double* s = reinterpret_cast<double*>(ctx.smem());
        block_tree_sum<kThreads>(ctx, terms, s);
        if (tid == 0) p.partials[ctx.block()] = s[0];
      }
    }
    if constexpr (kLoss) {
      if (p.grad_sums == nullptr) {
        ctx.sync();  // every thread's last reads of the FFT buffers are done
        loss_block_sums(ctx, acc, reinterpret_cast<double*>(ctx.smem()), p.partials + ctx.block() * kLossSums);
      }
    }
  }
};

}  // namespace detail
}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
