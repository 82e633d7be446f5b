// spectro — CUDA implementations of spectro::analysis and spectro::synthesis: the framing and overlap-add
// kernels from kernels/cuda/frame_ola.cuh (instantiated per dtype in kernels_*.cu) around ATen's cuFFT.
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAException.h>
#include <torch/library.h>

#include "../kernels/cuda/frame_ola.cuh"
#include "../spectro.h"

namespace spectro {
namespace kernels {
namespace cuda {
// Instantiated in kernels_{f32,f64,c64,c128}.cu.
#define SPECTRO_EXTERN_LAUNCHERS(V)                                                                 \
  extern template cudaError_t launch_analysis<V>(const AnalysisParams<V>&, Path, cudaStream_t);    \
  extern template cudaError_t launch_synthesis<V>(const SynthesisParams<V>&, Path, cudaStream_t);
SPECTRO_EXTERN_LAUNCHERS(float)
SPECTRO_EXTERN_LAUNCHERS(double)
SPECTRO_EXTERN_LAUNCHERS(Complex<float>)
SPECTRO_EXTERN_LAUNCHERS(Complex<double>)
#undef SPECTRO_EXTERN_LAUNCHERS
}  // namespace cuda
}  // namespace kernels

namespace {

kernels::cuda::Path current_path() { return static_cast<kernels::cuda::Path>(kernel_path()); }

void cuda_frames(const at::Tensor& x, const at::Tensor& window, at::Tensor& frames, const kernels::Geometry& g,
                 double scale) {
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  with_analysis_params(x, window, frames, g, scale, [&](auto& a) {
    C10_CUDA_CHECK(kernels::cuda::launch_analysis(a, current_path(), stream));
  });
}

void cuda_overlap_add(const at::Tensor& frames, const at::Tensor& window, at::Tensor& out,
                      const kernels::Geometry& g, double scale) {
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  with_synthesis_params(frames, window, out, g, scale, [&](auto& s) {
    C10_CUDA_CHECK(kernels::cuda::launch_synthesis(s, current_path(), stream));
  });
}

at::Tensor analysis_cuda(const at::Tensor& x, const at::Tensor& window, int64_t n_fft, int64_t hop_length,
                         int64_t n_frames, int64_t pad, c10::string_view pad_mode, bool env_normalize,
                         c10::string_view fft_mode, double scale) {
  const c10::cuda::CUDAGuard guard(x.device());
  return analysis_with(&cuda_frames, x, window, n_fft, hop_length, n_frames, pad, std::string(pad_mode),
                       env_normalize, std::string(fft_mode), scale);
}

at::Tensor synthesis_cuda(const at::Tensor& spec, const at::Tensor& window, int64_t n_fft, int64_t hop_length,
                          int64_t length, int64_t pad, c10::string_view pad_mode, bool env_normalize,
                          c10::string_view fft_mode, double scale) {
  const c10::cuda::CUDAGuard guard(spec.device());
  return synthesis_with(&cuda_overlap_add, spec, window, n_fft, hop_length, length, pad, std::string(pad_mode),
                        env_normalize, std::string(fft_mode), scale);
}

}  // namespace
}  // namespace spectro

TORCH_LIBRARY_IMPL(spectro, CUDA, m) {
  m.impl("analysis", &spectro::analysis_cuda);
  m.impl("synthesis", &spectro::synthesis_cuda);
}
