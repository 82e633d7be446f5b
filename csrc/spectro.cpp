// spectro — the operator library: every schema, argument validation, the device-independent halves of the two
// core ops (FFT orchestration), and the CPU and Meta implementations.
//
// Ops (spectro/functional.py is the Python side, csrc/autograd.cpp the autograd):
//   spectro::analysis   x[B, T] -> spectrum[B, F, N]  (pad + frame + window (+1/envelope) -> FFT)
//   spectro::synthesis  spectrum[B, F, N] -> y[B, L]  (inverse FFT -> window -> overlap-add (+1/envelope) -> fold/trim)
// The two are transposes of each other for matching (geometry, fft_mode) pairs, so each one's backward is the other.
// Input dtypes: x is float32 / float64 (real fft modes) or complex64 / complex128 (fft_mode 'fft'), spec complex64 /
// complex128; half precision is accepted too (float16 / bfloat16 x, complex32 x or spec), read as it is stored and
// computed in single precision, so its window must be float32 (compute_type_of in spectro.h). The fused CUDA kernels
// load half inputs themselves; the other paths convert them to single precision in one pass first.
// out_dtype (optional, last): store the result in half precision (complex32 for a complex64 result, float16 or
// bfloat16 for float32): computed in single precision, then rounded once per element (spectro.stft / istft's
// kernel_dtype="mixed").
#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

#include <atomic>

#include "kernels/cpu/frame_ola.h"
#include "spectro.h"

namespace spectro {

using kernels::Geometry;
using kernels::PadMode;

FftMode parse_analysis_mode(const std::string& s) {
  if (s == "rfft") return FftMode::Rfft;
  if (s == "rfft_full") return FftMode::RfftFull;
  if (s == "fft") return FftMode::Fft;
  if (s == "rfft_double") return FftMode::RfftDouble;
  TORCH_CHECK(false, "spectro::analysis: fft_mode must be one of 'rfft', 'rfft_full', 'fft', 'rfft_double', but got '",
              s, "'");
}

FftMode parse_synthesis_mode(const std::string& s) {
  if (s == "irfft") return FftMode::Irfft;
  if (s == "irfft_half") return FftMode::IrfftHalf;
  if (s == "ifft") return FftMode::Ifft;
  if (s == "ifft_real") return FftMode::IfftReal;
  TORCH_CHECK(false, "spectro::synthesis: fft_mode must be one of 'irfft', 'irfft_half', 'ifft', 'ifft_real', but got '",
              s, "'");
}

PadMode parse_pad_mode(const std::string& s) {
  if (s == "constant") return PadMode::Constant;
  if (s == "reflect") return PadMode::Reflect;
  if (s == "replicate") return PadMode::Replicate;
  if (s == "circular") return PadMode::Circular;
  TORCH_CHECK(false, "pad_mode must be one of 'constant', 'reflect', 'replicate', 'circular', but got '", s, "'");
}

int64_t spectrum_bins(FftMode mode, int64_t n_fft) {
  switch (mode) {
    case FftMode::Rfft:
    case FftMode::RfftDouble:
    case FftMode::Irfft:
    case FftMode::IrfftHalf:
      return n_fft / 2 + 1;
    default:
      return n_fft;
  }
}

static bool is_real_mode(FftMode mode) {
  // Modes whose signal side (x for analysis, y for synthesis) is real.
  return mode != FftMode::Fft && mode != FftMode::Ifft;
}

namespace {
std::atomic<int64_t> g_kernel_path{0};

int64_t set_kernel_path(int64_t path) {
  TORCH_CHECK(path >= 0 && path <= 4,
              "spectro::_set_kernel_path: path must be 0 (auto), 1 (tiled), 2 (direct), 3 (fused) or 4 (two_kernel), "
              "but got ", path);
  return g_kernel_path.exchange(path);
}
}  // namespace

int64_t kernel_path() { return g_kernel_path.load(); }

Geometry check_geometry(const char* op, int64_t n_fft, int64_t hop_length, int64_t n_frames, int64_t signal_length,
                        int64_t pad, const std::string& pad_mode, bool env_normalize) {
  TORCH_CHECK(n_fft > 0, op, ": expected n_fft > 0, but got n_fft=", n_fft);
  TORCH_CHECK(hop_length > 0, op, ": expected hop_length > 0, but got hop_length=", hop_length);
  TORCH_CHECK(n_frames > 0, op, ": expected n_frames > 0, but got n_frames=", n_frames);
  TORCH_CHECK(signal_length > 0, op, ": expected a signal length > 0, but got ", signal_length);
  TORCH_CHECK(pad >= 0, op, ": expected pad >= 0, but got pad=", pad);
  Geometry g;
  g.n_fft = n_fft;
  g.hop = hop_length;
  g.n_frames = n_frames;
  g.length = signal_length;
  g.pad = pad;
  g.mode = parse_pad_mode(pad_mode);
  g.env_normalize = env_normalize;
  // Overflow-safe span: n_fft + hop * (n_frames - 1) must fit comfortably in int64.
  TORCH_CHECK(n_frames - 1 <= (INT64_MAX / 4 - n_fft) / hop_length, op, ": n_frames=", n_frames, " with hop_length=",
              hop_length, " overflows the signal index range");
  const int64_t span = g.span();
  switch (g.mode) {
    case PadMode::Reflect:
      TORCH_CHECK(pad < signal_length, op, ": pad_mode='reflect' needs the padding (", pad,
                  ") to be smaller than the signal length (", signal_length, ")");
      TORCH_CHECK(span <= signal_length + 2 * pad, op, ": frames span ", span,
                  " samples, more than the reflect-padded signal (", signal_length + 2 * pad, ")");
      break;
    case PadMode::Circular:
      TORCH_CHECK(pad <= signal_length, op, ": pad_mode='circular' needs the padding (", pad,
                  ") to be at most the signal length (", signal_length, ")");
      TORCH_CHECK(span <= signal_length + 2 * pad, op, ": frames span ", span,
                  " samples, more than the circular-padded signal (", signal_length + 2 * pad, ")");
      break;
    default:
      break;
  }
  return g;
}

void check_window(const char* op, const at::Tensor& window, int64_t n_fft, const at::Tensor& like) {
  // (The window's dtype is checked with the input's, by check_input_dtypes.)
  TORCH_CHECK(window.dim() == 1 && window.size(0) == n_fft, op, ": expected a 1D window of size n_fft=", n_fft,
              ", but got window with size ", window.sizes());
  TORCH_CHECK(window.device() == like.device(), op, ": expected window on device ", like.device(), ", but got ",
              window.device());
}

// Python's names for the dtypes of error messages (c10 prints ComplexHalf, Half, ...).
static const char* dtype_name(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kHalf: return "float16";
    case at::kBFloat16: return "bfloat16";
    case at::kComplexHalf: return "complex32";
    case at::kComplexFloat: return "complex64";
    case at::kComplexDouble: return "complex128";
    default: return c10::toString(t);
  }
}

