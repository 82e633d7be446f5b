// spectro — spectro::mel_analysis: the mel frontend's op (power spectrum -> mel bands -> log), its argument checks,
// its composite definition (spectro::analysis + ATen ops: the CUDA fallback, the CPU backward and the differentiable
// path of the autograd kernel) and its Meta backend. The CPU forward (chunks of frames through the mel stages,
// kernels/cpu/mel.h) is in cpu.cpp; the CUDA backend's fused kernel (kernels/cuda/fused/mel.cuh) in cuda.cu; the
// autograd kernel in csrc/autograd/mel.cpp.
//
//   out[b, m, n] = log_stage(sum_k basis[m, k] * (|X[b, k, n]|^2 + mag_eps)^(power / 2))
//   X = spectro::analysis(x, window, n_fft, hop_length, n_frames, pad, pad_mode, env_normalize=False, "rfft", scale)
//   log_stage: "none" m; "clamp" log_scale * log(max(m, log_eps)); "add" log_scale * log(m + log_eps);
//              "log1p" log_scale * log1p(m)
// basis [n_mels, bins'], bins' <= n_fft / 2 + 1 (bins past bins' are not used). Result [batch, n_mels, n_frames],
// contiguous, in the compute dtype (float32 for float32 / float16 / bfloat16 x, float64 for float64).
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include <cmath>

#include "ops.h"
#include "spectro/spectro.h"

