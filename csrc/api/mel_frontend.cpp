// spectro — the mel frontends' spectro::mel_analysis call from a frontend's arguments (mel_frontend.h). Its Python twin
// is spectro/mel.py's _mel_op_args / _mel_op, which torch.compile traces; tests/test_mel_frontend_eager.py checks
// the two agree (which calls each takes, results and gradients bit for bit).
#include "mel_frontend.h"

#include <cmath>

#include <spectro/spectro.h>

namespace spectro {
namespace api {
namespace {

bool is_mel_dtype(at::ScalarType t) {
  return t == at::kFloat || t == at::kDouble || t == at::kHalf || t == at::kBFloat16;
}

bool is_pad_mode(const std::string& s) {
  return s == "constant" || s == "reflect" || s == "replicate" || s == "circular";
}

double log_scale_of(const std::optional<std::string>& log, double power) {
  if (log == "log10") return 1.0 / std::log(10.0);
  if (log == "db") return 20.0 / power / std::log(10.0);
  return 1.0;
}

}  // namespace

at::Tensor mel_frontend_op_call(const at::Tensor& x, const at::Tensor& window, const at::Tensor& basis, int64_t n_fft,
                                int64_t hop_length, int64_t win_length, bool center, const std::string& pad_mode,
                                int64_t pad_left, int64_t pad_right, const std::string& pad_value_mode,
                                bool normalized, double power, double mag_eps, bool drop_last,
                                const std::optional<std::string>& log, const std::string& log_mode, double log_eps) {
  if (x.dim() < 1) return at::Tensor();
  const int64_t T = x.size(-1);
  // Centre padding: n_fft // 2 with center; a symmetric pad without center is the op's own padding (HiFi-GAN /
  // BigVGAN / Vocos "same"), by pad_value_mode. Any other pad: the Python path pads a copy first.
  int64_t centre_pad = center ? n_fft / 2 : 0;
  std::string op_pad_mode = center ? pad_mode : "constant";
  if (pad_left != 0 || pad_right != 0) {
    if (center || pad_left != pad_right || pad_left < 0 || !is_pad_mode(pad_value_mode) || T <= 0) return at::Tensor();
    if (pad_value_mode == "reflect" && pad_left >= T) return at::Tensor();
    if (pad_value_mode == "circular" && pad_left > T) return at::Tensor();
    centre_pad = pad_left;
    op_pad_mode = pad_value_mode;
  } else if (center) {
    if (pad_mode == "reflect" && centre_pad >= std::max<int64_t>(T, 1)) return at::Tensor();
    if (pad_mode == "circular" && centre_pad > T) return at::Tensor();
  }
  // The geometry spectro.stft accepts, with at least one frame.
  if (!(hop_length > 0 && win_length > 0 && win_length <= n_fft && window.dim() == 1 && window.size(0) == win_length))
    return at::Tensor();
  if (window.is_complex() || !at::isFloatingType(window.scalar_type()) || !is_mel_dtype(x.scalar_type()))
    return at::Tensor();
  if (window.device() != x.device() || basis.dim() != 2) return at::Tensor();
  const int64_t span = T + 2 * centre_pad;
  if (span < n_fft) return at::Tensor();
  const int64_t n_frames = 1 + (span - n_fft) / hop_length - (drop_last ? 1 : 0);
  if (n_frames < 1) return at::Tensor();
  // torch's dtype promotion: float32 (float64 for a float64 signal) with the window's dtype; the window centred.
  const at::ScalarType compute =
      at::promote_types(x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat, window.scalar_type());
  // (Each step only where it changes something: an eager call's host time is what this path is for.)
  at::Tensor w = window.scalar_type() == compute ? window : window.to(compute);
  if (win_length < n_fft) {
    const int64_t left = (n_fft - win_length) / 2;
    w = at::constant_pad_nd(w, {left, n_fft - win_length - left});
  }
  if (!w.is_contiguous()) w = w.contiguous();
  at::Tensor xc = (compute == at::kDouble || x.scalar_type() == at::kFloat) && x.scalar_type() != compute
                      ? x.to(compute)
                      : x;
  if (xc.dim() != 2) xc = xc.reshape({-1, T});
  const int64_t bins = n_fft / 2 + 1;
  // (zero-padded bins contribute nothing: columns past the spectrum's dropped)
  at::Tensor b = basis.size(1) > bins ? basis.slice(1, 0, bins) : basis;
  if (b.device() != w.device() || b.scalar_type() != w.scalar_type()) b = b.to(w.device(), w.scalar_type());
  if (!b.is_contiguous()) b = b.contiguous();
  const at::Tensor out =
      mel_analysis(xc, w, b, n_fft, hop_length, n_frames, centre_pad, op_pad_mode,
                   normalized ? std::pow(static_cast<double>(n_fft), -0.5) : 1.0, power, mag_eps,
                   log.has_value() ? log_mode : std::string("none"), log_eps, log_scale_of(log, power));
  if (x.dim() == 2) return out;
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end() - 1);
  shape.push_back(out.size(-2));
  shape.push_back(out.size(-1));
  return out.reshape(shape);
}

}  // namespace api
}  // namespace spectro
