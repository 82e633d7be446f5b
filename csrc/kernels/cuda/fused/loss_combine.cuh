// spectro — fused kernels: the multi-resolution STFT loss' two small steps around the loss epilogue
// (spectral_loss.cuh), so that a whole loss is a few launches whatever its number of resolutions.
//
// LossCombine (forward, after the epilogue's partial sums of every resolution): one block sums each resolution's
// rows of partial sums in a fixed order (per thread a strided run, then a pairwise tree: no atomics, the same bits
// on every run), divides by the resolution's count and forms
//   sums[r]  = the four sums / count[r]                                      [R, 4]
//   terms[r] = (sqrt(s0) / sqrt(s1), s2, s3), a term of weight 0 reading 0    [R, 3]
//   loss     = sum_k w_k sum_r terms[r][k] / R                                []
// in double precision, rounded once to R.
//
// LossCombineBackward: dL/d(each resolution's raw sums) from dL/dloss and dL/dterms (either may be absent), one
// thread per resolution, in closed form:
//   a = dL/dsc[r], b = dL/dlog[r], c = dL/dlin[r]  (w_k dL/dloss / R + dL/dterms[r][k]; 0 where w_k = 0)
//   dsc/ds0 = sc / 2 s0 (0 at s0 = 0: the Frobenius norm's subgradient), dsc/ds1 = -sc / 2 s1
//   grad_sums[r] = (a dsc/ds0, a dsc/ds1, b, c) / count[r]
// which the epilogue's backward mode reads on the device (FusedLossParams::grad_sums), one row per resolution.
#pragma once

#include <cstdint>

#include "../../common.h"
#include "exec.cuh"
#include "../../real_math.h"
#include "spectral_loss.cuh"

