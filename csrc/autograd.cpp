// spectro — autograd for spectro::analysis and spectro::synthesis, registered at the Autograd dispatch key (so
// gradients work from C++/libtorch as well as Python, without a Python frame per call).
//
// The two ops are transposes of each other (kernels/common.h): the input gradient of one is the other op with the
// same geometry and the adjoint FFT mode, called through the dispatcher, so it is recorded by autograd again and
// double backward needs nothing extra. A forward with a half out_dtype gets its output gradient in that half dtype;
// the backward casts it to the compute dtype first (grad_in_compute_dtype). Gradients come back in the inputs' own
// dtypes: a half input (float16 / bfloat16 x, complex32 x or spec), which the op computes in single precision, gets
// the single-precision gradient rounded once to its dtype (a differentiable cast, input_grad_in_own_dtype).
//
// The window gradient is a reduction over batch and frames. It is computed with ATen ops from the same definitions
// (materialising [batch, frames, n_fft] intermediates, and only when the window requires grad), which keeps it
// differentiable as well:
//   analysis   d/dw sum Re(conj(g) * A(x, w)) = sum_{b,n} Re(conj(frames of x) * FFT^H g) * d(w[k] h(p))/dw
//   synthesis  d/dw sum Re(conj(g) * S(X, w)) = sum_{b,n} Re(conj(frames of g) * IFFT X) * d(w[k] h(p))/dw
// with h = 1, or h(p) = 1 / envelope(p) (whose derivative is -2 w[k] h(p)^2 at each p = n*hop + k). A half x or spec
// enters them converted to the compute dtype (torch has few complex32 ops).
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include <optional>
#include <string>

#include "spectro.h"

