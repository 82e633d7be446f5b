// spectro — standalone, torch-free test of the CUDA analysis / synthesis kernels (csrc/kernels/cuda/frame_ola.cuh).
//
// Every launch path (Auto, Tiled, Direct) of both maps is compared with a host reference computed by the very
// functions that define them (analysis_element / synthesis_element from csrc/kernels/common.h, compiled for the
// host), over a grid of geometries: every PadMode, env_normalize on and off, pad 0 and n_fft / 2, hop dividing
// n_fft or not, hop >= n_fft, T < n_fft, one frame, frames not reaching the signal's end or ending inside the
// left padding, many frames per tile with a partial last tile, long frames split into bin chunks (n_fft up to
// 16384, also not a multiple of 16), batch > 1 and > 65535 (grid.y), a misaligned frames pointer, zero-size and
// invalid launches, for float, double, Complex<float> and Complex<double>. Outputs are poisoned (all-ones bytes:
// NaN) before each launch and guard elements after them must stay poisoned.
//
// Usage: test_frame_ola            correctness grid (exit status 0 iff every check passed)
//        test_frame_ola --large    also tensors past 2^31 / 2^32 elements (about 52 GB of device memory), sampled
//        test_frame_ola --bench    timings of Tiled vs Direct at typical sizes (no checks)
//        test_frame_ola --stride N only every N-th geometry of the grid (for slow runs under compute-sanitizer)
// Without a CUDA device it prints "no CUDA device: compiled only" and exits 0.

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/common.h"
#include "kernels/cuda/frame_ola.cuh"

using namespace spectro::kernels;
namespace kc = spectro::kernels::cuda;

