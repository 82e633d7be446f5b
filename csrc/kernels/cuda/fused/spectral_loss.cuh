// spectro — fused kernels: the spectral-loss epilogue of the analysis engines. Two real signals x (prediction) and
// y (target) are transformed together as one complex signal z = x + i y (one n_fft-point complex FFT per frame
// gives both spectra: X[k] = (Z[k] + conj Z[n-k]) / 2, Y[k] = (Z[k] - conj Z[n-k]) / 2i); per onesided bin the
// epilogue forms the magnitudes |X|_e = sqrt(max(|X|^2, eps)), |Y|_e and adds the loss terms to four running sums,
// reduced per block in a fixed order (no atomics) and written as one row of partial sums. The spectra stay in
// shared memory.
//
//   sums[0] = sum (|Y|_e - |X|_e)^2          (spectral convergence's numerator, squared)
//   sums[1] = sum |Y|_e^2                      (its denominator, squared)
//   sums[2] = sum d(ln |X|_e, ln |Y|_e)         d(a, b) = |a - b| (L1) or (a - b)^2 (L2)
//   sums[3] = sum d(|X|_e, |Y|_e)
// over every onesided bin k <= n_fft / 2 of every frame of every row.
//
// Backward (grad_sums set): from dL/dsums, the kernel recomputes the spectra and writes dL/dX per bin (torch's
// convention for a complex gradient, dL/dRe + i dL/dIm), frame-major: onesided ([.., n_fft / 2 + 1]) for x alone,
// whose input gradient is then the rfft analysis' adjoint; or, with grad_target, the packed spectrum G of n_fft bins
// G[k] = (GX[k] + conj GX[n-k]) / 2 + i (GY[k] + conj GY[n-k]) / 2 (GX, GY zero past n_fft / 2), whose complex
// analysis adjoint is dL/dx + i dL/dy.
#pragma once

#include <cmath>
#include <type_traits>

#include "params.cuh"
#include "../../real_math.h"

