// spectro — CUDA analysis (pad + frame + window) and synthesis (window + overlap-add + envelope + fold/trim)
// kernels and their launchers. Torch-free.
//
// Both maps are defined element by element in ../common.h (analysis_element, synthesis_element); every kernel here
// computes exactly those functions:
//
//   analysis   Path::Direct   one thread per frames[b, n, k], calling analysis_element.
//              Path::Tiled    one block per tile = (batch row b, F consecutive frames, K consecutive bins; K = n_fft
//                             unless frames are too long for the shared-memory target, see plan_analysis_tiles).
//                             The padded-signal span the tile covers is loaded ONCE into shared memory (padding
//                             resolved on load), then frames are written coalesced along k, 16 bytes per thread
//                             where alignment allows. With env_normalize, h(p) comes from a per-bin coefficient
//                             table (inside the fully covered region h depends on p mod hop only) or, for the few
//                             tiles near the ends of a row, from envelope_scale per position. The multiplication
//                             order is the reference's, x * ((scale * w[k]) * h(p)): without env_normalize the
//                             result is bit-identical to analysis_element.
//   synthesis  Path::Direct   one thread per out[b, t], calling synthesis_element.
//              Path::Tiled    the fast gather (no atomics, deterministic): each thread owns G consecutive outputs
//                             (G = 16 bytes / sizeof(V) when n_fft, hop and pad allow), which in the interior share
//                             their covering frames, so one 16-byte load per frame serves all G; the overlap-add
//                             costs one 32-bit division and an exact-trip-count loop with the envelope sum fused
//                             in; outputs near the folded edges go through for_each_preimage. Staging frames
//                             through shared memory would not reduce traffic (the gather reads each frame element
//                             exactly once), so there is no shared-memory synthesis kernel: Path::Tiled and
//                             Path::Auto both name this gather.
//
// Path::Auto takes Tiled for both maps (see resolve_analysis_path for why no geometry needs Direct).
// Every kernel uses 64-bit indexing where sizes can pass 2^31 elements (32-bit division only where a launch-uniform
// check shows the operands fit) and grid-stride loops wherever a count could pass CUDA's grid limits.
//
// This header can be included from plain C++ (the binding layer's .cpp files) for the declarations and the
// host-side planning helpers: the kernels and the launcher definitions are compiled only under nvcc. The launchers
// are instantiated once per value type in csrc/kernels/cuda/instances/frame_ola_{f32,f64,c64,c128}.cu (SPECTRO_CUDA_INSTANTIATE_FRAME_OLA);
// the `extern template` declarations at the bottom stop every other translation unit from instantiating them.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "../common.h"

