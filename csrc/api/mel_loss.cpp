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
// Registered at CompositeImplicitAutograd, as spectro::stft_loss: autograd (mel_analysis has its own, csrc/autograd),
// torch.compile and torch.export see the mel_analysis calls and the ATen ops; one Python call per loss.
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

}  // namespace

at::Tensor mel_loss_composite(const at::Tensor& x, const at::Tensor& y, at::TensorList windows, at::TensorList bases,
                              at::IntArrayRef hop_lengths, at::IntArrayRef pads, double clamp_eps, double pow,
                              double mag_eps, double log_weight, double mag_weight) {
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
  const bool logs_only = mag_weight == 0;
  const c10::SymInt T = x.sym_size(1);
  at::Tensor loss;
  auto add = [&loss](const at::Tensor& t) { loss = loss.defined() ? loss + t : t; };
  for (size_t i = 0; i < S; ++i) {
    TORCH_CHECK(windows[i].dim() == 1, kOp, ": expected 1D windows, but got windows[", i, "] of shape ",
                windows[i].sizes());
    const int64_t n_fft = windows[i].size(0), hop = hop_lengths[i], pad = pads[i];
    TORCH_CHECK_VALUE(hop > 0 && pad >= 0, kOp, ": expected hop_lengths[", i, "] > 0 and pads[", i, "] >= 0, but got ",
                      hop, " and ", pad);
    const c10::SymInt n_frames = (T + 2 * pad - n_fft) / hop + 1;
    const at::Tensor w = windows[i].to(x.scalar_type()), basis = bases[i].to(x.scalar_type()).contiguous();
    if (logs_only) {
      if (log_weight == 0) continue;
      const double log_scale = pow / std::log(10.0);
      const at::Tensor xl = call_mel(x, w, basis, n_fft, hop, n_frames, pad, mag_eps, "clamp", clamp_eps, log_scale);
      const at::Tensor yl = call_mel(y, w, basis, n_fft, hop, n_frames, pad, mag_eps, "clamp", clamp_eps, log_scale);
      add(at::l1_loss(xl, yl) * log_weight);
      continue;
    }
    const at::Tensor xm = call_mel(x, w, basis, n_fft, hop, n_frames, pad, mag_eps, "none", 0.0, 1.0);
    const at::Tensor ym = call_mel(y, w, basis, n_fft, hop, n_frames, pad, mag_eps, "none", 0.0, 1.0);
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

TORCH_LIBRARY_IMPL(spectro, CompositeImplicitAutograd, m) {
  m.impl("mel_loss", TORCH_FN(spectro::api::mel_loss_composite));
}
