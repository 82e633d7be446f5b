// spectro — instantiation of the fused synthesis for float reading a complex32 spectrum, storing float32.
#include "../kernels/cuda/fused.cuh"

namespace spectro {
namespace kernels {
namespace cuda {
SPECTRO_FUSED_SYNTHESIS_AS(float, float, __half2)
}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