namespace spectro {

MelLog parse_mel_log(const std::string& s) {
  MelLog out;
  TORCH_CHECK_VALUE(kernels::parse_mel_log(s.c_str(), &out),
                    "spectro::mel_analysis: log must be 'none', 'clamp', 'add' or 'log1p', but got '", s, "'");
  return out;
}

// The checks that need no data (shared with the Meta backend): dims, dtypes, the basis' shape, the scalars.
static void check_mel_meta(const char* op, const at::Tensor& x, const at::Tensor& window, const at::Tensor& basis,
                           int64_t n_fft, double power, double mag_eps, const std::string& log, double log_eps) {
  TORCH_CHECK(x.dim() == 2, op, ": expected x of shape [batch, time], but got ", x.sym_sizes());
  TORCH_CHECK(window.dim() == 1, op, ": expected a 1D window, but got ", window.dim(), " dims");
  check_input_dtypes(op, "x", x, window, /*want_complex=*/false, "rfft");
  const auto compute = compute_type_of(x.scalar_type());
  TORCH_CHECK(basis.dim() == 2, op, ": expected basis of shape [n_mels, bins], but got ", basis.sym_sizes());
  TORCH_CHECK(basis.scalar_type() == compute, op, ": expected basis of dtype ", dtype_name(compute), ", but got ",
              dtype_name(basis.scalar_type()));
  // (The band and bin counts are specialised on under tracing: a filterbank's shape is fixed.)
  const int64_t n_mels = basis.sym_size(0).guard_int(__FILE__, __LINE__);
  const int64_t bins = basis.sym_size(1).guard_int(__FILE__, __LINE__);
  TORCH_CHECK(n_mels >= 1, op, ": expected at least one mel band (basis rows), but got basis of shape ",
              basis.sym_sizes());
  TORCH_CHECK(bins >= 1 && bins <= n_fft / 2 + 1, op, ": expected basis with 1 to n_fft // 2 + 1 = ", n_fft / 2 + 1,
              " columns (frequency bins), but got basis of shape ", basis.sym_sizes());
  TORCH_CHECK(basis.device() == x.device(), op, ": expected basis on device ", x.device(), ", but got ",
              basis.device());
  TORCH_CHECK_VALUE(std::isfinite(power) && power > 0, op, ": power must be a positive number, but got ", power);
  TORCH_CHECK_VALUE(std::isfinite(mag_eps) && mag_eps >= 0, op, ": mag_eps must be >= 0, but got ", mag_eps);
  parse_mel_log(log);
  TORCH_CHECK_VALUE(std::isfinite(log_eps) && log_eps >= 0, op, ": log_eps must be >= 0, but got ", log_eps);
}

MelArgs check_mel(const at::Tensor& x, const at::Tensor& window, const at::Tensor& basis, int64_t n_fft,
                  int64_t hop_length, int64_t n_frames, int64_t pad, const std::string& pad_mode, double scale,
                  double power, double mag_eps, const std::string& log, double log_eps, double log_scale) {
  const char* op = "spectro::mel_analysis";
  check_mel_meta(op, x, window, basis, n_fft, power, mag_eps, log, log_eps);
  MelArgs m;
  m.analysis = check_analysis(x, window, n_fft, hop_length, n_frames, pad, pad_mode, false, "rfft", scale,
                              std::nullopt);
  m.basis = basis.contiguous();
  m.stages = kernels::MelStages<double>{power, mag_eps, parse_mel_log(log), log_eps, log_scale};
  return m;
}

void check_mel_grad(const at::Tensor& grad, const MelArgs& m, int64_t n_frames) {
  const int64_t batch = m.analysis.input.size(0), n_mels = m.basis.size(0);
  TORCH_CHECK(grad.dim() == 3 && grad.size(0) == batch && grad.size(1) == n_mels && grad.size(2) == n_frames,
              "spectro::mel_analysis_backward: expected grad of shape [", batch, ", ", n_mels, ", ", n_frames,
              "], but got ", grad.sizes());
  TORCH_CHECK(grad.device() == m.analysis.input.device(), "spectro::mel_analysis_backward: expected grad on device ",
              m.analysis.input.device(), ", but got ", grad.device());
}

namespace {
// An L1 backward's grad_loss [] and its per-mel tensor `t` (`name`) [batch, n_mels, n_frames], on x's device; with
// `int8`, also of dtype int8.
void check_mel_l1_args(const char* op, const at::Tensor& grad_loss, const at::Tensor& t, const char* name,
                       bool int8, const MelArgs& m, int64_t n_frames) {
  const at::Device device = m.analysis.input.device();
  const int64_t batch = m.analysis.input.size(0), n_mels = m.basis.size(0);
  TORCH_CHECK(grad_loss.dim() == 0 && grad_loss.device() == device, op, ": expected grad_loss of shape [] on ", device,
              ", but got ", grad_loss.sizes(), " on ", grad_loss.device());
  TORCH_CHECK(t.dim() == 3 && t.size(0) == batch && t.size(1) == n_mels && t.size(2) == n_frames &&
                  t.device() == device && (!int8 || t.scalar_type() == at::kChar),
              op, ": expected ", name, " of shape [", batch, ", ", n_mels, ", ", n_frames, "]",
              int8 ? " and dtype torch.int8" : "", " on ", device, ", but got ", t.sizes(),
              int8 ? ", " : "", int8 ? dtype_name(t.scalar_type()) : "", " on ", t.device());
}
}  // namespace

void check_mel_l1(const at::Tensor& grad_loss, const at::Tensor& target, const MelArgs& m, int64_t n_frames) {
  check_mel_l1_args("spectro::mel_l1_backward", grad_loss, target, "target", false, m, n_frames);
}

void check_mel_l1_sign(const at::Tensor& grad_loss, const at::Tensor& sign, const MelArgs& m, int64_t n_frames) {
  check_mel_l1_args("spectro::mel_l1_backward_input", grad_loss, sign, "sign", true, m, n_frames);
}

// The composite definition: differentiable ATen ops over spectro::analysis (called through the dispatcher, so it
// is recorded by autograd and runs on any backend).
at::Tensor mel_composite(const at::Tensor& x, const at::Tensor& window, const at::Tensor& basis, int64_t n_fft,
                         int64_t hop_length, const c10::SymInt& n_frames, int64_t pad, const std::string& pad_mode,
                         double scale, double power, double mag_eps, const std::string& log, double log_eps,
                         double log_scale) {
  check_mel_meta("spectro::mel_analysis", x, window, basis, n_fft, power, mag_eps, log, log_eps);
  const MelLog stage = parse_mel_log(log);
  at::Tensor spec = call_analysis(x, window, n_fft, hop_length, n_frames, pad, pad_mode, false, "rfft", scale);
  const c10::SymInt used = basis.sym_size(1);
  if (used < spec.sym_size(1)) spec = spec.narrow_symint(1, 0, used);
  // Real ops on view_as_real only: no complex elementwise op in the forward or its backward (inductor generates no
  // CUDA code for those).
  const at::Tensor re_im = at::view_as_real(spec);
  at::Tensor p;
  if (power == 1.0 && mag_eps == 0.0) {
    p = at::linalg_vector_norm(re_im, 2, at::IntArrayRef{-1});  // |X|, with abs's zero gradient at 0
  } else {
    p = re_im.square().sum(-1);
    if (mag_eps != 0.0) p = p + mag_eps;
    if (power == 1.0) {
      p = p.sqrt();
    } else if (power != 2.0) {
      p = p.pow(power / 2);
    }
  }
  at::Tensor mel = at::matmul(basis, p);  // [n_mels, bins'] @ [batch, bins', frames] -> [batch, n_mels, frames]
  switch (stage) {
    case MelLog::None: return mel.contiguous();
    case MelLog::Clamp: mel = mel.clamp_min(log_eps).log(); break;
    case MelLog::Add: mel = (mel + log_eps).log(); break;
    case MelLog::Log1p: mel = mel.log1p(); break;
  }
  if (log_scale != 1.0) mel = mel * log_scale;
  return mel.contiguous();
}

at::Tensor mel_backward_composite(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& window,
                                  const at::Tensor& basis, int64_t n_fft, int64_t hop_length,
                                  const c10::SymInt& n_frames, int64_t pad, const std::string& pad_mode, double scale,
                                  double power, double mag_eps, const std::string& log, double log_eps,
                                  double log_scale) {
  const char* op = "spectro::mel_analysis_backward";
  check_mel_meta(op, x, window, basis, n_fft, power, mag_eps, log, log_eps);
  const MelLog stage = parse_mel_log(log);
  const at::Tensor spec = call_analysis(x, window, n_fft, hop_length, n_frames, pad, pad_mode, false, "rfft", scale);
  const c10::SymInt used = basis.sym_size(1);
  const at::Tensor xs = spec.narrow_symint(1, 0, used);         // [B, bins', N]
  const at::Tensor s = at::view_as_real(xs).square().sum(-1) + mag_eps;
  const at::Tensor p = power == 2.0 ? s : power == 1.0 ? s.sqrt() : s.pow(power / 2);
  at::Tensor coef = grad;                                         // [B, M, N]
  if (stage != MelLog::None) {
    const at::Tensor mel = at::matmul(basis, p);
    switch (stage) {
      case MelLog::Clamp: coef = at::where(mel >= log_eps, grad * log_scale / mel, at::zeros_like(mel)); break;
      case MelLog::Add: coef = grad * log_scale / (mel + log_eps); break;
      default: coef = grad * log_scale / (mel + 1.0); break;
    }
  }
  const at::Tensor gp = at::matmul(basis.t(), coef);              // [B, bins', N]
  at::Tensor d;
  if (power == 2.0) {
    d = at::full_like(s, 2.0);
  } else if (power == 1.0) {
    d = at::where(s == 0, at::zeros_like(s), s.rsqrt());
  } else {
    d = power * s.pow(power / 2 - 1);
  }
  at::Tensor g = at::zeros_like(spec);
  g.narrow_symint(1, 0, used).copy_(xs * (gp * d));
  return g;
}

namespace {

at::Tensor mel_meta(const at::Tensor& x, const at::Tensor& window, const at::Tensor& basis, int64_t n_fft,
                    int64_t hop_length, c10::SymInt n_frames, int64_t pad, c10::string_view pad_mode, double scale,
                    double power, double mag_eps, c10::string_view log, double log_eps, double log_scale) {
  const char* op = "spectro::mel_analysis";
  parse_pad_mode(std::string(pad_mode));
  check_mel_meta(op, x, window, basis, n_fft, power, mag_eps, std::string(log), log_eps);
  return at::empty_symint({x.sym_size(0), basis.sym_size(0), std::move(n_frames)},
                          x.options().dtype(compute_type_of(x.scalar_type())));
}

at::Tensor mel_batched(const at::Tensor& x, const at::Tensor& window, const at::Tensor& basis, int64_t n_fft,
                       int64_t hop_length, c10::SymInt n_frames, int64_t pad, c10::string_view pad_mode, double scale,
                       double power, double mag_eps, c10::string_view log, double log_eps, double log_scale) {
  return mel_composite(x, window, basis, n_fft, hop_length, n_frames, pad, std::string(pad_mode), scale, power,
                       mag_eps, std::string(log), log_eps, log_scale);
}

at::Tensor mel_backward_meta(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& window,
                             const at::Tensor& basis, int64_t n_fft, int64_t hop_length, c10::SymInt n_frames,
                             int64_t pad, c10::string_view pad_mode, double scale, double power, double mag_eps,
                             c10::string_view log, double log_eps, double log_scale) {
  check_mel_meta("spectro::mel_analysis_backward", x, window, basis, n_fft, power, mag_eps, std::string(log), log_eps);
  const auto complex_type = c10::toComplexType(compute_type_of(x.scalar_type()));
  return at::empty_symint({x.sym_size(0), std::move(n_frames), c10::SymInt(n_fft / 2 + 1)},
                          x.options().dtype(complex_type))
      .transpose(1, 2);
}

}  // namespace

at::Tensor mel_l1_backward_composite(const at::Tensor& grad_loss, const at::Tensor& target, const at::Tensor& x,
                                     const at::Tensor& window, const at::Tensor& basis, int64_t n_fft,
                                     int64_t hop_length, c10::SymInt n_frames, int64_t pad, c10::string_view pad_mode,
                                     double scale, double power, double mag_eps, c10::string_view log, double log_eps,
                                     double log_scale, double weight) {
  const char* op = "spectro::mel_l1_backward";
  TORCH_CHECK(grad_loss.dim() == 0, op, ": expected grad_loss of shape [], but got ", grad_loss.sym_sizes());
  static const auto mel = c10::Dispatcher::singleton()
                              .findSchemaOrThrow("spectro::mel_analysis", "")
                              .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t,
                                                int64_t, c10::SymInt, int64_t, c10::string_view, double, double,
                                                double, c10::string_view, double, double)>();
  const at::Tensor out = mel.call(x, window, basis, n_fft, hop_length, n_frames, pad, pad_mode, scale, power, mag_eps,
                                  log, log_eps, log_scale);
  TORCH_CHECK(target.sym_sizes() == out.sym_sizes(), op, ": expected target of shape ", out.sym_sizes(),
              ", but got ", target.sym_sizes());
  const at::Tensor grad = at::sign(out - target) * (grad_loss * weight);
  return call_mel_backward(grad, x, window, basis, n_fft, hop_length, n_frames, pad, std::string(pad_mode), scale,
                           power, mag_eps, std::string(log), log_eps, log_scale);
}

