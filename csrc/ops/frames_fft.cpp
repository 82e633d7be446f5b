// spectro — the two-kernel path of each core op, device-independent: a framing / overlap-add kernel (passed in by
// the backend) around ATen's FFT (cuFFT on CUDA, pocketfft / MKL on the CPU).
#include "ops.h"

namespace spectro {

at::Tensor analysis_via_frames(const OpArgs& a, FramesFn frames_fn) {
  const int64_t n_fft = a.g.n_fft;
  // The framing kernels and ATen's FFT read single or double precision: a half x is converted first (one pass), so
  // this path gives exactly the op's result on the converted tensor.
  const at::Tensor x = a.input.scalar_type() == a.signal_type ? a.input : a.input.to(a.signal_type);
  at::Tensor frames = at::empty({x.size(0), a.g.n_frames, n_fft}, x.options());
  frames_fn(x, a.window, frames, a.g, a.scale);
  at::Tensor spec;
  switch (a.mode) {
    case FftMode::Rfft:
      spec = at::_fft_r2c(frames, {2}, /*normalization=*/0, /*onesided=*/true);
      break;
    case FftMode::RfftFull:
      spec = at::_fft_r2c(frames, {2}, 0, /*onesided=*/false);
      break;
    case FftMode::Fft:
      spec = at::_fft_c2c(frames, {2}, 0, /*forward=*/true);
      break;
    case FftMode::RfftDouble:
      spec = at::_fft_r2c(frames, {2}, 0, true);
      if (n_fft - a.bins > 0) spec.narrow(2, 1, n_fft - a.bins).mul_(2);
      break;
    default:
      TORCH_INTERNAL_ASSERT(false);
  }
  return spec.transpose(1, 2);
}

at::Tensor synthesis_via_frames(const OpArgs& a, OverlapAddFn ola_fn) {
  const int64_t n_fft = a.g.n_fft;
  // ATen's FFT reads single or double precision (torch has few complex32 ops): a complex32 spec is converted first
  // (one pass), so this path gives exactly the op's result on the converted tensor.
  at::Tensor spec = a.input.scalar_type() == a.complex_type ? a.input : a.input.to(a.complex_type);
  // A spectrum with a zero stride (an expanded tensor: a broadcast istft input, or the gradient of a sum reaching
  // the analysis backward) is copied first: the MKL FFT of torch 2.6 and older rejects zero strides ("Intel oneMKL
  // DFTI ERROR: Inconsistent configuration parameters"). Other layouts go to the FFT as they are.
  for (int64_t d = 0; d < spec.dim(); ++d) {
    if (spec.stride(d) == 0 && spec.size(d) > 1) {
      spec = spec.contiguous();
      break;
    }
  }
  const at::Tensor st = spec.transpose(1, 2);  // [batch, frames, bins]
  at::Tensor frames;
  switch (a.mode) {
    case FftMode::Irfft:
      frames = at::_fft_c2r(st, {2}, 0, n_fft);
      break;
    case FftMode::IrfftHalf: {
      // Transpose of the onesided rfft: bins 1 .. n_fft - bins carry half weight before the Hermitian irfft.
      at::Tensor weight = at::ones({a.bins}, spec.options().dtype(a.signal_type));
      if (n_fft - a.bins > 0) weight.narrow(0, 1, n_fft - a.bins).fill_(0.5);
      frames = at::_fft_c2r(st * weight, {2}, 0, n_fft);
      break;
    }
    case FftMode::Ifft:
      frames = at::_fft_c2c(st, {2}, 0, /*forward=*/false);
      break;
    case FftMode::IfftReal:
      frames = at::real(at::_fft_c2c(st, {2}, 0, /*forward=*/false));
      break;
    default:
      TORCH_INTERNAL_ASSERT(false);
  }
  frames = frames.contiguous();
  at::Tensor out = at::empty({spec.size(0), a.g.length}, frames.options());
  ola_fn(frames, a.window, out, a.g, a.scale);
  return out;
}

}  // namespace spectro
