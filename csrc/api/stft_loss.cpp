// spectro — spectro::stft_loss: the (multi-resolution) STFT loss of auraloss / Parallel WaveGAN as one op, from the
// four sums of one spectro::stft_loss_sums call per resolution.
//
//   per resolution r (frames centred with reflect padding, onesided, clamped magnitudes X, Y; csrc/ops/stft_loss.cpp):
//     sc[r]  = ||Y - X||_F / ||Y||_F                       (spectral convergence over the whole batch)
//     log[r] = reduce(d(ln X, ln Y)), lin[r] = reduce(d(X, Y))   (d = |.| or (.)^2; reduce = mean or sum)
//   loss = mean over r of (w_sc sc[r] + w_log log[r] + w_lin lin[r])
// Returns (loss, terms [R, 3] = (sc, log, lin) per resolution; a term of weight 0 is not computed and reads 0).
//
// Registered at CompositeExplicitAutograd (every backend, Meta included; CUDA has its own kernel, csrc/ops/cuda.cu:
// every resolution's fused loss kernel and one combine kernel) with its own autograd node (csrc/autograd/stft_loss.cpp:
// one node for the whole loss over spectro::stft_loss_forward / stft_loss_backward, whose composites are here);
// torch.compile and torch.export see one spectro::stft_loss call. Everything runs from C++: one Python call per
// loss, no host sync.
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

#include <array>

#include <spectro/spectro.h>
#include "../ops/ops.h"

namespace spectro {
namespace api {
namespace {

constexpr const char* kOp = "spectro::stft_loss";

at::Tensor call_sums(const at::Tensor& x, const at::Tensor& y, const at::Tensor& window, int64_t n_fft, int64_t hop,
                     c10::SymInt n_frames, int64_t pad, double eps, c10::string_view distance) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("spectro::stft_loss_sums", "")
                             .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t,
                                               int64_t, c10::SymInt, int64_t, c10::string_view, double,
                                               c10::string_view)>();
  return op.call(x, y, window, n_fft, hop, std::move(n_frames), pad, "reflect", eps, distance);
}

}  // namespace

// The checked geometry of one call: per resolution (n_fft, hop, pad, n_frames, count).
std::vector<LossResolution> stft_loss_plan(const at::Tensor& x, at::TensorList windows, at::IntArrayRef n_ffts,
                                           at::IntArrayRef hop_lengths, at::ArrayRef<double> weights,
                                           c10::string_view reduction) {
  const int64_t R = static_cast<int64_t>(n_ffts.size());
  TORCH_CHECK_VALUE(R >= 1, kOp, ": n_ffts must hold at least one resolution");
  TORCH_CHECK_VALUE(static_cast<int64_t>(hop_lengths.size()) == R && static_cast<int64_t>(windows.size()) == R, kOp,
                    ": n_ffts, hop_lengths and windows must have the same length, but got ", R, ", ",
                    hop_lengths.size(), " and ", windows.size());
  TORCH_CHECK_VALUE(weights.size() == 3, kOp, ": weights must hold (w_sc, w_log_mag, w_lin_mag), but got ",
                    weights.size(), " values");
  TORCH_CHECK_VALUE(reduction == "mean" || reduction == "sum", kOp, ": reduction must be 'mean' or 'sum', but got '",
                    reduction, "'");
  TORCH_CHECK(x.dim() == 2, kOp, ": expected x of shape [batch, time], but got ", x.sym_sizes());
  const c10::SymInt B = x.sym_size(0), T = x.sym_size(1);
  std::vector<LossResolution> plan;
  plan.reserve(R);
  for (int64_t r = 0; r < R; ++r) {
    const int64_t n_fft = n_ffts[r], hop = hop_lengths[r];
    TORCH_CHECK_VALUE(n_fft > 0 && hop > 0, kOp, ": expected positive n_ffts and hop_lengths, but got n_ffts[", r,
                      "]=", n_fft, ", hop_lengths[", r, "]=", hop);
    LossResolution res{n_fft, hop, n_fft / 2, (T + 2 * (n_fft / 2) - n_fft) / hop + 1, c10::SymInt(1)};
    // The means divide by every bin of every frame of every signal.
    if (reduction == "mean") res.count = B * (n_fft / 2 + 1) * res.n_frames;
    plan.push_back(std::move(res));
  }
  return plan;
}