namespace {

int g_passed = 0;
int g_failed = 0;

// Records one check; prints the failures (the first few per run of the same label are enough).
void record(bool ok, const std::string& what) {
  if (ok) {
    ++g_passed;
  } else {
    ++g_failed;
    if (g_failed <= 60) std::printf("FAIL %s\n", what.c_str());
  }
}

// A CUDA call that must succeed; a failure is recorded and makes the enclosing bool function return false.
#define CHECK_CUDA(expr)                                                                          \
  do {                                                                                            \
    const cudaError_t err_ = (expr);                                                              \
    if (err_ != cudaSuccess) {                                                                    \
      record(false, std::string(#expr) + " -> " + cudaGetErrorString(err_) + " at line " +      \
                        std::to_string(__LINE__));                                                \
      return false;                                                                               \
    }                                                                                             \
  } while (0)

// ----------------------------------------------------------------------------------------------------------------
// Value-type traits for the test: name, components, tolerance, random values.
// ----------------------------------------------------------------------------------------------------------------
uint64_t splitmix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

struct Rng {
  uint64_t state;
  explicit Rng(uint64_t seed) : state(seed) {}
  double uniform() {  // [-1, 1)
    state = splitmix64(state);
    return static_cast<double>(state >> 11) * (2.0 / 9007199254740992.0) - 1.0;
  }
};

template <typename V>
struct VT;
template <>
struct VT<float> {
  using R = float;
  static constexpr int kComps = 1;
  static constexpr double kRtol = 1e-6;
  static const char* name() { return "f32"; }
  static float comp(float v, int) { return v; }
  static float random(Rng& r) { return static_cast<float>(r.uniform()); }
  static float abs(float v) { return std::fabs(v); }
};
template <>
struct VT<double> {
  using R = double;
  static constexpr int kComps = 1;
  static constexpr double kRtol = 1e-14;
  static const char* name() { return "f64"; }
  static double comp(double v, int) { return v; }
  static double random(Rng& r) { return r.uniform(); }
  static double abs(double v) { return std::fabs(v); }
};
template <typename R_>
struct VT<Complex<R_>> {
  using R = R_;
  static constexpr int kComps = 2;
  static constexpr double kRtol = VT<R>::kRtol;
  static const char* name() { return sizeof(R) == 4 ? "c64" : "c128"; }
  static R comp(Complex<R> v, int c) { return c == 0 ? v.re : v.im; }
  static Complex<R> random(Rng& r) { return {static_cast<R>(r.uniform()), static_cast<R>(r.uniform())}; }
  static Complex<R> abs(Complex<R> v) { return {std::fabs(v.re), std::fabs(v.im)}; }
};

const char* mode_name(PadMode m) {
  switch (m) {
    case PadMode::Constant: return "constant";
    case PadMode::Reflect: return "reflect";
    case PadMode::Replicate: return "replicate";
    case PadMode::Circular: return "circular";
  }
  return "?";
}

const char* path_name(kc::Path p) {
  switch (p) {
    case kc::Path::Auto: return "auto";
    case kc::Path::Tiled: return "tiled";
    case kc::Path::Direct: return "direct";
  }
  return "?";
}

// ----------------------------------------------------------------------------------------------------------------
// One geometry.
// ----------------------------------------------------------------------------------------------------------------
struct Case {
  Geometry g;
  int64_t batch = 1;
  int window_kind = 0;        // 0: periodic Hann (has a zero: exercises h = 0), 1: random in [-1, 1)
  double scale = 1.0;
  int64_t frames_offset = 0;  // analysis output starts this many elements past a 256-byte aligned allocation

  std::string label() const {
    char buf[256];
    std::snprintf(buf, sizeof(buf), "n_fft=%lld hop=%lld T=%lld pad=%lld N=%lld %s env=%d batch=%lld win=%d off=%lld",
                  (long long)g.n_fft, (long long)g.hop, (long long)g.length, (long long)g.pad,
                  (long long)g.n_frames, mode_name(g.mode), g.env_normalize ? 1 : 0, (long long)batch, window_kind,
                  (long long)frames_offset);
    return buf;
  }
};

// Frames torch.stft would produce: 1 + (T + 2 pad - n_fft) / hop, or 0 when the padded signal is shorter than a frame.
int64_t full_frames(int64_t n_fft, int64_t hop, int64_t T, int64_t pad) {
  const int64_t L = T + 2 * pad;
  return L < n_fft ? 0 : 1 + (L - n_fft) / hop;
}

bool geometry_valid(const Geometry& g) {
  if (g.n_frames < 1) return false;
  switch (g.mode) {
    case PadMode::Reflect: return g.pad < g.length;
    case PadMode::Circular: return g.pad <= g.length;
    case PadMode::Replicate: return g.length >= 1;
    default: return true;
  }
}

template <typename R>
std::vector<R> make_window(int64_t n_fft, int kind, Rng& rng) {
  std::vector<R> w(static_cast<size_t>(n_fft));
  const double pi = 3.14159265358979323846;
  for (int64_t k = 0; k < n_fft; ++k) {
    w[k] = kind == 0 ? static_cast<R>(0.5 - 0.5 * std::cos(2.0 * pi * static_cast<double>(k) / n_fft))
                     : static_cast<R>(rng.uniform());
  }
  return w;
}

// Device buffer with `guard` poisoned elements after the payload and `offset` poisoned elements before it.
template <typename V>
struct DeviceBuffer {
  unsigned char* raw = nullptr;
  int64_t offset = 0, count = 0, guard = 0;
  V* data() const { return reinterpret_cast<V*>(raw) + offset; }
  int64_t total() const { return offset + count + guard; }
  cudaError_t alloc(int64_t n, int64_t off, int64_t g) {
    offset = off; count = n; guard = g;
    return cudaMalloc(&raw, static_cast<size_t>(total()) * sizeof(V));
  }
  cudaError_t poison() const { return cudaMemset(raw, 0xff, static_cast<size_t>(total()) * sizeof(V)); }
  ~DeviceBuffer() { if (raw) cudaFree(raw); }
};

// Whether the offset prefix and the guard suffix of `host` (the whole buffer, copied back) are still all-ones.
template <typename V>
bool guards_intact(const std::vector<unsigned char>& bytes, const DeviceBuffer<V>& buf) {
  const size_t pre = static_cast<size_t>(buf.offset) * sizeof(V);
  const size_t post = static_cast<size_t>(buf.offset + buf.count) * sizeof(V);
  for (size_t i = 0; i < pre; ++i) if (bytes[i] != 0xff) return false;
  for (size_t i = post; i < bytes.size(); ++i) if (bytes[i] != 0xff) return false;
  return true;
}

// Compares got against ref with |got - ref| <= rtol * bound + atol per component (NaN fails). Returns the number
// of mismatches and reports the first.
template <typename V>
int64_t compare(const V* got, const std::vector<V>& ref, const std::vector<V>& bound, double rtol,
                const std::string& what) {
  using T = VT<V>;
  const double atol = sizeof(typename T::R) == 4 ? 1e-35 : 1e-300;
  int64_t bad = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    for (int c = 0; c < T::kComps; ++c) {
      const double g = T::comp(got[i], c), r = T::comp(ref[i], c), b = T::comp(bound[i], c);
      const double err = std::fabs(g - r);
      if (!(err <= rtol * b + atol)) {
        if (bad == 0) {
          std::printf("  mismatch %s at element %zu comp %d: got %.17g ref %.17g (bound %.3g)\n", what.c_str(), i, c,
                      g, r, rtol * b + atol);
        }
        ++bad;
      }
    }
  }
  return bad;
}

// Relative tolerance for a sum over m overlapping frames (rounding grows with the number of terms).
double tolerance(double rtol, const Geometry& g) {
  const double m = static_cast<double>((g.n_fft + g.hop - 1) / g.hop);
  return rtol * std::max(1.0, (m + 4.0) / 8.0);
}

// Counts, per value type, which tile shapes the grid exercised, so that coverage is known rather than hoped for.
struct Coverage {
  int multi_frame_tiles = 0;  // geometries tiled with F > 1
  int split_bins = 0;         // geometries tiled with K < n_fft
  int auto_direct = 0;        // geometries where Auto resolved to Direct
};

// ----------------------------------------------------------------------------------------------------------------
// One geometry, one value type: analysis and synthesis through all three paths.
// ----------------------------------------------------------------------------------------------------------------
template <typename V>
bool run_case(const Case& cs, uint64_t seed, Coverage& cov) {
  using T = VT<V>;
  using R = typename T::R;
  const Geometry& g = cs.g;
  const int64_t B = cs.batch, nx = B * g.length, nf = B * g.n_frames * g.n_fft;
  const std::string label = std::string(T::name()) + " " + cs.label();
  Rng rng(seed);

  std::vector<V> x(nx), frames_in(nf);
  for (auto& v : x) v = T::random(rng);
  for (auto& v : frames_in) v = T::random(rng);
  const std::vector<R> window = make_window<R>(g.n_fft, cs.window_kind, rng);
  std::vector<V> x_abs(nx), frames_abs(nf);
  std::vector<R> window_abs(window.size());
  for (int64_t i = 0; i < nx; ++i) x_abs[i] = T::abs(x[i]);
  for (int64_t i = 0; i < nf; ++i) frames_abs[i] = T::abs(frames_in[i]);
  for (size_t i = 0; i < window.size(); ++i) window_abs[i] = std::fabs(window[i]);

  // Host references, straight from common.h.
  AnalysisParams<V> ha;
  ha.x = x.data(); ha.window = window.data(); ha.batch = B; ha.g = g; ha.scale = static_cast<R>(cs.scale);
  AnalysisParams<V> ha_abs = ha;
  ha_abs.x = x_abs.data(); ha_abs.window = window_abs.data();
  std::vector<V> a_ref(nf), a_bound(nf);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t n = 0; n < g.n_frames; ++n)
      for (int64_t k = 0; k < g.n_fft; ++k) {
        const int64_t e = (b * g.n_frames + n) * g.n_fft + k;
        a_ref[e] = analysis_element(ha, b, n, k);
        a_bound[e] = analysis_element(ha_abs, b, n, k);
      }
  SynthesisParams<V> hs;
  hs.frames = frames_in.data(); hs.window = window.data(); hs.batch = B; hs.g = g;
  hs.scale = static_cast<R>(cs.scale);
  SynthesisParams<V> hs_abs = hs;
  hs_abs.frames = frames_abs.data(); hs_abs.window = window_abs.data();
  std::vector<V> s_ref(nx), s_bound(nx);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < g.length; ++t) {
      s_ref[b * g.length + t] = synthesis_element(hs, b, t);
      s_bound[b * g.length + t] = synthesis_element(hs_abs, b, t);
    }

  // Device data.
  constexpr int64_t kGuard = 67;
  DeviceBuffer<V> d_x, d_frames_in, d_frames_out, d_out;
  DeviceBuffer<R> d_window;
  CHECK_CUDA(d_x.alloc(nx, 0, 0));
  CHECK_CUDA(d_frames_in.alloc(nf, 0, 0));
  CHECK_CUDA(d_frames_out.alloc(nf, cs.frames_offset, kGuard));
  CHECK_CUDA(d_out.alloc(nx, 0, kGuard));
  CHECK_CUDA(d_window.alloc(g.n_fft, 0, 0));
  CHECK_CUDA(cudaMemcpy(d_x.data(), x.data(), nx * sizeof(V), cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMemcpy(d_frames_in.data(), frames_in.data(), nf * sizeof(V), cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMemcpy(d_window.data(), window.data(), g.n_fft * sizeof(R), cudaMemcpyHostToDevice));

  const double rtol = tolerance(T::kRtol, g);
  const kc::Path paths[] = {kc::Path::Auto, kc::Path::Tiled, kc::Path::Direct};

  AnalysisParams<V> da = ha;
  da.x = d_x.data(); da.window = d_window.data(); da.frames = d_frames_out.data();
  if (kc::resolve_analysis_path(da, kc::Path::Auto) == kc::Path::Direct) ++cov.auto_direct;
  int sms = 0;
  CHECK_CUDA(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  const kc::AnalysisTilePlan plan = kc::plan_analysis_tiles<V>(g, B, sms);
  if (plan.frames_per_tile > 1) ++cov.multi_frame_tiles;
  if (plan.bins_per_tile < g.n_fft) ++cov.split_bins;
  std::vector<unsigned char> bytes(static_cast<size_t>(d_frames_out.total()) * sizeof(V));
  for (kc::Path path : paths) {
    const std::string what = std::string("analysis/") + path_name(path) + "->" +
                             path_name(kc::resolve_analysis_path(da, path)) + " " + label;
    CHECK_CUDA(d_frames_out.poison());
    CHECK_CUDA(kc::launch_analysis(da, path, nullptr));
    CHECK_CUDA(cudaDeviceSynchronize());
    CHECK_CUDA(cudaMemcpy(bytes.data(), d_frames_out.raw, bytes.size(), cudaMemcpyDeviceToHost));
    const V* got = reinterpret_cast<const V*>(bytes.data()) + d_frames_out.offset;
    const int64_t bad = compare(got, a_ref, a_bound, rtol, what);
    record(bad == 0, what + " (" + std::to_string(bad) + " mismatches)");
    record(guards_intact(bytes, d_frames_out), what + " wrote outside its output");
  }

  SynthesisParams<V> ds = hs;
  ds.frames = d_frames_in.data(); ds.window = d_window.data(); ds.out = d_out.data();
  bytes.assign(static_cast<size_t>(d_out.total()) * sizeof(V), 0);
  for (kc::Path path : paths) {
    const std::string what = std::string("synthesis/") + path_name(path) + " " + label;
    CHECK_CUDA(d_out.poison());
    CHECK_CUDA(kc::launch_synthesis(ds, path, nullptr));
    CHECK_CUDA(cudaDeviceSynchronize());
    CHECK_CUDA(cudaMemcpy(bytes.data(), d_out.raw, bytes.size(), cudaMemcpyDeviceToHost));
    const V* got = reinterpret_cast<const V*>(bytes.data());
    const int64_t bad = compare(got, s_ref, s_bound, rtol, what);
    record(bad == 0, what + " (" + std::to_string(bad) + " mismatches)");
    record(guards_intact(bytes, d_out), what + " wrote outside its output");
  }
  return true;
}

// The geometry grid.
std::vector<Case> make_cases() {
  std::vector<Case> cases;
  const PadMode modes[] = {PadMode::Constant, PadMode::Reflect, PadMode::Replicate, PadMode::Circular};
  struct FH { int64_t n_fft, hop; };
  const FH fhs[] = {{16, 4}, {16, 3}, {16, 16}, {16, 21}, {64, 16}, {100, 25}, {100, 30},
                    {256, 64}, {1024, 256}, {1000, 333}};
  int idx = 0;
  for (const FH& fh : fhs) {
    const int64_t n = fh.n_fft;
    const int64_t lengths[] = {n / 2 + 3, 3 * n + 5, 11 * n + 1};
    for (int64_t T : lengths)
      for (int64_t pad : {int64_t(0), n / 2})
        for (PadMode mode : modes)
          for (bool env : {false, true}) {
            Case c;
            c.g.n_fft = n; c.g.hop = fh.hop; c.g.length = T; c.g.pad = pad; c.g.mode = mode;
            c.g.env_normalize = env;
            c.g.n_frames = full_frames(n, fh.hop, T, pad);
            c.batch = (idx % 3 == 0) ? 3 : 1;
            c.window_kind = env ? (idx % 4 == 1 ? 1 : 0) : (idx % 2);
            c.scale = (idx % 5 == 2) ? 0.37 : 1.0;
            c.frames_offset = (idx % 7 == 3) ? 1 : 0;
            ++idx;
            if (!geometry_valid(c.g)) continue;
            cases.push_back(c);
            // Frames stopping short of the padded signal's end (span < T + 2 pad by more than a hop).
            if (c.g.n_frames >= 4 && idx % 2 == 0) {
              Case d = c;
              d.g.n_frames = c.g.n_frames / 2;
              cases.push_back(d);
            }
          }
  }
  // Exactly one frame; T == n_fft, and a center-padded signal shorter than the frame.
  for (PadMode mode : modes)
    for (bool env : {false, true}) {
      Case c;
      c.g.n_fft = 512; c.g.hop = 128; c.g.length = 512; c.g.pad = 0; c.g.n_frames = 1;
      c.g.mode = mode; c.g.env_normalize = env; c.batch = 2;
      if (geometry_valid(c.g)) cases.push_back(c);
      c.g.length = 300; c.g.pad = 256; c.g.n_frames = 1;  // span 512 <= 300 + 512
      if (geometry_valid(c.g)) cases.push_back(c);
    }
  // Frames that end inside the left padding (span < pad): preimages past span must be skipped.
  for (PadMode mode : modes)
    for (int64_t N : {int64_t(1), int64_t(3)}) {
      Case c;
      c.g.n_fft = 16; c.g.hop = 4; c.g.length = 40; c.g.pad = 30; c.g.n_frames = N; c.g.mode = mode;
      c.g.env_normalize = N == 3;
      if (geometry_valid(c.g)) cases.push_back(c);
    }
  // Many frames: several frames per tile and a partial last tile (small n_fft), also with hop % 4 != 0.
  for (const FH& fh : {FH{16, 4}, FH{100, 30}, FH{1024, 256}, FH{1000, 250}})
    for (PadMode mode : {PadMode::Reflect, PadMode::Constant})
      for (bool env : {false, true}) {
        Case c;
        c.g.n_fft = fh.n_fft; c.g.hop = fh.hop;
        c.g.length = fh.n_fft >= 1000 ? 300007 : 40009;
        c.g.pad = fh.n_fft / 2; c.g.mode = mode; c.g.env_normalize = env;
        c.g.n_frames = full_frames(c.g.n_fft, c.g.hop, c.g.length, c.g.pad);
        c.batch = 2; c.window_kind = 0;
        cases.push_back(c);
      }
  // Long frames: split into bin chunks for the wider types (see plan_analysis_tiles), also with n_fft not a
  // multiple of 16 and with several frames per split tile (small hop).
  struct FHT { int64_t n_fft, hop, T; bool env_too; };
  for (const FHT& f : {FHT{4096, 1024, 3 * 4096 + 11, true}, FHT{8192, 2048, 3 * 8192 + 11, true},
                       FHT{16384, 4096, 3 * 16384 + 11, true}, FHT{5000, 1250, 3 * 5000 + 11, true},
                       FHT{6001, 1500, 3 * 6001 + 11, true}, FHT{8192, 256, 8192 + 11, true},
                       FHT{16384, 64, 16384 + 11, false}})
    for (PadMode mode : {PadMode::Reflect, PadMode::Constant, PadMode::Circular})
      for (bool env : {false, true}) {
        if (env && !f.env_too) continue;
        Case c;
        c.g.n_fft = f.n_fft; c.g.hop = f.hop; c.g.length = f.T; c.g.pad = f.n_fft / 2; c.g.mode = mode;
        c.g.env_normalize = env;
        c.g.n_frames = full_frames(f.n_fft, f.hop, f.T, c.g.pad);
        c.batch = 2; c.window_kind = env ? 0 : 1;
        c.frames_offset = (mode == PadMode::Circular && !env) ? 1 : 0;
        if (geometry_valid(c.g)) cases.push_back(c);
      }
  // Batch beyond grid.y's 65535.
  {
    Case c;
    c.g.n_fft = 16; c.g.hop = 4; c.g.length = 20; c.g.pad = 8; c.g.mode = PadMode::Reflect;
    c.g.n_frames = full_frames(16, 4, 20, 8);
    c.batch = 70001;
    cases.push_back(c);
  }
  return cases;
}

// Launches with nothing to write must succeed without touching memory; out-of-contract ones must be refused.
template <typename V>
bool run_edge_cases() {
  using T = VT<V>;
  using R = typename T::R;
  const std::string name = T::name();
  DeviceBuffer<V> buf;
  DeviceBuffer<R> win;
  CHECK_CUDA(buf.alloc(4096, 0, 0));
  CHECK_CUDA(win.alloc(64, 0, 0));
  CHECK_CUDA(cudaMemset(win.data(), 0, 64 * sizeof(R)));
  CHECK_CUDA(buf.poison());

  Geometry g;
  g.n_fft = 64; g.hop = 16; g.length = 100; g.pad = 32; g.n_frames = full_frames(64, 16, 100, 32);
  g.mode = PadMode::Reflect;
  AnalysisParams<V> a;
  a.x = buf.data(); a.window = win.data(); a.frames = buf.data() + 1000; a.batch = 1; a.g = g;
  SynthesisParams<V> s;
  s.frames = buf.data(); s.window = win.data(); s.out = buf.data() + 3000; s.batch = 1; s.g = g;

  for (kc::Path path : {kc::Path::Auto, kc::Path::Tiled, kc::Path::Direct}) {
    const std::string p = name + " " + path_name(path);
    AnalysisParams<V> z = a;
    z.batch = 0;
    record(kc::launch_analysis(z, path, nullptr) == cudaSuccess, p + " analysis batch 0");
    z = a; z.g.n_frames = 0;
    record(kc::launch_analysis(z, path, nullptr) == cudaSuccess, p + " analysis n_frames 0");
    z = a; z.g.n_fft = 0;
    record(kc::launch_analysis(z, path, nullptr) == cudaSuccess, p + " analysis n_fft 0");
    z = a; z.g.hop = 0;
    record(kc::launch_analysis(z, path, nullptr) == cudaErrorInvalidValue, p + " analysis hop 0 refused");
    z = a; z.g.pad = 100;  // Reflect needs pad < T
    record(kc::launch_analysis(z, path, nullptr) == cudaErrorInvalidValue, p + " analysis reflect pad>=T refused");
    z = a; z.g.mode = PadMode::Circular; z.g.pad = 101;
    record(kc::launch_analysis(z, path, nullptr) == cudaErrorInvalidValue, p + " analysis circular pad>T refused");
    z = a; z.batch = -1;
    record(kc::launch_analysis(z, path, nullptr) == cudaErrorInvalidValue, p + " analysis batch<0 refused");

    SynthesisParams<V> y = s;
    y.batch = 0;
    record(kc::launch_synthesis(y, path, nullptr) == cudaSuccess, p + " synthesis batch 0");
    y = s; y.g.length = 0; y.g.mode = PadMode::Constant;
    record(kc::launch_synthesis(y, path, nullptr) == cudaSuccess, p + " synthesis length 0");
    y = s; y.g.hop = 0;
    record(kc::launch_synthesis(y, path, nullptr) == cudaErrorInvalidValue, p + " synthesis hop 0 refused");
  }
  CHECK_CUDA(cudaDeviceSynchronize());
  std::vector<unsigned char> bytes(static_cast<size_t>(buf.total()) * sizeof(V));
  CHECK_CUDA(cudaMemcpy(bytes.data(), buf.raw, bytes.size(), cudaMemcpyDeviceToHost));
  record(std::all_of(bytes.begin(), bytes.end(), [](unsigned char c) { return c == 0xff; }),
         name + " zero-size / refused launches wrote memory");

  // No frames at all: synthesis still writes every output sample, as zeros.
  for (kc::Path path : {kc::Path::Auto, kc::Path::Tiled, kc::Path::Direct}) {
    SynthesisParams<V> y = s;
    y.g.n_frames = 0; y.g.mode = PadMode::Constant; y.batch = 3;
    CHECK_CUDA(buf.poison());
    CHECK_CUDA(kc::launch_synthesis(y, path, nullptr));
    CHECK_CUDA(cudaDeviceSynchronize());
    std::vector<V> out(3 * 100);
    CHECK_CUDA(cudaMemcpy(out.data(), y.out, out.size() * sizeof(V), cudaMemcpyDeviceToHost));
    bool zeros = true;
    for (const V& v : out)
      for (int c = 0; c < T::kComps; ++c) zeros = zeros && T::comp(v, c) == 0;
    record(zeros, name + " " + path_name(path) + " synthesis with no frames writes zeros");
  }
  return true;
}

template <typename V>
void run_type(const std::vector<Case>& cases, size_t stride) {
  Coverage cov;
  const int failed_before = g_failed, passed_before = g_passed;
  uint64_t seed = 12345 + sizeof(V);
  for (size_t i = 0; i < cases.size(); i += stride) {
    if (!run_case<V>(cases[i], seed++, cov)) break;  // a CUDA error: later cases would only repeat it
  }
  run_edge_cases<V>();
  if (stride == 1) {
    record(cov.multi_frame_tiles > 0 && cov.split_bins > 0,
           std::string(VT<V>::name()) + " the grid must tile with F > 1 and with K < n_fft somewhere");
  }
  std::printf("%-5s %d checks passed, %d failed (tiles with F > 1 in %d geometries, K < n_fft in %d; "
              "Auto -> Direct in %d)\n", VT<V>::name(), g_passed - passed_before, g_failed - failed_before,
              cov.multi_frame_tiles, cov.split_bins, cov.auto_direct);
}

// ----------------------------------------------------------------------------------------------------------------
// --large: tensors past 2^31 (and one row past 2^32) elements; x is a hash of its index, so expected values are
// computed on the host for sampled frames / samples without copying the tensors back.
// ----------------------------------------------------------------------------------------------------------------
__host__ __device__ inline float hash_value(uint64_t i) {
  uint64_t z = i + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return static_cast<float>(static_cast<double>(z >> 40) * (2.0 / 16777216.0) - 1.0);
}

__global__ void fill_hash(float* x, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    x[i] = hash_value(static_cast<uint64_t>(i));
}

bool run_large(int64_t batch, int64_t T, int64_t n_fft, PadMode mode) {
  Geometry g;
  g.n_fft = n_fft; g.hop = n_fft; g.length = T; g.pad = n_fft / 2; g.mode = mode;
  g.n_frames = full_frames(n_fft, n_fft, T, g.pad);
  const int64_t nx = batch * T, nf = batch * g.n_frames * n_fft;
  char lbl[160];
  std::snprintf(lbl, sizeof(lbl), "large batch=%lld T=%lld n_fft=hop=%lld %s", (long long)batch, (long long)T,
                (long long)n_fft, mode_name(mode));
  std::printf("%s: x %.1f GB, frames %.1f GB, out %.1f GB\n", lbl, nx * 4e-9, nf * 4e-9, nx * 4e-9);
  Rng rng(7);
  const std::vector<float> window = make_window<float>(n_fft, 0, rng);
  const float sa = 0.5f, ss = 2.0f;

  float *x = nullptr, *frames = nullptr, *out = nullptr, *w = nullptr;
  CHECK_CUDA(cudaMalloc(&x, nx * sizeof(float)));
  CHECK_CUDA(cudaMalloc(&frames, nf * sizeof(float)));
  CHECK_CUDA(cudaMalloc(&out, nx * sizeof(float)));
  CHECK_CUDA(cudaMalloc(&w, n_fft * sizeof(float)));
  CHECK_CUDA(cudaMemcpy(w, window.data(), n_fft * sizeof(float), cudaMemcpyHostToDevice));
  fill_hash<<<4096, 256>>>(x, nx);
  CHECK_CUDA(cudaGetLastError());

  AnalysisParams<float> a;
  a.x = x; a.window = w; a.frames = frames; a.batch = batch; a.g = g; a.scale = sa;
  SynthesisParams<float> s;
  s.frames = frames; s.window = w; s.out = out; s.batch = batch; s.g = g; s.scale = ss;

  // Sampled rows: the first and last frames of every batch row and some in between.
  std::vector<int64_t> rows;
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t n : {int64_t(0), int64_t(1), g.n_frames / 2, g.n_frames - 2, g.n_frames - 1})
      rows.push_back(b * g.n_frames + n);
    for (int i = 0; i < 64; ++i) {
      rows.push_back(b * g.n_frames + static_cast<int64_t>(splitmix64(i + 99 * b) % g.n_frames));
    }
  }
  std::vector<float> got(n_fft);
  for (kc::Path path : {kc::Path::Tiled, kc::Path::Direct}) {
    const std::string what = std::string(lbl) + " analysis/" + path_name(path);
    CHECK_CUDA(cudaMemset(frames, 0xff, nf * sizeof(float)));
    CHECK_CUDA(kc::launch_analysis(a, path, nullptr));
    CHECK_CUDA(cudaDeviceSynchronize());
    int64_t bad = 0;
    for (int64_t r : rows) {
      CHECK_CUDA(cudaMemcpy(got.data(), frames + r * n_fft, n_fft * sizeof(float), cudaMemcpyDeviceToHost));
      const int64_t b = r / g.n_frames, n = r % g.n_frames;
      for (int64_t k = 0; k < n_fft; ++k) {
        const int64_t i = pad_source(n * g.hop + k, g);
        const float expect = i < 0 ? 0.0f : hash_value(static_cast<uint64_t>(b * T + i)) * (sa * window[k]);
        if (!(got[k] == expect)) {
          if (bad == 0) {
            std::printf("  %s row %lld k %lld: got %g want %g\n", what.c_str(), (long long)r, (long long)k, got[k],
                        expect);
          }
          ++bad;
        }
      }
    }
    record(bad == 0, what + " (" + std::to_string(bad) + " mismatches)");
  }

  // Synthesis of those frames (hop == n_fft: every padded position in exactly one frame).
  std::vector<int64_t> samples;
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t t : {int64_t(0), int64_t(1), T / 2, T - 2, T - 1}) samples.push_back(b * T + t);
    for (int i = 0; i < 4096; ++i) samples.push_back(b * T + static_cast<int64_t>(splitmix64(i + 7777 * b) % T));
  }
  for (kc::Path path : {kc::Path::Tiled, kc::Path::Direct}) {
    const std::string what = std::string(lbl) + " synthesis/" + path_name(path);
    CHECK_CUDA(cudaMemset(out, 0xff, nx * sizeof(float)));
    CHECK_CUDA(kc::launch_synthesis(s, path, nullptr));
    CHECK_CUDA(cudaDeviceSynchronize());
    int64_t bad = 0;
    for (int64_t e : samples) {
      float v = 0;
      CHECK_CUDA(cudaMemcpy(&v, out + e, sizeof(float), cudaMemcpyDeviceToHost));
      const int64_t b = e / T, t = e % T;
      // Preimages found independently of for_each_preimage: every candidate position that pad_source maps to t
      // (Reflect / Circular: direct, mirrored or wrapped, each at most once). (A host lambda passed to the
      // __host__ __device__ for_each_preimage does not compile under nvcc: its operator() is implicitly constexpr.)
      double expect = 0, mag = 0;
      const int64_t candidates[] = {t + g.pad, g.pad - t, g.pad + 2 * (T - 1) - t, t + g.pad - T, t + g.pad + T};
      for (int c = 0; c < 5; ++c) {
        const int64_t p = candidates[c];
        bool seen = false;
        for (int d = 0; d < c; ++d) seen = seen || candidates[d] == p;
        if (seen || p < 0 || p >= g.span() || pad_source(p, g) != t) continue;
        const int64_t k = p % n_fft;
        const float f = hash_value(static_cast<uint64_t>(b * T + t)) * (sa * window[k]);
        expect += static_cast<double>(f * window[k]);
        mag += std::fabs(static_cast<double>(f * window[k]));
      }
      expect *= ss;
      mag *= ss;
      if (!(std::fabs(v - expect) <= 1e-6 * mag + 1e-30)) {
        if (bad == 0) std::printf("  %s t %lld: got %g want %g\n", what.c_str(), (long long)e, v, expect);
        ++bad;
      }
    }
    record(bad == 0, what + " (" + std::to_string(bad) + " mismatches)");
  }
  cudaFree(x); cudaFree(frames); cudaFree(out); cudaFree(w);
  return true;
}

