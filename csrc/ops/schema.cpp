// spectro — every op schema of the library (the one TORCH_LIBRARY), and the kernel-path setting.
//
// Ops (csrc/api: stft / istft over them; csrc/autograd: their autograd; csrc/ops: backends):
//   spectro::analysis   x[B, T] -> spectrum[B, F, N]  (pad + frame + window (+1/envelope) -> FFT)
//   spectro::synthesis  spectrum[B, F, N] -> y[B, L]  (inverse FFT -> window -> overlap-add (+1/envelope) -> fold/trim)
// The two are transposes of each other for matching (geometry, fft_mode) pairs, so each one's backward is the other.
//   spectro::mel_analysis  x[B, T] -> mel[B, M, N]  (analysis -> power -> mel bands -> log; one kernel on CUDA;
//                          csrc/ops/mel.cpp); mel_analysis_backward: dL/dmel -> dL/dX (csrc/autograd/mel.cpp);
//                          mel_l1_backward: the same for an L1 loss against target mels (the mel loss' autograd)
//   spectro::stft_loss_sums  x, y [B, T] -> [4]  (both analyses -> clamped magnitudes -> the STFT loss terms' sums;
//                          one kernel on CUDA; csrc/ops/stft_loss.cpp); stft_loss_sums_backward: dL/dsums -> dL/dX
//                          (csrc/autograd/stft_loss.cpp)
//   spectro::stft_loss     x, y [B, T] -> (loss, terms [R, 3])  (the multi-resolution STFT loss over one
//                          stft_loss_sums per resolution; csrc/api/stft_loss.cpp); stft_loss_forward /
//                          stft_loss_backward: the same with the sums kept, and its input gradient (its autograd)
//   spectro::mel_loss      x, y [B, T] -> loss  (the multi-scale mel L1 loss over mel_analysis; csrc/api/mel_loss.cpp);
//                          mel_loss_forward: its log terms with the signs its backward keeps (its autograd)
// Input dtypes: x is float32 / float64 (real fft modes) or complex64 / complex128 (fft_mode 'fft'), spec complex64 /
// complex128; half precision is accepted too (float16 / bfloat16 x, complex32 x or spec), read as it is stored and
// computed in single precision, so its window must be float32 (compute_type_of in spectro.h). The fused CUDA kernels
// load half inputs themselves; the other paths convert them to single precision in one pass first.
// out_dtype (optional, last): store the result in half precision (complex32 for a complex64 result, float16 or
// bfloat16 for float32): computed in single precision, then rounded once per element (spectro.stft / istft's
// kernel_dtype="mixed").
#include <torch/library.h>

#include <atomic>

#include "ops.h"

namespace spectro {

namespace {
std::atomic<int64_t> g_kernel_path{0};
}  // namespace

KernelPath kernel_path() { return static_cast<KernelPath>(g_kernel_path.load()); }

std::string set_kernel_path(const std::string& name) {
  for (int i = 0; i < kKernelPaths; ++i) {
    if (name == kKernelPathNames[i]) return kKernelPathNames[g_kernel_path.exchange(i)];
  }
  std::string allowed;
  for (int i = 0; i < kKernelPaths; ++i) allowed += (i ? ", '" : "'") + std::string(kKernelPathNames[i]) + "'";
  TORCH_CHECK_VALUE(false, "kernel_path must be one of ", allowed, ", but got '", name, "'");
}

}  // namespace spectro