// S [R, 4]: each resolution's sums divided by its count (spectral convergence, a ratio of two of them, is unchanged
// by the common factor).
at::Tensor stft_loss_rows(const at::Tensor& x, const at::Tensor& y, at::TensorList windows,
                          const std::vector<LossResolution>& plan, double eps, c10::string_view distance) {
  std::vector<at::Tensor> rows;
  rows.reserve(plan.size());
  for (size_t r = 0; r < plan.size(); ++r) {
    const LossResolution& q = plan[r];
    at::Tensor s = call_sums(x, y, windows[r], q.n_fft, q.hop, q.n_frames, q.pad, eps, distance);
    if (q.count != 1) s = s.div(c10::Scalar(q.count));
    rows.push_back(std::move(s));
  }
  return at::stack(rows);
}

// (loss, terms [R, 3]) from S: sc = sqrt(s0) / sqrt(s1), log = s2, lin = s3 (a term of weight 0: 0, not computed);
// loss = mean over resolutions of weights . terms. safe_sc: s0's square root with gradient 0 at s0 = 0 (for the
// composite, differentiated by autograd); without, the plain square root (for the autograd node, whose backward
// writes that gradient itself: csrc/autograd/stft_loss.cpp). Both give the same values.
std::tuple<at::Tensor, at::Tensor> stft_loss_combine(const at::Tensor& S, at::ArrayRef<double> weights,
                                                     bool safe_sc) {
  const int64_t R = S.size(0);
  const at::Tensor zero = at::zeros({R}, S.options());
  std::array<at::Tensor, 3> cols{zero, zero, zero};
  if (weights[0] != 0) {
    const at::Tensor s0 = S.select(1, 0);
    if (safe_sc) {
      // sqrt with gradient 0 at 0 (the Frobenius norm's subgradient there, as torch.norm's backward)
      const at::Tensor positive = s0 > 0;
      cols[0] = at::where(positive, at::where(positive, s0, 1.0).sqrt(), 0.0) / S.select(1, 1).sqrt();
    } else {
      cols[0] = s0.sqrt() / S.select(1, 1).sqrt();  // (the same values)
    }
  }
  if (weights[1] != 0) cols[1] = S.select(1, 2);
  if (weights[2] != 0) cols[2] = S.select(1, 3);
  // loss = sum_k w_k sum_r cols[k][r] / R; equal weights share one product.
  at::Tensor total;
  double common = 0;
  bool equal = true;
  for (int k = 0; k < 3; ++k) {
    if (weights[k] == 0) continue;
    if (common == 0) common = weights[k];
    equal = equal && weights[k] == common;
  }
  for (int k = 0; k < 3; ++k) {
    if (weights[k] == 0) continue;
    const at::Tensor term = equal ? cols[k] : cols[k] * weights[k];
    total = total.defined() ? total + term : term;
  }
  at::Tensor loss = total.defined() ? total.sum() * ((equal ? common : 1.0) / static_cast<double>(R))
                                    : at::zeros({}, S.options());
  return {loss, at::stack({cols[0], cols[1], cols[2]}, 1)};
}

