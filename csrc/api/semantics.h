// spectro — helpers of the torch-semantics layer (spectro::stft / spectro::istft): the vocabulary of their extra
// arguments, torch's dtype rules, window resolution, and messages spelled as Python prints values (the Python
// functions are thin wrappers over these ops, and their error messages are part of the API).
#pragma once

#include <ATen/ATen.h>
#include <c10/core/SymInt.h>
#include <c10/util/string_view.h>

#include <optional>
#include <string>

namespace spectro {
namespace api {

// kernel_dtype: "float32" (the compute dtype throughout), "mixed" (float32 arithmetic, the result stored in half
// precision), "float16" (half-precision storage of the inputs as well: "mixed" on the inputs rounded to half).
enum class KernelDtype { Float32, Mixed, Float16 };
KernelDtype parse_kernel_dtype(const char* fn, c10::string_view s);  // ValueError naming the argument

// istft's safety: when the NOLA condition is checked on the host.
enum class Safety { Auto, Always, Off };
Safety parse_safety(c10::string_view s);  // ValueError

// Python's spelling of a dtype ("torch.float32"), a shape ("(2, 0)", "(5,)"), a str ('x') and a bool (True).
std::string py_dtype(at::ScalarType t);
std::string py_shape(c10::SymIntArrayRef s);
std::string py_repr(c10::string_view s);
inline const char* py_bool(bool b) { return b ? "True" : "False"; }
// printf's %g (Python's f"{x:g}").
std::string py_g(double x);

// Python's floor division (the defaults n_fft // 4, n_fft // 2 of negative sizes, before they are refused).
inline int64_t floordiv(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

inline c10::SymInt floordiv(const c10::SymInt& a, int64_t b) {
  if (auto v = a.maybe_as_int()) return c10::SymInt(floordiv(*v, b));
  return a / b;
}

// The dtypes spectro's stft / istft accept (torch's floating and complex dtypes, half precision included).
bool supported_dtype(at::ScalarType t);
// kernel_dtype "float16": the half-precision counterpart a wider dtype is rounded to (float32 / float64 -> float16,
// complex64 / complex128 -> complex32); half dtypes map to themselves.
at::ScalarType half_storage_type(at::ScalarType t);
inline at::Tensor half_storage(const at::Tensor& t) {
  return t.defined() ? t.to(half_storage_type(t.scalar_type())) : t;
}
// kernel_dtype "mixed" / "float16" compute in single precision: double precision is refused, not downcast.
void check_mixed_precision(const char* fn, at::ScalarType compute_dtype);

// The window checks shared by stft and istft (a window of win_length samples on the input's device, of a supported
// dtype): RuntimeError naming the window.
void check_window(const char* fn, const at::Tensor& window, int64_t win_length, const at::Tensor& like);

// The window zero-padded (centred) to n_fft, in `dtype`; a rectangular window (ones) when undefined.
at::Tensor resolve_window(const at::Tensor& window, int64_t win_length, int64_t n_fft, const at::Tensor& like,
                          at::ScalarType dtype);

// Whether `t` holds values the host can read: false for meta and fake tensors, for the wrappers of tracing and
// batching (functionalization, vmap), and while a fake, proxy or functional tracing mode is active (torch.compile,
// torch.export, make_fx), where a host read is impossible or means something else.
bool concrete(const at::Tensor& t);

// torch's TORCH_WARN_ONCE with a registry the tests can reset: warns once per process per `key`, or on every call
// under torch.set_warn_always(True).
void warn_once(const char* key, const std::string& message);
void reset_warn_once();

}  // namespace api
}  // namespace spectro