namespace spectro {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

using OutDtype = std::optional<at::ScalarType>;
using AnalysisSig = at::Tensor(const at::Tensor&, const at::Tensor&, int64_t, int64_t, c10::SymInt, int64_t,
                               c10::string_view, bool, c10::string_view, double, OutDtype);
using SynthesisSig = AnalysisSig;

at::Tensor call_analysis(const at::Tensor& x, const at::Tensor& window, int64_t n_fft, int64_t hop,
                         const c10::SymInt& n_frames, int64_t pad, const std::string& pad_mode, bool env_normalize,
                         const std::string& fft_mode, double scale, OutDtype out_dtype = std::nullopt) {
  static const auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("spectro::analysis", "").typed<AnalysisSig>();
  return op.call(x, window, n_fft, hop, n_frames, pad, pad_mode, env_normalize, fft_mode, scale, out_dtype);
}

at::Tensor call_synthesis(const at::Tensor& spec, const at::Tensor& window, int64_t n_fft, int64_t hop,
                          const c10::SymInt& length, int64_t pad, const std::string& pad_mode, bool env_normalize,
                          const std::string& fft_mode, double scale, OutDtype out_dtype = std::nullopt) {
  static const auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("spectro::synthesis", "").typed<SynthesisSig>();
  return op.call(spec, window, n_fft, hop, length, pad, pad_mode, env_normalize, fft_mode, scale, out_dtype);
}

std::string adjoint_mode(const std::string& mode) {
  if (mode == "rfft") return "irfft_half";
  if (mode == "rfft_full") return "ifft_real";
  if (mode == "fft") return "ifft";
  if (mode == "rfft_double") return "irfft";
  if (mode == "irfft_half") return "rfft";
  if (mode == "ifft_real") return "rfft_full";
  if (mode == "ifft") return "fft";
  if (mode == "irfft") return "rfft_double";
  TORCH_CHECK(false, "spectro: unknown fft_mode '", mode, "'");
}

// ---- window-gradient helpers (ATen ops, differentiable) --------------------------------------------------------

// A size that is static (n_fft, bins) read without touching the tensor's other, possibly symbolic, sizes
// (Tensor::size(d) would materialise all of them and specialise the graph on the signal length).
int64_t static_dim(const at::Tensor& t, int64_t d) { return t.sym_size(d).guard_int(__FILE__, __LINE__); }

// Sizes that depend on the signal length are SymInts, so torch.compile(dynamic=True) traces these without
// specialising.

// Signal sample read at each padded position p in [0, span), -1 for zero padding (kernels::pad_source).
at::Tensor source_index(const c10::SymInt& length, int64_t pad, const c10::SymInt& span, const std::string& mode,
                        const at::Device& dev) {
  const at::Tensor i = at::arange(c10::Scalar(span), at::TensorOptions().dtype(at::kLong).device(dev)) - pad;
  const c10::Scalar len(length);
  const c10::Scalar last2(2 * (length - 1));
  if (mode == "reflect") return at::where(i < 0, -i, at::where(i >= len, at::neg(i).add(last2), i));
  if (mode == "replicate") return at::clamp(i, c10::Scalar(0), c10::Scalar(length - 1));
  if (mode == "circular") return at::where(i < 0, i.add(len), at::where(i >= len, i.sub(len), i));
  return at::where((i >= 0).logical_and(i < len), i, at::full_like(i, -1));
}

// sig[:, src(p)] for p in [0, span), zero where src(p) = -1.
at::Tensor padded(const at::Tensor& sig, int64_t pad, const c10::SymInt& span, const std::string& mode) {
  const at::Tensor idx = source_index(sig.sym_size(-1), pad, span, mode, sig.device());
  const at::Tensor out = sig.index_select(1, idx.clamp_min(0));
  return at::where(idx >= 0, out, at::zeros({}, out.options()));
}

// [..., span] -> [..., n_frames, n_fft]: span = n_fft + hop * (n_frames - 1) holds exactly n_frames frames.
at::Tensor frames_of(const at::Tensor& sig, int64_t n_fft, int64_t hop) { return sig.unfold(-1, n_fft, hop); }

// [B, n_frames, n_fft] (real) -> [B, span]: frames summed at n * hop. Written as ceil(n_fft / hop) shifted sums of
// hop-wide column blocks (pads and adds): deterministic, differentiable, and free of guards on symbolic sizes (unlike
// col2im, whose shape check specialises the number of frames under torch.compile(dynamic=True)).
at::Tensor overlap_add(const at::Tensor& frames, int64_t hop) {
  const c10::SymInt b = frames.sym_size(0), n_frames = frames.sym_size(1);
  const int64_t n_fft = static_dim(frames, 2);
  const int64_t blocks = (n_fft + hop - 1) / hop;
  at::Tensor f = blocks * hop == n_fft ? frames : at::constant_pad_nd(frames, {0, blocks * hop - n_fft});
  f = f.reshape_symint({b, n_frames, c10::SymInt(blocks), c10::SymInt(hop)});
  at::Tensor out;
  for (int64_t j = 0; j < blocks; ++j) {
    const at::Tensor piece = at::constant_pad_nd(f.select(2, j).reshape_symint({b, n_frames * hop}),
                                                 {j * hop, (blocks - 1 - j) * hop});
    out = out.defined() ? out + piece : piece;
  }
  // out has (n_frames - 1) * hop + blocks * hop samples; the last blocks * hop - n_fft are zero padding.
  return blocks * hop == n_fft ? out : out.narrow_symint(1, 0, (n_frames - 1) * hop + n_fft);
}

// h(p) = 1 / envelope(p), 0 below the NOLA threshold.
at::Tensor envelope_scale(const at::Tensor& window, int64_t hop, const c10::SymInt& n_frames) {
  const at::Tensor w2 =
      (window * window).reshape({1, 1, -1}).expand_symint({c10::SymInt(1), n_frames, window.sym_size(0)});
  const at::Tensor env = overlap_add(w2, hop)[0];
  const at::Tensor small = env < kernels::kEnvelopeEps;
  return at::where(small, at::zeros_like(env), 1.0 / at::where(small, at::ones_like(env), env));
}

// The unnormalised inverse FFT spectro::synthesis applies: spec [B, F, N] -> frames [B, N, n_fft].
at::Tensor synthesis_frames(const at::Tensor& spec, const std::string& mode, int64_t n_fft) {
  const at::Tensor st = spec.transpose(1, 2);
  if (mode == "irfft") return at::fft_irfft(st, n_fft, -1, "forward");
  if (mode == "irfft_half") {
    const int64_t bins = static_dim(st, -1);
    at::Tensor weight = at::ones({bins}, st.options().dtype(c10::toRealValueType(st.scalar_type())));
    if (n_fft - bins > 0) weight.narrow(0, 1, n_fft - bins).fill_(0.5);
    return at::fft_irfft(st * weight, n_fft, -1, "forward");
  }
  const at::Tensor full = at::fft_ifft(st, n_fft, -1, "forward");
  return mode == "ifft_real" ? at::real(full) : full;
}

// Re(conj(a) * b), elementwise.
at::Tensor real_inner(const at::Tensor& a, const at::Tensor& b) {
  if (!a.is_complex() && !b.is_complex()) return a * b;
  const at::Tensor ar = at::real(a), br = at::real(b);
  const at::Tensor ai = a.is_complex() ? at::imag(a) : at::zeros_like(ar);
  const at::Tensor bi = b.is_complex() ? at::imag(b) : at::zeros_like(br);
  return ar * br + ai * bi;
}

// Gradient in w of sum_{b,n,k} coef[b,n,k] * w[k] * h(n*hop + k; w).
at::Tensor window_grad(const at::Tensor& coef, const at::Tensor& window, int64_t hop, const c10::SymInt& n_frames,
                       bool env_normalize) {
  if (!env_normalize) return coef.sum(at::IntArrayRef{0, 1});
  const int64_t n_fft = static_dim(window, 0);
  const at::Tensor h = envelope_scale(window, hop, n_frames);
  const at::Tensor direct = (coef * frames_of(h, n_fft, hop)).sum(at::IntArrayRef{0, 1});
  const at::Tensor s = overlap_add(coef * window, hop).sum(0);
  return direct - 2 * window * frames_of(h * h * s, n_fft, hop).sum(0);
}

// ---- the two autograd functions ----------------------------------------------------------------------------------

// The incoming gradient in the dtype the backward computes in. An op called with a half out_dtype (complex32,
// float16, bfloat16) receives its output gradient in that dtype; the backward (the adjoint op and the window
// gradient) runs in the forward's compute dtype, which is the window's dtype (real) or its complex counterpart: the
// ops' dtype check (check_input_dtypes) ties the window's dtype to the computation's. A differentiable cast, so
// double backward sees it (its own backward rounds the second-order gradient back to the half dtype, as any cast to
// a half output does).
at::Tensor grad_in_compute_dtype(const at::Tensor& grad, const at::Tensor& window) {
  if (!grad.defined()) return grad;
  const at::ScalarType real = window.scalar_type();
  return grad.to(grad.is_complex() ? c10::toComplexType(real) : real);
}

// A half input (x or spec) in its compute dtype, for the window-gradient formulas (ATen ops, differentiable).
at::Tensor in_compute_dtype(const at::Tensor& input) {
  const at::ScalarType compute = compute_type_of(input.scalar_type());
  return input.scalar_type() == compute ? input : input.to(compute);
}

// The adjoint op's result (in the compute dtype) as the gradient of an input stored in `dtype`: the single-precision
// gradient of a half input rounded once to its dtype, by a differentiable cast (double backward goes through it).
// (torch's autograd engine would also cast a gradient whose dtype differs from its input's; casting here keeps the
// contract in the backward itself, whoever calls it.)
at::Tensor input_grad_in_own_dtype(const at::Tensor& grad, at::ScalarType dtype) {
  return grad.scalar_type() == dtype ? grad : grad.to(dtype);
}

struct Geom {
  int64_t n_fft, hop, pad;
  std::string pad_mode, fft_mode;
  bool env_normalize;
  double scale;
};

void save_geom(AutogradContext* ctx, const Geom& g) {
  ctx->saved_data["n_fft"] = g.n_fft;
  ctx->saved_data["hop"] = g.hop;
  ctx->saved_data["pad"] = g.pad;
  ctx->saved_data["pad_mode"] = g.pad_mode;
  ctx->saved_data["fft_mode"] = g.fft_mode;
  ctx->saved_data["env_normalize"] = g.env_normalize;
  ctx->saved_data["scale"] = g.scale;
}

Geom load_geom(AutogradContext* ctx) {
  Geom g;
  g.n_fft = ctx->saved_data["n_fft"].toInt();
  g.hop = ctx->saved_data["hop"].toInt();
  g.pad = ctx->saved_data["pad"].toInt();
  g.pad_mode = ctx->saved_data["pad_mode"].toStringRef();
  g.fft_mode = ctx->saved_data["fft_mode"].toStringRef();
  g.env_normalize = ctx->saved_data["env_normalize"].toBool();
  g.scale = ctx->saved_data["scale"].toDouble();
  return g;
}

struct AnalysisFunction : public torch::autograd::Function<AnalysisFunction> {
  static constexpr bool is_traceable = true;

  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& window, int64_t n_fft,
                            int64_t hop, c10::SymInt n_frames, int64_t pad, const std::string& pad_mode,
                            bool env_normalize, const std::string& fft_mode, double scale, OutDtype out_dtype) {
    at::Tensor out;
    {
      at::AutoDispatchBelowADInplaceOrView guard;
      out = call_analysis(x, window, n_fft, hop, n_frames, pad, pad_mode, env_normalize, fft_mode, scale,
                          out_dtype);
    }
    // Saved after the call, which validated the arguments (x is [batch, T]).
    save_geom(ctx, {n_fft, hop, pad, pad_mode, fft_mode, env_normalize, scale});
    ctx->saved_data["n_frames"] = n_frames;
    ctx->saved_data["length"] = x.sym_size(1);
    ctx->saved_data["input_dtype"] = x.scalar_type();  // x itself is saved only for the window gradient
    ctx->save_for_backward({window.requires_grad() ? x : at::Tensor(), window});
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const Geom g = load_geom(ctx);
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& x = saved[0];
    const at::Tensor& window = saved[1];
    const at::Tensor grad = grad_in_compute_dtype(grads[0], window);
    at::Tensor grad_x, grad_w;
    if (ctx->needs_input_grad(0) && grad.defined()) {
      grad_x = input_grad_in_own_dtype(
          call_synthesis(grad, window, g.n_fft, g.hop, ctx->saved_data["length"].toSymInt(), g.pad, g.pad_mode,
                         g.env_normalize, adjoint_mode(g.fft_mode), g.scale),
          ctx->saved_data["input_dtype"].toScalarType());
    }
    if (ctx->needs_input_grad(1) && grad.defined()) {
      const c10::SymInt n_frames = ctx->saved_data["n_frames"].toSymInt();
      const c10::SymInt span = (n_frames - 1) * g.hop + g.n_fft;
      const at::Tensor xf = frames_of(padded(in_compute_dtype(x), g.pad, span, g.pad_mode), g.n_fft, g.hop);
      const at::Tensor gf = synthesis_frames(grad, adjoint_mode(g.fft_mode), g.n_fft) * g.scale;
      grad_w = window_grad(real_inner(xf, gf), window, g.hop, n_frames, g.env_normalize);
    }
    return {grad_x, grad_w, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(),
            at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

struct SynthesisFunction : public torch::autograd::Function<SynthesisFunction> {
  static constexpr bool is_traceable = true;

  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& spec, const at::Tensor& window, int64_t n_fft,
                            int64_t hop, c10::SymInt length, int64_t pad, const std::string& pad_mode,
                            bool env_normalize, const std::string& fft_mode, double scale, OutDtype out_dtype) {
    at::Tensor out;
    {
      at::AutoDispatchBelowADInplaceOrView guard;
      out = call_synthesis(spec, window, n_fft, hop, length, pad, pad_mode, env_normalize, fft_mode, scale,
                           out_dtype);
    }
    // Saved after the call, which validated the arguments (spec is [batch, bins, frames]).
    save_geom(ctx, {n_fft, hop, pad, pad_mode, fft_mode, env_normalize, scale});
    ctx->saved_data["n_frames"] = spec.sym_size(2);
    ctx->saved_data["input_dtype"] = spec.scalar_type();  // spec itself is saved only for the window gradient
    ctx->save_for_backward({window.requires_grad() ? spec : at::Tensor(), window});
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const Geom g = load_geom(ctx);
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& spec = saved[0];
    const at::Tensor& window = saved[1];
    const at::Tensor grad = grad_in_compute_dtype(grads[0], window);
    at::Tensor grad_spec, grad_w;
    if (ctx->needs_input_grad(0) && grad.defined()) {
      grad_spec = input_grad_in_own_dtype(
          call_analysis(grad, window, g.n_fft, g.hop, ctx->saved_data["n_frames"].toSymInt(), g.pad, g.pad_mode,
                        g.env_normalize, adjoint_mode(g.fft_mode), g.scale),
          ctx->saved_data["input_dtype"].toScalarType());
    }
    if (ctx->needs_input_grad(1) && grad.defined()) {
      const c10::SymInt n_frames = ctx->saved_data["n_frames"].toSymInt();
      const c10::SymInt span = (n_frames - 1) * g.hop + g.n_fft;
      const at::Tensor gf = frames_of(padded(grad, g.pad, span, g.pad_mode), g.n_fft, g.hop);
      const at::Tensor f = synthesis_frames(in_compute_dtype(spec), g.fft_mode, g.n_fft);
      grad_w = window_grad(real_inner(gf, f) * g.scale, window, g.hop, n_frames, g.env_normalize);
    }
    return {grad_spec, grad_w, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(),
            at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// Whether a call needs the autograd Function (a graph node, saved tensors and geometry): only when grad mode is on
// and an input requires grad, or carries a forward-mode tangent. Otherwise the op goes straight to its backend
// kernel, as the Function's forward would: no node, no saved state (about 3-5 us of host time per call).
bool needs_autograd(const at::Tensor& a, const at::Tensor& b) {
  if (a._fw_grad(/*level=*/0).defined() || b._fw_grad(/*level=*/0).defined()) return true;
  return at::GradMode::is_enabled() && (a.requires_grad() || b.requires_grad());
}

at::Tensor analysis_autograd(const at::Tensor& x, const at::Tensor& window, int64_t n_fft, int64_t hop,
                             c10::SymInt n_frames, int64_t pad, c10::string_view pad_mode, bool env_normalize,
                             c10::string_view fft_mode, double scale, OutDtype out_dtype) {
  if (!needs_autograd(x, window)) {
    at::AutoDispatchBelowADInplaceOrView guard;
    return call_analysis(x, window, n_fft, hop, std::move(n_frames), pad, std::string(pad_mode), env_normalize,
                         std::string(fft_mode), scale, out_dtype);
  }
  return AnalysisFunction::apply(x, window, n_fft, hop, std::move(n_frames), pad, std::string(pad_mode),
                                 env_normalize, std::string(fft_mode), scale, out_dtype);
}

at::Tensor synthesis_autograd(const at::Tensor& spec, const at::Tensor& window, int64_t n_fft, int64_t hop,
                              c10::SymInt length, int64_t pad, c10::string_view pad_mode, bool env_normalize,
                              c10::string_view fft_mode, double scale, OutDtype out_dtype) {
  if (!needs_autograd(spec, window)) {
    at::AutoDispatchBelowADInplaceOrView guard;
    return call_synthesis(spec, window, n_fft, hop, std::move(length), pad, std::string(pad_mode), env_normalize,
                          std::string(fft_mode), scale, out_dtype);
  }
  return SynthesisFunction::apply(spec, window, n_fft, hop, std::move(length), pad, std::string(pad_mode),
                                  env_normalize, std::string(fft_mode), scale, out_dtype);
}

}  // namespace
}  // namespace spectro

TORCH_LIBRARY_IMPL(spectro, Autograd, m) {
  m.impl("analysis", TORCH_FN(spectro::analysis_autograd));
  m.impl("synthesis", TORCH_FN(spectro::synthesis_autograd));
}
