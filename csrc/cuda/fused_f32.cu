// spectro — instantiation of the fused (FFT-in-kernel) analysis and synthesis launchers for float, and the dispatchers
// that pick a storage-type launcher by the parameters.
#include "../kernels/cuda/fused.cuh"

namespace spectro {
namespace kernels {
namespace cuda {
template cudaError_t launch_fused_analysis<float>(const FusedAnalysisParams<float>&, cudaStream_t);
template cudaError_t launch_fused_synthesis<float>(const FusedSynthesisParams<float>&, cudaStream_t);
SPECTRO_FUSED_ANALYSIS_AS(float, Complex<float>, float)
SPECTRO_FUSED_SYNTHESIS_AS(float, float, Complex<float>)
}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
