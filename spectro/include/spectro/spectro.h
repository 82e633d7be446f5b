// spectro — the public C++ API: torch::stft / torch::istft's signatures and semantics on spectro's kernels.
//
//   #include <spectro/spectro.h>
//   at::Tensor spec = spectro::stft(x, 1024, 256, std::nullopt, torch::hann_window(1024), /*center=*/true,
//                                   "reflect", false, std::nullopt, /*return_complex=*/true);
//   at::Tensor y = spectro::istft(spec, 1024, 256, std::nullopt, torch::hann_window(1024));
//
// Both are registered operators (torch.ops.spectro.stft / istft): they go through the dispatcher, so autograd works
// (also double backward and forward mode), and they trace under torch.compile and torch.export. Link against the
// spectro library (CMake: find_package(spectro), target spectro::spectro) to get them and the kernels.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/string_view.h>

#include <optional>

#if defined(_WIN32)
#define SPECTRO_API
#else
#define SPECTRO_API __attribute__((visibility("default")))
#endif

namespace spectro {

// As torch::stft (its `center` overload), plus:
//   kernel_dtype  "float32" (default): the result in the computation's dtype (complex64, or complex128 for double
//                 precision inputs); "mixed": computed in single precision, the spectrum stored as complex32;
//                 "float16": as "mixed" on the input and window rounded to half precision first.
// Differences from torch::stft: any number of leading batch dimensions; float16 / bfloat16 / complex32 inputs on
// every device (computed in single precision).
SPECTRO_API at::Tensor stft(const at::Tensor& self, int64_t n_fft, std::optional<int64_t> hop_length = std::nullopt,
                            std::optional<int64_t> win_length = std::nullopt,
                            const std::optional<at::Tensor>& window = std::nullopt, bool center = true,
                            c10::string_view pad_mode = "reflect", bool normalized = false,
                            std::optional<bool> onesided = std::nullopt,
                            std::optional<bool> return_complex = std::nullopt,
                            std::optional<bool> align_to_window = std::nullopt,
                            c10::string_view kernel_dtype = "float32");

// As torch::istft, plus:
//   torch_like    false (default): never raises for the NOLA condition (output samples whose window envelope is
//                 below 1e-11 become 0, with a warning); true: raises where torch::istft raises.
//   safety        when NOLA is checked on the host (a device -> host copy): "auto" (default) once per window tensor
//                 and geometry, so steady-state calls never synchronise; "always"; "off".
//   kernel_dtype  as for stft: "mixed" / "float16" store the signal in half precision.
SPECTRO_API at::Tensor istft(const at::Tensor& self, int64_t n_fft, std::optional<int64_t> hop_length = std::nullopt,
                             std::optional<int64_t> win_length = std::nullopt,
                             const std::optional<at::Tensor>& window = std::nullopt, bool center = true,
                             bool normalized = false, std::optional<bool> onesided = std::nullopt,
                             std::optional<int64_t> length = std::nullopt, bool return_complex = false,
                             bool torch_like = false, c10::string_view safety = "auto",
                             c10::string_view kernel_dtype = "float32");

}  // namespace spectro
