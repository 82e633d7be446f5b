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
//
//   test_fused              the grid on the GPU (both FFT engines, default and forced launch shapes)
//   test_fused --fuzz N     N random geometries instead of the grid (with --emulate: on the host)
//   test_fused --instances  only the pass that reaches every launcher instance (e.g. under compute-sanitizer)
//   test_fused --emulate    the same kernel bodies run on the host: one block at a time, its threads as fibers that
//                           switch at every barrier, in a fresh random order per barrier interval (so a missing
//                           barrier shows up as a wrong or NaN result); shared memory poisoned per block. No GPU.
//   test_fused --bench      cudaEvent timings of the launchers (float32, rfft / irfft, torch.stft / istft's centre
//                           padding; the stft's backward, its reflect padding folded in the synthesis' blocks and
//                           by the finish launch) with achieved GB/s = (signal bytes + spectrum bytes) / time. Built with
//                           -DSPECTRO_BENCH_BASELINE (and csrc/kernels/cuda/instances/frame_ola_f32.cu) it also times the two-kernel
//                           path on the same card: frame_ola.cuh's framing / overlap-add + cuFFT (libcufft is
//                           dlopen'ed at run time). --sweep adds launch-shape variants and the general engine; the
//                           mel kernels (forward, loss backward, the backward to the signal as two kernels and as
//                           one) follow at a DAC loss', a TTS and Whisper's geometry, then the spectral loss'
//                           backward to the prediction (two kernels and one) at auraloss's MR-STFT resolutions
//                           (--mel: the mel and loss rows alone; --losses: the loss rows alone; --shapes: the stft's
//                           rounds per block and the istft's segment lengths at bench.py's seed configurations, alone).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <ucontext.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/common.h"
#include "kernels/cuda/fused.cuh"

#if defined(SPECTRO_BENCH_BASELINE)
#include <dlfcn.h>
// cuFFT through dlopen (the library is only needed where the baseline runs): the few entry points used.
namespace cufft {
using Handle = int;
using Fn_plan_many = int (*)(Handle*, int, int*, int*, int, int, int*, int, int, int, int);
using Fn_r2c = int (*)(Handle, float*, void*);
using Fn_c2r = int (*)(Handle, void*, float*);
using Fn_destroy = int (*)(Handle);
constexpr int kR2C = 0x2a, kC2R = 0x2c;
Fn_plan_many plan_many = nullptr;
Fn_r2c exec_r2c = nullptr;
Fn_c2r exec_c2r = nullptr;
Fn_destroy destroy = nullptr;
bool load() {
  const char* names[] = {"libcufft.so", "libcufft.so.12", "libcufft.so.11", "/usr/local/cuda/lib64/libcufft.so",
                         "/usr/local/cuda/lib64/libcufft.so.12", "/usr/local/cuda/lib64/libcufft.so.11"};
  void* h = nullptr;
  for (const char* n : names)
    if ((h = dlopen(n, RTLD_NOW)) != nullptr) break;
  if (h == nullptr) return false;
  plan_many = reinterpret_cast<Fn_plan_many>(dlsym(h, "cufftPlanMany"));
  exec_r2c = reinterpret_cast<Fn_r2c>(dlsym(h, "cufftExecR2C"));
  exec_c2r = reinterpret_cast<Fn_c2r>(dlsym(h, "cufftExecC2R"));
  destroy = reinterpret_cast<Fn_destroy>(dlsym(h, "cufftDestroy"));
  return plan_many && exec_r2c && exec_c2r && destroy;
}
}  // namespace cufft
namespace spectro {
namespace kernels {
namespace cuda {
enum class Path : int;  // frame_ola.cuh's (0 = Auto); its launchers come from csrc/kernels/cuda/instances/frame_ola_f32.cu
template <typename V>
cudaError_t launch_analysis(const AnalysisParams<V>& a, Path path, cudaStream_t stream);
template <typename V>
cudaError_t launch_synthesis(const SynthesisParams<V>& s, Path path, cudaStream_t stream);
}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
#endif

// The launchers are instantiated in csrc/kernels/cuda/instances (generated).
namespace spectro {
namespace kernels {
namespace cuda {
extern template cudaError_t launch_fused_analysis<float>(const FusedAnalysisParams<float>&, cudaStream_t);
extern template cudaError_t launch_fused_analysis<double>(const FusedAnalysisParams<double>&, cudaStream_t);
extern template cudaError_t launch_fused_analysis<Complex<float>>(const FusedAnalysisParams<Complex<float>>&, cudaStream_t);
extern template cudaError_t launch_fused_analysis<Complex<double>>(const FusedAnalysisParams<Complex<double>>&, cudaStream_t);
extern template cudaError_t launch_fused_mel<float>(const FusedMelParams<float>&, cudaStream_t, int64_t*);
extern template cudaError_t launch_fused_mel<double>(const FusedMelParams<double>&, cudaStream_t, int64_t*);
extern template cudaError_t launch_fused_synthesis<float>(const FusedSynthesisParams<float>&, cudaStream_t);
extern template cudaError_t launch_fused_synthesis<double>(const FusedSynthesisParams<double>&, cudaStream_t);
extern template cudaError_t launch_fused_synthesis<Complex<float>>(const FusedSynthesisParams<Complex<float>>&, cudaStream_t);
extern template cudaError_t launch_fused_synthesis<Complex<double>>(const FusedSynthesisParams<Complex<double>>&, cudaStream_t);
}  // namespace cuda
}  // namespace kernels
}  // namespace spectro

using namespace spectro::kernels;
namespace kc = spectro::kernels::cuda;
using cd = std::complex<double>;

namespace {

int g_passed = 0, g_failed = 0;
std::string g_variant = "default";  // launch shape / engine of the current pass over the grid

void record(bool ok, const std::string& what) {
  if (ok) {
    ++g_passed;
  } else {
    ++g_failed;
    if (g_failed <= 40) std::printf("FAIL [%s] %s\n", g_variant.c_str(), what.c_str());
  }
}


// ---------------------------------------------------------------------------------------------------------------
// Host emulation of a launch (--emulate): the kernel bodies of fused.cuh with a host execution context.

bool g_emulate = false;

struct Emu {
  int nt = 0;
  std::vector<ucontext_t> ctx;
  ucontext_t main_ctx;
  std::vector<std::unique_ptr<char[]>> stacks;
  std::vector<int> state;  // 0 running, 1 waiting at a barrier, 2 finished
  struct Copy {
    void* dst;
    const void* src;
    size_t bytes;
  };
  std::vector<std::vector<Copy>> pending;  // per thread: asynchronous copies not yet waited for
  std::function<void(int)> body;
  std::mt19937 order_rng{99};
  static constexpr size_t kStack = 256 * 1024;

