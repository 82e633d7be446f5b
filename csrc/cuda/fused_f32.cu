// spectro — instantiation of the fused (FFT-in-kernel) analysis and synthesis launchers for float.
#include "../kernels/cuda/fused.cuh"

namespace spectro {
namespace kernels {
namespace cuda {
template cudaError_t launch_fused_analysis<float>(const FusedAnalysisParams<float>&, cudaStream_t);
template cudaError_t launch_fused_synthesis<float>(const FusedSynthesisParams<float>&, cudaStream_t);
}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
