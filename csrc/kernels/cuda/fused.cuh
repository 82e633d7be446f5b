// spectro — single-kernel STFT analysis and ISTFT synthesis with the FFT inside (torch-free).
//
// fused analysis: each block owns a run of consecutive frames of one batch row. Each frame is read straight from
// the signal (padding and envelope scaling applied on load), windowed, transformed in shared memory and written
// into torch.stft's frame-major layout spec[b, n, bin].
//   real input:    an n_fft-point real FFT as an n_fft/2-point complex FFT of (even, odd) pairs plus the usual
//                  split step; modes rfft / rfft_double (interior bins x2) / rfft_full (all n_fft bins).
//   complex input: an n_fft-point complex FFT (mode fft).
// fused synthesis: each block owns a segment of output samples. It walks the frames that overlap the segment: loads
// their spectra, runs the inverse FFT, and overlap-adds window * frame into a shared-memory accumulator; then it
// applies the envelope scale and writes every output sample once (a gather: deterministic, no atomics). With zero
// padding the blocks cover the signal's positions only (trim / zero-extend); with reflect / replicate / circular
// padding they also cover the padded positions outside the signal, written to a small side buffer, and a second,
// tiny kernel (FoldSide) adds those onto the samples they map to.
// Both are exact re-associations of the definitions in common.h with the FFT of the corresponding mode.
//
// Two implementations of each (block_fft.cuh's two engines):
// * Pow2Analysis / Pow2Synthesis, FFT length M = 2^L, 16 <= M <= 4096 (real n_fft 32..8192, complex 16..4096):
//   M/8 threads per frame, 8 elements per thread in registers, all index math on compile-time constants, pass
//   twiddles (and, in analysis, window and split-step twiddles) held in registers across the block's frames; frames
//   read / spectra written straight from / to global memory with coalesced 8-byte accesses, no staging. Synthesis
//   keeps a ring buffer of partial sums and writes each output sample as soon as the last frame covering it has been
//   added, so a block can own a long segment (one wave of blocks over the whole signal, few frames transformed twice
//   at segment edges); h(p) * scale comes from a per-block table indexed by p mod hop wherever the envelope is
//   periodic. Falls back to the general engine where its shared memory would not fit (long hops in double).
// * GenericAnalysis / GenericSynthesis, any M = 2^a 3^b 5^c within shared memory: tiles of frames transformed
//   together by the general engine, twiddles from a shared-memory table of the n-th roots.
//
// The kernel bodies are templates on an execution context (Ctx: thread index, block index, barrier, shared memory)
// so that tests/kernels/test_fused.cu can also run them on the host (--emulate); the launchers run them through
// DeviceExec.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_pipeline.h>
#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <type_traits>

#include "../common.h"
#include "../fft_mode.h"
#include "block_fft.cuh"

namespace spectro {
namespace kernels {
namespace cuda {


template <typename V>
struct FusedAnalysisParams {
  using R = typename RealOf<V>::type;
  AnalysisParams<V> a;     // a.frames is unused: the spectrum goes to `spec`
  Complex<R>* spec = nullptr;  // [batch, n_frames, bins], contiguous
  FftMode mode = FftMode::Rfft;
  // Single precision only (kernel_dtype "mixed"): when set, the spectrum is stored here as complex32 (each part
  // rounded once to float16, the same layout as `spec`) and `spec` is unused.
  __half2* spec_half = nullptr;
  // Single precision only: the signal in half precision, read instead of a.x (same layout) and converted to float
  // on load (exactly): float16 (x_half_bf16 false) or bfloat16 for a real signal, complex32 for a complex one.
  // (One untyped pointer: every byte of this struct is a kernel parameter, and three typed ones made the
  // power-of-two analysis spill registers.)
  const void* x_half = nullptr;
  bool x_half_bf16 = false;
};

template <typename V>
struct FusedSynthesisParams {
  using R = typename RealOf<V>::type;
  SynthesisParams<V> s;           // s.frames is unused: frames come from `spec`
  const Complex<R>* spec = nullptr;  // element (b, bin, n) at spec[b * stride_b + bin * stride_bin + n * stride_n]
  int64_t stride_b = 0, stride_bin = 0, stride_n = 0;
  FftMode mode = FftMode::Irfft;
  // Scratch [batch, fused_side_length(s.g)] for the padded positions outside the signal; required (and only used)
  // when that length is not 0 (pad modes other than Constant).
  V* side = nullptr;
  // float only, constant padding only (kernel_dtype "mixed"): when one is set, the output is stored there, each
  // sample rounded once to float16 / bfloat16, and s.out is unused.
  __half* out_half = nullptr;
  __nv_bfloat16* out_bf16 = nullptr;
  // Single precision only: a complex32 spectrum, read instead of `spec` (same strides, in elements) and converted to
  // complex64 on load (exactly).
  const __half2* spec_c32 = nullptr;
};

// Where the fused kernels store their results, by storage type Out: the compute type itself, or half precision.
template <typename Out, typename V>
SPECTRO_HD Out* output_of(const FusedAnalysisParams<V>& p) {
  if constexpr (std::is_same<Out, __half2>::value) {
    return p.spec_half;
  } else {
    return p.spec;
  }
}
template <typename Out, typename V>
SPECTRO_HD Out* output_of(const FusedSynthesisParams<V>& p) {
  if constexpr (std::is_same<Out, __half>::value) {
    return p.out_half;
  } else if constexpr (std::is_same<Out, __nv_bfloat16>::value) {
    return p.out_bf16;
  } else {
    return p.s.out;
  }
}
// Where the fused kernels read their input, by storage type In: the compute type itself, or half precision.
template <typename In, typename V>
SPECTRO_HD const In* input_of(const FusedAnalysisParams<V>& p) {
  if constexpr (std::is_same<In, V>::value) {
    return p.a.x;
  } else {
    return static_cast<const In*>(p.x_half);
  }
}
template <typename In, typename V>
SPECTRO_HD const In* input_of(const FusedSynthesisParams<V>& p) {
  if constexpr (std::is_same<In, __half2>::value) {
    return p.spec_c32;
  } else {
    return p.spec;
  }
}
// A stored input value in the compute type V (float or Complex<float> for half storage): exact.
template <typename V, typename In>
SPECTRO_HD V loaded(In v) {
  if constexpr (std::is_same<In, __half>::value) {
    return __half2float(v);
  } else if constexpr (std::is_same<In, __nv_bfloat16>::value) {
    return __bfloat162float(v);
  } else if constexpr (std::is_same<In, __half2>::value) {
    return V{__low2float(v), __high2float(v)};
  } else {
    return v;
  }
}
// Two adjacent real samples of storage type In loaded at once (one 2x-wide access): the pair type.
template <typename In> struct PairOf;
template <> struct PairOf<float> { using type = Complex<float>; };
template <> struct PairOf<double> { using type = Complex<double>; };
template <> struct PairOf<__half> { using type = __half2; };
template <> struct PairOf<__nv_bfloat16> { using type = __nv_bfloat162; };
template <typename Cx, typename P>
SPECTRO_HD Cx loaded_pair(P v) {
  if constexpr (std::is_same<P, __half2>::value || std::is_same<P, __nv_bfloat162>::value) {
    return Cx{__low2float(v), __high2float(v)};
  } else {
    return v;
  }
}

// A computed value as stored: unchanged, or rounded once to the nearest half-precision value.
template <typename Out, typename V>
SPECTRO_HD Out stored(V v) {
  if constexpr (std::is_same<Out, __half2>::value) {
    return __floats2half2_rn(v.re, v.im);
  } else if constexpr (std::is_same<Out, __half>::value) {
    return __float2half_rn(v);
  } else if constexpr (std::is_same<Out, __nv_bfloat16>::value) {
    return __float2bfloat16_rn(v);
  } else {
    return v;
  }
}

// The padded positions a fused synthesis computes, [synthesis_lo, synthesis_hi). Zero padding: the signal's own
// positions [pad, pad + T) (the padding is trimmed, or zeros appended past the span). Other pad modes: also the
// positions outside the signal, [0, pad) and [pad + T, span), whose values go to the side buffer; fold_side then adds
// each onto the sample its position reads (pad_source): the transpose of reflect / replicate / circular padding.
SPECTRO_HD int64_t synthesis_lo(const Geometry& g) { return g.mode == PadMode::Constant ? g.pad : 0; }
SPECTRO_HD int64_t synthesis_hi(const Geometry& g) {
  const int64_t end = g.pad + g.length, span = g.span();
  return g.mode == PadMode::Constant || end >= span ? end : span;
}
// Length of one row of the side buffer: [0, pad) then [pad + T, span).
SPECTRO_HD int64_t fused_side_length(const Geometry& g) {
  if (g.mode == PadMode::Constant) return 0;
  const int64_t right = g.span() - g.pad - g.length;
  return g.pad + (right > 0 ? right : 0);
}

// Launch-shape knobs for tests and benchmarks (0 = the launchers' defaults). Not thread-safe; leave alone in
// production.
struct FusedTuning {
  int waves = 0;          // power-of-two engine: blocks ~ waves * (resident blocks per SM * SMs)
  int rounds = 0;         // power-of-two analysis: rounds (of kRound frames) per block, overrides waves
  int segment_hops = 0;   // power-of-two synthesis: segment length in hops, overrides waves
  int force_general = 0;  // 1: the general engine even where the power-of-two one applies
  int scalar_ola = 0;     // 1: the power-of-two synthesis adds and stores one position at a time (no packs)
};
inline FusedTuning& fused_tuning() {
  static FusedTuning t;
  return t;
}

// Block size of the power-of-two engine (at least M/8 threads, one per 8 elements of a frame) and the minimum
// resident blocks per SM its kernels are compiled for (register cap); build-time knobs for experiments.
// 128 threads x 4 blocks (the register cap of 2 x 256, the same 16 warps per SM) measured 5-20% faster than 256 x 2
// on an H200 (benchmarks/fused_variants.sh): barriers span fewer warps.
#ifndef SPECTRO_FUSED_THREADS
#define SPECTRO_FUSED_THREADS 128
#endif
#ifndef SPECTRO_FUSED_MIN_BLOCKS
#define SPECTRO_FUSED_MIN_BLOCKS 4
#endif
// Resident blocks per SM the power-of-two synthesis is compiled for (its own register cap).
#ifndef SPECTRO_FUSED_SYNTHESIS_MIN_BLOCKS
#define SPECTRO_FUSED_SYNTHESIS_MIN_BLOCKS SPECTRO_FUSED_MIN_BLOCKS
#endif
// 1: the power-of-two analysis loads the next round's frame before the current round's FFT (software pipelining).
#ifndef SPECTRO_FUSED_PREFETCH
#define SPECTRO_FUSED_PREFETCH 1
#endif

namespace detail {

SPECTRO_HD int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
SPECTRO_HD int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
SPECTRO_HD int mini(int a, int b) { return a < b ? a : b; }

template <typename V> struct IsComplex { static constexpr bool value = false; };
template <typename R> struct IsComplex<Complex<R>> { static constexpr bool value = true; };

template <typename R>
SPECTRO_HD Complex<R> as_complex(R v) { return {v, R(0)}; }
template <typename R>
SPECTRO_HD Complex<R> as_complex(Complex<R> v) { return v; }

// Length of the complex FFT a mode needs: half of n_fft for real signals, n_fft for complex ones.
SPECTRO_HD int64_t fft_length(bool complex_signal, int64_t n_fft) { return complex_signal ? n_fft : n_fft / 2; }

// log2 of a power of two, else -1.
inline int log2_exact(int64_t m) {
  if (m < 1 || (m & (m - 1)) != 0) return -1;
  int l = 0;
  while ((int64_t{1} << l) < m) ++l;
  return l;
}

// Hop arithmetic of the synthesis gathers. For a position `rel` >= 0 samples after the start of frame 0 of a run,
// frames f = lo..hi of the run cover it (frame f covers rel - f * hop in [0, n_fft)): with rel = q hop + r and
// n_fft = a hop + b, hi = q and lo = q - a + 1 - (r < b) (both before clipping to the run). One division.
struct HopMath {
  fft::SmallDiv hop;
  int a = 0, b = 0;
  HopMath() = default;
  SPECTRO_HD HopMath(int hop_, int n_fft) : hop(hop_), a(n_fft / hop_), b(n_fft - (n_fft / hop_) * hop_) {}
  // Frames lo..hi (clipped to [0, f_max]) covering rel; *r = rel mod hop.
  SPECTRO_HD void covering(int rel, int f_max, int* lo, int* hi, int* r) const {
    const int q = hop.div(rel);
    *r = rel - q * hop.d;
    *hi = mini(q, f_max);
    const int l = q - a + 1 - (*r < b ? 1 : 0);
    *lo = l > 0 ? l : 0;
  }
};

// Sixteen bytes of consecutive reals (4 float or 2 double), loaded or stored with one 16-byte access. The address
// must be 16-byte aligned; the host emulation checks it (a misaligned access would fault on the device).
template <typename R>
struct alignas(16) Pack16 {
  static constexpr int kN = static_cast<int>(16 / sizeof(R));
  R v[kN];
};
SPECTRO_HD void check_aligned16(const void* ptr) {
#ifndef __CUDA_ARCH__
  if ((reinterpret_cast<uintptr_t>(ptr) & 15) != 0) {
    std::fprintf(stderr, "spectro: misaligned 16-byte access at %p\n", ptr);
    std::abort();
  }
#else
  (void)ptr;
#endif
}
template <typename R>
SPECTRO_HD Pack16<R> load16(const R* ptr) {
  check_aligned16(ptr);
  return *reinterpret_cast<const Pack16<R>*>(ptr);
}
template <typename R>
SPECTRO_HD void store16(R* ptr, const Pack16<R>& v) {
  check_aligned16(ptr);
  *reinterpret_cast<Pack16<R>*>(ptr) = v;
}

// h(p) of common.h from the window (shared or global memory): frames first..first+f_max of the row, `relf` =
// p - first*hop (first = first_frame(p') for some p' <= p). Same summation order as envelope_scale.
template <typename R>
SPECTRO_HD R envelope_scale_rel(const R* win, int relf, const HopMath& hm, int f_max) {
  int lo, hi, r;
  hm.covering(relf, f_max, &lo, &hi, &r);
  R env = R(0);
  for (int f = lo; f <= hi; ++f) {
    const R w = win[relf - f * hm.hop.d];
    env += w * w;
  }
  return env < R(kEnvelopeEps) ? R(0) : R(1) / env;
}

// Output scale h(p) * scale for the positions p every frame of whose residue class is present (n_fft - hop <= p <
// n_frames * hop): there h depends on p mod hop only. table[r], r < hop, summed in envelope_scale's order (frames
// ascending = k descending). Called by the whole block (no barrier).
template <typename R>
SPECTRO_HD R periodic_envelope_scale(const R* win, int n_fft, int hop, int r) {
  R env = R(0);
  if (r < n_fft) {
    for (int k = r + ((n_fft - 1 - r) / hop) * hop; k >= r; k -= hop) env += win[k] * win[k];
  }
  return env < R(kEnvelopeEps) ? R(0) : R(1) / env;
}
template <typename R>
SPECTRO_HD void build_scale_table(const R* win, int n_fft, int hop, bool env_normalize, R scale, R* table, int tid,
                                  int nthreads) {
  for (int r = tid; r < hop; r += nthreads) {
    const R h = env_normalize ? periodic_envelope_scale(win, n_fft, hop, r) : R(1);
    table[r] = h * scale;
  }
}

// Element e (padded position pos) of a frame, windowed: x[src(pos)] * (scale * w[e] * h(pos)), as analysis_element;
// ws = scale * w[e]. Only frames that reach into the padding, or into the ends where the envelope is not periodic,
// come here.
template <typename V, typename In, typename R>
SPECTRO_HD V padded_sample(const In* xrow, const R* window, int64_t pos, R ws, const Geometry& g) {
  const int64_t src = pad_source(pos, g);
  if (src < 0) return zero_value<V>();
  return loaded<V>(xrow[src]) * (ws * envelope_scale(window, pos, g));
}

// Where a synthesis block stores the value of padded position p0 + i of its segment: the output sample t = p - pad
// when 0 <= t < T (as Out), else the row's side buffer (left part at p, right part at p - T). One pointer in
// registers; the rest is re-read from the kernel parameters on the (edge-only) slow path.
template <typename V, typename Out>
struct SynthesisOut {
  Out* direct;  // output row + (p0 - pad) when the whole segment lies inside the signal, else null
  SPECTRO_HD SynthesisOut(const FusedSynthesisParams<V>& p, int64_t b, int64_t p0, int len) {
    const int64_t t0 = p0 - p.s.g.pad;
    direct = t0 >= 0 && t0 + len <= p.s.g.length ? output_of<Out>(p) + b * p.s.g.length + t0 : nullptr;
  }
  SPECTRO_HD void put(const FusedSynthesisParams<V>& p, int64_t b, int64_t p0, int i, V v) const {
    if (direct != nullptr) {
      direct[i] = stored<Out>(v);
    } else {
      put_edge(output_of<Out>(p), p.side, p.s.g.length, p.s.g.pad, fused_side_length(p.s.g), b, p0 + i - p.s.g.pad, v);
    }
  }
  // Sample t (-pad <= t < span - pad) of row b. Out of line (its arguments by value: no copy of the parameters in
  // local memory), so that the edge arithmetic stays out of the kernels' store loops (inlined, it was predicated
  // into every store).
  __host__ __device__ __noinline__ static void put_edge(Out* out, V* side, int64_t length, int64_t pad,
                                                        int64_t side_len, int64_t b, int64_t t, V v) {
    if (t >= 0 && t < length) {
      out[b * length + t] = stored<Out>(v);
    } else {
      side[b * side_len + (t < 0 ? t + pad : t - length + pad)] = v;  // left part at p, right part at p - T
    }
  }
};

// ----------------------------------------------------------------------------------------------------------------
// Power-of-two engine.

// Out: how the spectrum is stored (Complex<R>, or __half2 for complex32). In: how the signal is stored (V, or for
// single precision __half / __nv_bfloat16 (real) and __half2 (complex32)).
template <typename V, int kLogM, typename Out = Complex<typename RealOf<V>::type>, typename In = V>
struct Pow2Analysis {
  using R = typename RealOf<V>::type;
  using Cx = Complex<R>;
  using S = fft::Pow2Shape<kLogM>;
  static constexpr bool kComplex = IsComplex<V>::value;
  static constexpr int kM = S::kM, kTpf = S::kTpf;
  static constexpr int kThreads = kTpf > SPECTRO_FUSED_THREADS ? kTpf : SPECTRO_FUSED_THREADS;
  static constexpr int kMinBlocks =
      SPECTRO_FUSED_MIN_BLOCKS * SPECTRO_FUSED_THREADS / kThreads > 0 ? SPECTRO_FUSED_MIN_BLOCKS * SPECTRO_FUSED_THREADS / kThreads : 1;
  static constexpr int kRound = kThreads / kTpf;  // frames transformed together
  // Two sequence buffers per frame of a round, then the 2M-th roots on the half circle (the real split step's
  // twiddles, and the FFT passes' twiddles in every mode).
  static constexpr int64_t smem_bytes() { return (2 * int64_t{kRound} * S::kFrameStride + kM) * int64_t{sizeof(Cx)}; }

