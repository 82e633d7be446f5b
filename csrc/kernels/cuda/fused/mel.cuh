// spectro — fused kernels: the mel epilogue of the analysis engines (power spectrum -> mel bands -> log, written as
// [batch, n_mels, frames]; the complex spectrum stays in shared memory), and the band-range pass it reads.
//
// Per frame, after the in-kernel FFT: P[k] = (|X[k]|^2 + mag_eps)^(power / 2) for the onesided bins k (in shared
// memory, in the buffer the FFT no longer uses), then mel[m] = sum_k basis[m, k] P[k] over band m's nonzero bins
// [lo_m, hi_m) (a triangular filterbank touches a short contiguous run per band; any basis is correct, a dense one
// is summed densely), then the log stage (kernels/mel_log.h).
#pragma once

#include <cmath>
#include <type_traits>

#include "../../mel_log.h"
#include "block_sum.cuh"
#include "params.cuh"
#include "storage.cuh"
#include "tuning.cuh"

namespace spectro {
namespace kernels {
namespace cuda {

// Who fills a mel call's band ranges (FusedMelParams::band): Compute (the launcher, first: the ranges, and the cover
// for a backward), Ready (they already hold the ranges and the cover, e.g. kept per basis by the caller: the launcher
// only runs the mel kernel), Only (the launcher computes the ranges and the cover, and launches nothing else).
enum class MelBands { Compute, Ready, Only };

template <typename V>
struct FusedMelParams : FusedAnalysisParams<V> {
  using R = typename RealOf<V>::type;
  const R* basis = nullptr;  // [n_mels, basis_bins] contiguous
  int* band = nullptr;         // [2 n_mels + 2 basis_bins] scratch: band m's nonzero bins [band[2m], band[2m + 1])
                               // (MelBandRanges), then (backward) the bands covering bin k lie in [cover[2k],
                               // cover[2k + 1]) with cover = band + 2 n_mels (MelBinCover)
  MelBands bands = MelBands::Compute;  // who fills `band` (below)
  R* out = nullptr;            // [batch, n_mels, a.g.n_frames] contiguous
  // Forward only, signal in V (no x_half): the mel loss' L1 terms against a target signal in the same launch (DAC's /
  // BigVGAN's log-mel L1). Each block takes its frames of row b of a.x (the prediction) and writes their `out` values
  // as usual, then the same frames of row b of y (the target, laid out as a.x): the thread that wrote out[o] forms the
  // target's value there, writes sign[o] = sign(out[o] - it) (int8 -1 / 0 / 1, NaN: 0, as torch's sign) and adds
  // |out[o] - it| in double; a pairwise tree over the block's threads writes the block's sum to partials[block]. The
  // target's log-mels never reach memory. The launcher reports the number of blocks (at most a.batch * a.g.n_frames).
  // The power-of-two engine only (fused_mel_loss_pair_supported).
  const R* y = nullptr;
  int8_t* sign = nullptr;    // [batch, n_mels, a.g.n_frames] contiguous
  double* partials = nullptr;
  int n_mels = 0;
  int basis_bins = 0;          // <= n_fft / 2 + 1: bins past it are not used
  MelStages<R> stages;         // power, mag_eps and the log stage (mel_log.h)
  // Backward (set both): with grad_out = dL/d out [batch, n_mels, a.g.n_frames] contiguous, the kernel writes
  // grad_spec = dL/dX [batch, a.g.n_frames, n_fft / 2 + 1] (frame-major; torch's convention for a complex gradient,
  // dL/dRe + i dL/dIm) instead of `out`. Needs n_mels <= n_fft / 2 (the per-frame coefficients share an FFT buffer).
  const R* grad_out = nullptr;
  Complex<R>* grad_spec = nullptr;
  // Backward of an L1 loss against target mels instead of grad_out (a mel loss, e.g. DAC's): dL/d out[b, m, n] =
  // *target_grad * target_weight * sign(out[b, m, n] - target[b, m, n]), the output recomputed in the kernel (sign
  // of NaN: 0, as torch's). target [batch, n_mels, a.g.n_frames] contiguous; target_grad: dL/dloss, one value
  // read on the device.
  const R* target = nullptr;
  const R* target_grad = nullptr;
  R target_weight = R(0);
  // Or the signs sign(out - target) themselves ([batch, n_mels, a.g.n_frames] contiguous, -1 / 0 / 1; what a forward
  // that has both mels keeps instead of the target: a quarter of its bytes), with target_grad and target_weight as
  // above; the same gradient bit for bit where they are the signs of the kernel's own output.
  const int8_t* target_sign = nullptr;
  // Backward: the engines store each frame's powers once in the free FFT buffer, then form the coefficients from
  // them, where it holds both (n_mels <= M - 1); true recomputes the powers per band instead, as they must above
  // that (for tests and benchmarks: both give the same bits).
  bool recompute_powers = false;
};

// Row b of a mel call's signal: of a.x, or (second: the mel loss' target pass) of y (FusedMelParams).
template <typename In, typename V>
SPECTRO_HD const In* input_row(const FusedMelParams<V>& p, int64_t b, bool second = false) {
  if constexpr (std::is_same<In, V>::value) {
    if (second) return p.y + b * p.a.g.length;
  }
  return input_of<In>(p) + b * p.a.g.length;
}

// Whether a mel call computes the mel loss' terms (FusedMelParams::y): two passes over each block's frames.
template <typename V>
SPECTRO_HD bool mel_loss_pair(const FusedMelParams<V>& p) {
  return p.y != nullptr;
}

// The mel backward straight to the signal's gradient: dL/dx = the analysis' adjoint (synthesis in mode irfft_half,
// window and scale of the analysis) of the dL/dX the backward above would write, in one kernel: the power-of-two
// synthesis engine with an analysis prologue (per frame: the forward FFT of x, the powers, the band coefficients,
// dL/dX into the spectrum stage, then the engine's inverse path). dL/dX never reaches memory. `mel` is a backward
// call (grad_out or target set; grad_spec and out unused, x in the compute type); `syn` the synthesis with the same
// geometry (s.out the result, s.window and s.scale those of mel.a, side as the synthesis needs it; no spectrum).
template <typename V>
struct FusedMelGradParams {
  FusedMelParams<V> mel;
  FusedSynthesisParams<V> syn;
};

// Tag for the synthesis engine's In parameter: the spectrum is FusedMelGradParams' dL/dX of a signal stored as X,
// computed in the kernel instead of read.
template <typename X>
struct MelGradIn {};
template <typename T>
struct IsMelGradIn : std::false_type {};
template <typename X>
struct IsMelGradIn<MelGradIn<X>> : std::true_type {};

// Tag for the analysis engines' Out parameter: the mel epilogue instead of storing the spectrum.
template <typename R>
struct MelOut {};
template <typename T>
struct IsMelOut : std::false_type {};
template <typename R>
struct IsMelOut<MelOut<R>> : std::true_type {};

namespace detail {

// P[k] of one bin, the log stage of one mel value and its derivative (mel_log.h).
template <typename V, typename R>
SPECTRO_HD R mel_power(const FusedMelParams<V>& p, Complex<R> x) {
  return p.stages.power_of(x.re, x.im);
}
template <typename V, typename R>
SPECTRO_HD R mel_log(const FusedMelParams<V>& p, R m) {
  return p.stages.log_of(m);
}
template <typename V, typename R>
SPECTRO_HD R mel_log_grad(const FusedMelParams<V>& p, R m) {
  return p.stages.log_grad(m);
}

// sum_k w[k] * power_of(k) over k in [lo, hi): four partial sums (independent loads and multiply-adds in flight; a
// band's sum is a serial chain otherwise), combined in a fixed order. The forward and the backward both sum with it,
// so a mel value the backward recomputes is bit for bit the forward's.
#pragma nv_exec_check_disable
template <typename R, class PowerOf>
SPECTRO_HD R band_sum(const R* w, int lo, int hi, const PowerOf& power_of) {
  static_assert(SPECTRO_MEL_BAND_PARTIALS == 1 || SPECTRO_MEL_BAND_PARTIALS == 4, "SPECTRO_MEL_BAND_PARTIALS: 1 or 4");
  if constexpr (SPECTRO_MEL_BAND_PARTIALS == 1) {  // (build-time variant: benchmarks/fused_variants.sh)
    R acc = R(0);
    for (int k = lo; k < hi; ++k) acc += w[k] * power_of(k);
    return acc;
  } else {
    R a0 = R(0), a1 = R(0), a2 = R(0), a3 = R(0);
    int k = lo;
    // (not unrolled further: a mel band spans a few to a few tens of bins, and each unrolled copy adds a path and its
    // branches to every band)
SPECTRO_NO_UNROLL
    for (; k + 4 <= hi; k += 4) {
      a0 += w[k] * power_of(k);
      a1 += w[k + 1] * power_of(k + 1);
      a2 += w[k + 2] * power_of(k + 2);
      a3 += w[k + 3] * power_of(k + 3);
    }
    // The last hi - k < 4 terms into a0, in order (unrolled: the loop's branches cost more than these few terms).
    if (k < hi) {
      a0 += w[k] * power_of(k);
      if (k + 1 < hi) {
        a0 += w[k + 1] * power_of(k + 1);
        if (k + 2 < hi) a0 += w[k + 2] * power_of(k + 2);
      }
    }
    return (a0 + a1) + (a2 + a3);
  }
}

// Backward, first stage, for `count` frames n0 .. n0 + count - 1 of row b: coef[f * n_mels + m] = dL/d out[b, m,
// n0 + f] * log_stage'(mel[b, m, n0 + f]), the mel value recomputed from power_of(f, k) = P[k] of frame f (dL/d out
// from grad_out, or from the target's L1 loss, or from its signs). Every
// thread of the block, no barrier inside.
#pragma nv_exec_check_disable
template <typename V, typename R, class Ctx, class PowerOf>
SPECTRO_HD void mel_grad_coefs(Ctx& ctx, const FusedMelParams<V>& p, const PowerOf& power_of, R* coef, int count,
                               int64_t b, int64_t n0) {
  const int total = count * p.n_mels;
  const int64_t n_frames = p.a.g.n_frames;
  for (int idx = ctx.tid(); idx < total; idx += ctx.nthreads()) {
    const int m = idx / count, f = idx - m * count;
    const int lo = p.band[2 * m], hi = p.band[2 * m + 1];
    const R* w = p.basis + static_cast<int64_t>(m) * p.basis_bins;
    const R acc = band_sum(w, lo, hi, [&](int k) { return power_of(f, k); });
    const int64_t o = (b * p.n_mels + m) * n_frames + n0 + f;
    R g;
    if (p.target_sign != nullptr) {  // the L1 loss' gradient from the forward's signs
      g = static_cast<R>(p.target_sign[o]) * (*p.target_grad * p.target_weight);
    } else if (p.target != nullptr) {  // the L1 loss' gradient against the target
      const R v = mel_log(p, acc) - p.target[o];
      const R s = v > R(0) ? R(1) : (v < R(0) ? R(-1) : R(0));  // (NaN: 0, as torch's sign)
      g = s * (*p.target_grad * p.target_weight);
    } else {
      g = p.grad_out[o];
    }
    coef[f * p.n_mels + m] = g * mel_log_grad(p, acc);
  }
}

// Backward, second stage: dL/dX of bin k of a frame with spectrum value x and coefficients coef[0 .. n_mels):
// dL/dP = sum over the bands m covering k of basis[m, k] coef[m]; dL/dX = dL/dP * mel_power_grad(x) * x.
template <typename V, typename R>
SPECTRO_HD Complex<R> mel_grad_bin(const FusedMelParams<V>& p, const R* coef, int k, Complex<R> x) {
  R gp = R(0);
  if (k < p.basis_bins) {
    // Only the bands whose range can hold k (a triangular filterbank: one or two), each still checked (a general
    // basis may have others in between).
    const int* cover = p.band + 2 * p.n_mels;
    for (int m = cover[2 * k], m_end = cover[2 * k + 1]; m < m_end; ++m) {
      if (p.band[2 * m] <= k && k < p.band[2 * m + 1]) gp += p.basis[static_cast<int64_t>(m) * p.basis_bins + k] * coef[m];
    }
  }
  const R d = p.stages.power_grad(x.re, x.im);
  return Complex<R>{gp * d * x.re, gp * d * x.im};
}

// The mel stage for `count` frames n0 .. n0 + count - 1 of row b whose powers are in shared memory
// (pw[f * stride + k]): every thread of the block, no barrier inside. Threads take (frame, band) pairs frame-fastest,
// so a warp's stores run along the output's contiguous frame axis; a thread gets the same pairs whenever count is
// the same (mel_loss_terms relies on it).
#pragma nv_exec_check_disable
template <typename V, typename R, class Ctx>
SPECTRO_HD void mel_bands(Ctx& ctx, const FusedMelParams<V>& p, const R* pw, int stride, int count, int64_t b,
                          int64_t n0) {
  const int total = count * p.n_mels;
  const int64_t n_frames = p.a.g.n_frames;
  for (int idx = ctx.tid(); idx < total; idx += ctx.nthreads()) {
    const int m = idx / count, f = idx - m * count;
    const int lo = p.band[2 * m], hi = p.band[2 * m + 1];
    const R* w = p.basis + static_cast<int64_t>(m) * p.basis_bins;
    const R* x = pw + static_cast<int64_t>(f) * stride;
    const R acc = band_sum(w, lo, hi, [x](int k) { return x[k]; });
    p.out[(b * p.n_mels + m) * n_frames + n0 + f] = mel_log(p, acc);
  }
}

// The mel loss' target pass (FusedMelParams::y), after mel_bands wrote the prediction's values of the same frames
// (the same thread wrote out[o], mel_bands' mapping: no barrier needed; the load issued before the band sum):
// d = out[o] - the target's value, rounded once (real_sub, as the difference of the two stored values); sign[o] =
// sign(d), and |d| added to `acc`.
#pragma nv_exec_check_disable
template <typename V, typename R, class Ctx>
SPECTRO_HD void mel_loss_terms(Ctx& ctx, const FusedMelParams<V>& p, const R* pw, int stride, int count, int64_t b,
                               int64_t n0, double& acc) {
  const int total = count * p.n_mels;
  const int64_t n_frames = p.a.g.n_frames;
  for (int idx = ctx.tid(); idx < total; idx += ctx.nthreads()) {
    const int m = idx / count, f = idx - m * count;
    const int64_t o = (b * p.n_mels + m) * n_frames + n0 + f;
    const R x = p.out[o];
    const int lo = p.band[2 * m], hi = p.band[2 * m + 1];
    const R* w = p.basis + static_cast<int64_t>(m) * p.basis_bins;
    const R* pf = pw + static_cast<int64_t>(f) * stride;
    const R d = real_sub(x, mel_log(p, band_sum(w, lo, hi, [pf](int k) { return pf[k]; })));
    p.sign[o] = static_cast<int8_t>(d > R(0) ? 1 : (d < R(0) ? -1 : 0));  // (NaN: 0)
    acc += static_cast<double>(d < R(0) ? -d : d);                         // (|NaN| = NaN: carried into the loss)
  }
}

// The band ranges of a basis: one block per band, band[2m], band[2m + 1] = first and one past the last bin whose
// weight is not zero (NaN counts as not zero); an all-zero band gets [0, 0).
template <typename R>
struct MelBandRanges {
  static constexpr int kThreads = 128;
  static constexpr int kMinBlocks = 1;
  static constexpr int64_t smem_bytes() { return 2 * kThreads * int64_t{sizeof(int)}; }
#pragma nv_exec_check_disable
  template <class Ctx>
  SPECTRO_HD static void run(Ctx& ctx, const R* basis, int bins, int* band) {
    const int tid = ctx.tid();
    const int64_t m = ctx.block();
    const R* w = basis + m * bins;
    int lo = bins, hi = 0;
    for (int k = tid; k < bins; k += kThreads) {
      if (!(w[k] == R(0))) {
        lo = k < lo ? k : lo;
        hi = k + 1 > hi ? k + 1 : hi;
      }
    }
    int* s = reinterpret_cast<int*>(ctx.smem());
    s[tid] = lo;
    s[kThreads + tid] = hi;
    ctx.sync();
    if (tid == 0) {
      for (int t = 1; t < kThreads; ++t) {
        lo = s[t] < lo ? s[t] : lo;
        hi = s[kThreads + t] > hi ? s[kThreads + t] : hi;
      }
      band[2 * m] = lo < hi ? lo : 0;
      band[2 * m + 1] = lo < hi ? hi : 0;
    }
  }
};

// The bands covering each bin, for the backward's per-bin sum (after MelBandRanges): one thread per bin k,
// cover[2k], cover[2k + 1] = the first and one past the last band m with band[2m] <= k < band[2m + 1] ([0, 0): none).
// O(bins * n_mels) once per call instead of per frame.
struct MelBinCover {
  static constexpr int kThreads = 128;
  static constexpr int kMinBlocks = 1;
  static constexpr int64_t smem_bytes() { return 0; }
#pragma nv_exec_check_disable
  template <class Ctx>
  SPECTRO_HD static void run(Ctx& ctx, const int* band, int n_mels, int bins, int* cover) {
    const int64_t k = ctx.block() * kThreads + ctx.tid();
    if (k >= bins) return;
    int lo = n_mels, hi = 0;
    for (int m = 0; m < n_mels; ++m) {
      if (band[2 * m] <= k && k < band[2 * m + 1]) {
        lo = m < lo ? m : lo;
        hi = m + 1;
      }
    }
    cover[2 * k] = lo < hi ? lo : 0;
    cover[2 * k + 1] = lo < hi ? hi : 0;
  }
};

}  // namespace detail
}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
