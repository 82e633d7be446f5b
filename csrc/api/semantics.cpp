// spectro — helpers of the torch-semantics layer (see semantics.h).
#include "semantics.h"

#include "../ops/ops.h"

#include <c10/core/DispatchKeySet.h>
#include <c10/core/impl/TorchDispatchModeTLS.h>

#include <c10/util/Exception.h>

#include <cstdio>
#include <sstream>
#include <mutex>
#include <set>

namespace spectro {
namespace api {

KernelDtype parse_kernel_dtype(const char* fn, c10::string_view s) {
  if (s == "float32") return KernelDtype::Float32;
  if (s == "mixed") return KernelDtype::Mixed;
  if (s == "float16") return KernelDtype::Float16;
  TORCH_CHECK_VALUE(false, "spectro.", fn, ": kernel_dtype must be one of 'float32', 'mixed', 'float16', but got ",
                    py_repr(s));
}

Safety parse_safety(c10::string_view s) {
  if (s == "auto") return Safety::Auto;
  if (s == "always") return Safety::Always;
  if (s == "off") return Safety::Off;
  TORCH_CHECK_VALUE(false, "spectro.istft: safety must be one of 'auto', 'always', 'off', but got ", py_repr(s));
}

std::string py_dtype(at::ScalarType t) { return std::string("torch.") + dtype_name(t); }

std::string py_shape(c10::SymIntArrayRef s) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << (s.size() == 1 ? ",)" : ")");
  return os.str();
}

std::string py_repr(c10::string_view s) { return "'" + std::string(s) + "'"; }

std::string py_g(double x) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%g", x);
  return buf;
}

bool supported_dtype(at::ScalarType t) {
  switch (t) {
    case at::kFloat:
    case at::kDouble:
    case at::kComplexFloat:
    case at::kComplexDouble:
    case at::kHalf:
    case at::kBFloat16:
    case at::kComplexHalf:
      return true;
    default:
      return false;
  }
}

at::ScalarType half_storage_type(at::ScalarType t) {
  switch (t) {
    case at::kFloat:
    case at::kDouble:
      return at::kHalf;
    case at::kComplexFloat:
    case at::kComplexDouble:
      return at::kComplexHalf;
    default:
      return t;
  }
}

void check_mixed_precision(const char* fn, at::ScalarType compute_dtype) {
  TORCH_CHECK_VALUE(compute_dtype != at::kDouble && compute_dtype != at::kComplexDouble, "spectro.", fn,
                    ": kernel_dtype='mixed' computes in float32 and stores the result in half precision, but the "
                    "input and window promote to ",
                    py_dtype(compute_dtype),
                    " (double precision). Convert them to float32 (or a half dtype) first, or use "
                    "kernel_dtype='float32' (which computes double precision inputs in double precision)");
}

void check_window(const char* fn, const at::Tensor& window, int64_t win_length, const at::Tensor& like) {
  if (!window.defined()) return;
  TORCH_CHECK(window.dim() == 1 && window.sym_size(0) == win_length, "spectro.", fn,
              ": expected a 1D window tensor of size equal to win_length=", win_length,
              ", but got window with size ", py_shape(window.sym_sizes()));
  TORCH_CHECK(supported_dtype(window.scalar_type()), "spectro.", fn,
              ": expected window of floating point or complex dtype, but got ", py_dtype(window.scalar_type()));
  TORCH_CHECK(window.device() == like.device(), "spectro.", fn, ": expected window on the input's device ",
              like.device(), ", but got window on ", window.device());
}

at::Tensor resolve_window(const at::Tensor& window, int64_t win_length, int64_t n_fft, const at::Tensor& like,
                          at::ScalarType dtype) {
  at::Tensor w = window.defined() ? (window.scalar_type() == dtype ? window : window.to(dtype))
                                  : at::ones({win_length}, like.options().dtype(dtype));
  if (win_length < n_fft) {
    const int64_t left = (n_fft - win_length) / 2;
    w = at::constant_pad_nd(w, {left, n_fft - win_length - left});
  }
  return w;
}

bool concrete(const at::Tensor& t) {
  if (!t.defined()) return true;
  if (t.is_meta()) return false;
  const c10::DispatchKeySet tracing({c10::DispatchKey::Python, c10::DispatchKey::PythonTLSSnapshot,
                                     c10::DispatchKey::Functionalize, c10::DispatchKey::FuncTorchBatched});
  if (t.key_set().has_any(tracing)) return false;
  // Fake, proxy (make_fx) or functional tracing modes: the tensor may wrap a traced one (torch.func's gradient
  // wrappers over fake tensors under torch.compile).
  using c10::impl::TorchDispatchModeKey;
  using c10::impl::TorchDispatchModeTLS;
  if (!TorchDispatchModeTLS::any_modes_set()) return true;
  return !TorchDispatchModeTLS::get_mode(TorchDispatchModeKey::FAKE).has_value() &&
         !TorchDispatchModeTLS::get_mode(TorchDispatchModeKey::PROXY).has_value() &&
         !TorchDispatchModeTLS::get_mode(TorchDispatchModeKey::FUNCTIONAL).has_value();
}

namespace {
std::mutex g_warned_mutex;
std::set<std::string> g_warned;
}  // namespace

void warn_once(const char* key, const std::string& message) {
  {
    std::lock_guard<std::mutex> lock(g_warned_mutex);
    if (!g_warned.insert(key).second && !c10::WarningUtils::get_warnAlways()) return;
  }
  TORCH_WARN(message);
}

void reset_warn_once() {
  std::lock_guard<std::mutex> lock(g_warned_mutex);
  g_warned.clear();
}

}  // namespace api
}  // namespace spectro