  explicit Emu(int threads) : nt(threads), ctx(threads), state(threads), pending(threads) {
    for (int t = 0; t < nt; ++t) stacks.emplace_back(new char[kStack]);
  }
  static Emu*& current() {
    static Emu* e = nullptr;
    return e;
  }
  static void entry(int t) {
    Emu* e = current();
    e->body(t);
    e->state[t] = 2;
  }
  void barrier(int t) {
    state[t] = 1;
    swapcontext(&ctx[t], &main_ctx);
  }
  // Runs one block; false if the threads disagreed on a barrier (some finished while others waited).
  bool run_block() {
    current() = this;
    for (int t = 0; t < nt; ++t) {
      getcontext(&ctx[t]);
      ctx[t].uc_stack.ss_sp = stacks[t].get();
      ctx[t].uc_stack.ss_size = kStack;
      ctx[t].uc_link = &main_ctx;
      makecontext(&ctx[t], reinterpret_cast<void (*)()>(&Emu::entry), 1, t);
      state[t] = 0;
    }
    std::vector<int> order(nt);
    for (int t = 0; t < nt; ++t) order[t] = t;
    for (;;) {
      std::shuffle(order.begin(), order.end(), order_rng);
      for (int t : order) {
        if (state[t] == 2) continue;
        state[t] = 0;
        swapcontext(&main_ctx, &ctx[t]);
      }
      int done = 0;
      for (int t = 0; t < nt; ++t) done += state[t] == 2;
      if (done == nt) {  // and no thread left an asynchronous copy behind un-waited
        bool clean = true;
        for (auto& q : pending) {
          clean = clean && q.empty();
          q.clear();
        }
        return clean;
      }
      if (done > 0) return false;
    }
  }
};

struct HostCtx {
  Emu* e;
  int t;
  int64_t blk;
  int64_t nblk;
  unsigned char* sm;
  // (the plain accessors __host__ __device__: a kernel's lambdas, __host__ __device__ themselves, may call them)
  __host__ __device__ int tid() const { return t; }
  __host__ __device__ int nthreads() const { return e->nt; }
  __host__ __device__ int64_t block() const { return blk; }
  __host__ __device__ int64_t nblocks() const { return nblk; }
  void sync() const { e->barrier(t); }
  // A warp's barrier, emulated as the block's: the kernels call it the same number of times in every warp. (Data a
  // warp shares only through its own slots is checked by the emulation's thread order; a read of another warp's
  // slots between two warp barriers is a race that only racecheck on the device sees.)
  void sync_warp() const { e->barrier(t); }
  unsigned char* smem() const { return sm; }
  // Asynchronous copies take effect at the issuing thread's copy_wait(), not before: a kernel that reads a staged
  // value without waiting (and, for another thread's copy, without a barrier after that thread's wait) reads the
  // block's NaN fill or an older round's values, and fails the comparison.
  template <typename T>
  void copy_async(T* dst, const T* src) const {
    e->pending[t].push_back({dst, src, sizeof(T)});
  }
  void copy_commit() const {}
  void copy_wait() const {
    for (const auto& c : e->pending[t]) std::memcpy(c.dst, c.src, c.bytes);
    e->pending[t].clear();
  }
};

// Launches of the synthesis' finish (SynthesisFinish) under emulation, by what they did: [fold][edges] (fold targets
// per row > 0; edge values: frames per block > 0), so that the checks can tell which of its paths they reached.
int64_t g_finish_launches[2][2] = {{0, 0}, {0, 0}};
template <class Body> struct IsFinish { static constexpr bool value = false; };
template <typename V> struct IsFinish<kc::detail::SynthesisFinish<V>> { static constexpr bool value = true; };
template <class P>
void note_finish(const P&, int64_t fold_targets, int64_t, int64_t, int64_t frames_per_block) {
  ++g_finish_launches[fold_targets > 0][frames_per_block > 0];
}

// Synthesis launches under emulation whose blocks folded the padding themselves (their last argument, `fold`), and
// of those, the ones whose segment boundaries were moved for it (the argument before, `shift`), by engine:
// [power-of-two, general].
int64_t g_block_folds[2] = {0, 0};
int64_t g_shifted_folds[2] = {0, 0};
template <class Body> struct SynthesisEngine { static constexpr int value = -1; };
template <typename V, int L, typename O, typename I>
struct SynthesisEngine<kc::detail::Pow2Synthesis<V, L, O, I>> { static constexpr int value = 0; };
template <typename V, typename O, typename I>
struct SynthesisEngine<kc::detail::GenericSynthesis<V, O, I>> { static constexpr int value = 1; };

struct HostExec {
  template <class Body, class... Args>
  int64_t slots(int64_t) const { return 2 * 132; }
  // An H100's 228 KB per SM, 1 KB reserved per block, two resident blocks (as slots)
  template <class Body, class... Args>
  int64_t smem_share(int64_t) const { return 228 * 1024 / 2 - 1024; }
  template <class Body, class... Args>
  cudaError_t launch(int64_t blocks, int64_t smem, Args... args) const {
    if constexpr (IsFinish<Body>::value) note_finish(args...);
    if constexpr (SynthesisEngine<Body>::value >= 0) {
      const auto all = std::forward_as_tuple(args...);
      if (std::get<sizeof...(Args) - 1>(all) != 0) {
        ++g_block_folds[SynthesisEngine<Body>::value];
        g_shifted_folds[SynthesisEngine<Body>::value] += std::get<sizeof...(Args) - 2>(all) != 0;
      }
    }
    static Emu emu(Body::kThreads);
    std::vector<double> storage(static_cast<size_t>(smem + 7) / 8 + 2);
    unsigned char* sm = reinterpret_cast<unsigned char*>(storage.data());
    for (int64_t blk = 0; blk < blocks; ++blk) {
      std::memset(sm, 0xff, static_cast<size_t>(smem));  // NaN in every float / double
      emu.body = [&](int t) {
        HostCtx c{&emu, t, blk, blocks, sm};
        Body::run(c, args...);
      };
      if (!emu.run_block()) return cudaErrorLaunchFailure;
    }
    return cudaSuccess;
  }
};

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
// Half-precision stores (kernel_dtype "mixed"): the same kernels storing float16 / bfloat16 / complex32 must give
// exactly the single-precision result rounded once to nearest, bit for bit. Checked on every third single-precision
// case of the grids (the emulation stays quick).
int g_half_case = 0;
bool half_case() { return g_half_case++ % 3 == 0; }
template <typename T> uint32_t bits_of(const T& v) {
  uint32_t u = 0;
  std::memcpy(&u, &v, sizeof(T));
  return u;
}
// Runs launch(params) (emulated or on the device) with the output in a fresh buffer of n Out, NaN-filled; returns it.
template <typename Out, class Run>
bool run_half(size_t n, std::vector<Out>& host, Run&& run) {
  host.assign(n, Out{});
  std::memset(static_cast<void*>(host.data()), 0xff, n * sizeof(Out));  // NaN in every half value
  if (g_emulate) return run(host.data()) == cudaSuccess;
  Out* d = nullptr;
  if (cudaMalloc(&d, n * sizeof(Out)) != cudaSuccess) return false;
  bool ok = cudaMemset(d, 0xff, n * sizeof(Out)) == cudaSuccess && run(d) == cudaSuccess &&
            cudaDeviceSynchronize() == cudaSuccess &&
            cudaMemcpy(host.data(), d, n * sizeof(Out), cudaMemcpyDeviceToHost) == cudaSuccess;
  cudaFree(d);
  return ok;
}

// Half-precision inputs (the kernels reading float16 / bfloat16 signals and complex32 signals or spectra): on every
// third single-precision case (not the half-store ones), the input values are first made representable in half
// precision; the same call with the input stored in half must then give the single-precision result bit for bit
// (the conversion on load is exact), also together with a half-precision store where the case has one.
// in_case(): 0 none, 1 float16 (complex32 for complex values), 2 bfloat16 (complex32 for complex values).
int g_in_case = 0;
int g_window_case = 0;  // check_synthesis: checks so far (every other one shifts the window off its alignment)
int g_mel_split = 0;  // check_mel: checks so far (every other one fills the band ranges in a launch of their own)
int in_case() {
  const int c = g_in_case++;
  return c % 3 == 1 ? 1 + (c / 3) % 2 : 0;
}
const char* in_name(int kind, bool complex) { return complex ? "complex32" : kind == 1 ? "float16" : "bfloat16"; }
template <typename T> bool same_bits(const T& a, const T& b) { return std::memcmp(&a, &b, sizeof(T)) == 0; }

// The input values v (float or Complex<float>) rounded to half precision in place, and their half copy: 2 bytes per
// real value (float16 / bfloat16 by kind), 4 per complex one (complex32), as raw bytes.
template <typename V>
std::vector<unsigned char> to_half_input(std::vector<V>& v, int kind) {
  std::vector<unsigned char> bytes;
  for (auto& e : v) {
    if constexpr (std::is_same<V, Complex<float>>::value) {
      const __half2 h = __floats2half2_rn(e.re, e.im);
      e = {__low2float(h), __high2float(h)};
      const auto* b = reinterpret_cast<const unsigned char*>(&h);
      bytes.insert(bytes.end(), b, b + sizeof h);
    } else if (kind == 1) {
      const __half h = __float2half_rn(e);
      e = __half2float(h);
      const auto* b = reinterpret_cast<const unsigned char*>(&h);
      bytes.insert(bytes.end(), b, b + sizeof h);
    } else {
      const __nv_bfloat16 h = __float2bfloat16_rn(e);
      e = __bfloat162float(h);
      const auto* b = reinterpret_cast<const unsigned char*>(&h);
      bytes.insert(bytes.end(), b, b + sizeof h);
    }
  }
  return bytes;
}

// Calls run(ptr) with the half-precision input's bytes on the executing side (a device copy unless emulating).
template <class Run>
bool with_input_bytes(const std::vector<unsigned char>& bytes, Run&& run) {
  if (g_emulate) return run(static_cast<const void*>(bytes.data()));
  void* d = nullptr;
  bool ok = cudaMalloc(&d, bytes.size()) == cudaSuccess &&
            cudaMemcpy(d, bytes.data(), bytes.size(), cudaMemcpyHostToDevice) == cudaSuccess && run(d);
  cudaFree(d);
  return ok;
}

template <typename V>
void check_analysis(int64_t batch, int64_t T, int64_t n_fft, int64_t hop, int64_t pad, PadMode mode, bool env,
                    FftMode spec_mode) {
  using R = typename RealOf<V>::type;
  if (!kc::fused_supported<V>(n_fft, Traits<V>::complex)) return;  // e.g. complex128 at 8192: shared memory
  Geometry g;
  g.n_fft = n_fft; g.hop = hop; g.length = T; g.pad = pad; g.mode = mode; g.env_normalize = env;
  const int64_t padded = mode == PadMode::Constant ? T + pad : T + 2 * pad;
  if (padded < n_fft) return;
  g.n_frames = 1 + (padded - n_fft) / hop;
  const int64_t bins = (spec_mode == FftMode::Rfft || spec_mode == FftMode::RfftDouble) ? n_fft / 2 + 1 : n_fft;
  std::vector<V> x(batch * T);
  std::vector<R> w(n_fft);
  for (auto& v : x) v = random_value<V>();
  for (auto& v : w) v = static_cast<R>(0.5 + 0.5 * uniform());
  const int in_kind = std::is_same<R, float>::value ? in_case() : 0;
  std::vector<unsigned char> x_half;
  if constexpr (std::is_same<R, float>::value) {
    if (in_kind != 0) x_half = to_half_input(x, in_kind);
  }
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
        for (int64_t k = 0, q = 0; k < n_fft; ++k, q = q + f >= n_fft ? q + f - n_fft : q + f) acc += frame[k] * twiddle[q];
        if (spec_mode == FftMode::RfftDouble && f > 0 && 2 * f < n_fft) acc *= 2.0;
        ref[(b * g.n_frames + n) * bins + f] = acc;
      }
    }
  kc::FusedAnalysisParams<V> p;
  p.a = a; p.mode = spec_mode;
  std::vector<Complex<R>> host(ref.size());
  // The half-precision store of the same call, against the single-precision result rounded once.
  const bool half = std::is_same<R, float>::value && half_case();
  std::vector<__half2> host_half;
  auto run_half_analysis = [&](kc::FusedAnalysisParams<V> q) {
    return run_half<__half2>(ref.size(), host_half, [&](__half2* dst) {
      q.spec = nullptr;
      q.spec_half = dst;
      return g_emulate ? kc::detail::run_fused_analysis(q, HostExec{}) : kc::launch_fused_analysis(q, nullptr);
    });
  };
  // The same call reading the half-precision copy of x (Out: Complex<R>, or complex32 when `half`).
  auto run_half_input = [&](kc::FusedAnalysisParams<V> q, auto out_tag, auto& dst_host) {
    using Out = typename decltype(out_tag)::type;
    return with_input_bytes(x_half, [&](const void* xin) {
      q.a.x = nullptr;
      q.x_half = xin;
      q.x_half_bf16 = !Traits<V>::complex && in_kind == 2;
      return run_half<Out>(ref.size(), dst_host, [&](Out* dst) {
        q.spec = nullptr;
        q.spec_half = nullptr;
        if constexpr (std::is_same<Out, __half2>::value) q.spec_half = dst; else q.spec = dst;
        return g_emulate ? kc::detail::run_fused_analysis(q, HostExec{}) : kc::launch_fused_analysis(q, nullptr);
      });
    });
  };
  std::vector<Complex<R>> host_in;
  std::vector<__half2> host_in_half;
  bool in_ran = false, in_half_ran = false;
  bool half_ran = false;
  if (g_emulate) {
    for (auto& v : host) v = {NAN, NAN};
    p.spec = host.data();
    CUDA_OK(kc::detail::run_fused_analysis(p, HostExec{}));
    if (half) half_ran = run_half_analysis(p);
  } else {
    V* dx; R* dw; Complex<R>* dspec;
    CUDA_OK(cudaMalloc(&dx, x.size() * sizeof(V)));
    CUDA_OK(cudaMalloc(&dw, w.size() * sizeof(R)));
    CUDA_OK(cudaMalloc(&dspec, ref.size() * sizeof(Complex<R>)));
    CUDA_OK(cudaMemcpy(dx, x.data(), x.size() * sizeof(V), cudaMemcpyHostToDevice));
    CUDA_OK(cudaMemcpy(dw, w.data(), w.size() * sizeof(R), cudaMemcpyHostToDevice));
    CUDA_OK(cudaMemset(dspec, 0xff, ref.size() * sizeof(Complex<R>)));
    p.a.x = dx; p.a.window = dw; p.spec = dspec;
    CUDA_OK(kc::launch_fused_analysis(p, nullptr));
    CUDA_OK(cudaDeviceSynchronize());
    CUDA_OK(cudaMemcpy(host.data(), dspec, host.size() * sizeof(Complex<R>), cudaMemcpyDeviceToHost));
    if (half) half_ran = run_half_analysis(p);
    cudaFree(dx); cudaFree(dspec);  // (dw stays for the half-input runs below)
  }
  if (in_kind != 0) {
    in_ran = run_half_input(p, kc::detail::TypeTag<Complex<R>>{}, host_in);
    if (half) in_half_ran = run_half_input(p, kc::detail::TypeTag<__half2>{}, host_in_half);
  }
  if (!g_emulate) cudaFree(const_cast<R*>(p.a.window));
  if (in_kind != 0) {
    size_t bad = in_ran ? 0 : host.size();
    for (size_t i = 0; in_ran && i < host.size(); ++i) bad += !same_bits(host_in[i], host[i]);
    if (half) {
      bad += in_half_ran ? 0 : host.size();
      for (size_t i = 0; half_ran && in_half_ran && i < host.size(); ++i) bad += !same_bits(host_in_half[i], host_half[i]);
    }
    char hw[240];
    std::snprintf(hw, sizeof hw, "analysis %s reading %s%s B=%lld T=%lld n_fft=%lld hop=%lld pad=%lld: %zu of %zu differ from the float-input result%s",
                  Traits<V>::name(), in_name(in_kind, Traits<V>::complex), half ? " storing complex32" : "",
                  (long long)batch, (long long)T, (long long)n_fft, (long long)hop, (long long)pad, bad, host.size(),
                  in_ran && (!half || in_half_ran) ? "" : " (launch failed)");
    record(bad == 0, hw);
  }
  if (half) {
    size_t bad = half_ran ? 0 : host.size();
    for (size_t i = 0; half_ran && i < host.size(); ++i) {
      const __half2 want = __floats2half2_rn(static_cast<float>(host[i].re), static_cast<float>(host[i].im));
      bad += bits_of(host_half[i]) != bits_of(want);
    }
    char hw[200];
    std::snprintf(hw, sizeof hw, "analysis %s complex32 store B=%lld T=%lld n_fft=%lld hop=%lld: %zu of %zu differ from the rounded float result%s",
                  Traits<V>::name(), (long long)batch, (long long)T, (long long)n_fft, (long long)hop, bad, host.size(),
                  half_ran ? "" : " (launch failed)");
    record(bad == 0, hw);
  }
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
                     FftMode spec_mode, bool transposed_layout, PadMode pad_mode = PadMode::Constant) {
  using R = typename RealOf<V>::type;
  const bool complex_fft = !(spec_mode == FftMode::Irfft || spec_mode == FftMode::IrfftHalf);
  if (!kc::fused_supported<V>(n_fft, complex_fft)) return;  // e.g. complex128 at 8192: shared memory
  Geometry g;
  g.n_fft = n_fft; g.hop = hop; g.n_frames = n_frames; g.length = length; g.pad = pad; g.mode = pad_mode;
  g.env_normalize = env;
  const bool real_fft = spec_mode == FftMode::Irfft || spec_mode == FftMode::IrfftHalf;
  const int64_t side_n = batch * kc::fused_side_length(g);
  const int64_t bins = real_fft ? n_fft / 2 + 1 : n_fft;
  // Spectrum [batch, bins, frames]; stored frame-major (like torch.stft's output) or bin-major.
  std::vector<Complex<R>> spec(batch * bins * n_frames);
  int64_t sb = bins * n_frames, sbin, sn;
  if (transposed_layout) { sbin = 1; sn = bins; } else { sbin = n_frames; sn = 1; }
  for (auto& v : spec) v = {static_cast<R>(uniform()), static_cast<R>(uniform())};
  const int in_kind = std::is_same<R, float>::value ? in_case() : 0;
  std::vector<unsigned char> spec_half;  // complex32 copy
  if constexpr (std::is_same<R, float>::value) {
    if (in_kind != 0) spec_half = to_half_input(spec, in_kind);
  }
  std::vector<R> w(n_fft);
  // Window values in [0.25, 1]: a near-zero w at a position covered by one frame makes h * w = 1 / w huge there, so
  // that single FFT output sample (with its own, cancellation-driven relative error) would dominate the norm.
  for (auto& v : w) v = static_cast<R>(0.625 + 0.375 * uniform());
  // Host reference frames [batch, n_frames, n_fft] (unnormalised inverse DFT of the mode), then synthesis_element.
  std::vector<V> frames(batch * n_frames * n_fft);
  std::vector<cd> col(n_fft), itwiddle(n_fft);
  for (int64_t j = 0; j < n_fft; ++j) itwiddle[j] = std::polar(1.0, 2.0 * M_PI * static_cast<double>(j) / n_fft);
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
          if (spec_mode == FftMode::IrfftHalf) col[k] *= 0.5;
        }
        for (int64_t k = bins; k < n_fft; ++k) col[k] = std::conj(col[n_fft - k]);
      }
      for (int64_t j = 0; j < n_fft; ++j) {
        cd acc = 0;
        for (int64_t k = 0, q = 0; k < n_fft; ++k, q = q + j >= n_fft ? q + j - n_fft : q + j) acc += col[k] * itwiddle[q];
        frames[(b * n_frames + n) * n_fft + j] = from_cd<V>(spec_mode == FftMode::IfftReal ? cd(acc.real(), 0) : acc);
      }
    }
  SynthesisParams<V> s;
  s.frames = frames.data(); s.window = w.data(); s.batch = batch; s.g = g; s.scale = R(1.0 / n_fft);
  std::vector<cd> ref(batch * length);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < length; ++t) ref[b * length + t] = to_cd(synthesis_element(s, b, t));
  kc::FusedSynthesisParams<V> p;
  p.s = s; p.s.frames = nullptr;
  p.stride_b = sb; p.stride_bin = sbin; p.stride_n = sn; p.mode = spec_mode;
  // Every other check gives the kernel the window one element past an aligned start, as a view into a larger tensor
  // would (the synthesis reads a window in global memory in pairs only where it is aligned for them).
  const int64_t w_off = g_window_case++ % 2;
  std::vector<R> w_shifted(n_fft + 1, R(NAN));
  std::copy(w.begin(), w.end(), w_shifted.begin() + w_off);
  std::vector<V> host(ref.size());
  // float16 / bfloat16 stores of the same call (float, constant padding), against the float result rounded once.
  const bool half = std::is_same<V, float>::value && side_n == 0 && half_case();
  const bool bf16 = (g_half_case / 3) % 2 == 1;
  std::vector<__half> host_h;
  std::vector<__nv_bfloat16> host_b;
  auto run_half_synthesis = [&](kc::FusedSynthesisParams<V> q) {
    q.s.out = nullptr;
    auto launch = [&](const kc::FusedSynthesisParams<V>& r) {
      return g_emulate ? kc::detail::run_fused_synthesis(r, HostExec{}) : kc::launch_fused_synthesis(r, nullptr);
    };
    if (bf16) return run_half<__nv_bfloat16>(ref.size(), host_b, [&](__nv_bfloat16* d) { q.out_bf16 = d; return launch(q); });
    return run_half<__half>(ref.size(), host_h, [&](__half* d) { q.out_half = d; return launch(q); });
  };
  // The same call reading the complex32 copy of the spectrum, storing V (into host_in) or, when `half`, float16 /
  // bfloat16 (into host_in_h / host_in_b).
  std::vector<V> host_in;
  std::vector<__half> host_in_h;
  std::vector<__nv_bfloat16> host_in_b;
  auto run_half_input = [&](kc::FusedSynthesisParams<V> q, bool half_out) {
    return with_input_bytes(spec_half, [&](const void* sin) {
      q.spec = nullptr;
      q.spec_c32 = static_cast<const __half2*>(sin);
      q.s.out = nullptr;
      auto launch = [&](const kc::FusedSynthesisParams<V>& r) {
        return g_emulate ? kc::detail::run_fused_synthesis(r, HostExec{}) : kc::launch_fused_synthesis(r, nullptr);
      };
      if (half_out) {
        if (bf16) return run_half<__nv_bfloat16>(ref.size(), host_in_b, [&](__nv_bfloat16* d) { q.out_bf16 = d; return launch(q); });
        return run_half<__half>(ref.size(), host_in_h, [&](__half* d) { q.out_half = d; return launch(q); });
      }
      // The side buffer (other pad modes): fresh scratch, NaN-filled.
      std::vector<V> side(side_n, from_cd<V>(cd(NAN, NAN)));
      V* dside = nullptr;
      if (side_n > 0) {
        if (g_emulate) {
          dside = side.data();
        } else if (cudaMalloc(&dside, side_n * sizeof(V)) != cudaSuccess || cudaMemset(dside, 0xff, side_n * sizeof(V)) != cudaSuccess) {
          return false;
        }
      }
      q.side = dside;
      const bool ok = run_half<V>(ref.size(), host_in, [&](V* d) { q.s.out = d; return launch(q); });
      if (!g_emulate) cudaFree(dside);
      return ok;
    });
  };
  // The same call with a launch knob set by tune(FusedTuning&), into `dest`: with the scalar overlap-add
  // (FusedTuning::scalar_ola) into host_scalar, the packed one, where it runs, must give the same bits (the same sums
  // in the same order); with the padding folded by the finish launch (FusedTuning::finish_fold) into host_finish, the
  // fold inside the synthesis' blocks, where it runs, likewise.
  const bool scalar_case = !kc::fused_tuning().scalar_ola;
  const bool finish_case = side_n > 0 && !kc::fused_tuning().finish_fold;
  std::vector<V> host_scalar, host_finish;
  auto run_tuned = [&](kc::FusedSynthesisParams<V> q, std::vector<V>& dest, void (*tune)(kc::FusedTuning&)) {
    const kc::FusedTuning saved = kc::fused_tuning();
    tune(kc::fused_tuning());
    std::vector<V> side(side_n, from_cd<V>(cd(NAN, NAN)));
    V* dside = nullptr;
    bool ok = true;
    if (side_n > 0) {
      if (g_emulate) {
        dside = side.data();
      } else {
        ok = cudaMalloc(&dside, side_n * sizeof(V)) == cudaSuccess &&
             cudaMemset(dside, 0xff, side_n * sizeof(V)) == cudaSuccess;
      }
    }
    q.side = dside;
    ok = ok && run_half<V>(ref.size(), dest, [&](V* d) {
           q.s.out = d;
           return g_emulate ? kc::detail::run_fused_synthesis(q, HostExec{}) : kc::launch_fused_synthesis(q, nullptr);
         });
    if (!g_emulate) cudaFree(dside);
    kc::fused_tuning() = saved;
    return ok;
  };
  auto run_scalar = [&](const kc::FusedSynthesisParams<V>& q) {
    return run_tuned(q, host_scalar, [](kc::FusedTuning& t) { t.scalar_ola = 1; });
  };
  auto run_finish = [&](const kc::FusedSynthesisParams<V>& q) {
    return run_tuned(q, host_finish, [](kc::FusedTuning& t) { t.finish_fold = 1; });
  };
  bool scalar_ran = false, finish_ran = false;
  bool in_ran = false, in_half_ran = false;
  bool half_ran = false;
  if (g_emulate) {
    for (auto& v : host) v = from_cd<V>(cd(NAN, NAN));
    std::vector<V> side(side_n, from_cd<V>(cd(NAN, NAN)));
    p.spec = spec.data(); p.s.out = host.data(); p.side = side_n > 0 ? side.data() : nullptr;
    p.s.window = w_shifted.data() + w_off;
    CUDA_OK(kc::detail::run_fused_synthesis(p, HostExec{}));
    if (scalar_case) scalar_ran = run_scalar(p);
    if (finish_case) finish_ran = run_finish(p);
    if (half) half_ran = run_half_synthesis(p);
    if (in_kind != 0) {
      in_ran = run_half_input(p, false);
      if (half) in_half_ran = run_half_input(p, true);
    }
  } else {
    Complex<R>* dspec; R* dw; V* dout; V* dside = nullptr;
    CUDA_OK(cudaMalloc(&dspec, spec.size() * sizeof(Complex<R>)));
    CUDA_OK(cudaMalloc(&dw, w_shifted.size() * sizeof(R)));
    CUDA_OK(cudaMalloc(&dout, ref.size() * sizeof(V)));
    if (side_n > 0) {
      CUDA_OK(cudaMalloc(&dside, side_n * sizeof(V)));
      CUDA_OK(cudaMemset(dside, 0xff, side_n * sizeof(V)));
    }
    CUDA_OK(cudaMemcpy(dspec, spec.data(), spec.size() * sizeof(Complex<R>), cudaMemcpyHostToDevice));
    CUDA_OK(cudaMemcpy(dw, w_shifted.data(), w_shifted.size() * sizeof(R), cudaMemcpyHostToDevice));
    CUDA_OK(cudaMemset(dout, 0xff, ref.size() * sizeof(V)));
    p.s.window = dw + w_off; p.s.out = dout; p.spec = dspec; p.side = dside;
    CUDA_OK(kc::launch_fused_synthesis(p, nullptr));
    CUDA_OK(cudaDeviceSynchronize());
    CUDA_OK(cudaMemcpy(host.data(), dout, host.size() * sizeof(V), cudaMemcpyDeviceToHost));
    if (scalar_case) scalar_ran = run_scalar(p);
    if (finish_case) finish_ran = run_finish(p);
    if (half) half_ran = run_half_synthesis(p);
    if (in_kind != 0) {
      in_ran = run_half_input(p, false);
      if (half) in_half_ran = run_half_input(p, true);
    }
    cudaFree(dspec); cudaFree(dw); cudaFree(dout); cudaFree(dside);
  }
  // A knob's run (`ran`: launched) against the default, bit for bit.
  auto same_as_default = [&](const char* knob, bool ran, const std::vector<V>& other) {
    size_t bad = ran ? 0 : host.size(), first_bad = 0, last_bad = 0;
    for (size_t i = 0; ran && i < host.size(); ++i) {
      if (same_bits(other[i], host[i])) continue;
      if (bad++ == 0) first_bad = i;
      last_bad = i;
    }
    char sw[260];
    std::snprintf(sw, sizeof sw, "synthesis %s %s B=%lld N=%lld n_fft=%lld hop=%lld len=%lld pad=%lld mode=%d: %zu of %zu differ from the default%s (first at row %lld sample %lld, last at row %lld sample %lld)",
                  Traits<V>::name(), knob, (long long)batch, (long long)n_frames, (long long)n_fft, (long long)hop,
                  (long long)length, (long long)pad, static_cast<int>(pad_mode), bad, host.size(),
                  ran ? "" : " (launch failed)", (long long)(first_bad / length), (long long)(first_bad % length),
                  (long long)(last_bad / length), (long long)(last_bad % length));
    record(bad == 0, sw);
  };
  if (scalar_case) same_as_default("scalar overlap-add", scalar_ran, host_scalar);
  if (finish_case) same_as_default("fold by the finish", finish_ran, host_finish);
  if (in_kind != 0) {
    size_t bad = in_ran ? 0 : host.size();
    for (size_t i = 0; in_ran && i < host.size(); ++i) bad += !same_bits(host_in[i], host[i]);
    if (half) {
      bad += in_half_ran && half_ran ? 0 : host.size();
      for (size_t i = 0; half_ran && in_half_ran && i < host.size(); ++i)
        bad += bf16 ? !same_bits(host_in_b[i], host_b[i]) : !same_bits(host_in_h[i], host_h[i]);
    }
    char hw[240];
    std::snprintf(hw, sizeof hw, "synthesis %s reading complex32%s B=%lld N=%lld n_fft=%lld hop=%lld pad=%lld mode=%d: %zu of %zu differ from the complex64-input result%s",
                  Traits<V>::name(), half ? (bf16 ? " storing bfloat16" : " storing float16") : "", (long long)batch,
                  (long long)n_frames, (long long)n_fft, (long long)hop, (long long)pad, static_cast<int>(pad_mode), bad,
                  host.size(), in_ran && (!half || in_half_ran) ? "" : " (launch failed)");
    record(bad == 0, hw);
  }
  if constexpr (std::is_same<V, float>::value) {
    if (half) {
      size_t bad = half_ran ? 0 : host.size();
      for (size_t i = 0; half_ran && i < host.size(); ++i) {
        bad += bf16 ? bits_of(host_b[i]) != bits_of(__float2bfloat16_rn(host[i]))
                    : bits_of(host_h[i]) != bits_of(__float2half_rn(host[i]));
      }
      char hw[200];
      std::snprintf(hw, sizeof hw, "synthesis %s store B=%lld N=%lld n_fft=%lld hop=%lld: %zu of %zu differ from the rounded float result%s",
                    bf16 ? "bfloat16" : "float16", (long long)batch, (long long)n_frames, (long long)n_fft, (long long)hop,
                    bad, host.size(), half_ran ? "" : " (launch failed)");
      record(bad == 0, hw);
    }
  }
  std::vector<cd> out(host.size());
  for (size_t i = 0; i < host.size(); ++i) out[i] = to_cd(host[i]);
  const double err = rel_error(out, ref), tol = tolerance(Traits<V>::eps, n_fft);
  char what[256];
  std::snprintf(what, sizeof what, "synthesis %s B=%lld N=%lld n_fft=%lld hop=%lld len=%lld pad=%lld mode=%d env=%d spec=%d layout=%d: rel err %.3g > %.3g",
                Traits<V>::name(), (long long)batch, (long long)n_frames, (long long)n_fft, (long long)hop, (long long)length,
                (long long)pad, static_cast<int>(pad_mode), env, static_cast<int>(spec_mode), transposed_layout, err, tol);
  record(err <= tol, what);
}

// --------------------------------------------------------------------------------------------------------------
// A host vector on the executing side: the vector itself when emulating, else a device copy (back() copies it back).
template <typename T>
struct OnExec {
  std::vector<T>& h;
  T* d = nullptr;
  bool ok = true;
  explicit OnExec(std::vector<T>& host) : h(host) {
    if (g_emulate) {
      d = h.data();
      return;
    }
    ok = cudaMalloc(&d, std::max<size_t>(1, h.size()) * sizeof(T)) == cudaSuccess &&
         cudaMemcpy(d, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice) == cudaSuccess;
  }
  bool back() {
    return g_emulate || (ok && cudaMemcpy(h.data(), d, h.size() * sizeof(T), cudaMemcpyDeviceToHost) == cudaSuccess);
  }
  ~OnExec() {
    if (!g_emulate) cudaFree(d);
  }
  OnExec(const OnExec&) = delete;
  OnExec& operator=(const OnExec&) = delete;
};

// ||got - want|| / ||want|| in double (NaN in got: infinite).
template <typename V>
double rel_diff(const std::vector<V>& got, const std::vector<V>& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double d = static_cast<double>(got[i]) - static_cast<double>(want[i]);
    num += std::isnan(d) ? INFINITY : d * d;
    den += static_cast<double>(want[i]) * static_cast<double>(want[i]);
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

// ---------------------------------------------------------------------------------------------------------------
// The synthesis' finish (finish_synthesis.cuh: SynthesisFinish, one launch) against the two kernels it replaced,
// kept here as host references: first the edge adds, then the fold. Bit for bit, on random output / side / edge
// values (edge values at positions outside [synthesis_lo, synthesis_hi), which no block stores, NaN), every pad mode,
// fold targets that do and do not carry an edge value, side positions that do, one block per row (no edges) and many.

// The edge adds: each edge value v at padded position P in [synthesis_lo, synthesis_hi) as *at = v + *at, onto the
// output or the side buffer.
template <typename V>
void ref_add_edges(std::vector<V>& out, std::vector<V>& side, const std::vector<V>& edge, const Geometry& g,
                   int64_t batch, int64_t blocks_per_row, int64_t frames_per_block) {
  const int64_t e = g.n_fft - g.hop, per_row = (blocks_per_row - 1) * e;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t r = 0; r < per_row; ++r) {
      const int64_t k = r / e, q = r - k * e;
      const int64_t pos = (k + 1) * frames_per_block * g.hop + q;
      if (pos < kc::synthesis_lo(g) || pos >= kc::synthesis_hi(g)) continue;
      const int64_t t = pos - g.pad;
      V* at = t >= 0 && t < g.length ? &out[b * g.length + t]
                                     : &side[b * kc::fused_side_length(g) + (t < 0 ? t + g.pad : t - g.length + g.pad)];
      *at = edge[b * per_row + r] + *at;
    }
}

// The fold: each sample t of [0, T) gets the side positions reading it added, in for_each_preimage's order (every
// sample, not only those within the kernel's reach of either end: that bound is checked too).
template <typename V>
struct RefFoldAdd {  // (for_each_preimage is host and device: a functor, not a host lambda)
  const V* sd;
  int64_t direct, pad, length;
  V* total;
  SPECTRO_HD void operator()(int64_t q) const {
    if (q != direct) *total += sd[q < pad ? q : q - length];  // left part at q, right part at q - T
  }
};
template <typename V>
void ref_fold_side(std::vector<V>& out, const std::vector<V>& side, const Geometry& g, int64_t batch) {
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < g.length; ++t) {
      V total = out[b * g.length + t];
      for_each_preimage(t, g, RefFoldAdd<V>{side.data() + b * kc::fused_side_length(g), t + g.pad, g.pad, g.length,
                                            &total});
      out[b * g.length + t] = total;
    }
}

template <typename V>
bool finite_value(V v) { return std::isfinite(v); }
template <typename R>
bool finite_value(Complex<R> v) { return std::isfinite(v.re) && std::isfinite(v.im); }