  // The interior frames n, lo <= n <= hi: they lie inside the signal (start = n hop - pad >= 0, start + n_fft <=
  // T), and with envelope scaling also inside the positions n_fft - hop <= p < n_frames hop where h(p) depends on p
  // mod hop only, so h(n hop + e) = h(e mod hop) folds into the thread's window factors. Read with plain vector
  // loads; the others element by element.
  SPECTRO_HD static void interior_frames(const Geometry& g, int64_t* lo, int64_t* hi) {
    *lo = 1;
    *hi = 0;
    if (g.pad < 0 || g.length + g.pad < g.n_fft) return;
    *lo = (g.pad + g.hop - 1) / g.hop;
    *hi = (g.length + g.pad - g.n_fft) / g.hop;
    if (g.env_normalize) {
      *lo = max64(*lo, max64(0, (g.n_fft - g.hop + g.hop - 1) / g.hop));
      const int64_t top = g.n_frames * g.hop - g.n_fft;  // n hop <= top
      *hi = top < 0 ? -1 : min64(*hi, top / g.hop);
    }
  }
  // The thread's 8 raw samples (pairs for real signals) of interior frame n: element j + r M/8 of the FFT input.
  // Real pairs are single loads of twice the sample's width where the frame start is aligned for that.
  SPECTRO_HD static void load_interior(const In* xrow, int64_t n, const Geometry& g, int j, Cx (&x)[8]) {
    const In* xs = xrow + (n * g.hop - g.pad);
    if constexpr (kComplex) {
SPECTRO_UNROLL
      for (int r = 0; r < 8; ++r) x[r] = loaded<Cx>(xs[j + r * kTpf]);
    } else {
      using Pair = typename PairOf<In>::type;
      if ((reinterpret_cast<uintptr_t>(xs) & (sizeof(Pair) - 1)) == 0) {
        const Pair* xp = reinterpret_cast<const Pair*>(xs);
SPECTRO_UNROLL
        for (int r = 0; r < 8; ++r) x[r] = loaded_pair<Cx>(xp[j + r * kTpf]);
      } else {
SPECTRO_UNROLL
        for (int r = 0; r < 8; ++r)
          x[r] = Cx{loaded<R>(xs[2 * (j + r * kTpf)]), loaded<R>(xs[2 * (j + r * kTpf) + 1])};
      }
    }
  }

#pragma nv_exec_check_disable
  template <class Ctx>
  SPECTRO_HD static void run(Ctx& ctx, FusedAnalysisParams<V> p, int frames_per_block, int64_t blocks_per_row) {
    const AnalysisParams<V>& a = p.a;
    const Geometry& g = a.g;
    const int tid = ctx.tid();
    const int fl = tid >> S::kLogTpf, j = tid & (kTpf - 1);
    const int64_t b = ctx.block() / blocks_per_row;
    const int64_t n_begin = (ctx.block() - b * blocks_per_row) * frames_per_block;
    const int64_t n_end = min64(n_begin + frames_per_block, g.n_frames);
    Cx* buf0 = reinterpret_cast<Cx*>(ctx.smem());
    Cx* buf1 = buf0 + kRound * S::kFrameStride;
    Cx* st = buf1 + kRound * S::kFrameStride;  // st[k] = exp(-2 pi i k / n_fft), k < M (real signals)
    const int off = fl * S::kFrameStride;

    // scale * window (* h(e mod hop) with envelope scaling) at the thread's elements e: (e, e + 1) = (2i, 2i + 1)
    // for real signals, e = i for complex ones; what an interior frame's elements are multiplied by.
    const int n_fft = static_cast<int>(g.n_fft), hop = static_cast<int>(min64(g.hop, 0x40000000));
    const auto factor = [&](int e) {
      const R ws = a.scale * a.window[e];
      return g.env_normalize ? ws * periodic_envelope_scale(a.window, n_fft, hop, e % hop) : ws;
    };
    Cx ws[8];
SPECTRO_UNROLL
    for (int r = 0; r < 8; ++r) {
      const int i = j + r * kTpf;
      if constexpr (kComplex) {
        ws[r] = Cx{factor(i), R(0)};
      } else {
        ws[r] = Cx{factor(2 * i), factor(2 * i + 1)};
      }
    }
    // The half-circle roots in shared memory: the split step reads them there, and each thread copies its pass
    // twiddles into registers from them.
    for (int k = tid; k < kM; k += kThreads) st[k] = fft::expi_pi<R>(-2 * k, 2 * kM);
    ctx.sync();
    fft::Pow2Twiddles<kLogM, -1, R> tw;
    tw.init(j, st);
    // The block's frames n_begin + m, 0 <= m < count (ints: count <= frames_per_block); interior ones for
    // lo_rel <= m <= lo_rel + width_rel, all below count (none: lo_rel out of reach).
    const int count = static_cast<int>(n_end - n_begin);
    int lo_rel = 0x3fffffff, width_rel = 0;
    {
      int64_t lo, hi;
      interior_frames(g, &lo, &hi);
      lo = max64(lo, n_begin);
      hi = min64(hi, n_end - 1);
      if (lo <= hi) {
        lo_rel = static_cast<int>(lo - n_begin);
        width_rel = static_cast<int>(hi - lo);
      }
    }
    const auto interior_rel = [lo_rel, width_rel](int m) {
      return static_cast<unsigned>(m - lo_rel) <= static_cast<unsigned>(width_rel);
    };
    const bool full = p.mode == FftMode::RfftFull, dbl = p.mode == FftMode::RfftDouble;
    const int64_t bins = kComplex ? kM : (full ? 2 * kM : kM + 1);
    const In* xrow = input_of<In>(p) + b * g.length;

    // Software pipeline (SPECTRO_FUSED_PREFETCH): the next round's interior frame is loaded (into xn) before this
    // round's FFT passes, so the global loads overlap the shared-memory passes and barriers.
    Cx xn[8];
    bool next_interior = false;
#if SPECTRO_FUSED_PREFETCH
    next_interior = interior_rel(fl);
    if (next_interior) load_interior(xrow, n_begin + fl, g, j, xn);
#endif

    int par = 0;
    for (int mr = 0; mr < count; mr += kRound) {
      const int m = mr + fl;
      const int64_t n = n_begin + m;
      const bool valid = m < count;
#if !SPECTRO_FUSED_PREFETCH
      next_interior = interior_rel(m);
      if (next_interior) load_interior(xrow, n, g, j, xn);
#endif
      Cx v[8];
      if (valid && next_interior) {
SPECTRO_UNROLL
        for (int r = 0; r < 8; ++r) {
          if constexpr (kComplex) {
            v[r] = Cx{xn[r].re * ws[r].re, xn[r].im * ws[r].re};
          } else {
            v[r] = Cx{xn[r].re * ws[r].re, xn[r].im * ws[r].im};
          }
        }
      } else if (valid) {  // the frame reaches into the padding or the envelope's ends: element by element
        const int64_t pos0 = n * g.hop;
SPECTRO_UNROLL
        for (int r = 0; r < 8; ++r) {
          const int i = j + r * kTpf;
          if constexpr (kComplex) {
            v[r] = padded_sample<V>(xrow, a.window, pos0 + i, a.scale * a.window[i], g);
          } else {
            v[r] = Cx{padded_sample<V>(xrow, a.window, pos0 + 2 * i, a.scale * a.window[2 * i], g),
                      padded_sample<V>(xrow, a.window, pos0 + 2 * i + 1, a.scale * a.window[2 * i + 1], g)};
          }
        }
      } else {
SPECTRO_UNROLL
        for (int r = 0; r < 8; ++r) v[r] = Cx{R(0), R(0)};
      }
#if SPECTRO_FUSED_PREFETCH
      next_interior = interior_rel(m + kRound);
      if (next_interior) load_interior(xrow, n + kRound, g, j, xn);
#endif
      fft::pow2_pass<kLogM, -1, 0, true>(v, tw, j, (par ? buf1 : buf0) + off);
      ctx.sync();
      fft::pow2_passes_from<kLogM, -1, 1, !kComplex>(ctx, v, tw, j, buf0, buf1, par, off);
      // v[r] = Z[j + r M/8]; the last pass's output (natural order) is in buffer (par + kPasses - 1) & 1.
      if (valid) {
        Out* row = output_of<Out>(p) + (b * g.n_frames + n) * bins;
        if constexpr (kComplex) {
SPECTRO_UNROLL
          for (int r = 0; r < 8; ++r) row[j + r * kTpf] = stored<Out>(v[r]);
        } else {
          const Cx* z = (((par + S::kPasses - 1) & 1) ? buf1 : buf0) + off;
          // X[k] = (Z[k] + conj Z[M-k]) / 2 - i/2 exp(-2 pi i k / n_fft) (Z[k] - conj Z[M-k]); X[M] from Z[0].
SPECTRO_UNROLL
          for (int r = 0; r < 8; ++r) {
            const int k = j + r * kTpf;
            const Cx zk = v[r];
            const Cx zc = fft::cconj(z[(kM - k) & (kM - 1)]);
            const Cx even = fft::cscale(fft::cadd(zk, zc), R(0.5));
            const Cx odd = fft::cmul(st[k], fft::cscale(fft::csub(zk, zc), R(0.5)));
            Cx xk = {even.re + odd.im, even.im - odd.re};  // even - i * odd
            if (dbl && k > 0) xk = fft::cscale(xk, R(2));
            row[k] = stored<Out>(xk);
            if (full && k > 0) row[2 * kM - k] = stored<Out>(fft::cconj(xk));
          }
          if (j == 0) row[kM] = stored<Out>(Cx{v[0].re - v[0].im, R(0)});
        }
      }
      par ^= (S::kPasses & 1);
    }
  }
};

// Out: how the output is stored (V, or __half / __nv_bfloat16 for float). In: how the spectrum is stored (Complex<R>,
// or __half2 for complex32).
template <typename V, int kLogM, typename Out = V, typename In = Complex<typename RealOf<V>::type>>
struct Pow2Synthesis {
  using R = typename RealOf<V>::type;
  using Cx = Complex<R>;
  using S = fft::Pow2Shape<kLogM>;
  static constexpr bool kComplex = IsComplex<V>::value;  // complex output (mode ifft)
  static constexpr int kM = S::kM, kTpf = S::kTpf;
  static constexpr int kThreads = kTpf > SPECTRO_FUSED_THREADS ? kTpf : SPECTRO_FUSED_THREADS;
  static constexpr int kMinBlocks = SPECTRO_FUSED_SYNTHESIS_MIN_BLOCKS * SPECTRO_FUSED_THREADS / kThreads > 0
                                        ? SPECTRO_FUSED_SYNTHESIS_MIN_BLOCKS * SPECTRO_FUSED_THREADS / kThreads
                                        : 1;
  static constexpr int kRound = kThreads / kTpf;
  // Positions per pack of the overlap-add and the stores (real output): 16 bytes of V. Where a block's segment allows
  // (`packed` below), a thread owns packs of kVec consecutive positions, not single positions.
  static constexpr int kVec = kComplex ? 1 : Pack16<R>::kN;
  // Ring of partial sums: a power of two >= the positions one round can touch beyond the completed ones, and a
  // multiple of the block's packs (each thread owns the slots = its index mod kThreads, or its pack's slots).
  static_assert((kThreads & (kThreads - 1)) == 0, "the synthesis ring needs a power-of-two block size");
  static int ring_size(int64_t n_fft, int64_t hop) {
    int q = kThreads * kVec;
    while (q < (kRound + 1) * hop + n_fft) q *= 2;
    return q;
  }
  // The round's spectra, staged in shared memory as stored (In): bins 0..M of each frame (0..M-1 for complex FFTs),
  // padded to an even count and to a multiple of 16 bytes per frame (the ring after the stage takes 16-byte loads).
  static constexpr int kStagePad = 16 / sizeof(In) > 2 ? static_cast<int>(16 / sizeof(In)) : 2;
  static constexpr int kStageStride = kM + kStagePad;
  // The window is applied in registers as the inverse FFT's epilogue. It is read from shared memory where that
  // costs no occupancy (M <= 512: several frames per round), else from global memory (M >= 1024: in shared memory
  // it cost a resident block per SM). H100, same run: the global reads made M = 512 5% slower, the shared ones
  // made M = 2048 12% slower.
  static constexpr bool kWindowInSmem = kRound >= 2;
  // Shared memory: two sequence buffers per frame of a round, the 2M-th roots on the half circle (the inverse split
  // step's and the passes' twiddles), the spectrum stage, the ring, the scale table and (kWindowInSmem) the window.
  static int64_t smem_bytes(int ring, int64_t n_fft, int64_t hop) {
    return (2 * int64_t{kRound} * S::kFrameStride + kM) * int64_t{sizeof(Cx)} +
           int64_t{kRound} * kStageStride * int64_t{sizeof(In)} + ring * int64_t{sizeof(V)} +
           (hop + (kWindowInSmem ? n_fft : 0)) * int64_t{sizeof(R)};
  }