TORCH_LIBRARY(spectro, m) {
  m.def(
      "analysis(Tensor x, Tensor window, int n_fft, int hop_length, SymInt n_frames, int pad, str pad_mode, "
      "bool env_normalize, str fft_mode, float scale, ScalarType? out_dtype=None) -> Tensor");
  m.def(
      "synthesis(Tensor spec, Tensor window, int n_fft, int hop_length, SymInt length, int pad, str pad_mode, "
      "bool env_normalize, str fft_mode, float scale, ScalarType? out_dtype=None) -> Tensor");
  // The mel frontend: power spectrum -> mel bands -> log (csrc/ops/mel.cpp has its definition).
  m.def(
      "mel_analysis(Tensor x, Tensor window, Tensor basis, int n_fft, int hop_length, SymInt n_frames, int pad, "
      "str pad_mode, float scale, float power, float mag_eps, str log, float log_eps, float log_scale) -> Tensor");
  // Its backward to the spectrum: dL/dX [B, F, N] (complex, frame-major) from dL/d mel, recomputing the spectrum
  // (one kernel on CUDA); the input gradient is then the analysis' adjoint (spectro::synthesis) of it.
  m.def(
      "mel_analysis_backward(Tensor grad, Tensor x, Tensor window, Tensor basis, int n_fft, int hop_length, "
      "SymInt n_frames, int pad, str pad_mode, float scale, float power, float mag_eps, str log, float log_eps, "
      "float log_scale) -> Tensor");
  // The backward of an L1 loss on the mel output against target mels: dL/dX of weight * grad_loss *
  // sum |mel_analysis(x) - target| (grad_loss: one value; the mel loss' autograd; one kernel on CUDA).
  m.def(
      "mel_l1_backward(Tensor grad_loss, Tensor target, Tensor x, Tensor window, Tensor basis, int n_fft, "
      "int hop_length, SymInt n_frames, int pad, str pad_mode, float scale, float power, float mag_eps, str log, "
      "float log_eps, float log_scale, float weight) -> Tensor");
  // The two backwards above straight to the input gradient dL/dx [B, T] (x's compute dtype): the analysis' adjoint
  // (spectro::synthesis, mode irfft_half, the same window and scale) of their dL/dX, the L1 loss' given by the signs
  // of mel_analysis(x) - target (int8 [B, M, N], what its forward keeps instead of the target: dL/d mel = sign *
  // grad_loss * weight). One kernel on CUDA where the synthesis engine with the mel prologue covers the geometry
  // (dL/dX never reaches memory); elsewhere that composition (csrc/ops/mel.cpp).
  m.def(
      "mel_analysis_backward_input(Tensor grad, Tensor x, Tensor window, Tensor basis, int n_fft, int hop_length, "
      "SymInt n_frames, int pad, str pad_mode, float scale, float power, float mag_eps, str log, float log_eps, "
      "float log_scale) -> Tensor");
  m.def(
      "mel_l1_backward_input(Tensor grad_loss, Tensor sign, Tensor x, Tensor window, Tensor basis, int n_fft, "
      "int hop_length, SymInt n_frames, int pad, str pad_mode, float scale, float power, float mag_eps, str log, "
      "float log_eps, float log_scale, float weight) -> Tensor");
  // One resolution of a multi-resolution STFT loss: the sums [sum (Y - X)^2, sum Y^2, sum d(ln X, ln Y), sum d(X, Y)]
  // of the clamped magnitudes (csrc/ops/stft_loss.cpp has the definition).
  m.def(
      "stft_loss_sums(Tensor x, Tensor y, Tensor window, int n_fft, int hop_length, SymInt n_frames, int pad, "
      "str pad_mode, float eps, str distance) -> Tensor");
  // Its backward to the spectra (one kernel on CUDA): dL/dX onesided, or with grad_target the packed x + i y
  // spectrum gradient; the input gradients are then the analysis' adjoint (spectro::synthesis) of it.
  m.def(
      "stft_loss_sums_backward(Tensor grad, Tensor x, Tensor y, Tensor window, int n_fft, int hop_length, "
      "SymInt n_frames, int pad, str pad_mode, float eps, str distance, bool grad_target) -> Tensor");
  // The (multi-resolution) STFT loss over the sums: (loss, terms [R, 3]) (csrc/api/stft_loss.cpp).
  m.def(
      "stft_loss(Tensor x, Tensor y, Tensor[] windows, int[] n_ffts, int[] hop_lengths, float eps, str distance, "
      "str reduction, float[] weights) -> (Tensor, Tensor)");
  // Its forward and backward below its autograd node (csrc/autograd/stft_loss.cpp): (loss, terms, sums [R, 4]: each
  // resolution's sums over its count), and the input gradient from dL/dloss and dL/dterms (real dL/dx, or with
  // grad_target the complex dL/dx + i dL/dy). Composites in csrc/api/stft_loss.cpp; on CUDA a few launches for every
  // resolution together (csrc/ops/cuda.cu).
  m.def(
      "stft_loss_forward(Tensor x, Tensor y, Tensor[] windows, int[] n_ffts, int[] hop_lengths, float eps, "
      "str distance, str reduction, float[] weights) -> (Tensor, Tensor, Tensor)");
  m.def(
      "stft_loss_backward(Tensor? grad_loss, Tensor? grad_terms, Tensor x, Tensor y, Tensor[] windows, int[] n_ffts, "
      "int[] hop_lengths, float eps, str distance, str reduction, float[] weights, Tensor sums, Tensor terms, "
      "bool grad_target) -> Tensor");
  // The multi-scale mel-spectrogram L1 loss over mel_analysis (csrc/api/mel_loss.cpp).
  m.def(
      "mel_loss(Tensor x, Tensor y, Tensor[] windows, Tensor[] bases, int[] hop_lengths, int[] pads, float clamp_eps, "
      "float pow, float mag_eps, float log_weight, float mag_weight) -> Tensor");
  // Its log terms below its autograd node (csrc/autograd/mel_loss.cpp): (loss, the signs of log-mel x - log-mel y per
  // scale, int8 [B, M_s, N_s]). Composite in csrc/api/mel_loss.cpp; on CUDA per scale the two mel kernels and one
  // small kernel for the signs and the partial sums of |log-mel x - log-mel y|, then one launch for the loss.
  m.def(
      "mel_loss_forward(Tensor x, Tensor y, Tensor[] windows, Tensor[] bases, int[] hop_lengths, int[] pads, "
      "float clamp_eps, float pow, float mag_eps, float log_weight) -> (Tensor, Tensor[])");
  // Its backward: dL/dx of the log terms from dL/dloss and mel_loss_forward's signs, summed over the scales (per scale
  // mel_l1_backward_input; on CUDA each scale's one kernel adds its gradient to the sum in place).
  m.def(
      "mel_loss_backward(Tensor grad_loss, Tensor[] signs, Tensor x, Tensor[] windows, Tensor[] bases, "
      "int[] hop_lengths, int[] pads, float clamp_eps, float pow, float mag_eps, float log_weight) -> Tensor");
  // torch.stft / torch.istft's schemas plus spectro's keyword-only extras; composites over analysis / synthesis
  // (csrc/api).
  m.def(
      "stft(Tensor self, int n_fft, int? hop_length=None, int? win_length=None, Tensor? window=None, "
      "bool center=True, str pad_mode=\"reflect\", bool normalized=False, bool? onesided=None, "
      "bool? return_complex=None, bool? align_to_window=None, *, str kernel_dtype=\"float32\") -> Tensor");
  m.def(
      "istft(Tensor self, int n_fft, int? hop_length=None, int? win_length=None, Tensor? window=None, "
      "bool center=True, bool normalized=False, bool? onesided=None, SymInt? length=None, bool return_complex=False, "
      "*, bool torch_like=False, str safety=\"auto\", str kernel_dtype=\"float32\") -> Tensor");
  m.def("_set_kernel_path(str path) -> str", &spectro::set_kernel_path);
}