// One geometry: the finish with `edges` (frames_per_block 0: the fold alone) against the references. "" if the same
// bits, else what differed.
template <typename V>
std::string finish_case(const Geometry& g, int64_t batch, kc::detail::EdgeLayout edges) {
  const int64_t side_len = kc::fused_side_length(g), e = g.n_fft - g.hop;
  const bool with_edges = edges.frames_per_block > 0 && edges.blocks_per_row > 1 && e > 0;
  const int64_t per_row = with_edges ? (edges.blocks_per_row - 1) * e : 0;
  std::vector<V> out(batch * g.length), side(std::max<int64_t>(1, batch * side_len)), edge(std::max<int64_t>(1, batch * per_row));
  for (auto& v : out) v = random_value<V>();
  for (auto& v : side) v = random_value<V>();
  for (int64_t i = 0; i < batch * per_row; ++i) {
    const int64_t r = i % per_row, k = r / e;
    const int64_t pos = (k + 1) * edges.frames_per_block * g.hop + r - k * e;
    edge[i] = pos < kc::synthesis_lo(g) || pos >= kc::synthesis_hi(g) ? from_cd<V>(cd(NAN, NAN)) : random_value<V>();
  }
  std::vector<V> want = out, want_side = side;
  if (with_edges) ref_add_edges(want, want_side, edge, g, batch, edges.blocks_per_row, edges.frames_per_block);
  if (side_len > 0) ref_fold_side(want, want_side, g, batch);
  std::vector<V> got = out;
  OnExec<V> dout(got), dside(side), dedge(edge);
  kc::FusedSynthesisParams<V> p;
  p.s.g = g; p.s.batch = batch; p.s.out = dout.d;
  p.side = side_len > 0 ? dside.d : nullptr;
  p.edge = with_edges ? dedge.d : nullptr;
  p.edge_capacity = batch * per_row;
  const cudaError_t err = !(dout.ok && dside.ok && dedge.ok) ? cudaErrorMemoryAllocation
                          : g_emulate ? kc::detail::finish_synthesis(p, HostExec{}, edges)
                                      : kc::detail::finish_synthesis(p, kc::detail::DeviceExec{}, edges);
  if (err != cudaSuccess || (!g_emulate && cudaDeviceSynchronize() != cudaSuccess) || !dout.back())
    return std::string("launch failed: ") + cudaGetErrorString(err);
  size_t bad = 0, nonfinite = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    bad += !same_bits(got[i], want[i]);
    nonfinite += !finite_value(got[i]);
  }
  if (bad == 0 && nonfinite == 0) return "";
  char what[200];
  std::snprintf(what, sizeof what, "%zu of %zu samples differ from edge adds + fold, %zu not finite", bad, got.size(),
                nonfinite);
  return what;
}

// Per pad mode and n_fft: hops dividing n_fft (a block's first frame at an edge of the fold targets) and not, hop =
// n_fft (no edge values); short signals (every sample a fold target), medium and long ones; pads 0, 3, n_fft / 2, n_fft
// (where the mode allows: reflect pad < T, circular pad <= T); the frames' span reaching T + 2 pad and short of it;
// frames per block at the fewest (the frames covering a position) and more; the fold alone.
template <typename V>
void check_synthesis_finish() {
  const PadMode modes[] = {PadMode::Constant, PadMode::Reflect, PadMode::Replicate, PadMode::Circular};
  const char* mode_names[] = {"constant", "reflect", "replicate", "circular"};
  for (int mi = 0; mi < 4; ++mi)
    for (int64_t n_fft : {16, 30, 64}) {
      int cases = 0, failed = 0;
      std::string first;
      for (int64_t hop : {n_fft / 4, n_fft / 3 + 1, n_fft / 2 + 1, n_fft})
        for (int64_t pad : {int64_t{0}, int64_t{3}, n_fft / 2, n_fft})
          for (int64_t T : {pad + 2, n_fft / 2 + 5, 3 * n_fft + 7, 6 * n_fft + 1}) {
            Geometry g;
            g.n_fft = n_fft; g.hop = hop; g.length = T; g.pad = pad; g.mode = modes[mi]; g.env_normalize = false;
            if (g.mode == PadMode::Reflect && pad >= T) continue;
            if (g.mode == PadMode::Circular && pad > T) continue;
            if (T + 2 * pad < n_fft) continue;
            const int64_t full = 1 + (T + 2 * pad - n_fft) / hop;
            for (int64_t n_frames : {full, std::max<int64_t>(1, full - 3)}) {
              g.n_frames = n_frames;
              const int64_t cover = (n_fft + hop - 1) / hop;
              for (int64_t F : {int64_t{0}, cover, cover + 1, 2 * cover + 3}) {
                if (F == 0 && kc::fused_side_length(g) == 0) continue;  // nothing to do
                kc::detail::EdgeLayout edges;
                if (F > 0) edges = kc::detail::EdgeLayout{(n_frames + F - 1) / F, F};
                const std::string r = finish_case<V>(g, 2, edges);
                ++cases;
                if (!r.empty() && failed++ == 0) {
                  char at[160];
                  std::snprintf(at, sizeof at, " (n_fft %lld hop %lld pad %lld T %lld frames %lld F %lld)",
                                (long long)n_fft, (long long)hop, (long long)pad, (long long)T, (long long)n_frames,
                                (long long)F);
                  first = r + at;
                }
              }
            }
          }
      char what[400];
      std::snprintf(what, sizeof what, "synthesis finish %s %s n_fft %lld: %d of %d geometries differ from the edge "
                    "adds then the fold; first: %s", Traits<V>::name(), mode_names[mi], (long long)n_fft, failed,
                    cases, first.c_str());
      record(failed == 0, what);
    }
}

// The mel backward straight to the signal (FusedMelGradParams: the synthesis engine with the mel prologue) against
// the two kernels it replaces: the mel backward's dL/dX (gspec, [batch, frames, bins], from the same call) through
// the fused synthesis in mode irfft_half with the analysis' window and scale. The same arithmetic on the same values
// in the same order: the same bits, with the powers stored once and recomputed per band. q: the backward call with
// host pointers (a.x, a.window, basis, and grad_out or target / target_grad), grad_spec unused. With `signs` (target
// mode: sign(out - target) of the kernel's own output), the fused call reading them instead of the target
// (target_sign) must give the same bits too.
template <typename V>
void check_mel_grad_fused(kc::FusedMelParams<V> q, const std::vector<Complex<V>>& gspec, const std::string& head,
                          const std::vector<int8_t>* signs = nullptr) {
  const Geometry& g = q.a.g;
  if (!kc::fused_mel_grad_supported<V>(g)) return;
  const int64_t batch = q.a.batch, T = g.length, bins = g.n_fft / 2 + 1, frames = g.n_frames;
  const int64_t side_n = batch * kc::fused_side_length(g);
  const bool target = q.target != nullptr;
  const size_t n_out = static_cast<size_t>(batch * q.n_mels * frames);
  std::vector<V> x(q.a.x, q.a.x + batch * T), w(q.a.window, q.a.window + g.n_fft),
      basis(q.basis, q.basis + static_cast<size_t>(q.n_mels) * q.basis_bins);
  std::vector<V> gin(target ? q.target : q.grad_out, (target ? q.target : q.grad_out) + n_out);
  if (target) gin.push_back(*q.target_grad);
  std::vector<Complex<V>> spec = gspec;
  std::vector<int> band(2 * q.n_mels + 2 * q.basis_bins, -1);
  std::vector<int8_t> sg = signs ? *signs : std::vector<int8_t>(1, 0);
  OnExec<int8_t> dsg(sg);
  std::vector<V> side(std::max<int64_t>(side_n, 1), V(NAN));
  OnExec<V> dx(x), dw(w), db(basis), dg(gin), dside(side);
  OnExec<Complex<V>> dspec(spec);
  OnExec<int> dband(band);
  kc::FusedSynthesisParams<V> s;
  s.s.window = dw.d; s.s.batch = batch; s.s.g = g; s.s.scale = q.a.scale;
  s.mode = FftMode::IrfftHalf;
  s.side = side_n > 0 ? dside.d : nullptr;
  // The two kernels' result.
  std::vector<V> two(batch * T), fused(batch * T), fused_re(batch * T), fused_sign(batch * T), init(batch * T);
  for (auto& v : init) v = random_value<V>();
  const auto run = [&](std::vector<V>& host, auto&& go, const std::vector<V>* before = nullptr) {
    if (before) host = *before; else std::fill(host.begin(), host.end(), V(NAN));
    OnExec<V> dout(host);
    return dx.ok && dw.ok && db.ok && dg.ok && dside.ok && dspec.ok && dband.ok && dsg.ok && dout.ok && go(dout.d) == cudaSuccess &&
           (g_emulate || cudaDeviceSynchronize() == cudaSuccess) && dout.back();
  };
  const bool ran_two = run(two, [&](V* out) {
    kc::FusedSynthesisParams<V> t = s;
    t.spec = dspec.d; t.stride_b = frames * bins; t.stride_bin = 1; t.stride_n = bins; t.s.out = out;
    return g_emulate ? kc::detail::run_fused_synthesis(t, HostExec{}) : kc::launch_fused_synthesis(t, nullptr);
  });
  bool ran = ran_two;
  for (int variant = 0; variant < (signs ? 3 : 2) && ran; ++variant) {
    const bool recompute = variant == 1, from_signs = variant == 2;
    ran = run(variant == 0 ? fused : recompute ? fused_re : fused_sign, [&](V* out) {
      kc::FusedMelGradParams<V> f;
      f.mel = q;
      f.mel.a.x = dx.d; f.mel.a.window = dw.d; f.mel.basis = db.d; f.mel.band = dband.d;
      f.mel.grad_spec = nullptr; f.mel.out = nullptr; f.mel.bands = kc::MelBands::Compute;
      f.mel.recompute_powers = recompute;
      if (from_signs) {
        f.mel.target = nullptr; f.mel.target_sign = dsg.d; f.mel.target_grad = dg.d + n_out; f.mel.grad_out = nullptr;
      } else if (target) {
        f.mel.target = dg.d; f.mel.target_grad = dg.d + n_out; f.mel.grad_out = nullptr;
      } else {
        f.mel.grad_out = dg.d;
      }
      f.syn = s;
      f.syn.s.out = out;
      return g_emulate ? kc::detail::run_fused_mel_grad(f, HostExec{}) : kc::launch_fused_mel_grad(f, nullptr);
    });
  }
  // Frame-owning blocks (an edge scratch; the launcher's frames per block, then the fewest: more edges): the same
  // sums but at the positions where two blocks meet, (earlier frames) + (later frames) instead of frame by frame.
  // Then the fewest again, adding to the output (accumulate): init + the segments' result.
  double fo_err[3] = {INFINITY, INFINITY, INFINITY};
  std::vector<V> want_acc(init);
  for (size_t i = 0; i < want_acc.size(); ++i) want_acc[i] += fused[i];
  for (int fo = 0; fo < 3 && ran; ++fo) {
    std::vector<V> edge(std::max<int64_t>(1, batch * frames * g.n_fft), V(NAN)), got(batch * T);
    OnExec<V> dedge(edge);
    kc::FusedTuning tune;
    tune.frames_per_block = fo > 0 ? 1 : 0;
    kc::fused_tuning() = tune;
    ran = dedge.ok && run(got, [&](V* out) {
      kc::FusedMelGradParams<V> f;
      f.mel = q;
      f.mel.a.x = dx.d; f.mel.a.window = dw.d; f.mel.basis = db.d; f.mel.band = dband.d;
      f.mel.grad_spec = nullptr; f.mel.out = nullptr; f.mel.bands = kc::MelBands::Compute;
      if (target) {
        f.mel.target = dg.d; f.mel.target_grad = dg.d + n_out; f.mel.grad_out = nullptr;
      } else {
        f.mel.grad_out = dg.d;
      }
      f.syn = s;
      f.syn.s.out = out;
      f.syn.edge = dedge.d;
      f.syn.edge_capacity = static_cast<int64_t>(edge.size());
      f.syn.accumulate = fo == 2;
      return g_emulate ? kc::detail::run_fused_mel_grad(f, HostExec{}) : kc::launch_fused_mel_grad(f, nullptr);
    }, fo == 2 ? &init : nullptr);
    kc::fused_tuning() = kc::FusedTuning{};
    fo_err[fo] = ran ? rel_diff(got, fo == 2 ? want_acc : two) : INFINITY;
  }
  const double fo_tol = tolerance(Traits<V>::eps, g.n_fft);
  {
    char what[240];
    std::snprintf(what, sizeof what, ": fused backward to the signal, frame-owning blocks: rel diff %.3g / %.3g (fewest "
                  "frames) > %.3g from mel backward + synthesis, or adding to the output %.3g", fo_err[0], fo_err[1],
                  fo_tol, fo_err[2]);
    record(fo_err[0] <= fo_tol && fo_err[1] <= fo_tol && fo_err[2] <= fo_tol, head + what);
  }
  size_t bad = ran ? 0 : two.size(), bad_re = 0, bad_sign = 0;
  for (size_t i = 0; ran && i < two.size(); ++i) {
    bad += !same_bits(two[i], fused[i]);
    bad_re += !same_bits(fused_re[i], fused[i]);
    if (signs) bad_sign += !same_bits(fused_sign[i], fused[i]);
  }
  char what[240];
  std::snprintf(what, sizeof what, ": fused backward to the signal (%s): %zu of %zu samples differ from mel backward + "
                "synthesis, %zu with the powers recomputed, %zu from the signs", target ? "L1 target" : "grad_out", bad,
                two.size(), bad_re, bad_sign);
  record(ran && bad == 0 && bad_re == 0 && bad_sign == 0, head + what);
}

// The mel loss' terms in the mel launch (FusedMelParams::y, the loss' log stage: clamp, log10): the output is bit for
// bit the launch on x alone, each sign that of (launch on x) - (launch on y) in R, and the blocks' partials sum to
// sum |difference| (in double; the order differs: within 1e-12 relative); the blocks at most one per frame. y's first
// row equals x's (every difference 0, sign 0: a difference fused with the log stage's multiply would not be). `p`:
// the call of the caller's check, host pointers (signal, window, basis). The launcher refuses y with a half-precision
// signal, in a backward, and without its sign or partials.
template <typename V>
void check_mel_loss_pair(kc::FusedMelParams<V> p, const std::string& head) {
  using R = V;
  const int64_t batch = p.a.batch, T = p.a.g.length, n_fft = p.a.g.n_fft, frames = p.a.g.n_frames;
  const size_t n_out = static_cast<size_t>(batch * p.n_mels * frames), n_basis = static_cast<size_t>(p.n_mels) * p.basis_bins;
  p.stages.log = MelLog::Clamp;
  p.stages.log_eps = static_cast<R>(1e-5);
  p.stages.log_scale = static_cast<R>(1.0 / std::log(10.0));
  std::vector<V> y(batch * T);
  for (auto& v : y) v = random_value<V>();
  std::copy(p.a.x, p.a.x + T, y.begin());
  if (!kc::fused_mel_loss_pair_supported<V>(p.a.g)) {  // (the general engine: refused, the caller makes two launches)
    std::vector<int> band(2 * p.n_mels + 2 * p.basis_bins, -1);
    std::vector<R> o(n_out);
    std::vector<int8_t> sg(n_out);
    std::vector<double> pt(static_cast<size_t>(batch * frames));
    kc::FusedMelParams<V> q = p;
    q.y = y.data(); q.band = band.data(); q.out = o.data(); q.sign = sg.data(); q.partials = pt.data();
    record(kc::detail::run_fused_mel(q, HostExec{}) == cudaErrorInvalidValue,
           head + ": mel loss terms in the mel launch: refused off the power-of-two engine");
    return;
  }
  // Runs q (host pointers) into out (and with q.y, sign and partials); false if the launch failed.
  auto go = [&](kc::FusedMelParams<V> q, std::vector<R>& out, std::vector<int8_t>* sign, std::vector<double>* part,
                int64_t* blocks) -> bool {
    out.assign(n_out, R(NAN));
    if (sign) sign->assign(n_out, int8_t{7});
    if (part) part->assign(static_cast<size_t>(batch * frames), NAN);
    std::vector<int> band(2 * p.n_mels + 2 * p.basis_bins, -1);
    if (g_emulate) {
      q.band = band.data();
      q.out = out.data();
      if (sign) { q.sign = sign->data(); q.partials = part->data(); }
      return kc::detail::run_fused_mel(q, HostExec{}, blocks) == cudaSuccess;
    }
    V *dx = nullptr, *dy = nullptr;
    R *dw = nullptr, *db = nullptr, *dout = nullptr;
    int* dband = nullptr;
    int8_t* dsign = nullptr;
    double* dpart = nullptr;
    bool ok = cudaMalloc(&dx, batch * T * sizeof(V)) == cudaSuccess && cudaMalloc(&dy, batch * T * sizeof(V)) == cudaSuccess &&
              cudaMalloc(&dw, n_fft * sizeof(R)) == cudaSuccess && cudaMalloc(&db, n_basis * sizeof(R)) == cudaSuccess &&
              cudaMalloc(&dout, n_out * sizeof(R)) == cudaSuccess && cudaMalloc(&dband, band.size() * sizeof(int)) == cudaSuccess &&
              cudaMalloc(&dsign, n_out) == cudaSuccess && cudaMalloc(&dpart, batch * frames * sizeof(double)) == cudaSuccess &&
              cudaMemcpy(dx, q.a.x, batch * T * sizeof(V), cudaMemcpyHostToDevice) == cudaSuccess &&
              cudaMemcpy(dy, y.data(), batch * T * sizeof(V), cudaMemcpyHostToDevice) == cudaSuccess &&
              cudaMemcpy(dw, q.a.window, n_fft * sizeof(R), cudaMemcpyHostToDevice) == cudaSuccess &&
              cudaMemcpy(db, q.basis, n_basis * sizeof(R), cudaMemcpyHostToDevice) == cudaSuccess &&
              cudaMemset(dout, 0xff, n_out * sizeof(R)) == cudaSuccess && cudaMemset(dsign, 7, n_out) == cudaSuccess &&
              cudaMemset(dpart, 0xff, batch * frames * sizeof(double)) == cudaSuccess;
    const bool pair = q.y != nullptr;
    q.a.x = q.a.x == y.data() ? dy : dx;
    q.y = pair ? dy : nullptr;
    q.a.window = dw; q.basis = db; q.band = dband; q.out = dout;
    if (sign) { q.sign = dsign; q.partials = dpart; }
    ok = ok && kc::launch_fused_mel(q, nullptr, blocks) == cudaSuccess && cudaDeviceSynchronize() == cudaSuccess &&
         cudaMemcpy(out.data(), dout, n_out * sizeof(R), cudaMemcpyDeviceToHost) == cudaSuccess &&
         (!sign || (cudaMemcpy(sign->data(), dsign, n_out, cudaMemcpyDeviceToHost) == cudaSuccess &&
                    cudaMemcpy(part->data(), dpart, batch * frames * sizeof(double), cudaMemcpyDeviceToHost) == cudaSuccess));
    cudaFree(dx); cudaFree(dy); cudaFree(dw); cudaFree(db); cudaFree(dout); cudaFree(dband); cudaFree(dsign); cudaFree(dpart);
    return ok;
  };
  std::vector<R> lx, ly, out;
  std::vector<int8_t> sign;
  std::vector<double> part;
  kc::FusedMelParams<V> qy = p, q2 = p;
  qy.a.x = y.data();
  q2.y = y.data();
  int64_t blocks = -1;
  if (!go(p, lx, nullptr, nullptr, nullptr) || !go(qy, ly, nullptr, nullptr, nullptr) || !go(q2, out, &sign, &part, &blocks)) {
    record(false, head + ": mel loss terms in the mel launch: launch failed");
    return;
  }
  size_t bad_out = 0, bad_sign = 0, zeros = 0;
  double want = 0;
  for (size_t i = 0; i < n_out; ++i) {
    bad_out += !same_bits(out[i], lx[i]);
    const R d = lx[i] - ly[i];
    bad_sign += sign[i] != (d > R(0) ? 1 : (d < R(0) ? -1 : 0));
    zeros += sign[i] == 0;
    want += static_cast<double>(d < R(0) ? -d : d);
  }
  double got = 0;
  const bool blocks_ok = blocks >= 1 && blocks <= batch * frames;
  for (int64_t k = 0; blocks_ok && k < blocks; ++k) got += part[k];
  const bool sum_ok = blocks_ok && std::fabs(got - want) <= 1e-12 * want;
  char what[300];
  std::snprintf(what, sizeof what, ": mel loss terms in the mel launch: %zu of %zu outputs differ from the launch on x, "
                "%zu signs wrong (%zu zero), %lld blocks, sum %.17g vs %.17g", bad_out, n_out, bad_sign, zeros,
                (long long)blocks, got, want);
  record(bad_out == 0 && bad_sign == 0 && zeros >= n_out / batch && sum_ok, head + what);
  // refused (the launcher's checks come before any launch): a half-precision signal, a backward, no sign / partials
  std::vector<int> band(2 * p.n_mels + 2 * p.basis_bins, -1);
  std::vector<R> gout(n_out, R(0)), o(n_out);
  std::vector<Complex<R>> gspec(n_out);
  kc::FusedMelParams<V> bad_half = q2, bad_grad = q2, bad_sign_ptr = q2;
  for (auto* q : {&bad_half, &bad_grad, &bad_sign_ptr}) {
    q->band = band.data(); q->out = o.data(); q->sign = sign.data(); q->partials = part.data();
  }
  bad_half.a.x = nullptr;  // (the signal's rows as float16: y is refused, not the pair of pointers)
  bad_half.x_half = y.data();
  bad_grad.out = nullptr;
  bad_grad.grad_out = gout.data();
  bad_grad.grad_spec = gspec.data();
  bad_sign_ptr.sign = nullptr;
  const bool refused = kc::detail::run_fused_mel(bad_half, HostExec{}) == cudaErrorInvalidValue &&
                       kc::detail::run_fused_mel(bad_grad, HostExec{}) == cudaErrorInvalidValue &&
                       kc::detail::run_fused_mel(bad_sign_ptr, HostExec{}) == cudaErrorInvalidValue;
  record(refused, head + ": mel loss terms in the mel launch: refused with a half-precision signal, in a backward and "
                         "without signs");
}

