// spectro — the public C++ API: torch::stft / torch::istft's signatures and semantics on spectro's kernels, and the
// mel frontend's and the STFT loss's ops.
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
#include <tuple>

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

// The mel frontend's op (torch.ops.spectro.mel_analysis; every Python mel frontend is one call of it):
//   out[b, m, n] = log_stage(sum_k basis[m, k] * (|X[b, k, n]|^2 + mag_eps)^(power / 2))
// X: the onesided spectrum of x [batch, T] (float32 / float64, or float16 / bfloat16 computed in float32) padded by
// `pad` samples on each side (pad_mode "reflect", "constant", "replicate" or "circular"), frames n * hop_length of
// n_fft samples (n < n_frames) times `window` [n_fft] and `scale`. basis [n_mels, bins'] with bins' <= n_fft / 2 + 1
// (in x's compute dtype). log_stage: "none" (m), "clamp" (log(max(m, log_eps))), "add" (log(m + log_eps)), "log1p",
// each times log_scale. Result [batch, n_mels, n_frames], contiguous. On CUDA one kernel (the spectrum stays on
// chip), and for an x that requires grad one kernel + the analysis' adjoint backward; gradients in x, window and
// basis everywhere.
SPECTRO_API at::Tensor mel_analysis(const at::Tensor& x, const at::Tensor& window, const at::Tensor& basis,
                                    int64_t n_fft, int64_t hop_length, int64_t n_frames, int64_t pad,
                                    c10::string_view pad_mode = "reflect", double scale = 1.0, double power = 2.0,
                                    double mag_eps = 0.0, c10::string_view log = "none", double log_eps = 1e-5,
                                    double log_scale = 1.0);

// The (multi-resolution) STFT loss (torch.ops.spectro.stft_loss; spectro.losses' common path) of x [batch, T] against
// y (same shape; float32 or float64): per resolution r (windows[r] of n_ffts[r] samples, hop_lengths[r]; frames
// centred with reflect padding, onesided; clamped magnitudes X, Y = sqrt(max(|.|^2, eps))):
//   sc[r] = ||Y - X||_F / ||Y||_F, log[r] = reduce(d(ln X, ln Y)), lin[r] = reduce(d(X, Y))
// d: distance "L1" (|.|) or "L2" ((.)^2); reduce: reduction "mean" or "sum" over every bin of every frame of every
// signal. Returns (loss = mean over r of weights . (sc, log, lin), terms [R, 3]); a term of weight 0 is not
// computed (reads 0). On CUDA one kernel per resolution (both spectra stay on chip), and a backward of one kernel +
// the analysis' adjoint per resolution; gradients in x and y.
SPECTRO_API std::tuple<at::Tensor, at::Tensor> stft_loss(const at::Tensor& x, const at::Tensor& y,
                                                         at::TensorList windows, at::IntArrayRef n_ffts,
                                                         at::IntArrayRef hop_lengths, double eps = 1e-7,
                                                         c10::string_view distance = "L1",
                                                         c10::string_view reduction = "mean",
                                                         at::ArrayRef<double> weights = {1.0, 1.0, 0.0});

// The multi-scale mel-spectrogram L1 loss (torch.ops.spectro.mel_loss; spectro.losses.MelSpectrogramLoss with a target
// signal) of x [batch, T] against y (same shape and dtype): per scale i, the mels M = bases[i] . sqrt(|STFT|^2 +
// mag_eps) (windows[i] of n_fft_i samples, hop_lengths[i], reflect padding of pads[i] samples on each side, frames
// from the padded start), then
//   log_weight * mean|log10(max(Mx, clamp_eps)^pow) - log10(max(My, clamp_eps)^pow)| + mag_weight * mean|Mx - My|,
// summed over the scales. On CUDA one mel kernel per scale and signal (with mag_weight 0 its log stage too), and a
// backward of one kernel + the analysis' adjoint per scale; gradients in x and y.
SPECTRO_API at::Tensor mel_loss(const at::Tensor& x, const at::Tensor& y, at::TensorList windows,
                                at::TensorList bases, at::IntArrayRef hop_lengths, at::IntArrayRef pads,
                                double clamp_eps = 1e-5, double pow = 1.0, double mag_eps = 0.0,
                                double log_weight = 1.0, double mag_weight = 0.0);

}  // namespace spectro
