// spectro — autograd for spectro::stft_loss_sums and spectro::stft_loss, at the Autograd dispatch key.
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

// out[0] = dL/dx, out[1] = dL/dy from loss_input_grad's result (real with x only, complex with y).
void put_input_grads(const at::Tensor& g, bool want_x, bool want_y, variable_list& out) {
  if (!want_y) {
    out[0] = g;
    return;
  }
  const at::Tensor parts = at::view_as_real(g);
  if (want_x) out[0] = parts.select(-1, 0);
  out[1] = parts.select(-1, 1);
}

// create_graph: the gradients of the composite's outputs, themselves differentiable, into out[0] / out[1].
void composite_grads(const variable_list& outputs, const variable_list& grad_outputs, const at::Tensor& x,
                     const at::Tensor& y, bool want_x, bool want_y, variable_list& out) {
  std::vector<at::Tensor> inputs;
  if (want_x) inputs.push_back(x);
  if (want_y) inputs.push_back(y);
  const auto g = torch::autograd::grad(outputs, inputs, grad_outputs, /*retain_graph=*/true, /*create_graph=*/true);
  if (want_x) out[0] = g[0];
  if (want_y) out[1] = g[want_x ? 1 : 0];
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
      const at::Tensor sums = stft_loss_composite(x, y, window, n_fft, hop, n_frames, pad, pad_mode, eps, distance);
      composite_grads({sums}, {grads[0]}, x, y, want_x, want_y, out);
      return out;
    }
    const at::Tensor G = call_stft_loss_backward(grads[0], x, y, window, n_fft, hop, n_frames, pad, pad_mode, eps,
                                                 distance, want_y);
    put_input_grads(loss_input_grad(G, window, n_fft, hop, x.sym_size(1), pad, pad_mode, want_y), want_x, want_y,
                    out);
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

// ---- spectro::stft_loss: every resolution and the terms in one node ---------------------------------------------
// Forward: spectro::stft_loss_forward below autograd, (loss, terms) and S [R, 4] (each resolution's sums over its
// count) kept for the backward. Backward: spectro::stft_loss_backward, the input gradient from dL/dloss and dL/dterms
// (csrc/api/stft_loss.cpp has its composite; on CUDA the combine kernel's backward, then per resolution the sums'
// backward kernel and the analysis' adjoint). One node instead of one per ATen op; without gradients to record, the
// op's backend kernel directly.
std::tuple<at::Tensor, at::Tensor, at::Tensor> call_loss_forward_below_autograd(
    const at::Tensor& x, const at::Tensor& y, at::TensorList windows, at::IntArrayRef n_ffts,
    at::IntArrayRef hop_lengths, double eps, c10::string_view distance, c10::string_view reduction,
    at::ArrayRef<double> weights) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("spectro::stft_loss_forward", "")
                             .typed<std::tuple<at::Tensor, at::Tensor, at::Tensor>(
                                 const at::Tensor&, const at::Tensor&, at::TensorList, at::IntArrayRef,
                                 at::IntArrayRef, double, c10::string_view, c10::string_view, at::ArrayRef<double>)>();
  at::AutoDispatchBelowADInplaceOrView guard;
  return op.call(x, y, windows, n_ffts, hop_lengths, eps, distance, reduction, weights);
}

std::tuple<at::Tensor, at::Tensor> call_multi_loss_below_autograd(
    const at::Tensor& x, const at::Tensor& y, at::TensorList windows, at::IntArrayRef n_ffts,
    at::IntArrayRef hop_lengths, double eps, c10::string_view distance, c10::string_view reduction,
    at::ArrayRef<double> weights) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("spectro::stft_loss", "")
                             .typed<std::tuple<at::Tensor, at::Tensor>(
                                 const at::Tensor&, const at::Tensor&, at::TensorList, at::IntArrayRef,
                                 at::IntArrayRef, double, c10::string_view, c10::string_view, at::ArrayRef<double>)>();
  at::AutoDispatchBelowADInplaceOrView guard;
  return op.call(x, y, windows, n_ffts, hop_lengths, eps, distance, reduction, weights);
}

at::Tensor call_loss_backward(const std::optional<at::Tensor>& grad_loss, const std::optional<at::Tensor>& grad_terms,
                              const at::Tensor& x, const at::Tensor& y, at::TensorList windows,
                              at::IntArrayRef n_ffts, at::IntArrayRef hop_lengths, double eps,
                              c10::string_view distance, c10::string_view reduction, at::ArrayRef<double> weights,
                              const at::Tensor& sums, const at::Tensor& terms, bool grad_target) {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("spectro::stft_loss_backward", "")
          .typed<at::Tensor(const std::optional<at::Tensor>&, const std::optional<at::Tensor>&, const at::Tensor&,
                            const at::Tensor&, at::TensorList, at::IntArrayRef, at::IntArrayRef, double,
                            c10::string_view, c10::string_view, at::ArrayRef<double>, const at::Tensor&,
                            const at::Tensor&, bool)>();
  return op.call(grad_loss, grad_terms, x, y, windows, n_ffts, hop_lengths, eps, distance, reduction, weights, sums,
                 terms, grad_target);
}

