// spectro — block-cooperative FFTs in shared memory (torch-free).
//
// Two engines, both Stockham autosort (no bit reversal), forward kSign = -1 (sum_m z[m] exp(-2 pi i k m / M)) and
// unnormalised inverse kSign = +1:
//
// * Power-of-two M = 2^L, 16 <= M <= 4096 (Pow2Shape / pow2_pass): register-blocked. Each thread owns 8 elements
//   j + r * M/8 (r = 0..7) of one sequence for the whole transform; every pass is radix 8 (a final radix-4 or
//   radix-2 pass when L is not a multiple of 3, done as 2 or 4 butterflies on the same 8 registers), reads its
//   8 inputs from shared memory at those fixed positions and writes its 8 outputs at the Stockham positions. Index
//   math is shifts and masks on compile-time constants; the twiddles of every pass depend only on j, so each thread
//   computes them once (sincospi of an exact ratio) and keeps them in registers for all the frames it transforms.
//   Intermediate buffers use padded layouts that make the strided Stockham stores of the first two passes free of
//   bank conflicts (see Pow2Shape::place); the last pass writes the natural order.
// * General M = 2^a 3^b 5^c (Plan / block_fft): a pass loop over all butterflies of `count` sequences (radices 8, 4,
//   2, 3, 5), twiddles from a shared-memory table of the N-th roots when one is given (else sincospi), index
//   divisions through a float reciprocal (SmallDiv).
//
// Twiddles are correctly rounded values (sincospi of exactly representable ratios), so the transform's error grows
// like eps * log2 M, as cuFFT's. Functions that take a `Ctx` (the execution context: thread index, barrier) run on
// the device and, for the standalone test's host emulation, on the host.
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "../../common.h"

// Unrolling on the device (the host compiler of the emulation ignores it).
#if defined(__CUDA_ARCH__)
#define SPECTRO_UNROLL _Pragma("unroll")
#define SPECTRO_UNROLL_4 _Pragma("unroll 4")
#define SPECTRO_NO_UNROLL _Pragma("unroll 1")
#else
#define SPECTRO_UNROLL
#define SPECTRO_UNROLL_4
#define SPECTRO_NO_UNROLL
#endif

