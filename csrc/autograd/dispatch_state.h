// spectro — what the autograd kernels ask of the current call: functorch transforms active, forward-mode tangents.
#pragma once

#include <ATen/ATen.h>
#include <c10/core/impl/LocalDispatchKeySet.h>

namespace spectro {

// Whether functorch transforms are active on this thread (torch.func.grad, vjp, jvp, vmap, ...): functorch includes
// its dynamic-layer dispatch keys exactly while its stack of transform layers is non-empty.
inline bool under_functorch() {
  return c10::impl::tls_local_dispatch_key_set().included_.has(c10::DispatchKey::FuncTorchDynamicLayerBackMode);
}

// Whether t carries a forward-mode tangent.
inline bool has_tangent(const at::Tensor& t) { return t.defined() && t._fw_grad(/*level=*/0).defined(); }

// Whether t needs a node or a tangent: reverse mode (grad mode on and t requires grad) or forward mode.
inline bool needs_autograd(const at::Tensor& t) {
  return (t.defined() && at::GradMode::is_enabled() && t.requires_grad()) || has_tangent(t);
}

}  // namespace spectro
