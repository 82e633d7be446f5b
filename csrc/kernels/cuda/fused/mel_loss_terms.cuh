// spectro — fused kernels: the multi-scale mel loss' L1 terms (DAC's / BigVGAN's log-mel L1) where the mel kernel does
// not form them itself, and the loss from every scale's partial sums.
//
// Where the fused mel kernel covers a scale it forms the terms in the same launch (FusedMelParams::y, mel.cuh): the
// target's log-mels never reach memory, and each block writes one partial. Elsewhere MelLossTerms (one scale): over
// the scale's two log-mels a = log-mel x, b = log-mel y (numel values each, contiguous), d = a - b in R; it writes
// sign(d) as int8 (-1 / 0 / 1, NaN: 0, as torch's d.sign().to(int8): what the backward keeps of the target, a quarter
// of its bytes) and each block's sum of |d| (per thread a fixed run in double, then a pairwise tree over the threads:
// no atomics) as one partial.
//
// MelLossCombine (every scale): one block sums each scale's partials in a fixed order (32 threads per scale, each a
// strided run, then the 32 in order), and forms
//   loss = weight * sum_s (sum_s |d|) / count[s]
// in double precision, rounded once to R (count[s] = the scale's numel: the mean of at::l1_loss; 0 / 0 = NaN for an
// empty scale, as torch's mean of nothing).
#pragma once

#include <cstdint>

#include "../../common.h"
#include "block_sum.cuh"
#include "exec.cuh"

namespace spectro {
namespace kernels {
namespace cuda {

constexpr int kMaxMelLossScales = 16;

// One scale.
template <typename R>
struct MelLossTermsParams {
  const R* x = nullptr;        // [numel] contiguous: log-mel of the prediction
  const R* y = nullptr;        // [numel] contiguous: log-mel of the target
  int8_t* sign = nullptr;      // [numel]: sign(x - y)
  int64_t numel = 0;
  double* partials = nullptr;  // [mel_loss_terms_blocks(numel)]: each block's sum of |x - y|
};

// Every scale.
template <typename R>
struct MelLossCombineParams {
  int scales = 0;
  const double* partials = nullptr;  // scale s's partials at [row0[s], row0[s] + rows[s])
  int64_t row0[kMaxMelLossScales] = {};
  int64_t rows[kMaxMelLossScales] = {};
  double count[kMaxMelLossScales] = {};  // the divisor of each scale's sum (its numel)
  double weight = 0;
  R* loss = nullptr;  // []
};

namespace detail {

template <typename R>
struct MelLossTerms {
  static constexpr int kThreads = 256;
  static constexpr int kMinBlocks = 1;
  static constexpr int kItems = 8;  // values per thread: a block takes kThreads * kItems consecutive values
  static constexpr int64_t kChunk = int64_t{kThreads} * kItems;
  static constexpr int64_t smem_bytes() { return int64_t{kThreads} * int64_t{sizeof(double)}; }
#pragma nv_exec_check_disable
  template <class Ctx>
  SPECTRO_HD static void run(Ctx& ctx, MelLossTermsParams<R> p) {
    const int tid = ctx.tid();
    const int64_t e0 = ctx.block() * kChunk;
    double acc = 0;
SPECTRO_UNROLL
    for (int k = 0; k < kItems; ++k) {
      const int64_t i = e0 + k * kThreads + tid;  // (coalesced: consecutive threads, consecutive values)
      if (i < p.numel) {
        const R d = p.x[i] - p.y[i];
        p.sign[i] = static_cast<int8_t>(d > R(0) ? 1 : (d < R(0) ? -1 : 0));
        acc += static_cast<double>(d < R(0) ? -d : d);  // (|NaN| = NaN: carried into the loss)
      }
    }
    double* s = reinterpret_cast<double*>(ctx.smem());
    block_tree_sum<kThreads>(ctx, acc, s);
    if (tid == 0) p.partials[ctx.block()] = s[0];
  }
};

template <typename R>
struct MelLossCombine {
  static constexpr int kLanes = 32;  // threads per scale: all scales at once (a loop over scales of block-wide trees
                                     // is a chain of barriers, several microseconds for DAC's seven)
  static constexpr int kThreads = kMaxMelLossScales * kLanes;
  static constexpr int kMinBlocks = 1;
  static constexpr int64_t smem_bytes() { return int64_t{kThreads} * int64_t{sizeof(double)}; }
#pragma nv_exec_check_disable
  template <class Ctx>
  SPECTRO_HD static void run(Ctx& ctx, MelLossCombineParams<R> p) {
    const int tid = ctx.tid(), q = tid / kLanes, lane = tid - q * kLanes;
    double* s = reinterpret_cast<double*>(ctx.smem());
    double acc = 0;
    if (q < p.scales) {
      const double* rows = p.partials + p.row0[q];
      for (int64_t i = lane; i < p.rows[q]; i += kLanes) acc += rows[i];
    }
    s[tid] = acc;
    ctx.sync();
    if (lane == 0 && q < p.scales) {  // the scale's lanes in order, its mean
      double sum = 0;
      for (int l = 0; l < kLanes; ++l) sum += s[tid + l];
      s[tid] = sum / p.count[q];
    }
    ctx.sync();
    if (tid == 0) {
      double total = 0;
      for (int k = 0; k < p.scales; ++k) total += s[k * kLanes];
      *p.loss = static_cast<R>(p.weight * total);
    }
  }
};

template <typename R>
int64_t mel_loss_terms_blocks(int64_t numel) {
  return (numel + MelLossTerms<R>::kChunk - 1) / MelLossTerms<R>::kChunk;
}

template <typename R, class Exec>
cudaError_t run_mel_loss_terms(const MelLossTermsParams<R>& p, const Exec& exec) {
  if (p.numel < 0 || (p.numel > 0 && (p.x == nullptr || p.y == nullptr || p.sign == nullptr || p.partials == nullptr)))
    return cudaErrorInvalidValue;
  if (p.numel == 0) return cudaSuccess;  // (no partials: the scale's sum is 0)
  return exec.template launch<MelLossTerms<R>>(mel_loss_terms_blocks<R>(p.numel), MelLossTerms<R>::smem_bytes(), p);
}

template <typename R, class Exec>
cudaError_t run_mel_loss_combine(const MelLossCombineParams<R>& p, const Exec& exec) {
  if (p.scales < 1 || p.scales > kMaxMelLossScales || p.loss == nullptr) return cudaErrorInvalidValue;
  for (int q = 0; q < p.scales; ++q) {
    if (p.rows[q] < 0 || (p.rows[q] > 0 && p.partials == nullptr)) return cudaErrorInvalidValue;
  }
  return exec.template launch<MelLossCombine<R>>(1, MelLossCombine<R>::smem_bytes(), p);
}

}  // namespace detail

template <typename R>
int64_t mel_loss_terms_blocks(int64_t numel) {
  return detail::mel_loss_terms_blocks<R>(numel);
}
template <typename R>
cudaError_t launch_mel_loss_terms(const MelLossTermsParams<R>& p, cudaStream_t stream) {
  return detail::run_mel_loss_terms(p, detail::DeviceExec{stream});
}
template <typename R>
cudaError_t launch_mel_loss_combine(const MelLossCombineParams<R>& p, cudaStream_t stream) {
  return detail::run_mel_loss_combine(p, detail::DeviceExec{stream});
}

}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