// The dtypes of an op's input (`name`: x or spec) and window, shared by the device and Meta kernels. The input is
// real (float32, float64, float16, bfloat16) or complex (complex64, complex128, complex32) as the fft mode says; the
// window is real in the input's compute dtype, which for half precision is single precision (compute_type_of): a
// half input with a float64 window is refused rather than computed in double from a half input (spectro.stft /
// istft convert such inputs themselves).
static void check_input_dtypes(const char* op, const char* name, const at::Tensor& input, const at::Tensor& window,
                               bool want_complex, c10::string_view fft_mode) {
  const auto st = input.scalar_type();
  if (want_complex) {
    TORCH_CHECK(st == at::kComplexFloat || st == at::kComplexDouble || st == at::kComplexHalf, op, ": expected ",
                name, " of dtype complex64, complex128 or complex32 for fft_mode='", fft_mode, "', but got ",
                dtype_name(st));
  } else {
    TORCH_CHECK(st == at::kFloat || st == at::kDouble || st == at::kHalf || st == at::kBFloat16, op, ": expected ",
                name, " of dtype float32, float64, float16 or bfloat16 for fft_mode='", fft_mode, "', but got ",
                dtype_name(st));
  }
  const auto compute = compute_type_of(st);
  const auto real_type = c10::toRealValueType(compute);
  TORCH_CHECK(window.scalar_type() == real_type, op, ": expected window of dtype ", dtype_name(real_type), " for ",
              name, " of dtype ", dtype_name(st),
              compute != st ? " (half precision is computed in single precision)" : "", ", but got window of dtype ",
              dtype_name(window.scalar_type()));
}

