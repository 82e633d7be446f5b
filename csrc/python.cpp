// spectro — the Python extension module spectro._C.
//
// Importing it loads this library, whose static initialisers register the ops (TORCH_LIBRARY in spectro.cpp, the
// Autograd, CPU, Meta and CUDA implementations). It also binds spectro::analysis and spectro::synthesis directly, for
// the eager Python wrappers (spectro/functional.py): one typed dispatcher call (call_analysis / call_synthesis), where
// the ops' torch.ops entry points first match the arguments against the schema and box them. The call goes through
// the same dispatcher (autograd, functorch, dispatch modes, fake tensors), raises the same exceptions through torch's
// translation (RuntimeError, ValueError, ...), and releases the GIL as torch.ops does. C++ warnings (TORCH_WARN)
// become Python warnings, as from torch's own functions (torch.ops prints them to stderr). What it does not do is
// __torch_function__: the wrappers handle that themselves first (as torch's own Python functions do), and under
// torch.compile they call the torch.ops packets instead.
#include <torch/extension.h>

#include <optional>
#include <string>

#include "spectro.h"

namespace spectro {
namespace {

at::Tensor analysis_eager(const at::Tensor& x, const at::Tensor& window, int64_t n_fft, int64_t hop_length,
                          int64_t n_frames, int64_t pad, const std::string& pad_mode, bool env_normalize,
                          const std::string& fft_mode, double scale, std::optional<at::ScalarType> out_dtype) {
  HANDLE_TH_ERRORS
  const pybind11::gil_scoped_release no_gil;
  return call_analysis(x, window, n_fft, hop_length, c10::SymInt(n_frames), pad, pad_mode, env_normalize, fft_mode,
                       scale, out_dtype);
  END_HANDLE_TH_ERRORS_PYBIND
}

at::Tensor synthesis_eager(const at::Tensor& spec, const at::Tensor& window, int64_t n_fft, int64_t hop_length,
                           int64_t length, int64_t pad, const std::string& pad_mode, bool env_normalize,
                           const std::string& fft_mode, double scale, std::optional<at::ScalarType> out_dtype) {
  HANDLE_TH_ERRORS
  const pybind11::gil_scoped_release no_gil;
  return call_synthesis(spec, window, n_fft, hop_length, c10::SymInt(length), pad, pad_mode, env_normalize, fft_mode,
                        scale, out_dtype);
  END_HANDLE_TH_ERRORS_PYBIND
}

}  // namespace
}  // namespace spectro

PYBIND11_MODULE(_C, m) {
  m.doc() = "spectro's operator library (torch.ops.spectro.*) and direct entry points of its core ops";
  // The schema's arguments, in its order and with its default (out_dtype=None).
  using pybind11::arg;
  m.def("analysis", &spectro::analysis_eager, "spectro::analysis, eagerly, without __torch_function__ handling",
        arg("x"), arg("window"), arg("n_fft"), arg("hop_length"), arg("n_frames"), arg("pad"), arg("pad_mode"),
        arg("env_normalize"), arg("fft_mode"), arg("scale"), arg("out_dtype") = pybind11::none());
  m.def("synthesis", &spectro::synthesis_eager, "spectro::synthesis, eagerly, without __torch_function__ handling",
        arg("spec"), arg("window"), arg("n_fft"), arg("hop_length"), arg("length"), arg("pad"), arg("pad_mode"),
        arg("env_normalize"), arg("fft_mode"), arg("scale"), arg("out_dtype") = pybind11::none());
}