namespace {
// The typed dispatcher handles of the mel backwards (two schemas each: to dL/dX, and _input to dL/dx).
using MelBackwardSig = at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t,
                                  int64_t, c10::SymInt, int64_t, c10::string_view, double, double, double,
                                  c10::string_view, double, double);
using MelL1BackwardSig = at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                    const at::Tensor&, int64_t, int64_t, c10::SymInt, int64_t, c10::string_view,
                                    double, double, double, c10::string_view, double, double, double);
template <typename Sig>
c10::TypedOperatorHandle<Sig> typed_op(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<Sig>();
}

}  // namespace

at::Tensor call_mel_l1_backward(const at::Tensor& grad_loss, const at::Tensor& target, const at::Tensor& x,
                                const at::Tensor& window, const at::Tensor& basis, int64_t n_fft, int64_t hop_length,
                                const c10::SymInt& n_frames, int64_t pad, const std::string& pad_mode, double scale,
                                double power, double mag_eps, const std::string& log, double log_eps,
                                double log_scale, double weight) {
  static const auto op = typed_op<MelL1BackwardSig>("spectro::mel_l1_backward");
  return op.call(grad_loss, target, x, window, basis, n_fft, hop_length, n_frames, pad, pad_mode, scale, power,
                 mag_eps, log, log_eps, log_scale, weight);
}