namespace spectro {
namespace kernels {
namespace cuda {

constexpr int kLossSums = 4;

// V = Complex<R>: the packed signal z = x + i y.
template <typename V>
struct FusedLossParams : FusedAnalysisParams<V> {
  using R = typename RealOf<V>::type;
  R eps = R(0);                     // magnitudes sqrt(max(|X|^2, eps))
  bool l2 = false;                  // d: squared differences (else absolute)
  double* partials = nullptr;       // forward: [blocks, kLossSums], one row per block
  const R* grad_sums = nullptr;     // backward: dL/dsums [kLossSums] (read on the device)
  Complex<R>* grad_spec = nullptr;  // backward: [batch, n_frames, grad_target ? n_fft : n_fft / 2 + 1]
  bool grad_target = false;
};

// The backward straight to the prediction's gradient, for x alone: dL/dx = the rfft analysis' adjoint of the onesided
// dL/dX the backward above writes without grad_target, in one kernel: the power-of-two synthesis engine with an
// analysis prologue (per frame: x + i y read and windowed, the forward FFT, per bin the Hermitian G = (GX[k] + conj
// GX[n-k]) / 2 into the spectrum stage, whose complex inverse (mode ifft_real, the analysis' window and scale) is the
// same adjoint in exact arithmetic; two frames per inverse FFT). No spectrum gradient reaches memory, nor does the
// packed signal (x and y are read where they are). `loss` is a backward call for x alone (grad_sums set,
// grad_target false; a.x, grad_spec and partials unused); `syn` the synthesis with the same geometry (real output
// s.out, s.window and s.scale those of loss.a, mode ifft_real, side as the synthesis needs it; no spectrum).
template <typename R>
struct FusedLossGradParams {
  FusedLossParams<Complex<R>> loss;
  const R* x = nullptr;  // [loss.a.batch, loss.a.g.length] contiguous: the prediction
  const R* y = nullptr;  // the same: the target
  FusedSynthesisParams<R> syn;
};

// Tag for the synthesis engine's In parameter: the spectrum is FusedLossGradParams' packed G, computed in the kernel.
template <typename R>
struct LossGradIn {};
template <typename T>
struct IsLossGradIn : std::false_type {};
template <typename R>
struct IsLossGradIn<LossGradIn<R>> : std::true_type {};

// Tag for the analysis engines' Out parameter: the loss epilogue instead of storing the spectrum.
template <typename R>
struct LossOut {};
template <typename T>
struct IsLossOut : std::false_type {};
template <typename R>
struct IsLossOut<LossOut<R>> : std::true_type {};

namespace detail {

template <typename R>
SPECTRO_HD R loss_sign(R v) {
  return v > R(0) ? R(1) : (v < R(0) ? R(-1) : R(0));
}

// One onesided bin k of both signals, from zk = Z[k] and zm = Z[(n - k) mod n].
template <typename R>
struct LossBin {
  Complex<R> x, y;  // X[k], Y[k]
  R sx, sy;         // |X|^2, |Y|^2
  R xm, ym;         // the clamped magnitudes
  R d, lg;          // ym - xm, ln xm - ln ym
  SPECTRO_HD LossBin(Complex<R> zk, Complex<R> zm, R eps) {
    x = Complex<R>{(zk.re + zm.re) * R(0.5), (zk.im - zm.im) * R(0.5)};
    y = Complex<R>{(zk.im + zm.im) * R(0.5), (zm.re - zk.re) * R(0.5)};
    sx = x.re * x.re + x.im * x.im;
    sy = y.re * y.re + y.im * y.im;
    xm = real_sqrt(sx < eps ? eps : sx);  // (NaN stays NaN, as torch's clamp)
    ym = real_sqrt(sy < eps ? eps : sy);
    d = ym - xm;
    lg = real_log(xm) - real_log(ym);
  }
};

// Adds bin (zk, zm)'s terms to acc.
template <typename V, typename R>
SPECTRO_HD void loss_accumulate(const FusedLossParams<V>& p, Complex<R> zk, Complex<R> zm, double (&acc)[kLossSums]) {
  const LossBin<R> s(zk, zm, p.eps);
  const R d = s.d, lg = s.lg;
  acc[0] += static_cast<double>(d * d);
  acc[1] += static_cast<double>(s.ym * s.ym);
  acc[2] += static_cast<double>(p.l2 ? lg * lg : (lg < R(0) ? -lg : lg));
  acc[3] += static_cast<double>(p.l2 ? d * d : (d < R(0) ? -d : d));
}

// dL/dX and dL/dY of bin (zk, zm) for dL/dsums g (the clamp passes the gradient where |X|^2 >= eps, as torch's;
// abs' derivative at 0 is 0).
template <typename V, typename R>
SPECTRO_HD void loss_grad_bin(const FusedLossParams<V>& p, const R (&g)[kLossSums], Complex<R> zk, Complex<R> zm,
                              Complex<R>* gx, Complex<R>* gy) {
  const LossBin<R> s(zk, zm, p.eps);
  const R d = s.d, lg = s.lg;
  const R dlog = p.l2 ? R(2) * lg : loss_sign(lg);  // d/da of d(a, b) at a - b = lg
  const R dlin = p.l2 ? R(2) * d : loss_sign(d);    // d/db of d(a, b) at b - a = d
  const R dxm = g[0] * (R(-2) * d) + g[2] * dlog / s.xm - g[3] * dlin;
  const R dym = g[0] * (R(2) * d) + g[1] * (R(2) * s.ym) - g[2] * dlog / s.ym + g[3] * dlin;
  const R fx = s.sx >= p.eps ? dxm / s.xm : R(0), fy = s.sy >= p.eps ? dym / s.ym : R(0);
  *gx = Complex<R>{fx * s.x.re, fx * s.x.im};
  *gy = Complex<R>{fy * s.y.re, fy * s.y.im};
}

// The backward's output bin k (of n) of one frame, zf[q] = Z[q] (natural order): onesided dL/dX[k], or with
// grad_target the packed G[k]. `at(q)` gives Z[q].
template <typename V, typename R, class At>
SPECTRO_HD Complex<R> loss_grad_out(const FusedLossParams<V>& p, const R (&g)[kLossSums], int n, int k, const At& at) {
  const int km = k == 0 ? 0 : n - k;
  Complex<R> gx, gy;
  if (!p.grad_target) {
    loss_grad_bin(p, g, at(k), at(km), &gx, &gy);
    return gx;
  }
  Complex<R> out{R(0), R(0)};
  if (2 * k <= n) {  // (GX[k] + i GY[k]) / 2
    loss_grad_bin(p, g, at(k), at(km), &gx, &gy);
    out.re += R(0.5) * (gx.re - gy.im);
    out.im += R(0.5) * (gx.im + gy.re);
  }
  if (2 * km <= n) {  // (conj GX[n-k] + i conj GY[n-k]) / 2
    loss_grad_bin(p, g, at(km), at(k), &gx, &gy);
    out.re += R(0.5) * (gx.re + gy.im);
    out.im += R(0.5) * (gy.re - gx.im);
  }
  return out;
}

template <typename V, typename R>
SPECTRO_HD void loss_grad_sums(const FusedLossParams<V>& p, R (&g)[kLossSums]) {
SPECTRO_UNROLL
  for (int q = 0; q < kLossSums; ++q) g[q] = p.grad_sums[q];
}

// The block's sums: every thread's acc reduced in a fixed order (a pairwise tree over thread indices, nthreads a
// power of two) in shared memory `s` (kLossSums * nthreads doubles, free: the caller's barrier precedes), written to
// out[0 .. kLossSums). Every thread of the block.
#pragma nv_exec_check_disable
template <class Ctx>
SPECTRO_HD void loss_block_sums(Ctx& ctx, const double (&acc)[kLossSums], double* s, double* out) {
  const int tid = ctx.tid(), nt = ctx.nthreads();
SPECTRO_UNROLL
  for (int q = 0; q < kLossSums; ++q) s[q * nt + tid] = acc[q];
  ctx.sync();
  for (int h = nt / 2; h > 0; h >>= 1) {
    if (tid < h) {
SPECTRO_UNROLL
      for (int q = 0; q < kLossSums; ++q) s[q * nt + tid] += s[q * nt + tid + h];
    }
    ctx.sync();
  }
  if (tid < kLossSums) out[tid] = s[tid * nt];
}

}  // namespace detail
}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