std::tuple<at::Tensor, at::Tensor> stft_loss_composite(const at::Tensor& x, const at::Tensor& y,
                                                       at::TensorList windows, at::IntArrayRef n_ffts,
                                                       at::IntArrayRef hop_lengths, double eps,
                                                       c10::string_view distance, c10::string_view reduction,
                                                       at::ArrayRef<double> weights) {
  const std::vector<LossResolution> plan = stft_loss_plan(x, windows, n_ffts, hop_lengths, weights, reduction);
  return stft_loss_combine(stft_loss_rows(x, y, windows, plan, eps, distance), weights, /*safe_sc=*/true);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> stft_loss_forward_composite(
    const at::Tensor& x, const at::Tensor& y, at::TensorList windows, at::IntArrayRef n_ffts,
    at::IntArrayRef hop_lengths, double eps, c10::string_view distance, c10::string_view reduction,
    at::ArrayRef<double> weights) {
  const std::vector<LossResolution> plan = stft_loss_plan(x, windows, n_ffts, hop_lengths, weights, reduction);
  at::Tensor S = stft_loss_rows(x, y, windows, plan, eps, distance);
  auto [loss, terms] = stft_loss_combine(S, weights, /*safe_sc=*/false);
  return {loss, terms, S};
}

// dL/dS in closed form (sc = sqrt(s0) / sqrt(s1): dsc/ds0 = sc / 2 s0, 0 at s0 = 0 as the Frobenius norm's
// subgradient; dsc/ds1 = -sc / 2 s1), then per resolution the sums' backward (dL/dsums = dL/ds / count) and the
// analysis' adjoint, summed.
at::Tensor stft_loss_backward_composite(const std::optional<at::Tensor>& grad_loss,
                                        const std::optional<at::Tensor>& grad_terms, const at::Tensor& x,
                                        const at::Tensor& y, at::TensorList windows, at::IntArrayRef n_ffts,
                                        at::IntArrayRef hop_lengths, double eps, c10::string_view distance,
                                        c10::string_view reduction, at::ArrayRef<double> weights,
                                        const at::Tensor& S, const at::Tensor& terms, bool grad_target) {
  const auto plan = stft_loss_plan(x, windows, n_ffts, hop_lengths, weights, reduction);
  const int64_t R = static_cast<int64_t>(plan.size());
  const at::Tensor gl = grad_loss.value_or(at::Tensor()), gt = grad_terms.value_or(at::Tensor());
  // dL/dterm k per resolution ([R]); undefined: no gradient (weight 0: not computed).
  auto coef = [&](int k) {
    at::Tensor c;
    if (weights[k] == 0) return c;
    if (gl.defined()) c = gl * (weights[k] / static_cast<double>(R));
    if (gt.defined()) c = c.defined() ? c + gt.select(1, k) : gt.select(1, k);
    return c.defined() ? c.expand({R}) : c;
  };
  const at::Tensor a = coef(0), b = coef(1), c = coef(2);
  const at::Tensor zero = at::zeros({R}, S.options());
  at::Tensor g0 = zero, g1 = zero;
  if (a.defined()) {
    const at::Tensor half = a * terms.select(1, 0) * 0.5, s0 = S.select(1, 0);
    g0 = at::where(s0 > 0, half / s0, 0.0);
    g1 = -half / S.select(1, 1);
  }
  const at::Tensor gS = at::stack({g0, g1, b.defined() ? b : zero, c.defined() ? c : zero}, 1);
  at::Tensor g;  // summed over resolutions (with y: complex, dL/dx + i dL/dy)
  const std::string dist(distance);
  for (int64_t r = 0; r < R; ++r) {
    const LossResolution& q = plan[r];
    at::Tensor g4 = gS.select(0, r);
    if (q.count != 1) g4 = g4.div(c10::Scalar(q.count));
    const at::Tensor G = call_stft_loss_backward(g4, x, y, windows[r], q.n_fft, q.hop, q.n_frames, q.pad, "reflect",
                                                 eps, dist, grad_target);
    const at::Tensor gr = loss_input_grad(G, windows[r], q.n_fft, q.hop, x.sym_size(1), q.pad, "reflect", grad_target);
    g = g.defined() ? g.add_(gr) : gr;
  }
  return g;
}

}  // namespace api

// The public C++ entry point (spectro/include/spectro/spectro.h): the op through the dispatcher.
std::tuple<at::Tensor, at::Tensor> stft_loss(const at::Tensor& x, const at::Tensor& y, at::TensorList windows,
                                             at::IntArrayRef n_ffts, at::IntArrayRef hop_lengths, double eps,
                                             c10::string_view distance, c10::string_view reduction,
                                             at::ArrayRef<double> weights) {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("spectro::stft_loss", "")
          .typed<std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&, at::TensorList,
                                                    at::IntArrayRef, at::IntArrayRef, double, c10::string_view,
                                                    c10::string_view, at::ArrayRef<double>)>();
  return op.call(x, y, windows, n_ffts, hop_lengths, eps, distance, reduction, weights);
}

}  // namespace spectro

// The composite is every backend's kernel (CPU, CUDA, Meta: below autograd it records nothing); autograd is the node
// in csrc/autograd/stft_loss.cpp (which falls back to this composite, differentiated step by step, where it does not
// apply); under vmap the composite runs on the batched tensors.
TORCH_LIBRARY_IMPL(spectro, CompositeExplicitAutograd, m) {
  m.impl("stft_loss", TORCH_FN(spectro::api::stft_loss_composite));
  m.impl("stft_loss_forward", TORCH_FN(spectro::api::stft_loss_forward_composite));
  m.impl("stft_loss_backward", TORCH_FN(spectro::api::stft_loss_backward_composite));
}
TORCH_LIBRARY_IMPL(spectro, FuncTorchBatchedDecomposition, m) {
  m.impl("stft_loss", TORCH_FN(spectro::api::stft_loss_composite));
}