// The mel epilogue (real signals): out[b, m, n] = log stage of sum_k basis[m, k] (|X[b, n, k]|^2 + mag_eps)^(p/2).
// Reference: the same double-precision DFT of the frames as the analysis check, power and bands in double.
// Linear output (MelLog::None): ||out - ref|| / ||ref|| within the analysis tolerance (x 4: squares and band
// sums). Each log mode: the same call with the log stage, against that stage applied in double to the linear output
// of the first call (the bands are summed in the same order, so the two calls' linear values are the same): within
// a few roundings of the result. Half-precision input: the same result bit for bit as its float copy. The basis:
// random contiguous bands (some empty, one dense), only basis_bins <= n_fft / 2 + 1 of the bins.
template <typename V>
void check_mel(int64_t batch, int64_t T, int64_t n_fft, int64_t hop, int64_t pad, PadMode mode, int n_mels,
               double power, double mag_eps, bool crop, double scale = 0.75) {
  const bool split_bands = g_mel_split++ % 2 == 1;
  using R = V;
  static_assert(!Traits<V>::complex, "mel: real signals");
  if (!kc::fused_supported<V>(n_fft, false)) return;
  Geometry g;
  g.n_fft = n_fft; g.hop = hop; g.length = T; g.pad = pad; g.mode = mode; g.env_normalize = false;
  const int64_t padded = mode == PadMode::Constant ? T + pad : T + 2 * pad;
  if (padded < n_fft) return;
  g.n_frames = 1 + (padded - n_fft) / hop;
  const int bins = static_cast<int>(n_fft / 2 + 1);
  const int basis_bins = crop ? bins - bins / 3 : bins;
  std::vector<V> x(batch * T);
  std::vector<R> w(n_fft);
  for (auto& v : x) v = random_value<V>();
  for (auto& v : w) v = static_cast<R>(0.5 + 0.5 * uniform());
  const int in_kind = std::is_same<R, float>::value ? in_case() : 0;
  std::vector<unsigned char> x_half;
  if constexpr (std::is_same<R, float>::value) {
    if (in_kind != 0) x_half = to_half_input(x, in_kind);
  }
  std::vector<R> basis(static_cast<size_t>(n_mels) * basis_bins, R(0));
  for (int m = 0; m < n_mels; ++m) {
    if (m % 7 == 3) continue;  // an empty band
    int lo = static_cast<int>((uniform() * 0.5 + 0.5) * (basis_bins - 1)), width = 1 + static_cast<int>((uniform() + 1) * 6);
    if (m == 1) { lo = 0; width = basis_bins; }  // a dense band
    for (int k = lo; k < std::min(basis_bins, lo + width); ++k) basis[m * basis_bins + k] = static_cast<R>(0.1 + 0.5 * (uniform() + 1));
  }
  AnalysisParams<V> a;
  a.x = x.data(); a.window = w.data(); a.batch = batch; a.g = g; a.scale = static_cast<R>(scale);
  const int64_t frames = g.n_frames;
  std::vector<double> ref(batch * n_mels * frames);
  std::vector<cd> spec_ref(batch * frames * bins);  // X[b, n, k] (for the backward's reference)
  std::vector<cd> frame(n_fft), twiddle(n_fft);
  std::vector<double> pw(bins);
  for (int64_t j = 0; j < n_fft; ++j) twiddle[j] = std::polar(1.0, -2.0 * M_PI * static_cast<double>(j) / n_fft);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t n = 0; n < frames; ++n) {
      for (int64_t k = 0; k < n_fft; ++k) frame[k] = to_cd(analysis_element(a, b, n, k));
      for (int f = 0; f < bins; ++f) {  // (every bin: the backward's reference needs X past the basis too)
        cd acc = 0;
        for (int64_t k = 0, q = 0; k < n_fft; ++k, q = q + f >= n_fft ? q + f - n_fft : q + f) acc += frame[k] * twiddle[q];
        pw[f] = std::pow(std::norm(acc) + mag_eps, power / 2);
        spec_ref[(b * frames + n) * bins + f] = acc;
      }
      for (int m = 0; m < n_mels; ++m) {
        double s = 0;
        for (int f = 0; f < basis_bins; ++f) s += basis[m * basis_bins + f] * pw[f];
        ref[(b * n_mels + m) * frames + n] = s;
      }
    }
  kc::FusedMelParams<V> p;
  p.a = a; p.mode = FftMode::Rfft;
  p.n_mels = n_mels; p.basis_bins = basis_bins; p.stages.power = static_cast<R>(power);
  p.stages.mag_eps = static_cast<R>(mag_eps);
  // Runs p (with the log stage `lg`, reading half input when `half_in`) into host; false if the launch failed.
  const size_t n_out = ref.size();
  // gout (backward): dL/d out; the kernel then writes dL/dX into gspec (host) instead of the mel output.
  // With `target` (and gspec) instead of gout: the backward of target_weight * |out - target|_1 for dL/dloss tgrad.
  const R tgrad = R(0.8), tweight = R(0.3);
  auto run = [&](MelLog lg, R log_eps, R log_scale, bool half_in, std::vector<R>& host,
                 const std::vector<R>* gout = nullptr, std::vector<Complex<R>>* gspec = nullptr,
                 const std::vector<R>* target = nullptr) -> bool {
    kc::FusedMelParams<V> q = p;
    q.stages.log = lg; q.stages.log_eps = log_eps; q.stages.log_scale = log_scale;
    host.assign(n_out, R(NAN));
    const size_t n_spec = static_cast<size_t>(batch * frames * bins);
    if (gspec) gspec->assign(n_spec, Complex<R>{R(NAN), R(NAN)});
    const std::vector<R>* gin = gout ? gout : target;  // (the backward's input: dL/d out or the target)
    // Every other check fills the band ranges in a launch of their own (MelBands::Only, as a caller keeping them
    // per basis does), then runs the mel kernel on them (MelBands::Ready); the others let the launcher compute them.
    const bool split = split_bands;
    auto launch = [&](kc::FusedMelParams<V> r) {
      auto go = [&](const kc::FusedMelParams<V>& t) {
        return g_emulate ? kc::detail::run_fused_mel(t, HostExec{}) : kc::launch_fused_mel(t, nullptr);
      };
      if (!split) return go(r);
      kc::FusedMelParams<V> only = r;  // (as the op layer fills them: no output or gradient fields)
      only.out = nullptr; only.grad_out = nullptr; only.grad_spec = nullptr; only.target = nullptr;
      only.target_grad = nullptr;
      only.bands = kc::MelBands::Only;
      const cudaError_t e = go(only);
      if (e != cudaSuccess) return e;
      r.bands = kc::MelBands::Ready;
      return go(r);
    };
    if (g_emulate) {
      std::vector<int> band(2 * n_mels + 2 * basis_bins, -1);  // (the band ranges, then the bins' covering bands)
      q.basis = basis.data(); q.band = band.data(); q.out = host.data();
      if (gout) { q.grad_out = gout->data(); q.grad_spec = gspec->data(); }
      if (target) { q.target = target->data(); q.target_grad = &tgrad; q.target_weight = tweight; q.grad_spec = gspec->data(); }
      if (half_in) { q.a.x = nullptr; q.x_half = x_half.data(); q.x_half_bf16 = in_kind == 2; }
      return launch(q) == cudaSuccess;
    }
    R* dgout = nullptr; Complex<R>* dgspec = nullptr;
    if (gin) {
      if (cudaMalloc(&dgout, (n_out + 1) * sizeof(R)) != cudaSuccess || cudaMalloc(&dgspec, n_spec * sizeof(Complex<R>)) != cudaSuccess ||
          cudaMemcpy(dgout, gin->data(), n_out * sizeof(R), cudaMemcpyHostToDevice) != cudaSuccess ||
          cudaMemcpy(dgout + n_out, &tgrad, sizeof(R), cudaMemcpyHostToDevice) != cudaSuccess ||
          cudaMemset(dgspec, 0xff, n_spec * sizeof(Complex<R>)) != cudaSuccess)
        return false;
      if (gout) {
        q.grad_out = dgout;
      } else {
        q.target = dgout; q.target_grad = dgout + n_out; q.target_weight = tweight;
      }
      q.grad_spec = dgspec;
    }
    V *dx = nullptr; R *dw = nullptr, *db = nullptr, *dout = nullptr; int* dband = nullptr; void* dh = nullptr;
    bool ok = cudaMalloc(&dx, x.size() * sizeof(V)) == cudaSuccess && cudaMalloc(&dw, w.size() * sizeof(R)) == cudaSuccess &&
              cudaMalloc(&db, basis.size() * sizeof(R)) == cudaSuccess && cudaMalloc(&dout, n_out * sizeof(R)) == cudaSuccess &&
              cudaMalloc(&dband, (2 * n_mels + 2 * basis_bins) * sizeof(int)) == cudaSuccess &&
              cudaMemcpy(dx, x.data(), x.size() * sizeof(V), cudaMemcpyHostToDevice) == cudaSuccess &&
              cudaMemcpy(dw, w.data(), w.size() * sizeof(R), cudaMemcpyHostToDevice) == cudaSuccess &&
              cudaMemcpy(db, basis.data(), basis.size() * sizeof(R), cudaMemcpyHostToDevice) == cudaSuccess &&
              cudaMemset(dout, 0xff, n_out * sizeof(R)) == cudaSuccess;
    if (ok && half_in) {
      ok = cudaMalloc(&dh, x_half.size()) == cudaSuccess &&
           cudaMemcpy(dh, x_half.data(), x_half.size(), cudaMemcpyHostToDevice) == cudaSuccess;
      q.a.x = nullptr; q.x_half = dh; q.x_half_bf16 = in_kind == 2;
    } else {
      q.a.x = dx;
    }
    q.a.window = dw; q.basis = db; q.band = dband; q.out = dout;
    ok = ok && launch(q) == cudaSuccess && cudaDeviceSynchronize() == cudaSuccess &&
         cudaMemcpy(host.data(), dout, n_out * sizeof(R), cudaMemcpyDeviceToHost) == cudaSuccess;
    if (gin) ok = ok && cudaMemcpy(gspec->data(), dgspec, n_spec * sizeof(Complex<R>), cudaMemcpyDeviceToHost) == cudaSuccess;
    cudaFree(dx); cudaFree(dw); cudaFree(db); cudaFree(dout); cudaFree(dband); cudaFree(dh); cudaFree(dgout); cudaFree(dgspec);
    return ok;
  };
  char what[320];
  const int len = std::snprintf(what, sizeof what, "mel %s B=%lld T=%lld n_fft=%lld hop=%lld pad=%lld mode=%d n_mels=%d power=%g eps=%g bins=%d",
                                Traits<V>::name(), (long long)batch, (long long)T, (long long)n_fft, (long long)hop,
                                (long long)pad, static_cast<int>(mode), n_mels, power, mag_eps, basis_bins);
  const std::string head(what, static_cast<size_t>(len));
  std::vector<R> lin;
  if (!run(MelLog::None, R(0), R(1), false, lin)) {
    record(false, head + ": launch failed");
    return;
  }
  {
    double num = 0, den = 0;
    for (size_t i = 0; i < n_out; ++i) {
      const double d = static_cast<double>(lin[i]) - ref[i];
      num += std::isnan(d) ? INFINITY : d * d;
      den += ref[i] * ref[i];
    }
    const double err = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
    const double tol = 4 * tolerance(Traits<V>::eps, n_fft);
    std::snprintf(what, sizeof what, ": rel err %.3g > %.3g", err, tol);
    record(err <= tol, head + what);
  }
  {
    kc::FusedMelParams<V> hp = p;  // (the call of `lin`, with host pointers)
    hp.basis = basis.data();
    check_mel_loss_pair<V>(hp, head);
  }
  const struct { MelLog lg; double eps, scale; } stages[] = {
      {MelLog::Clamp, 1e-5, 1.0}, {MelLog::Add, 1e-3, 1.0 / std::log(10.0)}, {MelLog::Log1p, 0.0, 2.5}};
  for (const auto& st : stages) {
    std::vector<R> lg;
    if (!run(st.lg, static_cast<R>(st.eps), static_cast<R>(st.scale), false, lg)) {
      record(false, head + ": log launch failed");
      continue;
    }
    size_t bad = 0;
    for (size_t i = 0; i < n_out; ++i) {
      const double m = lin[i];
      const double ln = st.lg == MelLog::Clamp ? std::log(std::max(m, static_cast<double>(static_cast<R>(st.eps))))
                        : st.lg == MelLog::Add ? std::log(m + static_cast<double>(static_cast<R>(st.eps)))
                                                   : std::log1p(m);
      const double want = static_cast<double>(static_cast<R>(st.scale)) * ln;
      bad += !(std::fabs(lg[i] - want) <= 8 * Traits<V>::eps * (std::fabs(want) + std::fabs(st.scale)));
    }
    std::snprintf(what, sizeof what, ": log stage %d: %zu of %zu outside a few roundings", static_cast<int>(st.lg), bad, n_out);
    record(bad == 0, head + what);
  }
  // Backward: dL/dX for a random dL/d out, against the double-precision chain rule on the reference spectrum
  // (log stages None and Add: smooth, so the reference's derivative is the kernel's up to rounding).
  if (2 * n_mels <= n_fft) {
    std::vector<R> gout(n_out);
    for (auto& v : gout) v = static_cast<R>(uniform());
    for (int pass = 0; pass < 2; ++pass) {
      const MelLog lg = pass == 0 ? MelLog::None : MelLog::Add;
      const double leps = pass == 0 ? 0.0 : 1e-3, lscale = pass == 0 ? 1.0 : 0.4343;
      std::vector<R> unused;
      std::vector<Complex<R>> gspec;
      if (!run(lg, static_cast<R>(leps), static_cast<R>(lscale), false, unused, &gout, &gspec)) {
        record(false, head + ": backward launch failed");
        continue;
      }
      double num = 0, den = 0;
      for (int64_t b = 0; b < batch; ++b)
        for (int64_t n = 0; n < frames; ++n) {
          std::vector<double> coef(n_mels);
          for (int m = 0; m < n_mels; ++m) {
            const double mel = ref[(b * n_mels + m) * frames + n];
            const double dlog = pass == 0 ? 1.0 : static_cast<double>(static_cast<R>(lscale)) / (mel + static_cast<double>(static_cast<R>(leps)));
            coef[m] = gout[(b * n_mels + m) * frames + n] * dlog;
          }
          for (int k = 0; k < bins; ++k) {
            double gp = 0;
            for (int m = 0; k < basis_bins && m < n_mels; ++m) gp += basis[m * basis_bins + k] * coef[m];
            const cd xk = spec_ref[(b * frames + n) * bins + k];
            const double sq = std::norm(xk) + mag_eps;
            const double d = power == 2.0 ? 2.0 : (power == 1.0 && sq == 0.0) ? 0.0 : power * std::pow(sq, power / 2 - 1);
            const cd want = gp * d * xk;
            const Complex<R> got = gspec[(b * frames + n) * bins + k];
            const double dr = got.re - want.real(), di = got.im - want.imag();
            num += std::isnan(dr + di) ? INFINITY : dr * dr + di * di;
            den += std::norm(want);
          }
        }
      const double err = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
      const double tol = 8 * tolerance(Traits<V>::eps, n_fft);
      std::snprintf(what, sizeof what, ": backward (log stage %d) rel err %.3g > %.3g", static_cast<int>(lg), err, tol);
      record(err <= tol, head + what);
      kc::FusedMelParams<V> hq = p;  // (the call above, with host pointers)
      hq.stages.log = lg; hq.stages.log_eps = static_cast<R>(leps); hq.stages.log_scale = static_cast<R>(lscale);
      hq.a.x = x.data(); hq.a.window = w.data(); hq.basis = basis.data();
      hq.grad_out = gout.data();
      check_mel_grad_fused<V>(hq, gspec, head);
      {  // the powers recomputed per band (the engines' path for n_mels = M): the same bits
        std::vector<Complex<R>> gre;
        p.recompute_powers = true;
        const bool ran = run(lg, static_cast<R>(leps), static_cast<R>(lscale), false, unused, &gout, &gre);
        p.recompute_powers = false;
        size_t bad = ran ? 0 : gspec.size();
        for (size_t i = 0; ran && i < gre.size(); ++i)
          bad += !(same_bits(gre[i].re, gspec[i].re) && same_bits(gre[i].im, gspec[i].im));
        std::snprintf(what, sizeof what, ": backward with the powers recomputed (log stage %d): %zu of %zu bins differ",
                      static_cast<int>(lg), bad, gspec.size());
        record(bad == 0, head + what);
      }
      // The L1-against-a-target mode: targets a little above or below the kernel's own output (no ties), so its
      // gradient must be bit for bit the grad_out backward's with dL/d out = sign(out - target) * (tgrad * tweight).
      std::vector<R> out;
      if (!run(lg, static_cast<R>(leps), static_cast<R>(lscale), false, out)) {
        record(false, head + ": forward for the target launch failed");
        continue;
      }
      std::vector<R> target(n_out), gsign(n_out);
      std::vector<int8_t> signs(n_out);
      for (size_t i = 0; i < n_out; ++i) {
        const bool above = uniform() > 0;
        const R step = static_cast<R>(1e-3 + 1e-2 * std::fabs(static_cast<double>(out[i])));
        target[i] = above ? out[i] + step : out[i] - step;
        gsign[i] = (above ? R(-1) : R(1)) * (tgrad * tweight);
        signs[i] = above ? -1 : 1;
      }
      std::vector<Complex<R>> gt, gs;
      const bool ran = run(lg, static_cast<R>(leps), static_cast<R>(lscale), false, unused, nullptr, &gt, &target) &&
                       run(lg, static_cast<R>(leps), static_cast<R>(lscale), false, unused, &gsign, &gs);
      size_t bad = ran ? 0 : gt.size();
      for (size_t i = 0; ran && i < gt.size(); ++i) bad += !(same_bits(gt[i].re, gs[i].re) && same_bits(gt[i].im, gs[i].im));
      std::snprintf(what, sizeof what, ": backward against a target (log stage %d): %zu of %zu bins differ", static_cast<int>(lg), bad, gt.size());
      record(bad == 0, head + what);
      if (ran) {
        kc::FusedMelParams<V> hq = p;
        hq.stages.log = lg; hq.stages.log_eps = static_cast<R>(leps); hq.stages.log_scale = static_cast<R>(lscale);
        hq.a.x = x.data(); hq.a.window = w.data(); hq.basis = basis.data();
        hq.target = target.data(); hq.target_grad = &tgrad; hq.target_weight = tweight;
        check_mel_grad_fused<V>(hq, gt, head, &signs);
      }
    }
  }
  if (in_kind != 0) {
    std::vector<R> hin;
    const bool ran = run(MelLog::None, R(0), R(1), true, hin);
    size_t bad = ran ? 0 : n_out;
    for (size_t i = 0; ran && i < n_out; ++i) bad += !same_bits(hin[i], lin[i]);
    std::snprintf(what, sizeof what, ": reading %s: %zu of %zu differ from the float-input result", in_name(in_kind, false), bad, n_out);
    record(bad == 0, head + what);
  }
  // n_fft 400: the forward's warp-local epilogue (GenericTransform::TwoStepWarp, the default there) against the
  // block-wide one, each in the tile the launcher gives it: the same bits (linear and log10-clamp stages). The
  // warp-local one also with 1, 2 and 3 blocks taking every tile (each block's tiles in a loop, spans copied ahead),
  // and (-1) with 2 blocks and no weights in its band table (read from global memory).
  if (n_fft == 400 && !kc::fused_tuning().no_two_step && !kc::fused_tuning().block_epilogue) {
    for (int stage = 0; stage < 2; ++stage) {
      const MelLog lg = stage == 0 ? MelLog::None : MelLog::Clamp;
      const R leps = stage == 0 ? R(0) : R(1e-10), lscale = stage == 0 ? R(1) : static_cast<R>(1 / std::log(10.0));
      std::vector<R> block;
      kc::fused_tuning().block_epilogue = 1;
      bool ran = run(lg, leps, lscale, in_kind != 0, block);
      kc::fused_tuning().block_epilogue = 0;
      for (int blocks : {0, 1, 2, 3, -1}) {
        std::vector<R> warp;
        kc::fused_tuning().tile_blocks = blocks < 0 ? 2 : blocks;
        kc::fused_tuning().warp_band_weights = blocks < 0 ? -1 : 0;
        const bool ran_warp = ran && run(lg, leps, lscale, in_kind != 0, warp);
        kc::fused_tuning().tile_blocks = 0;
        kc::fused_tuning().warp_band_weights = 0;
        size_t bad = ran_warp ? 0 : n_out;
        for (size_t i = 0; ran_warp && i < n_out; ++i) bad += !same_bits(warp[i], block[i]);
        std::snprintf(what, sizeof what,
                      ": warp-local epilogue (log stage %d, tile blocks %d): %zu of %zu differ from the block-wide one",
                      static_cast<int>(lg), blocks, bad, n_out);
        record(bad == 0, head + what);
      }
    }
  }
}

