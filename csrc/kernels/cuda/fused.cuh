// spectro — single-kernel STFT analysis and ISTFT synthesis with the FFT inside (torch-free).
//
// fused_analysis: each block owns a tile of consecutive frames of one batch row. It loads the padded-signal span of
// the tile once (padding and envelope scaling applied on load), windows each frame into shared memory, runs the
// block FFT, and writes the spectrum straight into torch.stft's frame-major layout spec[b, n, bin].
//   real input:    an n_fft-point real FFT as an n_fft/2-point complex FFT of (even, odd) pairs plus the usual
//                  split step; modes rfft / rfft_double (interior bins x2) / rfft_full (all n_fft bins).
//   complex input: an n_fft-point complex FFT (mode fft).
// fused_synthesis: each block owns a segment of output samples. It walks the frames that overlap the segment in
// chunks: loads their spectra, runs the inverse block FFT, and overlap-adds window * frame into a shared-memory
// accumulator; then it applies the envelope scale and writes every output sample once (a gather: deterministic,
// no atomics). Only zero padding (trim / zero-extend) is folded here; the other pad modes' transposes go through the
// two-kernel path (frame_ola.cuh).
// Both are exact re-associations of the definitions in common.h with the FFT of the corresponding mode.
#pragma once

#include <cuda_runtime.h>

#include "../common.h"
#include "block_fft.cuh"

