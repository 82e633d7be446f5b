// spectro — standalone test of the torch-free CPU kernels (csrc/kernels/cpu/), without torch: the chunked analysis
// and synthesis of frame_ola.h against the element-wise definitions of common.h (analysis_element,
// synthesis_element), and the mel stages of mel.h (forward and backward) against mel_log.h's per-value functions.
//
// The FFT the backend puts between the kernels and the frames is replaced by the identity, so the kernels' own work
// (padding, window, envelope, chunking, the parity-ordered overlap-add, the fold) is compared directly:
// - analysis: every frame value bit for bit (the same products in the same order);
// - synthesis: the same sums in another order (chunk parity), so to a few units of the last place.
// Each case runs with 1, 2, 3 and 7 worker threads (std::thread, contiguous pieces as OpenMP's static schedule
// gives; the test records which thread of which parallel region adds to each sample, so two threads that could
// add to the same sample at once fail it even when they happen not to overlap in time) and several chunk sizes, over every pad mode, centred and not, with and without the envelope, hop below,
// equal to and above n_fft, real and complex values in float and double.
//
//   g++ -std=c++17 -O2 -pthread -I csrc tests/kernels/test_cpu_kernels.cpp -o build/kernels/test_cpu_kernels
#include <atomic>
#include <cmath>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <type_traits>
#include <thread>
#include <vector>

#include "kernels/cpu/frame_ola.h"
#include "kernels/cpu/mel.h"

using namespace spectro::kernels;

