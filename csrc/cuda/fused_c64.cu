// spectro — instantiation of the fused (FFT-in-kernel) analysis and synthesis launchers for Complex<float>.
#include "../kernels/cuda/fused.cuh"

namespace spectro {
namespace kernels {
namespace cuda {
template cudaError_t launch_fused_analysis<Complex<float>>(const FusedAnalysisParams<Complex<float>>&, cudaStream_t);
template cudaError_t launch_fused_synthesis<Complex<float>>(const FusedSynthesisParams<Complex<float>>&, cudaStream_t);
}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
