// spectro — the mel frontends' call of spectro::mel_analysis from a frontend's arguments (spectro/mel.py's
// _mel_core with kernel_dtype "float32"), in C++ for the eager Python path.
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <string>

namespace spectro {
namespace api {

// log(basis @ (|STFT(pad(x))|^2 + mag_eps)^(power / 2)), (..., n_mels, frames), as one spectro::mel_analysis call:
// x (..., T) real; window (win_length,), centred in n_fft samples; basis (n_mels, F) (columns past n_fft / 2 + 1
// dropped; a contiguous basis is passed on as it is, so that on CUDA its band ranges are kept across calls);
// center pads n_fft // 2 samples on each side by pad_mode; pad_left / pad_right: samples added before framing by
// pad_value_mode (only a symmetric pad without center is the op's own padding); normalized: scale n_fft^-0.5;
// drop_last: drop the last frame (Whisper); log: none (nullopt), "ln", "log10" or "db" ((20 / power) log10); log_mode
// "clamp", "add" or "log1p".
// Returns an undefined tensor where the call is not one mel_analysis call (another pad, a window or dtype the op does
// not take, a reflect / circular pad the signal cannot supply, no frame): the Python path then takes it, and raises
// what spectro.stft raises. The result and its autograd are those of the Python path's op call, bit for bit.
at::Tensor mel_frontend_op_call(const at::Tensor& x, const at::Tensor& window, const at::Tensor& basis, int64_t n_fft,
                                int64_t hop_length, int64_t win_length, bool center, const std::string& pad_mode,
                                int64_t pad_left, int64_t pad_right, const std::string& pad_value_mode,
                                bool normalized, double power, double mag_eps, bool drop_last,
                                const std::optional<std::string>& log, const std::string& log_mode, double log_eps);

}  // namespace api
}  // namespace spectro
