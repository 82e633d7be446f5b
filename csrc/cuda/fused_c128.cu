// spectro — instantiation of the fused (FFT-in-kernel) analysis and synthesis launchers for complex double.
#include "../kernels/cuda/fused.cuh"

namespace spectro {
namespace kernels {
namespace cuda {
template cudaError_t launch_fused_analysis<Complex<double>>(const FusedAnalysisParams<Complex<double>>&, cudaStream_t);
template cudaError_t launch_fused_synthesis<Complex<double>>(const FusedSynthesisParams<Complex<double>>&, cudaStream_t);
SPECTRO_FUSED_ANALYSIS_AS(Complex<double>, Complex<double>, Complex<double>)
SPECTRO_FUSED_SYNTHESIS_AS(Complex<double>, Complex<double>, Complex<double>)
}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
