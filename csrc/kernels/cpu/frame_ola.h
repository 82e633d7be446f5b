// spectro — CPU analysis (pad + frame + window) and synthesis (window + overlap-add + envelope + fold/trim) kernels,
// each fused with the FFT next to it a chunk of frames at a time. Torch-free: parallelism comes in as a callable
// `parallel_for(begin, end, grain, fn(begin, end))` and the FFT as a callable on one chunk; the backend (ops/cpu.cpp)
// backs them with at::parallel_for and ATen's FFT.
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
  if (periodic) {  // periods [lo + j * hop, lo + (j + 1) * hop) for j >= 1, copied from j = 0 (the last one cut at hi)
    const int64_t periods = (hi - lo + g.hop - 1) / g.hop;
    parallel_for(1, periods, std::max<int64_t>(1, 16384 / g.hop), [&](int64_t begin, int64_t end) {
      for (int64_t j = begin; j < end; ++j) {
        const int64_t p = lo + j * g.hop;
        std::copy(h.begin() + lo, h.begin() + lo + std::min(g.hop, hi - p), h.begin() + p);
      }
    });
  }
  return h;
}

// Rows [begin, end) of the frames (row r = b * n_frames + n), written to out (row stride n_fft; out holds row
// `begin` first). Frames that lie wholly inside the signal take a contiguous, vectorisable loop (with h from the
// envelope table when env_normalize); frames touching the padding go element by element through analysis_element.
template <typename V>
void frame_rows(const AnalysisParams<V>& a, const std::vector<typename RealOf<V>::type>& h, int64_t begin,
                int64_t end, V* out) {
  using R = typename RealOf<V>::type;
  const Geometry& g = a.g;
  const int64_t n_fft = g.n_fft;
  const R scale = a.scale;
  const R* __restrict__ window = a.window;
  for (int64_t r = begin; r < end; ++r) {
    const int64_t b = r / g.n_frames, n = r % g.n_frames;
    V* __restrict__ o = out + (r - begin) * n_fft;
    const int64_t p0 = n * g.hop;
    if (p0 >= g.pad && p0 + n_fft <= g.pad + g.length) {
      const V* __restrict__ x = a.x + b * g.length + (p0 - g.pad);
      if (h.empty()) {
        for (int64_t k = 0; k < n_fft; ++k) o[k] = x[k] * (scale * window[k]);
      } else {
        const R* __restrict__ hp = h.data() + p0;
        for (int64_t k = 0; k < n_fft; ++k) o[k] = x[k] * (scale * window[k] * hp[k]);
      }
    } else {
      for (int64_t k = 0; k < n_fft; ++k) o[k] = analysis_element(a, b, n, k);
    }
  }
}

// Rows per chunk of analysis_chunked: about kChunkBytes of frames (in a core's L2 cache with the FFT's output), and
// at most an equal share of the rows per worker so that every worker has a chunk.
constexpr int64_t kChunkBytes = 512 * 1024;
template <typename V>
int64_t chunk_rows(const Geometry& g, int64_t batch, int64_t workers) {
  const int64_t rows = batch * g.n_frames;
  const int64_t by_size = std::max<int64_t>(1, kChunkBytes / (g.n_fft * static_cast<int64_t>(sizeof(V))));
  const int64_t share = (rows + std::max<int64_t>(workers, 1) - 1) / std::max<int64_t>(workers, 1);
  return std::max<int64_t>(1, std::min(by_size, share));
}

// The analysis fused with the FFT that follows it: rows in chunks of `rows_per_chunk`, each framed into a buffer of
// the thread's own and handed to fft(begin, end, frames) while it is still in cache, so that the frames of the whole
// call are never written to memory. Chunks are split over the threads; fft is called once per chunk, from the thread
// that framed it, with frames[(r - begin) * n_fft + k] for rows r in [begin, end).
template <typename V, typename ParallelFor, typename Fft>
void analysis_chunked(const AnalysisParams<V>& a, int64_t rows_per_chunk, ParallelFor&& parallel_for, Fft&& fft) {
  const std::vector<typename RealOf<V>::type> h = envelope_table(a.window, a.g, parallel_for);
  const int64_t rows = a.batch * a.g.n_frames;
  const int64_t chunks = (rows + rows_per_chunk - 1) / rows_per_chunk;
  parallel_for(0, chunks, 1, [&](int64_t c_begin, int64_t c_end) {
    std::unique_ptr<V[]> buf(new V[static_cast<size_t>(rows_per_chunk * a.g.n_fft)]);
    for (int64_t c = c_begin; c < c_end; ++c) {
      const int64_t begin = c * rows_per_chunk, end = std::min(rows, begin + rows_per_chunk);
      frame_rows(a, h, begin, end, buf.get());
      fft(begin, end, static_cast<const V*>(buf.get()));
    }
  });
}

