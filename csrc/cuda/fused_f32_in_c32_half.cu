// spectro — instantiation of the fused synthesis for float reading a complex32 spectrum, storing float16 or bfloat16.
#include "../kernels/cuda/fused.cuh"

namespace spectro {
namespace kernels {
namespace cuda {
SPECTRO_FUSED_SYNTHESIS_AS(float, __half, __half2)
SPECTRO_FUSED_SYNTHESIS_AS(float, __nv_bfloat16, __half2)
}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
