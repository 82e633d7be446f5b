// spectro — spectro::mel_loss: the multi-scale mel-spectrogram L1 loss of DAC / BigVGAN (and, with one scale,
// HiFi-GAN's and Vocos') as one op, over one spectro::mel_analysis per scale and signal.
//
//   per scale i (window w_i of n_fft_i samples, hop_lengths[i], reflect padding of pads[i] samples on each side;
//   mels M = basis_i . sqrt(|STFT|^2 + mag_eps)):
//     log_weight * mean|log10(max(Mx, clamp_eps)^pow) - log10(max(My, clamp_eps)^pow)| + mag_weight * mean|Mx - My|
//   loss = the sum over the scales (a term of weight 0 is not computed).
// With mag_weight 0 (DAC's and BigVGAN's training values) the log-mels come from mel_analysis' own log stage
// ((pow / ln 10) ln max(M, clamp_eps): on CUDA inside the mel kernel and its backward); otherwise from the linear mels
// by ATen's clamp / pow / log10.
//
// Registered at CompositeExplicitAutograd with its own autograd (csrc/autograd/mel_loss.cpp): in the training case
// (only x requires grad, log terms only) one node over spectro::mel_loss_forward (the loss and the signs of log-mel x -
// log-mel y per scale) whose backward is spectro::mel_loss_backward: per scale spectro::mel_l1_backward_input (on CUDA
// one kernel: each frame's spectrum recomputed, the L1 loss' gradient formed and taken back to the signal, added to
// the earlier scales' sum in place); elsewhere this composite,
// differentiated through mel_analysis' autograd. On CUDA the log terms (with or without gradients) are
// mel_loss_forward's kernels (csrc/ops/cuda.cu): per scale the two mel kernels and one for the signs and the partial
// sums of |log-mel x - log-mel y|, then one for the loss. torch.compile and torch.export see one spectro::mel_loss
// call; one Python call per loss.
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

#include <cmath>

#include <spectro/spectro.h>
#include "../ops/ops.h"

namespace spectro {
namespace api {
namespace {

constexpr const char* kOp = "spectro::mel_loss";

at::Tensor call_mel(const at::Tensor& x, const at::Tensor& window, const at::Tensor& basis, int64_t n_fft, int64_t hop,
                    c10::SymInt n_frames, int64_t pad, double mag_eps, c10::string_view log, double log_eps,
                    double log_scale) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("spectro::mel_analysis", "")
                             .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t,
                                               int64_t, c10::SymInt, int64_t, c10::string_view, double, double,
                                               double, c10::string_view, double, double)>();
  return op.call(x, window, basis, n_fft, hop, std::move(n_frames), pad, "reflect", 1.0, 1.0, mag_eps, log, log_eps,
                 log_scale);
}

// The argument checks that need no integer size (the list lengths, the signals' shapes, clamp_eps); the number of
// scales.
size_t check_mel_loss_args(const at::Tensor& x, const at::Tensor& y, at::TensorList windows, at::TensorList bases,
                           at::IntArrayRef hop_lengths, at::IntArrayRef pads, double clamp_eps) {
  const size_t S = windows.size();
  TORCH_CHECK_VALUE(S >= 1, kOp, ": windows must hold at least one scale");
  TORCH_CHECK_VALUE(bases.size() == S && hop_lengths.size() == S && pads.size() == S, kOp,
                    ": windows, bases, hop_lengths and pads must have the same length, but got ", S, ", ",
                    bases.size(), ", ", hop_lengths.size(), " and ", pads.size());
  TORCH_CHECK(x.dim() == 2, kOp, ": expected x of shape [batch, time], but got ", x.sym_sizes());
  TORCH_CHECK(y.sym_sizes() == x.sym_sizes(), kOp, ": expected y of the shape of x ", x.sym_sizes(), ", but got ",
              y.sym_sizes());
  TORCH_CHECK_VALUE(std::isfinite(clamp_eps) && clamp_eps > 0, kOp, ": clamp_eps must be a positive number, but got ",
                    clamp_eps);
  return S;
}

}  // namespace

std::vector<MelLossScale> mel_loss_plan(const at::Tensor& x, const at::Tensor& y, at::TensorList windows,
                                        at::TensorList bases, at::IntArrayRef hop_lengths, at::IntArrayRef pads,
                                        double clamp_eps) {
  const size_t S = check_mel_loss_args(x, y, windows, bases, hop_lengths, pads, clamp_eps);
  const c10::SymInt T = x.sym_size(1);
  std::vector<MelLossScale> plan;
  plan.reserve(S);
  for (size_t i = 0; i < S; ++i) {
    TORCH_CHECK(windows[i].dim() == 1, kOp, ": expected 1D windows, but got windows[", i, "] of shape ",
                windows[i].sizes());
    const int64_t n_fft = windows[i].size(0), hop = hop_lengths[i], pad = pads[i];
    TORCH_CHECK_VALUE(hop > 0 && pad >= 0, kOp, ": expected hop_lengths[", i, "] > 0 and pads[", i, "] >= 0, but got ",
                      hop, " and ", pad);
    // (converted only where needed: below autograd, an op may not hand back its input)
    const auto as_x = [&](const at::Tensor& t) {
      const at::Tensor c = t.scalar_type() == x.scalar_type() ? t : t.to(x.scalar_type());
      return c.is_contiguous() ? c : c.contiguous();
    };
    plan.push_back(MelLossScale{n_fft, hop, pad, (T + 2 * pad - n_fft) / hop + 1, as_x(windows[i]), as_x(bases[i])});
  }
  return plan;
}

