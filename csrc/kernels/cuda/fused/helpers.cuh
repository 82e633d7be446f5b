// spectro — fused kernels: helpers shared by the engines: hop arithmetic, 16-byte packs, envelope scales, padded
// samples, where a synthesis stores a position.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <type_traits>

#include "../fft/block_fft.cuh"
#include "storage.cuh"

namespace spectro {
namespace kernels {
namespace cuda {
namespace detail {

SPECTRO_HD int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
SPECTRO_HD int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
SPECTRO_HD int mini(int a, int b) { return a < b ? a : b; }
// v, opaque to the device compiler's optimiser (no instruction): what a loop derives from it is not hoisted out of
// the loop. (Shared-memory addresses hoisted out of a frame loop each hold a register across it; at a register cap,
// the kernel spills them.)
SPECTRO_HD int opaque(int v) {
#ifdef __CUDA_ARCH__
  asm volatile("" : "+r"(v));
#endif
  return v;
}

template <typename V> struct IsComplex { static constexpr bool value = false; };
template <typename R> struct IsComplex<Complex<R>> { static constexpr bool value = true; };

template <typename R>
SPECTRO_HD Complex<R> as_complex(R v) { return {v, R(0)}; }
template <typename R>
SPECTRO_HD Complex<R> as_complex(Complex<R> v) { return v; }

// The split step of a real signal's FFT computed as a half-length complex one: bin k of the spectrum from Z[k] and
// Z[M-k] (w = exp(-2 pi i k / n_fft)): X[k] = (Z[k] + conj Z[M-k]) / 2 - i/2 w (Z[k] - conj Z[M-k]).
template <typename R>
SPECTRO_HD Complex<R> real_split_bin(Complex<R> zk, Complex<R> zmk, Complex<R> w) {
  const Complex<R> zc = fft::cconj(zmk);
  const Complex<R> even = fft::cscale(fft::cadd(zk, zc), R(0.5));
  const Complex<R> odd = fft::cmul(w, fft::cscale(fft::csub(zk, zc), R(0.5)));
  return Complex<R>{even.re + odd.im, even.im - odd.re};  // even - i * odd
}

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

// The pairs (p[2e], p[2e + 1]) of a thread's elements e = j + r * kStride, r = 0..7, in the compute type, sample by
// sample: where p is not aligned for pair loads. A function of its own on the device: inlined beside the aligned
// path's pair loads, ptxas issued both kinds on every call under predicates (24 load instructions where 8 do); as a
// call, the aligned path is its 8 loads behind a branch (the values come back in registers; ptxas saves one
// register per kernel for the call).
template <typename R>
struct EightPairs {
  Complex<R> v[8];
};
template <typename R, int kStride, typename In>
#ifdef __CUDA_ARCH__
__device__ __noinline__
#endif
EightPairs<R> unaligned_pairs(const In* p, int j) {
  EightPairs<R> out;
SPECTRO_UNROLL
  for (int r = 0; r < 8; ++r)
    out.v[r] = Complex<R>{loaded<R>(p[2 * (j + r * kStride)]), loaded<R>(p[2 * (j + r * kStride) + 1])};
  return out;
}

// Asynchronous copies of src[0 .. n) (global memory) to dst[0 .. n) (shared memory) by every thread of the block,
// committed: 16-byte pieces where the two addresses agree modulo 16, single elements before and after them (and
// throughout where they do not). Complete for the block after each thread's ctx.copy_wait() and a barrier.
#pragma nv_exec_check_disable
template <typename R, class Ctx>
SPECTRO_HD void copy_async_block(Ctx& ctx, R* dst, const R* src, int n) {
  static_assert(16 % sizeof(R) == 0, "copy_async_block: elements of 4 or 8 bytes");
  constexpr int kN = Pack16<R>::kN;
  const uintptr_t d = reinterpret_cast<uintptr_t>(dst), s = reinterpret_cast<uintptr_t>(src);
  int head = n, pieces = 0;
  if (((d ^ s) & 15) == 0) {
    head = mini(n, static_cast<int>(((16 - (d & 15)) & 15) / sizeof(R)));
    pieces = (n - head) / kN;
  }
  const int tail = head + pieces * kN;
  const int tid = ctx.tid(), nt = ctx.nthreads();
  for (int i = tid; i < head; i += nt) ctx.copy_async(dst + i, src + i);
  for (int i = tid; i < pieces; i += nt) {
    check_aligned16(dst + head + i * kN);
    check_aligned16(src + head + i * kN);
    ctx.copy_async(reinterpret_cast<Pack16<R>*>(dst + head) + i, reinterpret_cast<const Pack16<R>*>(src + head) + i);
  }
  for (int i = tail + tid; i < n; i += nt) ctx.copy_async(dst + i, src + i);
  ctx.copy_commit();
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
// when 0 <= t < T (as Out; with p.accumulate, added to it), else the row's side buffer (left part at p, right part at
// p - T). One pointer in registers; the rest is re-read from the kernel parameters on the (edge-only) slow path.
template <typename V, typename Out>
struct SynthesisOut {
  Out* direct;  // output row + (p0 - pad) when the whole segment lies inside the signal, else null
  SPECTRO_HD SynthesisOut(const FusedSynthesisParams<V>& p, int64_t b, int64_t p0, int len) {
    const int64_t t0 = p0 - p.s.g.pad;
    direct = t0 >= 0 && t0 + len <= p.s.g.length ? output_of<Out>(p) + b * p.s.g.length + t0 : nullptr;
  }
  SPECTRO_HD void put(const FusedSynthesisParams<V>& p, int64_t b, int64_t p0, int i, V v) const {
    if (direct != nullptr) {
      if constexpr (std::is_same<Out, V>::value) {
        if (p.accumulate) v = direct[i] + v;
      }
      direct[i] = stored<Out>(v);
    } else {
      put_edge(output_of<Out>(p), p.side, p.s.g.length, p.s.g.pad, fused_side_length(p.s.g), b, p0 + i - p.s.g.pad, v,
               p.accumulate);
    }
  }
  // Sample t (-pad <= t < span - pad) of row b. Out of line (its arguments by value: no copy of the parameters in
  // local memory), so that the edge arithmetic stays out of the kernels' store loops (inlined, it was predicated
  // into every store).
  __host__ __device__ __noinline__ static void put_edge(Out* out, V* side, int64_t length, int64_t pad,
                                                        int64_t side_len, int64_t b, int64_t t, V v, bool accumulate) {
    if (t >= 0 && t < length) {
      if constexpr (std::is_same<Out, V>::value) {
        if (accumulate) v = out[b * length + t] + v;
      }
      out[b * length + t] = stored<Out>(v);
    } else {
      side[b * side_len + (t < 0 ? t + pad : t - length + pad)] = v;  // left part at p, right part at p - T
    }
  }
};

}  // namespace detail
}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
