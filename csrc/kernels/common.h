// spectro — torch-free definitions shared by the CPU and CUDA kernels.
//
// The whole library rests on two linear maps that are exact transposes of each other:
//
//   analysis   frames[b, n, k] = scale * w[k] * h(p) * x[b, src(p)]          p = n*hop + k
//   synthesis  out[b, t]       = scale * sum_{p : src(p) = t} h(p) * sum_n w[p - n*hop] * frames[b, n, p - n*hop]
//
// `p` is a position in the padded signal, `src(p)` maps it back to a signal sample (or to nothing, for zero
// padding), and `h(p)` is either 1 or the reciprocal of the window envelope (sum of w^2 over the frames that cover
// p; zero where the envelope is below kEnvelopeEps). STFT is analysis followed by a forward FFT; ISTFT is an inverse
// FFT followed by synthesis. The gradient of one is the other with the same Geometry, which is why both directions
// share these definitions.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define SPECTRO_HD __host__ __device__ __forceinline__
#else
#define SPECTRO_HD inline
#endif

namespace spectro {
namespace kernels {

enum class PadMode : int32_t { Constant = 0, Reflect = 1, Replicate = 2, Circular = 3 };

// torch.istft's NOLA threshold: envelope values below it count as zero.
constexpr double kEnvelopeEps = 1e-11;

// Where frames sit relative to the signal. All sizes in elements.
struct Geometry {
  int64_t n_fft = 0;     // frame length (FFT size)
  int64_t hop = 0;       // frame step
  int64_t n_frames = 0;  // number of frames
  int64_t length = 0;    // signal length T
  int64_t pad = 0;       // signal sample i sits at padded position i + pad (pad >= 0)
  PadMode mode = PadMode::Constant;  // how padded positions outside [pad, pad + T) map onto the signal
  bool env_normalize = false;        // h(p) = 1 / envelope(p) (0 below kEnvelopeEps) instead of 1

