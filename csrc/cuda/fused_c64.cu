// spectro — instantiation of the fused (FFT-in-kernel) analysis and synthesis launchers for complex float, and the
// dispatchers that pick a storage-type launcher by the parameters.
#include "../kernels/cuda/fused.cuh"

namespace spectro {
namespace kernels {
namespace cuda {
template cudaError_t launch_fused_analysis<Complex<float>>(const FusedAnalysisParams<Complex<float>>&, cudaStream_t);
template cudaError_t launch_fused_synthesis<Complex<float>>(const FusedSynthesisParams<Complex<float>>&, cudaStream_t);
SPECTRO_FUSED_ANALYSIS_AS(Complex<float>, Complex<float>, Complex<float>)
SPECTRO_FUSED_SYNTHESIS_AS(Complex<float>, Complex<float>, Complex<float>)
}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