at::ScalarType check_out_dtype(const char* op, std::optional<at::ScalarType> out_dtype, at::ScalarType computed) {
  if (!out_dtype.has_value() || *out_dtype == computed) return computed;
  const at::ScalarType t = *out_dtype;
  switch (computed) {
    case at::kComplexFloat:
      TORCH_CHECK(t == at::kComplexHalf, op, ": out_dtype must be None, complex64 or complex32 for a complex64 ",
                  "result, but got out_dtype=", dtype_name(t));
      break;
    case at::kFloat:
      TORCH_CHECK(t == at::kHalf || t == at::kBFloat16, op, ": out_dtype must be None, float32, float16 or bfloat16 ",
                  "for a float32 result, but got out_dtype=", dtype_name(t));
      break;
    default:
      TORCH_CHECK(false, op, ": out_dtype must be None or ", dtype_name(computed), " for a ", dtype_name(computed),
                  " result (half-precision outputs are computed in single precision), but got out_dtype=",
                  dtype_name(t));
  }
  return t;
}

at::Tensor to_out_dtype(const OpArgs& a, const at::Tensor& result) {
  // .to() keeps the strides of a dense tensor (the analysis result is a transposed view of a frame-major buffer).
  return result.scalar_type() == a.out_type ? result : result.to(a.out_type);
}

OpArgs check_analysis(const at::Tensor& x, const at::Tensor& window, int64_t n_fft, int64_t hop_length,
                      int64_t n_frames, int64_t pad, const std::string& pad_mode, bool env_normalize,
                      const std::string& fft_mode, double scale, std::optional<at::ScalarType> out_dtype) {
  const char* op = "spectro::analysis";
  OpArgs a;
  a.mode = parse_analysis_mode(fft_mode);
  TORCH_CHECK(x.dim() == 2, op, ": expected x of shape [batch, time], but got ", x.sizes());
  check_input_dtypes(op, "x", x, window, !is_real_mode(a.mode), fft_mode);
  check_window(op, window, n_fft, x);
  a.g = check_geometry(op, n_fft, hop_length, n_frames, x.size(1), pad, pad_mode, env_normalize);
  a.input = x.contiguous();  // a half x stays half (OpArgs::input)
  a.window = window.contiguous();
  a.bins = spectrum_bins(a.mode, n_fft);
  a.scale = scale;
  a.signal_type = compute_type_of(x.scalar_type());
  a.complex_type = c10::toComplexType(c10::toRealValueType(a.signal_type));
  a.out_type = check_out_dtype(op, out_dtype, a.complex_type);
  return a;
}

OpArgs check_synthesis(const at::Tensor& spec, const at::Tensor& window, int64_t n_fft, int64_t hop_length,
                       int64_t length, int64_t pad, const std::string& pad_mode, bool env_normalize,
                       const std::string& fft_mode, double scale, std::optional<at::ScalarType> out_dtype) {
  const char* op = "spectro::synthesis";
  OpArgs a;
  a.mode = parse_synthesis_mode(fft_mode);
  TORCH_CHECK(spec.dim() == 3, op, ": expected spec of shape [batch, bins, frames], but got ", spec.sizes());
  check_input_dtypes(op, "spec", spec, window, /*want_complex=*/true, fft_mode);
  a.bins = spectrum_bins(a.mode, n_fft);
  TORCH_CHECK(spec.size(1) == a.bins, op, ": fft_mode='", fft_mode, "' with n_fft=", n_fft, " expects ", a.bins,
              " frequency bins, but spec has ", spec.size(1));
  check_window(op, window, n_fft, spec);
  a.g = check_geometry(op, n_fft, hop_length, spec.size(2), length, pad, pad_mode, env_normalize);
  a.input = spec;  // any strides; a complex32 spec stays complex32 (OpArgs::input)
  a.window = window.contiguous();
  a.scale = scale;
  a.complex_type = compute_type_of(spec.scalar_type());
  a.signal_type = is_real_mode(a.mode) ? c10::toRealValueType(a.complex_type) : a.complex_type;
  a.out_type = check_out_dtype(op, out_dtype, a.signal_type);
  return a;
}

at::Tensor empty_analysis(const OpArgs& a) {
  return at::empty({0, a.g.n_frames, a.bins}, a.input.options().dtype(a.out_type)).transpose(1, 2);
}

at::Tensor empty_synthesis(const OpArgs& a) {
  return at::empty({0, a.g.length}, a.input.options().dtype(a.out_type));
}