namespace spectro {
namespace kernels {
namespace cuda {

enum class Path : int { Auto = 0, Tiled = 1, Direct = 2 };

// ---------------------------------------------------------------------------------------------------------------
// Tiled-analysis planning and path selection (host-side, no CUDA calls; usable from plain C++).
// ---------------------------------------------------------------------------------------------------------------

// Preferred shared memory of one tiled-analysis block. Hopper's 228 KB per SM then hold 8 such blocks, more than
// the registers allow (the kernel uses 40-64 registers: 4 to 6 blocks of 256 threads), so several blocks per SM
// overlap one's load phase with the others' stores; and it stays far under the 48 KB a block may use without a
// (per-device, per-kernel) opt-in through cudaFuncSetAttribute, which therefore is never needed.
constexpr int64_t kAnalysisSmemTarget = 24 * 1024;
// Cap on the frames elements one tile writes: past this, larger tiles add no reuse, only tail imbalance.
constexpr int64_t kAnalysisTileMaxOutputs = 64 * 1024;
// Tiles the planner aims for per SM before it lets tiles grow (small problems still fill the machine).
constexpr int64_t kAnalysisTilesPerSm = 4;

// How the tiled analysis cuts frames[b] into tiles of F consecutive frames times K consecutive bins. K == n_fft
// unless one frame's span does not fit the shared-memory target; then the bins are split into tiles_k chunks of K
// (a multiple of 16, so 16-byte accesses stay aligned), the last chunk possibly shorter.
struct AnalysisTilePlan {
  int64_t frames_per_tile = 0;  // F
  int64_t bins_per_tile = 0;    // K
  int64_t tiles_n = 0;          // ceil(n_frames / F)
  int64_t tiles_k = 0;          // ceil(n_fft / K)
  int64_t max_span = 0;         // padded positions one tile loads, at most: (F - 1) * hop + K
  int64_t smem_bytes = 0;       // dynamic shared memory per block
};

// Shared memory of one tiled-analysis block for spans up to `span` positions and chunks up to K bins: the signal
// values; with env_normalize also h(p) per position (for tiles near the ends of a row) and one coefficient per bin
// (for all other tiles); each array 16-byte aligned.
template <typename V>
inline int64_t analysis_tile_smem_bytes(int64_t span, int64_t K, bool env_normalize) {
  using R = typename RealOf<V>::type;
  const auto align16 = [](int64_t bytes) { return (bytes + 15) / 16 * 16; };
  const int64_t values = align16(span * static_cast<int64_t>(sizeof(V)));
  if (!env_normalize) return values;
  return values + align16(span * static_cast<int64_t>(sizeof(R))) + K * static_cast<int64_t>(sizeof(R));
}

// The tile plan of a valid, non-empty geometry (n_fft, n_frames, batch, hop >= 1). `sm_count` <= 0 skips the
// occupancy shaping. smem_bytes <= kAnalysisSmemTarget + 32 always.
template <typename V>
inline AnalysisTilePlan plan_analysis_tiles(const Geometry& g, int64_t batch, int64_t sm_count) {
  using R = typename RealOf<V>::type;
  // Bytes per padded position of the span (the per-bin coefficients are counted as one more R per position: a
  // chunk never has more bins than its span has positions).
  const int64_t bytes_per_pos = static_cast<int64_t>(sizeof(V) + (g.env_normalize ? 2 * sizeof(R) : 0));
  const int64_t positions = (kAnalysisSmemTarget - 32) / bytes_per_pos;  // >= 767
  AnalysisTilePlan t;
  if (g.n_fft <= positions) {
    t.bins_per_tile = g.n_fft;
  } else {
    const int64_t cap = positions / 16 * 16;
    const int64_t chunks = (g.n_fft + cap - 1) / cap;
    t.bins_per_tile = ((g.n_fft + chunks - 1) / chunks + 15) / 16 * 16;  // <= cap
  }
  const int64_t K = t.bins_per_tile;
  int64_t F = 1 + (positions - K) / g.hop;
  const int64_t out_cap = kAnalysisTileMaxOutputs / K;
  if (F > out_cap) F = out_cap > 1 ? out_cap : 1;
  if (F > g.n_frames) F = g.n_frames;
  t.tiles_k = (g.n_fft + K - 1) / K;
  if (sm_count > 0) {
    // Prefer kAnalysisTilesPerSm tiles per SM over large tiles when the problem is small.
    const int64_t per_tile_row = batch * t.tiles_k;
    const int64_t want_tiles_n = (kAnalysisTilesPerSm * sm_count + per_tile_row - 1) / per_tile_row;
    const int64_t f_small = (g.n_frames + want_tiles_n - 1) / want_tiles_n;
    if (f_small < F) F = f_small > 1 ? f_small : 1;
  }
  t.frames_per_tile = F;
  t.tiles_n = (g.n_frames + F - 1) / F;
  t.max_span = (F - 1) * g.hop + K;
  t.smem_bytes = analysis_tile_smem_bytes<V>(t.max_span, K, g.env_normalize);
  return t;
}

// The analysis kernel launch_analysis takes for `requested`: Direct for Direct, Tiled for Tiled and Auto. Since
// long frames are split into bin chunks, every geometry tiles within the shared-memory target; and the tiled
// kernel was the faster one at every size measured (tests/kernels/test_frame_ola.cu --bench: n_fft 64..16384,
// hop n_fft / 4 and hop >= n_fft, env_normalize on and off, all four value types).
template <typename V>
inline Path resolve_analysis_path(const AnalysisParams<V>& a, Path requested) {
  (void)a;
  return requested == Path::Direct ? Path::Direct : Path::Tiled;
}

// The synthesis kernel launch_synthesis takes: Direct for Direct, the fast gather (reported as Tiled) otherwise.
inline Path resolve_synthesis_path(Path requested) {
  return requested == Path::Direct ? Path::Direct : Path::Tiled;
}

// ---------------------------------------------------------------------------------------------------------------
// Launchers. All pointers are device pointers to contiguous tensors (see AnalysisParams / SynthesisParams).
// They return cudaSuccess without launching anything when there is nothing to write (batch, n_frames or n_fft 0
// for analysis; batch or length 0 for synthesis); cudaErrorInvalidValue for a geometry outside common.h's contract
// (negative sizes, hop < 1, or analysis padding whose source would fall outside the signal: Reflect needs
// pad < T, Circular pad <= T, both span <= T + 2 * pad, Replicate T >= 1); else the launch's cudaGetLastError().
// Asynchronous on `stream`; deterministic.
// ---------------------------------------------------------------------------------------------------------------
template <typename V>
cudaError_t launch_analysis(const AnalysisParams<V>& a, Path path, cudaStream_t stream);
template <typename V>
cudaError_t launch_synthesis(const SynthesisParams<V>& s, Path path, cudaStream_t stream);

#if defined(__CUDACC__)

namespace detail {

constexpr int kThreads = 256;           // threads per block, every kernel
constexpr int64_t kMaxGridX = 1 << 20;  // cap on grid.x for grid-stride kernels (CUDA's limit is 2^31 - 1)
constexpr int64_t kMaxGridY = 65535;    // CUDA's limit on grid.y
constexpr int kLoadUnroll = 4;          // independent global loads in flight per thread in a tile load
constexpr int64_t kU32Max = 0xffffffffLL;

// a / d for 0 <= a, 0 < d; in 32-bit unsigned arithmetic (a fraction of the cost of 64-bit division) when the
// caller knows both operands fit (`narrow`, uniform over the launch).
__device__ __forceinline__ int64_t div_nonneg(int64_t a, int64_t d, bool narrow) {
  return narrow ? static_cast<int64_t>(static_cast<uint32_t>(a) / static_cast<uint32_t>(d)) : a / d;
}

// Values of type V per 16-byte access (1 for Complex<double>, which already is 16 bytes).
template <typename V>
constexpr int vec_width() {
  return sizeof(V) >= 16 ? 1 : static_cast<int>(16 / sizeof(V));
}

// VEC consecutive values loaded or stored as one access (VEC > 1: one 16-byte access, `p` 16-byte aligned).
template <typename V, int VEC>
struct Lanes;

template <typename V>
struct Lanes<V, 1> {
  static __device__ __forceinline__ void load(const V* p, V (&v)[1]) { v[0] = *p; }
  static __device__ __forceinline__ void store(V* p, const V (&v)[1]) { *p = v[0]; }
};

template <>
struct Lanes<float, 4> {
  static __device__ __forceinline__ void load(const float* p, float (&v)[4]) {
    const float4 q = *reinterpret_cast<const float4*>(p);
    v[0] = q.x; v[1] = q.y; v[2] = q.z; v[3] = q.w;
  }
  static __device__ __forceinline__ void store(float* p, const float (&v)[4]) {
    *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
  }
};

template <>
struct Lanes<float, 2> {
  static __device__ __forceinline__ void load(const float* p, float (&v)[2]) {
    const float2 q = *reinterpret_cast<const float2*>(p);
    v[0] = q.x; v[1] = q.y;
  }
  static __device__ __forceinline__ void store(float* p, const float (&v)[2]) {
    *reinterpret_cast<float2*>(p) = make_float2(v[0], v[1]);
  }
};

template <>
struct Lanes<double, 2> {
  static __device__ __forceinline__ void load(const double* p, double (&v)[2]) {
    const double2 q = *reinterpret_cast<const double2*>(p);
    v[0] = q.x; v[1] = q.y;
  }
  static __device__ __forceinline__ void store(double* p, const double (&v)[2]) {
    *reinterpret_cast<double2*>(p) = make_double2(v[0], v[1]);
  }
};

template <>
struct Lanes<Complex<float>, 2> {
  static __device__ __forceinline__ void load(const Complex<float>* p, Complex<float> (&v)[2]) {
    const float4 q = *reinterpret_cast<const float4*>(p);
    v[0] = {q.x, q.y}; v[1] = {q.z, q.w};
  }
  static __device__ __forceinline__ void store(Complex<float>* p, const Complex<float> (&v)[2]) {
    *reinterpret_cast<float4*>(p) = make_float4(v[0].re, v[0].im, v[1].re, v[1].im);
  }
};

// ---------------------------------------------------------------------------------------------------------------
// Analysis, Direct: frames[b, n, k] = analysis_element(a, b, n, k). grid.y walks batch rows, grid.x the
// n_frames * n_fft elements of a row; both grid-stride.
// ---------------------------------------------------------------------------------------------------------------
template <typename V>
__global__ void __launch_bounds__(kThreads) analysis_direct_kernel(const AnalysisParams<V> a, const bool narrow) {
  const int64_t n_fft = a.g.n_fft;
  const int64_t row = a.g.n_frames * n_fft;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t b = blockIdx.y; b < a.batch; b += gridDim.y) {
    V* out = a.frames + b * row;
    for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < row; e += stride) {
      const int64_t n = div_nonneg(e, n_fft, narrow);
      out[e] = analysis_element(a, b, n, e - n * n_fft);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Analysis, Tiled. The grid is a multiple of tiles_k blocks; block x keeps bin chunk tk = x % tiles_k and walks
// row tiles rt = x / tiles_k, + grid / tiles_k, ... over all batch rows, so blocks launched together cover
// neighbouring bins of the same frames (the signal spans they read overlap, in L2). A tile is (batch row b, frames
// [n0, n0 + fc), bins [k0, k0 + kc)) with fc <= F, kc <= K from the AnalysisTilePlan; it reads padded positions
// [base, base + span), base = n0 * hop + k0, span = (fc - 1) * hop + kc:
//   phase 1: sx[j] = x[b, pad_source(base + j)] (0 for zero padding).
//   phase 2: frames[b, n0 + n, k0 + k] = sx[n * hop + k] * c, the reference's x * ((scale * w) * h), with
//              c = scale * w[k0 + k]                      without env_normalize,
//              c = coef[k]                                 for tiles inside the fully covered region (below),
//              c = (scale * w[k0 + k]) * sh[n * hop + k]   for the other tiles, sh[j] = envelope_scale(base + j);
//            VEC consecutive bins per thread per step, so consecutive threads write consecutive 16-byte pieces.
// Inside the fully covered region [n_fft - 1, n_frames * hop) the frames covering p, and with them h(p), depend
// on p mod hop only, and the position of bin k of any frame is k0 + k (mod hop): so all tiles of a chunk that lie
// there share coef[k] = (scale * w[k0 + k]) * h, which each block computes once per chunk.
// VEC > 1 requires (host-checked) n_fft, K and hop to be multiples of VEC and a 16-byte aligned frames pointer:
// then every shared-memory read and every global store of phase 2 is an aligned 16-byte access.
// `tile_hop` is hop when F > 1 (it then fits in int: the span fits shared memory) and 0 otherwise.
// ---------------------------------------------------------------------------------------------------------------

// h(p) for p inside the fully covered region, from the residue r = p mod hop alone: the frames covering p are all n
// with 0 <= p - n * hop < n_fft. Sums the same window values in the same order as envelope_scale(window, p, g)
// does there (k = p - n * hop descending, from the largest k = r (mod hop) below n_fft down to r), so it yields the
// same bits, with one division instead of two 64-bit ones.
template <typename R>
__device__ __forceinline__ R covered_envelope_scale(const R* __restrict__ window, int64_t r, const Geometry& g) {
  R env = R(0);
  if (r < g.n_fft) {
    const bool narrow = g.n_fft + g.hop <= kU32Max;
    for (int64_t k = r + div_nonneg(g.n_fft - 1 - r, g.hop, narrow) * g.hop; k >= r; k -= g.hop) {
      const R w = window[k];
      env += w * w;
    }
  }
  return env < R(kEnvelopeEps) ? R(0) : R(1) / env;
}

template <typename V, int VEC>
__global__ void __launch_bounds__(kThreads)
    analysis_tiled_kernel(const AnalysisParams<V> a, const int frames_per_tile, const int bins_per_tile,
                          const int tile_hop, const int max_span, const int64_t tiles_n, const int tiles_k) {
  using R = typename RealOf<V>::type;
  extern __shared__ __align__(16) unsigned char smem[];
  const Geometry& g = a.g;
  const bool env = g.env_normalize;
  const int64_t values_bytes = (static_cast<int64_t>(max_span) * sizeof(V) + 15) / 16 * 16;
  V* sx = reinterpret_cast<V*>(smem);
  R* sh = reinterpret_cast<R*>(smem + values_bytes);
  R* coef = reinterpret_cast<R*>(smem + values_bytes + (static_cast<int64_t>(max_span) * sizeof(R) + 15) / 16 * 16);
  const R* __restrict__ window = a.window;
  const R scale = a.scale;
  const int64_t row_tiles = a.batch * tiles_n;
  const int64_t covered_lo = g.n_fft - 1, covered_hi = g.n_frames * g.hop;

  const int tk = static_cast<int>(blockIdx.x % static_cast<unsigned>(tiles_k));
  const int64_t k0 = static_cast<int64_t>(tk) * bins_per_tile;
  const int64_t bins_left = g.n_fft - k0;
  const int kc = bins_left < bins_per_tile ? static_cast<int>(bins_left) : bins_per_tile;
  const R* __restrict__ wk = window + k0;
  if (env) {
    // Made visible to phase 2 by the barrier after phase 1.
    for (int k = threadIdx.x; k < kc; k += kThreads) {
      coef[k] = (scale * wk[k]) * covered_envelope_scale(window, (k0 + k) % g.hop, g);
    }
  }

  const int64_t row_stride = gridDim.x / static_cast<unsigned>(tiles_k);
  for (int64_t rt = blockIdx.x / static_cast<unsigned>(tiles_k); rt < row_tiles; rt += row_stride) {
    const int64_t b = rt / tiles_n;
    const int64_t n0 = (rt - b * tiles_n) * frames_per_tile;
    const int64_t frames_left = g.n_frames - n0;
    const int fc = frames_left < frames_per_tile ? static_cast<int>(frames_left) : frames_per_tile;
    const int span = (fc - 1) * tile_hop + kc;
    const int64_t base = n0 * g.hop + k0;
    const V* __restrict__ xb = a.x + b * g.length;

    // Phase 1: the tile's padded-signal span into shared memory, kLoadUnroll independent loads per thread in
    // flight. When the span lies inside the signal (block-uniform test) the source index is a plain offset.
    const bool interior = base >= g.pad && base + span <= g.pad + g.length;
    const V* __restrict__ src = interior ? xb + (base - g.pad) : xb;
    for (int j0 = threadIdx.x; j0 < span; j0 += kLoadUnroll * kThreads) {
      V r[kLoadUnroll];
#pragma unroll
      for (int u = 0; u < kLoadUnroll; ++u) {
        const int j = j0 + u * kThreads;
        if (j < span) {
          if (interior) {
            r[u] = src[j];
          } else {
            const int64_t i = pad_source(base + j, g);
            r[u] = i < 0 ? zero_value<V>() : xb[i];
          }
        }
      }
#pragma unroll
      for (int u = 0; u < kLoadUnroll; ++u) {
        const int j = j0 + u * kThreads;
        if (j < span) sx[j] = r[u];
      }
    }
    const bool covered = base >= covered_lo && base + span <= covered_hi;
    if (env && !covered) {
      for (int j = threadIdx.x; j < span; j += kThreads) sh[j] = envelope_scale(window, base + j, g);
    }
    __syncthreads();

    // Phase 2: thread e handles bins k = VEC * (e % nvec) + [0, VEC) of tile frame n = e / nvec; (n, kv)
    // advance incrementally by kThreads vectors per step, so there is one division per thread per tile.
    V* __restrict__ out = a.frames + (b * g.n_frames + n0) * g.n_fft + k0;
    const int nvec = kc / VEC;
    const int step_n = kThreads / nvec;
    const int step_k = kThreads - step_n * nvec;
    int n = static_cast<int>(threadIdx.x) / nvec;
    int kv = static_cast<int>(threadIdx.x) - n * nvec;
    while (n < fc) {
      const int k = kv * VEC;
      const int j = n * tile_hop + k;
      V v[VEC];
      Lanes<V, VEC>::load(sx + j, v);
      if (!env) {
#pragma unroll
        for (int u = 0; u < VEC; ++u) v[u] = v[u] * (scale * wk[k + u]);
      } else if (covered) {
#pragma unroll
        for (int u = 0; u < VEC; ++u) v[u] = v[u] * coef[k + u];
      } else {
#pragma unroll
        for (int u = 0; u < VEC; ++u) v[u] = v[u] * ((scale * wk[k + u]) * sh[j + u]);
      }
      Lanes<V, VEC>::store(out + static_cast<int64_t>(n) * g.n_fft + k, v);
      kv += step_k;
      n += step_n;
      if (kv >= nvec) {
        kv -= nvec;
        ++n;
      }
    }
    __syncthreads();  // the next tile overwrites sx / sh
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Synthesis, Direct: out[b, t] = synthesis_element(s, b, t). grid.y walks batch rows, grid.x samples.
// ---------------------------------------------------------------------------------------------------------------
template <typename V>
__global__ void __launch_bounds__(kThreads) synthesis_direct_kernel(const SynthesisParams<V> s) {
  const int64_t T = s.g.length;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t b = blockIdx.y; b < s.batch; b += gridDim.y) {
    for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < T; t += stride) {
      s.out[b * T + t] = synthesis_element(s, b, t);
    }
  }
}

// h(p) * overlap_add_at(p) for one batch row (`f` = its frames), as the reference computes it: frames n ascending
// over [first_frame(p), last_frame(p)], the envelope sum over the same frames fused into the same loop. With
// reach = (n_fft - 1) / hop, first_frame(p) is last - reach or the frame after it, so the only division is p / hop;
// the loop has an exact trip count and no branch, so the unrolled body issues its loads back to back.
template <typename V>
__device__ __forceinline__ V weighted_overlap_add(const SynthesisParams<V>& s, const V* __restrict__ f, int64_t p,
                                                  int64_t reach, bool narrow) {
  using R = typename RealOf<V>::type;
  const Geometry& g = s.g;
  const R* __restrict__ window = s.window;
  const int64_t last = div_nonneg(p, g.hop, narrow);
  int64_t n = last - reach;
  if (n < 0) {
    n = 0;
  } else if (p - n * g.hop >= g.n_fft) {
    ++n;
  }
  const int64_t hi = last < g.n_frames - 1 ? last : g.n_frames - 1;
  int64_t k = p - n * g.hop;                  // bin of p in frame n
  const V* __restrict__ fp = f + n * g.n_fft + k;  // &frames[n, k]
  const int64_t fstep = g.n_fft - g.hop;            // &frames[n, k] -> &frames[n + 1, k - hop]
  V acc = zero_value<V>();
  R env = R(0);
#pragma unroll 4
  for (; n <= hi; ++n) {
    const R w = window[k];
    acc += *fp * w;
    env += w * w;
    fp += fstep;
    k -= g.hop;
  }
  if (!g.env_normalize) return acc;
  return acc * (env < R(kEnvelopeEps) ? R(0) : R(1) / env);
}

// Synthesis, Tiled (the fast gather): out[b, t] = scale * sum over the preimages p of t of h(p) * OLA(p).
// Each thread owns G consecutive outputs [t0, t0 + G). Where all of them have the single preimage p = t + pad
// (t0 in the launch-uniform range [fast_lo, fast_hi - G]) and the launcher has checked that n_fft, hop and pad are
// multiples of G and the pointers aligned, the G positions share their covering frames and bins k..k+G-1 are
// contiguous: one 16-byte load of frames and one of the window per frame serve all G outputs, and the result is
// one 16-byte store when `aligned_out`. Every other group takes the general per-output path through
// for_each_preimage. Both compute each output with the same operations in the same order.
template <typename V, int G>
__global__ void __launch_bounds__(kThreads)
    synthesis_gather_kernel(const SynthesisParams<V> s, const int64_t reach, const bool narrow,
                            const int64_t fast_lo, const int64_t fast_hi, const bool aligned_out) {
  using R = typename RealOf<V>::type;
  const Geometry& g = s.g;
  const int64_t T = g.length;
  const int64_t groups = (T + G - 1) / G;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const R* __restrict__ window = s.window;
  for (int64_t b = blockIdx.y; b < s.batch; b += gridDim.y) {
    const V* __restrict__ f = s.frames + b * g.n_frames * g.n_fft;
    V* __restrict__ out = s.out + b * T;
    for (int64_t gi = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; gi < groups; gi += stride) {
      const int64_t t0 = gi * G;
      if (G > 1 && t0 >= fast_lo && t0 + G <= fast_hi) {
        const int64_t p0 = t0 + g.pad;
        const int64_t last = div_nonneg(p0, g.hop, narrow);
        int64_t n = last - reach;
        if (n < 0) {
          n = 0;
        } else if (p0 - n * g.hop >= g.n_fft) {
          ++n;
        }
        const int64_t hi = last < g.n_frames - 1 ? last : g.n_frames - 1;
        int64_t k = p0 - n * g.hop;
        const V* __restrict__ fp = f + n * g.n_fft + k;
        const int64_t fstep = g.n_fft - g.hop;
        V acc[G];
        R env[G];
#pragma unroll
        for (int i = 0; i < G; ++i) {
          acc[i] = zero_value<V>();
          env[i] = R(0);
        }
#pragma unroll 2
        for (; n <= hi; ++n) {
          V fv[G];
          R wv[G];
          Lanes<V, G>::load(fp, fv);
          Lanes<R, G>::load(window + k, wv);
#pragma unroll
          for (int i = 0; i < G; ++i) {
            acc[i] += fv[i] * wv[i];
            env[i] += wv[i] * wv[i];
          }
          fp += fstep;
          k -= g.hop;
        }
        V v[G];
#pragma unroll
        for (int i = 0; i < G; ++i) {
          const V o = g.env_normalize ? acc[i] * (env[i] < R(kEnvelopeEps) ? R(0) : R(1) / env[i]) : acc[i];
          v[i] = o * s.scale;
        }
        if (aligned_out) {
          Lanes<V, G>::store(out + t0, v);
        } else {
#pragma unroll
          for (int i = 0; i < G; ++i) out[t0 + i] = v[i];
        }
      } else {
#pragma unroll 1
        for (int i = 0; i < G; ++i) {
          const int64_t t = t0 + i;
          if (t >= T) break;
          V acc = zero_value<V>();
          for_each_preimage(t, g, [&](int64_t p) { acc += weighted_overlap_add(s, f, p, reach, narrow); });
          out[t] = acc * s.scale;
        }
      }
    }
  }
}

// Outputs t in [lo, hi) whose only preimage is p = t + pad (< span), per for_each_preimage's cases; the range
// may be conservative (shorter than the true set), never too long. Empty when hi <= lo.
inline void single_preimage_range(const Geometry& g, int64_t* lo_out, int64_t* hi_out) {
  const int64_t T = g.length, pad = g.pad, span = g.span();
  int64_t lo = 0, hi = T < span - pad ? T : span - pad;  // the direct preimage exists
  switch (g.mode) {
    case PadMode::Reflect: {
      lo = pad + 1;                          // no left reflection (t >= 1 && t <= pad)
      const int64_t right = pad + 2 * T - 1 - span;  // right reflection pad + 2(T-1) - t >= span
      if (right < hi) hi = right;
      break;
    }
    case PadMode::Replicate:
      lo = 1;                                // t == 0 takes the whole left padding
      if (T - 1 < hi) hi = T - 1;            // t == T - 1 the whole right padding
      break;
    case PadMode::Circular: {
      if (T - pad < hi) hi = T - pad;        // no left wrap (t >= T - pad)
      const int64_t right = span - pad - T;  // no right wrap (t + pad + T < span)
      if (right > lo) lo = right;
      break;
    }
    case PadMode::Constant:
    default:
      break;
  }
  *lo_out = lo;
  *hi_out = hi;
}

// Grid for the grid-stride kernels: x covers `count` elements of a row, y the batch rows.
inline dim3 row_grid(int64_t count, int64_t batch) {
  int64_t x = (count + kThreads - 1) / kThreads;
  if (x > kMaxGridX) x = kMaxGridX;
  if (x < 1) x = 1;
  const int64_t y = batch < kMaxGridY ? batch : kMaxGridY;
  return dim3(static_cast<unsigned>(x), static_cast<unsigned>(y), 1);
}

// Multiprocessors of the current device (0 if it cannot be read: the planner then skips occupancy shaping).
inline int current_sm_count() {
  int dev = 0, sms = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) !=
                                                cudaSuccess) {
    (void)cudaGetLastError();  // a failed query is not a launch error
    return 0;
  }
  return sms;
}

// common.h's contract for pad_source, for the modes where breaking it would read outside x.
inline bool analysis_geometry_valid(const Geometry& g) {
  const int64_t T = g.length, span = g.span();
  switch (g.mode) {
    case PadMode::Reflect:
      return g.pad < T && span <= T + 2 * g.pad;
    case PadMode::Circular:
      return g.pad <= T && span <= T + 2 * g.pad;
    case PadMode::Replicate:
      return T >= 1;
    case PadMode::Constant:
    default:
      return true;
  }
}

template <typename V, int VEC>
cudaError_t launch_analysis_tiled(const AnalysisParams<V>& a, const AnalysisTilePlan& t, int sm_count,
                                  cudaStream_t stream) {
  // Blocks per bin chunk: one per row tile (grid-stride past CUDA's grid limit), or, with env_normalize, a
  // persistent few waves of them, each computing its chunk's coefficients once for many tiles.
  const int64_t row_tiles = a.batch * t.tiles_n;
  int64_t per_chunk = row_tiles;
  const int64_t limit = 0x7fffffffLL / t.tiles_k;
  if (per_chunk > limit) per_chunk = limit;
  if (a.g.env_normalize && sm_count > 0) {
    int per_sm = 0;  // one wave of resident blocks
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, analysis_tiled_kernel<V, VEC>, kThreads,
                                                      static_cast<size_t>(t.smem_bytes)) != cudaSuccess ||
        per_sm < 1) {
      (void)cudaGetLastError();  // not this launch's error: fall back to a typical occupancy
      per_sm = 4;
    }
    int64_t persistent = static_cast<int64_t>(per_sm) * sm_count / t.tiles_k;
    if (persistent < 1) persistent = 1;
    if (persistent < per_chunk) per_chunk = persistent;
  }
  const unsigned grid = static_cast<unsigned>(per_chunk * t.tiles_k);
  analysis_tiled_kernel<V, VEC><<<grid, kThreads, static_cast<size_t>(t.smem_bytes), stream>>>(
      a, static_cast<int>(t.frames_per_tile), static_cast<int>(t.bins_per_tile),
      t.frames_per_tile > 1 ? static_cast<int>(a.g.hop) : 0, static_cast<int>(t.max_span), t.tiles_n,
      static_cast<int>(t.tiles_k));
  return cudaGetLastError();
}

}  // namespace detail

