// spectro — spectro::stft_loss_sums: the four sums a multi-resolution STFT loss (auraloss's STFTLoss terms) needs
// from one resolution, its argument checks, its composite definition (spectro::analysis + ATen ops: the CPU backend,
// the CUDA fallback and the differentiable path of the autograd kernel), its backward to the spectra, and its Meta
// backend. The CUDA backend's fused kernel (kernels/cuda/fused/spectral_loss.cuh: both signals in one complex FFT,
// the spectra never leave shared memory) is in cuda.cu; the autograd kernel in csrc/autograd/stft_loss.cpp.
//
//   X = |analysis(x)|_e, Y = |analysis(y)|_e     |S|_e = sqrt(max(re^2 + im^2, eps)), onesided (fft_mode "rfft"),
//                                                 no normalisation (scale 1), no envelope scaling
//   sums = [sum (Y - X)^2, sum Y^2, sum d(ln X, ln Y), sum d(X, Y)]   over every bin, frame and row
//   d(a, b) = |a - b| ("L1") or (a - b)^2 ("L2")
// x, y [batch, T] of one real dtype (float32 / float64), window [n_fft] of the same. Result [4] in that dtype
// (accumulated in float64). Spectral convergence = sqrt(sums[0] / sums[1]); the magnitude distances' means divide
// sums[2] and sums[3] by batch * (n_fft / 2 + 1) * n_frames.
//
// stft_loss_sums_backward(grad [4], ...) -> dL/dX [batch, n_fft / 2 + 1, n_frames] (complex, frame-major: the rfft
// analysis' adjoint gives dL/dx); with grad_target, the packed spectrum G [batch, n_fft, n_frames] whose complex
// analysis adjoint (fft_mode "ifft") is dL/dx + i dL/dy (spectral_loss.cuh has the formula).
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include <cmath>

#include "../kernels/fft_mode.h"
#include "ops.h"

namespace spectro {

bool parse_loss_distance(const std::string& s) {
  TORCH_CHECK_VALUE(s == "L1" || s == "L2", "spectro::stft_loss_sums: distance must be 'L1' or 'L2', but got '", s,
                    "'");
  return s == "L2";
}

// The checks that need no data (shared with the Meta backend).
static void check_loss_meta(const char* op, const at::Tensor& x, const at::Tensor& y, const at::Tensor& window,
                            double eps, const std::string& distance) {
  TORCH_CHECK(x.dim() == 2, op, ": expected x of shape [batch, time], but got ", x.sym_sizes());
  TORCH_CHECK(y.sym_sizes() == x.sym_sizes(), op, ": expected y of the shape of x ", x.sym_sizes(), ", but got ",
              y.sym_sizes());
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble, op,
              ": expected x of dtype float32 or float64, but got ", dtype_name(x.scalar_type()));
  TORCH_CHECK(y.scalar_type() == x.scalar_type(), op, ": expected y of the dtype of x (", dtype_name(x.scalar_type()),
              "), but got ", dtype_name(y.scalar_type()));
  TORCH_CHECK(window.dim() == 1 && window.scalar_type() == x.scalar_type(), op, ": expected a 1D window of dtype ",
              dtype_name(x.scalar_type()), ", but got ", window.dim(), " dims of ", dtype_name(window.scalar_type()));
  TORCH_CHECK(y.device() == x.device(), op, ": expected y on device ", x.device(), ", but got ", y.device());
  TORCH_CHECK_VALUE(std::isfinite(eps) && eps > 0, op, ": eps must be a positive number, but got ", eps);
  parse_loss_distance(distance);
}

LossArgs check_stft_loss(const at::Tensor& x, const at::Tensor& y, const at::Tensor& window, int64_t n_fft,
                         int64_t hop_length, int64_t n_frames, int64_t pad, const std::string& pad_mode, double eps,
                         const std::string& distance) {
  const char* op = "spectro::stft_loss_sums";
  check_loss_meta(op, x, y, window, eps, distance);
  LossArgs l;
  // The geometry and window checks of the analysis of x (y has the same shape and dtype).
  l.x = check_analysis(x, window, n_fft, hop_length, n_frames, pad, pad_mode, false, "rfft", 1.0, std::nullopt);
  l.y = y;
  l.eps = eps;
  l.l2 = parse_loss_distance(distance);
  return l;
}

namespace {

// The clamped magnitudes of an onesided spectrum (real ops on view_as_real: inductor has no CUDA code for complex
// elementwise ops).
at::Tensor clamped_magnitude(const at::Tensor& spec, double eps) {
  return at::view_as_real(spec).square().sum(-1).clamp_min(eps).sqrt();
}

at::Tensor spectrum(const at::Tensor& x, const at::Tensor& window, int64_t n_fft, int64_t hop,
                    const c10::SymInt& n_frames, int64_t pad, const std::string& pad_mode) {
  return call_analysis(x, window, n_fft, hop, n_frames, pad, pad_mode, false, "rfft", 1.0);
}

}  // namespace

