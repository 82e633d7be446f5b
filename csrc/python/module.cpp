// spectro — the Python extension module spectro._C.
//
// Importing it loads this library, whose static initialisers register the ops (TORCH_LIBRARY in ops/schema.cpp, the
// Autograd, CompositeImplicitAutograd, CPU, Meta and CUDA implementations). It also binds spectro::stft / istft (and
// the core ops analysis / synthesis, and the mel frontends' op call, csrc/api/mel_frontend.h) directly, for the eager
// Python wrappers (spectro/functional.py, spectro/mel.py): one typed dispatcher call, where the ops' torch.ops entry
// points first match the arguments against the schema and box them.
// The call goes through the same dispatcher (autograd, functorch, dispatch modes, fake tensors), raises the same
// exceptions through torch's translation (RuntimeError, ValueError, ...), and releases the GIL as torch.ops does.
// C++ warnings (TORCH_WARN) become Python warnings, as from torch's own functions. What it does not do is
// __torch_function__: the wrappers handle that themselves first (as torch's own Python functions do), and under
// torch.compile they call the torch.ops packets instead.
#include <torch/extension.h>

#include <optional>
#include <string>
#include <vector>

#include <spectro/spectro.h>
#include "../api/istft.h"
#include "../api/mel_frontend.h"
#include "../api/nola.h"
#include "../api/semantics.h"
#include "../kernels/fft_mode.h"
#include "../ops/mel_band_cache.h"
#include "../ops/mkl_dft.h"
#include "../ops/ops.h"

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

at::Tensor stft_eager(const at::Tensor& input, int64_t n_fft, std::optional<int64_t> hop_length,
                      std::optional<int64_t> win_length, const std::optional<at::Tensor>& window, bool center,
                      const std::string& pad_mode, bool normalized, std::optional<bool> onesided,
                      std::optional<bool> return_complex, std::optional<bool> align_to_window,
                      const std::string& kernel_dtype) {
  HANDLE_TH_ERRORS
  const pybind11::gil_scoped_release no_gil;
  return stft(input, n_fft, hop_length, win_length, window, center, pad_mode, normalized, onesided, return_complex,
              align_to_window, kernel_dtype);
  END_HANDLE_TH_ERRORS_PYBIND
}

at::Tensor istft_eager(const at::Tensor& input, int64_t n_fft, std::optional<int64_t> hop_length,
                       std::optional<int64_t> win_length, const std::optional<at::Tensor>& window, bool center,
                       bool normalized, std::optional<bool> onesided, std::optional<int64_t> length,
                       bool return_complex, bool torch_like, const std::string& safety,
                       const std::string& kernel_dtype) {
  HANDLE_TH_ERRORS
  const pybind11::gil_scoped_release no_gil;
  return istft(input, n_fft, hop_length, win_length, window, center, normalized, onesided, length, return_complex,
               torch_like, safety, kernel_dtype);
  END_HANDLE_TH_ERRORS_PYBIND
}

// istft's argument checks and NOLA check alone (no synthesis): run eagerly by the Python wrapper while torch.compile
// traces istft(torch_like=True) or safety="always" (a graph break: the check reads the host).
void istft_nola_eager(const at::Tensor& input, int64_t n_fft, std::optional<int64_t> hop_length,
                      std::optional<int64_t> win_length, const std::optional<at::Tensor>& window, bool center,
                      bool normalized, std::optional<bool> onesided, std::optional<int64_t> length,
                      bool return_complex, bool torch_like, const std::string& safety,
                      const std::string& kernel_dtype) {
  HANDLE_TH_ERRORS
  const pybind11::gil_scoped_release no_gil;
  std::optional<c10::SymInt> len;
  if (length.has_value()) len = c10::SymInt(*length);
  api::istft_impl(input, n_fft, hop_length, win_length, window, center, normalized, onesided, len, return_complex,
                  torch_like, safety, kernel_dtype, /*check_only=*/true);
  END_HANDLE_TH_ERRORS_PYBIND
}

at::Tensor mel_frontend_eager(const at::Tensor& x, const at::Tensor& window, const at::Tensor& basis, int64_t n_fft,
                              int64_t hop_length, int64_t win_length, bool center, const std::string& pad_mode,
                              int64_t pad_left, int64_t pad_right, const std::string& pad_value_mode, bool normalized,
                              double power, double mag_eps, bool drop_last, const std::optional<std::string>& log,
                              const std::string& log_mode, double log_eps) {
  HANDLE_TH_ERRORS
  const pybind11::gil_scoped_release no_gil;
  return api::mel_frontend_op_call(x, window, basis, n_fft, hop_length, win_length, center, pad_mode, pad_left,
                                   pad_right, pad_value_mode, normalized, power, mag_eps, drop_last, log, log_mode,
                                   log_eps);
  END_HANDLE_TH_ERRORS_PYBIND
}

}  // namespace
}  // namespace spectro