namespace spectro {
namespace kernels {
namespace cuda {
namespace fft {

template <typename R>
using C = Complex<R>;

template <typename R>
SPECTRO_HD C<R> cadd(C<R> a, C<R> b) { return {a.re + b.re, a.im + b.im}; }
template <typename R>
SPECTRO_HD C<R> csub(C<R> a, C<R> b) { return {a.re - b.re, a.im - b.im}; }
template <typename R>
SPECTRO_HD C<R> cmul(C<R> a, C<R> b) { return {a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re}; }
template <typename R>
SPECTRO_HD C<R> cscale(C<R> a, R s) { return {a.re * s, a.im * s}; }
template <typename R>
SPECTRO_HD C<R> cconj(C<R> a) { return {a.re, -a.im}; }
// s * i * a for s = +-1
template <int kSign, typename R>
SPECTRO_HD C<R> mul_si(C<R> a) { return kSign > 0 ? C<R>{-a.im, a.re} : C<R>{a.im, -a.re}; }

SPECTRO_HD void sincospi_(float x, float* s, float* c) {
#if defined(__CUDA_ARCH__)
  sincospif(x, s, c);
#else
  // Host emulation: the correctly rounded value of the double-precision result.
  const double a = 3.14159265358979323846 * static_cast<double>(x);
  *s = static_cast<float>(std::sin(a));
  *c = static_cast<float>(std::cos(a));
#endif
}
SPECTRO_HD void sincospi_(double x, double* s, double* c) {
#if defined(__CUDA_ARCH__)
  sincospi(x, s, c);
#else
  const double a = 3.14159265358979323846 * x;
  *s = std::sin(a);
  *c = std::cos(a);
#endif
}

// exp(i * pi * num / den) for integers num, den > 0. The angle is first reduced exactly (integer arithmetic, by the
// symmetries exp(i pi (x + 1)) = -exp(i pi x) and exp(i pi (x + 1/2)) = i exp(i pi x)) to |x| <= 1/4, so the one
// rounding of the ratio num / den costs at most a quarter of an ulp of phase: sincospi of the unreduced ratio (up to
// 2 in magnitude) carries up to 8 times that, several ulps of the twiddle, which showed as a few times cuFFT's error
// in the smallest bins.
template <typename R, typename I>
SPECTRO_HD C<R> expi_pi_in(int num, int den) {
  const I d2 = 2 * static_cast<I>(den);
  I n = num > -d2 && num < d2 ? static_cast<I>(num) : num % d2;  // x in (-2, 2) -> (-1, 1]
  if (n > den) n -= d2;
  if (n <= -den) n += d2;
  bool negate = false;  // -> [-1/2, 1/2]
  if (2 * n > den) {
    n -= den;
    negate = true;
  } else if (2 * n < -den) {
    n += den;
    negate = true;
  }
  I d = den;
  int rotate = 0;  // -> [-1/4, 1/4] over the denominator 2 den: x -/+ 1/2 = (2n -/+ den) / (2 den)
  if (4 * n > den) {
    n = 2 * n - den;
    d = d2;
    rotate = 1;
  } else if (4 * n < -den) {
    n = 2 * n + den;
    d = d2;
    rotate = -1;
  }
  R s, c;
  sincospi_(static_cast<R>(n) / static_cast<R>(d), &s, &c);
  C<R> w{c, s};
  if (rotate > 0) w = C<R>{-w.im, w.re};  // i w
  if (rotate < 0) w = C<R>{w.im, -w.re};  // -i w
  if (negate) w = C<R>{-w.re, -w.im};
  return w;
}
template <typename R>
SPECTRO_HD C<R> expi_pi(int num, int den) {
  // The reduction in 32-bit integers where nothing overflows (den <= 2^29: 4 |n| <= 2 den after the first two steps),
  // and the modulo only for angles outside (-2 pi, 2 pi), which the kernels' twiddle tables never ask for: a table
  // entry is then a few integer operations and the sincospi, where a 64-bit modulo alone is a long instruction
  // sequence. The same n, d and so the same value either way.
  return den <= (1 << 29) ? expi_pi_in<R, int>(num, den) : expi_pi_in<R, int64_t>(num, den);
}

// exp(kSign 2 pi i r / 16), r = 0..7, correctly rounded constants.
template <int kSign, typename R>
SPECTRO_HD C<R> w16(int r) {
  const R c[8] = {R(1), R(0.92387953251128675613), R(0.70710678118654752440), R(0.38268343236508977173),
                  R(0), R(-0.38268343236508977173), R(-0.70710678118654752440), R(-0.92387953251128675613)};
  const R s[8] = {R(0), R(0.38268343236508977173), R(0.70710678118654752440), R(0.92387953251128675613),
                  R(1), R(0.92387953251128675613), R(0.70710678118654752440), R(0.38268343236508977173)};
  return {c[r], kSign > 0 ? s[r] : -s[r]};
}

// a / d for a >= 0 and 1 <= d < 2^22; below a = 2^22 without an integer division: a float estimate (off by at most one,
// since a * (1/d) carries a relative error under 2^-23) and one correction.
struct SmallDiv {
  int d = 1;
  float inv = 1.f;
  SmallDiv() = default;
  SPECTRO_HD explicit SmallDiv(int d_) : d(d_), inv(1.f / static_cast<float>(d_)) {}
  SPECTRO_HD int div(int a) const {
    if (a >= (1 << 22)) return a / d;
    int q = static_cast<int>(static_cast<float>(a) * inv);
    const int r = a - q * d;
    if (r < 0) --q;
    else if (r >= d) ++q;
    return q;
  }
};

// In-register DFTs of size 2, 3, 4, 5, 8 (natural order in and out).
template <int kRadix, int kSign, typename R>
struct SmallDft;

template <int kSign, typename R>
struct SmallDft<2, kSign, R> {
  static SPECTRO_HD void run(C<R>* v) {
    const C<R> a = v[0], b = v[1];
    v[0] = cadd(a, b);
    v[1] = csub(a, b);
  }
};

template <int kSign, typename R>
struct SmallDft<3, kSign, R> {
  static SPECTRO_HD void run(C<R>* v) {
    const R half_sqrt3 = R(0.86602540378443864676);
    const C<R> s = cadd(v[1], v[2]);
    const C<R> t = csub(v[0], cscale(s, R(0.5)));
    const C<R> u = cscale(mul_si<kSign>(csub(v[1], v[2])), half_sqrt3);
    v[0] = cadd(v[0], s);
    v[1] = cadd(t, u);
    v[2] = csub(t, u);
  }
};

template <int kSign, typename R>
struct SmallDft<4, kSign, R> {
  static SPECTRO_HD void run(C<R>* v) {
    const C<R> t0 = cadd(v[0], v[2]), t1 = csub(v[0], v[2]);
    const C<R> t2 = cadd(v[1], v[3]), t3 = mul_si<kSign>(csub(v[1], v[3]));
    v[0] = cadd(t0, t2);
    v[2] = csub(t0, t2);
    v[1] = cadd(t1, t3);
    v[3] = csub(t1, t3);
  }
};

template <int kSign, typename R>
struct SmallDft<5, kSign, R> {
  static SPECTRO_HD void run(C<R>* v) {
    const R c1 = R(0.30901699437494742410), c2 = R(-0.80901699437494742410);
    const R s1 = R(0.95105651629515357212), s2 = R(0.58778525229247312917);
    const C<R> a1 = cadd(v[1], v[4]), b1 = csub(v[1], v[4]);
    const C<R> a2 = cadd(v[2], v[3]), b2 = csub(v[2], v[3]);
    const C<R> x0 = v[0];
    const C<R> p1 = cadd(x0, cadd(cscale(a1, c1), cscale(a2, c2)));
    const C<R> p2 = cadd(x0, cadd(cscale(a1, c2), cscale(a2, c1)));
    const C<R> q1 = mul_si<kSign>(cadd(cscale(b1, s1), cscale(b2, s2)));
    const C<R> q2 = mul_si<kSign>(csub(cscale(b1, s2), cscale(b2, s1)));
    v[0] = cadd(x0, cadd(a1, a2));
    v[1] = cadd(p1, q1);
    v[4] = csub(p1, q1);
    v[2] = cadd(p2, q2);
    v[3] = csub(p2, q2);
  }
};

// Radix 8 as 2 x 4: X[2q] = DFT4(v[r] + v[r+4])[q], X[2q+1] = DFT4((v[r] - v[r+4]) W8^r)[q], W8 = exp(kSign i pi/4).
template <int kSign, typename R>
struct SmallDft<8, kSign, R> {
  static SPECTRO_HD void run(C<R>* v) {
    const R h = R(0.70710678118654752440);
    C<R> a[4], b[4];
SPECTRO_UNROLL
    for (int r = 0; r < 4; ++r) {
      a[r] = cadd(v[r], v[r + 4]);
      b[r] = csub(v[r], v[r + 4]);
    }
    const R s = static_cast<R>(kSign);
    b[1] = C<R>{h * (b[1].re - s * b[1].im), h * (b[1].im + s * b[1].re)};     // (1 + s i) / sqrt 2
    b[2] = mul_si<kSign>(b[2]);                                                   // s i
    b[3] = C<R>{h * (-b[3].re - s * b[3].im), h * (s * b[3].re - b[3].im)};    // (-1 + s i) / sqrt 2
    SmallDft<4, kSign, R>::run(a);
    SmallDft<4, kSign, R>::run(b);
SPECTRO_UNROLL
    for (int q = 0; q < 4; ++q) {
      v[2 * q] = a[q];
      v[2 * q + 1] = b[q];
    }
  }
};

// ----------------------------------------------------------------------------------------------------------------
// Power-of-two engine.

template <int kLogM>
struct Pow2Shape {
  static_assert(kLogM >= 4 && kLogM <= 12, "power-of-two engine: 16 <= M <= 4096");
  static constexpr int kM = 1 << kLogM;
  static constexpr int kTpf = kM / 8;                          // threads per sequence
  static constexpr int kLogTpf = kLogM - 3;
  static constexpr int kPasses8 = kLogM / 3;                   // radix-8 passes, first
  static constexpr int kTail = 1 << (kLogM % 3);               // then one radix-4 or radix-2 pass (1: none)
  static constexpr int kPasses = kPasses8 + (kTail > 1 ? 1 : 0);
  static constexpr int kFrameStride = kM + kM / 8;             // complex slots per sequence buffer (padded layouts)