at::Tensor stft_loss_composite(const at::Tensor& x, const at::Tensor& y, const at::Tensor& window, int64_t n_fft,
                               int64_t hop_length, const c10::SymInt& n_frames, int64_t pad,
                               const std::string& pad_mode, double eps, const std::string& distance) {
  check_loss_meta("spectro::stft_loss_sums", x, y, window, eps, distance);
  const bool l2 = parse_loss_distance(distance);
  const at::Tensor xm = clamped_magnitude(spectrum(x, window, n_fft, hop_length, n_frames, pad, pad_mode), eps);
  const at::Tensor ym = clamped_magnitude(spectrum(y, window, n_fft, hop_length, n_frames, pad, pad_mode), eps);
  const at::Tensor d = ym - xm, lg = xm.log() - ym.log();
  const auto total = [](const at::Tensor& t) { return at::sum(t, at::kDouble); };
  const at::Tensor sums = at::stack({total(d.square()), total(ym.square()), total(l2 ? lg.square() : lg.abs()),
                                     total(l2 ? d.square() : d.abs())});
  return sums.to(x.scalar_type());
}

at::Tensor stft_loss_backward_composite(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& y,
                                        const at::Tensor& window, int64_t n_fft, int64_t hop_length,
                                        const c10::SymInt& n_frames, int64_t pad, const std::string& pad_mode,
                                        double eps, const std::string& distance, bool grad_target) {
  const char* op = "spectro::stft_loss_sums_backward";
  check_loss_meta(op, x, y, window, eps, distance);
  TORCH_CHECK(grad.dim() == 1 && grad.sym_size(0) == 4, op, ": expected grad of shape [4], but got ", grad.sym_sizes());
  const bool l2 = parse_loss_distance(distance);
  const at::Tensor X = spectrum(x, window, n_fft, hop_length, n_frames, pad, pad_mode);
  const at::Tensor Y = spectrum(y, window, n_fft, hop_length, n_frames, pad, pad_mode);
  const at::Tensor sx = at::view_as_real(X).square().sum(-1), sy = at::view_as_real(Y).square().sum(-1);
  const at::Tensor xm = sx.clamp_min(eps).sqrt(), ym = sy.clamp_min(eps).sqrt();
  const at::Tensor d = ym - xm, lg = xm.log() - ym.log();
  const at::Tensor dlog = l2 ? 2 * lg : lg.sign(), dlin = l2 ? 2 * d : d.sign();
  const at::Tensor g = grad.to(x.scalar_type());
  const at::Tensor dxm = g[0] * (-2 * d) + g[2] * dlog / xm - g[3] * dlin;
  const at::Tensor dym = g[0] * (2 * d) + g[1] * (2 * ym) - g[2] * dlog / ym + g[3] * dlin;
  const at::Tensor zero = at::zeros({}, sx.options());
  const at::Tensor gx = X * at::where(sx >= eps, dxm / xm, zero);  // [B, K, N] complex
  if (!grad_target) return gx.transpose(1, 2).contiguous().transpose(1, 2);  // frame-major, as G below
  const at::Tensor gy = Y * at::where(sy >= eps, dym / ym, zero);
  // G[k] = (GX[k] + i GY[k]) / 2 for k <= n_fft / 2, plus (conj GX[q] + i conj GY[q]) / 2 at k = (n_fft - q) mod n_fft,
  // in real arithmetic and without in-place writes (conjugate views and in-place adds into a zero buffer traced
  // differently under torch.compile's functionalization).
  const at::Tensor xr = at::real(gx), xi = at::imag(gx), yr = at::real(gy), yi = at::imag(gy);
  const int64_t K = n_fft / 2 + 1;
  // bins [0, K) from the direct terms, zero up to n_fft; the mirrored terms at 0 and at n_fft - K + 1 .. n_fft - 1
  const auto direct = [&](const at::Tensor& t) { return at::constant_pad_nd(t, {0, 0, 0, n_fft - K}); };
  const auto mirrored = [&](const at::Tensor& t) {
    return at::cat({t.narrow(1, 0, 1), at::constant_pad_nd(t.narrow(1, 1, K - 1).flip({1}), {0, 0, n_fft - K, 0})},
                   1);
  };
  const at::Tensor re = direct(0.5 * (xr - yi)) + mirrored(0.5 * (xr + yi));
  const at::Tensor im = direct(0.5 * (xi + yr)) + mirrored(0.5 * (yr - xi));
  // (frame-major, as the analysis' result and the CUDA and Meta backends')
  const at::Tensor G = at::complex(re.transpose(1, 2).contiguous(), im.transpose(1, 2).contiguous()).transpose(1, 2);
  return G;
}