namespace {
// dL/dx from a mel backward's dL/dX: the analysis' adjoint (mode irfft_half, the analysis' window and scale).
at::Tensor mel_input_grad(const at::Tensor& G, const at::Tensor& x, const at::Tensor& window, int64_t n_fft,
                          int64_t hop_length, int64_t pad, c10::string_view pad_mode, double scale) {
  return call_synthesis(G, window, n_fft, hop_length, x.sym_size(-1), pad, std::string(pad_mode), false,
                        kernels::name_of(kernels::adjoint(kernels::FftMode::Rfft)), scale);
}
}  // namespace

at::Tensor mel_backward_input_composite(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& window,
                                        const at::Tensor& basis, int64_t n_fft, int64_t hop_length,
                                        c10::SymInt n_frames, int64_t pad, c10::string_view pad_mode, double scale,
                                        double power, double mag_eps, c10::string_view log, double log_eps,
                                        double log_scale) {
  const at::Tensor G = call_mel_backward(grad, x, window, basis, n_fft, hop_length, n_frames, pad,
                                         std::string(pad_mode), scale, power, mag_eps, std::string(log), log_eps,
                                         log_scale);
  return mel_input_grad(G, x, window, n_fft, hop_length, pad, pad_mode, scale);
}

at::Tensor mel_l1_backward_input_composite(const at::Tensor& grad_loss, const at::Tensor& sign,
                                           const at::Tensor& x, const at::Tensor& window, const at::Tensor& basis,
                                           int64_t n_fft, int64_t hop_length, c10::SymInt n_frames, int64_t pad,
                                           c10::string_view pad_mode, double scale, double power, double mag_eps,
                                           c10::string_view log, double log_eps, double log_scale, double weight) {
  const char* op = "spectro::mel_l1_backward_input";
  TORCH_CHECK(grad_loss.dim() == 0, op, ": expected grad_loss of shape [], but got ", grad_loss.sym_sizes());
  TORCH_CHECK(sign.scalar_type() == at::kChar, op, ": expected sign of dtype torch.int8, but got ",
              dtype_name(sign.scalar_type()));
  TORCH_CHECK(sign.dim() == 3 && x.dim() == 2 && basis.dim() == 2 && sign.sym_size(0) == x.sym_size(0) &&
                  sign.sym_size(1) == basis.sym_size(0) && sign.sym_size(2) == n_frames,
              op, ": expected sign of shape [batch, n_mels, n_frames] = [", x.sym_sizes().at(0), ", ",
              basis.sym_sizes().at(0), ", ", n_frames, "], but got ", sign.sym_sizes());
  const at::Tensor grad = sign.to(compute_type_of(x.scalar_type())) * (grad_loss * weight);
  const at::Tensor G = call_mel_backward(grad, x, window, basis, n_fft, hop_length, n_frames, pad,
                                         std::string(pad_mode), scale, power, mag_eps, std::string(log), log_eps,
                                         log_scale);
  return mel_input_grad(G, x, window, n_fft, hop_length, pad, pad_mode, scale);
}