// The synthesis fused with the inverse FFT before it. Rows (frames; row r = b * n_frames + n) come in chunks of
// `rows_per_chunk`; ifft(begin, end, add) computes the frames of rows [begin, end) in the calling thread and hands
// them, in consecutive pieces, to add(r0, r1, frames) (frames[(r - r0) * n_fft + k] for r in [r0, r1)), which
// overlap-adds them, still in cache, into the padded positions of their batch row. Chunks of even index go first,
// then the odd ones: two chunks of the same parity are a chunk of frames apart, which spans at least n_fft positions
// (rows_per_chunk is raised to make sure), so no two threads add to the same position. Then out[b, t] = scale * sum
// over the preimage of t of h(p) * ola[b, p]: the one position t + pad away from the signal's ends (a contiguous loop
// there), for_each_preimage near them.
template <typename V, typename ParallelFor, typename Ifft>
void synthesis_chunked(const SynthesisParams<V>& s, int64_t rows_per_chunk, ParallelFor&& parallel_for,
                       Ifft&& ifft) {
  using R = typename RealOf<V>::type;
  const Geometry& g = s.g;
  const int64_t span = g.span(), n_fft = g.n_fft;
  const std::vector<R> h = envelope_table(s.window, g, parallel_for);
  const int64_t rows = s.batch * g.n_frames;
  rows_per_chunk = std::max(rows_per_chunk, (n_fft + g.hop - 1) / g.hop);
  const int64_t chunks = (rows + rows_per_chunk - 1) / rows_per_chunk;
  std::unique_ptr<V[]> ola(new V[static_cast<size_t>(s.batch * span)]);
  parallel_for(0, s.batch * span, 16384, [&](int64_t begin, int64_t end) {
    std::fill(ola.get() + begin, ola.get() + end, zero_value<V>());
  });
  const auto add = [&](int64_t r0, int64_t r1, const V* frames) {
    const R* __restrict__ window = s.window;
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / g.n_frames, n = r % g.n_frames;
      const V* __restrict__ f = frames + (r - r0) * n_fft;
      V* __restrict__ dst = ola.get() + b * span + n * g.hop;
      for (int64_t k = 0; k < n_fft; ++k) dst[k] += f[k] * window[k];
    }
  };
  for (int64_t parity = 0; parity < 2; ++parity) {
    parallel_for(0, (chunks + 1 - parity) / 2, 1, [&](int64_t i_begin, int64_t i_end) {
      for (int64_t i = i_begin; i < i_end; ++i) {
        const int64_t begin = (2 * i + parity) * rows_per_chunk;
        ifft(begin, std::min(rows, begin + rows_per_chunk), add);
      }
    });
  }
  // Signal positions whose only preimage is t + pad (every pad mode; see for_each_preimage): (pad, T - pad - 1).
  const int64_t t_lo = std::min(g.length, g.pad + 1);
  const int64_t t_hi = std::max(t_lo, g.length - g.pad - 1);
  const int64_t t_direct = std::max(t_lo, std::min(t_hi, span - g.pad));  // [t_lo, t_direct): t + pad < span
  const int64_t row_grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(g.length, 1));
  parallel_for(0, s.batch, row_grain, [&](int64_t begin, int64_t end) {
    const R scale = s.scale;
    for (int64_t b = begin; b < end; ++b) {
      const V* acc = ola.get() + b * span;
      V* __restrict__ out = s.out + b * g.length;
      auto general = [&](int64_t t) {
        V v = zero_value<V>();
        for_each_preimage(t, g, [&](int64_t p) { v += h.empty() ? acc[p] : acc[p] * h[p]; });
        out[t] = v * scale;
      };
      for (int64_t t = 0; t < t_lo; ++t) general(t);
      const V* __restrict__ src = acc + g.pad;
      if (h.empty()) {
        for (int64_t t = t_lo; t < t_direct; ++t) out[t] = src[t] * scale;
      } else {
        const R* __restrict__ hs = h.data() + g.pad;
        for (int64_t t = t_lo; t < t_direct; ++t) out[t] = src[t] * hs[t] * scale;
      }
      for (int64_t t = t_direct; t < t_hi; ++t) out[t] = zero_value<V>() * scale;
      for (int64_t t = t_hi; t < g.length; ++t) general(t);
    }
  });
}

}  // namespace cpu
}  // namespace kernels
}  // namespace spectro