  // Layout of pass p's output: 0 natural; 1 one pad slot per 16 (the ns = 1 stores 8j + r then hit 16 distinct
  // 8-byte bank pairs per half-warp); 2 eight pad slots per 64 (the ns = 8 stores 64 (j/8) + j%8 + 8r of the two
  // 8-lane groups of a half-warp land in opposite halves of the banks). Reads (16 consecutive j, aligned) stay
  // conflict-free in all three. The last pass writes the natural order.
  static constexpr SPECTRO_HD int layout(int p) {
    return p == kPasses - 1 ? 0 : (p == 0 ? 1 : (p == 1 ? 2 : 0));
  }
  static constexpr SPECTRO_HD int place(int lay, int i) {
    return lay == 1 ? i + (i >> 4) : (lay == 2 ? i + ((i >> 6) << 3) : i);
  }
  // A layout pads after every period(lay) slots, so place(lay, a + b) = place(lay, a) + place(lay, b) for a >= 0 and
  // b a multiple of the period: a thread's 8 reads j + r M/8 are then one base and compile-time offsets, no index
  // register per access (kTpf a multiple of the period).
  static constexpr SPECTRO_HD int period(int lay) { return lay == 1 ? 16 : (lay == 2 ? 64 : 1); }
};

// Twiddles of passes 1..kPasses-1 for the thread that owns elements j + r * M/8.
template <int kLogM, int kSign, typename R>
struct Pow2Twiddles {
  using S = Pow2Shape<kLogM>;
  C<R> w[S::kPasses - 1][7];
  SPECTRO_HD void init(int j) {
SPECTRO_UNROLL
    for (int p = 1; p < S::kPasses; ++p) {
      if (p < S::kPasses8) {  // radix 8, ns = 8^p: W_{8 ns}^{k r}, k = j mod ns
        const int ns = 1 << (3 * p);
        const int k = j & (ns - 1);
SPECTRO_UNROLL
        for (int r = 1; r < 8; ++r) w[p - 1][r - 1] = expi_pi<R>(kSign * 2 * k * r, 8 * ns);
      } else if (S::kTail == 4) {  // radix 4, ns = M/4: butterflies jj = j, j + M/8; W_M^{jj s}
SPECTRO_UNROLL
        for (int h = 0; h < 2; ++h)
SPECTRO_UNROLL
          for (int s = 1; s < 4; ++s) w[p - 1][3 * h + s - 1] = expi_pi<R>(kSign * 2 * (j + h * S::kTpf) * s, S::kM);
      } else {  // radix 2, ns = M/2: butterflies jj = j + q M/8; W_M^{jj}
SPECTRO_UNROLL
        for (int q = 0; q < 4; ++q) w[p - 1][q] = expi_pi<R>(kSign * 2 * (j + q * S::kTpf), S::kM);
      }
    }
  }
  // The same twiddles read from a table of the 2M-th roots on the half circle, half[m] = exp(kSign i pi m / M),
  // m < M (the real-FFT split-step table, in shared memory): every twiddle above is exp(kSign i pi m / M) for some
  // m < 2M, i.e. half[m] or -half[m - M]. Saves the thread's sincospi calls (12% of the analysis's instructions at
  // M = 512). Call after the table is complete (a barrier).
  SPECTRO_HD void init(int j, const C<R>* half) {
    const auto root = [half](int m) {
      return m < S::kM ? half[m] : C<R>{-half[m - S::kM].re, -half[m - S::kM].im};
    };
SPECTRO_UNROLL
    for (int p = 1; p < S::kPasses; ++p) {
      if (p < S::kPasses8) {  // W_{8 ns}^{k r} = exp(kSign i pi (k r M / (4 ns)) / M)
        const int ns = 1 << (3 * p);
        const int k = j & (ns - 1);
SPECTRO_UNROLL
        for (int r = 1; r < 8; ++r) w[p - 1][r - 1] = root(k * r * (S::kM / (4 * ns)));
      } else if (S::kTail == 4) {  // W_M^{jj s} = exp(kSign i pi (2 jj s) / M)
SPECTRO_UNROLL
        for (int h = 0; h < 2; ++h)
SPECTRO_UNROLL
          for (int s = 1; s < 4; ++s) w[p - 1][3 * h + s - 1] = root(2 * (j + h * S::kTpf) * s);
      } else {  // W_M^{jj}
SPECTRO_UNROLL
        for (int q = 0; q < 4; ++q) w[p - 1][q] = root(2 * (j + q * S::kTpf));
      }
    }
  }
};

// Pass p on the thread's registers v[r] (= element j + r M/8 of the pass input). When kWrite, stores the outputs
// into `out` (one sequence's buffer, in layout(p)). After the last pass v[r] holds element j + r M/8 of the result.
template <int kLogM, int kSign, int p, bool kWrite, typename R>
SPECTRO_HD void pow2_pass(C<R> (&v)[8], const Pow2Twiddles<kLogM, kSign, R>& tw, int j, C<R>* out) {
  using S = Pow2Shape<kLogM>;
  constexpr int lay = S::layout(p);
  if constexpr (p < S::kPasses8) {
    constexpr int ns = 1 << (3 * p);
    const int k = j & (ns - 1);
    if constexpr (p > 0) {
SPECTRO_UNROLL
      for (int r = 1; r < 8; ++r) v[r] = cmul(v[r], tw.w[p - 1][r - 1]);
    }
    SmallDft<8, kSign, R>::run(v);
    if constexpr (kWrite) {
      // Outputs base + r ns, r = 0..7, lie in one period of the layout (lay 1 is pass 0's, ns = 1, base = 8j: within
      // 16 slots; lay 2 is pass 1's, ns = 8, base = 64 (j / 8) + j % 8: within 64), so their padded places are
      // place(base) + r ns.
      static_assert(lay == 0 || (lay == 1 && ns == 1) || (lay == 2 && ns == 8), "padded layouts of passes 0 and 1");
      C<R>* o = out + S::place(lay, ((j - k) << 3) + k);
SPECTRO_UNROLL
      for (int r = 0; r < 8; ++r) o[r * ns] = v[r];
    }
  } else if constexpr (S::kTail == 4) {
SPECTRO_UNROLL
    for (int h = 0; h < 2; ++h) {
      C<R> u[4] = {v[h], v[2 + h], v[4 + h], v[6 + h]};
SPECTRO_UNROLL
      for (int s = 1; s < 4; ++s) u[s] = cmul(u[s], tw.w[p - 1][3 * h + s - 1]);
      SmallDft<4, kSign, R>::run(u);
SPECTRO_UNROLL
      for (int s = 0; s < 4; ++s) v[2 * s + h] = u[s];
    }
    if constexpr (kWrite) {
SPECTRO_UNROLL
      for (int r = 0; r < 8; ++r) out[j + r * S::kTpf] = v[r];
    }
  } else {
SPECTRO_UNROLL
    for (int q = 0; q < 4; ++q) {
      const C<R> u0 = v[q], u1 = cmul(v[q + 4], tw.w[p - 1][q]);
      v[q] = cadd(u0, u1);
      v[q + 4] = csub(u0, u1);
    }
    if constexpr (kWrite) {
SPECTRO_UNROLL
      for (int r = 0; r < 8; ++r) out[j + r * S::kTpf] = v[r];
    }
  }
}

// Passes p..kPasses-1: each reads pass p-1's output from bufs[(par + p - 1) & 1] + off, writes bufs[(par + p) & 1]
// + off (the last pass only when kWriteLast), then a block barrier. Pass 0 (whose input comes from elsewhere) is
// the caller's: pow2_pass<.., 0, true>(v, tw, j, bufs[par] + off), then a barrier. `post(v)` runs on the last pass's
// output (v[r] = element j + r M/8 of the result) before it is written: an epilogue such as a window.
struct NoEpilogue {
  template <typename T>
  SPECTRO_HD void operator()(T&) const {}
};
#pragma nv_exec_check_disable
template <int kLogM, int kSign, int p, bool kWriteLast, typename R, class Ctx, class Post = NoEpilogue>
SPECTRO_HD void pow2_passes_from(Ctx& ctx, C<R> (&v)[8], const Pow2Twiddles<kLogM, kSign, R>& tw, int j, C<R>* buf0,
                                 C<R>* buf1, int par, int off, const Post& post = Post()) {
  using S = Pow2Shape<kLogM>;
  if constexpr (p < S::kPasses) {
    constexpr bool kLast = p == S::kPasses - 1;
    constexpr int lay_in = S::layout(p - 1);
    const C<R>* in = (((par + p - 1) & 1) ? buf1 : buf0) + off;
    if constexpr (S::kTpf % S::period(lay_in) == 0) {
      const C<R>* in_j = in + S::place(lay_in, j);
SPECTRO_UNROLL
      for (int r = 0; r < 8; ++r) v[r] = in_j[S::place(lay_in, r * S::kTpf)];
    } else {
SPECTRO_UNROLL
      for (int r = 0; r < 8; ++r) v[r] = in[S::place(lay_in, j + r * S::kTpf)];
    }
    C<R>* out = (((par + p) & 1) ? buf1 : buf0) + off;
    if constexpr (kLast) {
      pow2_pass<kLogM, kSign, p, false>(v, tw, j, out);
      post(v);
      if constexpr (kWriteLast) {  // the last pass's layout is the natural order: element j + r M/8 at j + r M/8
        static_assert(S::layout(p) == 0, "the last pass writes the natural order");
SPECTRO_UNROLL
        for (int r = 0; r < 8; ++r) out[j + r * S::kTpf] = v[r];
      }
    } else {
      pow2_pass<kLogM, kSign, p, true>(v, tw, j, out);
    }
    ctx.sync();
    pow2_passes_from<kLogM, kSign, p + 1, kWriteLast>(ctx, v, tw, j, buf0, buf1, par, off, post);
  }
}

// ----------------------------------------------------------------------------------------------------------------
// General engine.

// The radices of an M-point transform in pass order, packed 4 bits each (at most 16 passes).
struct Plan {
  int passes = 0;
  unsigned long long code = 0;
  SPECTRO_HD int radix(int p) const { return static_cast<int>((code >> (4 * p)) & 15ull); }
};

// Builds the plan of an M-point transform; false unless M factors into 2, 3 and 5 (radix 8 first, then 4, 2, 3, 5).
SPECTRO_HD bool make_plan(int64_t m, Plan* plan) {
  plan->passes = 0;
  plan->code = 0;
  if (m < 1) return false;
  const int radices[5] = {8, 4, 2, 3, 5};
  for (int i = 0; i < 5; ++i) {
    const int r = radices[i];
    while (m % r == 0) {
      if (plan->passes == 16) return false;
      plan->code |= static_cast<unsigned long long>(r) << (4 * plan->passes++);
      m /= r;
    }
  }
  return m == 1;
}

// Twiddle source of the general engine: table[q] = exp(kSign 2 pi i q / n) in shared memory (n = step * M), or,
// without a table, sincospi.
template <typename R>
struct TwiddleTable {
  const C<R>* table = nullptr;
  int step = 1;  // n / M
};

// One Stockham pass of radix kRadix over `count` sequences of length m; ns = product of the earlier radices.
template <int kRadix, int kSign, typename R>
SPECTRO_HD void stockham_pass(int tid, int nthreads, const C<R>* __restrict__ in, C<R>* __restrict__ out, int m,
                              int ns, int count, TwiddleTable<R> tt) {
  const int stride = m / kRadix;
  const int total = count * stride;
  const SmallDiv div_stride(stride), div_ns(ns);
  const int tw_step = (stride / ns) * tt.step;  // table index of W_{ns R}^1
  for (int j = tid; j < total; j += nthreads) {
    const int seq = div_stride.div(j);
    const int jj = j - seq * stride;
    const int k = jj - div_ns.div(jj) * ns;
    const C<R>* src = in + seq * m;
    C<R> v[kRadix];
SPECTRO_UNROLL
    for (int r = 0; r < kRadix; ++r) v[r] = src[jj + r * stride];
    if (ns > 1) {
SPECTRO_UNROLL
      for (int r = 1; r < kRadix; ++r)
        v[r] = cmul(v[r], tt.table ? tt.table[k * r * tw_step] : expi_pi<R>(kSign * 2 * k * r, ns * kRadix));
    }
    SmallDft<kRadix, kSign, R>::run(v);
    C<R>* dst = out + seq * m + (jj - k) * kRadix + k;
SPECTRO_UNROLL
    for (int r = 0; r < kRadix; ++r) dst[r * ns] = v[r];
  }
}

// Transforms `count` sequences of length m held in buf; scratch is a second buffer of the same size. Returns the
// buffer holding the result (buf or scratch). Must be called by the whole block; ends with a barrier.
#pragma nv_exec_check_disable
template <int kSign, typename R, class Ctx>
SPECTRO_HD C<R>* block_fft(Ctx& ctx, C<R>* buf, C<R>* scratch, int m, int count, const Plan& plan,
                           TwiddleTable<R> tt) {
  C<R>* in = buf;
  C<R>* out = scratch;
  int ns = 1;
  const int tid = ctx.tid(), nt = ctx.nthreads();
  for (int p = 0; p < plan.passes; ++p) {
    const int radix = plan.radix(p);
    switch (radix) {
      case 8: stockham_pass<8, kSign, R>(tid, nt, in, out, m, ns, count, tt); break;
      case 4: stockham_pass<4, kSign, R>(tid, nt, in, out, m, ns, count, tt); break;
      case 2: stockham_pass<2, kSign, R>(tid, nt, in, out, m, ns, count, tt); break;
      case 3: stockham_pass<3, kSign, R>(tid, nt, in, out, m, ns, count, tt); break;
      default: stockham_pass<5, kSign, R>(tid, nt, in, out, m, ns, count, tt); break;
    }
    ns *= radix;
    ctx.sync();
    C<R>* t = in;
    in = out;
    out = t;
  }
  return in;
}

}  // namespace fft
}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
