// spectro — autograd for spectro::mel_analysis, at the Autograd dispatch key.
//
// Without gradients to record (no input requires grad, or grad mode is off, and no forward-mode tangent), the call
// goes below autograd to the backends: on CUDA, the fused kernel. With only x requiring grad (the training case: a
// mel loss on generated audio), MelFunction: its forward is that same op call, and its backward is
//   dL/dx = spectro::mel_analysis_backward_input(dL/d mel, x, ...)
// the analysis' adjoint (spectro::synthesis) of mel_analysis_backward's dL/dX; on CUDA one kernel that recomputes
// each frame's spectrum and goes on to the adjoint in shared memory where it covers the geometry (power-of-two
// n_fft), else the two ops. Neither pass stores the spectrum for later. A double backward (create_graph) differentiates the composite
// definition instead, and so does everything else (a window or basis that requires grad, forward mode, torch.func
// transforms): the op's composite (csrc/ops/mel.cpp) has autograd at every step.
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include "../ops/ops.h"
#include "dispatch_state.h"

namespace spectro {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

using MelSig = at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t, int64_t, c10::SymInt,
                          int64_t, c10::string_view, double, double, double, c10::string_view, double, double);

at::Tensor call_mel_below_autograd(const at::Tensor& x, const at::Tensor& window, const at::Tensor& basis,
                                   int64_t n_fft, int64_t hop, c10::SymInt n_frames, int64_t pad,
                                   c10::string_view pad_mode, double scale, double power, double mag_eps,
                                   c10::string_view log, double log_eps, double log_scale) {
  static const auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("spectro::mel_analysis", "").typed<MelSig>();
  at::AutoDispatchBelowADInplaceOrView guard;
  return op.call(x, window, basis, n_fft, hop, std::move(n_frames), pad, pad_mode, scale, power, mag_eps, log,
                 log_eps, log_scale);
}

struct MelFunction : public torch::autograd::Function<MelFunction> {
  static constexpr bool is_traceable = true;

  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& window,
                            const at::Tensor& basis, int64_t n_fft, int64_t hop, c10::SymInt n_frames, int64_t pad,
                            const std::string& pad_mode, double scale, double power, double mag_eps,
                            const std::string& log, double log_eps, double log_scale) {
    at::Tensor out = call_mel_below_autograd(x, window, basis, n_fft, hop, n_frames, pad, pad_mode, scale, power,
                                             mag_eps, log, log_eps, log_scale);
    auto& d = ctx->saved_data;
    d["n_fft"] = n_fft;
    d["hop"] = hop;
    d["n_frames"] = n_frames;
    d["pad"] = pad;
    d["pad_mode"] = pad_mode;
    d["scale"] = scale;
    d["power"] = power;
    d["mag_eps"] = mag_eps;
    d["log"] = log;
    d["log_eps"] = log_eps;
    d["log_scale"] = log_scale;
    ctx->save_for_backward({x, window, basis});
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &window = saved[1], &basis = saved[2];
    auto& d = ctx->saved_data;
    const int64_t n_fft = d["n_fft"].toInt(), hop = d["hop"].toInt(), pad = d["pad"].toInt();
    const c10::SymInt n_frames = d["n_frames"].toSymInt();
    const std::string pad_mode = d["pad_mode"].toStringRef(), log = d["log"].toStringRef();
    const double scale = d["scale"].toDouble(), power = d["power"].toDouble(), mag_eps = d["mag_eps"].toDouble(),
                 log_eps = d["log_eps"].toDouble(), log_scale = d["log_scale"].toDouble();
    at::Tensor gx;
    if (grads[0].defined()) {
      if (at::GradMode::is_enabled()) {
        // create_graph: the composite's gradient, itself differentiable (in x, whose saved value keeps its
        // history, and in the incoming gradient).
        const at::Tensor out = mel_composite(x, window, basis, n_fft, hop, n_frames, pad, pad_mode, scale, power,
                                             mag_eps, log, log_eps, log_scale);
        gx = torch::autograd::grad({out}, {x}, {grads[0]}, /*retain_graph=*/true, /*create_graph=*/true)[0];
      } else {
        gx = call_mel_backward_input(grads[0], x, window, basis, n_fft, hop, n_frames, pad, pad_mode, scale, power,
                                     mag_eps, log, log_eps, log_scale);
        if (gx.scalar_type() != x.scalar_type()) gx = gx.to(x.scalar_type());  // a half x: its own dtype
      }
    }
    variable_list out(14);
    out[0] = gx;
    return out;
  }
};

at::Tensor mel_autograd(const at::Tensor& x, const at::Tensor& window, const at::Tensor& basis, int64_t n_fft,
                        int64_t hop_length, c10::SymInt n_frames, int64_t pad, c10::string_view pad_mode, double scale,
                        double power, double mag_eps, c10::string_view log, double log_eps, double log_scale) {
  const bool x_grad = needs_autograd(x);
  if (!x_grad && !needs_autograd(window) && !needs_autograd(basis)) {
    return call_mel_below_autograd(x, window, basis, n_fft, hop_length, std::move(n_frames), pad, pad_mode, scale,
                                   power, mag_eps, log, log_eps, log_scale);
  }
  const bool only_x_reverse = at::GradMode::is_enabled() && x.requires_grad() && !has_tangent(x) &&
                              !needs_autograd(window) && !needs_autograd(basis) && !under_functorch();
  if (only_x_reverse) {
    return MelFunction::apply(x, window, basis, n_fft, hop_length, std::move(n_frames), pad, std::string(pad_mode),
                              scale, power, mag_eps, std::string(log), log_eps, log_scale);
  }
  return mel_composite(x, window, basis, n_fft, hop_length, n_frames, pad, std::string(pad_mode), scale, power,
                       mag_eps, std::string(log), log_eps, log_scale);
}

}  // namespace
}  // namespace spectro

TORCH_LIBRARY_IMPL(spectro, Autograd, m) { m.impl("mel_analysis", TORCH_FN(spectro::mel_autograd)); }