at::Tensor analysis_via_frames(const OpArgs& a, FramesFn frames_fn) {
  const int64_t n_fft = a.g.n_fft;
  // The framing kernels and ATen's FFT read single or double precision: a half x is converted first (one pass), so
  // this path gives exactly the op's result on the converted tensor.
  const at::Tensor x = a.input.scalar_type() == a.signal_type ? a.input : a.input.to(a.signal_type);
  at::Tensor frames = at::empty({x.size(0), a.g.n_frames, n_fft}, x.options());
  frames_fn(x, a.window, frames, a.g, a.scale);
  at::Tensor spec;
  switch (a.mode) {
    case FftMode::Rfft:
      spec = at::_fft_r2c(frames, {2}, /*normalization=*/0, /*onesided=*/true);
      break;
    case FftMode::RfftFull:
      spec = at::_fft_r2c(frames, {2}, 0, /*onesided=*/false);
      break;
    case FftMode::Fft:
      spec = at::_fft_c2c(frames, {2}, 0, /*forward=*/true);
      break;
    case FftMode::RfftDouble:
      spec = at::_fft_r2c(frames, {2}, 0, true);
      if (n_fft - a.bins > 0) spec.narrow(2, 1, n_fft - a.bins).mul_(2);
      break;
    default:
      TORCH_INTERNAL_ASSERT(false);
  }
  return spec.transpose(1, 2);
}

