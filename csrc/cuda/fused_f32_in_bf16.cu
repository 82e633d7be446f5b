// spectro — instantiation of the fused analysis for float reading a bfloat16 signal, storing complex64 or complex32.
#include "../kernels/cuda/fused.cuh"

namespace spectro {
namespace kernels {
namespace cuda {
SPECTRO_FUSED_ANALYSIS_AS(float, Complex<float>, __nv_bfloat16)
SPECTRO_FUSED_ANALYSIS_AS(float, __half2, __nv_bfloat16)
}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