template <typename V>
cudaError_t launch_analysis(const AnalysisParams<V>& a, Path path, cudaStream_t stream) {
  const Geometry& g = a.g;
  if (a.batch < 0 || g.n_fft < 0 || g.n_frames < 0 || g.length < 0 || g.pad < 0) return cudaErrorInvalidValue;
  if (a.batch == 0 || g.n_frames == 0 || g.n_fft == 0) return cudaSuccess;  // nothing to write
  if (g.hop < 1 || !detail::analysis_geometry_valid(g)) return cudaErrorInvalidValue;

  if (resolve_analysis_path(a, path) == Path::Direct) {
    const int64_t row = g.n_frames * g.n_fft;
    detail::analysis_direct_kernel<V><<<detail::row_grid(row, a.batch), detail::kThreads, 0, stream>>>(
        a, row <= detail::kU32Max);
    return cudaGetLastError();
  }

  const int sm_count = detail::current_sm_count();
  const AnalysisTilePlan plan = plan_analysis_tiles<V>(g, a.batch, sm_count);
  constexpr int kVec = detail::vec_width<V>();
  if constexpr (kVec > 1) {
    // The 16-byte path needs every frame row, bin chunk and in-tile offset n * hop + k on a VEC boundary.
    const bool aligned = g.n_fft % kVec == 0 && plan.bins_per_tile % kVec == 0 && g.hop % kVec == 0 &&
                         reinterpret_cast<uintptr_t>(a.frames) % 16 == 0;
    if (aligned) return detail::launch_analysis_tiled<V, kVec>(a, plan, sm_count, stream);
  }
  return detail::launch_analysis_tiled<V, 1>(a, plan, sm_count, stream);
}