namespace {

int failures = 0, checks = 0;

// Which parallel region (one per parallel_for call) and which piece of it the calling thread runs.
std::atomic<int> region_counter{0};
thread_local int region_id = -1, piece_id = -1;

// parallel_for over `workers` std::threads, [begin, end) cut into contiguous pieces (at most one per worker, none
// smaller than grain), as at::parallel_for's OpenMP backend does.
struct ThreadsFor {
  int workers;
  template <typename F>
  void operator()(int64_t begin, int64_t end, int64_t grain, F&& fn) const {
    const int64_t n = end - begin;
    if (n <= 0) return;
    const int region = ++region_counter;
    const int64_t pieces =
        std::max<int64_t>(1, std::min<int64_t>(workers, (n + grain - 1) / std::max<int64_t>(grain, 1)));
    const int64_t step = (n + pieces - 1) / pieces;
    std::vector<std::thread> threads;
    for (int64_t b = begin; b < end; b += step) {
      threads.emplace_back([&, b] {
        region_id = region;
        piece_id = static_cast<int>((b - begin) / step);
        fn(b, std::min(end, b + step));
      });
    }
    for (auto& t : threads) t.join();
  }
};

// Padded positions each (region, piece) added to: two pieces of one region adding to the same position would race.
struct AddOwners {
  std::mutex mu;
  std::map<std::pair<int, int64_t>, int> owner;
  int conflicts = 0;
  void mark(int64_t first, int64_t count) {
    std::lock_guard<std::mutex> lock(mu);
    for (int64_t p = first; p < first + count; ++p) {
      auto it = owner.emplace(std::make_pair(region_id, p), piece_id).first;
      if (it->second != piece_id) ++conflicts;
    }
  }
};

template <typename R>
R rnd(std::mt19937& gen) {
  return static_cast<R>(std::normal_distribution<double>(0.0, 1.0)(gen));
}
template <typename V>
struct Rand {
  static V get(std::mt19937& g) { return rnd<V>(g); }
};
template <typename R>
struct Rand<Complex<R>> {
  static Complex<R> get(std::mt19937& g) { return {rnd<R>(g), rnd<R>(g)}; }
};
template <typename R>
double mag(R v) {
  return std::fabs(static_cast<double>(v));
}
template <typename R>
double mag(Complex<R> v) {
  return std::hypot(static_cast<double>(v.re), static_cast<double>(v.im));
}
template <typename R>
bool same(R a, R b) {
  return a == b || (std::isnan(a) && std::isnan(b));
}
template <typename R>
bool same(Complex<R> a, Complex<R> b) {
  return same(a.re, b.re) && same(a.im, b.im);
}
template <typename R>
Complex<R> operator-(Complex<R> a, Complex<R> b) {
  return {a.re - b.re, a.im - b.im};
}

struct Case {
  int64_t n_fft, hop, batch, length;
  bool center;
  PadMode mode;
  bool env;
};

Geometry geometry(const Case& c) {
  Geometry g;
  g.n_fft = c.n_fft;
  g.hop = c.hop;
  g.length = c.length;
  g.pad = c.center ? c.n_fft / 2 : 0;
  g.mode = c.mode;
  g.env_normalize = c.env;
  const int64_t padded = c.length + 2 * g.pad;
  g.n_frames = 1 + (padded - c.n_fft) / c.hop;
  return g;
}

template <typename V>
void check_analysis(const Case& c, int workers, int64_t per_chunk, std::mt19937& gen) {
  using R = typename RealOf<V>::type;
  const Geometry g = geometry(c);
  std::vector<V> x(static_cast<size_t>(c.batch * c.length));
  for (auto& v : x) v = Rand<V>::get(gen);
  std::vector<R> w(static_cast<size_t>(c.n_fft));
  for (auto& v : w) v = static_cast<R>(0.25) + std::fabs(rnd<R>(gen));
  AnalysisParams<V> a;
  a.x = x.data();
  a.window = w.data();
  a.batch = c.batch;
  a.g = g;
  a.scale = static_cast<R>(0.7);
  const int64_t rows = c.batch * g.n_frames;
  std::vector<V> got(static_cast<size_t>(rows * c.n_fft));
  std::vector<int> calls(static_cast<size_t>(rows), 0);
  cpu::analysis_chunked(a, per_chunk, ThreadsFor{workers}, [&](int64_t begin, int64_t end, const V* f) {
    for (int64_t r = begin; r < end; ++r) {
      ++calls[r];
      for (int64_t k = 0; k < c.n_fft; ++k) got[r * c.n_fft + k] = f[(r - begin) * c.n_fft + k];
    }
  });
  int bad = 0;
  for (int64_t r = 0; r < rows; ++r) {
    ++checks;
    if (calls[r] != 1) ++bad;
    for (int64_t k = 0; k < c.n_fft; ++k) {
      if (!same(got[r * c.n_fft + k], analysis_element(a, r / g.n_frames, r % g.n_frames, k))) ++bad;
    }
  }
  if (bad) {
    ++failures;
    std::printf("FAIL analysis n_fft=%lld hop=%lld B=%lld T=%lld center=%d mode=%d env=%d workers=%d chunk=%lld: %d "
                "mismatches\n", (long long)c.n_fft, (long long)c.hop, (long long)c.batch, (long long)c.length,
                c.center, (int)c.mode, c.env, workers, (long long)per_chunk, bad);
  }
}

template <typename V>
void check_synthesis(const Case& c, int workers, int64_t per_chunk, std::mt19937& gen) {
  using R = typename RealOf<V>::type;
  const Geometry g = geometry(c);
  const int64_t rows = c.batch * g.n_frames;
  std::vector<V> frames(static_cast<size_t>(rows * c.n_fft));
  for (auto& v : frames) v = Rand<V>::get(gen);
  std::vector<R> w(static_cast<size_t>(c.n_fft));
  for (auto& v : w) v = static_cast<R>(0.25) + std::fabs(rnd<R>(gen));
  std::vector<V> out(static_cast<size_t>(c.batch * c.length));
  SynthesisParams<V> s;
  s.frames = frames.data();  // read by synthesis_element (the reference) only
  s.window = w.data();
  s.out = out.data();
  s.batch = c.batch;
  s.g = g;
  s.scale = static_cast<R>(0.7);
  std::vector<int> calls(static_cast<size_t>(rows), 0);
  AddOwners owners;
  const int64_t span = g.span();
  cpu::synthesis_chunked(s, per_chunk, ThreadsFor{workers}, [&](int64_t begin, int64_t end, auto&& add) {
    for (int64_t r = begin; r < end; ++r) {
      ++calls[r];
      owners.mark((r / g.n_frames) * span + (r % g.n_frames) * g.hop, c.n_fft);
    }
    // in two pieces, as a backend with one FFT per batch row may hand them over
    const int64_t mid = begin + (end - begin) / 2;
    if (mid > begin) add(begin, mid, frames.data() + begin * c.n_fft);
    add(mid, end, frames.data() + mid * c.n_fft);
  });
  // The same terms in another order: rounding of about (n_fft / hop + 2) * 3 terms (frames, preimages) of magnitude
  // up to scale * |frame| * window * h, a few units each.
  const double eps = std::is_same<R, float>::value ? 6e-8 : 1.2e-16;
  const double terms = 3.0 * (static_cast<double>(c.n_fft) / c.hop + 2);
  int bad = 0;
  double worst = 0;
  for (int64_t r = 0; r < rows; ++r) {
    if (calls[r] != 1) ++bad;
  }
  bad += owners.conflicts;
  for (int64_t b = 0; b < c.batch; ++b) {
    for (int64_t t = 0; t < c.length; ++t) {
      ++checks;
      const V ref = synthesis_element(s, b, t);
      const double err = mag(out[b * c.length + t] - ref);
      const double tol = 4 * terms * eps * (mag(ref) + 8.0 * 0.7 * terms);
      worst = std::max(worst, err / tol);
      if (!(err <= tol)) ++bad;
    }
  }
  if (bad) {
    ++failures;
    std::printf("FAIL synthesis n_fft=%lld hop=%lld B=%lld T=%lld center=%d mode=%d env=%d workers=%d chunk=%lld: %d "
                "mismatches (worst err/tol %.3g)\n", (long long)c.n_fft, (long long)c.hop, (long long)c.batch,
                (long long)c.length, c.center, (int)c.mode, c.env, workers, (long long)per_chunk, bad, worst);
  }
}

template <typename R>
void check_mel(std::mt19937& gen) {
  for (MelLog log : {MelLog::None, MelLog::Clamp, MelLog::Add, MelLog::Log1p}) {
    const int64_t n_mels = 7, basis_bins = 9;
    MelStages<R> st;
    st.power = static_cast<R>(log == MelLog::Add ? 1.5 : 1.0);
    st.mag_eps = static_cast<R>(1e-6);
    st.log = log;
    st.log_eps = static_cast<R>(1e-3);
    st.log_scale = static_cast<R>(0.4);
    const int64_t rows = 11, bins = 12, n_frames = 4, batch = 5;  // rows 3 .. 13 of 5 x 4 frames
    std::vector<Complex<R>> spec(static_cast<size_t>(rows * bins));
    for (auto& v : spec) v = Rand<Complex<R>>::get(gen);
    std::vector<R> P(static_cast<size_t>(rows * basis_bins));
    cpu::mel_powers(spec.data(), rows, bins, basis_bins, st, P.data());
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t k = 0; k < basis_bins; ++k) {
        ++checks;
        const R ref = mel_power(spec[r * bins + k].re, spec[r * bins + k].im, st.power, st.mag_eps);
        if (!same(P[r * basis_bins + k], ref)) {
          ++failures;
          std::printf("FAIL mel_powers r=%lld k=%lld\n", (long long)r, (long long)k);
        }
      }
    }
    std::vector<R> mel(static_cast<size_t>(rows * n_mels));
    for (auto& v : mel) v = std::fabs(rnd<R>(gen));
    mel[5] = R(0);  // below log_eps
    std::vector<R> out(static_cast<size_t>(batch * n_mels * n_frames), R(-7));
    const int64_t begin = 3, end = begin + rows;
    cpu::mel_log_store(mel.data(), begin, end, n_frames, n_mels, st, out.data());
    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t m = 0; m < n_mels; ++m) {
        for (int64_t n = 0; n < n_frames; ++n) {
          ++checks;
          const int64_t r = b * n_frames + n;
          const R want = r >= begin && r < end
                             ? mel_log(mel[(r - begin) * n_mels + m], st.log, st.log_eps, st.log_scale)
                             : R(-7);
          if (!same(out[(b * n_mels + m) * n_frames + n], want)) {
            ++failures;
            std::printf("FAIL mel_log_store b=%lld m=%lld n=%lld\n", (long long)b, (long long)m, (long long)n);
          }
        }
      }
    }
    // Backward: the coefficients of rows begin .. end - 1 (with the log stage's derivative, and without it), then
    // dL/dX of each bin (bins past basis_bins: 0).
    std::vector<R> grad(static_cast<size_t>(batch * n_mels * n_frames));
    for (auto& v : grad) v = rnd<R>(gen);
    for (const bool with_mel : {true, false}) {
      std::vector<R> coef(static_cast<size_t>(rows * n_mels), R(NAN));
      cpu::mel_grad_coefs(grad.data(), with_mel ? mel.data() : nullptr, begin, end, n_frames, n_mels, st,
                          coef.data());
      for (int64_t r = begin; r < end; ++r) {
        for (int64_t m = 0; m < n_mels; ++m) {
          ++checks;
          const int64_t b = r / n_frames, n = r % n_frames, e = (r - begin) * n_mels + m;
          const R g = grad[(b * n_mels + m) * n_frames + n];
          if (!same(coef[e], with_mel ? g * st.log_grad(mel[e]) : g)) {
            ++failures;
            std::printf("FAIL mel_grad_coefs r=%lld m=%lld\n", (long long)r, (long long)m);
          }
        }
      }
    }
    // The L1 loss' coefficients: sign(log_of(mel) - target) * g * log_grad(mel), sign 0 where they are equal.
    std::vector<R> target(grad.size());
    for (size_t i = 0; i < target.size(); ++i) target[i] = rnd<R>(gen);
    {
      const int64_t r = begin + 1, m = 2, e = (r - begin) * n_mels + m;
      target[((r / n_frames) * n_mels + m) * n_frames + r % n_frames] = st.log_of(mel[e]);  // (sign 0)
    }
    std::vector<R> coef(static_cast<size_t>(rows * n_mels), R(NAN));
    const R g_loss = static_cast<R>(0.3);
    cpu::mel_l1_coefs(target.data(), mel.data(), begin, end, n_frames, n_mels, g_loss, st, coef.data());
    for (int64_t r = begin; r < end; ++r) {
      for (int64_t m = 0; m < n_mels; ++m) {
        ++checks;
        const int64_t b = r / n_frames, n = r % n_frames, e = (r - begin) * n_mels + m;
        const R v = st.log_of(mel[e]) - target[(b * n_mels + m) * n_frames + n];
        const R want = (v > 0 ? R(1) : v < 0 ? R(-1) : R(0)) * g_loss * st.log_grad(mel[e]);
        if (!same(coef[e], want)) {
          ++failures;
          std::printf("FAIL mel_l1_coefs r=%lld m=%lld\n", (long long)r, (long long)m);
        }
      }
    }
    // The projection over the band ranges against the dense sums, on a basis with zero runs at both ends of each band,
    // an all-zero band and a NaN weight (counted as nonzero).
    {
      std::vector<R> basis(static_cast<size_t>(n_mels * basis_bins), R(0));
      for (int64_t m = 0; m < n_mels; ++m) {
        if (m == 3) continue;  // (all zero)
        for (int64_t k = m % 3; k < basis_bins - (m % 2); ++k) basis[m * basis_bins + k] = std::fabs(rnd<R>(gen));
      }
      basis[5 * basis_bins + basis_bins - 1] = R(NAN);
      std::vector<int64_t> band(static_cast<size_t>(2 * n_mels));
      cpu::mel_band_ranges(basis.data(), n_mels, basis_bins, band.data());
      ++checks;
      if (band[6] != 0 || band[7] != 0 || band[10] != 2 || band[11] != basis_bins) {
        ++failures;
        std::printf("FAIL mel_band_ranges\n");
      }
      std::vector<R> pw(static_cast<size_t>(rows * basis_bins)), melp(static_cast<size_t>(rows * n_mels));
      for (auto& v : pw) v = std::fabs(rnd<R>(gen));
      cpu::mel_project(pw.data(), rows, basis_bins, basis.data(), band.data(), n_mels, melp.data());
      std::vector<R> cf(static_cast<size_t>(rows * n_mels)), gp(static_cast<size_t>(rows * basis_bins));
      for (auto& v : cf) v = rnd<R>(gen);
      cpu::mel_project_back(cf.data(), rows, n_mels, basis.data(), band.data(), basis_bins, gp.data());
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t m = 0; m < n_mels; ++m) {
          R want = R(0);
          for (int64_t k = band[2 * m]; k < band[2 * m + 1]; ++k) want += basis[m * basis_bins + k] * pw[r * basis_bins + k];
          double dense = 0;  // every bin, in double: the ranges leave out only zero weights
          for (int64_t k = 0; k < basis_bins; ++k) dense += double(basis[m * basis_bins + k]) * pw[r * basis_bins + k];
          ++checks;
          if (!same(melp[r * n_mels + m], want) ||
              !(std::isnan(dense) ? std::isnan(want) : std::fabs(want - dense) <= 1e-5 * (1 + std::fabs(dense)))) {
            ++failures;
            std::printf("FAIL mel_project r=%lld m=%lld\n", (long long)r, (long long)m);
          }
        }
        for (int64_t k = 0; k < basis_bins; ++k) {
          double dense = 0;
          for (int64_t m = 0; m < n_mels; ++m) dense += double(basis[m * basis_bins + k]) * cf[r * n_mels + m];
          const R got = gp[r * basis_bins + k];
          ++checks;
          if (!(std::isnan(dense) ? std::isnan(got) : std::fabs(got - dense) <= 1e-5 * (1 + std::fabs(dense)))) {
            ++failures;
            std::printf("FAIL mel_project_back r=%lld k=%lld\n", (long long)r, (long long)k);
          }
        }
      }
    }
    std::vector<R> gP(static_cast<size_t>(rows * basis_bins));
    for (auto& v : gP) v = rnd<R>(gen);
    std::vector<Complex<R>> gspec(static_cast<size_t>(rows * bins), Complex<R>{R(NAN), R(NAN)});
    cpu::mel_grad_spectrum(spec.data(), gP.data(), rows, bins, basis_bins, st, gspec.data());
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t k = 0; k < bins; ++k) {
        ++checks;
        const Complex<R> x = spec[r * bins + k], got = gspec[r * bins + k];
        R d = R(0);
        if (k < basis_bins) d = gP[r * basis_bins + k] * mel_power_grad(x.re, x.im, st.power, st.mag_eps);
        const Complex<R> want = k < basis_bins ? Complex<R>{d * x.re, d * x.im} : Complex<R>{R(0), R(0)};
        if (!same(got.re, want.re) || !same(got.im, want.im)) {
          ++failures;
          std::printf("FAIL mel_grad_spectrum r=%lld k=%lld\n", (long long)r, (long long)k);
        }
      }
    }
  }
}