at::Tensor mel_loss_log_mel(const at::Tensor& x, const MelLossScale& q, double clamp_eps, double pow, double mag_eps) {
  return call_mel(x, q.window, q.basis, q.n_fft, q.hop, q.n_frames, q.pad, mag_eps, "clamp", clamp_eps,
                  pow / std::log(10.0));
}

at::Tensor mel_loss_composite(const at::Tensor& x, const at::Tensor& y, at::TensorList windows, at::TensorList bases,
                              at::IntArrayRef hop_lengths, at::IntArrayRef pads, double clamp_eps, double pow,
                              double mag_eps, double log_weight, double mag_weight) {
  const std::vector<MelLossScale> plan = mel_loss_plan(x, y, windows, bases, hop_lengths, pads, clamp_eps);
  const bool logs_only = mag_weight == 0;
  at::Tensor loss;
  auto add = [&loss](const at::Tensor& t) { loss = loss.defined() ? loss + t : t; };
  for (const MelLossScale& q : plan) {
    if (logs_only) {
      if (log_weight == 0) continue;
      const at::Tensor xl = mel_loss_log_mel(x, q, clamp_eps, pow, mag_eps);
      const at::Tensor yl = mel_loss_log_mel(y, q, clamp_eps, pow, mag_eps);
      add(at::l1_loss(xl, yl) * log_weight);
      continue;
    }
    const at::Tensor xm = call_mel(x, q.window, q.basis, q.n_fft, q.hop, q.n_frames, q.pad, mag_eps, "none", 0.0, 1.0);
    const at::Tensor ym = call_mel(y, q.window, q.basis, q.n_fft, q.hop, q.n_frames, q.pad, mag_eps, "none", 0.0, 1.0);
    if (log_weight != 0) {
      const auto log_mel = [&](const at::Tensor& m) {
        const at::Tensor c = m.clamp_min(clamp_eps);
        return (pow != 1 ? c.pow(pow) : c).log10();
      };
      add(at::l1_loss(log_mel(xm), log_mel(ym)) * log_weight);
    }
    add(at::l1_loss(xm, ym) * mag_weight);
  }
  return loss.defined() ? loss : at::zeros({}, x.options());
}

MelLossForward mel_loss_forward_composite(const at::Tensor& x, const at::Tensor& y, at::TensorList windows,
                                          at::TensorList bases, at::IntArrayRef hop_lengths, at::IntArrayRef pads,
                                          double clamp_eps, double pow, double mag_eps, double log_weight) {
  const std::vector<MelLossScale> plan = mel_loss_plan(x, y, windows, bases, hop_lengths, pads, clamp_eps);
  at::Tensor loss;
  std::vector<at::Tensor> signs;
  signs.reserve(plan.size());
  for (const MelLossScale& q : plan) {
    const at::Tensor xl = mel_loss_log_mel(x, q, clamp_eps, pow, mag_eps);
    const at::Tensor d = xl - mel_loss_log_mel(y, q, clamp_eps, pow, mag_eps);
    const at::Tensor term = d.abs().mean() * log_weight;  // (at::l1_loss's arithmetic: the same bits)
    loss = loss.defined() ? loss + term : term;
    signs.push_back(d.sign().to(at::kChar));  // (a quarter of the target's bytes: all the backward needs of it)
  }
  return {loss, std::move(signs)};
}

// Meta (fake tensors, torch.compile, export): the shapes from symbolic sizes alone. (The composite reads integer
// sizes, e.g. each window's length, which fake tensors with dynamic shapes cannot give inside an op's kernel on
// torch 2.3.)
MelLossForward mel_loss_forward_meta(const at::Tensor& x, const at::Tensor& y, at::TensorList windows,
                                     at::TensorList bases, at::IntArrayRef hop_lengths, at::IntArrayRef pads,
                                     double clamp_eps, double pow, double mag_eps, double log_weight) {
  const size_t S = check_mel_loss_args(x, y, windows, bases, hop_lengths, pads, clamp_eps);
  std::vector<at::Tensor> signs;
  signs.reserve(S);
  for (size_t i = 0; i < S; ++i) {
    TORCH_CHECK(windows[i].dim() == 1 && bases[i].dim() == 2, kOp, ": expected 1D windows and 2D bases");
    TORCH_CHECK_VALUE(hop_lengths[i] > 0 && pads[i] >= 0, kOp, ": expected hop_lengths[", i, "] > 0 and pads[", i,
                      "] >= 0, but got ", hop_lengths[i], " and ", pads[i]);
    const c10::SymInt n_frames = (x.sym_size(1) + 2 * pads[i] - windows[i].sym_size(0)) / hop_lengths[i] + 1;
    signs.push_back(at::empty_symint({x.sym_size(0), bases[i].sym_size(0), n_frames}, x.options().dtype(at::kChar)));
  }
  // (the log-mels' dtype: x's compute dtype, float32 for half precision)
  return {at::empty({}, x.options().dtype(compute_type_of(x.scalar_type()))), std::move(signs)};
}