template <typename V>
cudaError_t launch_synthesis(const SynthesisParams<V>& s, Path path, cudaStream_t stream) {
  const Geometry& g = s.g;
  if (s.batch < 0 || g.n_fft < 0 || g.n_frames < 0 || g.length < 0 || g.pad < 0) return cudaErrorInvalidValue;
  if (s.batch == 0 || g.length == 0) return cudaSuccess;  // nothing to write
  if (g.hop < 1) return cudaErrorInvalidValue;

  if (resolve_synthesis_path(path) == Path::Direct) {
    detail::synthesis_direct_kernel<V><<<detail::row_grid(g.length, s.batch), detail::kThreads, 0, stream>>>(s);
    return cudaGetLastError();
  }
  // Every padded position a preimage can produce, and hop itself, are below pad + 2 * T + n_fft + hop * (N + 1):
  // divide in 32 bits when that fits.
  const bool narrow = g.pad + 2 * g.length + g.n_fft + g.hop * (g.n_frames + 1) <= detail::kU32Max;
  const int64_t reach = g.n_fft > 0 ? (g.n_fft - 1) / g.hop : 0;
  int64_t fast_lo = 0, fast_hi = 0;
  detail::single_preimage_range(g, &fast_lo, &fast_hi);
  using R = typename RealOf<V>::type;
  constexpr int kG = detail::vec_width<V>();
  if constexpr (kG > 1) {
    // G outputs per thread: their positions must share frames and land on G-aligned bins of aligned rows.
    const bool vectorizable = g.n_fft % kG == 0 && g.hop % kG == 0 && g.pad % kG == 0 &&
                              reinterpret_cast<uintptr_t>(s.frames) % 16 == 0 &&
                              reinterpret_cast<uintptr_t>(s.window) % (kG * sizeof(R)) == 0;
    if (vectorizable) {
      const bool aligned_out = g.length % kG == 0 && reinterpret_cast<uintptr_t>(s.out) % 16 == 0;
      detail::synthesis_gather_kernel<V, kG>
          <<<detail::row_grid((g.length + kG - 1) / kG, s.batch), detail::kThreads, 0, stream>>>(
              s, reach, narrow, fast_lo, fast_hi, aligned_out);
      return cudaGetLastError();
    }
  }
  detail::synthesis_gather_kernel<V, 1><<<detail::row_grid(g.length, s.batch), detail::kThreads, 0, stream>>>(
      s, reach, narrow, fast_lo, fast_hi, false);
  return cudaGetLastError();
}

