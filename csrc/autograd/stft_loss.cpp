// spectro — autograd for spectro::stft_loss_sums, at the Autograd dispatch key.
//
// Without gradients to record, the call goes below autograd to the backends (on CUDA, the fused kernel). In reverse
// mode with x and / or y requiring grad (the training case: the prediction x, a target y usually without grad),
// LossFunction: its forward is that same op call, and its backward
//   G     = spectro::stft_loss_sums_backward(dL/dsums, x, y, ..., grad_target)  (CUDA: the kernel again, recomputing
//           both spectra; dL/dX onesided, or the packed x + i y gradient when y requires grad)
//   dL/dx = spectro::synthesis(G, ..., "irfft_half")                          (the rfft analysis' adjoint)
//   or dL/dx + i dL/dy = spectro::synthesis(G, ..., "ifft")                   (the complex analysis' adjoint)
// so neither pass stores a spectrum for later. A double backward (create_graph) differentiates the composite
// definition instead, and so does everything else (a window that requires grad, forward mode, torch.func
// transforms): the op's composite (csrc/ops/stft_loss.cpp) has autograd at every step.
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include "../kernels/fft_mode.h"
#include "../ops/ops.h"
#include "dispatch_state.h"

namespace spectro {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

using LossSig = at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t, int64_t, c10::SymInt,
                           int64_t, c10::string_view, double, c10::string_view);

at::Tensor call_loss_below_autograd(const at::Tensor& x, const at::Tensor& y, const at::Tensor& window,
                                    int64_t n_fft, int64_t hop, c10::SymInt n_frames, int64_t pad,
                                    c10::string_view pad_mode, double eps, c10::string_view distance) {
  static const auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("spectro::stft_loss_sums", "").typed<LossSig>();
  at::AutoDispatchBelowADInplaceOrView guard;
  return op.call(x, y, window, n_fft, hop, std::move(n_frames), pad, pad_mode, eps, distance);
}

struct LossFunction : public torch::autograd::Function<LossFunction> {
  static constexpr bool is_traceable = true;

  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& y, const at::Tensor& window,
                            int64_t n_fft, int64_t hop, c10::SymInt n_frames, int64_t pad,
                            const std::string& pad_mode, double eps, const std::string& distance) {
    at::Tensor out = call_loss_below_autograd(x, y, window, n_fft, hop, n_frames, pad, pad_mode, eps, distance);
    auto& d = ctx->saved_data;
    d["n_fft"] = n_fft;
    d["hop"] = hop;
    d["n_frames"] = n_frames;
    d["pad"] = pad;
    d["pad_mode"] = pad_mode;
    d["eps"] = eps;
    d["distance"] = distance;
    ctx->save_for_backward({x, y, window});
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &y = saved[1], &window = saved[2];
    auto& d = ctx->saved_data;
    const int64_t n_fft = d["n_fft"].toInt(), hop = d["hop"].toInt(), pad = d["pad"].toInt();
    const c10::SymInt n_frames = d["n_frames"].toSymInt();
    const std::string pad_mode = d["pad_mode"].toStringRef(), distance = d["distance"].toStringRef();
    const double eps = d["eps"].toDouble();
    const bool want_x = ctx->needs_input_grad(0), want_y = ctx->needs_input_grad(1);
    variable_list out(10);
    if (!grads[0].defined() || !(want_x || want_y)) return out;
    if (at::GradMode::is_enabled()) {
      // create_graph: the composite's gradient, itself differentiable.
      const at::Tensor sums = stft_loss_composite(x, y, window, n_fft, hop, n_frames, pad, pad_mode, eps, distance);
      std::vector<at::Tensor> inputs;
      if (want_x) inputs.push_back(x);
      if (want_y) inputs.push_back(y);
      const auto g = torch::autograd::grad({sums}, inputs, {grads[0]}, /*retain_graph=*/true, /*create_graph=*/true);
      out[0] = want_x ? g[0] : at::Tensor();
      out[1] = want_y ? g[want_x ? 1 : 0] : at::Tensor();
      return out;
    }
    const at::Tensor G = call_stft_loss_backward(grads[0], x, y, window, n_fft, hop, n_frames, pad, pad_mode, eps,
                                                 distance, want_y);
    const c10::SymInt T = x.sym_size(1);
    if (!want_y) {
      out[0] = call_synthesis(G, window, n_fft, hop, T, pad, pad_mode, false,
                              kernels::name_of(kernels::adjoint(kernels::FftMode::Rfft)), 1.0);
    } else {
      const at::Tensor gz = call_synthesis(G, window, n_fft, hop, T, pad, pad_mode, false,
                                           kernels::name_of(kernels::adjoint(kernels::FftMode::Fft)), 1.0);
      const at::Tensor parts = at::view_as_real(gz);
      if (want_x) out[0] = parts.select(-1, 0);
      out[1] = parts.select(-1, 1);
    }
    return out;
  }
};

at::Tensor loss_autograd(const at::Tensor& x, const at::Tensor& y, const at::Tensor& window, int64_t n_fft,
                         int64_t hop_length, c10::SymInt n_frames, int64_t pad, c10::string_view pad_mode, double eps,
                         c10::string_view distance) {
  const bool x_grad = needs_autograd(x), y_grad = needs_autograd(y);
  if (!x_grad && !y_grad && !needs_autograd(window)) {
    return call_loss_below_autograd(x, y, window, n_fft, hop_length, std::move(n_frames), pad, pad_mode, eps,
                                    distance);
  }
  const bool reverse_only = at::GradMode::is_enabled() && !has_tangent(x) && !has_tangent(y) &&
                            !needs_autograd(window) && !under_functorch();
  if (reverse_only) {
    return LossFunction::apply(x, y, window, n_fft, hop_length, std::move(n_frames), pad, std::string(pad_mode), eps,
                               std::string(distance));
  }
  return stft_loss_composite(x, y, window, n_fft, hop_length, n_frames, pad, std::string(pad_mode), eps,
                             std::string(distance));
}

}  // namespace
}  // namespace spectro

TORCH_LIBRARY_IMPL(spectro, Autograd, m) { m.impl("stft_loss_sums", TORCH_FN(spectro::loss_autograd)); }
