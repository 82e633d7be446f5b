// spectro — autograd for spectro::mel_analysis, at the Autograd dispatch key.
//
// Without gradients to record (no input requires grad, or grad mode is off, and no forward-mode tangent), the call
// goes below autograd to the backends: on CUDA, the fused kernel. Otherwise it runs the op's composite definition
// (csrc/ops/mel.cpp: spectro::analysis + ATen ops), whose every step has its autograd: reverse and forward mode,
// double backward, and the gradients of window and basis, with the same values as the fused forward within
// float rounding.
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/library.h>

#include "../ops/ops.h"

namespace spectro {
namespace {

bool needs_autograd(const at::Tensor& t) {
  if (!t.defined()) return false;
  if (at::GradMode::is_enabled() && t.requires_grad()) return true;
  return t._fw_grad(/*level=*/0).defined();
}

at::Tensor mel_autograd(const at::Tensor& x, const at::Tensor& window, const at::Tensor& basis, int64_t n_fft,
                        int64_t hop_length, c10::SymInt n_frames, int64_t pad, c10::string_view pad_mode, double scale,
                        double power, double mag_eps, c10::string_view log, double log_eps, double log_scale) {
  if (needs_autograd(x) || needs_autograd(window) || needs_autograd(basis)) {
    return mel_composite(x, window, basis, n_fft, hop_length, n_frames, pad, std::string(pad_mode), scale, power,
                         mag_eps, std::string(log), log_eps, log_scale);
  }
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("spectro::mel_analysis", "")
                             .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t,
                                               int64_t, c10::SymInt, int64_t, c10::string_view, double, double,
                                               double, c10::string_view, double, double)>();
  at::AutoDispatchBelowADInplaceOrView guard;
  return op.call(x, window, basis, n_fft, hop_length, std::move(n_frames), pad, pad_mode, scale, power, mag_eps, log,
                 log_eps, log_scale);
}

}  // namespace
}  // namespace spectro

TORCH_LIBRARY_IMPL(spectro, Autograd, m) { m.impl("mel_analysis", TORCH_FN(spectro::mel_autograd)); }