namespace spectro {
namespace kernels {
namespace cuda {

constexpr int kMaxLossResolutions = 16;
constexpr int kLossTerms = 3;

template <typename R>
struct LossCombineParams {
  int resolutions = 0;
  double count[kMaxLossResolutions] = {};  // the divisor of each resolution's sums (1 for reduction "sum")
  double weight[kLossTerms] = {};          // w_sc, w_log_mag, w_lin_mag
  // forward
  const double* partials = nullptr;        // rows of kLossSums partial sums, resolution r's at [row0[r], row0[r] + rows[r])
  int64_t row0[kMaxLossResolutions] = {};
  int64_t rows[kMaxLossResolutions] = {};
  R* sums = nullptr;                       // [R, kLossSums]
  R* terms = nullptr;                      // [R, kLossTerms]
  R* loss = nullptr;                       // []
  // backward
  const R* grad_loss = nullptr;            // [] or null
  const R* grad_terms = nullptr;           // [R, kLossTerms] contiguous, or null
  const R* sums_in = nullptr;              // the forward's sums and terms
  const R* terms_in = nullptr;
  R* grad_sums = nullptr;                  // [R, kLossSums]
};

namespace detail {

// One block. Shared memory: kLossSums * kThreads doubles.
template <typename R>
struct LossCombine {
  static constexpr int kThreads = 256;
  static constexpr int kMinBlocks = 1;
  static constexpr int64_t smem_bytes() { return int64_t{kLossSums} * kThreads * int64_t{sizeof(double)}; }
#pragma nv_exec_check_disable
  template <class Ctx>
  SPECTRO_HD static void run(Ctx& ctx, LossCombineParams<R> p) {
    const int tid = ctx.tid();
    double* s = reinterpret_cast<double*>(ctx.smem());
    double sc_total = 0, log_total = 0, lin_total = 0;
    for (int r = 0; r < p.resolutions; ++r) {
      double acc[kLossSums] = {0, 0, 0, 0};
      const double* rows = p.partials + p.row0[r] * kLossSums;
      for (int64_t i = tid; i < p.rows[r]; i += kThreads) {
SPECTRO_UNROLL
        for (int q = 0; q < kLossSums; ++q) acc[q] += rows[i * kLossSums + q];
      }
      // the block's totals, a pairwise tree over the threads (fixed order), left in s[q * kThreads]
SPECTRO_UNROLL
      for (int q = 0; q < kLossSums; ++q) s[q * kThreads + tid] = acc[q];
      ctx.sync();
      for (int h = kThreads / 2; h > 0; h >>= 1) {
        if (tid < h) {
SPECTRO_UNROLL
          for (int q = 0; q < kLossSums; ++q) s[q * kThreads + tid] += s[q * kThreads + tid + h];
        }
        ctx.sync();
      }
      double v[kLossSums];
SPECTRO_UNROLL
      for (int q = 0; q < kLossSums; ++q) v[q] = s[q * kThreads] / p.count[r];
      const double sc = p.weight[0] != 0 ? real_sqrt(v[0]) / real_sqrt(v[1]) : 0.0;
      const double lg = p.weight[1] != 0 ? v[2] : 0.0, ln = p.weight[2] != 0 ? v[3] : 0.0;
      sc_total += sc;
      log_total += lg;
      lin_total += ln;
      if (tid == 0) {
SPECTRO_UNROLL
        for (int q = 0; q < kLossSums; ++q) p.sums[r * kLossSums + q] = static_cast<R>(v[q]);
        p.terms[r * kLossTerms + 0] = static_cast<R>(sc);
        p.terms[r * kLossTerms + 1] = static_cast<R>(lg);
        p.terms[r * kLossTerms + 2] = static_cast<R>(ln);
      }
      ctx.sync();  // (s is reused by the next resolution)
    }
    if (tid == 0) {
      const double w = p.weight[0] * sc_total + p.weight[1] * log_total + p.weight[2] * lin_total;
      *p.loss = static_cast<R>(w / p.resolutions);
    }
  }
};

// One block of kMaxLossResolutions threads; thread r < resolutions writes grad_sums[r].
template <typename R>
struct LossCombineBackward {
  static constexpr int kThreads = kMaxLossResolutions;
  static constexpr int kMinBlocks = 1;
  static constexpr int64_t smem_bytes() { return 0; }
#pragma nv_exec_check_disable
  template <class Ctx>
  SPECTRO_HD static void run(Ctx& ctx, LossCombineParams<R> p) {
    const int r = ctx.tid();
    if (r >= p.resolutions) return;
    double g[kLossTerms];
SPECTRO_UNROLL
    for (int k = 0; k < kLossTerms; ++k) {
      double v = 0;
      if (p.weight[k] != 0) {
        if (p.grad_loss != nullptr) v += static_cast<double>(*p.grad_loss) * p.weight[k] / p.resolutions;
        if (p.grad_terms != nullptr) v += static_cast<double>(p.grad_terms[r * kLossTerms + k]);
      }
      g[k] = v;
    }
    const double s0 = static_cast<double>(p.sums_in[r * kLossSums + 0]);
    const double s1 = static_cast<double>(p.sums_in[r * kLossSums + 1]);
    const double half = g[0] * static_cast<double>(p.terms_in[r * kLossTerms + 0]) * 0.5;
    const double g0 = p.weight[0] != 0 && s0 > 0 ? half / s0 : 0.0;
    const double g1 = p.weight[0] != 0 ? -half / s1 : 0.0;
    const double c = p.count[r];
    R* out = p.grad_sums + r * kLossSums;
    out[0] = static_cast<R>(g0 / c);
    out[1] = static_cast<R>(g1 / c);
    out[2] = static_cast<R>(g[1] / c);
    out[3] = static_cast<R>(g[2] / c);
  }
};

template <typename R, class Exec>
cudaError_t run_loss_combine(const LossCombineParams<R>& p, const Exec& exec) {
  if (p.resolutions < 1 || p.resolutions > kMaxLossResolutions) return cudaErrorInvalidValue;
  if (p.partials == nullptr || p.sums == nullptr || p.terms == nullptr || p.loss == nullptr)
    return cudaErrorInvalidValue;
  return exec.template launch<LossCombine<R>>(1, LossCombine<R>::smem_bytes(), p);
}

template <typename R, class Exec>
cudaError_t run_loss_combine_backward(const LossCombineParams<R>& p, const Exec& exec) {
  if (p.resolutions < 1 || p.resolutions > kMaxLossResolutions) return cudaErrorInvalidValue;
  if (p.sums_in == nullptr || p.terms_in == nullptr || p.grad_sums == nullptr) return cudaErrorInvalidValue;
  return exec.template launch<LossCombineBackward<R>>(1, 0, p);
}

}  // namespace detail

template <typename R>
cudaError_t launch_loss_combine(const LossCombineParams<R>& p, cudaStream_t stream) {
  return detail::run_loss_combine(p, detail::DeviceExec{stream});
}
template <typename R>
cudaError_t launch_loss_combine_backward(const LossCombineParams<R>& p, cudaStream_t stream) {
  return detail::run_loss_combine_backward(p, detail::DeviceExec{stream});
}

}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