PYBIND11_MODULE(_C, m) {
  m.doc() = "spectro's operator library (torch.ops.spectro.*) and direct entry points of its ops";
  using pybind11::arg;
  namespace k = spectro::kernels;
  // Each op's arguments, in its schema's order and with its defaults.
  m.def("analysis", &spectro::analysis_eager, "spectro::analysis, eagerly, without __torch_function__ handling",
        arg("x"), arg("window"), arg("n_fft"), arg("hop_length"), arg("n_frames"), arg("pad"), arg("pad_mode"),
        arg("env_normalize"), arg("fft_mode"), arg("scale"), arg("out_dtype") = pybind11::none());
  m.def("synthesis", &spectro::synthesis_eager, "spectro::synthesis, eagerly, without __torch_function__ handling",
        arg("spec"), arg("window"), arg("n_fft"), arg("hop_length"), arg("length"), arg("pad"), arg("pad_mode"),
        arg("env_normalize"), arg("fft_mode"), arg("scale"), arg("out_dtype") = pybind11::none());
  m.def("stft", &spectro::stft_eager, "spectro::stft, eagerly, without __torch_function__ handling", arg("input"),
        arg("n_fft"), arg("hop_length") = pybind11::none(), arg("win_length") = pybind11::none(),
        arg("window") = pybind11::none(), arg("center") = true, arg("pad_mode") = "reflect",
        arg("normalized") = false, arg("onesided") = pybind11::none(), arg("return_complex") = pybind11::none(),
        arg("align_to_window") = pybind11::none(), arg("kernel_dtype") = "float32");
  m.def("istft", &spectro::istft_eager, "spectro::istft, eagerly, without __torch_function__ handling", arg("input"),
        arg("n_fft"), arg("hop_length") = pybind11::none(), arg("win_length") = pybind11::none(),
        arg("window") = pybind11::none(), arg("center") = true, arg("normalized") = false,
        arg("onesided") = pybind11::none(), arg("length") = pybind11::none(), arg("return_complex") = false,
        arg("torch_like") = false, arg("safety") = "auto", arg("kernel_dtype") = "float32");
  m.def("istft_nola_check", &spectro::istft_nola_eager, "istft's argument and NOLA checks alone", arg("input"),
        arg("n_fft"), arg("hop_length") = pybind11::none(), arg("win_length") = pybind11::none(),
        arg("window") = pybind11::none(), arg("center") = true, arg("normalized") = false,
        arg("onesided") = pybind11::none(), arg("length") = pybind11::none(), arg("return_complex") = false,
        pybind11::kw_only(), arg("torch_like") = false, arg("safety") = "auto", arg("kernel_dtype") = "float32");
  m.def("mel_frontend", &spectro::mel_frontend_eager,
        "a mel frontend's spectro::mel_analysis call, eagerly (None where it is not one op call; spectro/mel.py)",
        arg("x"), arg("window"), arg("basis"), arg("n_fft"), arg("hop_length"), arg("win_length"), arg("center"),
        arg("pad_mode"), arg("pad_left"), arg("pad_right"), arg("pad_value_mode"), arg("normalized"), arg("power"),
        arg("mag_eps"), arg("drop_last"), arg("log"), arg("log_mode"), arg("log_eps"));
  m.def("nola_host_checks", &spectro::api::nola_host_checks, "istft NOLA checks read on the host so far");
  m.def("nola_cache_entries", &spectro::api::nola_cache_entries, "(window, geometry) NOLA passes remembered");
  m.def("nola_cache_clear", &spectro::api::nola_cache_clear, "forget every NOLA pass (safety='auto')");
  m.def("mel_band_cache_entries", &spectro::mel_band_cache_entries, "mel bases whose band ranges are kept (CUDA)");
  m.def("mel_band_cache_clear", &spectro::mel_band_cache_clear, "forget every kept mel band range");
  m.def("cpu_direct_fft", &spectro::mkl_dft_available,
        "whether the CPU backend's FFT writes into the result directly (MKL's DFTI found in torch's CPU library)");
  m.def("reset_warnings", &spectro::api::reset_warn_once, "let spectro's once-per-process warnings fire again");
  // The vocabularies, defined once in C++.
  std::vector<std::string> paths(spectro::kKernelPathNames, spectro::kKernelPathNames + spectro::kKernelPaths);
  m.attr("KERNEL_PATHS") = pybind11::cast(paths);
  pybind11::dict adjoint;
  for (int i = 0; i < k::kFftModes; ++i) {
    const auto mode = static_cast<k::FftMode>(i);
    adjoint[k::name_of(mode)] = k::name_of(k::adjoint(mode));
  }
  m.attr("ADJOINT_FFT_MODE") = adjoint;
}
