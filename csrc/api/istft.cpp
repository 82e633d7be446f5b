// spectro — spectro::istft: torch.istft's semantics (defaults, checks, window resolution, trimming, dtype promotion,
// complex windows) and spectro's NOLA policy (torch_like, safety) as a composite op over spectro::synthesis.
//
// Registered at CompositeImplicitAutograd, as spectro::stft (stft.cpp): autograd, torch.compile and torch.export see
// the spectro::synthesis calls it makes. The NOLA check reads one scalar on the host; it is skipped while tensors are
// traced and during CUDA graph capture (nola.h).
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

#include <cmath>

#include <spectro/spectro.h>
#include "../kernels/common.h"
#include "../ops/ops.h"
#include "../ops/aten_geometry.h"
#include "istft.h"
#include "nola.h"
#include "semantics.h"

namespace spectro {
namespace api {

at::Tensor istft_impl(const at::Tensor& self, int64_t n_fft, std::optional<int64_t> hop_length_opt,
                      std::optional<int64_t> win_length_opt, const std::optional<at::Tensor>& window_opt,
                      bool center, bool normalized, std::optional<bool> onesided_opt,
                      const std::optional<c10::SymInt>& length, bool return_complex, bool torch_like,
                      c10::string_view safety_name, c10::string_view kernel_dtype, bool check_only) {
  const Safety safety = parse_safety(safety_name);
  TORCH_CHECK_VALUE(!(torch_like && safety == Safety::Off),
                    "spectro.istft: torch_like=True needs the NOLA check, so safety='off' is not allowed");
  const KernelDtype kd = parse_kernel_dtype("istft", kernel_dtype);
  at::Tensor input = self;
  TORCH_CHECK(input.is_complex(),
              "istft requires a complex-valued input tensor matching the output from stft with return_complex=True.");
  const int64_t nd = input.dim();
  const c10::SymIntArrayRef shape = input.sym_sizes();
  TORCH_CHECK(nd >= 2, "spectro.istft: expected input of shape (..., freq, frames), but got shape ", py_shape(shape));
  TORCH_CHECK(input.sym_numel() != 0, "spectro.istft: input tensor cannot be empty.");
  const int64_t hop_length = hop_length_opt.has_value() ? *hop_length_opt : floordiv(n_fft, 4);
  const int64_t win_length = win_length_opt.has_value() ? *win_length_opt : n_fft;
  TORCH_CHECK(n_fft > 0, "spectro.istft: expected n_fft > 0, but got n_fft=", n_fft);
  TORCH_CHECK(win_length > 0 && win_length <= n_fft,
              "spectro.istft: expected 0 < win_length <= n_fft, but got win_length=", win_length);
  TORCH_CHECK(hop_length > 0 && hop_length <= win_length,
              "spectro.istft: expected 0 < hop_length <= win_length, but got hop_length=", hop_length,
              ", win_length=", win_length);
  const at::Tensor window = window_opt.has_value() ? *window_opt : at::Tensor();
  check_window("istft", window, win_length, input);
  const int64_t bins = shape[nd - 2].guard_int(__FILE__, __LINE__);
  const c10::SymInt n_frames = shape[nd - 1];
  const bool onesided = onesided_opt.has_value() ? *onesided_opt : bins != n_fft;
  const int64_t expected = onesided ? n_fft / 2 + 1 : n_fft;
  TORCH_CHECK(bins == expected, "spectro.istft: expected the frequency dimension (2nd to the last) of the input to be ",
              expected, " (n_fft=", n_fft, ", onesided=", py_bool(onesided), "), but got ", bins);
  TORCH_CHECK(!(return_complex && onesided), "Cannot have onesided output if window or input is complex");
  const bool complex_window = window.defined() && window.is_complex();
  TORCH_CHECK(!(complex_window && !return_complex), "Complex windows are incompatible with return_complex=False");
  if (length.has_value()) {
    TORCH_CHECK(*length > 0, "spectro.istft: expected length > 0, but got length=", *length);
  }

  const c10::SymInt natural = (n_frames - 1) * hop_length + n_fft;
  const int64_t start = center ? n_fft / 2 : 0;
  const c10::SymInt end = length.has_value() ? *length + start : (center ? natural - n_fft / 2 : natural);
  const c10::SymInt out_len = end - start;
  TORCH_CHECK(out_len > 0, "spectro.istft: ", n_frames, " frame(s) of n_fft=", n_fft, ", hop_length=", hop_length,
              " leave no output samples after trimming the centre padding");
  const bool past_end = end > natural;
  if (past_end) {
    warn_once(
        "istft_length",
        "The length of signal is shorter than the length parameter. Result is being padded with zeros in the tail. "
        "Please check your center and hop_length settings.");
  }

  // kernel_dtype="float16": the spectrum and window as half-precision values too, then as "mixed".
  at::Tensor win = window;
  const bool mixed = kd != KernelDtype::Float32;
  if (kd == KernelDtype::Float16) {
    input = half_storage(input);
    win = half_storage(window);
  }
  const at::ScalarType in_dtype = input.scalar_type();
  at::ScalarType out_dtype = c10::toRealValueType(in_dtype);
  const at::ScalarType w_real = win.defined() ? c10::toRealValueType(win.scalar_type()) : out_dtype;
  if (w_real != out_dtype) out_dtype = c10::promoteTypes(out_dtype, w_real);
  const at::ScalarType real_dtype = compute_type_of(out_dtype);
  std::optional<at::ScalarType> op_out;
  if (mixed) {
    check_mixed_precision("istft", real_dtype);
    out_dtype = w_real == at::kBFloat16 && win.defined() ? at::kBFloat16 : at::kHalf;
    if (return_complex) {
      TORCH_CHECK_VALUE(out_dtype != at::kBFloat16, "spectro.istft: kernel_dtype=", py_repr(kernel_dtype),
                        " with a bfloat16 window asks for a bfloat16 signal, but return_complex=True has no complex "
                        "bfloat16 dtype: pass a float16 or float32 window (complex32 result) or "
                        "kernel_dtype='float32'");
      op_out = at::kComplexHalf;
    } else {
      op_out = out_dtype;
    }
  }
  const at::ScalarType spec_dtype = c10::toComplexType(real_dtype);
  // A complex32 spectrum goes to the op as it is when the computation is complex64 (the op reads it itself).
  at::Tensor spec = (in_dtype == spec_dtype || compute_type_of(in_dtype) == spec_dtype) ? input : input.to(spec_dtype);
  if (nd == 2) {
    spec = spec.view_symint({1, bins, n_frames});
  } else if (nd != 3) {
    spec = spec.reshape_symint({-1, bins, n_frames});
  }
  const double scale = normalized ? 1.0 / std::sqrt(static_cast<double>(n_fft)) : 1.0 / static_cast<double>(n_fft);

  at::Tensor w;
  if (complex_window) {
    w = resolve_window(win, win_length, n_fft, input, spec_dtype);
  } else {
    w = (win.defined() && win.scalar_type() == real_dtype && win_length == n_fft)
            ? win
            : resolve_window(win, win_length, n_fft, input, real_dtype);
  }
  if (!return_complex && !onesided) spec = spec.narrow(1, 0, n_fft / 2 + 1);

  if (safety != Safety::Off) {  // (safety="off": no check, and no host time spent preparing one)
    NolaCheck nola;
    nola.caller_window = window;
    nola.window = w;
    nola.n_fft = n_fft;
    nola.hop = hop_length;
    nola.win_length = win_length;
    nola.start = start;
    nola.spec_dtype = spec.scalar_type();
    nola.half_storage = kd == KernelDtype::Float16;
    nola.torch_like = torch_like;
    nola.safety = safety;
    const auto frames_int = n_frames.maybe_as_int();
    const auto end_int = (past_end ? natural : end).maybe_as_int();
    // (A spectrum batched by vmap is fine: the check reads the window only.)
    const bool traced = !concrete(w) || input.is_meta() || input.key_set().has(c10::DispatchKey::Python) ||
                        !frames_int.has_value() || !end_int.has_value();
    if (!traced) {
      nola.n_frames = *frames_int;
      nola.end = *end_int;
    }
    nola_check(nola, traced);
  }
  if (check_only) return at::Tensor();

  at::Tensor y;
  if (complex_window) {
    // w = a + i b: the overlap-add sum_n w[p - n hop] frame_n[p - n hop] is S(spec, a) + i S(spec, b), divided by
    // torch's complex envelope sum_n w[p - n hop]^2 (0 where its magnitude is below the NOLA threshold).
    const at::Tensor a = call_synthesis(spec, at::real(w), n_fft, hop_length, out_len, start, "constant", false,
                                        "ifft", scale);
    const at::Tensor b = call_synthesis(spec, at::imag(w), n_fft, hop_length, out_len, start, "constant", false,
                                        "ifft", scale);
    const at::Tensor num = a + b * c10::Scalar(c10::complex<double>(0.0, 1.0));
    at::Tensor env = geometry::frame_sum(w * w, hop_length, n_frames);
    if (past_end) env = at::constant_pad_nd_symint(env, {c10::SymInt(0), end - natural});  // zeros past the span
    env = env.narrow_symint(0, start, out_len);
    const at::Tensor small = env.abs() < kernels::kEnvelopeEps;
    y = at::where(small, at::zeros({}, num.options()), num / at::where(small, at::ones({}, env.options()), env));
    if (op_out.has_value()) y = y.to(*op_out);
  } else {
    y = call_synthesis(spec, w, n_fft, hop_length, out_len, start, "constant", true, return_complex ? "ifft" : "irfft",
                       scale, op_out);
  }
  if (!op_out.has_value() && out_dtype != real_dtype) {  // a half-precision result computed in single precision
    y = y.to(return_complex ? c10::toComplexType(out_dtype) : out_dtype);
  }
  // The op's result is (batch, out_len).
  if (nd == 2) return y.reshape_symint({out_len});
  if (nd == 3) return y;
  std::vector<c10::SymInt> sizes(shape.begin(), shape.end() - 2);
  sizes.push_back(out_len);
  return y.reshape_symint(sizes);
}

namespace {

at::Tensor istft_composite(const at::Tensor& self, int64_t n_fft, std::optional<int64_t> hop_length,
                           std::optional<int64_t> win_length, const std::optional<at::Tensor>& window, bool center,
                           bool normalized, std::optional<bool> onesided, std::optional<c10::SymInt> length,
                           bool return_complex, bool torch_like, c10::string_view safety,
                           c10::string_view kernel_dtype) {
  return istft_impl(self, n_fft, hop_length, win_length, window, center, normalized, onesided, length,
                    return_complex, torch_like, safety, kernel_dtype, /*check_only=*/false);
}

}  // namespace
}  // namespace api

at::Tensor istft(const at::Tensor& self, int64_t n_fft, std::optional<int64_t> hop_length,
                 std::optional<int64_t> win_length, const std::optional<at::Tensor>& window, bool center,
                 bool normalized, std::optional<bool> onesided, std::optional<int64_t> length, bool return_complex,
                 bool torch_like, c10::string_view safety, c10::string_view kernel_dtype) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("spectro::istft", "")
                             .typed<at::Tensor(const at::Tensor&, int64_t, std::optional<int64_t>,
                                               std::optional<int64_t>, const std::optional<at::Tensor>&, bool, bool,
                                               std::optional<bool>, std::optional<c10::SymInt>, bool, bool,
                                               c10::string_view, c10::string_view)>();
  std::optional<c10::SymInt> len;
  if (length.has_value()) len = c10::SymInt(*length);
  return op.call(self, n_fft, hop_length, win_length, window, center, normalized, onesided, len, return_complex,
                 torch_like, safety, kernel_dtype);
}

}  // namespace spectro

TORCH_LIBRARY_IMPL(spectro, CompositeImplicitAutograd, m) {
  m.impl("istft", TORCH_FN(spectro::api::istft_composite));
}
// Under vmap the composite runs on the batched tensors (spectro::synthesis's batching rule), as for stft.
TORCH_LIBRARY_IMPL(spectro, FuncTorchBatchedDecomposition, m) {
  m.impl("istft", TORCH_FN(spectro::api::istft_composite));
}
