// spectro — the two-step register-blocked FFT of a length M = P * Q (torch-free), for lengths that are not powers
// of two and that transforms of real frames meet often (M = 200: n_fft 400, Whisper's frontend).
//
// Cooley-Tukey in two steps, Q threads per sequence, each step's small DFTs in registers:
//   element n = q + Q p (q < Q, p < P), bin k = k1 + P k2 (k1 < P, k2 < Q);
//   step 1: thread q loads x[q + Q p] for p = 0..P-1, forms the P-point DFT over p, multiplies bin k1 by
//           W_M^(q k1) and stores it to mid[k1][q];
//   step 2: thread q takes k1 = q + Q j (j < P / Q), loads mid[k1][r] for r = 0..Q-1, forms the Q-point DFT over r
//           and stores bin k1 + P k2.
// One exchange through shared memory (the general engine's pass loop makes one per radix, each behind a barrier, and
// reads its twiddles and its index divisions per butterfly); the P- and Q-point DFTs are composite DFTs of the small
// radices with compile-time twiddles. mid rows are padded to Q + 1 values so that step 2's loads (Q threads on rows
// Q + 1 apart) fall in distinct banks.
#pragma once

#include "block_fft.cuh"

namespace spectro {
namespace kernels {
namespace cuda {
namespace fft {

// exp(kSign 2 pi i j / 20) for j >= 0, correctly rounded constants (with full unrolling j is a compile-time constant
// and the lookup folds away).
template <int kSign, typename R>
SPECTRO_HD C<R> w20(int j) {
  const R c[20] = {R(1),
                   R(0.95105651629515357212),
                   R(0.80901699437494742410),
                   R(0.58778525229247312917),
                   R(0.30901699437494742410),
                   R(0),
                   R(-0.30901699437494742410),
                   R(-0.58778525229247312917),
                   R(-0.80901699437494742410),
                   R(-0.95105651629515357212),
                   R(-1),
                   R(-0.95105651629515357212),
                   R(-0.80901699437494742410),
                   R(-0.58778525229247312917),
                   R(-0.30901699437494742410),
                   R(0),
                   R(0.30901699437494742410),
                   R(0.58778525229247312917),
                   R(0.80901699437494742410),
                   R(0.95105651629515357212)};
  const int jj = j % 20;
  const R s = c[(jj + 15) % 20];  // sin(2 pi j / 20) = cos(2 pi (j - 5) / 20)
  return {c[jj], kSign > 0 ? s : -s};
}

// An in-register DFT of N = A * B points from the small DFTs: n = B n1 + n2, k = k1 + A k2; for each n2 the A-point
// DFT over n1, times W_N^(n2 k1), then for each k1 the B-point DFT over n2. N divides 20. run_io takes its inputs
// from load(n) as the first step consumes them and hands each output to store(k, value) as the second step forms it,
// so that at most the N intermediate values and one small DFT's are live (the registers bound the block's residency).
template <int A, int B, int kSign, typename R>
struct CompositeDft {
  static constexpr int kN = A * B;
  static_assert(20 % kN == 0, "CompositeDft: compile-time twiddles of the 20th roots");
  template <class Load, class Store>
  static SPECTRO_HD void run_io(const Load& load, const Store& store) {
    C<R> t[kN];
SPECTRO_UNROLL
    for (int n2 = 0; n2 < B; ++n2) {
      C<R> u[A];
SPECTRO_UNROLL
      for (int n1 = 0; n1 < A; ++n1) u[n1] = load(B * n1 + n2);
      SmallDft<A, kSign, R>::run(u);
SPECTRO_UNROLL
      for (int k1 = 0; k1 < A; ++k1)
        t[k1 * B + n2] = n2 * k1 == 0 ? u[k1] : cmul(u[k1], w20<kSign, R>(n2 * k1 * (20 / kN)));
    }
SPECTRO_UNROLL
    for (int k1 = 0; k1 < A; ++k1) {
      C<R> u[B];
SPECTRO_UNROLL
      for (int n2 = 0; n2 < B; ++n2) u[n2] = t[k1 * B + n2];
      SmallDft<B, kSign, R>::run(u);
SPECTRO_UNROLL
      for (int k2 = 0; k2 < B; ++k2) store(k1 + A * k2, u[k2]);
    }
  }
};

// In-register DFT of N points with run_io (CompositeDft's interface): the composites the two-step shapes use.
template <int N, int kSign, typename R>
struct RegisterDft;
template <int kSign, typename R>
struct RegisterDft<10, kSign, R> : CompositeDft<2, 5, kSign, R> {};
template <int kSign, typename R>
struct RegisterDft<20, kSign, R> : CompositeDft<4, 5, kSign, R> {};

template <int P, int Q>
struct TwoStepShape {
  static_assert(P % Q == 0, "two-step FFT: Q threads share step 2's P DFTs");
  static constexpr int kP = P;
  static constexpr int kQ = Q;                   // threads per sequence
  static constexpr int kM = P * Q;
  static constexpr int kMidRow = Q + 1;          // padded row of mid
  static constexpr int kMidSeq = P * kMidRow;    // complex values of mid per sequence
};

// The one length with a two-step shape: M = 200 (real n_fft 400). Other lengths take the general engine's pass loop.
using TwoStep200 = TwoStepShape<20, 10>;
SPECTRO_HD constexpr bool two_step_covers(int m) { return m == TwoStep200::kM; }

// Step 1 for thread q of a sequence whose element n is load(n) (n = q + Q p): the P-point DFT over p, bin k1 times
// W_M^(q k1) (twiddle(q, k1) = W_M^(q k1)), stored to mid (the sequence's kMidSeq values).
template <int P, int Q, int kSign, typename R, class Load, class Twiddle>
SPECTRO_HD void two_step_first(const Load& load, int q, C<R>* mid, const Twiddle& twiddle) {
  using S = TwoStepShape<P, Q>;
  RegisterDft<P, kSign, R>::run_io([&](int p) { return load(q + Q * p); },
                                   [&](int k1, C<R> v) {
                                     mid[k1 * S::kMidRow + q] = k1 == 0 ? v : cmul(v, twiddle(q, k1));
                                   });
}

// Step 2 for thread q of a sequence, after a barrier that follows every thread's step 1: the bins k1 + P k2 for
// k1 = q + Q j, stored to out[k1 + P k2] (natural order).
template <int P, int Q, int kSign, typename R>
SPECTRO_HD void two_step_second(int q, const C<R>* mid, C<R>* out) {
  using S = TwoStepShape<P, Q>;
SPECTRO_UNROLL
  for (int j = 0; j < P / Q; ++j) {
    const int k1 = q + Q * j;
    RegisterDft<Q, kSign, R>::run_io([&](int r) { return mid[k1 * S::kMidRow + r]; },
                                     [&](int k2, C<R> v) { out[k1 + P * k2] = v; });
  }
}

}  // namespace fft
}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