at::Tensor call_mel_backward_input(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& window,
                                   const at::Tensor& basis, int64_t n_fft, int64_t hop_length,
                                   const c10::SymInt& n_frames, int64_t pad, const std::string& pad_mode,
                                   double scale, double power, double mag_eps, const std::string& log, double log_eps,
                                   double log_scale) {
  static const auto op = typed_op<MelBackwardSig>("spectro::mel_analysis_backward_input");
  return op.call(grad, x, window, basis, n_fft, hop_length, n_frames, pad, pad_mode, scale, power, mag_eps, log,
                 log_eps, log_scale);
}

at::Tensor call_mel_l1_backward_input(const at::Tensor& grad_loss, const at::Tensor& sign, const at::Tensor& x,
                                      const at::Tensor& window, const at::Tensor& basis, int64_t n_fft,
                                      int64_t hop_length, const c10::SymInt& n_frames, int64_t pad,
                                      const std::string& pad_mode, double scale, double power, double mag_eps,
                                      const std::string& log, double log_eps, double log_scale, double weight) {
  static const auto op = typed_op<MelL1BackwardSig>("spectro::mel_l1_backward_input");
  return op.call(grad_loss, sign, x, window, basis, n_fft, hop_length, n_frames, pad, pad_mode, scale, power,
                 mag_eps, log, log_eps, log_scale, weight);
}