  // Stages frame n's bins into the thread's frame slot with asynchronous copies (nothing for n > last): issued a round
  // ahead, so that the global loads overlap the round before; ctx.copy_wait() and a barrier make them visible. Also
  // reads each bin once (the split step needs bins k and M - k).
#pragma nv_exec_check_disable
  template <class Ctx>
  SPECTRO_HD static void stage_frame(Ctx& ctx, const FusedSynthesisParams<V>& p, const In* spec, int64_t n,
                                     int64_t last, bool real_fft, int j, In* my_stage) {
    if (n <= last) {
      const In* col = spec + n * p.stride_n;
      if (p.stride_bin == 1) {  // torch.stft's layout: bins contiguous
SPECTRO_UNROLL
        for (int r = 0; r < 8; ++r) ctx.copy_async(my_stage + j + r * kTpf, col + j + r * kTpf);
        if (real_fft && j == 0) ctx.copy_async(my_stage + kM, col + kM);
      } else {
SPECTRO_UNROLL
        for (int r = 0; r < 8; ++r) ctx.copy_async(my_stage + j + r * kTpf, col + (j + r * kTpf) * p.stride_bin);
        if (real_fft && j == 0) ctx.copy_async(my_stage + kM, col + kM * p.stride_bin);
      }
    }
    ctx.copy_commit();
  }

#pragma nv_exec_check_disable
  template <class Ctx>
  SPECTRO_HD static void run(Ctx& ctx, FusedSynthesisParams<V> p, int segment, int64_t segments_per_row, int ring,
                             int packed) {
    const SynthesisParams<V>& s = p.s;
    const Geometry& g = s.g;
    const int n_fft = static_cast<int>(g.n_fft);
    const HopMath hm(static_cast<int>(g.hop), n_fft);
    const bool real_fft = !kComplex && (p.mode == FftMode::Irfft || p.mode == FftMode::IrfftHalf);
    const int tid = ctx.tid();
    const int fl = tid >> S::kLogTpf, j = tid & (kTpf - 1);
    const int64_t b = ctx.block() / segments_per_row;
    // Padded position of the segment's first sample, and its length.
    const int64_t p0 = synthesis_lo(g) + (ctx.block() - b * segments_per_row) * segment;
    const int len = static_cast<int>(min64(segment, synthesis_hi(g) - p0));
    const int64_t span = g.span();

    Cx* buf0 = reinterpret_cast<Cx*>(ctx.smem());
    Cx* buf1 = buf0 + kRound * S::kFrameStride;
    Cx* st = buf1 + kRound * S::kFrameStride;  // st[k] = exp(2 pi i k / n_fft), k < M
    In* stage = reinterpret_cast<In*>(st + kM);  // the round's spectra, frame fl at fl * kStageStride
    V* acc = reinterpret_cast<V*>(stage + kRound * kStageStride);
    // The window (kWindowInSmem), from an 8-byte aligned start (the ring is a power of two): pairs are single loads.
    R* win_smem = reinterpret_cast<R*>(acc + ring);
    R* hs = win_smem + (kWindowInSmem ? n_fft : 0);  // h * scale by position mod hop (interior positions)
    const R* win = kWindowInSmem ? win_smem : s.window;
    const int off = fl * S::kFrameStride;
    const In* spec = input_of<In>(p) + b * p.stride_b;

    // Frames that overlap padded positions [p0, p0 + len) within [0, span): first..last (none if p0 >= span).
    int64_t first = 0, last = -1;
    if (p0 < span) {
      first = first_frame(p0, g);
      last = last_frame(min64(p0 + len, span) - 1, g);
    }
    In* const my_stage = stage + fl * kStageStride;
    stage_frame(ctx, p, spec, first + fl, last, real_fft, j, my_stage);  // the first round's, before the set-up below

    for (int i = tid; i < ring; i += kThreads) acc[i] = zero_value<V>();
    if constexpr (kWindowInSmem) {
      for (int k = tid; k < n_fft; k += kThreads) win_smem[k] = s.window[k];
    }
    build_scale_table(s.window, n_fft, static_cast<int>(g.hop), g.env_normalize, s.scale, hs, tid, kThreads);
    for (int k = tid; k < kM; k += kThreads) st[k] = fft::expi_pi<R>(2 * k, 2 * kM);
    ctx.sync();  // st, acc, hs (and the window) ready
    fft::Pow2Twiddles<kLogM, 1, R> tw;
    tw.init(j, st);
    const R half_weight = p.mode == FftMode::IrfftHalf ? R(0.5) : R(1);
    const SynthesisOut<V, Out> out(p, b, p0, len);

    const int f_env_max = static_cast<int>(min64(g.n_frames - 1 - first, 0x3fffffff));
    // Segment positions i: beyond every frame from lim on; h * scale from hs[] on [int_lo, int_hi).
    const int lim = static_cast<int>(max64(0, min64(len, span - p0)));
    const int int_lo = static_cast<int>(max64(0, min64(len, g.n_fft - g.hop - p0)));
    const int int_hi = static_cast<int>(max64(0, min64(len, g.n_frames * g.hop - p0)));
    const int relf0 = static_cast<int>(p0 - first * g.hop);  // p - first * hop at i = 0
    // Packs (see the overlap-add below), uniform over the block: 0 none; 1 packs, storing sample by sample; 2 packs
    // with 16-byte stores. Packs need a real output, hop and the segment's start p0 multiples of kVec (the launcher
    // checks hop and synthesis_lo, whose sum with multiples of hop p0 is: `packed`), and a segment length that is
    // too (every segment of a row but possibly its last). The 16-byte stores need the whole segment inside the
    // signal, in V, starting at a 16-byte aligned sample.
    int pack_mode = kVec > 1 && packed != 0 && real_fft && len % kVec == 0 ? 1 : 0;
    if constexpr (std::is_same<Out, V>::value) {
      if (pack_mode != 0 && out.direct != nullptr && (reinterpret_cast<uintptr_t>(out.direct) & 15) == 0)
        pack_mode = 2;
    }
    // A thread's output positions advance by `step` (kThreads, or kThreads packs): their residues mod hop by
    // step_mod (< hop).
    const int step = pack_mode != 0 ? kThreads * kVec : kThreads;
    const int step_mod = step - hm.hop.div(step) * hm.hop.d;

    int par = 0;
    int done = 0;  // positions [0, done) of the segment are written
    for (int64_t c0 = first; c0 <= last; c0 += kRound) {
      const int64_t n = c0 + fl;
      ctx.copy_wait();
      ctx.sync();  // every thread's copies of this round's spectra are complete and visible
      Cx v[8];
      if (n <= last) {
        if (real_fft) {
          // Inverse split step (Hermitian c2r; imaginary parts of DC and Nyquist ignored, as cuFFT / pocketfft do):
          // Z[k] = (X[k] + conj X[M-k]) + i exp(2 pi i k / n_fft) (X[k] - conj X[M-k]), k = 0..M-1.
SPECTRO_UNROLL
          for (int r = 0; r < 8; ++r) {
            const int k = j + r * kTpf;
            Cx xk = loaded<Cx>(my_stage[k]), xc = loaded<Cx>(my_stage[kM - k]);
            if (k == 0) {
              xk.im = R(0);
              xc.im = R(0);
            } else {
              xk = fft::cscale(xk, half_weight);
              xc = fft::cscale(xc, half_weight);
            }
            xc = fft::cconj(xc);
            const Cx sum = fft::cadd(xk, xc);
            const Cx dif = fft::cmul(st[k], fft::csub(xk, xc));
            v[r] = Cx{sum.re - dif.im, sum.im + dif.re};  // sum + i * dif
          }
        } else {
SPECTRO_UNROLL
          for (int r = 0; r < 8; ++r) v[r] = loaded<Cx>(my_stage[j + r * kTpf]);
        }
      } else {
SPECTRO_UNROLL
        for (int r = 0; r < 8; ++r) v[r] = Cx{R(0), R(0)};
      }
      fft::pow2_pass<kLogM, 1, 0, true>(v, tw, j, (par ? buf1 : buf0) + off);
      ctx.sync();  // (also: every thread is done reading the stage)
      stage_frame(ctx, p, spec, n + kRound, last, real_fft, j, my_stage);
      // The window, applied to the inverse FFT's output in registers (element e = j + r M/8 holds samples 2e, 2e + 1
      // of a real FFT, sample e otherwise), before its last store.
      const auto windowed = [&](Cx(&u)[8]) {
SPECTRO_UNROLL
        for (int r = 0; r < 8; ++r) {
          const int e = j + r * kTpf;
          if (real_fft) {
            if constexpr (kWindowInSmem) {  // (w[2e], w[2e + 1]) in one load
              const Cx w2 = reinterpret_cast<const Cx*>(win)[e];
              u[r] = Cx{u[r].re * w2.re, u[r].im * w2.im};
            } else {
              u[r] = Cx{u[r].re * win[2 * e], u[r].im * win[2 * e + 1]};
            }
          } else {
            u[r] = fft::cscale(u[r], win[e]);
          }
        }
      };
      fft::pow2_passes_from<kLogM, 1, 1, true>(ctx, v, tw, j, buf0, buf1, par, off, windowed);
      // Overlap-add of this round's frames c0 .. c0 + cnt - 1 (natural order in buffer (par + kPasses - 1) & 1).
      const Cx* z = (((par + S::kPasses - 1) & 1) ? buf1 : buf0);
      const int cnt = static_cast<int>(min64(kRound, last - c0 + 1));
      const int64_t base = c0 * g.hop;
      const bool final_round = c0 + kRound > last;
      // Positions that become complete: below the next round's first frame (all of the rest after the last round).
      const int complete =
          final_round ? len : static_cast<int>(max64(done, min64(len, base + kRound * g.hop - p0)));
      const int base_i = static_cast<int>(base - p0);  // segment index of frame c0's first sample (may be < 0)
      if (pack_mode == 0) {
        // Overlap-add: sample k of the round's frame f lands on segment position i = base_i + f * hop + k. Thread tid
        // owns the positions i = tid (mod kThreads), and with them the ring slots i & (ring - 1) (ring is a multiple
        // of kThreads): it adds the round's frames to its positions in frame order, the summation order of
        // synthesis_element, with no race and no barrier. Positions below `done` are written already, and positions
        // from len on belong to the next segment.
        for (int f = 0; f < cnt; ++f) {
          const int s0 = base_i + f * hm.hop.d;  // segment position of the frame's first sample
          const int k_lo = done - s0 > 0 ? done - s0 : 0;
          const int k_hi = mini(n_fft, len - s0);
          const Cx* zf = z + f * S::kFrameStride;
          for (int k = k_lo + ((tid - s0 - k_lo) & (kThreads - 1)); k < k_hi; k += kThreads) {
            const int slot = (s0 + k) & (ring - 1);
            V total = acc[slot];
            if constexpr (kComplex) {
              total += zf[k];
            } else if (real_fft) {
              total += reinterpret_cast<const R*>(zf)[k];
            } else {
              total += zf[k].re;  // ifft_real
            }
            acc[slot] = total;
          }
        }
        // Positions [done, complete) have every frame covering them added: envelope, scale, write each once (same
        // owner thread), and free their slots.
        int i = done + ((tid - done) & (kThreads - 1));
        if (i < complete) {
          int rf_mod = i + relf0;  // (p - first * hop) mod hop, the residue of p's frames, kept incrementally
          rf_mod -= hm.hop.div(rf_mod) * hm.hop.d;
          for (; i < complete; i += kThreads) {
            V y = zero_value<V>();  // beyond every frame (last round only): a zero, and no ring slot touched
            if (i < lim) {
              const int slot = i & (ring - 1);
              R sc;
              if (i >= int_lo && i < int_hi) {
                sc = hs[rf_mod];
              } else {
                const R h = g.env_normalize ? envelope_scale_rel(win, i + relf0, hm, f_env_max) : R(1);
                sc = h * s.scale;
              }
              y = acc[slot] * sc;
              acc[slot] = zero_value<V>();
            }
            out.put(p, b, p0, i, y);
            rf_mod += step_mod;
            if (rf_mod >= hm.hop.d) rf_mod -= hm.hop.d;
          }
        }
      } else {
        // The same in packs of kVec positions (real output only): thread tid owns the packs i / kVec = tid (mod
        // kThreads) and their ring slots. Every frame start s0, `done`, `complete`, len and the bounds int_lo,
        // int_hi and lim are multiples of kVec here (see pack_mode), so a pack lies wholly inside or outside each
        // range. Each position's sum runs in the same order as above: the same bits.
        if constexpr (kVec > 1) {
          for (int f = 0; f < cnt; ++f) {
            const int s0 = base_i + f * hm.hop.d;
            const int k_lo = done - s0 > 0 ? done - s0 : 0;
            const int k_hi = mini(n_fft, len - s0);
            const R* zf = reinterpret_cast<const R*>(z + f * S::kFrameStride);  // samples 0..n_fft-1 of the frame
            const int q_lo = (s0 + k_lo) / kVec;  // first pack (>= 0: s0 + k_lo >= done)
            for (int k = (q_lo + ((tid - q_lo) & (kThreads - 1))) * kVec - s0; k < k_hi; k += kThreads * kVec) {
              R* slot = acc + ((s0 + k) & (ring - 1));
              Pack16<R> total = load16(slot);
              const Pack16<R> add = load16(zf + k);
SPECTRO_UNROLL
              for (int q = 0; q < kVec; ++q) total.v[q] += add.v[q];
              store16(slot, total);
            }
          }
          const int q_done = done / kVec;
          int i = (q_done + ((tid - q_done) & (kThreads - 1))) * kVec;
          if (i < complete) {
            int rf_mod = i + relf0;  // a multiple of kVec: hs[rf_mod .. rf_mod + kVec) are the pack's residues
            rf_mod -= hm.hop.div(rf_mod) * hm.hop.d;
            for (; i < complete; i += kThreads * kVec) {
              Pack16<R> y = {};
              if (i < lim) {
                R* slot = acc + (i & (ring - 1));
                const Pack16<R> a = load16(slot);
                if (i >= int_lo && i < int_hi) {
                  const Pack16<R> sc = load16(hs + rf_mod);
SPECTRO_UNROLL
                  for (int q = 0; q < kVec; ++q) y.v[q] = a.v[q] * sc.v[q];
                } else {
SPECTRO_UNROLL
                  for (int q = 0; q < kVec; ++q) {
                    const R h = g.env_normalize ? envelope_scale_rel(win, i + q + relf0, hm, f_env_max) : R(1);
                    y.v[q] = a.v[q] * (h * s.scale);
                  }
                }
                store16(slot, Pack16<R>{});
              }
              if constexpr (std::is_same<Out, V>::value) {
                if (pack_mode == 2) {
                  store16(out.direct + i, y);
                } else {
SPECTRO_UNROLL
                  for (int q = 0; q < kVec; ++q) out.put(p, b, p0, i + q, y.v[q]);
                }
              } else {
SPECTRO_UNROLL
                for (int q = 0; q < kVec; ++q) out.put(p, b, p0, i + q, y.v[q]);
              }
              rf_mod += step_mod;
              if (rf_mod >= hm.hop.d) rf_mod -= hm.hop.d;
            }
          }
        }
      }
      done = complete;
      par ^= (S::kPasses & 1);
    }
    ctx.copy_wait();  // (nothing outstanding: the last round staged nothing)
    // No frame overlaps the segment (it lies beyond the span): zeros.
    if (first > last) {
      for (int i = tid; i < len; i += kThreads) out.put(p, b, p0, i, zero_value<V>());
    }
  }
};

// ----------------------------------------------------------------------------------------------------------------
// General engine.

template <typename V, typename Out = Complex<typename RealOf<V>::type>, typename In = V>
struct GenericAnalysis {
  using R = typename RealOf<V>::type;
  using Cx = Complex<R>;
  static constexpr bool kComplex = IsComplex<V>::value;
  static constexpr int kThreads = 256;
  static constexpr int kMinBlocks = 1;

#pragma nv_exec_check_disable
  template <class Ctx>
  SPECTRO_HD static void run(Ctx& ctx, FusedAnalysisParams<V> p, int frames_per_tile, int64_t tiles_per_row,
                             fft::Plan plan, int table_n) {
    const AnalysisParams<V>& a = p.a;
    const Geometry& g = a.g;
    const int n_fft = static_cast<int>(g.n_fft);
    const int hop = static_cast<int>(g.hop);
    const int m = static_cast<int>(fft_length(kComplex, g.n_fft));
    const int tid = ctx.tid();

    const int64_t b = ctx.block() / tiles_per_row;
    const int64_t n0 = (ctx.block() - b * tiles_per_row) * frames_per_tile;
    const int count = static_cast<int>(min64(frames_per_tile, g.n_frames - n0));
    const int span = (count - 1) * hop + n_fft;

    Cx* buf = reinterpret_cast<Cx*>(ctx.smem());
    Cx* scratch = buf + static_cast<int64_t>(frames_per_tile) * m;
    Cx* table = scratch + static_cast<int64_t>(frames_per_tile) * m;
    V* sig = reinterpret_cast<V*>(table + table_n);

    // 0. Twiddle table exp(-2 pi i q / table_n), table_n = n_fft (real) or m (complex), when it fits.
    for (int q = tid; q < table_n; q += kThreads) table[q] = fft::expi_pi<R>(-2 * q, table_n);
    const fft::TwiddleTable<R> tt{table_n > 0 ? table : nullptr, kComplex ? 1 : 2};

    // 1. The tile's padded span, read once: sig[i] = x[src(p)] * h(p) * scale.
    const int64_t base = n0 * g.hop;
    const In* x = input_of<In>(p) + b * g.length;
    const bool interior = !g.env_normalize && base - g.pad >= 0 && base - g.pad + span <= g.length;
    for (int i = tid; i < span; i += kThreads) {
      const int64_t pos = base + i;
      if (interior) {
        sig[i] = loaded<V>(x[pos - g.pad]) * a.scale;
      } else {
        const int64_t src = pad_source(pos, g);
        sig[i] = src < 0 ? zero_value<V>() : loaded<V>(x[src]) * (a.scale * envelope_scale(a.window, pos, g));
      }
    }
    ctx.sync();

    // 2. Windowed frames, packed for the FFT.
    const fft::SmallDiv div_m(m);
    for (int e = tid; e < count * m; e += kThreads) {
      const int f = div_m.div(e), j = e - f * m;
      const V* sf = sig + f * hop;
      if constexpr (kComplex) {
        buf[e] = as_complex(sf[j] * a.window[j]);
      } else {
        buf[e] = Cx{sf[2 * j] * a.window[2 * j], sf[2 * j + 1] * a.window[2 * j + 1]};
      }
    }
    ctx.sync();

    // 3. FFT (forward).
    const Cx* z = fft::block_fft<-1, R>(ctx, buf, scratch, m, count, plan, tt);

    // 4. Spectrum, written frame-major (coalesced along bins).
    const int bins = (p.mode == FftMode::Rfft || p.mode == FftMode::RfftDouble) ? n_fft / 2 + 1 : n_fft;
    Out* out = output_of<Out>(p) + (b * g.n_frames + n0) * bins;
    if constexpr (kComplex) {
      for (int e = tid; e < count * m; e += kThreads) out[e] = stored<Out>(z[e]);
    } else {
      // Split step: X[k] = (Z[k] + conj Z[m-k]) / 2 - i/2 exp(-2 pi i k / n_fft) (Z[k] - conj Z[m-k]), k = 0..m.
      const fft::SmallDiv div_m1(m + 1);
      for (int e = tid; e < count * (m + 1); e += kThreads) {
        const int f = div_m1.div(e), k = e - f * (m + 1);
        const Cx zk = z[f * m + (k == m ? 0 : k)];
        const Cx zc = fft::cconj(z[f * m + (k == 0 ? 0 : m - k)]);
        const Cx even = fft::cscale(fft::cadd(zk, zc), R(0.5));
        const Cx w = table_n > 0 ? table[k] : fft::expi_pi<R>(-2 * k, n_fft);
        const Cx odd = fft::cmul(w, fft::cscale(fft::csub(zk, zc), R(0.5)));
        Cx xk = {even.re + odd.im, even.im - odd.re};  // even - i * odd
        Out* row = out + static_cast<int64_t>(f) * bins;
        if (p.mode == FftMode::RfftDouble && k > 0 && 2 * k < n_fft) xk = fft::cscale(xk, R(2));
        row[k] = stored<Out>(xk);
        if (p.mode == FftMode::RfftFull && k > 0 && k < m) row[n_fft - k] = stored<Out>(fft::cconj(xk));
      }
    }
  }
};

template <typename V, typename Out = V, typename In = Complex<typename RealOf<V>::type>>
struct GenericSynthesis {
  using R = typename RealOf<V>::type;
  using Cx = Complex<R>;
  static constexpr bool kComplex = IsComplex<V>::value;  // complex output (mode ifft)
  static constexpr int kThreads = 256;
  static constexpr int kMinBlocks = 1;

#pragma nv_exec_check_disable
  template <class Ctx>
  SPECTRO_HD static void run(Ctx& ctx, FusedSynthesisParams<V> p, int segment, int frames_per_chunk,
                             fft::Plan plan, int table_n, int hs_n) {
    const SynthesisParams<V>& s = p.s;
    const Geometry& g = s.g;
    const int n_fft = static_cast<int>(g.n_fft);
    const HopMath hm(static_cast<int>(g.hop), n_fft);
    const bool real_fft = p.mode == FftMode::Irfft || p.mode == FftMode::IrfftHalf;
    const int m = static_cast<int>(fft_length(!real_fft, g.n_fft));
    const int tid = ctx.tid();

    const int64_t pos_lo = synthesis_lo(g), pos_hi = synthesis_hi(g);
    const int64_t segments_per_row = (pos_hi - pos_lo + segment - 1) / segment;
    const int64_t b = ctx.block() / segments_per_row;
    const int64_t p0 = pos_lo + (ctx.block() - b * segments_per_row) * segment;  // padded position of the first sample
    const int len = static_cast<int>(min64(segment, pos_hi - p0));
    const int64_t span = g.span();

    Cx* buf = reinterpret_cast<Cx*>(ctx.smem());
    Cx* scratch = buf + static_cast<int64_t>(frames_per_chunk) * m;
    Cx* table = scratch + static_cast<int64_t>(frames_per_chunk) * m;
    V* acc = reinterpret_cast<V*>(table + table_n);
    R* hs = reinterpret_cast<R*>(acc + segment);  // h * scale by position mod hop (interior positions), if hs_n
    if (hs_n > 0) build_scale_table(s.window, n_fft, hs_n, g.env_normalize, s.scale, hs, tid, kThreads);

    for (int i = tid; i < len; i += kThreads) acc[i] = zero_value<V>();
    for (int q = tid; q < table_n; q += kThreads) table[q] = fft::expi_pi<R>(2 * q, table_n);
    const fft::TwiddleTable<R> tt{table_n > 0 ? table : nullptr, real_fft ? 2 : 1};

    // Frames that overlap padded positions [p0, p0 + len) within [0, span).
    int64_t first = 0, last = -1;
    if (p0 < span) {
      first = first_frame(p0, g);
      last = last_frame(min64(p0 + len, span) - 1, g);
    }
    const In* spec = input_of<In>(p) + b * p.stride_b;
    const fft::SmallDiv div_m(m);
    for (int64_t c0 = first; c0 <= last; c0 += frames_per_chunk) {
      const int count = static_cast<int>(min64(frames_per_chunk, last - c0 + 1));
      ctx.sync();  // the previous chunk's frames have been consumed (and the table / acc are initialised)
      // 1. Spectra -> FFT input.
      if (real_fft) {
        // Inverse split step (Hermitian c2r; imaginary parts of DC and Nyquist ignored, as cuFFT / pocketfft do):
        // Z[k] = (X[k] + conj X[m-k]) + i exp(2 pi i k / n_fft) (X[k] - conj X[m-k]), k = 0..m-1.
        const R half_weight = p.mode == FftMode::IrfftHalf ? R(0.5) : R(1);
        for (int e = tid; e < count * m; e += kThreads) {
          const int f = div_m.div(e), k = e - f * m;
          const In* col = spec + (c0 + f) * p.stride_n;
          Cx xk = loaded<Cx>(col[k * p.stride_bin]);
          Cx xc = loaded<Cx>(col[(m - k) * p.stride_bin]);
          if (k == 0) { xk.im = R(0); xc.im = R(0); }  // DC and Nyquist
          else { xk = fft::cscale(xk, half_weight); xc = fft::cscale(xc, half_weight); }
          xc = fft::cconj(xc);
          const Cx sum = fft::cadd(xk, xc);
          const Cx w = table_n > 0 ? table[k] : fft::expi_pi<R>(2 * k, n_fft);
          const Cx dif = fft::cmul(w, fft::csub(xk, xc));
          buf[e] = Cx{sum.re - dif.im, sum.im + dif.re};  // sum + i * dif
        }
      } else {
        for (int e = tid; e < count * m; e += kThreads) {
          const int f = div_m.div(e), k = e - f * m;
          buf[e] = loaded<Cx>(spec[(c0 + f) * p.stride_n + k * p.stride_bin]);
        }
      }
      ctx.sync();
      // 2. Inverse FFT (unnormalised).
      const Cx* z = fft::block_fft<1, R>(ctx, buf, scratch, m, count, plan, tt);
      // 3. Overlap-add of window * frame into the segment (each thread owns positions: no races, fixed order).
      const int64_t base = c0 * g.hop;
      for (int i = tid; i < len; i += kThreads) {
        const int64_t pos = p0 + i;
        if (pos >= span || pos < base) continue;
        const int rel = static_cast<int>(pos - base);
        int lo, hi, r;
        hm.covering(rel, count - 1, &lo, &hi, &r);
        V v = acc[i];
        for (int f = lo; f <= hi; ++f) {
          const int k = rel - f * hm.hop.d;
          const Cx* zf = z + f * m;
          const R w = s.window[k];
          if constexpr (kComplex) {
            v += zf[k] * w;
          } else if (real_fft) {
            const Cx pair = zf[k >> 1];
            v += ((k & 1) ? pair.im : pair.re) * w;
          } else {
            v += zf[k].re * w;  // ifft_real
          }
        }
        acc[i] = v;
      }
    }
    ctx.sync();
    // 4. Envelope, scale, write each sample once.
    const SynthesisOut<V, Out> out(p, b, p0, len);
    const int f_env_max = static_cast<int>(min64(g.n_frames - 1 - first, 0x3fffffff));
    const int int_lo = static_cast<int>(max64(0, min64(len, g.n_fft - g.hop - p0)));
    const int int_hi = static_cast<int>(max64(0, min64(len, g.n_frames * g.hop - p0)));
    const int relf0 = static_cast<int>(p0 - first * g.hop);
    for (int i = tid; i < len; i += kThreads) {
      const int64_t pos = p0 + i;
      V y = zero_value<V>();
      if (pos < span) {
        R sc;
        if (hs_n > 0 && i >= int_lo && i < int_hi) {
          const int rf = i + relf0;
          sc = hs[rf - hm.hop.div(rf) * hm.hop.d];
        } else {
          const R h = g.env_normalize ? envelope_scale_rel(s.window, i + relf0, hm, f_env_max) : R(1);
          sc = h * s.scale;
        }
        y = acc[i] * sc;
      }
      out.put(p, b, p0, i, y);
    }
  }
};

// The transpose of reflect / replicate / circular padding, after a synthesis into the output and the side buffer:
// each output sample t that some side position reads (pad_source(p) == t, p outside [pad, pad + T)) gets those
// values added, in for_each_preimage's order (a gather: one thread per sample, deterministic). Such samples lie
// within k of either end of the row: targets [0, k) and [T - k, T) (all of [0, T) when T <= 2 k), targets_per_row of
// them per row.
template <typename V>
struct FoldSide {
  static constexpr int kThreads = 256;
  static constexpr int kMinBlocks = 1;

#pragma nv_exec_check_disable
  template <class Ctx>
  SPECTRO_HD static void run(Ctx& ctx, FusedSynthesisParams<V> p, int64_t targets_per_row, int64_t k) {
    const Geometry& g = p.s.g;
    const int64_t idx = ctx.block() * kThreads + ctx.tid();
    const int64_t b = idx / targets_per_row;
    if (b >= p.s.batch) return;
    const int64_t j = idx - b * targets_per_row;
    const int64_t t = j < k || targets_per_row == g.length ? j : g.length - targets_per_row + j;
    V* row = p.s.out + b * g.length;
    const V* side = p.side + b * fused_side_length(g);
    const int64_t direct = t + g.pad;
    V total = row[t];
    for_each_preimage(t, g, [&](int64_t q) {
      if (q != direct) total += side[q < g.pad ? q : q - g.length];  // left part at q, right part at q - T
    });
    row[t] = total;
  }
};

// Execution on the device.

struct DeviceCtx {
  // Asynchronous global -> shared copies of one element (4, 8 or 16 bytes, aligned to its size), completed for the
  // calling thread by copy_wait() (others see them after a barrier that follows it).
  template <typename T>
  __device__ __forceinline__ void copy_async(T* dst_shared, const T* src_global) const {
    static_assert(sizeof(T) == 4 || sizeof(T) == 8 || sizeof(T) == 16, "copy_async: 4, 8 or 16 bytes");
    __pipeline_memcpy_async(dst_shared, src_global, sizeof(T));
  }
  __device__ __forceinline__ void copy_commit() const { __pipeline_commit(); }
  __device__ __forceinline__ void copy_wait() const { __pipeline_wait_prior(0); }
  __device__ __forceinline__ int tid() const { return static_cast<int>(threadIdx.x); }
  __device__ __forceinline__ int nthreads() const { return static_cast<int>(blockDim.x); }
  __device__ __forceinline__ int64_t block() const { return static_cast<int64_t>(blockIdx.x); }
  __device__ __forceinline__ void sync() const { __syncthreads(); }
  __device__ __forceinline__ unsigned char* smem() const {
    extern __shared__ __align__(16) unsigned char fused_smem[];
    return fused_smem;
  }
};

template <class Body, class... Args>
__global__ void __launch_bounds__(Body::kThreads, Body::kMinBlocks) fused_entry(Args... args) {
  DeviceCtx ctx;
  Body::run(ctx, args...);
}

// Per kernel (Body and argument types) and device: the dynamic shared memory size opted in (cudaFuncSetAttribute is a
// driver call, so it is made once per kernel, device and larger size, not per launch) and the occupancy of the last
// shared memory size queried. Static storage: zero-initialised.
constexpr int kExecCacheDevices = 64;
template <class Body, class... Args>
struct ExecCache {
  static ExecCache& get() {
    static ExecCache c;
    return c;
  }
  std::atomic<int64_t> opted[kExecCacheDevices];
  std::atomic<uint64_t> occupancy[kExecCacheDevices];  // smem << 32 | SMs << 16 | blocks per SM; 0: none yet
};
inline std::mutex& exec_cache_mutex() {
  static std::mutex m;
  return m;
}

struct DeviceExec {
  cudaStream_t stream = nullptr;

