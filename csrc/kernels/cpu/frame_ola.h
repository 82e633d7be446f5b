// spectro — CPU analysis (pad + frame + window) and synthesis (window + overlap-add + envelope + fold/trim)
// kernels. Torch-free: parallelism comes in as a callable `parallel_for(begin, end, grain, fn(begin, end))`,
// which the binding layer backs with at::parallel_for.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "../common.h"

namespace spectro {
namespace kernels {
namespace cpu {

// h(p) = envelope_scale(window, p, g) for every padded position p in [0, span()), computed once per call (not per
// batch row and frame). Where every frame that could cover p exists -- p in [n_fft - 1, span() - n_fft + hop), cut
// at the span -- h depends on p mod hop only (also with hop > n_fft, whose gaps have h = 0), and the sum runs over
// the same window indices in the same order, so those entries are copied from one period: bit for bit what
// envelope_scale gives. Empty when g.env_normalize is false (h == 1).
template <typename R, typename ParallelFor>
std::vector<R> envelope_table(const R* window, const Geometry& g, ParallelFor&& parallel_for) {
  if (!g.env_normalize) return {};
  const int64_t span = g.span();
  std::vector<R> h(static_cast<size_t>(span));
  const int64_t lo = g.n_fft - 1, hi = std::min(span, span - g.n_fft + g.hop);  // periodic range [lo, hi)
  const bool periodic = hi - lo >= 2 * g.hop;
  parallel_for(0, span, 4096, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      if (!periodic || p < lo + g.hop || p >= hi) h[p] = envelope_scale(window, p, g);
    }
  });
  if (periodic) {
    parallel_for(lo + g.hop, hi, 16384, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) h[p] = h[lo + (p - lo) % g.hop];
    });
  }
  return h;
}

// frames[b, n, :] for every (b, n). Frames that lie wholly inside the signal take a contiguous, vectorisable loop
// (with h from the envelope table when env_normalize); frames touching the padding go element by element through
// analysis_element.
template <typename V, typename ParallelFor>
void analysis(const AnalysisParams<V>& a, ParallelFor&& parallel_for) {
  using R = typename RealOf<V>::type;
  const Geometry& g = a.g;
  const std::vector<R> h = envelope_table(a.window, g, parallel_for);
  const int64_t rows = a.batch * g.n_frames;
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(g.n_fft, 1));
  parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t b = r / g.n_frames, n = r % g.n_frames;
      V* out = a.frames + r * g.n_fft;
      const int64_t p0 = n * g.hop;
      if (p0 >= g.pad && p0 + g.n_fft <= g.pad + g.length) {
        const V* x = a.x + b * g.length + (p0 - g.pad);
        if (h.empty()) {
          for (int64_t k = 0; k < g.n_fft; ++k) out[k] = x[k] * (a.scale * a.window[k]);
        } else {
          const R* hp = h.data() + p0;
          for (int64_t k = 0; k < g.n_fft; ++k) out[k] = x[k] * (a.scale * a.window[k] * hp[k]);
        }
      } else {
        for (int64_t k = 0; k < g.n_fft; ++k) out[k] = analysis_element(a, b, n, k);
      }
    }
  });
}

// out[b, t] for every (b, t), in two passes: (1) ola[b, p] = h(p) * sum_n w * frames over padded positions, written
// chunk by chunk with contiguous accumulation; (2) out[b, t] = scale * sum over the preimage of t, which is the one
// position t + pad away from the signal's ends (a contiguous loop there) and goes through for_each_preimage near them.
template <typename V, typename ParallelFor>
void synthesis(const SynthesisParams<V>& s, ParallelFor&& parallel_for) {
  using R = typename RealOf<V>::type;
  const Geometry& g = s.g;
  const int64_t span = g.span();
  const std::vector<R> h = envelope_table(s.window, g, parallel_for);
  std::unique_ptr<V[]> ola(new V[static_cast<size_t>(s.batch * span)]);
  constexpr int64_t kChunk = 4096;
  const int64_t chunks = (span + kChunk - 1) / kChunk;
  parallel_for(0, s.batch * chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      const int64_t b = c / chunks;
      const int64_t lo = (c % chunks) * kChunk, hi = std::min(span, lo + kChunk);
      V* acc = ola.get() + b * span;
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
      if (!h.empty()) {
        for (int64_t p = lo; p < hi; ++p) acc[p] = acc[p] * h[p];
      }
    }
  });
  // Signal positions whose only preimage is t + pad (every pad mode; see for_each_preimage): (pad, T - pad - 1).
  const int64_t t_lo = std::min(g.length, g.pad + 1);
  const int64_t t_hi = std::max(t_lo, g.length - g.pad - 1);
  const int64_t t_direct = std::max(t_lo, std::min(t_hi, span - g.pad));  // [t_lo, t_direct): t + pad < span
  const int64_t row_grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(g.length, 1));
  parallel_for(0, s.batch, row_grain, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const V* acc = ola.get() + b * span;
      V* out = s.out + b * g.length;
      auto general = [&](int64_t t) {
        V v = zero_value<V>();
        for_each_preimage(t, g, [&](int64_t p) { v += acc[p]; });
        out[t] = v * s.scale;
      };
      for (int64_t t = 0; t < t_lo; ++t) general(t);
      const V* src = acc + g.pad;
      for (int64_t t = t_lo; t < t_direct; ++t) out[t] = src[t] * s.scale;
      for (int64_t t = t_direct; t < t_hi; ++t) out[t] = zero_value<V>() * s.scale;
      for (int64_t t = t_hi; t < g.length; ++t) general(t);
    }
  });
}

}  // namespace cpu
}  // namespace kernels
}  // namespace spectro