// The loss backward straight to the prediction (FusedLossGradParams: the synthesis engine with the loss prologue)
// against the two kernels it replaces: the loss kernel's onesided dL/dX (x alone, from the same call) through the
// fused synthesis in mode irfft_half (the rfft analysis' adjoint) with the analysis' window and scale. The one kernel
// forms the same dL/dX bits per bin but takes them back by a complex inverse FFT of the Hermitian (GX[k] + conj
// GX[n-k]) / 2, two frames per transform (their real and imaginary parts): the same values up to the two inverse
// FFTs' roundings, each within tolerance() of its frames' norm. q: the backward call (host window; grad_sums,
// grad_spec and a.x unused), x and y the rows, onesided its dL/dX.
template <typename R>
void check_loss_grad_fused(kc::FusedLossParams<Complex<R>> q, std::vector<R> x, std::vector<R> y,
                           const std::vector<Complex<R>>& onesided, std::vector<R> gsums, const std::string& head) {
  const Geometry& g = q.a.g;
  if (!kc::fused_loss_grad_supported<R>(g)) return;
  const int64_t batch = q.a.batch, T = g.length, frames = g.n_frames, n_fft = g.n_fft, half = n_fft / 2 + 1;
  const int64_t side_n = batch * kc::fused_side_length(g);
  std::vector<R> w(q.a.window, q.a.window + n_fft), side(std::max<int64_t>(side_n, 1), R(NAN));
  std::vector<Complex<R>> spec = onesided;
  OnExec<R> dx(x), dy(y), dw(w), dg(gsums), dside(side);
  OnExec<Complex<R>> dspec(spec);
  kc::FusedSynthesisParams<R> s;
  s.s.window = dw.d; s.s.batch = batch; s.s.g = g; s.s.scale = q.a.scale;
  s.side = side_n > 0 ? dside.d : nullptr;
  std::vector<R> two(batch * T), fused(batch * T), init(batch * T);
  for (auto& v : init) v = static_cast<R>(uniform());
  // (init: the output's values before the call, else NaN)
  const auto run = [&](std::vector<R>& host, auto&& go, const std::vector<R>* before = nullptr) {
    if (before) host = *before; else std::fill(host.begin(), host.end(), R(NAN));
    OnExec<R> dout(host);
    return dx.ok && dy.ok && dw.ok && dg.ok && dside.ok && dspec.ok && dout.ok && go(dout.d) == cudaSuccess &&
           (g_emulate || cudaDeviceSynchronize() == cudaSuccess) && dout.back();
  };
  bool ran = run(two, [&](R* out) {
    kc::FusedSynthesisParams<R> t = s;
    t.mode = FftMode::IrfftHalf;
    t.spec = dspec.d; t.stride_b = frames * half; t.stride_bin = 1; t.stride_n = half; t.s.out = out;
    return g_emulate ? kc::detail::run_fused_synthesis(t, HostExec{}) : kc::launch_fused_synthesis(t, nullptr);
  });
  // Segments (no edge scratch), then frame-owning blocks (the launcher's frames per block, then the fewest), then
  // the fewest again adding to the output (accumulate: init + the previous mode's result).
  double err[4] = {INFINITY, INFINITY, INFINITY, INFINITY};
  std::vector<R> prev;
  for (int mode = 0; mode < 4 && ran; ++mode) {
    std::vector<R> edge(std::max<int64_t>(1, batch * frames * n_fft), R(NAN));
    OnExec<R> dedge(edge);
    kc::FusedTuning tune;
    tune.frames_per_block = mode >= 2 ? 1 : 0;
    kc::fused_tuning() = tune;
    ran = dedge.ok && run(fused, [&](R* out) {
      kc::FusedLossGradParams<R> f;
      f.loss = q;
      f.loss.a.x = nullptr; f.loss.a.window = dw.d; f.loss.grad_sums = dg.d; f.loss.grad_spec = nullptr;
      f.loss.partials = nullptr; f.loss.grad_target = false;
      f.x = dx.d; f.y = dy.d;
      f.syn = s;
      f.syn.mode = FftMode::IfftReal;
      f.syn.s.out = out;
      if (mode > 0) {
        f.syn.edge = dedge.d;
        f.syn.edge_capacity = static_cast<int64_t>(edge.size());
      }
      f.syn.accumulate = mode == 3;
      return g_emulate ? kc::detail::run_fused_loss_grad(f, HostExec{}) : kc::launch_fused_loss_grad(f, nullptr);
    }, mode == 3 ? &init : nullptr);
    kc::fused_tuning() = kc::FusedTuning{};
    if (!ran) break;
    if (mode < 3) {
      err[mode] = rel_diff(fused, two);
      prev = fused;
    } else {
      for (size_t i = 0; i < prev.size(); ++i) prev[i] += init[i];
      err[mode] = rel_diff(fused, prev);
    }
  }
  const double tol = 2 * tolerance(Traits<R>::eps, n_fft);
  char what[280];
  std::snprintf(what, sizeof what, ": fused backward to the prediction: rel diff %.3g (segments) / %.3g / %.3g "
                "(frame-owning blocks; the fewest frames) > %.3g from the loss backward (onesided) + synthesis, or "
                "adding to the output %.3g", err[0], err[1], err[2], tol, err[3]);
  record(err[0] <= tol && err[1] <= tol && err[2] <= tol && err[3] <= tol, head + what);
}

// --------------------------------------------------------------------------------------------------------------
// The spectral-loss epilogue: two real signals x, y packed as z = x + i y, the four sums of spectral_loss.cuh and
// their backward. Reference: the double-precision DFT of each signal's frames (common.h's analysis_element), the
// clamped magnitudes, logs and sums in double. Forward: each sum's relative error within a few times the FFT
// tolerance (the log-distance sum, whose terms divide errors by the magnitude: x 32). Backward, for random dL/dsums:
// the onesided dL/dX (x only) and the packed G (x and y), ||out - ref|| / ||ref|| within the same, leaving out of both
// norms the bins where a distance is within 1e-4 of its kink (L1: the sign's jump) or the clamp's, and those where a
// magnitude is below 1/100 of the rms: there the gradient's 1/|X| factors turn the spectrum's absolute rounding
// (any FFT's) into a relative error of ~ rms / |X|. Outputs NaN-poisoned.
template <typename R>
void check_loss(int64_t batch, int64_t T, int64_t n_fft, int64_t hop, int64_t pad, double eps, bool l2) {
  using V = Complex<R>;
  if (!kc::fused_supported<V>(n_fft, true)) return;
  Geometry g;
  g.n_fft = n_fft; g.hop = hop; g.length = T; g.pad = pad; g.mode = PadMode::Reflect; g.env_normalize = false;
  if (pad >= T || T + 2 * pad < n_fft) return;
  g.n_frames = 1 + (T + 2 * pad - n_fft) / hop;
  const int64_t frames = g.n_frames, half = n_fft / 2 + 1;
  std::vector<R> x(batch * T), y(batch * T), w(n_fft);
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = static_cast<R>(uniform());
    y[i] = static_cast<R>(0.6 * x[i] + 0.5 * uniform());
  }
  for (auto& v : w) v = static_cast<R>(0.5 + 0.5 * uniform());
  std::vector<V> z(x.size());
  for (size_t i = 0; i < x.size(); ++i) z[i] = V{x[i], y[i]};
  // Reference spectra X, Y [b, n, k], k <= n_fft / 2.
  std::vector<cd> X(batch * frames * half), Y(X.size());
  std::vector<cd> twiddle(n_fft), fx(n_fft), fy(n_fft);
  for (int64_t j = 0; j < n_fft; ++j) twiddle[j] = std::polar(1.0, -2.0 * M_PI * static_cast<double>(j) / n_fft);
  AnalysisParams<R> ax, ay;
  ax.x = x.data(); ax.window = w.data(); ax.batch = batch; ax.g = g; ax.scale = R(1);
  ay = ax; ay.x = y.data();
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t n = 0; n < frames; ++n) {
      for (int64_t k = 0; k < n_fft; ++k) {
        fx[k] = to_cd(analysis_element(ax, b, n, k));
        fy[k] = to_cd(analysis_element(ay, b, n, k));
      }
      for (int64_t f = 0; f < half; ++f) {
        cd sx = 0, sy = 0;
        for (int64_t k = 0, q = 0; k < n_fft; ++k, q = q + f >= n_fft ? q + f - n_fft : q + f) {
          sx += fx[k] * twiddle[q];
          sy += fy[k] * twiddle[q];
        }
        X[(b * frames + n) * half + f] = sx;
        Y[(b * frames + n) * half + f] = sy;
      }
    }
  const double e = static_cast<double>(static_cast<R>(eps));
  double ref[kc::kLossSums] = {0, 0, 0, 0};
  for (size_t i = 0; i < X.size(); ++i) {
    const double xm = std::sqrt(std::max(std::norm(X[i]), e)), ym = std::sqrt(std::max(std::norm(Y[i]), e));
    const double d = ym - xm, lg = std::log(xm) - std::log(ym);
    ref[0] += d * d;
    ref[1] += ym * ym;
    ref[2] += l2 ? lg * lg : std::fabs(lg);
    ref[3] += l2 ? d * d : std::fabs(d);
  }
  kc::FusedLossParams<V> p;
  p.a.x = z.data(); p.a.window = w.data(); p.a.batch = batch; p.a.g = g; p.a.scale = R(1);
  p.mode = FftMode::Fft; p.eps = static_cast<R>(eps); p.l2 = l2;
  char what[320];
  const int len = std::snprintf(what, sizeof what, "loss %s B=%lld T=%lld n_fft=%lld hop=%lld pad=%lld eps=%g %s",
                                Traits<V>::name(), (long long)batch, (long long)T, (long long)n_fft, (long long)hop,
                                (long long)pad, eps, l2 ? "L2" : "L1");
  const std::string head(what, static_cast<size_t>(len));
  // Runs q on the host or the device; `partials` [batch * frames * 4] or grad [batch * frames * bins] back.
  auto run = [&](kc::FusedLossParams<V> q, std::vector<double>* partials, std::vector<Complex<R>>* grad,
                 const std::vector<R>* gsums, int64_t* blocks) -> bool {
    const size_t n_part = static_cast<size_t>(batch * frames * kc::kLossSums);
    const size_t n_grad = static_cast<size_t>(batch * frames * (q.grad_target ? n_fft : half));
    if (partials) partials->assign(n_part, NAN);
    if (grad) grad->assign(n_grad, Complex<R>{R(NAN), R(NAN)});
    if (g_emulate) {
      if (partials) q.partials = partials->data();
      if (grad) { q.grad_spec = grad->data(); q.grad_sums = gsums->data(); }
      return kc::detail::run_fused_loss(q, HostExec{}, blocks) == cudaSuccess;
    }
    V* dz = nullptr; R *dw = nullptr, *dg = nullptr; double* dp = nullptr; Complex<R>* dgs = nullptr;
    bool ok = cudaMalloc(&dz, z.size() * sizeof(V)) == cudaSuccess && cudaMalloc(&dw, w.size() * sizeof(R)) == cudaSuccess &&
              cudaMemcpy(dz, z.data(), z.size() * sizeof(V), cudaMemcpyHostToDevice) == cudaSuccess &&
              cudaMemcpy(dw, w.data(), w.size() * sizeof(R), cudaMemcpyHostToDevice) == cudaSuccess;
    if (ok && partials) {
      ok = cudaMalloc(&dp, n_part * sizeof(double)) == cudaSuccess && cudaMemset(dp, 0xff, n_part * sizeof(double)) == cudaSuccess;
      q.partials = dp;
    }
    if (ok && grad) {
      ok = cudaMalloc(&dgs, n_grad * sizeof(Complex<R>)) == cudaSuccess && cudaMalloc(&dg, kc::kLossSums * sizeof(R)) == cudaSuccess &&
           cudaMemset(dgs, 0xff, n_grad * sizeof(Complex<R>)) == cudaSuccess &&
           cudaMemcpy(dg, gsums->data(), kc::kLossSums * sizeof(R), cudaMemcpyHostToDevice) == cudaSuccess;
      q.grad_spec = dgs; q.grad_sums = dg;
    }
    q.a.x = dz; q.a.window = dw;
    ok = ok && kc::launch_fused_loss(q, nullptr, blocks) == cudaSuccess && cudaDeviceSynchronize() == cudaSuccess;
    if (ok && partials) ok = cudaMemcpy(partials->data(), dp, n_part * sizeof(double), cudaMemcpyDeviceToHost) == cudaSuccess;
    if (ok && grad) ok = cudaMemcpy(grad->data(), dgs, n_grad * sizeof(Complex<R>), cudaMemcpyDeviceToHost) == cudaSuccess;
    cudaFree(dz); cudaFree(dw); cudaFree(dg); cudaFree(dp); cudaFree(dgs);
    return ok;
  };
  std::vector<double> partials;
  int64_t blocks = -1;
  if (!run(p, &partials, nullptr, nullptr, &blocks) || blocks < 1 || blocks > batch * frames) {
    record(false, head + ": forward launch failed or bad block count");
    return;
  }
  for (int q = 0; q < kc::kLossSums; ++q) {
    double got = 0;
    for (int64_t i = 0; i < blocks; ++i) got += partials[i * kc::kLossSums + q];
    const double err = std::fabs(got - ref[q]) / std::fabs(ref[q]);
    const double tol = (q == 2 ? 32 : 8) * tolerance(Traits<V>::eps, n_fft);
    std::snprintf(what, sizeof what, ": sum %d = %.9g, ref %.9g: rel err %.3g > %.3g", q, got, ref[q], err, tol);
    record(err <= tol, head + what);
  }
  // Backward.
  std::vector<R> gs(kc::kLossSums);
  for (auto& v : gs) v = static_cast<R>(0.25 + uniform());
  std::vector<cd> GX(X.size()), GY(X.size());
  std::vector<char> kink(X.size(), 0);
  double rms = 0;
  for (size_t i = 0; i < X.size(); ++i) rms += std::norm(X[i]) + std::norm(Y[i]);
  rms = std::sqrt(rms / (2.0 * static_cast<double>(X.size())));
  for (size_t i = 0; i < X.size(); ++i) {
    const double sx = std::norm(X[i]), sy = std::norm(Y[i]);
    const double xm = std::sqrt(std::max(sx, e)), ym = std::sqrt(std::max(sy, e));
    const double d = ym - xm, lg = std::log(xm) - std::log(ym);
    const auto sgn = [](double v) { return v > 0 ? 1.0 : v < 0 ? -1.0 : 0.0; };
    const double dlog = l2 ? 2 * lg : sgn(lg), dlin = l2 ? 2 * d : sgn(d);
    const double G[4] = {gs[0], gs[1], gs[2], gs[3]};
    const double dxm = G[0] * (-2 * d) + G[2] * dlog / xm - G[3] * dlin;
    const double dym = G[0] * (2 * d) + G[1] * 2 * ym - G[2] * dlog / ym + G[3] * dlin;
    GX[i] = sx >= e ? X[i] * (dxm / xm) : cd(0);
    GY[i] = sy >= e ? Y[i] * (dym / ym) : cd(0);
    kink[i] = (!l2 && (std::fabs(lg) < 1e-4 || std::fabs(d) < 1e-4 * (xm + ym))) ||
              std::fabs(sx - e) < 1e-4 * e || std::fabs(sy - e) < 1e-4 * e ||
              std::min(sx, sy) < 1e-4 * rms * rms;
  }
  for (int target = 0; target < 2; ++target) {
    kc::FusedLossParams<V> q = p;
    q.grad_target = target == 1;
    std::vector<Complex<R>> grad;
    int64_t unused = 0;
    if (!run(q, nullptr, &grad, &gs, &unused)) {
      record(false, head + ": backward launch failed");
      continue;
    }
    const int64_t bins = target ? n_fft : half;
    double num = 0, den = 0;
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t n = 0; n < frames; ++n)
        for (int64_t k = 0; k < bins; ++k) {
          const size_t row = static_cast<size_t>((b * frames + n) * half);
          const int64_t km = k == 0 ? 0 : n_fft - k;
          cd want = 0;
          bool skip = false;
          if (!target) {
            want = GX[row + k];
            skip = kink[row + k];
          } else {
            if (2 * k <= n_fft) { want += 0.5 * (GX[row + k] + cd(0, 1) * GY[row + k]); skip = skip || kink[row + k]; }
            if (2 * km <= n_fft) { want += 0.5 * (std::conj(GX[row + km]) + cd(0, 1) * std::conj(GY[row + km])); skip = skip || kink[row + km]; }
          }
          const Complex<R> got = grad[(b * frames + n) * bins + k];
          if (skip && !std::isnan(got.re + got.im)) continue;
          const double dr = got.re - want.real(), di = got.im - want.imag();
          num += std::isnan(dr + di) ? INFINITY : dr * dr + di * di;
          den += std::norm(want);
        }
    const double err = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
    const double tol = 16 * tolerance(Traits<V>::eps, n_fft);
    std::snprintf(what, sizeof what, ": backward (%s) rel err %.3g > %.3g", target ? "x and y, packed" : "x, onesided", err, tol);
    record(err <= tol, head + what);
    if (!target) check_loss_grad_fused<R>(p, x, y, grad, gs, head);
  }
}

// The multi-resolution loss' combine kernels (loss_combine.cuh) against float64 sums of the same partial rows:
// forward (sums / count, the terms, the weighted mean) and backward (dL/dsums from dL/dloss and dL/dterms).
template <typename R>
void check_loss_combine(int resolutions, const double (&weight)[3], bool grad_terms) {
  char head[160];
  std::snprintf(head, sizeof head, "loss combine %s R=%d w=(%g,%g,%g)%s", sizeof(R) == 4 ? "f32" : "f64", resolutions,
                weight[0], weight[1], weight[2], grad_terms ? " +dterms" : "");
  kc::LossCombineParams<R> p;
  p.resolutions = resolutions;
  std::vector<double> partials;
  for (int r = 0; r < resolutions; ++r) {
    const int64_t rows = r == 1 ? 0 : (r * 397 + 3) % 1300 + 1;  // (one resolution without rows: all sums 0)
    p.row0[r] = static_cast<int64_t>(partials.size()) / kc::kLossSums;
    p.rows[r] = rows;
    p.count[r] = r % 2 ? 1.0 : 1000.0 + 17 * r;
    for (int64_t i = 0; i < rows * kc::kLossSums; ++i) partials.push_back(std::fabs(uniform()) * (1 + (i % 4)));
  }
  for (int k = 0; k < 3; ++k) p.weight[k] = weight[k];
  // The float64 reference.
  std::vector<double> S(resolutions * 4), terms(resolutions * 3);
  double loss = 0;
  for (int r = 0; r < resolutions; ++r) {
    for (int q = 0; q < 4; ++q) {
      double t = 0;
      for (int64_t i = 0; i < p.rows[r]; ++i) t += partials[(p.row0[r] + i) * 4 + q];
      S[r * 4 + q] = t / p.count[r];
    }
    terms[r * 3 + 0] = weight[0] != 0 ? std::sqrt(S[r * 4]) / std::sqrt(S[r * 4 + 1]) : 0;
    terms[r * 3 + 1] = weight[1] != 0 ? S[r * 4 + 2] : 0;
    terms[r * 3 + 2] = weight[2] != 0 ? S[r * 4 + 3] : 0;
    for (int k = 0; k < 3; ++k) loss += weight[k] * terms[r * 3 + k] / resolutions;
  }
  const R gl = static_cast<R>(0.75);
  std::vector<R> gt(resolutions * 3);
  for (auto& v : gt) v = static_cast<R>(uniform());
  std::vector<double> gS(resolutions * 4);
  for (int r = 0; r < resolutions; ++r) {
    double g[3];
    for (int k = 0; k < 3; ++k) g[k] = weight[k] != 0 ? gl * weight[k] / resolutions + (grad_terms ? gt[r * 3 + k] : 0) : 0;
    const double s0 = S[r * 4], s1 = S[r * 4 + 1], half = g[0] * terms[r * 3] * 0.5;
    gS[r * 4 + 0] = (weight[0] != 0 && s0 > 0 ? half / s0 : 0) / p.count[r];
    gS[r * 4 + 1] = (weight[0] != 0 ? -half / s1 : 0) / p.count[r];
    gS[r * 4 + 2] = g[1] / p.count[r];
    gS[r * 4 + 3] = g[2] / p.count[r];
  }
  // Run both kernels (emulated or on the device).
  std::vector<R> out(resolutions * 4 + resolutions * 3 + 1 + resolutions * 4, static_cast<R>(NAN));
  std::vector<R> in(resolutions * 4 + resolutions * 3 + 1 + resolutions * 3);
  bool ok = true;
  double* dp = nullptr;
  R *dout = nullptr, *din = nullptr;
  if (g_emulate) {
    dp = partials.data();
    dout = out.data();
  } else {
    ok = cudaMalloc(&dp, std::max<size_t>(partials.size(), 1) * sizeof(double)) == cudaSuccess &&
         cudaMemcpy(dp, partials.data(), partials.size() * sizeof(double), cudaMemcpyHostToDevice) == cudaSuccess &&
         cudaMalloc(&dout, out.size() * sizeof(R)) == cudaSuccess &&
         cudaMemcpy(dout, out.data(), out.size() * sizeof(R), cudaMemcpyHostToDevice) == cudaSuccess &&
         cudaMalloc(&din, in.size() * sizeof(R)) == cudaSuccess;
  }
  p.partials = dp;
  p.sums = dout;
  p.terms = dout + resolutions * 4;
  p.loss = dout + resolutions * 7;
  if (ok) ok = (g_emulate ? kc::detail::run_loss_combine(p, HostExec{}) : kc::launch_loss_combine(p, nullptr)) == cudaSuccess;
  if (ok && !g_emulate) ok = cudaMemcpy(out.data(), dout, out.size() * sizeof(R), cudaMemcpyDeviceToHost) == cudaSuccess;
  // backward, from the forward's own S and terms
  std::copy(out.begin(), out.begin() + resolutions * 7, in.begin());
  in[resolutions * 7] = gl;
  std::copy(gt.begin(), gt.end(), in.begin() + resolutions * 7 + 1);
  if (ok && !g_emulate) ok = cudaMemcpy(din, in.data(), in.size() * sizeof(R), cudaMemcpyHostToDevice) == cudaSuccess;
  R* base = g_emulate ? in.data() : din;
  p.sums_in = base;
  p.terms_in = base + resolutions * 4;
  p.grad_loss = base + resolutions * 7;
  p.grad_terms = grad_terms ? base + resolutions * 7 + 1 : nullptr;
  p.grad_sums = dout + resolutions * 7 + 1;
  if (ok) {
    ok = (g_emulate ? kc::detail::run_loss_combine_backward(p, HostExec{})
                    : kc::launch_loss_combine_backward(p, nullptr)) == cudaSuccess;
  }
  if (ok && !g_emulate) ok = cudaMemcpy(out.data(), dout, out.size() * sizeof(R), cudaMemcpyDeviceToHost) == cudaSuccess;
  if (!g_emulate) {
    cudaFree(dp);
    cudaFree(dout);
    cudaFree(din);
  }
  if (!ok) {
    record(false, std::string(head) + ": launch failed");
    return;
  }
  // Each value rounded once from float64, after float64 sums of up to 1300 positive rows in another order (relative
  // error below rows * 2^-53). A resolution without rows has sums 0 and a spectral convergence 0 / 0 = NaN (as
  // torch's): NaN must match NaN.
  const double u = sizeof(R) == 4 ? 1.2e-7 : 1.2e-16, sum_err = 1300 * 1.2e-16;
  auto close = [&](double got, double want) {
    return (std::isnan(got) && std::isnan(want)) || std::fabs(got - want) <= (4 * u + sum_err) * std::fabs(want);
  };
  bool fwd = true, bwd = true;
  for (int i = 0; i < resolutions * 4; ++i) fwd = fwd && close(out[i], S[i]);
  for (int i = 0; i < resolutions * 3; ++i) fwd = fwd && close(out[resolutions * 4 + i], terms[i]);
  fwd = fwd && close(out[resolutions * 7], loss);
  // (the backward from the forward's rounded S and terms: relative error a few units)
  for (int i = 0; i < resolutions * 4; ++i) {
    const double got = out[resolutions * 7 + 1 + i];
    bwd = bwd && ((std::isnan(got) && std::isnan(gS[i])) || std::fabs(got - gS[i]) <= (16 * u + 4 * sum_err) * std::fabs(gS[i]));
  }
  record(fwd, std::string(head) + ": forward");
  record(bwd, std::string(head) + ": backward");
}