  // Makes `smem` bytes of dynamic shared memory launchable for this kernel on the current device.
  template <class Body, class... Args>
  static cudaError_t opt_in(int device, int64_t smem) {
    if (smem <= 48 * 1024) return cudaSuccess;
    auto kernel = fused_entry<Body, Args...>;
    if (device < 0 || device >= kExecCacheDevices)
      return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
    auto& opted = ExecCache<Body, Args...>::get().opted[device];
    if (opted.load(std::memory_order_acquire) >= smem) return cudaSuccess;
    // The attribute only grows, under the lock, so `opted` is always the size actually set.
    std::lock_guard<std::mutex> lock(exec_cache_mutex());
    if (opted.load(std::memory_order_relaxed) >= smem) return cudaSuccess;
    const cudaError_t err =
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
    if (err == cudaSuccess) opted.store(smem, std::memory_order_release);
    return err;
  }

  // Blocks of this kernel resident on the whole device at once (0 on error).
  template <class Body, class... Args>
  int64_t slots(int64_t smem) const {
    int device = 0;
    if (cudaGetDevice(&device) != cudaSuccess) return 0;
    const bool cached = device >= 0 && device < kExecCacheDevices;
    if (cached) {
      const uint64_t hit = ExecCache<Body, Args...>::get().occupancy[device].load(std::memory_order_relaxed);
      if (hit != 0 && static_cast<int64_t>(hit >> 32) == smem)
        return static_cast<int64_t>(hit & 0xffff) * static_cast<int64_t>((hit >> 16) & 0xffff);
    }
    int sms = 0;
    if (cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess) return 0;
    if (opt_in<Body, Args...>(device, smem) != cudaSuccess) return 0;
    int per_sm = 0;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, fused_entry<Body, Args...>, Body::kThreads,
                                                      static_cast<size_t>(smem)) != cudaSuccess)
      return 0;
    if (cached && per_sm > 0)
      ExecCache<Body, Args...>::get().occupancy[device].store(
          (static_cast<uint64_t>(smem) << 32) | (static_cast<uint64_t>(sms & 0xffff) << 16) |
              static_cast<uint64_t>(per_sm & 0xffff),
          std::memory_order_relaxed);
    return static_cast<int64_t>(per_sm) * sms;
  }