namespace spectro {
namespace kernels {
namespace cuda {

// Spectrum modes, the same vocabulary as the binding layer (see csrc/spectro.h).
enum class SpecMode : int { Rfft = 0, RfftFull = 1, Fft = 2, RfftDouble = 3, Irfft = 4, IrfftHalf = 5, IfftReal = 6, Ifft = 7 };

template <typename V>
struct FusedAnalysisParams {
  using R = typename RealOf<V>::type;
  AnalysisParams<V> a;     // a.frames is unused: the spectrum goes to `spec`
  Complex<R>* spec = nullptr;  // [batch, n_frames, bins], contiguous
  SpecMode mode = SpecMode::Rfft;
};

template <typename V>
struct FusedSynthesisParams {
  using R = typename RealOf<V>::type;
  SynthesisParams<V> s;           // s.frames is unused: frames come from `spec`
  const Complex<R>* spec = nullptr;  // element (b, bin, n) at spec[b * stride_b + bin * stride_bin + n * stride_n]
  int64_t stride_b = 0, stride_bin = 0, stride_n = 0;
  SpecMode mode = SpecMode::Irfft;
};

namespace detail {

SPECTRO_HD int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
SPECTRO_HD int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

template <typename V> struct IsComplex { static constexpr bool value = false; };
template <typename R> struct IsComplex<Complex<R>> { static constexpr bool value = true; };

template <typename R>
__device__ __forceinline__ Complex<R> as_complex(R v) { return {v, R(0)}; }
template <typename R>
__device__ __forceinline__ Complex<R> as_complex(Complex<R> v) { return v; }

// Length of the complex FFT a mode needs: half of n_fft for real signals, n_fft for complex ones.
SPECTRO_HD int64_t fft_length(bool complex_signal, int64_t n_fft) { return complex_signal ? n_fft : n_fft / 2; }

template <typename V>
__global__ void fused_analysis_kernel(FusedAnalysisParams<V> p, int frames_per_tile, int64_t tiles_per_row,
                                      fft::Plan plan) {
  using R = typename RealOf<V>::type;
  using Cx = Complex<R>;
  constexpr bool kComplex = IsComplex<V>::value;
  const AnalysisParams<V>& a = p.a;
  const Geometry& g = a.g;
  const int n_fft = static_cast<int>(g.n_fft);
  const int hop = static_cast<int>(g.hop);
  const int m = static_cast<int>(fft_length(kComplex, g.n_fft));

  const int64_t b = blockIdx.x / tiles_per_row;
  const int64_t n0 = (blockIdx.x % tiles_per_row) * frames_per_tile;
  const int count = static_cast<int>(min64(frames_per_tile, g.n_frames - n0));
  const int span = (count - 1) * hop + n_fft;

  extern __shared__ __align__(16) unsigned char smem_raw[];
  Cx* buf = reinterpret_cast<Cx*>(smem_raw);
  Cx* scratch = buf + static_cast<int64_t>(frames_per_tile) * m;
  V* sig = reinterpret_cast<V*>(scratch + static_cast<int64_t>(frames_per_tile) * m);

  // 1. The tile's padded span, read once: sig[i] = x[src(p)] * h(p) * scale.
  const int64_t base = n0 * g.hop;
  const V* x = a.x + b * g.length;
  for (int i = threadIdx.x; i < span; i += blockDim.x) {
    const int64_t pos = base + i;
    const int64_t src = pad_source(pos, g);
    sig[i] = src < 0 ? zero_value<V>() : x[src] * (a.scale * envelope_scale(a.window, pos, g));
  }
  __syncthreads();

  // 2. Windowed frames, packed for the FFT.
  for (int e = threadIdx.x; e < count * m; e += blockDim.x) {
    const int f = e / m, j = e - f * m;
    const V* s = sig + f * hop;
    if constexpr (kComplex) {
      buf[e] = as_complex(s[j] * a.window[j]);
    } else {
      buf[e] = Cx{s[2 * j] * a.window[2 * j], s[2 * j + 1] * a.window[2 * j + 1]};
    }
  }
  __syncthreads();

  // 3. FFT (forward).
  const Cx* z = fft::block_fft<-1, R>(buf, scratch, m, count, plan);

  // 4. Spectrum, written frame-major (coalesced along bins).
  const int bins = (p.mode == SpecMode::Rfft || p.mode == SpecMode::RfftDouble) ? n_fft / 2 + 1 : n_fft;
  Cx* out = p.spec + (b * g.n_frames + n0) * bins;
  if constexpr (kComplex) {
    for (int e = threadIdx.x; e < count * m; e += blockDim.x) out[e] = z[e];
  } else {
    // Split step: X[k] = (Z[k] + conj Z[m-k]) / 2 - i/2 exp(-2 pi i k / n_fft) (Z[k] - conj Z[m-k]), k = 0..m.
    for (int e = threadIdx.x; e < count * (m + 1); e += blockDim.x) {
      const int f = e / (m + 1), k = e - f * (m + 1);
      const Cx zk = z[f * m + (k == m ? 0 : k)];
      const Cx zc = fft::cconj(z[f * m + (k == 0 ? 0 : m - k)]);
      const Cx even = fft::cscale(fft::cadd(zk, zc), R(0.5));
      const Cx odd = fft::cmul(fft::expi_pi<R>(-2 * k, n_fft), fft::cscale(fft::csub(zk, zc), R(0.5)));
      Cx xk = {even.re + odd.im, even.im - odd.re};  // even - i * odd
      Cx* row = out + static_cast<int64_t>(f) * bins;
      if (p.mode == SpecMode::RfftDouble && k > 0 && 2 * k < n_fft) xk = fft::cscale(xk, R(2));
      row[k] = xk;
      if (p.mode == SpecMode::RfftFull && k > 0 && k < m) row[n_fft - k] = fft::cconj(xk);
    }
  }
}

template <typename V>
__global__ void fused_synthesis_kernel(FusedSynthesisParams<V> p, int segment, int frames_per_chunk, fft::Plan plan) {
  using R = typename RealOf<V>::type;
  using Cx = Complex<R>;
  constexpr bool kComplex = IsComplex<V>::value;  // complex output (mode ifft)
  const SynthesisParams<V>& s = p.s;
  const Geometry& g = s.g;
  const int n_fft = static_cast<int>(g.n_fft);
  const bool real_fft = p.mode == SpecMode::Irfft || p.mode == SpecMode::IrfftHalf;
  const int m = static_cast<int>(fft_length(!real_fft, g.n_fft));

  const int64_t segments_per_row = (g.length + segment - 1) / segment;
  const int64_t b = blockIdx.x / segments_per_row;
  const int64_t t0 = (blockIdx.x % segments_per_row) * segment;
  const int len = static_cast<int>(min64(segment, g.length - t0));
  const int64_t p0 = t0 + g.pad;                 // padded position of the segment's first sample
  const int64_t span = g.span();

  extern __shared__ __align__(16) unsigned char smem_raw[];
  Cx* buf = reinterpret_cast<Cx*>(smem_raw);
  Cx* scratch = buf + static_cast<int64_t>(frames_per_chunk) * m;
  V* acc = reinterpret_cast<V*>(scratch + static_cast<int64_t>(frames_per_chunk) * m);

  for (int i = threadIdx.x; i < len; i += blockDim.x) acc[i] = zero_value<V>();

  // Frames that overlap padded positions [p0, p0 + len) within [0, span).
  int64_t first = 0, last = -1;
  if (p0 < span) {
    first = first_frame(p0, g);
    last = last_frame(min64(p0 + len, span) - 1, g);
  }
  const Cx* spec = p.spec + b * p.stride_b;
  for (int64_t c0 = first; c0 <= last; c0 += frames_per_chunk) {
    const int count = static_cast<int>(min64(frames_per_chunk, last - c0 + 1));
    __syncthreads();  // the previous chunk's frames have been consumed
    // 1. Spectra -> FFT input.
    if (real_fft) {
      // Inverse split step (Hermitian c2r; imaginary parts of DC and Nyquist ignored, as cuFFT / pocketfft do):
      // Z[k] = (X[k] + conj X[m-k]) + i exp(2 pi i k / n_fft) (X[k] - conj X[m-k]), k = 0..m-1.
      const R half_weight = p.mode == SpecMode::IrfftHalf ? R(0.5) : R(1);
      for (int e = threadIdx.x; e < count * m; e += blockDim.x) {
        const int f = e / m, k = e - f * m;
        const Cx* col = spec + (c0 + f) * p.stride_n;
        Cx xk = col[k * p.stride_bin];
        Cx xc = col[(m - k) * p.stride_bin];
        if (k == 0) { xk.im = R(0); xc.im = R(0); }  // DC and Nyquist
        else { xk = fft::cscale(xk, half_weight); xc = fft::cscale(xc, half_weight); }
        xc = fft::cconj(xc);
        const Cx sum = fft::cadd(xk, xc);
        const Cx dif = fft::cmul(fft::expi_pi<R>(2 * k, n_fft), fft::csub(xk, xc));
        buf[e] = Cx{sum.re - dif.im, sum.im + dif.re};  // sum + i * dif
      }
    } else {
      for (int e = threadIdx.x; e < count * m; e += blockDim.x) {
        const int f = e / m, k = e - f * m;
        buf[e] = spec[(c0 + f) * p.stride_n + k * p.stride_bin];
      }
    }
    __syncthreads();
    // 2. Inverse FFT (unnormalised).
    const Cx* z = fft::block_fft<1, R>(buf, scratch, m, count, plan);
    // 3. Overlap-add of window * frame into the segment (each thread owns positions: no races, fixed order).
    for (int i = threadIdx.x; i < len; i += blockDim.x) {
      const int64_t pos = p0 + i;
      if (pos >= span) continue;
      const int64_t lo = max64(first_frame(pos, g), c0);
      const int64_t hi = min64(last_frame(pos, g), c0 + count - 1);
      V v = acc[i];
      for (int64_t n = lo; n <= hi; ++n) {
        const int k = static_cast<int>(pos - n * g.hop);
        const Cx* zf = z + (n - c0) * m;
        if constexpr (kComplex) {
          v += zf[k] * s.window[k];
        } else if (real_fft) {
          const Cx pair = zf[k >> 1];
          v += ((k & 1) ? pair.im : pair.re) * s.window[k];
        } else {
          v += zf[k].re * s.window[k];  // ifft_real
        }
      }
      acc[i] = v;
    }
  }
  __syncthreads();
  // 4. Envelope, scale, write each sample once.
  V* out = s.out + b * g.length + t0;
  for (int i = threadIdx.x; i < len; i += blockDim.x) {
    const int64_t pos = p0 + i;
    out[i] = pos < span ? acc[i] * (envelope_scale(s.window, pos, g) * s.scale) : zero_value<V>();
  }
}

}  // namespace detail

constexpr int kFusedThreads = 256;
// Shared memory a fused block may take: the budget the launchers size tiles for, and the hard cap (H100/H200 allow
// 227 KB per block after opting in).
constexpr int64_t kFusedSmemBudget = 96 * 1024;
constexpr int64_t kFusedSmemMax = 200 * 1024;

// Whether the fused kernels handle this size for value type V: real FFTs need an even n_fft whose half factors into
// 2, 3, 5, complex ones n_fft itself; and one frame's FFT buffers plus its signal span must fit in shared memory.
template <typename V>
bool fused_supported(int64_t n_fft, bool complex_fft) {
  using R = typename RealOf<V>::type;
  if (n_fft < 2 || n_fft > 16384) return false;
  if (!complex_fft && n_fft % 2 != 0) return false;
  const int64_t m = detail::fft_length(complex_fft, n_fft);
  fft::Plan plan;
  if (!fft::make_plan(m, &plan)) return false;
  return 2 * m * static_cast<int64_t>(sizeof(Complex<R>)) + n_fft * static_cast<int64_t>(sizeof(V)) <= kFusedSmemMax;
}

template <typename V>
cudaError_t launch_fused_analysis(const FusedAnalysisParams<V>& p, cudaStream_t stream) {
  using R = typename RealOf<V>::type;
  constexpr bool kComplex = detail::IsComplex<V>::value;
  const Geometry& g = p.a.g;
  if (p.a.batch == 0 || g.n_frames == 0) return cudaSuccess;
  if (!fused_supported<V>(g.n_fft, kComplex)) return cudaErrorInvalidValue;
  fft::Plan plan;
  const int64_t m = detail::fft_length(kComplex, g.n_fft);
  fft::make_plan(m, &plan);
  // Frames per tile: ~2048 complex values per FFT buffer, at least one frame, within the shared-memory budget.
  auto bytes_for = [&](int64_t f) {
    return 2 * f * m * static_cast<int64_t>(sizeof(Complex<R>)) + ((f - 1) * g.hop + g.n_fft) * static_cast<int64_t>(sizeof(V));
  };
  int64_t frames = detail::max64(1, 2048 / m);
  frames = detail::min64(frames, g.n_frames);
  while (frames > 1 && bytes_for(frames) > kFusedSmemBudget) --frames;
  const int64_t smem = bytes_for(frames);
  if (smem > kFusedSmemMax) return cudaErrorInvalidValue;
  const int64_t tiles = (g.n_frames + frames - 1) / frames;
  const int64_t blocks = p.a.batch * tiles;
  if (blocks > 0x7fffffff) return cudaErrorInvalidConfiguration;
  auto kernel = detail::fused_analysis_kernel<V>;
  if (smem > 48 * 1024) {
    const cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
    if (err != cudaSuccess) return err;
  }
  kernel<<<static_cast<unsigned>(blocks), kFusedThreads, smem, stream>>>(p, static_cast<int>(frames), tiles, plan);
  return cudaGetLastError();
}

template <typename V>
cudaError_t launch_fused_synthesis(const FusedSynthesisParams<V>& p, cudaStream_t stream) {
  using R = typename RealOf<V>::type;
  const Geometry& g = p.s.g;
  if (p.s.batch == 0 || g.length == 0) return cudaSuccess;
  if (g.mode != PadMode::Constant) return cudaErrorInvalidValue;
  const bool complex_fft = !(p.mode == SpecMode::Irfft || p.mode == SpecMode::IrfftHalf);
  if (complex_fft != (p.mode == SpecMode::Ifft || p.mode == SpecMode::IfftReal)) return cudaErrorInvalidValue;
  if (!fused_supported<V>(g.n_fft, complex_fft)) return cudaErrorInvalidValue;
  fft::Plan plan;
  const int64_t m = detail::fft_length(complex_fft, g.n_fft);
  fft::make_plan(m, &plan);
  // Segment: a multiple of hop near 8 frames' worth of output (fewer when that would leave SMs idle), so that the
  // frames re-transformed at segment edges stay a small fraction.
  const int64_t rows = p.s.batch;
  int64_t segment = detail::max64(g.hop, detail::min64(8192, 4 * g.n_fft) / g.hop * g.hop);
  while (segment > g.hop && rows * ((g.length + segment - 1) / segment) < 264) segment -= g.hop;
  int64_t frames = detail::max64(1, 2048 / m);
  auto bytes_for = [&](int64_t f, int64_t seg) {
    return 2 * f * m * static_cast<int64_t>(sizeof(Complex<R>)) + seg * static_cast<int64_t>(sizeof(V));
  };
  while (frames > 1 && bytes_for(frames, segment) > kFusedSmemBudget) --frames;
  while (segment > g.hop && bytes_for(frames, segment) > kFusedSmemBudget) segment -= g.hop;
  const int64_t smem = bytes_for(frames, segment);
  if (smem > kFusedSmemMax) return cudaErrorInvalidValue;
  const int64_t blocks = rows * ((g.length + segment - 1) / segment);
  if (blocks > 0x7fffffff) return cudaErrorInvalidConfiguration;
  auto kernel = detail::fused_synthesis_kernel<V>;
  if (smem > 48 * 1024) {
    const cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
    if (err != cudaSuccess) return err;
  }
  kernel<<<static_cast<unsigned>(blocks), kFusedThreads, smem, stream>>>(p, static_cast<int>(segment), static_cast<int>(frames), plan);
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
