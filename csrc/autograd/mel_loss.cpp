// spectro — autograd for spectro::mel_loss, at the Autograd dispatch key.
//
// The training case (only x, the prediction, requires grad, in reverse mode; log terms only, as DAC and BigVGAN train)
// is one node, MelLossFunction. Forward, below autograd: spectro::mel_loss_forward (per scale the log-mels of x and y
// by spectro::mel_analysis and log_weight * mean |log-mel x - log-mel y|, summed; on CUDA the signs and the sums by
// two small kernels); what the backward needs of the target, the signs of log-mel x - log-mel y, is kept as int8.
// Backward: spectro::mel_loss_backward, per scale
//   dL/dx += spectro::mel_l1_backward_input(dL/dloss, signs, x, ...)
// the analysis' adjoint (spectro::synthesis) of the dL/dX of dL/d log-mel = dL/dloss * log_weight / count * sign;
// on CUDA one kernel per scale (the synthesis engine with the mel prologue: each frame's
// spectrum recomputed and taken back to the signal in shared memory, added to the sum in place) where it covers the
// geometry. No pass keeps a
// spectrum, its gradient or the prediction's mels. Everything else (y requiring grad, linear-magnitude terms,
// double backward, forward mode, torch.func, window or basis gradients) takes the composite, differentiated through
// mel_analysis' own autograd; without gradients to record, the op's backend kernel.
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include <cmath>

#include "../ops/ops.h"
#include "dispatch_state.h"

namespace spectro {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

using MelLossSig = at::Tensor(const at::Tensor&, const at::Tensor&, at::TensorList, at::TensorList, at::IntArrayRef,
                              at::IntArrayRef, double, double, double, double, double);

struct MelLossFunction : public torch::autograd::Function<MelLossFunction> {
  static constexpr bool is_traceable = true;

  // (mag_weight is 0 here)
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& y,
                            const std::vector<at::Tensor>& windows, const std::vector<at::Tensor>& bases,
                            const std::vector<int64_t>& hops, const std::vector<int64_t>& pads, double clamp_eps,
                            double pow, double mag_eps, double log_weight) {
    static const auto op = c10::Dispatcher::singleton()
                               .findSchemaOrThrow("spectro::mel_loss_forward", "")
                               .typed<api::MelLossForward(const at::Tensor&, const at::Tensor&, at::TensorList,
                                                          at::TensorList, at::IntArrayRef, at::IntArrayRef, double,
                                                          double, double, double)>();
    at::AutoDispatchBelowADInplaceOrView guard;
    auto [loss, signs] = op.call(x, y, windows, bases, hops, pads, clamp_eps, pow, mag_eps, log_weight);
    auto& d = ctx->saved_data;
    d["hops"] = hops;
    d["pads"] = pads;
    d["clamp_eps"] = clamp_eps;
    d["pow"] = pow;
    d["mag_eps"] = mag_eps;
    d["log_weight"] = log_weight;
    d["scales"] = static_cast<int64_t>(signs.size());
    variable_list saved{x, y};
    saved.insert(saved.end(), windows.begin(), windows.end());
    saved.insert(saved.end(), bases.begin(), bases.end());
    saved.insert(saved.end(), signs.begin(), signs.end());
    ctx->save_for_backward(saved);
    return loss;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    auto& d = ctx->saved_data;
    const int64_t S = d["scales"].toInt();
    const at::Tensor &x = saved[0], &y = saved[1];
    const std::vector<at::Tensor> windows(saved.begin() + 2, saved.begin() + 2 + S);
    const std::vector<at::Tensor> bases(saved.begin() + 2 + S, saved.begin() + 2 + 2 * S);
    const std::vector<at::Tensor> signs(saved.begin() + 2 + 2 * S, saved.begin() + 2 + 3 * S);
    const std::vector<int64_t> hops = d["hops"].toIntVector(), pads = d["pads"].toIntVector();
    const double clamp_eps = d["clamp_eps"].toDouble(), pow = d["pow"].toDouble(), mag_eps = d["mag_eps"].toDouble(),
                 log_weight = d["log_weight"].toDouble();
    variable_list out(10);  // (one per forward argument)
    const at::Tensor& gl = grads[0];
    if (!gl.defined()) return out;
    if (at::GradMode::is_enabled()) {  // create_graph: the composite's gradient, itself differentiable
      const at::Tensor loss =
          api::mel_loss_composite(x, y, windows, bases, hops, pads, clamp_eps, pow, mag_eps, log_weight, 0.0);
      out[0] = torch::autograd::grad({loss}, {x}, {gl}, /*retain_graph=*/true, /*create_graph=*/true)[0];
      return out;
    }
    static const auto op = c10::Dispatcher::singleton()
                               .findSchemaOrThrow("spectro::mel_loss_backward", "")
                               .typed<at::Tensor(const at::Tensor&, at::TensorList, const at::Tensor&, at::TensorList,
                                                 at::TensorList, at::IntArrayRef, at::IntArrayRef, double, double,
                                                 double, double)>();
    const at::Tensor gx = op.call(gl, signs, x, windows, bases, hops, pads, clamp_eps, pow, mag_eps, log_weight);
    out[0] = gx.scalar_type() == x.scalar_type() ? gx : gx.to(x.scalar_type());
    return out;
  }
};

at::Tensor call_mel_loss_below_autograd(const at::Tensor& x, const at::Tensor& y, at::TensorList windows,
                                        at::TensorList bases, at::IntArrayRef hops, at::IntArrayRef pads,
                                        double clamp_eps, double pow, double mag_eps, double log_weight,
                                        double mag_weight) {
  static const auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("spectro::mel_loss", "").typed<MelLossSig>();
  at::AutoDispatchBelowADInplaceOrView guard;
  return op.call(x, y, windows, bases, hops, pads, clamp_eps, pow, mag_eps, log_weight, mag_weight);
}

at::Tensor mel_loss_autograd(const at::Tensor& x, const at::Tensor& y, at::TensorList windows, at::TensorList bases,
                             at::IntArrayRef hops, at::IntArrayRef pads, double clamp_eps, double pow, double mag_eps,
                             double log_weight, double mag_weight) {
  bool constants_grad = false;
  for (const at::Tensor& w : windows) constants_grad = constants_grad || needs_autograd(w);
  for (const at::Tensor& b : bases) constants_grad = constants_grad || needs_autograd(b);
  const bool tangents = has_tangent(x) || has_tangent(y);
  const bool record = (at::GradMode::is_enabled() && (needs_autograd(x) || needs_autograd(y) || constants_grad)) ||
                      tangents || under_functorch();
  if (!record) {
    return call_mel_loss_below_autograd(x, y, windows, bases, hops, pads, clamp_eps, pow, mag_eps, log_weight,
                                        mag_weight);
  }
  const bool node = at::GradMode::is_enabled() && x.requires_grad() && !needs_autograd(y) && !constants_grad &&
                    !tangents && !under_functorch() && mag_weight == 0 && log_weight != 0 &&
                    (x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble);
  if (node) {
    return MelLossFunction::apply(x, y, windows.vec(), bases.vec(), hops.vec(), pads.vec(), clamp_eps, pow, mag_eps,
                                  log_weight);
  }
  return api::mel_loss_composite(x, y, windows, bases, hops, pads, clamp_eps, pow, mag_eps, log_weight, mag_weight);
}

}  // namespace
}  // namespace spectro

TORCH_LIBRARY_IMPL(spectro, Autograd, m) { m.impl("mel_loss", TORCH_FN(spectro::mel_loss_autograd)); }
