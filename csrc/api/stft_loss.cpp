// spectro — spectro::stft_loss: the (multi-resolution) STFT loss of auraloss / Parallel WaveGAN as one op, from the
// four sums of one spectro::stft_loss_sums call per resolution.
//
//   per resolution r (frames centred with reflect padding, onesided, clamped magnitudes X, Y; csrc/ops/stft_loss.cpp):
//     sc[r]  = ||Y - X||_F / ||Y||_F                       (spectral convergence over the whole batch)
//     log[r] = reduce(d(ln X, ln Y)), lin[r] = reduce(d(X, Y))   (d = |.| or (.)^2; reduce = mean or sum)
//   loss = mean over r of (w_sc sc[r] + w_log log[r] + w_lin lin[r])
// Returns (loss, terms [R, 3] = (sc, log, lin) per resolution; a term of weight 0 is not computed and reads 0).
//
// Registered at CompositeImplicitAutograd: autograd (each stft_loss_sums call has its own, csrc/autograd), torch.compile
// and torch.export see the sums ops and a handful of ATen ops on [R, 4] tensors. Everything runs from C++: one Python
// call per loss, one node per ATen op in the autograd graph, no host sync.
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

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

std::tuple<at::Tensor, at::Tensor> stft_loss_composite(const at::Tensor& x, const at::Tensor& y,
                                                       at::TensorList windows, at::IntArrayRef n_ffts,
                                                       at::IntArrayRef hop_lengths, double eps,
                                                       c10::string_view distance, c10::string_view reduction,
                                                       at::ArrayRef<double> weights) {
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
  const bool mean = reduction == "mean";
  const double w_sc = weights[0], w_log = weights[1], w_lin = weights[2];
  const c10::SymInt B = x.sym_size(0), T = x.sym_size(1);
  std::vector<at::Tensor> rows;
  rows.reserve(R);
  for (int64_t r = 0; r < R; ++r) {
    const int64_t n_fft = n_ffts[r], hop = hop_lengths[r], pad = n_fft / 2;
    TORCH_CHECK_VALUE(n_fft > 0 && hop > 0, kOp, ": expected positive n_ffts and hop_lengths, but got n_ffts[", r,
                      "]=", n_fft, ", hop_lengths[", r, "]=", hop);
    c10::SymInt n_frames = (T + 2 * pad - n_fft) / hop + 1;
    at::Tensor s = call_sums(x, y, windows[r], n_fft, hop, n_frames, pad, eps, distance);
    // The means divide by every bin of every frame of every signal; spectral convergence, a ratio of two of the sums,
    // is unchanged by the common factor.
    if (mean) s = s.div(c10::Scalar(B * (n_fft / 2 + 1) * n_frames));
    rows.push_back(std::move(s));
  }
  const at::Tensor S = at::stack(rows);  // [R, 4]
  const at::Tensor zero = at::zeros({R}, S.options());
  at::Tensor sc = zero, log = zero, lin = zero, total;
  auto add = [&total](const at::Tensor& t) { total = total.defined() ? total + t : t; };
  if (w_sc != 0) {
    // sqrt with gradient 0 at 0 (the Frobenius norm's subgradient there, as torch.norm's backward)
    const at::Tensor s0 = S.select(1, 0), positive = s0 > 0;
    sc = at::where(positive, at::where(positive, s0, 1.0).sqrt(), 0.0) / S.select(1, 1).sqrt();
    add(sc * w_sc);
  }
  if (w_log != 0) {
    log = S.select(1, 2);
    add(log * w_log);
  }
  if (w_lin != 0) {
    lin = S.select(1, 3);
    add(lin * w_lin);
  }
  at::Tensor loss = total.defined() ? total.sum() / static_cast<double>(R) : at::zeros({}, S.options());
  return {loss, at::stack({sc, log, lin}, 1)};
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

TORCH_LIBRARY_IMPL(spectro, CompositeImplicitAutograd, m) {
  m.impl("stft_loss", TORCH_FN(spectro::api::stft_loss_composite));
}
