// spectro — instantiation of the fused analysis for complex float storing the spectrum as complex32 (kernel_dtype
// "mixed").
#include "../kernels/cuda/fused.cuh"

namespace spectro {
namespace kernels {
namespace cuda {
SPECTRO_FUSED_ANALYSIS_AS(Complex<float>, __half2, Complex<float>)
}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