  // Padded positions touched by some frame: [0, span()).
  SPECTRO_HD int64_t span() const { return n_fft + hop * (n_frames - 1); }
};

// Signal sample read at padded position p, or -1 for a zero. Valid for p in [0, span()) when the binding layer's
// preconditions hold: Reflect needs pad < T, Circular needs pad <= T, and span() <= T + 2 * pad.
SPECTRO_HD int64_t pad_source(int64_t p, const Geometry& g) {
  const int64_t T = g.length;
  int64_t i = p - g.pad;
  if (i >= 0 && i < T) return i;
  switch (g.mode) {
    case PadMode::Reflect:
      return i < 0 ? -i : 2 * (T - 1) - i;
    case PadMode::Replicate:
      return i < 0 ? 0 : T - 1;
    case PadMode::Circular:
      return i < 0 ? i + T : i - T;
    case PadMode::Constant:
    default:
      return -1;
  }
}

// Frames covering padded position p: n in [first, last] (empty when first > last).
SPECTRO_HD int64_t first_frame(int64_t p, const Geometry& g) {
  const int64_t q = p - g.n_fft + 1;
  const int64_t n = q <= 0 ? 0 : (q + g.hop - 1) / g.hop;
  return n;
}
SPECTRO_HD int64_t last_frame(int64_t p, const Geometry& g) {
  const int64_t n = p / g.hop;
  return n < g.n_frames - 1 ? n : g.n_frames - 1;
}

// h(p): 1, or 1 / sum_n w[p - n*hop]^2 (0 when that sum is below kEnvelopeEps).
template <typename R>
SPECTRO_HD R envelope_scale(const R* window, int64_t p, const Geometry& g) {
  if (!g.env_normalize) return R(1);
  R env = R(0);
  const int64_t hi = last_frame(p, g);
  for (int64_t n = first_frame(p, g); n <= hi; ++n) {
    const R w = window[p - n * g.hop];
    env += w * w;
  }
  return env < R(kEnvelopeEps) ? R(0) : R(1) / env;
}

// Calls f(p) for every padded position p in [0, span()) with pad_source(p) == t: the transpose of pad_source.
template <typename F>
SPECTRO_HD void for_each_preimage(int64_t t, const Geometry& g, F&& f) {
  const int64_t T = g.length, pad = g.pad, span = g.span();
  const int64_t direct = t + pad;
  if (direct < span) f(direct);
  switch (g.mode) {
    case PadMode::Reflect: {
      if (t >= 1 && t <= pad && pad - t < span) f(pad - t);    // left reflection
      const int64_t right = pad + 2 * (T - 1) - t;             // right reflection
      if (t <= T - 2 && right >= pad + T && right < span) f(right);
      break;
    }
    case PadMode::Replicate: {
      if (t == 0) {
        const int64_t end = pad < span ? pad : span;
        for (int64_t p = 0; p < end; ++p) f(p);
      }
      if (t == T - 1) {
        for (int64_t p = pad + T; p < span; ++p) f(p);
      }
      break;
    }
    case PadMode::Circular: {
      const int64_t left = t + pad - T;
      if (left >= 0 && left < pad && left < span) f(left);
      const int64_t right = t + pad + T;
      if (right < span) f(right);
      break;
    }
    case PadMode::Constant:
    default:
      break;
  }
}

// Minimal complex value for interleaved (re, im) storage, layout-compatible with std::complex / c10::complex.
template <typename R>
struct alignas(2 * sizeof(R)) Complex {
  R re, im;
};
template <typename R>
SPECTRO_HD Complex<R> operator*(Complex<R> a, R s) { return {a.re * s, a.im * s}; }
template <typename R>
SPECTRO_HD Complex<R> operator+(Complex<R> a, Complex<R> b) { return {a.re + b.re, a.im + b.im}; }
template <typename R>
SPECTRO_HD Complex<R>& operator+=(Complex<R>& a, Complex<R> b) { a.re += b.re; a.im += b.im; return a; }

// Zero of a real or complex value type.
template <typename V>
SPECTRO_HD V zero_value() { return V{}; }

// Real scalar type underlying a value type.
template <typename V> struct RealOf { using type = V; };
template <typename R> struct RealOf<Complex<R>> { using type = R; };

// Arguments of both kernels. `V` is the value type of the signal/frames (float, double, Complex<float>,
// Complex<double>); the window is always the real type R = RealOf<V>::type. All tensors contiguous.
template <typename V>
struct AnalysisParams {
  using R = typename RealOf<V>::type;
  const V* x = nullptr;       // [batch, g.length]
  const R* window = nullptr;  // [g.n_fft]
  V* frames = nullptr;        // [batch, g.n_frames, g.n_fft]
  int64_t batch = 0;
  Geometry g;
  R scale = R(1);
};

template <typename V>
struct SynthesisParams {
  using R = typename RealOf<V>::type;
  const V* frames = nullptr;  // [batch, g.n_frames, g.n_fft]
  const R* window = nullptr;  // [g.n_fft]
  V* out = nullptr;           // [batch, g.length]
  int64_t batch = 0;
  Geometry g;
  R scale = R(1);
};

// Reference definitions, one element each: the CPU kernels and the simple CUDA kernels use them directly, the
// tiled CUDA kernels must agree with them.
template <typename V>
SPECTRO_HD V analysis_element(const AnalysisParams<V>& a, int64_t b, int64_t n, int64_t k) {
  using R = typename RealOf<V>::type;
  const int64_t p = n * a.g.hop + k;
  const int64_t i = pad_source(p, a.g);
  if (i < 0) return zero_value<V>();
  const R s = a.scale * a.window[k] * envelope_scale(a.window, p, a.g);
  return a.x[b * a.g.length + i] * s;
}

// Overlap-add at padded position p (before h and scale).
template <typename V>
SPECTRO_HD V overlap_add_at(const SynthesisParams<V>& s, int64_t b, int64_t p) {
  V acc = zero_value<V>();
  const V* f = s.frames + b * s.g.n_frames * s.g.n_fft;
  const int64_t hi = last_frame(p, s.g);
  for (int64_t n = first_frame(p, s.g); n <= hi; ++n) {
    const int64_t k = p - n * s.g.hop;
    acc += f[n * s.g.n_fft + k] * s.window[k];
  }
  return acc;
}

template <typename V>
SPECTRO_HD V synthesis_element(const SynthesisParams<V>& s, int64_t b, int64_t t) {
  V acc = zero_value<V>();
  for_each_preimage(t, s.g, [&](int64_t p) {
    acc += overlap_add_at(s, b, p) * envelope_scale(s.window, p, s.g);
  });
  return acc * s.scale;
}

}  // namespace kernels
}  // namespace spectro