namespace {

at::Tensor loss_cpu(const at::Tensor& x, const at::Tensor& y, const at::Tensor& window, int64_t n_fft,
                    int64_t hop_length, int64_t n_frames, int64_t pad, c10::string_view pad_mode, double eps,
                    c10::string_view distance) {
  // (The composite checks the arguments: its own, then spectro::analysis' geometry.)
  return stft_loss_composite(x, y, window, n_fft, hop_length, n_frames, pad, std::string(pad_mode), eps,
                             std::string(distance));
}

at::Tensor loss_meta(const at::Tensor& x, const at::Tensor& y, const at::Tensor& window, int64_t n_fft,
                     int64_t hop_length, c10::SymInt n_frames, int64_t pad, c10::string_view pad_mode, double eps,
                     c10::string_view distance) {
  parse_pad_mode(std::string(pad_mode));
  check_loss_meta("spectro::stft_loss_sums", x, y, window, eps, std::string(distance));
  return at::empty({4}, x.options());
}

at::Tensor loss_batched(const at::Tensor& x, const at::Tensor& y, const at::Tensor& window, int64_t n_fft,
                        int64_t hop_length, c10::SymInt n_frames, int64_t pad, c10::string_view pad_mode, double eps,
                        c10::string_view distance) {
  return stft_loss_composite(x, y, window, n_fft, hop_length, n_frames, pad, std::string(pad_mode), eps,
                             std::string(distance));
}

at::Tensor loss_backward_cpu(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& y,
                             const at::Tensor& window, int64_t n_fft, int64_t hop_length, int64_t n_frames,
                             int64_t pad, c10::string_view pad_mode, double eps, c10::string_view distance,
                             bool grad_target) {
  return stft_loss_backward_composite(grad, x, y, window, n_fft, hop_length, n_frames, pad, std::string(pad_mode),
                                      eps, std::string(distance), grad_target);
}

at::Tensor loss_backward_meta(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& y,
                              const at::Tensor& window, int64_t n_fft, int64_t hop_length, c10::SymInt n_frames,
                              int64_t pad, c10::string_view pad_mode, double eps, c10::string_view distance,
                              bool grad_target) {
  check_loss_meta("spectro::stft_loss_sums_backward", x, y, window, eps, std::string(distance));
  const int64_t bins = grad_target ? n_fft : n_fft / 2 + 1;
  return at::empty_symint({x.sym_size(0), std::move(n_frames), c10::SymInt(bins)},
                          x.options().dtype(c10::toComplexType(x.scalar_type())))
      .transpose(1, 2);
}

}  // namespace

at::Tensor call_stft_loss_backward(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& y,
                                   const at::Tensor& window, int64_t n_fft, int64_t hop_length,
                                   const c10::SymInt& n_frames, int64_t pad, const std::string& pad_mode, double eps,
                                   const std::string& distance, bool grad_target) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("spectro::stft_loss_sums_backward", "")
                             .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                               const at::Tensor&, int64_t, int64_t, c10::SymInt, int64_t,
                                               c10::string_view, double, c10::string_view, bool)>();
  return op.call(grad, x, y, window, n_fft, hop_length, n_frames, pad, pad_mode, eps, distance, grad_target);
}

at::Tensor loss_input_grad(const at::Tensor& G, const at::Tensor& window, int64_t n_fft, int64_t hop,
                           const c10::SymInt& T, int64_t pad, const std::string& pad_mode, bool packed) {
  const auto mode = packed ? kernels::FftMode::Fft : kernels::FftMode::Rfft;
  return call_synthesis(G, window, n_fft, hop, T, pad, pad_mode, false, kernels::name_of(kernels::adjoint(mode)), 1.0);
}

}  // namespace spectro

TORCH_LIBRARY_IMPL(spectro, CPU, m) {
  m.impl("stft_loss_sums", &spectro::loss_cpu);
  m.impl("stft_loss_sums_backward", &spectro::loss_backward_cpu);
}
TORCH_LIBRARY_IMPL(spectro, Meta, m) {
  m.impl("stft_loss_sums", TORCH_FN(spectro::loss_meta));
  m.impl("stft_loss_sums_backward", TORCH_FN(spectro::loss_backward_meta));
}
// vmap: the composite (whose analyses fold the vmapped dimension into their batch).
TORCH_LIBRARY_IMPL(spectro, FuncTorchBatchedDecomposition, m) {
  m.impl("stft_loss_sums", TORCH_FN(spectro::loss_batched));
}
