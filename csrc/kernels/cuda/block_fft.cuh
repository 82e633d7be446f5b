// spectro — a block-cooperative FFT in shared memory (torch-free).
//
// Mixed-radix Stockham autosort FFT of `count` independent sequences of length M = 2^a 3^b 5^c that sit back to back
// in shared memory. Each pass reads with stride M/R, applies the twiddles, does an R-point DFT in registers and writes
// the "expanded" positions into the other buffer, so no bit reversal is needed. Twiddles come from sincospi of an
// exactly representable ratio (accurate to an ulp or two; the transform's error grows like eps * log2 M, as cuFFT's).
//
// Sign convention: kSign = -1 is the forward transform sum_m z[m] exp(-2 pi i k m / M), kSign = +1 the unnormalised
// inverse.
#pragma once

#include <cuda_runtime.h>

#include "../common.h"

namespace spectro {
namespace kernels {
namespace cuda {
namespace fft {

template <typename R>
using C = Complex<R>;

template <typename R>
__device__ __forceinline__ C<R> cadd(C<R> a, C<R> b) { return {a.re + b.re, a.im + b.im}; }
template <typename R>
__device__ __forceinline__ C<R> csub(C<R> a, C<R> b) { return {a.re - b.re, a.im - b.im}; }
template <typename R>
__device__ __forceinline__ C<R> cmul(C<R> a, C<R> b) { return {a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re}; }
template <typename R>
__device__ __forceinline__ C<R> cscale(C<R> a, R s) { return {a.re * s, a.im * s}; }
template <typename R>
__device__ __forceinline__ C<R> cconj(C<R> a) { return {a.re, -a.im}; }
// s * i * a for s = +-1
template <int kSign, typename R>
__device__ __forceinline__ C<R> mul_si(C<R> a) { return kSign > 0 ? C<R>{-a.im, a.re} : C<R>{a.im, -a.re}; }

__device__ __forceinline__ void sincospi_(float x, float* s, float* c) { sincospif(x, s, c); }
__device__ __forceinline__ void sincospi_(double x, double* s, double* c) { sincospi(x, s, c); }

// exp(i * pi * num / den) for integers |num| <= 2 den (an exact ratio up to one rounding).
template <typename R>
__device__ __forceinline__ C<R> expi_pi(int num, int den) {
  R s, c;
  sincospi_(static_cast<R>(num) / static_cast<R>(den), &s, &c);
  return {c, s};
}

// In-register DFTs of size 2, 3, 4, 5.
template <int kRadix, int kSign, typename R>
struct SmallDft;

template <int kSign, typename R>
struct SmallDft<2, kSign, R> {
  static __device__ __forceinline__ void run(C<R>* v) {
    const C<R> a = v[0], b = v[1];
    v[0] = cadd(a, b);
    v[1] = csub(a, b);
  }
};

template <int kSign, typename R>
struct SmallDft<3, kSign, R> {
  static __device__ __forceinline__ void run(C<R>* v) {
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
  static __device__ __forceinline__ void run(C<R>* v) {
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
  static __device__ __forceinline__ void run(C<R>* v) {
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

// The radices of an M-point transform in pass order, packed 4 bits each (at most 16 passes: M <= 4^16).
struct Plan {
  int passes = 0;
  unsigned long long code = 0;
  SPECTRO_HD int radix(int p) const { return static_cast<int>((code >> (4 * p)) & 15ull); }
};

// Builds the plan of an M-point transform; false unless M factors into 2, 3 and 5 (radix-4 passes first).
SPECTRO_HD bool make_plan(int64_t m, Plan* plan) {
  plan->passes = 0;
  plan->code = 0;
  if (m < 1) return false;
  const int radices[4] = {4, 2, 3, 5};
  for (int i = 0; i < 4; ++i) {
    const int r = radices[i];
    while (m % r == 0 && (r != 2 || m % 4 != 0)) {
      if (plan->passes == 16) return false;
      plan->code |= static_cast<unsigned long long>(r) << (4 * plan->passes++);
      m /= r;
    }
  }
  return m == 1;
}

// One Stockham pass of radix kRadix over `count` sequences of length m; ns = product of the earlier radices.
template <int kRadix, int kSign, typename R>
__device__ __forceinline__ void stockham_pass(const C<R>* __restrict__ in, C<R>* __restrict__ out, int m, int ns,
                                              int count) {
  const int stride = m / kRadix;
  const int total = count * stride;
  for (int j = threadIdx.x; j < total; j += blockDim.x) {
    const int seq = j / stride;
    const int jj = j - seq * stride;
    const int k = jj % ns;
    const C<R>* src = in + seq * m;
    C<R> v[kRadix];
#pragma unroll
    for (int r = 0; r < kRadix; ++r) v[r] = src[jj + r * stride];
    if (ns > 1) {
#pragma unroll
      for (int r = 1; r < kRadix; ++r) v[r] = cmul(v[r], expi_pi<R>(kSign * 2 * k * r, ns * kRadix));
    }
    SmallDft<kRadix, kSign, R>::run(v);
    C<R>* dst = out + seq * m + (jj - k) * kRadix + k;
#pragma unroll
    for (int r = 0; r < kRadix; ++r) dst[r * ns] = v[r];
  }
}

// Transforms `count` sequences of length m held in buf; scratch is a second buffer of the same size. Returns the
// buffer holding the result (buf or scratch). Must be called by the whole block; ends with a barrier.
template <int kSign, typename R>
__device__ C<R>* block_fft(C<R>* buf, C<R>* scratch, int m, int count, const Plan& plan) {
  C<R>* in = buf;
  C<R>* out = scratch;
  int ns = 1;
  for (int p = 0; p < plan.passes; ++p) {
    const int radix = plan.radix(p);
    switch (radix) {
      case 4: stockham_pass<4, kSign, R>(in, out, m, ns, count); break;
      case 2: stockham_pass<2, kSign, R>(in, out, m, ns, count); break;
      case 3: stockham_pass<3, kSign, R>(in, out, m, ns, count); break;
      default: stockham_pass<5, kSign, R>(in, out, m, ns, count); break;
    }
    ns *= radix;
    __syncthreads();
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
