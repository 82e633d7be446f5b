// spectro — CPU analysis (pad + frame + window) and synthesis (window + overlap-add + envelope + fold/trim)
// kernels. Torch-free: parallelism comes in as a callable `parallel_for(begin, end, grain, fn(begin, end))`,
// which the binding layer backs with at::parallel_for.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "../common.h"

namespace spectro {
namespace kernels {
namespace cpu {

// frames[b, n, :] for every (b, n). Frames that lie wholly inside the signal with h == 1 take a contiguous,
// vectorisable loop; the rest (padding, envelope scaling) go element by element through analysis_element.
template <typename V, typename ParallelFor>
void analysis(const AnalysisParams<V>& a, ParallelFor&& parallel_for) {
  using R = typename RealOf<V>::type;
  const Geometry& g = a.g;
  const int64_t rows = a.batch * g.n_frames;
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(g.n_fft, 1));
  parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t b = r / g.n_frames, n = r % g.n_frames;
      V* out = a.frames + r * g.n_fft;
      const int64_t p0 = n * g.hop;
      if (!g.env_normalize && p0 >= g.pad && p0 + g.n_fft <= g.pad + g.length) {
        const V* x = a.x + b * g.length + (p0 - g.pad);
        for (int64_t k = 0; k < g.n_fft; ++k) out[k] = x[k] * (a.scale * a.window[k]);
      } else {
        for (int64_t k = 0; k < g.n_fft; ++k) out[k] = analysis_element(a, b, n, k);
      }
    }
  });
  (void)sizeof(R);
}

// out[b, t] for every (b, t), in two passes: (1) ola[b, p] = h(p) * sum_n w * frames over padded positions, written
// chunk by chunk with contiguous accumulation; (2) out[b, t] = scale * sum over the preimage of t.
template <typename V, typename ParallelFor>
void synthesis(const SynthesisParams<V>& s, ParallelFor&& parallel_for) {
  using R = typename RealOf<V>::type;
  const Geometry& g = s.g;
  const int64_t span = g.span();
  std::vector<V> ola(static_cast<size_t>(s.batch * span));
  constexpr int64_t kChunk = 4096;
  const int64_t chunks = (span + kChunk - 1) / kChunk;
  parallel_for(0, s.batch * chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      const int64_t b = c / chunks;
      const int64_t lo = (c % chunks) * kChunk, hi = std::min(span, lo + kChunk);
      V* acc = ola.data() + b * span;
      std::fill(acc + lo, acc + hi, zero_value<V>());
      const V* f = s.frames + b * g.n_frames * g.n_fft;
      const int64_t n_lo = first_frame(lo, g), n_hi = last_frame(hi - 1, g);
      for (int64_t n = n_lo; n <= n_hi; ++n) {
        const int64_t p0 = n * g.hop;
        const int64_t k_lo = std::max<int64_t>(0, lo - p0), k_hi = std::min<int64_t>(g.n_fft, hi - p0);
        const V* fn = f + n * g.n_fft;
        V* dst = acc + p0;
        for (int64_t k = k_lo; k < k_hi; ++k) dst[k] += fn[k] * s.window[k];
      }
      if (g.env_normalize) {
        for (int64_t p = lo; p < hi; ++p) acc[p] = acc[p] * envelope_scale(s.window, p, g);
      }
    }
  });
  const int64_t grain = 16384;
  parallel_for(0, s.batch * g.length, grain, [&](int64_t begin, int64_t end) {
    for (int64_t e = begin; e < end; ++e) {
      const int64_t b = e / g.length, t = e % g.length;
      const V* acc = ola.data() + b * span;
      V v = zero_value<V>();
      for_each_preimage(t, g, [&](int64_t p) { v += acc[p]; });
      s.out[e] = v * s.scale;
    }
  });
  (void)sizeof(R);
}

}  // namespace cpu
}  // namespace kernels
}  // namespace spectro
