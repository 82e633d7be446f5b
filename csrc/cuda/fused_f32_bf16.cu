// spectro — instantiation of the fused synthesis launcher that stores bfloat16 (kernel_dtype "mixed") for float.
#include "../kernels/cuda/fused.cuh"

namespace spectro {
namespace kernels {
namespace cuda {
template cudaError_t launch_fused_synthesis_as<float, __nv_bfloat16>(const FusedSynthesisParams<float>&, cudaStream_t);
}  // namespace cuda
}  // namespace kernels
}  // namespace spectro