// The mel loss' L1 terms (mel_loss_terms.cuh) against float64: per scale random log-mel pairs (some values equal,
// some NaN where asked), each scale's terms kernel writing its signs and partials into one buffer, then the combine
// kernel. Signs exactly (the sign of a float difference rounded to R is the sign of the exact one), the loss to the
// rounding of float64 sums in another order.
template <typename R>
void check_mel_loss_terms(const std::vector<int64_t>& numels, bool with_nan) {
  char head[160];
  std::snprintf(head, sizeof head, "mel loss terms %s scales=%zu numel0=%lld%s", sizeof(R) == 4 ? "f32" : "f64",
                numels.size(), static_cast<long long>(numels[0]), with_nan ? " NaN" : "");
  const int S = static_cast<int>(numels.size());
  const double weight = 1.25;
  std::vector<std::vector<R>> xs(S), ys(S);
  std::vector<std::vector<int8_t>> want_sign(S);
  double want_loss = 0;
  int64_t rows = 0;
  kc::MelLossCombineParams<R> c;
  c.scales = S;
  c.weight = weight;
  for (int q = 0; q < S; ++q) {
    const int64_t n = numels[q];
    xs[q].resize(n);
    ys[q].resize(n);
    want_sign[q].resize(n);
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      xs[q][i] = static_cast<R>(3 * uniform());
      ys[q][i] = i % 7 == 3 ? xs[q][i] : static_cast<R>(3 * uniform());  // (some differences exactly 0)
      if (with_nan && i == n / 2) xs[q][i] = static_cast<R>(NAN);
      const double d = static_cast<double>(xs[q][i]) - static_cast<double>(ys[q][i]);
      want_sign[q][i] = static_cast<int8_t>(d > 0 ? 1 : (d < 0 ? -1 : 0));
      sum += std::fabs(d);
    }
    want_loss += sum / static_cast<double>(n);  // (n = 0: NaN, as torch's mean of nothing)
    c.row0[q] = rows;
    c.rows[q] = kc::mel_loss_terms_blocks<R>(n);
    c.count[q] = static_cast<double>(n);
    rows += c.rows[q];
  }
  want_loss *= weight;
  std::vector<double> partials(std::max<int64_t>(rows, 1), NAN);
  std::vector<std::vector<int8_t>> got_sign(S);
  R got_loss = static_cast<R>(NAN);
  bool ok = true;
  if (g_emulate) {
    for (int q = 0; q < S && ok; ++q) {
      got_sign[q].assign(numels[q], 5);  // (poison: every value must be written)
      kc::MelLossTermsParams<R> t;
      t.x = xs[q].data();
      t.y = ys[q].data();
      t.sign = got_sign[q].data();
      t.numel = numels[q];
      t.partials = partials.data() + c.row0[q];
      ok = kc::detail::run_mel_loss_terms(t, HostExec{}) == cudaSuccess;
    }
    c.partials = partials.data();
    c.loss = &got_loss;
    ok = ok && kc::detail::run_mel_loss_combine(c, HostExec{}) == cudaSuccess;
  } else {
    double* dp = nullptr;
    R* dl = nullptr;
    ok = cudaMalloc(&dp, partials.size() * sizeof(double)) == cudaSuccess &&
         cudaMemcpy(dp, partials.data(), partials.size() * sizeof(double), cudaMemcpyHostToDevice) == cudaSuccess &&
         cudaMalloc(&dl, sizeof(R)) == cudaSuccess;
    std::vector<R*> dxy;
    std::vector<int8_t*> ds;
    for (int q = 0; q < S && ok; ++q) {
      const int64_t n = numels[q];
      R* d = nullptr;
      int8_t* sg = nullptr;
      ok = cudaMalloc(&d, std::max<int64_t>(2 * n, 1) * sizeof(R)) == cudaSuccess &&
           cudaMalloc(&sg, std::max<int64_t>(n, 1)) == cudaSuccess &&
           cudaMemcpy(d, xs[q].data(), n * sizeof(R), cudaMemcpyHostToDevice) == cudaSuccess &&
           cudaMemcpy(d + n, ys[q].data(), n * sizeof(R), cudaMemcpyHostToDevice) == cudaSuccess &&
           cudaMemset(sg, 5, std::max<int64_t>(n, 1)) == cudaSuccess;
      dxy.push_back(d);
      ds.push_back(sg);
      if (!ok) break;
      kc::MelLossTermsParams<R> t;
      t.x = d;
      t.y = d + n;
      t.sign = sg;
      t.numel = n;
      t.partials = dp + c.row0[q];
      ok = kc::launch_mel_loss_terms(t, nullptr) == cudaSuccess;
    }
    c.partials = dp;
    c.loss = dl;
    ok = ok && kc::launch_mel_loss_combine(c, nullptr) == cudaSuccess && cudaDeviceSynchronize() == cudaSuccess &&
         cudaMemcpy(&got_loss, dl, sizeof(R), cudaMemcpyDeviceToHost) == cudaSuccess;
    for (int q = 0; q < S && ok; ++q) {
      got_sign[q].resize(numels[q]);
      ok = cudaMemcpy(got_sign[q].data(), ds[q], numels[q], cudaMemcpyDeviceToHost) == cudaSuccess;
    }
    for (R* d : dxy) cudaFree(d);
    for (int8_t* sg : ds) cudaFree(sg);
    cudaFree(dp);
    cudaFree(dl);
  }
  if (!ok) {
    record(false, std::string(head) + ": launch failed");
    return;
  }
  bool signs = true;
  for (int q = 0; q < S; ++q) signs = signs && got_sign[q] == want_sign[q];
  // float64 sums of up to numel values in another order, divided, weighted and rounded once to R
  int64_t most = 1;
  for (int64_t n : numels) most = std::max(most, n);
  const double u = sizeof(R) == 4 ? 1.2e-7 : 1.2e-16;
  const double tol = (2 * u + 2 * most * 1.2e-16) * std::fabs(want_loss);
  const bool loss_ok = std::isnan(want_loss) ? std::isnan(static_cast<double>(got_loss))
                                             : std::fabs(static_cast<double>(got_loss) - want_loss) <= tol;
  record(signs, std::string(head) + ": signs");
  record(loss_ok, std::string(head) + ": loss");
}

template <typename R>
void loss_combine_grid() {
  for (int resolutions : {1, 3, 16})
    for (bool gt : {false, true}) {
      check_loss_combine<R>(resolutions, {1.0, 1.0, 0.0}, gt);
      check_loss_combine<R>(resolutions, {0.5, 0.0, 2.0}, gt);
      check_loss_combine<R>(resolutions, {0.0, 0.0, 0.0}, gt);
    }
  // mel loss terms: one scale, DAC's seven (sizes of B = 2 rows), a chunk's edges, the kernels' limit of 16 scales,
  // an empty scale (NaN), a NaN value
  check_mel_loss_terms<R>({1}, false);
  check_mel_loss_terms<R>({20950, 20960, 20960, 20960, 20960, 21120, 21120}, false);
  check_mel_loss_terms<R>({2047, 2048, 2049, 4096, 1}, false);
  check_mel_loss_terms<R>(std::vector<int64_t>(16, 777), false);
  check_mel_loss_terms<R>({300, 0, 20}, false);
  check_mel_loss_terms<R>({5000, 3000}, true);
}

template <typename R>
void loss_grid() {
  loss_combine_grid<R>();
  for (int64_t n_fft : {16, 30, 64, 400, 512, 1024, 2048}) {
    const int64_t hop = n_fft / 4;
    const int64_t T = n_fft <= 1024 ? 3 * n_fft + 7 : 2 * n_fft + 3;
    check_loss<R>(2, T, n_fft, hop, n_fft / 2, 1e-8, false);
    check_loss<R>(1, T, n_fft, hop + 1, n_fft / 2, 0.02 * n_fft, true);
    if (n_fft <= 512) check_loss<R>(3, 2 * T, n_fft, n_fft / 2 + 3, n_fft / 2, 0.05 * n_fft, false);
  }
}

template <typename V>
void mel_grid() {
  for (int64_t n_fft : {16, 30, 64, 400, 512, 1024, 2048}) {
    const int64_t hop = n_fft / 4;
    const int64_t T = n_fft <= 1024 ? 5 * n_fft + 7 : 2 * n_fft + 3;
    check_mel<V>(2, T, n_fft, hop, n_fft / 2, PadMode::Reflect, 9, 2.0, 0.0, false);
    check_mel<V>(1, T, n_fft, hop + 1, 0, PadMode::Constant, 20, 1.0, 1e-9, n_fft == 64);
    if (n_fft <= 512) check_mel<V>(1, 3 * T, n_fft, hop, n_fft / 2, PadMode::Constant, 5, 1.5, 0.0, true);
  }
}

// The general analysis' two transforms at a length the two-step one covers (n_fft 400): the two-step transform in
// tiles of more frames than a block takes at once (each thread's frame loop runs twice), and the pass loop it
// replaces; the spectrum and the mel epilogue (forward and backward) against the references.
template <typename V>
void two_step_grid() {
  static_assert(!Traits<V>::complex, "two-step transform: real frames");
  for (int no_two_step : {0, 1}) {
    kc::FusedTuning t;
    t.general_frames = 30;
    t.no_two_step = no_two_step;
    kc::fused_tuning() = t;
    for (FftMode sm : {FftMode::Rfft, FftMode::RfftFull, FftMode::RfftDouble})
      check_analysis<V>(2, 8007, 400, 100, 200, PadMode::Reflect, false, sm);
    check_analysis<V>(1, 9000, 400, 160, 0, PadMode::Constant, false, FftMode::Rfft);
    check_analysis<V>(1, 9000, 400, 100, 200, PadMode::Constant, true, FftMode::RfftDouble);
    check_mel<V>(2, 8007, 400, 160, 200, PadMode::Reflect, 80, 2.0, 0.0, false);
    check_mel<V>(1, 9001, 400, 101, 0, PadMode::Constant, 20, 1.0, 1e-9, true);
  }
  // Rows of several tiles of 24 frames, edge tiles and interior ones (hop 160: every span's start 16-byte aligned;
  // hop 101: not), scale 1 (and 0.75: no copies ahead): the warp-local forward's tile loop with spans copied ahead
  // (check_mel: 1 to 3 blocks).
  kc::FusedTuning t;
  t.general_frames = 24;
  kc::fused_tuning() = t;
  for (int i = 0; i < 2; ++i) check_mel<V>(2, 24007, 400, 160, 200, PadMode::Reflect, 80, 2.0, 0.0, false, 1.0);
  for (int i = 0; i < 2; ++i) check_mel<V>(1, 9001, 400, 101, 0, PadMode::Constant, 20, 1.0, 1e-9, false, 1.0);
  check_mel<V>(1, 9001, 400, 101, 0, PadMode::Constant, 20, 1.0, 1e-9, false);
  kc::fused_tuning() = kc::FusedTuning{};
}

template <typename V>
void analysis_grid() {
  constexpr bool cplx = Traits<V>::complex;
  const FftMode real_modes[] = {FftMode::Rfft, FftMode::RfftFull, FftMode::RfftDouble};
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
          check_analysis<V>(2, T, n_fft, hop, pad, pm, false, FftMode::Fft);
        } else {
          for (FftMode sm : real_modes) {
            if (!big || sm == FftMode::Rfft) check_analysis<V>(big ? 1 : 2, T, n_fft, hop, pad, pm, false, sm);
          }
        }
      }
      // no centre padding, envelope scaling (the istft adjoint): zero padding beyond the signal
      check_analysis<V>(1, n_fft * 2 + 5, n_fft, hop, 0, PadMode::Constant, false, cplx ? FftMode::Fft : FftMode::Rfft);
      if (hop < n_fft) check_analysis<V>(1, n_fft * 2, n_fft, hop, n_fft / 2, PadMode::Constant, true, cplx ? FftMode::Fft : FftMode::RfftDouble);
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
          check_synthesis<V>(2, n_frames, n_fft, hop, natural - n_fft, n_fft / 2, true, FftMode::Ifft, layout);
        } else {
          check_synthesis<V>(2, n_frames, n_fft, hop, natural - n_fft, n_fft / 2, true, FftMode::Irfft, layout);
          check_synthesis<V>(2, n_frames, n_fft, hop, natural + 37, 0, false, FftMode::IrfftHalf, layout);
          check_synthesis<V>(1, n_frames, n_fft, hop, natural / 2, 3, true, FftMode::IfftReal, layout);
        }
        // The transposes of reflect / replicate / circular centre padding (stft's backward): a signal of T samples
        // with pad = n_fft / 2 on both sides, T + 2 pad >= the frames' span.
        const int64_t pad = n_fft / 2, T = natural - 2 * pad + hop / 2;
        for (PadMode pm : {PadMode::Reflect, PadMode::Replicate, PadMode::Circular}) {
          if (cplx) {
            check_synthesis<V>(2, n_frames, n_fft, hop, T, pad, false, FftMode::Ifft, layout, pm);
          } else {
            check_synthesis<V>(2, n_frames, n_fft, hop, T, pad, false, FftMode::IrfftHalf, layout, pm);
            check_synthesis<V>(1, n_frames, n_fft, hop, T + 1, pad, pm == PadMode::Reflect, FftMode::IfftReal,
                               layout, pm);
          }
        }
      }
    }
  }
}

// Long signals: many rounds per block, long synthesis segments (ring buffer wrap-around), batch > 1.
template <typename V>
void long_grid() {
  constexpr bool cplx = Traits<V>::complex;
  for (int64_t n_fft : {32, 64, 256, 400, 1024}) {
    for (int64_t hop : {n_fft / 4, n_fft / 2 + 3}) {
      const int64_t n_frames = 90;
      const int64_t natural = n_fft + hop * (n_frames - 1);
      check_analysis<V>(3, natural, n_fft, hop, n_fft / 2, PadMode::Reflect, false, cplx ? FftMode::Fft : FftMode::Rfft);
      check_analysis<V>(2, natural + 5, n_fft, hop, n_fft / 2, PadMode::Constant, true, cplx ? FftMode::Fft : FftMode::RfftFull);
      check_synthesis<V>(3, n_frames, n_fft, hop, natural - n_fft, n_fft / 2, true, cplx ? FftMode::Ifft : FftMode::Irfft, true);
      check_synthesis<V>(2, n_frames, n_fft, hop, natural + 2 * hop + 1, 0, true, cplx ? FftMode::Ifft : FftMode::IrfftHalf, false);
      if (!cplx) check_synthesis<V>(1, n_frames, n_fft, hop, natural - 7, 5, false, FftMode::IfftReal, true);
      check_synthesis<V>(2, n_frames, n_fft, hop, natural - n_fft + 1, n_fft / 2, false,
                         cplx ? FftMode::Ifft : FftMode::IrfftHalf, true, PadMode::Reflect);
    }
  }
}

// The padding folded inside the synthesis' blocks (fold_split) or, where they cannot, by the finish: reflect,
// replicate and circular centre padding (stft's backward) over rows cut into segments of forced lengths
// (FusedTuning::segment_hops, both engines; the grids above mostly give short segments, which leave the fold to the
// finish): just over one frame's cover (the split then moves the boundaries to give the row's first and last
// segments their reach), longer, and one segment per row. n_fft 16 (real) and 400: the general engine.
template <typename V>
void fold_grid() {
  constexpr bool cplx = Traits<V>::complex;
  constexpr bool single = std::is_same<typename RealOf<V>::type, float>::value;
  const kc::FusedTuning saved = kc::fused_tuning();
  for (int64_t n_fft : {16, 64, 400, 1024}) {
    if (!single && (n_fft == 16 || n_fft == 1024)) continue;
    for (int64_t hop : {n_fft / 4, n_fft / 2 + 1}) {
      const int64_t cover = (n_fft + hop - 1) / hop, n_frames = 20, pad = n_fft / 2;
      const int64_t natural = n_fft + hop * (n_frames - 1);
      for (int64_t seg : {cover + 1, 2 * cover + 1, 3 * cover + 2, int64_t{1000}}) {
        kc::fused_tuning() = saved;
        kc::fused_tuning().segment_hops = static_cast<int>(seg);
        for (PadMode pm : {PadMode::Reflect, PadMode::Replicate, PadMode::Circular}) {
          check_synthesis<V>(2, n_frames, n_fft, hop, natural - 2 * pad + hop / 2, pad, false,
                             cplx ? FftMode::Ifft : FftMode::Irfft, true, pm);
        }
      }
    }
  }
  kc::fused_tuning() = saved;
}

template <typename V>
void full_grid() {
  analysis_grid<V>();
  if constexpr (!Traits<V>::complex) mel_grid<V>();
  if constexpr (Traits<V>::complex) loss_grid<typename RealOf<V>::type>();
  synthesis_grid<V>();
  long_grid<V>();
  fold_grid<V>();
}

// Every template instance once: each power-of-two FFT length of each engine (real n_fft 32..8192, complex 16..4096:
// the kernels are instantiated per log2 M, and the grids above skip some lengths) and a general one, for every
// storage combination a value type is instantiated with (float: float / float16 / bfloat16 input, complex64 /
// complex32 result, float16 / bfloat16 synthesis output; the mel and loss epilogues too). The half-precision
// counters are set per call, so which storage runs does not depend on how many cases ran before.
template <typename V>
void instances_grid() {
  using R = typename RealOf<V>::type;
  constexpr bool cplx = Traits<V>::complex;
  constexpr bool single = std::is_same<R, float>::value;
  // Per storage combination, the half-input counter (in_case: 0 none, 1 float16 / complex32, 4 bfloat16 /
  // complex32) and the synthesis' half-store counter (half_case: 0 float16, 3 bfloat16). Each analysis call also
  // stores complex32 (half counter 0), with and without the half input; each synthesis call stores the float
  // result and the half one, from the full and the half spectrum.
  const int in_counter[3] = {0, 1, 4}, synthesis_half_counter[3] = {0, 3, 0};
  const int n_combos = single ? 3 : 1;
  for (int64_t n_fft : {16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 48, 400}) {
    if (cplx && n_fft > 4096) continue;
    if (!cplx && n_fft < 32) continue;
    const int64_t hop = n_fft / 4, pad = n_fft / 2;
    const int64_t T = 2 * n_fft + 5, n_frames = n_fft > 1024 ? 3 : 6;
    for (int c = 0; c < n_combos; ++c) {
      g_in_case = in_counter[c];
      g_half_case = 0;
      check_analysis<V>(1, T, n_fft, hop, pad, PadMode::Reflect, false, cplx ? FftMode::Fft : FftMode::Rfft);
      g_in_case = in_counter[c];
      g_half_case = synthesis_half_counter[c];
      check_synthesis<V>(1, n_frames, n_fft, hop, hop * (n_frames - 1), pad, true,
                         cplx ? FftMode::Ifft : FftMode::Irfft, true);
      if constexpr (!cplx) {
        g_in_case = in_counter[c];
        check_mel<V>(1, T, n_fft, hop, pad, PadMode::Reflect, 5, 1.0, 0.0, false);
      }
    }
    if constexpr (cplx) check_loss<R>(1, T, n_fft, hop, pad, 1e-8, false);
  }
  g_in_case = 0;
  g_half_case = 0;
}

