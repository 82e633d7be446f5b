// spectro — instantiation of the fused launchers for complex float reading complex32: the analysis of a complex32
// signal (storing complex64 or complex32) and the complex synthesis of a complex32 spectrum.
#include "../kernels/cuda/fused.cuh"

namespace spectro {
namespace kernels {
namespace cuda {
SPECTRO_FUSED_ANALYSIS_AS(Complex<float>, Complex<float>, __half2)
SPECTRO_FUSED_ANALYSIS_AS(Complex<float>, __half2, __half2)
SPECTRO_FUSED_SYNTHESIS_AS(Complex<float>, Complex<float>, __half2)
}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