at::Tensor synthesis_via_frames(const OpArgs& a, OverlapAddFn ola_fn) {
  const int64_t n_fft = a.g.n_fft;
  // ATen's FFT reads single or double precision (torch has few complex32 ops): a complex32 spec is converted first
  // (one pass), so this path gives exactly the op's result on the converted tensor.
  at::Tensor spec = a.input.scalar_type() == a.complex_type ? a.input : a.input.to(a.complex_type);
  // A spectrum with a zero stride (an expanded tensor: a broadcast istft input, or the gradient of a sum reaching
  // the analysis backward) is copied first: the MKL FFT of torch 2.6 and older rejects zero strides ("Intel oneMKL
  // DFTI ERROR: Inconsistent configuration parameters"). Other layouts go to the FFT as they are.
  for (int64_t d = 0; d < spec.dim(); ++d) {
    if (spec.stride(d) == 0 && spec.size(d) > 1) {
      spec = spec.contiguous();
      break;
    }
  }
  const at::Tensor st = spec.transpose(1, 2);  // [batch, frames, bins]
  at::Tensor frames;
  switch (a.mode) {
    case FftMode::Irfft:
      frames = at::_fft_c2r(st, {2}, 0, n_fft);
      break;
    case FftMode::IrfftHalf: {
      // Transpose of the onesided rfft: bins 1 .. n_fft - bins carry half weight before the Hermitian irfft.
      at::Tensor weight = at::ones({a.bins}, spec.options().dtype(a.signal_type));
      if (n_fft - a.bins > 0) weight.narrow(0, 1, n_fft - a.bins).fill_(0.5);
      frames = at::_fft_c2r(st * weight, {2}, 0, n_fft);
      break;
    }
    case FftMode::Ifft:
      frames = at::_fft_c2c(st, {2}, 0, /*forward=*/false);
      break;
    case FftMode::IfftReal:
      frames = at::real(at::_fft_c2c(st, {2}, 0, /*forward=*/false));
      break;
    default:
      TORCH_INTERNAL_ASSERT(false);
  }
  frames = frames.contiguous();
  at::Tensor out = at::empty({spec.size(0), a.g.length}, frames.options());
  ola_fn(frames, a.window, out, a.g, a.scale);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// CPU
namespace {

struct AtenParallelFor {
  template <typename F>
  void operator()(int64_t begin, int64_t end, int64_t grain, F&& fn) const {
    at::parallel_for(begin, end, grain, fn);
  }
};

void cpu_frames(const at::Tensor& x, const at::Tensor& window, at::Tensor& frames, const Geometry& g, double scale) {
  with_analysis_params(x, window, frames, g, scale, [](auto& a) { kernels::cpu::analysis(a, AtenParallelFor{}); });
}

void cpu_overlap_add(const at::Tensor& frames, const at::Tensor& window, at::Tensor& out, const Geometry& g,
                     double scale) {
  with_synthesis_params(frames, window, out, g, scale,
                        [](auto& s) { kernels::cpu::synthesis(s, AtenParallelFor{}); });
}

at::Tensor analysis_cpu(const at::Tensor& x, const at::Tensor& window, int64_t n_fft, int64_t hop_length,
                        int64_t n_frames, int64_t pad, c10::string_view pad_mode, bool env_normalize,
                        c10::string_view fft_mode, double scale, std::optional<at::ScalarType> out_dtype) {
  const OpArgs a = check_analysis(x, window, n_fft, hop_length, n_frames, pad, std::string(pad_mode), env_normalize,
                                  std::string(fft_mode), scale, out_dtype);
  if (x.size(0) == 0) return empty_analysis(a);
  // out_dtype: computed in single precision, then rounded once per element (a conversion pass).
  return to_out_dtype(a, analysis_via_frames(a, &cpu_frames));
}

at::Tensor synthesis_cpu(const at::Tensor& spec, const at::Tensor& window, int64_t n_fft, int64_t hop_length,
                         int64_t length, int64_t pad, c10::string_view pad_mode, bool env_normalize,
                         c10::string_view fft_mode, double scale, std::optional<at::ScalarType> out_dtype) {
  const OpArgs a = check_synthesis(spec, window, n_fft, hop_length, length, pad, std::string(pad_mode),
                                   env_normalize, std::string(fft_mode), scale, out_dtype);
  if (spec.size(0) == 0) return empty_synthesis(a);
  // out_dtype: computed in single precision, then rounded once per element (a conversion pass).
  return to_out_dtype(a, synthesis_via_frames(a, &cpu_overlap_add));
}

// ---------------------------------------------------------------------------------------------------------------
// Meta: shapes, dtypes and strides only (symbolic sizes allowed).
at::Tensor analysis_meta(const at::Tensor& x, const at::Tensor& window, int64_t n_fft, int64_t hop_length,
                         c10::SymInt n_frames, int64_t pad, c10::string_view pad_mode, bool env_normalize,
                         c10::string_view fft_mode, double scale, std::optional<at::ScalarType> out_dtype) {
  const char* op = "spectro::analysis";
  const FftMode mode = parse_analysis_mode(std::string(fft_mode));
  parse_pad_mode(std::string(pad_mode));
  TORCH_CHECK(x.dim() == 2, op, ": expected x of shape [batch, time], but got ", x.sym_sizes());
  TORCH_CHECK(window.dim() == 1, op, ": expected a 1D window, but got ", window.dim(), " dims");
  check_input_dtypes(op, "x", x, window, !is_real_mode(mode), fft_mode);
  const auto complex_type = c10::toComplexType(c10::toRealValueType(compute_type_of(x.scalar_type())));
  const auto out_type = check_out_dtype(op, out_dtype, complex_type);
  return at::empty_symint({x.sym_size(0), n_frames, c10::SymInt(spectrum_bins(mode, n_fft))},
                          x.options().dtype(out_type))
      .transpose(1, 2);
}

at::Tensor synthesis_meta(const at::Tensor& spec, const at::Tensor& window, int64_t n_fft, int64_t hop_length,
                          c10::SymInt length, int64_t pad, c10::string_view pad_mode, bool env_normalize,
                          c10::string_view fft_mode, double scale, std::optional<at::ScalarType> out_dtype) {
  const char* op = "spectro::synthesis";
  const FftMode mode = parse_synthesis_mode(std::string(fft_mode));
  parse_pad_mode(std::string(pad_mode));
  TORCH_CHECK(spec.dim() == 3, op, ": expected spec of shape [batch, bins, frames], but got ", spec.sym_sizes());
  TORCH_CHECK(window.dim() == 1, op, ": expected a 1D window, but got ", window.dim(), " dims");
  check_input_dtypes(op, "spec", spec, window, /*want_complex=*/true, fft_mode);
  const auto complex_type = compute_type_of(spec.scalar_type());
  const auto signal_type = is_real_mode(mode) ? c10::toRealValueType(complex_type) : complex_type;
  const auto out_type = check_out_dtype(op, out_dtype, signal_type);
  return at::empty_symint({spec.sym_size(0), std::move(length)}, spec.options().dtype(out_type));
}

}  // namespace
}  // namespace spectro

TORCH_LIBRARY(spectro, m) {
  m.def(
      "analysis(Tensor x, Tensor window, int n_fft, int hop_length, SymInt n_frames, int pad, str pad_mode, "
      "bool env_normalize, str fft_mode, float scale, ScalarType? out_dtype=None) -> Tensor");
  m.def(
      "synthesis(Tensor spec, Tensor window, int n_fft, int hop_length, SymInt length, int pad, str pad_mode, "
      "bool env_normalize, str fft_mode, float scale, ScalarType? out_dtype=None) -> Tensor");
  m.def("_set_kernel_path(int path) -> int", &spectro::set_kernel_path);
}

TORCH_LIBRARY_IMPL(spectro, CPU, m) {
  m.impl("analysis", &spectro::analysis_cpu);
  m.impl("synthesis", &spectro::synthesis_cpu);
}

TORCH_LIBRARY_IMPL(spectro, Meta, m) {
  m.impl("analysis", TORCH_FN(spectro::analysis_meta));
  m.impl("synthesis", TORCH_FN(spectro::synthesis_meta));
}