template <typename V>
void run_grid(std::mt19937& gen) {
  const Case cases[] = {
      {64, 16, 3, 700, true, PadMode::Reflect, false},    {64, 16, 3, 700, true, PadMode::Reflect, true},
      {48, 48, 2, 500, false, PadMode::Constant, true},   {32, 8, 3, 333, true, PadMode::Constant, false},
      {40, 13, 2, 401, true, PadMode::Replicate, true},   {50, 20, 1, 377, true, PadMode::Circular, true},
      {16, 24, 2, 300, false, PadMode::Reflect, false},   {16, 24, 2, 300, true, PadMode::Reflect, true},
      {128, 32, 5, 1000, true, PadMode::Reflect, true},   {20, 3, 2, 211, true, PadMode::Reflect, true},
  };
  for (const Case& c : cases) {
    for (int workers : {1, 2, 3, 7}) {
      for (int64_t per_chunk : {1, 2, 5, 64}) {
        check_analysis<V>(c, workers, per_chunk, gen);
        if (c.hop <= c.n_fft) check_synthesis<V>(c, workers, per_chunk, gen);
      }
    }
  }
}

}  // namespace

int main() {
  std::mt19937 gen(1234);
  run_grid<float>(gen);
  run_grid<double>(gen);
  run_grid<Complex<float>>(gen);
  run_grid<Complex<double>>(gen);
  check_mel<float>(gen);
  check_mel<double>(gen);
  std::printf("test_cpu_kernels: %d checks, %d failed\n", checks, failures);
  return failures ? 1 : 0;
}