std::pair<double, at::Tensor> mel_loss_scale_grad(const at::Tensor& grad_loss, const at::Tensor& sign,
                                                  double log_weight) {
  // d mean / d element = 1 / count: into the weight where the count is known, else into the incoming gradient
  const c10::SymInt count = sign.sym_numel();
  if (const auto n = count.maybe_as_int()) return {log_weight / static_cast<double>(*n), grad_loss};
  return {log_weight, grad_loss.div(c10::Scalar(count))};
}

at::Tensor mel_loss_backward_composite(const at::Tensor& grad_loss, at::TensorList signs, const at::Tensor& x,
                                       at::TensorList windows, at::TensorList bases, at::IntArrayRef hop_lengths,
                                       at::IntArrayRef pads, double clamp_eps, double pow, double mag_eps,
                                       double log_weight) {
  // (x for y: the checks of x alone)
  const std::vector<MelLossScale> plan = mel_loss_plan(x, x, windows, bases, hop_lengths, pads, clamp_eps);
  TORCH_CHECK_VALUE(signs.size() == plan.size(), "spectro::mel_loss_backward: expected one signs tensor per scale (",
                    plan.size(), "), but got ", signs.size());
  const double log_scale = pow / std::log(10.0);
  at::Tensor gx;
  for (size_t i = 0; i < plan.size(); ++i) {
    const MelLossScale& q = plan[i];
    const auto [weight, g] = mel_loss_scale_grad(grad_loss, signs[i], log_weight);
    const at::Tensor gi = call_mel_l1_backward_input(g, signs[i], x, q.window, q.basis, q.n_fft, q.hop, q.n_frames,
                                                     q.pad, "reflect", 1.0, 1.0, mag_eps, "clamp", clamp_eps,
                                                     log_scale, weight);
    gx = gx.defined() ? gx.add_(gi) : gi;
  }
  return gx;
}

at::Tensor mel_loss_backward_meta(const at::Tensor& grad_loss, at::TensorList signs, const at::Tensor& x,
                                  at::TensorList windows, at::TensorList bases, at::IntArrayRef hop_lengths,
                                  at::IntArrayRef pads, double clamp_eps, double pow, double mag_eps,
                                  double log_weight) {
  const size_t S = check_mel_loss_args(x, x, windows, bases, hop_lengths, pads, clamp_eps);
  TORCH_CHECK_VALUE(signs.size() == S, "spectro::mel_loss_backward: expected one signs tensor per scale (", S,
                    "), but got ", signs.size());
  return at::empty_symint(x.sym_sizes(), x.options().dtype(compute_type_of(x.scalar_type())));
}

}  // namespace api

// The public C++ entry point (spectro/include/spectro/spectro.h): the op through the dispatcher.
at::Tensor mel_loss(const at::Tensor& x, const at::Tensor& y, at::TensorList windows, at::TensorList bases,
                    at::IntArrayRef hop_lengths, at::IntArrayRef pads, double clamp_eps, double pow, double mag_eps,
                    double log_weight, double mag_weight) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("spectro::mel_loss", "")
                             .typed<at::Tensor(const at::Tensor&, const at::Tensor&, at::TensorList, at::TensorList,
                                               at::IntArrayRef, at::IntArrayRef, double, double, double, double,
                                               double)>();
  return op.call(x, y, windows, bases, hop_lengths, pads, clamp_eps, pow, mag_eps, log_weight, mag_weight);
}

}  // namespace spectro

// The composites are every backend's kernels but CUDA's log terms and mel_loss_forward's Meta (below autograd they
// record nothing); autograd is csrc/autograd/mel_loss.cpp (its own node for the training case, else this composite,
// differentiable at every step); under vmap the composite runs on the batched tensors.
TORCH_LIBRARY_IMPL(spectro, CompositeExplicitAutograd, m) {
  m.impl("mel_loss", TORCH_FN(spectro::api::mel_loss_composite));
  m.impl("mel_loss_forward", TORCH_FN(spectro::api::mel_loss_forward_composite));
  m.impl("mel_loss_backward", TORCH_FN(spectro::api::mel_loss_backward_composite));
}
TORCH_LIBRARY_IMPL(spectro, Meta, m) {
  m.impl("mel_loss_forward", TORCH_FN(spectro::api::mel_loss_forward_meta));
  m.impl("mel_loss_backward", TORCH_FN(spectro::api::mel_loss_backward_meta));
}
TORCH_LIBRARY_IMPL(spectro, FuncTorchBatchedDecomposition, m) {
  m.impl("mel_loss", TORCH_FN(spectro::api::mel_loss_composite));
}
