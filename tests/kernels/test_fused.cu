// spectro — standalone, torch-free test of the fused (FFT-in-kernel) STFT / ISTFT kernels
// (csrc/kernels/cuda/fused.cuh).
//
// Reference: the frames of common.h's analysis_element, transformed by a direct DFT in double precision on the host
// (and, for synthesis, the inverse DFT of each mode followed by common.h's synthesis_element). Every spectrum mode,
// real and complex signals, float and double, power-of-two and 2^a 3^b 5^c sizes from 16 to 8192, every pad mode for
// analysis, envelope scaling on and off, strided spectra for synthesis. Outputs are poisoned (NaN) before each
// launch, so unwritten elements fail. Error measure: ||out - ref|| / ||ref|| per case, bounded by
// C * eps * log2(n_fft) (float32 FFT error grows like log2 n).
//
// Exit status 0 iff every check passed; prints "N passed, M failed". Without a device: "no CUDA device: compiled
// only", exit 0.
#include <cuda_runtime.h>

#include <cmath>
#include <complex>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "kernels/common.h"
#include "kernels/cuda/fused.cuh"

using namespace spectro::kernels;
namespace kc = spectro::kernels::cuda;
using cd = std::complex<double>;

namespace {

int g_passed = 0, g_failed = 0;

void record(bool ok, const std::string& what) {
  if (ok) {
    ++g_passed;
  } else {
    ++g_failed;
    if (g_failed <= 40) std::printf("FAIL %s\n", what.c_str());
  }
}

#define CUDA_OK(expr)                                                                               \
  do {                                                                                              \
    const cudaError_t e_ = (expr);                                                                  \
    if (e_ != cudaSuccess) {                                                                        \
      record(false, std::string(#expr) + ": " + cudaGetErrorString(e_) + " line " + std::to_string(__LINE__)); \
      return;                                                                                       \
    }                                                                                               \
  } while (0)

template <typename V> struct Traits;
template <> struct Traits<float> { static constexpr bool complex = false; static constexpr double eps = 6e-8; static const char* name() { return "f32"; } };
template <> struct Traits<double> { static constexpr bool complex = false; static constexpr double eps = 1.2e-16; static const char* name() { return "f64"; } };
template <> struct Traits<Complex<float>> { static constexpr bool complex = true; static constexpr double eps = 6e-8; static const char* name() { return "c64"; } };
template <> struct Traits<Complex<double>> { static constexpr bool complex = true; static constexpr double eps = 1.2e-16; static const char* name() { return "c128"; } };

template <typename R> cd to_cd(R v) { return cd(v, 0); }
template <typename R> cd to_cd(Complex<R> v) { return cd(v.re, v.im); }
template <typename V> V from_cd(cd v);
template <> float from_cd<float>(cd v) { return static_cast<float>(v.real()); }
template <> double from_cd<double>(cd v) { return v.real(); }
template <> Complex<float> from_cd<Complex<float>>(cd v) { return {static_cast<float>(v.real()), static_cast<float>(v.imag())}; }
template <> Complex<double> from_cd<Complex<double>>(cd v) { return {v.real(), v.imag()}; }

std::mt19937_64 rng(1234);
double uniform() { return std::uniform_real_distribution<double>(-1.0, 1.0)(rng); }

template <typename V> V random_value() { return from_cd<V>(cd(uniform(), Traits<V>::complex ? uniform() : 0.0)); }

double rel_error(const std::vector<cd>& out, const std::vector<cd>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    if (!std::isfinite(out[i].real()) || !std::isfinite(out[i].imag())) return INFINITY;
    num += std::norm(out[i] - ref[i]);
    den += std::norm(ref[i]);
  }
  return std::sqrt(num / (den > 0 ? den : 1.0));
}

double tolerance(double eps, int64_t n_fft) { return 8.0 * eps * std::log2(static_cast<double>(n_fft)) + 4.0 * eps; }

// --------------------------------------------------------------------------------------------------------------
template <typename V>
void check_analysis(int64_t batch, int64_t T, int64_t n_fft, int64_t hop, int64_t pad, PadMode mode, bool env,
                    kc::SpecMode spec_mode) {
  using R = typename RealOf<V>::type;
  if (!kc::fused_supported<V>(n_fft, Traits<V>::complex)) return;  // e.g. complex128 at 8192: shared memory
  Geometry g;
  g.n_fft = n_fft; g.hop = hop; g.length = T; g.pad = pad; g.mode = mode; g.env_normalize = env;
  const int64_t padded = mode == PadMode::Constant ? T + pad : T + 2 * pad;
  if (padded < n_fft) return;
  g.n_frames = 1 + (padded - n_fft) / hop;
  const int64_t bins = (spec_mode == kc::SpecMode::Rfft || spec_mode == kc::SpecMode::RfftDouble) ? n_fft / 2 + 1 : n_fft;
  std::vector<V> x(batch * T);
  std::vector<R> w(n_fft);
  for (auto& v : x) v = random_value<V>();
  for (auto& v : w) v = static_cast<R>(0.5 + 0.5 * uniform());
  AnalysisParams<V> a;
  a.x = x.data(); a.window = w.data(); a.batch = batch; a.g = g; a.scale = R(0.75);
  // Host reference: frames from common.h, then a double-precision DFT.
  std::vector<cd> ref(batch * g.n_frames * bins);
  std::vector<cd> frame(n_fft);
  std::vector<cd> twiddle(n_fft);
  for (int64_t j = 0; j < n_fft; ++j) twiddle[j] = std::polar(1.0, -2.0 * M_PI * static_cast<double>(j) / n_fft);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t n = 0; n < g.n_frames; ++n) {
      for (int64_t k = 0; k < n_fft; ++k) frame[k] = to_cd(analysis_element(a, b, n, k));
      for (int64_t f = 0; f < bins; ++f) {
        cd acc = 0;
        for (int64_t k = 0; k < n_fft; ++k) acc += frame[k] * twiddle[(f * k) % n_fft];
        if (spec_mode == kc::SpecMode::RfftDouble && f > 0 && 2 * f < n_fft) acc *= 2.0;
        ref[(b * g.n_frames + n) * bins + f] = acc;
      }
    }
  // Device.
  V* dx; R* dw; Complex<R>* dspec;
  CUDA_OK(cudaMalloc(&dx, x.size() * sizeof(V)));
  CUDA_OK(cudaMalloc(&dw, w.size() * sizeof(R)));
  CUDA_OK(cudaMalloc(&dspec, ref.size() * sizeof(Complex<R>)));
  CUDA_OK(cudaMemcpy(dx, x.data(), x.size() * sizeof(V), cudaMemcpyHostToDevice));
  CUDA_OK(cudaMemcpy(dw, w.data(), w.size() * sizeof(R), cudaMemcpyHostToDevice));
  CUDA_OK(cudaMemset(dspec, 0xff, ref.size() * sizeof(Complex<R>)));
  kc::FusedAnalysisParams<V> p;
  p.a = a; p.a.x = dx; p.a.window = dw; p.spec = dspec; p.mode = spec_mode;
  CUDA_OK(kc::launch_fused_analysis(p, nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  std::vector<Complex<R>> host(ref.size());
  CUDA_OK(cudaMemcpy(host.data(), dspec, host.size() * sizeof(Complex<R>), cudaMemcpyDeviceToHost));
  cudaFree(dx); cudaFree(dw); cudaFree(dspec);
  std::vector<cd> out(host.size());
  for (size_t i = 0; i < host.size(); ++i) out[i] = cd(host[i].re, host[i].im);
  const double err = rel_error(out, ref), tol = tolerance(Traits<V>::eps, n_fft);
  char what[256];
  std::snprintf(what, sizeof what, "analysis %s B=%lld T=%lld n_fft=%lld hop=%lld pad=%lld mode=%d env=%d spec=%d: rel err %.3g > %.3g",
                Traits<V>::name(), (long long)batch, (long long)T, (long long)n_fft, (long long)hop, (long long)pad,
                static_cast<int>(mode), env, static_cast<int>(spec_mode), err, tol);
  record(err <= tol, what);
}

// --------------------------------------------------------------------------------------------------------------
// V is the output value type (real for irfft / irfft_half / ifft_real, complex for ifft).
template <typename V>
void check_synthesis(int64_t batch, int64_t n_frames, int64_t n_fft, int64_t hop, int64_t length, int64_t pad, bool env,
                     kc::SpecMode spec_mode, bool transposed_layout) {
  using R = typename RealOf<V>::type;
  Geometry g;
  g.n_fft = n_fft; g.hop = hop; g.n_frames = n_frames; g.length = length; g.pad = pad; g.mode = PadMode::Constant;
  g.env_normalize = env;
  const bool real_fft = spec_mode == kc::SpecMode::Irfft || spec_mode == kc::SpecMode::IrfftHalf;
  const int64_t bins = real_fft ? n_fft / 2 + 1 : n_fft;
  // Spectrum [batch, bins, frames]; stored frame-major (like torch.stft's output) or bin-major.
  std::vector<Complex<R>> spec(batch * bins * n_frames);
  int64_t sb = bins * n_frames, sbin, sn;
  if (transposed_layout) { sbin = 1; sn = bins; } else { sbin = n_frames; sn = 1; }
  for (auto& v : spec) v = {static_cast<R>(uniform()), static_cast<R>(uniform())};
  std::vector<R> w(n_fft);
  for (auto& v : w) v = static_cast<R>(0.5 + 0.5 * uniform());
  // Host reference frames [batch, n_frames, n_fft] (unnormalised inverse DFT of the mode), then synthesis_element.
  std::vector<V> frames(batch * n_frames * n_fft);
  std::vector<cd> col(n_fft);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t n = 0; n < n_frames; ++n) {
      for (int64_t k = 0; k < bins; ++k) {
        const Complex<R> v = spec[b * sb + k * sbin + n * sn];
        col[k] = cd(v.re, v.im);
      }
      if (real_fft) {  // Hermitian extension; DC / Nyquist imaginary parts ignored; interior halved for IrfftHalf
        col[0] = cd(col[0].real(), 0);
        if (n_fft % 2 == 0) col[n_fft / 2] = cd(col[n_fft / 2].real(), 0);
        for (int64_t k = 1; k < bins; ++k) {
          if (2 * k == n_fft) continue;
          if (spec_mode == kc::SpecMode::IrfftHalf) col[k] *= 0.5;
        }
        for (int64_t k = bins; k < n_fft; ++k) col[k] = std::conj(col[n_fft - k]);
      }
      for (int64_t j = 0; j < n_fft; ++j) {
        cd acc = 0;
        for (int64_t k = 0; k < n_fft; ++k) acc += col[k] * std::polar(1.0, 2.0 * M_PI * static_cast<double>((j * k) % n_fft) / n_fft);
        frames[(b * n_frames + n) * n_fft + j] = from_cd<V>(spec_mode == kc::SpecMode::IfftReal ? cd(acc.real(), 0) : acc);
      }
    }
  SynthesisParams<V> s;
  s.frames = frames.data(); s.window = w.data(); s.batch = batch; s.g = g; s.scale = R(1.0 / n_fft);
  std::vector<cd> ref(batch * length);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < length; ++t) ref[b * length + t] = to_cd(synthesis_element(s, b, t));
  // Device.
  Complex<R>* dspec; R* dw; V* dout;
  CUDA_OK(cudaMalloc(&dspec, spec.size() * sizeof(Complex<R>)));
  CUDA_OK(cudaMalloc(&dw, w.size() * sizeof(R)));
  CUDA_OK(cudaMalloc(&dout, ref.size() * sizeof(V)));
  CUDA_OK(cudaMemcpy(dspec, spec.data(), spec.size() * sizeof(Complex<R>), cudaMemcpyHostToDevice));
  CUDA_OK(cudaMemcpy(dw, w.data(), w.size() * sizeof(R), cudaMemcpyHostToDevice));
  CUDA_OK(cudaMemset(dout, 0xff, ref.size() * sizeof(V)));
  kc::FusedSynthesisParams<V> p;
  p.s = s; p.s.frames = nullptr; p.s.window = dw; p.s.out = dout;
  p.spec = dspec; p.stride_b = sb; p.stride_bin = sbin; p.stride_n = sn; p.mode = spec_mode;
  CUDA_OK(kc::launch_fused_synthesis(p, nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  std::vector<V> host(ref.size());
  CUDA_OK(cudaMemcpy(host.data(), dout, host.size() * sizeof(V), cudaMemcpyDeviceToHost));
  cudaFree(dspec); cudaFree(dw); cudaFree(dout);
  std::vector<cd> out(host.size());
  for (size_t i = 0; i < host.size(); ++i) out[i] = to_cd(host[i]);
  const double err = rel_error(out, ref), tol = tolerance(Traits<V>::eps, n_fft);
  char what[256];
  std::snprintf(what, sizeof what, "synthesis %s B=%lld N=%lld n_fft=%lld hop=%lld len=%lld pad=%lld env=%d spec=%d layout=%d: rel err %.3g > %.3g",
                Traits<V>::name(), (long long)batch, (long long)n_frames, (long long)n_fft, (long long)hop, (long long)length,
                (long long)pad, env, static_cast<int>(spec_mode), transposed_layout, err, tol);
  record(err <= tol, what);
}

template <typename V>
void analysis_grid() {
  constexpr bool cplx = Traits<V>::complex;
  const kc::SpecMode real_modes[] = {kc::SpecMode::Rfft, kc::SpecMode::RfftFull, kc::SpecMode::RfftDouble};
  const PadMode pads[] = {PadMode::Constant, PadMode::Reflect, PadMode::Replicate, PadMode::Circular};
  for (int64_t n_fft : {16, 30, 64, 96, 400, 512, 1024, 4096, 8192}) {
    const bool big = n_fft > 1024;  // keep the O(n_fft^2) host reference cheap
    const int64_t hops[] = {n_fft / 4, n_fft / 3 + 1, n_fft};
    for (int64_t hop : hops) {
      if (big && hop != n_fft / 4) continue;
      for (PadMode pm : pads) {
        if (big && pm != PadMode::Reflect) continue;
        const int64_t T = n_fft <= 1024 ? 3 * n_fft + 7 : n_fft + n_fft / 2 + 3;
        const int64_t pad = n_fft / 2;
        if (cplx) {
          check_analysis<V>(2, T, n_fft, hop, pad, pm, false, kc::SpecMode::Fft);
        } else {
          for (kc::SpecMode sm : real_modes) {
            if (!big || sm == kc::SpecMode::Rfft) check_analysis<V>(big ? 1 : 2, T, n_fft, hop, pad, pm, false, sm);
          }
        }
      }
      // no centre padding, envelope scaling (the istft adjoint): zero padding beyond the signal
      check_analysis<V>(1, n_fft * 2 + 5, n_fft, hop, 0, PadMode::Constant, false, cplx ? kc::SpecMode::Fft : kc::SpecMode::Rfft);
      if (hop < n_fft) check_analysis<V>(1, n_fft * 2, n_fft, hop, n_fft / 2, PadMode::Constant, true, cplx ? kc::SpecMode::Fft : kc::SpecMode::RfftDouble);
    }
  }
}

template <typename V>
void synthesis_grid() {
  constexpr bool cplx = Traits<V>::complex;
  for (int64_t n_fft : {16, 30, 64, 400, 512, 1024, 4096}) {
    for (int64_t hop : {n_fft / 4, n_fft / 2 + 1}) {
      const bool big = n_fft > 1024;
      if (big && hop != n_fft / 4) continue;
      const int64_t n_frames = big ? 3 : 12;
      const int64_t natural = n_fft + hop * (n_frames - 1);
      for (bool layout : {true, false}) {
        if (big && !layout) continue;
        if (cplx) {
          check_synthesis<V>(2, n_frames, n_fft, hop, natural - n_fft, n_fft / 2, true, kc::SpecMode::Ifft, layout);
        } else {
          check_synthesis<V>(2, n_frames, n_fft, hop, natural - n_fft, n_fft / 2, true, kc::SpecMode::Irfft, layout);
          check_synthesis<V>(2, n_frames, n_fft, hop, natural + 37, 0, false, kc::SpecMode::IrfftHalf, layout);
          check_synthesis<V>(1, n_frames, n_fft, hop, natural / 2, 3, true, kc::SpecMode::IfftReal, layout);
        }
      }
    }
  }
}

}  // namespace

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("no CUDA device: compiled only\n");
    return 0;
  }
  analysis_grid<float>();
  analysis_grid<double>();
  analysis_grid<Complex<float>>();
  analysis_grid<Complex<double>>();
  synthesis_grid<float>();
  synthesis_grid<double>();
  synthesis_grid<Complex<float>>();
  synthesis_grid<Complex<double>>();
  std::printf("test_fused: %d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