struct MultiLossFunction : public torch::autograd::Function<MultiLossFunction> {
  static constexpr bool is_traceable = true;

  static variable_list forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& y,
                               const std::vector<at::Tensor>& windows, const std::vector<int64_t>& n_ffts,
                               const std::vector<int64_t>& hops, double eps, const std::string& distance,
                               const std::string& reduction, const std::vector<double>& weights) {
    ctx->set_materialize_grads(false);
    auto [loss, terms, S] = call_loss_forward_below_autograd(x, y, windows, n_ffts, hops, eps, distance, reduction,
                                                             weights);
    auto& d = ctx->saved_data;
    d["n_ffts"] = n_ffts;
    d["hops"] = hops;
    d["eps"] = eps;
    d["distance"] = distance;
    d["reduction"] = reduction;
    d["weights"] = weights;
    variable_list saved{x, y, S, terms};
    saved.insert(saved.end(), windows.begin(), windows.end());
    ctx->save_for_backward(saved);
    return {loss, terms};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &y = saved[1], &S = saved[2], &terms = saved[3];
    const std::vector<at::Tensor> windows(saved.begin() + 4, saved.end());
    auto& d = ctx->saved_data;
    const std::vector<int64_t> n_ffts = d["n_ffts"].toIntVector(), hops = d["hops"].toIntVector();
    const std::vector<double> weights = d["weights"].toDoubleVector();
    const double eps = d["eps"].toDouble();
    const std::string distance = d["distance"].toStringRef(), reduction = d["reduction"].toStringRef();
    const bool want_x = ctx->needs_input_grad(0), want_y = ctx->needs_input_grad(1);
    variable_list out(9);
    const at::Tensor &gl = grads[0], &gt = grads[1];
    if (!(want_x || want_y) || (!gl.defined() && !gt.defined())) return out;
    if (at::GradMode::is_enabled()) {
      auto [loss, t] = api::stft_loss_composite(x, y, windows, n_ffts, hops, eps, distance, reduction, weights);
      composite_grads({loss, t}, {gl.defined() ? gl : at::zeros_like(loss), gt.defined() ? gt : at::zeros_like(t)},
                      x, y, want_x, want_y, out);
      return out;
    }
    const at::Tensor g = call_loss_backward(gl.defined() ? std::optional<at::Tensor>(gl) : std::nullopt,
                                            gt.defined() ? std::optional<at::Tensor>(gt) : std::nullopt, x, y,
                                            windows, n_ffts, hops, eps, distance, reduction, weights, S, terms,
                                            want_y);
    put_input_grads(g, want_x, want_y, out);
    return out;
  }
};

std::tuple<at::Tensor, at::Tensor> multi_loss_autograd(const at::Tensor& x, const at::Tensor& y,
                                                       at::TensorList windows, at::IntArrayRef n_ffts,
                                                       at::IntArrayRef hop_lengths, double eps,
                                                       c10::string_view distance, c10::string_view reduction,
                                                       at::ArrayRef<double> weights) {
  bool window_grad = false;
  for (const at::Tensor& w : windows) window_grad = window_grad || needs_autograd(w);
  const bool reverse_only = at::GradMode::is_enabled() && (needs_autograd(x) || needs_autograd(y)) &&
                            !has_tangent(x) && !has_tangent(y) && !window_grad && !under_functorch();
  if (reverse_only) {
    const auto out = MultiLossFunction::apply(x, y, windows.vec(), n_ffts.vec(), hop_lengths.vec(), eps,
                                              std::string(distance), std::string(reduction), weights.vec());
    return {out[0], out[1]};
  }
  const bool record = (at::GradMode::is_enabled() && (needs_autograd(x) || needs_autograd(y) || window_grad)) ||
                      has_tangent(x) || has_tangent(y) || under_functorch();
  if (!record) {  // (nothing to record: the backend's kernel, on CUDA the fused one)
    return call_multi_loss_below_autograd(x, y, windows, n_ffts, hop_lengths, eps, distance, reduction, weights);
  }
  // (forward mode, torch.func, window gradients: the composite, differentiable at every step)
  return api::stft_loss_composite(x, y, windows, n_ffts, hop_lengths, eps, distance, reduction, weights);
}

}  // namespace
}  // namespace spectro

TORCH_LIBRARY_IMPL(spectro, Autograd, m) {
  m.impl("stft_loss_sums", TORCH_FN(spectro::loss_autograd));
  m.impl("stft_loss", TORCH_FN(spectro::multi_loss_autograd));
}
