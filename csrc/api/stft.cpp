// spectro — spectro::stft: torch.stft's semantics (defaults, checks, window resolution, centre padding, onesided,
// dtype promotion, complex windows, the deprecated real layout) as a composite op over spectro::analysis.
//
// Registered at CompositeImplicitAutograd: autograd, torch.compile and torch.export see the spectro::analysis call
// it makes (whose autograd is registered in C++), so this file holds semantics only. Sizes that depend on the signal
// length are SymInts, so torch.compile(dynamic=True) traces one graph for all lengths.
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

#include <cmath>

#include <spectro/spectro.h>
#include "../ops/ops.h"
#include "semantics.h"

namespace spectro {
namespace api {
namespace {

bool valid_pad_mode(c10::string_view m) {
  return m == "constant" || m == "reflect" || m == "replicate" || m == "circular";
}

}  // namespace

at::Tensor stft_composite(const at::Tensor& self, int64_t n_fft, std::optional<int64_t> hop_length_opt,
                          std::optional<int64_t> win_length_opt, const std::optional<at::Tensor>& window_opt,
                          bool center, c10::string_view pad_mode, bool normalized, std::optional<bool> onesided,
                          std::optional<bool> return_complex_opt, std::optional<bool> align_to_window,
                          c10::string_view kernel_dtype) {
  // The checks run in torch.stft's order, so a call with several bad arguments gets the same error as there.
  TORCH_CHECK(!(center && align_to_window.has_value()), "stft align_to_window should only be set when center = false");
  at::Tensor input = self;
  at::ScalarType in_dtype = input.scalar_type();
  TORCH_CHECK(supported_dtype(in_dtype), "spectro.stft: expected input of floating point or complex dtype, but got ",
              py_dtype(in_dtype));
  const KernelDtype kd = parse_kernel_dtype("stft", kernel_dtype);
  const int64_t nd = input.dim();
  TORCH_CHECK(nd >= 1, "spectro.stft: expected input with at least 1 dimension (..., time), but got a 0-D tensor");
  const int64_t hop_length = hop_length_opt.has_value() ? *hop_length_opt : floordiv(n_fft, 4);
  const int64_t win_length = win_length_opt.has_value() ? *win_length_opt : n_fft;
  TORCH_CHECK_NOT_IMPLEMENTED(valid_pad_mode(pad_mode),
                              "spectro.stft: pad_mode must be one of 'constant', 'reflect', 'replicate', 'circular', "
                              "but got ",
                              py_repr(pad_mode));
  at::Tensor window = window_opt.has_value() ? *window_opt : at::Tensor();
  const bool complex_window = window.defined() && window.is_complex();
  bool return_complex;
  if (return_complex_opt.has_value()) {
    return_complex = *return_complex_opt;
  } else {
    return_complex = input.is_complex() || complex_window;
    TORCH_CHECK(return_complex,
                "stft requires the return_complex parameter be given for real inputs, and will further require that "
                "return_complex=True in a future PyTorch release.");
  }
  if (!return_complex) {
    warn_once(
        "stft_return_complex",
        "stft with return_complex=False is deprecated. In a future pytorch release, stft will return complex tensors "
        "for all inputs, and return_complex=False will raise an error.\nNote: you can still call torch.view_as_real "
        "on the complex output to recover the old return format.");
  }
  if (!window.defined()) {
    warn_once(
        "stft_window",
        "A window was not provided. A rectangular window will be applied,which is known to cause spectral leakage. "
        "Other windows such as torch.hann_window or torch.hamming_window are recommended to reduce spectral "
        "leakage.To suppress this warning and use a rectangular window, explicitly set "
        "`window=torch.ones(n_fft, device=<device>)`.");
  }
  const c10::SymIntArrayRef shape = input.sym_sizes();
  const c10::SymInt T = shape[nd - 1];
  TORCH_CHECK(input.sym_numel() != 0, "spectro.stft: expected a non-empty input, but got input of shape ",
              py_shape(shape));

  int64_t pad = 0;
  c10::SymInt padded_len = T;
  std::string mode = "constant";
  if (center) {
    pad = floordiv(n_fft, 2);
    if (pad_mode == "reflect") {
      TORCH_CHECK(!(T <= pad), "spectro.stft: pad_mode='reflect' pads by n_fft // 2 = ", pad,
                  ", which must be smaller than the input length ", T);
    } else if (pad_mode == "circular") {
      TORCH_CHECK(!(T < pad), "spectro.stft: pad_mode='circular' pads by n_fft // 2 = ", pad,
                  ", which must be at most the input length ", T, " (padding wraps around more than once)");
    }
    padded_len = T + 2 * pad;
    mode = std::string(pad_mode);
  }
  TORCH_CHECK(n_fft > 0 && !(padded_len < n_fft), "spectro.stft: expected 0 < n_fft <= ", padded_len,
              ", but got n_fft=", n_fft);
  TORCH_CHECK(hop_length > 0, "spectro.stft: expected hop_length > 0, but got hop_length=", hop_length);
  TORCH_CHECK(win_length > 0 && win_length <= n_fft,
              "spectro.stft: expected 0 < win_length <= n_fft, but got win_length=", win_length);
  check_window("stft", window, win_length, input);

  c10::SymInt n_frames;
  if (align_to_window.value_or(false) && !center) {
    // The window (not the n_fft span) starts at m * hop: frames begin (n_fft - win_length) // 2 samples early.
    pad = (n_fft - win_length) / 2;
    n_frames = floordiv(T - win_length, hop_length) + 1;
  } else {
    n_frames = floordiv(padded_len - n_fft, hop_length) + 1;
  }

  const bool mixed = kd != KernelDtype::Float32;
  if (kd == KernelDtype::Float16) {  // the input and window as half-precision values too: then as "mixed"
    input = half_storage(input);
    window = half_storage(window);
    in_dtype = input.scalar_type();
  }
  at::ScalarType dtype = window.defined() ? c10::promoteTypes(in_dtype, window.scalar_type()) : in_dtype;
  dtype = compute_type_of(dtype);
  if (mixed) check_mixed_precision("stft", dtype);
  const at::ScalarType real_dtype = c10::toRealValueType(dtype);
  // A half input goes to the op as it is when the computation is single precision (the op reads half itself).
  const bool signal_complex = input.is_complex();
  const at::ScalarType x_dtype = signal_complex ? c10::toComplexType(real_dtype) : real_dtype;
  at::Tensor x = (in_dtype == x_dtype || compute_type_of(in_dtype) == x_dtype) ? input : input.to(x_dtype);
  if (nd == 1) {
    x = x.view_symint({1, T});
  } else if (nd != 2) {
    x = x.reshape_symint({-1, T});
  }

  const double scale = normalized ? 1.0 / std::sqrt(static_cast<double>(n_fft)) : 1.0;
  const std::optional<at::ScalarType> op_out = mixed ? std::optional<at::ScalarType>(at::kComplexHalf) : std::nullopt;
  at::Tensor out;
  int64_t bins;
  if (complex_window) {
    // w = a + i b: stft(x, w) = stft(x, a) + i stft(x, b) (the FFT is linear), both two-sided, computed in single or
    // double precision and rounded once at the end for the half-precision kernel_dtypes.
    TORCH_CHECK(!onesided.value_or(false), "Cannot have onesided output if window or input is complex");
    const at::Tensor wr = resolve_window(at::real(window), win_length, n_fft, input, real_dtype);
    const at::Tensor wi = resolve_window(at::imag(window), win_length, n_fft, input, real_dtype);
    const std::string fft_mode = signal_complex ? "fft" : "rfft_full";
    bins = n_fft;
    const at::Tensor a = call_analysis(x, wr, n_fft, hop_length, n_frames, pad, mode, false, fft_mode, scale);
    const at::Tensor b = call_analysis(x, wi, n_fft, hop_length, n_frames, pad, mode, false, fft_mode, scale);
    out = a + b * c10::Scalar(c10::complex<double>(0.0, 1.0));
    if (op_out.has_value()) out = out.to(*op_out);
  } else {
    const at::Tensor w = (window.defined() && window.scalar_type() == real_dtype && win_length == n_fft)
                             ? window
                             : resolve_window(window, win_length, n_fft, input, real_dtype);
    std::string fft_mode;
    if (signal_complex) {
      TORCH_CHECK(!onesided.value_or(false), "Cannot have onesided output if window or input is complex");
      fft_mode = "fft";
      bins = n_fft;
    } else if (onesided.value_or(true)) {
      fft_mode = "rfft";
      bins = n_fft / 2 + 1;
    } else {
      fft_mode = "rfft_full";
      bins = n_fft;
    }
    out = call_analysis(x, w, n_fft, hop_length, n_frames, pad, mode, false, fft_mode, scale, op_out);
  }
  // The op's result is (batch, bins, n_frames).
  if (nd == 1) {
    out = out.reshape_symint({c10::SymInt(bins), n_frames});
  } else if (nd != 2) {
    std::vector<c10::SymInt> sizes(shape.begin(), shape.end() - 1);
    sizes.emplace_back(bins);
    sizes.push_back(n_frames);
    out = out.reshape_symint(sizes);
  }
  return return_complex ? out : at::view_as_real(out);
}

}  // namespace api

at::Tensor stft(const at::Tensor& self, int64_t n_fft, std::optional<int64_t> hop_length,
                std::optional<int64_t> win_length, const std::optional<at::Tensor>& window, bool center,
                c10::string_view pad_mode, bool normalized, std::optional<bool> onesided,
                std::optional<bool> return_complex, std::optional<bool> align_to_window,
                c10::string_view kernel_dtype) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("spectro::stft", "")
                             .typed<at::Tensor(const at::Tensor&, int64_t, std::optional<int64_t>,
                                               std::optional<int64_t>, const std::optional<at::Tensor>&, bool,
                                               c10::string_view, bool, std::optional<bool>, std::optional<bool>,
                                               std::optional<bool>, c10::string_view)>();
  return op.call(self, n_fft, hop_length, win_length, window, center, pad_mode, normalized, onesided, return_complex,
                 align_to_window, kernel_dtype);
}

}  // namespace spectro

TORCH_LIBRARY_IMPL(spectro, CompositeImplicitAutograd, m) { m.impl("stft", TORCH_FN(spectro::api::stft_composite)); }
// Under vmap the composite runs on the batched tensors (so spectro::analysis's batching rule folds the examples into
// one call), instead of functorch's per-example loop.
TORCH_LIBRARY_IMPL(spectro, FuncTorchBatchedDecomposition, m) {
  m.impl("stft", TORCH_FN(spectro::api::stft_composite));
}
