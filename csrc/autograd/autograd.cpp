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
//
// Forward-mode AD (dual tensors, torch.func.jvp / jacfwd) propagates tangents by the formulas of the section "forward
// mode" below, and the torch.func transforms (grad, vjp, jacrev, vmap, ...) work too: see "graph nodes".
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/csrc/autograd/saved_variable.h>
#include <torch/library.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "../ops/aten_geometry.h"
#include "dispatch_state.h"
#include "../ops/ops.h"

namespace spectro {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

using OutDtype = std::optional<at::ScalarType>;

// The name of the adjoint of the FFT mode named `mode` (kernels/fft_mode.h).
std::string adjoint_mode(const std::string& mode) {
  kernels::FftMode m;
  TORCH_CHECK(kernels::parse_fft_mode(mode.c_str(), &m), "spectro: unknown fft_mode '", mode, "'");
  return kernels::name_of(kernels::adjoint(m));
}

// ---- window-gradient helpers (ATen ops, differentiable) --------------------------------------------------------

using geometry::envelope_scale;
using geometry::folded;
using geometry::frame_sum;
using geometry::frames_of;
using geometry::overlap_add;
using geometry::padded;
using geometry::static_dim;

// The unnormalised inverse FFT spectro::synthesis applies: spec [B, F, N] -> frames [B, N, n_fft]. Computed by
// spectro::synthesis itself, with a rectangular window, hop_length = n_fft (the frames side by side, no overlap), no
// padding and scale 1: the same inverse FFT, each frame's values stored once (times 1, added to 0: exact), and
// differentiable through the op's own autograd. Not with ATen's FFT (at::fft_irfft): before torch 2.7, fake tensors
// cannot run _fft_c2r / _fft_r2c with symbolic sizes (UnsupportedOperatorException under torch.compile(dynamic=True),
// compiled autograd and opcheck's dynamic AOT test), whereas the op's Meta kernel takes them.
at::Tensor synthesis_frames(const at::Tensor& spec, const std::string& mode, int64_t n_fft) {
  const c10::SymInt batch = spec.sym_size(0), n_frames = spec.sym_size(2);
  const at::Tensor ones = at::ones({n_fft}, spec.options().dtype(c10::toRealValueType(spec.scalar_type())));
  return call_synthesis(spec, ones, n_fft, /*hop=*/n_fft, n_frames * n_fft, /*pad=*/0, "constant",
                        /*env_normalize=*/false, mode, /*scale=*/1.0, std::nullopt)
      .view_symint({batch, n_frames, c10::SymInt(n_fft)});
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

// What a backward needs besides the saved tensors: the geometry and the input's dtype. `extent` is the other side
// of the transpose: the signal length of an analysis, the number of frames of a synthesis.
struct Geom {
  int64_t n_fft, hop, pad;
  std::string pad_mode, fft_mode;
  bool env_normalize;
  double scale;
  c10::SymInt n_frames, extent;
  at::ScalarType input_dtype;
};

// ---- the backward formulas, shared by both graph nodes below ---------------------------------------------------

// Gradients of sum Re(conj(grad) * analysis(x, window)) in x and (need_w) the window. x is needed only for the window
// gradient.
std::pair<at::Tensor, at::Tensor> analysis_backward(const Geom& g, const at::Tensor& x, const at::Tensor& window,
                                                    const at::Tensor& grad_out, bool need_x, bool need_w) {
  const at::Tensor grad = grad_in_compute_dtype(grad_out, window);
  at::Tensor grad_x, grad_w;
  if (!grad.defined()) return {grad_x, grad_w};
  if (need_x) {
    grad_x = input_grad_in_own_dtype(call_synthesis(grad, window, g.n_fft, g.hop, g.extent, g.pad, g.pad_mode,
                                                    g.env_normalize, adjoint_mode(g.fft_mode), g.scale),
                                     g.input_dtype);
  }
  if (need_w) {
    const c10::SymInt span = (g.n_frames - 1) * g.hop + g.n_fft;
    const at::Tensor xf = frames_of(padded(in_compute_dtype(x), g.pad, span, g.pad_mode), g.n_fft, g.hop);
    const at::Tensor gf = synthesis_frames(grad, adjoint_mode(g.fft_mode), g.n_fft) * g.scale;
    grad_w = window_grad(real_inner(xf, gf), window, g.hop, g.n_frames, g.env_normalize);
  }
  return {grad_x, grad_w};
}

// Gradients of sum Re(conj(grad) * synthesis(spec, window)) in spec and (need_w) the window. spec is needed only for
// the window gradient.
std::pair<at::Tensor, at::Tensor> synthesis_backward(const Geom& g, const at::Tensor& spec, const at::Tensor& window,
                                                     const at::Tensor& grad_out, bool need_spec, bool need_w) {
  const at::Tensor grad = grad_in_compute_dtype(grad_out, window);
  at::Tensor grad_spec, grad_w;
  if (!grad.defined()) return {grad_spec, grad_w};
  if (need_spec) {
    grad_spec = input_grad_in_own_dtype(call_analysis(grad, window, g.n_fft, g.hop, g.n_frames, g.pad, g.pad_mode,
                                                      g.env_normalize, adjoint_mode(g.fft_mode), g.scale),
                                        g.input_dtype);
  }
  if (need_w) {
    const c10::SymInt span = (g.n_frames - 1) * g.hop + g.n_fft;
    const at::Tensor gf = frames_of(padded(grad, g.pad, span, g.pad_mode), g.n_fft, g.hop);
    const at::Tensor f = synthesis_frames(in_compute_dtype(spec), g.fft_mode, g.n_fft);
    grad_w = window_grad(real_inner(gf, f) * g.scale, window, g.hop, g.n_frames, g.env_normalize);
  }
  return {grad_spec, grad_w};
}

// ---- forward-mode AD: the tangent of an output ----------------------------------------------------------------------
//
// Both ops are linear in their data input, and without envelope normalisation linear in the window as well, so the
// tangent is the op applied to the tangents: T(x_t, w) + T(x, w_t). With envelope normalisation the window also enters
// through h = 1 / envelope, whose tangent is dh = -h^2 * denv, denv(p) = sum_n 2 w w_t at p - n*hop (0 where h is 0).
// Written over the padded positions of the span (pad 0, constant padding, no normalisation inside the op):
//   analysis   A(x, w) = A0(u * h, w) with u = padded x, so its window tangent is A0(u * h, w_t) + A0(u * dh, w);
//   synthesis  S(X, w) = fold(h * S0(X, w)), so its window tangent is fold(h * S0(X, w_t) + dh * S0(X, w)),
// fold being the adjoint of the padding. The primals (x, w) enter without their own tangents (_fw_primal), and every
// term is an op call through the dispatcher, so the tangents are differentiable again. They are computed in the
// compute dtype and stored in the output's (a half out_dtype's tangent is rounded like the output).

at::Tensor tangent_dh(const at::Tensor& w, const at::Tensor& w_t, const at::Tensor& h, int64_t hop,
                      const c10::SymInt& n_frames) {
  return -(h * h) * frame_sum(2 * w * w_t, hop, n_frames);
}

at::Tensor add_defined(const at::Tensor& a, const at::Tensor& b) {
  return !a.defined() ? b : !b.defined() ? a : a + b;
}

at::Tensor analysis_tangent(const Geom& g, const at::Tensor& x, const at::Tensor& w, const at::Tensor& x_t,
                            const at::Tensor& w_t) {
  at::Tensor t;
  if (x_t.defined()) {
    t = call_analysis(x_t, w, g.n_fft, g.hop, g.n_frames, g.pad, g.pad_mode, g.env_normalize, g.fft_mode, g.scale);
  }
  if (w_t.defined()) {
    at::Tensor tw;
    if (!g.env_normalize) {
      tw = call_analysis(x, w_t, g.n_fft, g.hop, g.n_frames, g.pad, g.pad_mode, false, g.fft_mode, g.scale);
    } else {
      const c10::SymInt span = (g.n_frames - 1) * g.hop + g.n_fft;
      const at::Tensor u = padded(in_compute_dtype(x), g.pad, span, g.pad_mode);
      const at::Tensor h = envelope_scale(w, g.hop, g.n_frames);
      const at::Tensor dh = tangent_dh(w, w_t, h, g.hop, g.n_frames);
      tw = call_analysis(u * h, w_t, g.n_fft, g.hop, g.n_frames, 0, "constant", false, g.fft_mode, g.scale) +
           call_analysis(u * dh, w, g.n_fft, g.hop, g.n_frames, 0, "constant", false, g.fft_mode, g.scale);
    }
    t = add_defined(t, tw);
  }
  return t;
}

at::Tensor synthesis_tangent(const Geom& g, const at::Tensor& spec, const at::Tensor& w, const at::Tensor& spec_t,
                             const at::Tensor& w_t) {
  at::Tensor t;
  if (spec_t.defined()) {
    t = call_synthesis(spec_t, w, g.n_fft, g.hop, g.extent, g.pad, g.pad_mode, g.env_normalize, g.fft_mode,
                       g.scale);
  }
  if (w_t.defined()) {
    at::Tensor tw;
    if (!g.env_normalize) {
      tw = call_synthesis(spec, w_t, g.n_fft, g.hop, g.extent, g.pad, g.pad_mode, false, g.fft_mode, g.scale);
    } else {
      const c10::SymInt span = (g.n_frames - 1) * g.hop + g.n_fft;
      const at::Tensor h = envelope_scale(w, g.hop, g.n_frames);
      const at::Tensor dh = tangent_dh(w, w_t, h, g.hop, g.n_frames);
      const at::Tensor s_t = call_synthesis(spec, w_t, g.n_fft, g.hop, span, 0, "constant", false, g.fft_mode,
                                            g.scale);
      const at::Tensor s = call_synthesis(spec, w, g.n_fft, g.hop, span, 0, "constant", false, g.fft_mode, g.scale);
      tw = folded(s_t * h + s * dh, g.pad, g.extent, g.pad_mode);
    }
    t = add_defined(t, tw);
  }
  return t;
}

// ---- graph nodes ------------------------------------------------------------------------------------------------
//
// Two ways to put an op in the autograd graph, with the same backward formulas:
// - torch::autograd::Function (CppNode) for plain reverse mode: it supports compiled autograd
//   (torch._dynamo.config.compiled_autograd) and tracing;
// - a hand-built Node (the way ATen's own ops record themselves) under functorch transforms (torch.func.grad, vjp,
//   jvp, jacrev, jacfwd, ...), which refuse a C++ autograd::Function, and with forward-mode AD, which it lacks.

void save_geom(AutogradContext* ctx, const Geom& g) {
  ctx->saved_data["n_fft"] = g.n_fft;
  ctx->saved_data["hop"] = g.hop;
  ctx->saved_data["pad"] = g.pad;
  ctx->saved_data["pad_mode"] = g.pad_mode;
  ctx->saved_data["fft_mode"] = g.fft_mode;
  ctx->saved_data["env_normalize"] = g.env_normalize;
  ctx->saved_data["scale"] = g.scale;
  ctx->saved_data["n_frames"] = g.n_frames;
  ctx->saved_data["extent"] = g.extent;
  ctx->saved_data["input_dtype"] = g.input_dtype;
}

Geom load_geom(AutogradContext* ctx) {
  auto& d = ctx->saved_data;
  return Geom{d["n_fft"].toInt(),         d["hop"].toInt(),           d["pad"].toInt(),
              d["pad_mode"].toStringRef(), d["fft_mode"].toStringRef(), d["env_normalize"].toBool(),
              d["scale"].toDouble(),       d["n_frames"].toSymInt(),    d["extent"].toSymInt(),
              d["input_dtype"].toScalarType()};
}

// An op's Function: forward calls the op below autograd; backward is Backward(geometry, saved input or undefined,
// window, grad, needs, needs). The data input is saved only when the window needs a gradient.
template <class Self, std::pair<at::Tensor, at::Tensor> (*Backward)(const Geom&, const at::Tensor&,
                                                                   const at::Tensor&, const at::Tensor&, bool, bool)>
struct OpFunction : public torch::autograd::Function<Self> {
  static constexpr bool is_traceable = true;

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    auto [gi, gw] = Backward(load_geom(ctx), saved[0], saved[1], grads[0], ctx->needs_input_grad(0),
                             ctx->needs_input_grad(1));
    return {gi, gw, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(),
            at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

struct AnalysisFunction : public OpFunction<AnalysisFunction, analysis_backward> {
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
    save_geom(ctx, {n_fft, hop, pad, pad_mode, fft_mode, env_normalize, scale, n_frames, x.sym_size(1),
                    x.scalar_type()});
    ctx->save_for_backward({window.requires_grad() ? x : at::Tensor(), window});
    return out;
  }
};

struct SynthesisFunction : public OpFunction<SynthesisFunction, synthesis_backward> {
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
    save_geom(ctx, {n_fft, hop, pad, pad_mode, fft_mode, env_normalize, scale, spec.sym_size(2), length,
                    spec.scalar_type()});
    ctx->save_for_backward({window.requires_grad() ? spec : at::Tensor(), window});
    return out;
  }
};

// The hand-built node: the saved input (or nothing) and window, the geometry, and the same backward formulas.
using torch::autograd::Node;
using NodePtr = decltype(std::declval<torch::autograd::Edge>().function);  // shared_ptr (torch <= 2.12) or
                                                                          // intrusive_ptr (later) of Node

template <std::pair<at::Tensor, at::Tensor> (*Backward)(const Geom&, const at::Tensor&, const at::Tensor&,
                                                        const at::Tensor&, bool, bool)>
struct OpNode : public Node {
  Geom g;
  torch::autograd::SavedVariable input, window;
  std::string node_name;
  std::mutex lock;  // a graph kept with retain_graph may run its backward from several threads

  torch::autograd::variable_list apply(torch::autograd::variable_list&& grads) override {
    std::lock_guard<std::mutex> guard(lock);
    auto [gi, gw] = Backward(g, input.unpack(), window.unpack(), grads[0], task_should_compute_output(0),
                             task_should_compute_output(1));
    return {gi, gw};
  }
  std::string name() const override { return node_name; }
  void release_variables() override {
    std::lock_guard<std::mutex> guard(lock);
    input.reset_data();
    window.reset_data();
  }
};

template <class N>
NodePtr make_node() {
  if constexpr (std::is_same_v<NodePtr, std::shared_ptr<Node>>) {
    return std::make_shared<N>();
  } else {
    return c10::make_intrusive<N>();
  }
}

// An op call recorded by hand: the output computed below autograd, a node when a reverse-mode gradient is needed, and
// the output's tangent when an input carries one. Op(primal input, primal window) is the op; Tangent the formula.
template <auto Backward, class Op, class Tangent>
at::Tensor record(const char* name, const Geom& g, const at::Tensor& in, const at::Tensor& window, bool reverse, Op op,
                  Tangent tangent) {
  at::Tensor out;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    out = op(in, window);
  }
  if (reverse) {
    NodePtr node = make_node<OpNode<Backward>>();
    auto* n = static_cast<OpNode<Backward>*>(node.get());
    n->g = g;
    n->node_name = name;
    n->input = torch::autograd::SavedVariable(window.requires_grad() ? in : at::Tensor(), /*is_output=*/false);
    n->window = torch::autograd::SavedVariable(window, /*is_output=*/false);
    node->set_next_edges(torch::autograd::collect_next_edges(in, window));
    torch::autograd::set_history(out, node);
  }
  if (has_tangent(in) || has_tangent(window)) {
    const at::Tensor& in_t = in._fw_grad(0);
    const at::Tensor& w_t = window._fw_grad(0);
    at::Tensor t = tangent(g, in._fw_primal(0), window._fw_primal(0), in_t, w_t);
    if (t.scalar_type() != out.scalar_type()) t = t.to(out.scalar_type());
    out._set_fw_grad(t, /*level=*/0, /*is_inplace_op=*/false);
  }
  return out;
}

at::Tensor analysis_autograd(const at::Tensor& x, const at::Tensor& window, int64_t n_fft, int64_t hop,
                             c10::SymInt n_frames, int64_t pad, c10::string_view pad_mode, bool env_normalize,
                             c10::string_view fft_mode, double scale, OutDtype out_dtype) {
  const bool forward_mode = has_tangent(x) || has_tangent(window);
  const bool reverse = at::GradMode::is_enabled() && (x.requires_grad() || window.requires_grad());
  if (!forward_mode && !reverse) {  // no node, no saved state: the backend kernel, as the Function's forward
    at::AutoDispatchBelowADInplaceOrView guard;
    return call_analysis(x, window, n_fft, hop, std::move(n_frames), pad, std::string(pad_mode), env_normalize,
                         std::string(fft_mode), scale, out_dtype);
  }
  if (!forward_mode && !under_functorch()) {
    return AnalysisFunction::apply(x, window, n_fft, hop, std::move(n_frames), pad, std::string(pad_mode),
                                   env_normalize, std::string(fft_mode), scale, out_dtype);
  }
  const Geom g{n_fft, hop, pad, std::string(pad_mode), std::string(fft_mode), env_normalize, scale, n_frames,
               x.sym_size(-1), x.scalar_type()};
  return record<analysis_backward>(
      "spectro::AnalysisBackward", g, x, window, reverse,
      [&](const at::Tensor& a, const at::Tensor& w) {
        return call_analysis(a, w, n_fft, hop, n_frames, pad, g.pad_mode, env_normalize, g.fft_mode, scale,
                             out_dtype);
      },
      analysis_tangent);
}

at::Tensor synthesis_autograd(const at::Tensor& spec, const at::Tensor& window, int64_t n_fft, int64_t hop,
                              c10::SymInt length, int64_t pad, c10::string_view pad_mode, bool env_normalize,
                              c10::string_view fft_mode, double scale, OutDtype out_dtype) {
  const bool forward_mode = has_tangent(spec) || has_tangent(window);
  const bool reverse = at::GradMode::is_enabled() && (spec.requires_grad() || window.requires_grad());
  if (!forward_mode && !reverse) {
    at::AutoDispatchBelowADInplaceOrView guard;
    return call_synthesis(spec, window, n_fft, hop, std::move(length), pad, std::string(pad_mode), env_normalize,
                          std::string(fft_mode), scale, out_dtype);
  }
  if (!forward_mode && !under_functorch()) {
    return SynthesisFunction::apply(spec, window, n_fft, hop, std::move(length), pad, std::string(pad_mode),
                                    env_normalize, std::string(fft_mode), scale, out_dtype);
  }
  const Geom g{n_fft, hop, pad, std::string(pad_mode), std::string(fft_mode), env_normalize, scale,
               spec.sym_size(-1), length, spec.scalar_type()};
  return record<synthesis_backward>(
      "spectro::SynthesisBackward", g, spec, window, reverse,
      [&](const at::Tensor& s, const at::Tensor& w) {
        return call_synthesis(s, w, n_fft, hop, length, pad, g.pad_mode, env_normalize, g.fft_mode, scale,
                              out_dtype);
      },
      synthesis_tangent);
}

}  // namespace
}  // namespace spectro

TORCH_LIBRARY_IMPL(spectro, Autograd, m) {
  m.impl("analysis", TORCH_FN(spectro::analysis_autograd));
  m.impl("synthesis", TORCH_FN(spectro::synthesis_autograd));
}
