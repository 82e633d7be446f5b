// spectro — instantiation of the fused launchers for float that store half precision (kernel_dtype "mixed"): the
// spectrum as complex32, the synthesis output as float16.
#include "../kernels/cuda/fused.cuh"

namespace spectro {
namespace kernels {
namespace cuda {
SPECTRO_FUSED_ANALYSIS_AS(float, __half2, float)
SPECTRO_FUSED_SYNTHESIS_AS(float, __half, Complex<float>)
}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