// Every value type through the default launch shapes, then forced shapes (several rounds per block, long and short
// segments, one wave) and the general engine on the power-of-two sizes too.
// instances_only (--instances): the every-instance pass alone (e.g. under a sanitizer: each launcher once, quickly).
void all_variants(bool quick, bool instances_only = false) {
  auto pass = [&](const char* name, kc::FusedTuning t, bool all_types) {
    g_variant = name;
    kc::fused_tuning() = t;
    const int before = g_passed + g_failed;
    full_grid<float>();
    full_grid<Complex<float>>();
    if (all_types) {
      full_grid<double>();
      full_grid<Complex<double>>();
    }
    std::printf("  %-28s %d checks\n", name, g_passed + g_failed - before);
  };
  if (!instances_only) {
    pass("default", kc::FusedTuning{}, true);
    if (g_emulate) {
      // The synthesis checks above reached the finish in each of its forms (the launches on the device are not seen).
      const int64_t(&n)[2][2] = g_finish_launches;
      char what[200];
      std::snprintf(what, sizeof what, "synthesis finish reached: %lld launches with fold and edges, %lld edges alone, "
                    "%lld fold alone (each must be > 0)", (long long)n[1][1], (long long)n[0][1], (long long)n[1][0]);
      record(n[1][1] > 0 && n[0][1] > 0 && n[1][0] > 0, what);
      std::printf("  %s\n", what);
      std::snprintf(what, sizeof what, "padding folded inside the synthesis' blocks: %lld power-of-two (%lld with "
                    "shifted segments), %lld general engine (%lld) launches (each must be > 0)",
                    (long long)g_block_folds[0], (long long)g_shifted_folds[0], (long long)g_block_folds[1],
                    (long long)g_shifted_folds[1]);
      record(g_block_folds[0] > 0 && g_shifted_folds[0] > 0 && g_block_folds[1] > 0 && g_shifted_folds[1] > 0, what);
      std::printf("  %s\n", what);
    }
    g_variant = "finish";
    const int before = g_passed + g_failed;
    check_synthesis_finish<float>();
    check_synthesis_finish<double>();
    check_synthesis_finish<Complex<float>>();
    std::printf("  %-28s %d checks\n", "synthesis finish", g_passed + g_failed - before);
    g_variant = "default";
  }
  {
    g_variant = "instances";
    const int before = g_passed + g_failed;
    instances_grid<float>();
    instances_grid<Complex<float>>();
    instances_grid<double>();
    instances_grid<Complex<double>>();
    std::printf("  %-28s %d checks\n", "every instance", g_passed + g_failed - before);
    g_variant = "default";
  }
  if (!instances_only) {
    g_variant = "two-step";
    const int before = g_passed + g_failed;
    two_step_grid<float>();
    two_step_grid<double>();
    std::printf("  %-28s %d checks\n", "two-step transform", g_passed + g_failed - before);
    g_variant = "default";
  }
  if (quick || instances_only) return;
  kc::FusedTuning t;
  t.rounds = 3; t.segment_hops = 23; t.general_frames = 3;
  pass("rounds=3 segment_hops=23 general_frames=3", t, false);
  t = kc::FusedTuning{};
  t.waves = 1; t.segment_hops = 1;
  pass("waves=1 segment_hops=1", t, false);
  t = kc::FusedTuning{};
  t.force_general = 1;
  pass("general engine", t, true);
  t = kc::FusedTuning{};
  t.no_two_step = 1;
  pass("no two-step transform", t, false);
  t = kc::FusedTuning{};
  t.block_epilogue = 1;
  pass("two-step mel forward block-wide", t, false);
  kc::fused_tuning() = kc::FusedTuning{};
  g_variant = "default";
}

// Random geometries (--fuzz N): sizes 2^a 3^b 5^c up to 16384, any hop (sometimes > n_fft), every mode and pad.
void fuzz(int count) {
  std::mt19937_64 g(4321);
  const int64_t sizes[] = {16, 20, 32, 48, 60, 64, 100, 128, 160, 240, 256, 400, 480, 512, 600, 640, 1000, 1024, 1200,
                           2048, 2400, 4096, 8192, 16384};
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(g); };
  const int before = g_passed + g_failed;
  for (int it = 0; it < count; ++it) {
    const int64_t n_fft = sizes[pick(0, sizeof sizes / sizeof sizes[0] - 1)];
    const bool big = n_fft >= 4096;
    const int64_t hop = pick(0, 9) == 0 ? pick(n_fft, n_fft + n_fft / 2) : pick(1, n_fft);
    const int64_t max_frames = big ? 3 : (n_fft >= 1024 ? 8 : 40);
    const int64_t n_frames = pick(1, max_frames);
    const int64_t batch = pick(1, big ? 1 : 3);
    const int type = static_cast<int>(pick(0, 3));
    const bool env = pick(0, 1) == 1;
    if (pick(0, 1) == 0) {  // analysis
      const PadMode pm = static_cast<PadMode>(pick(0, 3));
      const int64_t pad = pick(0, n_fft / 2);
      const int64_t natural = n_fft + hop * (n_frames - 1);
      const int64_t T = std::max<int64_t>(natural - (pm == PadMode::Constant ? pad : 2 * pad), std::max<int64_t>(pad + 1, 1)) + pick(0, 3);
      const FftMode real_modes[] = {FftMode::Rfft, FftMode::RfftFull, FftMode::RfftDouble};
      const FftMode rm = real_modes[pick(0, 2)];
      switch (type) {
        case 0: check_analysis<float>(batch, T, n_fft, hop, pad, pm, env, rm); break;
        case 1: check_analysis<double>(batch, T, n_fft, hop, pad, pm, env, rm); break;
        case 2: check_analysis<Complex<float>>(batch, T, n_fft, hop, pad, pm, env, FftMode::Fft); break;
        default: check_analysis<Complex<double>>(batch, T, n_fft, hop, pad, pm, env, FftMode::Fft); break;
      }
    } else {  // synthesis
      const int64_t natural = n_fft + hop * (n_frames - 1);
      const int64_t pad = pick(0, n_fft / 2);
      const PadMode pm = pick(0, 1) == 0 ? PadMode::Constant : static_cast<PadMode>(pick(1, 3));
      // Other pad modes: the binding layer's preconditions (pad < T, span <= T + 2 pad).
      const int64_t length = pm == PadMode::Constant
                                 ? std::max<int64_t>(1, natural - pad - pick(-hop, n_fft / 2))
                                 : std::max<int64_t>(natural - 2 * pad, pad + 1) + pick(0, 3);
      const bool layout = pick(0, 1) == 1;
      const FftMode real_modes[] = {FftMode::Irfft, FftMode::IrfftHalf, FftMode::IfftReal};
      const FftMode rm = real_modes[pick(0, 2)];
      switch (type) {
        case 0: check_synthesis<float>(batch, n_frames, n_fft, hop, length, pad, env, rm, layout, pm); break;
        case 1: check_synthesis<double>(batch, n_frames, n_fft, hop, length, pad, env, rm, layout, pm); break;
        case 2: check_synthesis<Complex<float>>(batch, n_frames, n_fft, hop, length, pad, env, FftMode::Ifft, layout, pm); break;
        default: check_synthesis<Complex<double>>(batch, n_frames, n_fft, hop, length, pad, env, FftMode::Ifft, layout, pm); break;
      }
    }
  }
  std::printf("  %-28s %d checks\n", "fuzz", g_passed + g_failed - before);
}

// ---------------------------------------------------------------------------------------------------------------
// --bench

#define BENCH_OK(expr)                                                                                   \
  do {                                                                                                   \
    const cudaError_t e_ = (expr);                                                                       \
    if (e_ != cudaSuccess) {                                                                             \
      std::printf("bench: %s: %s (line %d)\n", #expr, cudaGetErrorString(e_), __LINE__);                \
      std::exit(2);                                                                                      \
    }                                                                                                    \
  } while (0)

__global__ void fill_kernel(float* p, int64_t n, uint32_t seed) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    uint32_t h = static_cast<uint32_t>(i) * 2654435761u ^ seed;
    h ^= h >> 15; h *= 2246822519u; h ^= h >> 13;
    p[i] = static_cast<float>(h & 0xffffff) / 8388608.0f - 1.0f;  // uniform in [-1, 1)
  }
}
void fill(float* p, int64_t n, uint32_t seed) {
  fill_kernel<<<1024, 256>>>(p, n, seed);
  BENCH_OK(cudaGetLastError());
}

