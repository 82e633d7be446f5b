// spectro — istft's semantics, for the op (istft.cpp) and the Python binding's NOLA pre-check under torch.compile.
#pragma once

#include <ATen/ATen.h>
#include <c10/core/SymInt.h>

#include <optional>

namespace spectro {
namespace api {

// spectro::istft. With check_only, only the argument checks and the NOLA check run (undefined result): what the
// Python wrapper runs eagerly, outside the graph, when torch.compile traces istft(torch_like=True) or
// safety="always".
at::Tensor istft_impl(const at::Tensor& self, int64_t n_fft, std::optional<int64_t> hop_length,
                      std::optional<int64_t> win_length, const std::optional<at::Tensor>& window, bool center,
                      bool normalized, std::optional<bool> onesided, const std::optional<c10::SymInt>& length,
                      bool return_complex, bool torch_like, c10::string_view safety, c10::string_view kernel_dtype,
                      bool check_only);

}  // namespace api
}  // namespace spectro
