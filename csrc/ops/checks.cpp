// spectro — the core ops' argument checks, shared by every backend and Meta: FFT and pad modes, the geometry, the
// window, the dtypes, the optional half-precision result dtype.
#include <c10/util/Exception.h>

#include "ops.h"

namespace spectro {

using kernels::Geometry;
using kernels::PadMode;
using kernels::spectrum_bins;

// The mode named `s`, which must be one of the op's own direction (analysis or synthesis).
static FftMode parse_mode(const char* op, const std::string& s, bool analysis) {
  FftMode m;
  if (!kernels::parse_fft_mode(s.c_str(), &m) || kernels::is_analysis(m) != analysis) {
    std::string allowed;
    for (int i = 0; i < kernels::kFftModes; ++i) {
      if (kernels::is_analysis(static_cast<FftMode>(i)) != analysis) continue;
      allowed += (allowed.empty() ? "'" : ", '") + std::string(kernels::kFftModeNames[i]) + "'";
    }
    TORCH_CHECK(false, op, ": fft_mode must be one of ", allowed, ", but got '", s, "'");
  }
  return m;
}

FftMode parse_analysis_mode(const std::string& s) { return parse_mode("spectro::analysis", s, true); }
FftMode parse_synthesis_mode(const std::string& s) { return parse_mode("spectro::synthesis", s, false); }

PadMode parse_pad_mode(const std::string& s) {
  if (s == "constant") return PadMode::Constant;
  if (s == "reflect") return PadMode::Reflect;
  if (s == "replicate") return PadMode::Replicate;
  if (s == "circular") return PadMode::Circular;
  TORCH_CHECK(false, "pad_mode must be one of 'constant', 'reflect', 'replicate', 'circular', but got '", s, "'");
}

using kernels::spectrum_bins;



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
const char* dtype_name(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kHalf: return "float16";
    case at::kBFloat16: return "bfloat16";
    case at::kComplexHalf: return "complex32";
    case at::kComplexFloat: return "complex64";
    case at::kComplexDouble: return "complex128";
    case at::kByte: return "uint8";
    case at::kChar: return "int8";
    case at::kShort: return "int16";
    case at::kInt: return "int32";
    case at::kLong: return "int64";
    case at::kBool: return "bool";
    default: return c10::toString(t);
  }
}

// The dtypes of an op's input (`name`: x or spec) and window, shared by the device and Meta kernels. The input is
// real (float32, float64, float16, bfloat16) or complex (complex64, complex128, complex32) as the fft mode says; the
// window is real in the input's compute dtype, which for half precision is single precision (compute_type_of): a
// half input with a float64 window is refused rather than computed in double from a half input (spectro.stft /
// istft convert such inputs themselves).
void check_input_dtypes(const char* op, const char* name, const at::Tensor& input, const at::Tensor& window,
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

}  // namespace spectro