#endif  // __CUDACC__

// One line per value type in exactly one .cu file: the explicit instantiation definitions of both launchers.
#define SPECTRO_CUDA_INSTANTIATE_FRAME_OLA(V)                                                                   \
  template cudaError_t launch_analysis<V>(const AnalysisParams<V>&, Path, cudaStream_t);                       \
  template cudaError_t launch_synthesis<V>(const SynthesisParams<V>&, Path, cudaStream_t)

// Instantiated in csrc/kernels/cuda/instances/frame_ola_{f32,f64,c64,c128}.cu; nowhere else.
extern template cudaError_t launch_analysis<float>(const AnalysisParams<float>&, Path, cudaStream_t);
extern template cudaError_t launch_analysis<double>(const AnalysisParams<double>&, Path, cudaStream_t);
extern template cudaError_t launch_analysis<Complex<float>>(const AnalysisParams<Complex<float>>&, Path,
                                                            cudaStream_t);
extern template cudaError_t launch_analysis<Complex<double>>(const AnalysisParams<Complex<double>>&, Path,
                                                             cudaStream_t);
extern template cudaError_t launch_synthesis<float>(const SynthesisParams<float>&, Path, cudaStream_t);
extern template cudaError_t launch_synthesis<double>(const SynthesisParams<double>&, Path, cudaStream_t);
extern template cudaError_t launch_synthesis<Complex<float>>(const SynthesisParams<Complex<float>>&, Path,
                                                             cudaStream_t);
extern template cudaError_t launch_synthesis<Complex<double>>(const SynthesisParams<Complex<double>>&, Path,
                                                              cudaStream_t);

}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
