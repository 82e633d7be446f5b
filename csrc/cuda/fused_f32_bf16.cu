// spectro — instantiation of the fused synthesis for float storing its output as bfloat16 (kernel_dtype "mixed" with a
// bfloat16 window).
#include "../kernels/cuda/fused.cuh"

namespace spectro {
namespace kernels {
namespace cuda {
SPECTRO_FUSED_SYNTHESIS_AS(float, __nv_bfloat16, Complex<float>)
}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