// ----------------------------------------------------------------------------------------------------------------
// --bench: median kernel times, Tiled vs Direct, against a device-to-device copy of the same output size.
// ----------------------------------------------------------------------------------------------------------------
template <typename F>
float median_ms(F&& launch, int reps) {
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  for (int i = 0; i < 3; ++i) launch();
  std::vector<float> ts;
  for (int i = 0; i < reps; ++i) {
    cudaEventRecord(e0);
    launch();
    cudaEventRecord(e1);
    cudaEventSynchronize(e1);
    float ms = 0;
    cudaEventElapsedTime(&ms, e0, e1);
    ts.push_back(ms);
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  std::sort(ts.begin(), ts.end());
  return ts[ts.size() / 2];
}

template <typename V>
__global__ void fill_hash_values(V* x, int64_t n, uint64_t seed) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    if constexpr (sizeof(V) == sizeof(typename VT<V>::R)) {
      x[i] = static_cast<V>(hash_value(seed + 2 * i));
    } else {
      x[i] = {hash_value(seed + 2 * i), hash_value(seed + 2 * i + 1)};
    }
  }
}

template <typename V>
bool run_bench(int64_t batch, int64_t T) {
  using R = typename VT<V>::R;
  std::printf("\n%s batch=%lld T=%lld reflect pad n_fft/2. ms = median of 20; GB/s counts each input read once and "
              "each output written once; copy = cudaMemcpy D2D of the frames (read + write)\n",
              VT<V>::name(), (long long)batch, (long long)T);
  std::printf("%6s %5s %3s | %9s %9s %7s | %9s %9s %7s | %7s\n", "n_fft", "hop", "env", "ana tiled", "ana direct",
              "GB/s", "syn tiled", "syn direct", "GB/s", "copy");
  struct FH { int64_t n_fft, hop; };
  for (const FH& fh : {FH{64, 16}, FH{256, 64}, FH{1024, 256}, FH{2048, 512}, FH{4096, 1024}, FH{8192, 2048},
                       FH{16384, 4096}, FH{1024, 1024}, FH{1024, 2048}, FH{1000, 333}}) {
    Geometry g;
    g.n_fft = fh.n_fft; g.hop = fh.hop; g.length = T; g.pad = fh.n_fft / 2; g.mode = PadMode::Reflect;
    g.n_frames = full_frames(g.n_fft, g.hop, T, g.pad);
    const int64_t nx = batch * T, nf = batch * g.n_frames * g.n_fft;
    V *x = nullptr, *frames = nullptr, *out = nullptr, *copy = nullptr;
    R* w = nullptr;
    CHECK_CUDA(cudaMalloc(&x, nx * sizeof(V)));
    CHECK_CUDA(cudaMalloc(&frames, nf * sizeof(V)));
    CHECK_CUDA(cudaMalloc(&copy, nf * sizeof(V)));
    CHECK_CUDA(cudaMalloc(&out, nx * sizeof(V)));
    CHECK_CUDA(cudaMalloc(&w, g.n_fft * sizeof(R)));
    Rng rng(3);
    const std::vector<R> window = make_window<R>(g.n_fft, 0, rng);
    CHECK_CUDA(cudaMemcpy(w, window.data(), g.n_fft * sizeof(R), cudaMemcpyHostToDevice));
    fill_hash_values<<<1024, 256>>>(x, nx, 1);
    fill_hash_values<<<1024, 256>>>(frames, nf, 2);
    CHECK_CUDA(cudaGetLastError());
    const float copy_ms =
        median_ms([&] { cudaMemcpyAsync(copy, frames, nf * sizeof(V), cudaMemcpyDeviceToDevice); }, 20);
    const double copy_gb = 2.0 * nf * sizeof(V) * 1e-9;
    const double gb = (nx + nf) * sizeof(V) * 1e-9;
    for (bool env : {false, true}) {
      g.env_normalize = env;
      AnalysisParams<V> a;
      a.x = x; a.window = w; a.frames = copy; a.batch = batch; a.g = g;
      SynthesisParams<V> s;
      s.frames = frames; s.window = w; s.out = out; s.batch = batch; s.g = g;
      cudaError_t e1 = cudaSuccess, e2 = cudaSuccess, e3 = cudaSuccess, e4 = cudaSuccess;
      const float at = median_ms([&] { e1 = kc::launch_analysis(a, kc::Path::Tiled, nullptr); }, 20);
      const float ad = median_ms([&] { e2 = kc::launch_analysis(a, kc::Path::Direct, nullptr); }, 20);
      const float st = median_ms([&] { e3 = kc::launch_synthesis(s, kc::Path::Tiled, nullptr); }, 20);
      const float sd = median_ms([&] { e4 = kc::launch_synthesis(s, kc::Path::Direct, nullptr); }, 20);
      CHECK_CUDA(e1); CHECK_CUDA(e2); CHECK_CUDA(e3); CHECK_CUDA(e4);
      std::printf("%6lld %5lld %3d | %9.3f %9.3f %7.0f | %9.3f %9.3f %7.0f | %7.0f\n", (long long)g.n_fft,
                  (long long)g.hop, env, at, ad, gb / std::min(at, ad) * 1e3, st, sd, gb / std::min(st, sd) * 1e3,
                  copy_gb / copy_ms * 1e3);
    }
    CHECK_CUDA(cudaDeviceSynchronize());
    cudaFree(x); cudaFree(frames); cudaFree(copy); cudaFree(out); cudaFree(w);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  bool large = false, bench = false;
  size_t stride = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--large") == 0) {
      large = true;
    } else if (std::strcmp(argv[i], "--bench") == 0) {
      bench = true;
    } else if (std::strcmp(argv[i], "--stride") == 0 && i + 1 < argc && std::atoi(argv[i + 1]) > 0) {
      stride = static_cast<size_t>(std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: %s [--large] [--bench] [--stride N]\n", argv[0]);
      return 2;
    }
  }
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("no CUDA device: compiled only\n");
    return 0;
  }
  cudaDeviceProp prop;
  if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) {
    std::printf("device: %s, %d SMs\n", prop.name, prop.multiProcessorCount);
  }

  if (bench) {
    run_bench<float>(4, 4 << 20);
    run_bench<double>(4, 4 << 20);
    run_bench<Complex<float>>(4, 4 << 20);
    run_bench<Complex<double>>(2, 4 << 20);
  } else {
    const std::vector<Case> cases = make_cases();
    std::printf("%zu geometries x 4 value types\n", cases.size());
    run_type<float>(cases, stride);
    run_type<double>(cases, stride);
    run_type<Complex<float>>(cases, stride);
    run_type<Complex<double>>(cases, stride);
    if (large) {
      run_large(1, (int64_t(1) << 32) + 4099, 1024, PadMode::Reflect);  // one row past 2^32 elements
      run_large(3, 800000011, 1000, PadMode::Circular);                 // 2.4e9 elements over 3 rows
    }
  }
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
