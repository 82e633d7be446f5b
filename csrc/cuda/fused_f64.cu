// spectro — instantiation of the fused (FFT-in-kernel) analysis and synthesis launchers for double.
#include "../kernels/cuda/fused.cuh"

namespace spectro {
namespace kernels {
namespace cuda {
template cudaError_t launch_fused_analysis<double>(const FusedAnalysisParams<double>&, cudaStream_t);
template cudaError_t launch_fused_synthesis<double>(const FusedSynthesisParams<double>&, cudaStream_t);
SPECTRO_FUSED_ANALYSIS_AS(double, Complex<double>, double)
SPECTRO_FUSED_SYNTHESIS_AS(double, double, Complex<double>)
}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