at::Tensor call_mel_backward(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& window,
                             const at::Tensor& basis, int64_t n_fft, int64_t hop_length, const c10::SymInt& n_frames,
                             int64_t pad, const std::string& pad_mode, double scale, double power, double mag_eps,
                             const std::string& log, double log_eps, double log_scale) {
  static const auto op = typed_op<MelBackwardSig>("spectro::mel_analysis_backward");
  return op.call(grad, x, window, basis, n_fft, hop_length, n_frames, pad, pad_mode, scale, power, mag_eps, log,
                 log_eps, log_scale);
}

// The public C++ entry point (spectro/include/spectro/spectro.h): the op through the dispatcher.
at::Tensor mel_analysis(const at::Tensor& x, const at::Tensor& window, const at::Tensor& basis, int64_t n_fft,
                        int64_t hop_length, int64_t n_frames, int64_t pad, c10::string_view pad_mode, double scale,
                        double power, double mag_eps, c10::string_view log, double log_eps, double log_scale) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("spectro::mel_analysis", "")
                             .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t,
                                               int64_t, c10::SymInt, int64_t, c10::string_view, double, double,
                                               double, c10::string_view, double, double)>();
  return op.call(x, window, basis, n_fft, hop_length, c10::SymInt(n_frames), pad, pad_mode, scale, power, mag_eps, log,
                 log_eps, log_scale);
}

}  // namespace spectro

TORCH_LIBRARY_IMPL(spectro, CPU, m) {
  m.impl("mel_analysis", &spectro::mel_analysis_cpu);
  m.impl("mel_analysis_backward", &spectro::mel_analysis_backward_cpu);
  m.impl("mel_l1_backward", &spectro::mel_l1_backward_cpu);
}
TORCH_LIBRARY_IMPL(spectro, Meta, m) {
  m.impl("mel_analysis", TORCH_FN(spectro::mel_meta));
  m.impl("mel_analysis_backward", TORCH_FN(spectro::mel_backward_meta));
}
TORCH_LIBRARY_IMPL(spectro, CompositeExplicitAutograd, m) {
  m.impl("mel_l1_backward", TORCH_FN(spectro::mel_l1_backward_composite));
  // (every backend but CUDA, Meta included: the composition of ops that have theirs)
  m.impl("mel_analysis_backward_input", TORCH_FN(spectro::mel_backward_input_composite));
  m.impl("mel_l1_backward_input", TORCH_FN(spectro::mel_l1_backward_input_composite));
}
// vmap: the composite (whose analysis folds the vmapped dimension into its batch).
TORCH_LIBRARY_IMPL(spectro, FuncTorchBatchedDecomposition, m) {
  m.impl("mel_analysis", TORCH_FN(spectro::mel_batched));
}