  template <class Body, class... Args>
  cudaError_t launch(int64_t blocks, int64_t smem, Args... args) const {
    if (blocks <= 0) return cudaSuccess;
    if (blocks > 0x7fffffff) return cudaErrorInvalidConfiguration;
    int device = 0;
    cudaError_t err = cudaGetDevice(&device);
    if (err != cudaSuccess) return err;
    err = opt_in<Body, Args...>(device, smem);
    if (err != cudaSuccess) return err;
    fused_entry<Body, Args...><<<static_cast<unsigned>(blocks), Body::kThreads, static_cast<size_t>(smem), stream>>>(
        args...);
    return cudaGetLastError();
  }
};

}  // namespace detail

// Shared memory a fused block may take: the budget the launchers size tiles for, and the hard cap (H100/H200 allow
// 227 KB per block after opting in).
constexpr int64_t kFusedSmemBudget = 96 * 1024;
// The general engine's launchers split short inputs finer until they have this many blocks (two per SM of an H100 /
// H200), rather than leave SMs idle.
constexpr int64_t kFusedWideGrid = 264;
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

namespace detail {

// Resident blocks of Body on the device: Exec::slots, at least one SM's worth of one block.
template <class Body, class Exec, class... Args>
int64_t resident_blocks(const Exec& exec, int64_t smem) {
  const int64_t s = exec.template slots<Body, Args...>(smem);
  return s > 0 ? s : 132;
}

template <typename V, typename Out, typename In, int kLogM, class Exec>
cudaError_t pow2_analysis(const FusedAnalysisParams<V>& p, const Exec& exec) {
  using Body = Pow2Analysis<V, kLogM, Out, In>;
  const Geometry& g = p.a.g;
  const int64_t smem = Body::smem_bytes();
  // One or a few waves of equal blocks, each a run of whole rounds of one row.
  const int64_t slots = resident_blocks<Body, Exec, FusedAnalysisParams<V>, int, int64_t>(exec, smem);
  const int waves = fused_tuning().waves > 0 ? fused_tuning().waves : 2;
  const int64_t rounds_per_row = (g.n_frames + Body::kRound - 1) / Body::kRound;
  // Rounded down: rounding up would leave a last, nearly empty wave (up to batch - 1 blocks) that costs a whole
  // block's time.
  const int64_t blocks_per_row_target = max64(1, slots * waves / p.a.batch);
  const int64_t rounds = fused_tuning().rounds > 0
                             ? fused_tuning().rounds
                             : max64(1, (rounds_per_row + blocks_per_row_target - 1) / blocks_per_row_target);
  const int64_t frames_per_block = rounds * Body::kRound;
  if (frames_per_block > 0x7fffffff) return cudaErrorInvalidConfiguration;
  const int64_t blocks_per_row = (g.n_frames + frames_per_block - 1) / frames_per_block;
  return exec.template launch<Body>(p.a.batch * blocks_per_row, smem, p, static_cast<int>(frames_per_block),
                                    blocks_per_row);
}

template <typename V, typename Out, typename In, class Exec>
cudaError_t generic_synthesis(const FusedSynthesisParams<V>& p, const Exec& exec, bool complex_fft);

template <typename V, typename Out, typename In, int kLogM, class Exec>
cudaError_t pow2_synthesis(const FusedSynthesisParams<V>& p, const Exec& exec, bool complex_fft) {
  using Body = Pow2Synthesis<V, kLogM, Out, In>;
  const Geometry& g = p.s.g;
  const int ring = Body::ring_size(g.n_fft, g.hop);
  const int64_t smem = Body::smem_bytes(ring, g.n_fft, g.hop);
  // Long hops in double precision (and complex n_fft = 4096) take the general engine. Decided on the footprint with
  // the spectrum staged in the compute type, whatever its storage: one geometry, one engine, so a complex32 spectrum
  // gives exactly the result of its complex64 copy (a smaller complex32 stage would fit where complex64 does not).
  using Staged = Pow2Synthesis<V, kLogM, Out, Complex<typename RealOf<V>::type>>;
  if (Staged::smem_bytes(ring, g.n_fft, g.hop) > kFusedSmemMax) return generic_synthesis<V, Out, In>(p, exec, complex_fft);
  const int64_t slots = resident_blocks<Body, Exec, FusedSynthesisParams<V>, int, int64_t, int, int>(exec, smem);
  const int waves = fused_tuning().waves > 0 ? fused_tuning().waves : 1;
  // Segment: a multiple of hop, long enough that the frames transformed twice (those straddling two segments,
  // about n_fft / hop per segment) stay a small share, short enough to give `waves` waves of blocks.
  const int64_t cover = (g.n_fft + g.hop - 1) / g.hop;
  const int64_t positions = synthesis_hi(g) - synthesis_lo(g);  // per row
  const int64_t hops_per_row = (positions + g.hop - 1) / g.hop;
  const int64_t blocks_per_row_target = max64(1, slots * waves / p.s.batch);  // rounded down, as in analysis
  int64_t seg_hops = max64(2 * cover, (hops_per_row + blocks_per_row_target - 1) / blocks_per_row_target);
  if (fused_tuning().segment_hops > 0) seg_hops = fused_tuning().segment_hops;
  seg_hops = min64(seg_hops, max64(1, (int64_t{1} << 30) / g.hop));
  const int64_t segment = seg_hops * g.hop;
  const int64_t segments_per_row = (positions + segment - 1) / segment;
  // Packed overlap-add and stores where hop and the first segment's start are multiples of the pack (the kernel
  // checks each segment's length).
  const int packed = !fused_tuning().scalar_ola && g.hop % Body::kVec == 0 && synthesis_lo(g) % Body::kVec == 0;
  return exec.template launch<Body>(p.s.batch * segments_per_row, smem, p, static_cast<int>(segment),
                                    segments_per_row, ring, packed);
}

template <typename V, typename Out, typename In, class Exec>
cudaError_t generic_analysis(const FusedAnalysisParams<V>& p, const Exec& exec) {
  using R = typename RealOf<V>::type;
  using Body = GenericAnalysis<V, Out, In>;
  constexpr bool kComplex = IsComplex<V>::value;
  const Geometry& g = p.a.g;
  fft::Plan plan;
  const int64_t m = fft_length(kComplex, g.n_fft);
  fft::make_plan(m, &plan);
  const int64_t cbytes = sizeof(Complex<R>);
  // Twiddle table when it takes at most a quarter of the budget.
  const int64_t table_n = (kComplex ? m : g.n_fft) * cbytes <= kFusedSmemBudget / 4 ? (kComplex ? m : g.n_fft) : 0;
  // Frames per tile: ~2048 complex values per FFT buffer, at least one frame, within the shared-memory budget.
  auto bytes_for = [&](int64_t f) {
    return 2 * f * m * cbytes + table_n * cbytes + ((f - 1) * g.hop + g.n_fft) * static_cast<int64_t>(sizeof(V));
  };
  int64_t frames = max64(1, 2048 / m);
  frames = min64(frames, g.n_frames);
  while (frames > 1 && bytes_for(frames) > kFusedSmemBudget) --frames;
  // Short signals: fewer frames per tile rather than idle SMs (a tile's frames are transformed one pass at a time,
  // so a lone block with many frames is latency-bound).
  while (frames > 1 && p.a.batch * ((g.n_frames + frames - 1) / frames) < kFusedWideGrid) --frames;
  int64_t t_n = table_n;
  if (bytes_for(frames) > kFusedSmemMax) t_n = 0;
  const int64_t smem = bytes_for(frames) - (table_n - t_n) * cbytes;
  if (smem > kFusedSmemMax) return cudaErrorInvalidValue;
  const int64_t tiles = (g.n_frames + frames - 1) / frames;
  return exec.template launch<Body>(p.a.batch * tiles, smem, p, static_cast<int>(frames), tiles, plan,
                                    static_cast<int>(t_n));
}

template <typename V, typename Out, typename In, class Exec>
cudaError_t generic_synthesis(const FusedSynthesisParams<V>& p, const Exec& exec, bool complex_fft) {
  using R = typename RealOf<V>::type;
  using Body = GenericSynthesis<V, Out, In>;
  const Geometry& g = p.s.g;
  fft::Plan plan;
  const int64_t m = fft_length(complex_fft, g.n_fft);
  fft::make_plan(m, &plan);
  const int64_t cbytes = sizeof(Complex<R>);
  const int64_t table_n = g.n_fft * cbytes <= kFusedSmemBudget / 4 ? (complex_fft ? m : g.n_fft) : 0;
  // Segment: a multiple of hop near 8 frames' worth of output (fewer when that would leave SMs idle), so that the
  // frames re-transformed at segment edges stay a small fraction.
  const int64_t rows = p.s.batch;
  int64_t segment = max64(g.hop, min64(8192, 4 * g.n_fft) / g.hop * g.hop);
  const int64_t positions = synthesis_hi(g) - synthesis_lo(g);  // per row
  while (segment > g.hop && rows * ((positions + segment - 1) / segment) < kFusedWideGrid) segment -= g.hop;
  int64_t frames = max64(1, 2048 / m);
  auto bytes_for = [&](int64_t f, int64_t seg, int64_t tn, int64_t hn) {
    return 2 * f * m * cbytes + tn * cbytes + seg * static_cast<int64_t>(sizeof(V)) +
           hn * static_cast<int64_t>(sizeof(R));
  };
  while (frames > 1 && bytes_for(frames, segment, table_n, g.hop) > kFusedSmemBudget) --frames;
  while (segment > g.hop && bytes_for(frames, segment, table_n, g.hop) > kFusedSmemBudget) segment -= g.hop;
  // Long hops: drop the twiddle table, then the scale table, then cut the segment below a hop.
  const int64_t t_n = bytes_for(frames, segment, table_n, 0) > kFusedSmemMax ? 0 : table_n;
  const int64_t hs_n = bytes_for(frames, segment, t_n, g.hop) > kFusedSmemMax ? 0 : g.hop;
  while (segment > 64 && bytes_for(frames, segment, t_n, hs_n) > kFusedSmemMax) segment = max64(64, segment / 2);
  const int64_t smem = bytes_for(frames, segment, t_n, hs_n);
  if (smem > kFusedSmemMax) return cudaErrorInvalidValue;
  const int64_t blocks = rows * ((positions + segment - 1) / segment);
  return exec.template launch<Body>(blocks, smem, p, static_cast<int>(segment), static_cast<int>(frames), plan,
                                    static_cast<int>(t_n), static_cast<int>(hs_n));
}

// The launchers' logic on any executor (DeviceExec, or the test's host emulation), for storage types Out (result)
// and In (input).
template <typename V, typename Out, typename In, class Exec>
cudaError_t run_fused_analysis_as(const FusedAnalysisParams<V>& p, const Exec& exec) {
  constexpr bool kComplex = IsComplex<V>::value;
  const Geometry& g = p.a.g;
  if (p.a.batch == 0 || g.n_frames == 0) return cudaSuccess;
  if (!fused_supported<V>(g.n_fft, kComplex)) return cudaErrorInvalidValue;
  if (kComplex != (p.mode == FftMode::Fft)) return cudaErrorInvalidValue;
  const int logm = fused_tuning().force_general ? -1 : log2_exact(fft_length(kComplex, g.n_fft));
  switch (logm) {
    case 4: return pow2_analysis<V, Out, In, 4>(p, exec);
    case 5: return pow2_analysis<V, Out, In, 5>(p, exec);
    case 6: return pow2_analysis<V, Out, In, 6>(p, exec);
    case 7: return pow2_analysis<V, Out, In, 7>(p, exec);
    case 8: return pow2_analysis<V, Out, In, 8>(p, exec);
    case 9: return pow2_analysis<V, Out, In, 9>(p, exec);
    case 10: return pow2_analysis<V, Out, In, 10>(p, exec);
    case 11: return pow2_analysis<V, Out, In, 11>(p, exec);
    case 12: return pow2_analysis<V, Out, In, 12>(p, exec);
    default: return generic_analysis<V, Out, In>(p, exec);
  }
}

template <typename V, class Exec>
cudaError_t fold_side(const FusedSynthesisParams<V>& p, const Exec& exec) {
  using Body = FoldSide<V>;
  const Geometry& g = p.s.g;
  const int64_t right = g.span() - g.pad - g.length;
  const int64_t k = max64(g.pad, right) + 1;  // reflect reaches t = pad and T - 1 - right; circular t = T - pad, right - 1
  const int64_t targets_per_row = min64(g.length, 2 * k);
  const int64_t blocks = (p.s.batch * targets_per_row + Body::kThreads - 1) / Body::kThreads;
  return exec.template launch<Body>(blocks, 0, p, targets_per_row, k);
}

template <typename V, typename Out, typename In, class Exec>
cudaError_t run_fused_synthesis_engine(const FusedSynthesisParams<V>& p, const Exec& exec);

// For storage types Out (V, or half precision: constant padding only, the fold reads and adds to the output in V)
// and In.
template <typename V, typename Out, typename In, class Exec>
cudaError_t run_fused_synthesis_as(const FusedSynthesisParams<V>& p, const Exec& exec) {
  const Geometry& g = p.s.g;
  if (p.s.batch == 0 || g.length == 0) return cudaSuccess;
  const bool fold = fused_side_length(g) > 0;  // positions outside the signal to fold back
  if (fold && (p.side == nullptr || !std::is_same<Out, V>::value)) return cudaErrorInvalidValue;
  const cudaError_t err = run_fused_synthesis_engine<V, Out, In>(p, exec);
  if constexpr (std::is_same<Out, V>::value) {
    if (err != cudaSuccess || !fold) return err;
    return fold_side(p, exec);
  } else {
    return err;
  }
}

// The synthesis proper (output and side buffer), by FFT length.
template <typename V, typename Out, typename In, class Exec>
cudaError_t run_fused_synthesis_engine(const FusedSynthesisParams<V>& p, const Exec& exec) {
  const Geometry& g = p.s.g;
  const bool complex_fft = !(p.mode == FftMode::Irfft || p.mode == FftMode::IrfftHalf);
  if (complex_fft != (p.mode == FftMode::Ifft || p.mode == FftMode::IfftReal)) return cudaErrorInvalidValue;
  if (IsComplex<V>::value != (p.mode == FftMode::Ifft)) return cudaErrorInvalidValue;
  if (!fused_supported<V>(g.n_fft, complex_fft)) return cudaErrorInvalidValue;
  const int logm = fused_tuning().force_general ? -1 : log2_exact(fft_length(complex_fft, g.n_fft));
  switch (logm) {
    case 4: return pow2_synthesis<V, Out, In, 4>(p, exec, complex_fft);
    case 5: return pow2_synthesis<V, Out, In, 5>(p, exec, complex_fft);
    case 6: return pow2_synthesis<V, Out, In, 6>(p, exec, complex_fft);
    case 7: return pow2_synthesis<V, Out, In, 7>(p, exec, complex_fft);
    case 8: return pow2_synthesis<V, Out, In, 8>(p, exec, complex_fft);
    case 9: return pow2_synthesis<V, Out, In, 9>(p, exec, complex_fft);
    case 10: return pow2_synthesis<V, Out, In, 10>(p, exec, complex_fft);
    case 11: return pow2_synthesis<V, Out, In, 11>(p, exec, complex_fft);
    case 12: return pow2_synthesis<V, Out, In, 12>(p, exec, complex_fft);
    default: return generic_synthesis<V, Out, In>(p, exec, complex_fft);
  }
}

// ---- storage types, by the parameters -----------------------------------------------------------------------------

template <typename T>
struct TypeTag {
  using type = T;
};

// Calls f(TypeTag<Out>{}, TypeTag<In>{}) with the storage types the parameters select: the result as complex32 when
// spec_half is set, the signal in half precision when x_half is (float16 / bfloat16 by x_half_bf16, complex32 for a
// complex signal); cudaErrorInvalidValue for a combination the kernels do not have (half precision with a
// double-precision computation, a bfloat16 complex signal, both a.x and x_half).
template <typename V, class F>
cudaError_t with_analysis_types(const FusedAnalysisParams<V>& p, F&& f) {
  using R = typename RealOf<V>::type;
  if constexpr (!std::is_same<R, float>::value) {
    if (p.spec_half != nullptr || p.x_half != nullptr) return cudaErrorInvalidValue;
    return f(TypeTag<Complex<R>>{}, TypeTag<V>{});
  } else {
    if (p.x_half != nullptr && p.a.x != nullptr) return cudaErrorInvalidValue;
    const auto by_input = [&](auto out) -> cudaError_t {
      if (p.x_half == nullptr) return f(out, TypeTag<V>{});
      if constexpr (IsComplex<V>::value) {
        return p.x_half_bf16 ? cudaErrorInvalidValue : f(out, TypeTag<__half2>{});
      } else {
        return p.x_half_bf16 ? f(out, TypeTag<__nv_bfloat16>{}) : f(out, TypeTag<__half>{});
      }
    };
    return p.spec_half != nullptr ? by_input(TypeTag<__half2>{}) : by_input(TypeTag<Complex<R>>{});
  }
}

// The same for the synthesis: the output as float16 / bfloat16 when out_half / out_bf16 is set (float only), the
// spectrum as complex32 when spec_c32 is (single precision).
template <typename V, class F>
cudaError_t with_synthesis_types(const FusedSynthesisParams<V>& p, F&& f) {
  using R = typename RealOf<V>::type;
  if constexpr (!std::is_same<R, float>::value) {
    if (p.out_half != nullptr || p.out_bf16 != nullptr || p.spec_c32 != nullptr) return cudaErrorInvalidValue;
    return f(TypeTag<V>{}, TypeTag<Complex<R>>{});
  } else {
    const auto by_input = [&](auto out) -> cudaError_t {
      return p.spec_c32 != nullptr ? f(out, TypeTag<__half2>{}) : f(out, TypeTag<Complex<R>>{});
    };
    if (p.out_half == nullptr && p.out_bf16 == nullptr) return by_input(TypeTag<V>{});
    if constexpr (std::is_same<V, float>::value) {
      if (p.out_half != nullptr && p.out_bf16 != nullptr) return cudaErrorInvalidValue;
      return p.out_half != nullptr ? by_input(TypeTag<__half>{}) : by_input(TypeTag<__nv_bfloat16>{});
    } else {
      return cudaErrorInvalidValue;
    }
  }
}

// By the parameters, on any executor (the host emulation runs these).
template <typename V, class Exec>
cudaError_t run_fused_analysis(const FusedAnalysisParams<V>& p, const Exec& exec) {
  return with_analysis_types(p, [&](auto out, auto in) {
    return run_fused_analysis_as<V, typename decltype(out)::type, typename decltype(in)::type>(p, exec);
  });
}
template <typename V, class Exec>
cudaError_t run_fused_synthesis(const FusedSynthesisParams<V>& p, const Exec& exec) {
  return with_synthesis_types(p, [&](auto out, auto in) {
    return run_fused_synthesis_as<V, typename decltype(out)::type, typename decltype(in)::type>(p, exec);
  });
}

}  // namespace detail

// The launchers, one per combination of storage types, each instantiated in its own file (fused_*.cu) to keep
// compilation units small and the build parallel; launch_fused_analysis / launch_fused_synthesis hand over to them.
template <typename V, typename Out, typename In>
cudaError_t launch_fused_analysis_as(const FusedAnalysisParams<V>& p, cudaStream_t stream) {
  return detail::run_fused_analysis_as<V, Out, In>(p, detail::DeviceExec{stream});
}
template <typename V, typename Out, typename In>
cudaError_t launch_fused_synthesis_as(const FusedSynthesisParams<V>& p, cudaStream_t stream) {
  return detail::run_fused_synthesis_as<V, Out, In>(p, detail::DeviceExec{stream});
}

// (V, Out, In) of every instantiated launcher: X(V, Out, In) for the analysis, Y(...) for the synthesis.
#define SPECTRO_FUSED_LAUNCHERS(X, Y)                                  \
  X(float, Complex<float>, float)                                      \
  X(float, __half2, float)                                             \
  X(float, Complex<float>, __half)                                     \
  X(float, __half2, __half)                                            \
  X(float, Complex<float>, __nv_bfloat16)                              \
  X(float, __half2, __nv_bfloat16)                                     \
  X(double, Complex<double>, double)                                   \
  X(Complex<float>, Complex<float>, Complex<float>)                    \
  X(Complex<float>, __half2, Complex<float>)                           \
  X(Complex<float>, Complex<float>, __half2)                           \
  X(Complex<float>, __half2, __half2)                                  \
  X(Complex<double>, Complex<double>, Complex<double>)                 \
  Y(float, float, Complex<float>)                                      \
  Y(float, __half, Complex<float>)                                     \
  Y(float, __nv_bfloat16, Complex<float>)                              \
  Y(float, float, __half2)                                             \
  Y(float, __half, __half2)                                            \
  Y(float, __nv_bfloat16, __half2)                                     \
  Y(double, double, Complex<double>)                                   \
  Y(Complex<float>, Complex<float>, Complex<float>)                    \
  Y(Complex<float>, Complex<float>, __half2)                           \
  Y(Complex<double>, Complex<double>, Complex<double>)

#define SPECTRO_FUSED_ANALYSIS_AS(V, Out, In) \
  template cudaError_t launch_fused_analysis_as<V, Out, In>(const FusedAnalysisParams<V>&, cudaStream_t);
#define SPECTRO_FUSED_SYNTHESIS_AS(V, Out, In) \
  template cudaError_t launch_fused_synthesis_as<V, Out, In>(const FusedSynthesisParams<V>&, cudaStream_t);
#define SPECTRO_EXTERN_ANALYSIS_AS(V, Out, In) extern SPECTRO_FUSED_ANALYSIS_AS(V, Out, In)
#define SPECTRO_EXTERN_SYNTHESIS_AS(V, Out, In) extern SPECTRO_FUSED_SYNTHESIS_AS(V, Out, In)
SPECTRO_FUSED_LAUNCHERS(SPECTRO_EXTERN_ANALYSIS_AS, SPECTRO_EXTERN_SYNTHESIS_AS)
#undef SPECTRO_EXTERN_ANALYSIS_AS
#undef SPECTRO_EXTERN_SYNTHESIS_AS

// By the parameters (with_analysis_types / with_synthesis_types).
template <typename V>
cudaError_t launch_fused_analysis(const FusedAnalysisParams<V>& p, cudaStream_t stream) {
  return detail::with_analysis_types(p, [&](auto out, auto in) {
    return launch_fused_analysis_as<V, typename decltype(out)::type, typename decltype(in)::type>(p, stream);
  });
}
template <typename V>
cudaError_t launch_fused_synthesis(const FusedSynthesisParams<V>& p, cudaStream_t stream) {
  return detail::with_synthesis_types(p, [&](auto out, auto in) {
    return launch_fused_synthesis_as<V, typename decltype(out)::type, typename decltype(in)::type>(p, stream);
  });
}

}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
