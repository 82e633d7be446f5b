// spectro — instantiation of the fused analysis for float reading a float16 signal, storing complex64 or complex32.
#include "../kernels/cuda/fused.cuh"

namespace spectro {
namespace kernels {
namespace cuda {
SPECTRO_FUSED_ANALYSIS_AS(float, Complex<float>, __half)
SPECTRO_FUSED_ANALYSIS_AS(float, __half2, __half)
}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