// Median of `reps` event-timed calls (ms), after warm-up; f(i) may rotate between input sets.
template <class F>
float time_ms(F&& f, int reps = 25) {
  for (int i = 0; i < 3; ++i) f(i);
  BENCH_OK(cudaDeviceSynchronize());
  cudaEvent_t a, b;
  BENCH_OK(cudaEventCreate(&a));
  BENCH_OK(cudaEventCreate(&b));
  std::vector<float> t(reps);
  for (int i = 0; i < reps; ++i) {
    BENCH_OK(cudaEventRecord(a));
    f(i);
    BENCH_OK(cudaEventRecord(b));
    BENCH_OK(cudaEventSynchronize(b));
    BENCH_OK(cudaEventElapsedTime(&t[i], a, b));
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(t.begin(), t.end());
  return t[reps / 2];
}

bool g_shapes = false;  // --bench --shapes: bench_config times launch shapes only

struct BenchRow {
  std::string what;
  float ms;
  double gbs;
};
std::vector<BenchRow> g_rows;
void report(const std::string& what, float ms, double bytes) {
  g_rows.push_back({what, ms, bytes / (ms * 1e-3) / 1e9});
  std::printf("%-58s %9.4f ms %8.0f GB/s\n", what.c_str(), ms, g_rows.back().gbs);
  std::fflush(stdout);
}

void bench_config(int64_t B, int64_t T, int64_t n_fft, int64_t hop, bool sweep) {
  Geometry ga;  // torch.stft(center=True, pad_mode='reflect')
  ga.n_fft = n_fft; ga.hop = hop; ga.length = T; ga.pad = n_fft / 2; ga.mode = PadMode::Reflect;
  ga.n_frames = 1 + (T + 2 * ga.pad - n_fft) / hop;
  const int64_t bins = n_fft / 2 + 1;
  const int64_t sig = B * T, spec_n = B * ga.n_frames * bins;
  const double bytes = static_cast<double>(sig) * 4 + static_cast<double>(spec_n) * 8;
  float *x[2], *w, *out;
  Complex<float>* spec[2];
  for (int i = 0; i < 2; ++i) {
    BENCH_OK(cudaMalloc(&x[i], sig * sizeof(float)));
    BENCH_OK(cudaMalloc(&spec[i], spec_n * sizeof(Complex<float>)));
    fill(x[i], sig, 17 + i);
    fill(reinterpret_cast<float*>(spec[i]), 2 * spec_n, 91 + i);
  }
  BENCH_OK(cudaMalloc(&w, n_fft * sizeof(float)));
  BENCH_OK(cudaMalloc(&out, sig * sizeof(float)));
  std::vector<float> hw(n_fft);
  for (int64_t k = 0; k < n_fft; ++k) hw[k] = static_cast<float>(0.5 - 0.5 * std::cos(2 * M_PI * k / n_fft));
  BENCH_OK(cudaMemcpy(w, hw.data(), n_fft * sizeof(float), cudaMemcpyHostToDevice));
  char tag[96];
  std::snprintf(tag, sizeof tag, "B=%lld T=%lld %lld/%lld", (long long)B, (long long)T, (long long)n_fft, (long long)hop);

  kc::FusedAnalysisParams<float> pa;
  pa.a.window = w; pa.a.batch = B; pa.a.g = ga; pa.a.scale = 1.0f; pa.mode = FftMode::Rfft;
  auto stft = [&](int i) {
    pa.a.x = x[i & 1]; pa.spec = spec[i & 1];
    BENCH_OK(kc::launch_fused_analysis(pa, nullptr));
  };
  Geometry gs = ga;  // torch.istft(center=True, length=T)
  gs.mode = PadMode::Constant; gs.env_normalize = true;
  kc::FusedSynthesisParams<float> ps;
  ps.s.window = w; ps.s.out = out; ps.s.batch = B; ps.s.g = gs; ps.s.scale = 1.0f / n_fft;
  ps.stride_b = ga.n_frames * bins; ps.stride_bin = 1; ps.stride_n = bins; ps.mode = FftMode::Irfft;
  auto istft = [&](int i) {
    ps.spec = spec[i & 1];
    BENCH_OK(kc::launch_fused_synthesis(ps, nullptr));
  };

  struct Variant { std::string name; kc::FusedTuning t; };
  std::vector<Variant> variants = {{"", kc::FusedTuning{}}};
  if (sweep) {
    kc::FusedTuning t;
    t.waves = 1; variants.push_back({" waves=1", t});
    t.waves = 2; variants.push_back({" waves=2", t});
    t.waves = 4; variants.push_back({" waves=4", t});
    t.waves = 8; variants.push_back({" waves=8", t});
    t = kc::FusedTuning{}; t.force_general = 1; variants.push_back({" general engine", t});
    if (kc::fft::two_step_covers(static_cast<int>(n_fft / 2))) {
      t = kc::FusedTuning{}; t.no_two_step = 1; variants.push_back({" pass loop (no two-step)", t});
    }
    if ((n_fft / 2) & (n_fft / 2 - 1)) {  // the general engine's tile (frames transformed together)
      for (int f : {4, 6, 16, 20, 32}) {
        t = kc::FusedTuning{}; t.general_frames = f;
        variants.push_back({" general_frames=" + std::to_string(f), t});
      }
    }
  }
  std::vector<Variant> stft_variants = variants, istft_variants = variants;
  if (g_shapes) {  // --shapes: the power-of-two engine's launch shapes, each op's own knobs
    const int cover = static_cast<int>((n_fft + hop - 1) / hop);
    for (int r : {1, 2, 3, 4, 6, 8, 16}) {
      kc::FusedTuning t;
      t.rounds = r;
      stft_variants.push_back({" rounds=" + std::to_string(r), t});
    }
    for (int h : {1, 2, 3, cover, cover + cover / 2, 2 * cover, 3 * cover, 4 * cover, 8 * cover}) {
      kc::FusedTuning t;
      t.segment_hops = h;
      istft_variants.push_back({" segment_hops=" + std::to_string(h), t});
    }
    for (int waves : {2, 4}) {
      kc::FusedTuning t;
      t.waves = waves;
      istft_variants.push_back({" waves=" + std::to_string(waves), t});
    }
  }
  for (const auto& v : stft_variants) {
    kc::fused_tuning() = v.t;
    report(std::string(tag) + " fused stft" + v.name, time_ms(stft), bytes);
  }
  for (const auto& v : istft_variants) {
    kc::fused_tuning() = v.t;
    report(std::string(tag) + " fused istft" + v.name, time_ms(istft), bytes);
  }
  if (g_shapes) {
    kc::fused_tuning() = kc::FusedTuning{};
    for (int i = 0; i < 2; ++i) {
      cudaFree(x[i]);
      cudaFree(spec[i]);
    }
    cudaFree(w);
    cudaFree(out);
    return;
  }
  kc::fused_tuning() = kc::FusedTuning{};
  kc::fused_tuning().scalar_ola = 1;  // against the packed overlap-add of the default above
  report(std::string(tag) + " fused istft, scalar overlap-add", time_ms(istft), bytes);
  kc::fused_tuning() = kc::FusedTuning{};
  {  // the stft's backward: the synthesis over the reflect-padded positions and its fold, by the blocks (where the
     // split lets them: fold_split) and by the finish launch (FusedTuning::finish_fold)
    float* side;
    BENCH_OK(cudaMalloc(&side, B * kc::fused_side_length(ga) * sizeof(float)));
    kc::FusedSynthesisParams<float> pb = ps;
    pb.s.g = ga;
    pb.s.scale = 1.0f;
    pb.mode = FftMode::IrfftHalf;
    pb.side = side;
    auto stft_backward = [&](int i) {
      pb.spec = spec[i & 1];
      BENCH_OK(kc::launch_fused_synthesis(pb, nullptr));
    };
    report(std::string(tag) + " fused stft backward (reflect)", time_ms(stft_backward), bytes);
    kc::fused_tuning().finish_fold = 1;
    report(std::string(tag) + " fused stft backward, fold by the finish", time_ms(stft_backward), bytes);
    kc::fused_tuning() = kc::FusedTuning{};
    cudaFree(side);
  }
  {  // kernel_dtype "mixed": the same kernels storing complex32 / float16 (half the output bytes)
    __half2* spec_half;
    __half* out_half;
    BENCH_OK(cudaMalloc(&spec_half, spec_n * sizeof(__half2)));
    BENCH_OK(cudaMalloc(&out_half, sig * sizeof(__half)));
    kc::FusedAnalysisParams<float> qa = pa;
    qa.spec = nullptr;
    qa.spec_half = spec_half;
    report(std::string(tag) + " fused stft, complex32 out", time_ms([&](int i) {
      qa.a.x = x[i & 1];
      BENCH_OK(kc::launch_fused_analysis(qa, nullptr));
    }), static_cast<double>(sig) * 4 + static_cast<double>(spec_n) * 4);
    kc::FusedSynthesisParams<float> qs = ps;
    qs.s.out = nullptr;
    qs.out_half = out_half;
    report(std::string(tag) + " fused istft, float16 out", time_ms([&](int i) {
      qs.spec = spec[i & 1];
      BENCH_OK(kc::launch_fused_synthesis(qs, nullptr));
    }), static_cast<double>(sig) * 2 + static_cast<double>(spec_n) * 8);
    // Half-precision inputs (the kernels converting on load): a bfloat16 signal, a complex32 spectrum, two copies of
    // each alternated as above (the values are a fixed bit pattern: the timing does not depend on them).
    __nv_bfloat16* x_bf16[2];
    __half2* spec_c32[2];
    for (int c = 0; c < 2; ++c) {
      BENCH_OK(cudaMalloc(&x_bf16[c], sig * sizeof(__nv_bfloat16)));
      BENCH_OK(cudaMalloc(&spec_c32[c], spec_n * sizeof(__half2)));
      BENCH_OK(cudaMemset(x_bf16[c], 0x3c, sig * sizeof(__nv_bfloat16)));
      BENCH_OK(cudaMemset(spec_c32[c], 0x2c, spec_n * sizeof(__half2)));
    }
    kc::FusedAnalysisParams<float> qb = pa;
    qb.a.x = nullptr;
    qb.x_half_bf16 = true;
    auto stft_bf16 = [&](int i) {
      qb.x_half = x_bf16[i & 1];
      BENCH_OK(kc::launch_fused_analysis(qb, nullptr));
    };
    report(std::string(tag) + " fused stft, bfloat16 in", time_ms(stft_bf16),
           static_cast<double>(sig) * 2 + static_cast<double>(spec_n) * 8);
    qb.spec = nullptr;
    qb.spec_half = spec_half;
    report(std::string(tag) + " fused stft, bfloat16 in, complex32 out", time_ms(stft_bf16),
           static_cast<double>(sig) * 2 + static_cast<double>(spec_n) * 4);
    kc::FusedSynthesisParams<float> qc = ps;
    qc.spec = nullptr;
    auto istft_c32 = [&](int i) {
      qc.spec_c32 = spec_c32[i & 1];
      BENCH_OK(kc::launch_fused_synthesis(qc, nullptr));
    };
    report(std::string(tag) + " fused istft, complex32 in", time_ms(istft_c32),
           static_cast<double>(sig) * 4 + static_cast<double>(spec_n) * 4);
    qc.s.out = nullptr;
    qc.out_half = out_half;
    report(std::string(tag) + " fused istft, complex32 in, float16 out", time_ms(istft_c32),
           static_cast<double>(sig) * 2 + static_cast<double>(spec_n) * 4);
    for (int c = 0; c < 2; ++c) {
      cudaFree(x_bf16[c]);
      cudaFree(spec_c32[c]);
    }
    cudaFree(spec_half);
    cudaFree(out_half);
  }

#if defined(SPECTRO_BENCH_BASELINE)
  static const bool have_cufft = cufft::load();
  if (!have_cufft) std::printf("bench: no libcufft found: two-kernel baseline skipped\n");
  if (have_cufft) {  // two-kernel path: frame_ola.cuh framing (Path::Auto) + cuFFT R2C; cuFFT C2R + overlap-add
    float* frames;
    const int64_t nfr = B * ga.n_frames;
    BENCH_OK(cudaMalloc(&frames, nfr * n_fft * sizeof(float)));
    cufft::Handle r2c, c2r;
    int n[1] = {static_cast<int>(n_fft)};
    if (cufft::plan_many(&r2c, 1, n, nullptr, 1, static_cast<int>(n_fft), nullptr, 1, static_cast<int>(bins),
                         cufft::kR2C, static_cast<int>(nfr)) != 0 ||
        cufft::plan_many(&c2r, 1, n, nullptr, 1, static_cast<int>(bins), nullptr, 1, static_cast<int>(n_fft),
                         cufft::kC2R, static_cast<int>(nfr)) != 0) {
      std::printf("bench: cufftPlanMany failed\n");
      std::exit(2);
    }
    AnalysisParams<float> a = pa.a;
    a.frames = frames;
    const auto auto_path = static_cast<kc::Path>(0);
    report(std::string(tag) + " two-kernel stft (frames + cuFFT)", time_ms([&](int i) {
      a.x = x[i & 1];
      BENCH_OK(kc::launch_analysis(a, auto_path, nullptr));
      if (cufft::exec_r2c(r2c, frames, spec[i & 1]) != 0) std::exit(3);
    }), bytes);
    report(std::string(tag) + "   of which cuFFT R2C", time_ms([&](int i) {
      if (cufft::exec_r2c(r2c, frames, spec[i & 1]) != 0) std::exit(3);
    }), bytes);
    SynthesisParams<float> s = ps.s;
    s.frames = frames;
    report(std::string(tag) + " two-kernel istft (cuFFT + OLA)", time_ms([&](int i) {
      if (cufft::exec_c2r(c2r, spec[i & 1], frames) != 0) std::exit(3);
      BENCH_OK(kc::launch_synthesis(s, auto_path, nullptr));
    }), bytes);
    cufft::destroy(r2c);
    cufft::destroy(c2r);
    cudaFree(frames);
  }
#endif
  for (int i = 0; i < 2; ++i) {
    cudaFree(x[i]);
    cudaFree(spec[i]);
  }
  cudaFree(w);
  cudaFree(out);
}

// The mel kernels at a loss's or a frontend's geometry (centred reflect padding, triangular mel filterbank of
// n_mels bands at sample rate sr, log10 clamp 1e-5 of the magnitude or power mels): forward; backward against a
// target (the mel loss' gradient kernel), powers stored once (the default) and recomputed per band.
void bench_mel(int64_t B, int64_t T, int64_t n_fft, int64_t hop, int n_mels, double sr, float power) {
  Geometry g;
  g.n_fft = n_fft; g.hop = hop; g.length = T; g.pad = n_fft / 2; g.mode = PadMode::Reflect;
  g.n_frames = 1 + (T + 2 * g.pad - n_fft) / hop;
  const int bins = static_cast<int>(n_fft / 2 + 1);
  std::vector<float> basis(static_cast<size_t>(n_mels) * bins, 0.0f);
  const auto mel = [](double f) { return 2595.0 * std::log10(1.0 + f / 700.0); };
  const auto hz = [](double m) { return 700.0 * (std::pow(10.0, m / 2595.0) - 1.0); };
  for (int m = 0; m < n_mels; ++m) {
    const double lo = hz(mel(sr / 2) * m / (n_mels + 1)), mid = hz(mel(sr / 2) * (m + 1) / (n_mels + 1)),
                 hi = hz(mel(sr / 2) * (m + 2) / (n_mels + 1));
    for (int k = 0; k < bins; ++k) {
      const double f = k * sr / n_fft;
      const double w = f <= mid ? (f - lo) / (mid - lo) : (hi - f) / (hi - mid);
      if (w > 0) basis[static_cast<size_t>(m) * bins + k] = static_cast<float>(2.0 * w / (hi - lo));
    }
  }
  const int64_t sig = B * T, n_out = B * n_mels * g.n_frames, n_spec = B * g.n_frames * bins;
  float *x, *w, *db, *out, *target, *tgrad;
  int* band;
  Complex<float>* gspec;
  BENCH_OK(cudaMalloc(&x, sig * sizeof(float)));
  BENCH_OK(cudaMalloc(&w, n_fft * sizeof(float)));
  BENCH_OK(cudaMalloc(&db, basis.size() * sizeof(float)));
  BENCH_OK(cudaMalloc(&out, n_out * sizeof(float)));
  BENCH_OK(cudaMalloc(&target, n_out * sizeof(float)));
  BENCH_OK(cudaMalloc(&tgrad, sizeof(float)));
  BENCH_OK(cudaMalloc(&band, (2 * n_mels + 2 * bins) * sizeof(int)));
  BENCH_OK(cudaMalloc(&gspec, n_spec * sizeof(Complex<float>)));
  fill(x, sig, 5);
  fill(target, n_out, 6);
  fill(tgrad, 1, 7);
  std::vector<float> hw(n_fft);
  for (int64_t k = 0; k < n_fft; ++k) hw[k] = static_cast<float>(0.5 - 0.5 * std::cos(2 * M_PI * k / n_fft));
  BENCH_OK(cudaMemcpy(w, hw.data(), n_fft * sizeof(float), cudaMemcpyHostToDevice));
  BENCH_OK(cudaMemcpy(db, basis.data(), basis.size() * sizeof(float), cudaMemcpyHostToDevice));
  kc::FusedMelParams<float> p;
  p.a.x = x; p.a.window = w; p.a.batch = B; p.a.g = g; p.a.scale = 1.0f; p.mode = FftMode::Rfft;
  p.basis = db; p.band = band; p.n_mels = n_mels; p.basis_bins = bins;
  p.stages.power = power; p.stages.log = MelLog::Clamp; p.stages.log_eps = 1e-5f;
  p.stages.log_scale = static_cast<float>(power / std::log(10.0));
  kc::FusedMelParams<float> only = p;
  only.bands = kc::MelBands::Only;
  BENCH_OK(kc::launch_fused_mel(only, nullptr));  // (the band ranges, once: as kept per basis)
  p.bands = kc::MelBands::Ready;
  char tag[96];
  std::snprintf(tag, sizeof tag, "mel B=%lld T=%lld %lld/%lld %d mels", (long long)B, (long long)T, (long long)n_fft,
                (long long)hop, n_mels);
  kc::FusedMelParams<float> fwd = p;
  fwd.out = out;
  report(std::string(tag) + " forward", time_ms([&](int) { BENCH_OK(kc::launch_fused_mel(fwd, nullptr)); }),
         4.0 * static_cast<double>(sig + n_out));
  if (kc::fft::two_step_covers(static_cast<int>(n_fft / 2))) {
    kc::fused_tuning().no_two_step = 1;
    report(std::string(tag) + " forward, pass loop (no two-step)",
           time_ms([&](int) { BENCH_OK(kc::launch_fused_mel(fwd, nullptr)); }), 4.0 * static_cast<double>(sig + n_out));
    kc::fused_tuning() = kc::FusedTuning{};
    kc::fused_tuning().block_epilogue = 1;
    report(std::string(tag) + " forward, block-wide epilogue",
           time_ms([&](int) { BENCH_OK(kc::launch_fused_mel(fwd, nullptr)); }), 4.0 * static_cast<double>(sig + n_out));
    // warp by warp: one tile per block (no tile loop, no span copied ahead); the weights read from global memory
    kc::fused_tuning() = kc::FusedTuning{};
    kc::fused_tuning().tile_blocks = 1 << 30;
    report(std::string(tag) + " forward, one tile per block",
           time_ms([&](int) { BENCH_OK(kc::launch_fused_mel(fwd, nullptr)); }), 4.0 * static_cast<double>(sig + n_out));
    kc::fused_tuning() = kc::FusedTuning{};
    kc::fused_tuning().warp_band_weights = -1;
    report(std::string(tag) + " forward, weights from global memory",
           time_ms([&](int) { BENCH_OK(kc::launch_fused_mel(fwd, nullptr)); }), 4.0 * static_cast<double>(sig + n_out));
    // the general engine's tile: frames per block, warp-local (whole rounds of 24 slots) and block-wide
    for (int block : {0, 1}) {
      for (int frames : block ? std::vector<int>{16, 25} : std::vector<int>{12, 24, 36, 48}) {
        kc::fused_tuning() = kc::FusedTuning{};
        kc::fused_tuning().general_frames = frames;
        kc::fused_tuning().block_epilogue = block;
        report(std::string(tag) + " forward, " + (block ? "block-wide, " : "") + "tile of " + std::to_string(frames) +
                   " frames",
               time_ms([&](int) { BENCH_OK(kc::launch_fused_mel(fwd, nullptr)); }),
               4.0 * static_cast<double>(sig + n_out));
      }
    }
    kc::fused_tuning() = kc::FusedTuning{};
  } else {  // the power-of-two engine: rounds of frames per block (the launcher's rule: about two waves of blocks)
    for (int rounds : {1, 2, 4, 8}) {
      kc::fused_tuning() = kc::FusedTuning{};
      kc::fused_tuning().rounds = rounds;
      report(std::string(tag) + " forward, " + std::to_string(rounds) + " rounds per block",
             time_ms([&](int) { BENCH_OK(kc::launch_fused_mel(fwd, nullptr)); }),
             4.0 * static_cast<double>(sig + n_out));
    }
    kc::fused_tuning() = kc::FusedTuning{};
  }
  kc::FusedMelParams<float> bwd = p;
  bwd.target = target; bwd.target_grad = tgrad; bwd.target_weight = 1.0f; bwd.grad_spec = gspec;
  const double bwd_bytes = 4.0 * static_cast<double>(sig + n_out) + 8.0 * static_cast<double>(n_spec);
  report(std::string(tag) + " backward (L1 target)", time_ms([&](int) { BENCH_OK(kc::launch_fused_mel(bwd, nullptr)); }),
         bwd_bytes);
  bwd.recompute_powers = true;
  report(std::string(tag) + " backward, powers recomputed",
         time_ms([&](int) { BENCH_OK(kc::launch_fused_mel(bwd, nullptr)); }), bwd_bytes);
  bwd.recompute_powers = false;
  // The backward to the signal: that kernel, then the synthesis (irfft_half) and its fold; against the synthesis
  // engine with the mel prologue (no dL/dX in memory). Bytes: signal in, mel target in, signal out.
  float *gx, *side;
  const int64_t side_n = B * kc::fused_side_length(g);
  BENCH_OK(cudaMalloc(&gx, sig * sizeof(float)));
  BENCH_OK(cudaMalloc(&side, std::max<int64_t>(side_n, 1) * sizeof(float)));
  kc::FusedSynthesisParams<float> syn;
  syn.s.window = w; syn.s.batch = B; syn.s.g = g; syn.s.scale = 1.0f; syn.s.out = gx; syn.mode = FftMode::IrfftHalf;
  syn.side = side;
  kc::FusedSynthesisParams<float> adj = syn;
  adj.spec = gspec; adj.stride_b = g.n_frames * bins; adj.stride_bin = 1; adj.stride_n = bins;
  const double to_signal_bytes = 4.0 * static_cast<double>(2 * sig + n_out);
  report(std::string(tag) + " backward to the signal, two kernels", time_ms([&](int) {
           BENCH_OK(kc::launch_fused_mel(bwd, nullptr));
           BENCH_OK(kc::launch_fused_synthesis(adj, nullptr));
         }), to_signal_bytes);
  kc::FusedMelGradParams<float> fused;
  fused.mel = bwd;
  fused.mel.grad_spec = nullptr;
  fused.syn = syn;
  // frame-owning blocks (an edge scratch with room for one block per covering frames), then output segments
  const int64_t cover = (n_fft + hop - 1) / hop;
  const int64_t edge_n = B * ((g.n_frames + cover - 1) / cover) * (n_fft - hop);
  float* edge;
  BENCH_OK(cudaMalloc(&edge, std::max<int64_t>(1, edge_n) * sizeof(float)));
  for (int frames = 1; frames >= 0 && kc::fused_mel_grad_supported<float>(g); --frames) {
    fused.syn.edge = frames ? edge : nullptr;
    fused.syn.edge_capacity = frames ? edge_n : 0;
    report(std::string(tag) + " backward to the signal, one kernel" + (frames ? " (frame-owning blocks)" : " (segments)"),
           time_ms([&](int) { BENCH_OK(kc::launch_fused_mel_grad(fused, nullptr)); }), to_signal_bytes);
  }
  cudaFree(x); cudaFree(w); cudaFree(db); cudaFree(out); cudaFree(target); cudaFree(tgrad); cudaFree(band);
  cudaFree(gspec); cudaFree(gx); cudaFree(side); cudaFree(edge);
}

// The spectral loss' backward to the prediction at one resolution of auraloss's MR-STFT loss (centred reflect
// padding, a Hann window of win samples centred in n_fft): the loss kernel's onesided dL/dX then the synthesis
// (irfft_half) and its fold, against the synthesis engine with the loss prologue (default launch shape, then
// segments of 1 and 4 times the frames covering a position, and two waves). Bytes: x, y in, dL/dx out.
void bench_loss_grad(int64_t B, int64_t T, int64_t n_fft, int64_t hop, int64_t win) {
  Geometry g;
  g.n_fft = n_fft; g.hop = hop; g.length = T; g.pad = n_fft / 2; g.mode = PadMode::Reflect;
  g.n_frames = 1 + (T + 2 * g.pad - n_fft) / hop;
  const int64_t sig = B * T, bins = n_fft / 2 + 1, n_spec = B * g.n_frames * bins;
  const int64_t side_n = std::max<int64_t>(1, B * kc::fused_side_length(g));
  float *x, *y, *w, *gs, *gx, *side;
  Complex<float>*z, *G;
  BENCH_OK(cudaMalloc(&x, sig * sizeof(float)));
  BENCH_OK(cudaMalloc(&y, sig * sizeof(float)));
  BENCH_OK(cudaMalloc(&z, sig * sizeof(Complex<float>)));
  BENCH_OK(cudaMalloc(&w, n_fft * sizeof(float)));
  BENCH_OK(cudaMalloc(&gs, 4 * sizeof(float)));
  BENCH_OK(cudaMalloc(&gx, sig * sizeof(float)));
  BENCH_OK(cudaMalloc(&side, side_n * sizeof(float)));
  BENCH_OK(cudaMalloc(&G, n_spec * sizeof(Complex<float>)));
  fill(x, sig, 11);
  fill(y, sig, 12);
  fill(gs, 4, 13);
  // z = x + i y, interleaved
  BENCH_OK(cudaMemcpy2D(z, sizeof(Complex<float>), x, sizeof(float), sizeof(float), sig, cudaMemcpyDeviceToDevice));
  BENCH_OK(cudaMemcpy2D(reinterpret_cast<float*>(z) + 1, sizeof(Complex<float>), y, sizeof(float), sizeof(float), sig,
                        cudaMemcpyDeviceToDevice));
  std::vector<float> hw(n_fft, 0.0f);
  for (int64_t k = 0; k < win; ++k) hw[(n_fft - win) / 2 + k] = static_cast<float>(0.5 - 0.5 * std::cos(2 * M_PI * k / win));
  BENCH_OK(cudaMemcpy(w, hw.data(), n_fft * sizeof(float), cudaMemcpyHostToDevice));
  kc::FusedLossParams<Complex<float>> l;
  l.a.x = z; l.a.window = w; l.a.batch = B; l.a.g = g; l.a.scale = 1.0f;
  l.mode = FftMode::Fft; l.eps = 1e-8f; l.grad_sums = gs; l.grad_spec = G;
  kc::FusedSynthesisParams<float> syn;
  syn.s.window = w; syn.s.batch = B; syn.s.g = g; syn.s.scale = 1.0f; syn.s.out = gx; syn.side = side;
  kc::FusedSynthesisParams<float> adj = syn;
  adj.spec = G; adj.stride_b = g.n_frames * bins; adj.stride_bin = 1; adj.stride_n = bins; adj.mode = FftMode::IrfftHalf;
  char tag[96];
  std::snprintf(tag, sizeof tag, "loss B=%lld T=%lld %lld/%lld win %lld", (long long)B, (long long)T, (long long)n_fft,
                (long long)hop, (long long)win);
  const double bytes = 4.0 * static_cast<double>(3 * sig);
  int64_t blocks = 0;
  report(std::string(tag) + " backward to x, two kernels", time_ms([&](int) {
           BENCH_OK(kc::launch_fused_loss(l, nullptr, &blocks));
           BENCH_OK(kc::launch_fused_synthesis(adj, nullptr));
         }), bytes);
  kc::FusedLossGradParams<float> f;
  f.loss = l;
  f.loss.a.x = nullptr; f.loss.grad_spec = nullptr; f.loss.grad_target = false;
  f.x = x; f.y = y;
  f.syn = syn;
  f.syn.mode = FftMode::IfftReal;
  const int64_t cover = (n_fft + hop - 1) / hop;
  // the edge scratch of frame-owning blocks (room for one block per covering frames)
  const int64_t edge_n = B * ((g.n_frames + cover - 1) / cover) * (n_fft - hop);
  float* edge;
  BENCH_OK(cudaMalloc(&edge, std::max<int64_t>(1, edge_n) * sizeof(float)));
  const struct { const char* name; int waves, segment_hops; bool frames; } shapes[] = {
      {" (frame-owning blocks)", 0, 0, true}, {" (segments)", 0, 0, false},
      {" (segments of cover hops)", 0, static_cast<int>(cover), false},
      {" (segments of 4 cover hops)", 0, static_cast<int>(4 * cover), false}, {" (segments, 2 waves)", 2, 0, false}};
  for (const auto& sh : shapes) {
    if (!kc::fused_loss_grad_supported<float>(g)) break;
    kc::FusedTuning t;
    t.waves = sh.waves; t.segment_hops = sh.segment_hops;
    kc::fused_tuning() = t;
    f.syn.edge = sh.frames ? edge : nullptr;
    f.syn.edge_capacity = sh.frames ? edge_n : 0;
    report(std::string(tag) + " backward to x, one kernel" + sh.name,
           time_ms([&](int) { BENCH_OK(kc::launch_fused_loss_grad(f, nullptr)); }), bytes);
  }
  kc::fused_tuning() = kc::FusedTuning{};
  cudaFree(x); cudaFree(y); cudaFree(z); cudaFree(w); cudaFree(gs); cudaFree(gx); cudaFree(side); cudaFree(G);
  cudaFree(edge);
}

void print_summary() {
  std::printf("\nsummary (median ms, GB/s = (signal + spectrum bytes) / time)\n");
  for (const auto& r : g_rows) std::printf("%-58s %9.4f %8.0f\n", r.what.c_str(), r.ms, r.gbs);
}

void bench(bool sweep, bool mel_only, bool losses_only = false, bool whisper_only = false, bool tts_only = false) {
  cudaDeviceProp prop;
  BENCH_OK(cudaGetDeviceProperties(&prop, 0));
  std::printf("bench on %s (%d SMs, L2 %d MB)\n", prop.name, prop.multiProcessorCount, prop.l2CacheSize >> 20);
  {  // copy ceiling: 1 GiB device-to-device, bytes read + written
    const size_t n = size_t{1} << 30;
    void *a, *b;
    BENCH_OK(cudaMalloc(&a, n));
    BENCH_OK(cudaMalloc(&b, n));
    BENCH_OK(cudaMemset(a, 1, n));
    report("device-to-device copy 1 GiB", time_ms([&](int) { BENCH_OK(cudaMemcpyAsync(b, a, n, cudaMemcpyDeviceToDevice)); }, 10),
           2.0 * n);
    cudaFree(a);
    cudaFree(b);
  }
  if (tts_only) {  // a TTS frontend's geometry (B=4 x 10 s at 22.05 kHz, 1024 / 256, 80 mels): the stft and the mel
    bench_config(4, 220500, 1024, 256, sweep);
    bench_mel(4, 220500, 1024, 256, 80, 22050.0, 2.0f);
    print_summary();
    return;
  }
  if (whisper_only) {  // n_fft 400 (the general engine): the stft and Whisper's mel frontend
    bench_config(1, 16000, 400, 160, sweep);
    bench_config(16, 480000, 400, 160, sweep);
    bench_mel(16, 480000, 400, 160, 80, 16000.0, 2.0f);
    print_summary();
    return;
  }
  if (g_shapes) {  // the seed configurations of benchmarks/bench.py on the power-of-two engine
    const int64_t configs[][4] = {{4, 160000, 1024, 256}, {4, 160000, 2048, 512}, {8, 160000, 1024, 256},
                                  {1, 1300000, 1024, 256}, {4, 1300000, 1024, 256}, {16, 480000, 512, 128},
                                  {2, 11700000, 2048, 512}, {2, 11700000, 4096, 1024}};
    for (const auto& c : configs) bench_config(c[0], c[1], c[2], c[3], false);
    print_summary();
    return;
  }
  if (!mel_only && !losses_only) {
    bench_config(4, 1300000, 1024, 256, sweep);
    bench_config(2, 11700000, 4096, 1024, sweep);
    bench_config(2, 11700000, 2048, 512, sweep);
    bench_config(16, 480000, 512, 128, sweep);
    bench_config(1, 16000, 400, 160, sweep);
    bench_config(16, 480000, 400, 160, sweep);  // Whisper's batch (the general engine)
  }
  // DAC's mel loss (B=72 x 16758 at 44.1 kHz: windows 32 .. 2048, hop / 4, 5 .. 320 mels, magnitude); a TTS
  // frontend (B=4 x 10 s at 22.05 kHz, 1024 / 256, 80 mels, power); Whisper's (B=16 x 30 s, 400 / 160, 80 mels)
  if (!losses_only) {
    for (int i = 0; i < 7; ++i) bench_mel(72, 16758, 32 << i, 8 << i, 5 << i, 44100.0, 1.0f);
    bench_mel(4, 220500, 1024, 256, 80, 22050.0, 2.0f);
    bench_mel(16, 480000, 400, 160, 80, 16000.0, 2.0f);
  }
  // auraloss's MR-STFT loss (1024/120 win 600, 2048/240 win 1200, 512/50 win 240) at B=16 x 65536 and B=4 x 160k
  for (int64_t B : {16, 4}) {
    const int64_t T = B == 16 ? 65536 : 160000;
    bench_loss_grad(B, T, 1024, 120, 600);
    bench_loss_grad(B, T, 2048, 240, 1200);
    bench_loss_grad(B, T, 512, 50, 240);
  }
  print_summary();
}

}  // namespace

int main(int argc, char** argv) {
  bool emulate = false, bench_mode = false, sweep = false, quick = false, mel_only = false, instances = false;
  bool losses_only = false, whisper_only = false, tts_only = false;
  int fuzz_count = 0;
  // --synthesis B T n_fft hop segment_hops: one stft-backward geometry (centre padding n_fft / 2, reflect / replicate
  // / circular, both spectrum layouts; segment_hops 0: the launcher's own segments)
  long long one_synthesis[5] = {0, 0, 0, 0, -1};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--emulate") emulate = true;
    else if (a == "--bench") bench_mode = true;
    else if (a == "--sweep") sweep = true;
    else if (a == "--mel") mel_only = true;
    else if (a == "--losses") losses_only = true;
    else if (a == "--whisper") whisper_only = true;
    else if (a == "--tts") tts_only = true;
    else if (a == "--shapes") g_shapes = true;
    else if (a == "--quick") quick = true;
    else if (a == "--instances") instances = true;
    else if (a == "--fuzz" && i + 1 < argc) fuzz_count = std::atoi(argv[++i]);
    else if (a == "--synthesis" && i + 5 < argc) {
      for (int k = 0; k < 5; ++k) one_synthesis[k] = std::atoll(argv[++i]);
    } else {
      std::printf("usage: test_fused [--emulate] [--quick | --instances] [--fuzz N] | [--emulate] --synthesis B T n_fft hop segment_hops | --bench [--sweep | --shapes | --mel | --losses | --whisper | --tts]\n");
      return 2;
    }
  }
  if (one_synthesis[4] >= 0) {
    g_emulate = emulate;
    const int64_t B = one_synthesis[0], T = one_synthesis[1], n_fft = one_synthesis[2], hop = one_synthesis[3];
    kc::fused_tuning().segment_hops = static_cast<int>(one_synthesis[4]);
    for (PadMode pm : {PadMode::Reflect, PadMode::Replicate, PadMode::Circular})
      for (bool layout : {true, false})
        check_synthesis<float>(B, 1 + T / hop, n_fft, hop, T, n_fft / 2, false, FftMode::IrfftHalf, layout, pm);
    std::printf("test_fused --synthesis: %d passed, %d failed\n", g_passed, g_failed);
    return g_failed == 0 ? 0 : 1;
  }
  if (emulate) {
    g_emulate = true;
    if (fuzz_count > 0) fuzz(fuzz_count);
    else all_variants(quick, instances);
    std::printf("test_fused (host emulation): %d passed, %d failed\n", g_passed, g_failed);
    return g_failed == 0 ? 0 : 1;
  }
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("no CUDA device: compiled only\n");
    return 0;
  }
  if (bench_mode) {
    bench(sweep, mel_only, losses_only, whisper_only, tts_only);
    return 0;
  }
  if (fuzz_count > 0) fuzz(fuzz_count);
  else all_variants(quick, instances);
  std::printf("test_fused: %d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
