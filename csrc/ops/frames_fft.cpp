// spectro — ATen's FFT between frames and spectra (cuFFT on CUDA, MKL / pocketfft on the CPU), by FFT mode, and the
// two-kernel path of each core op built on it: a framing / overlap-add kernel (passed in by the backend) around one
// FFT of all frames. The CPU backend calls the same FFTs a chunk of frames at a time (cpu.cpp).
#include "ops.h"

namespace spectro {

at::Tensor signal_for_fft(const OpArgs& a) {
  // The framing kernels and ATen's FFT read single or double precision: a half x is converted first (one pass), so
  // these paths give exactly the op's result on the converted tensor.
  return a.input.scalar_type() == a.signal_type ? a.input : a.input.to(a.signal_type);
}

at::Tensor spectrum_for_fft(const OpArgs& a) {
  // ATen's FFT reads single or double precision (torch has few complex32 ops): a complex32 spec is converted first
  // (one pass), so these paths give exactly the op's result on the converted tensor.
  at::Tensor spec = a.input.scalar_type() == a.complex_type ? a.input : a.input.to(a.complex_type);
  // A spectrum with a zero stride (an expanded tensor: a broadcast istft input, or the gradient of a sum reaching
  // the analysis backward) is copied first: the MKL FFT of torch 2.6 and older rejects zero strides ("Intel oneMKL
  // DFTI ERROR: Inconsistent configuration parameters"). Other layouts go to the FFT as they are.
  for (int64_t d = 0; d < spec.dim(); ++d) {
    if (spec.stride(d) == 0 && spec.size(d) > 1) return spec.contiguous();
  }
  return spec;
}

at::Tensor frames_to_spectrum(const OpArgs& a, const at::Tensor& frames) {
  const std::vector<int64_t> last{frames.dim() - 1};
  switch (a.mode) {
    case FftMode::Rfft:
      return at::_fft_r2c(frames, last, /*normalization=*/0, /*onesided=*/true);
    case FftMode::RfftFull:
      return at::_fft_r2c(frames, last, 0, /*onesided=*/false);
    case FftMode::Fft:
      return at::_fft_c2c(frames, last, 0, /*forward=*/true);
    case FftMode::RfftDouble: {
      at::Tensor spec = at::_fft_r2c(frames, last, 0, true);
      double_interior_bins(a, spec);
      return spec;
    }
    default:
      TORCH_INTERNAL_ASSERT(false);
  }
}

void double_interior_bins(const OpArgs& a, const at::Tensor& spec) {
  const int64_t pairs = a.g.n_fft - a.bins;
  if (pairs > 0) spec.narrow(-1, 1, pairs).mul_(2);
}

// The imaginary parts of the bins a real signal's spectrum holds real (DC, and Nyquist for even n_fft) set to zero in
// `spec` (a tensor of this call's own: it is written), before cuFFT's c2r. A Hermitian inverse transform ignores
// them (torch.fft.irfft's documented semantics, pocketfft's, and the fused kernels'), and the stft's backward must
// (torch's gradient of the onesided rfft is the real part of an inverse c2c transform of the zero-padded gradient).
// cuFFT's c2r does not ignore them at every length (pytorch/pytorch#154496): its result then depends on the FFT
// length. MKL and pocketfft ignore them themselves (the CPU results are bit-equal with and without them), so the CPU
// chunks skip this.
void zero_unrepresentable_imag(const OpArgs& a, const at::Tensor& spec) {
  const at::Tensor im = at::imag(spec);
  im.select(-1, 0).zero_();
  if (a.g.n_fft % 2 == 0) im.select(-1, a.g.n_fft / 2).zero_();
}

at::Tensor spectrum_to_frames(const OpArgs& a, const at::Tensor& spec) {
  const int64_t n_fft = a.g.n_fft;
  const std::vector<int64_t> last{spec.dim() - 1};
  switch (a.mode) {
    case FftMode::Irfft: {
      if (!spec.is_cuda()) return at::_fft_c2r(spec, last, /*normalization=*/0, n_fft);
      // (cuFFT: on a copy, zeroed)
      at::Tensor hermitian = spec.clone();
      zero_unrepresentable_imag(a, hermitian);
      return at::_fft_c2r(hermitian, last, 0, n_fft);
    }
    case FftMode::IrfftHalf: {
      // Transpose of the onesided rfft: bins 1 .. n_fft - bins carry half weight before the Hermitian irfft.
      at::Tensor weight = at::ones({a.bins}, spec.options().dtype(a.signal_type));
      if (n_fft - a.bins > 0) weight.narrow(0, 1, n_fft - a.bins).fill_(0.5);
      at::Tensor weighted = spec * weight;
      if (weighted.is_cuda()) zero_unrepresentable_imag(a, weighted);  // (as above: cuFFT only)
      return at::_fft_c2r(weighted, last, 0, n_fft);
    }
    case FftMode::Ifft:
      return at::_fft_c2c(spec, last, 0, /*forward=*/false);
    case FftMode::IfftReal:
      return at::real(at::_fft_c2c(spec, last, 0, /*forward=*/false));
    default:
      TORCH_INTERNAL_ASSERT(false);
  }
}

at::Tensor analysis_via_frames(const OpArgs& a, FramesFn frames_fn) {
  const at::Tensor x = signal_for_fft(a);
  at::Tensor frames = at::empty({x.size(0), a.g.n_frames, a.g.n_fft}, x.options());
  frames_fn(x, a.window, frames, a.g, a.scale);
  return frames_to_spectrum(a, frames).transpose(1, 2);
}

at::Tensor synthesis_via_frames(const OpArgs& a, OverlapAddFn ola_fn) {
  const at::Tensor spec = spectrum_for_fft(a);
  const at::Tensor frames = spectrum_to_frames(a, spec.transpose(1, 2)).contiguous();  // [batch, frames, n_fft]
  at::Tensor out = at::empty({spec.size(0), a.g.length}, frames.options());
  ola_fn(frames, a.window, out, a.g, a.scale);
  return out;
}

}  // namespace spectro
